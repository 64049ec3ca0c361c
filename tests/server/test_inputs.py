"""The inputs endpoints of the local server (wire reference, section 5, endpoints 17-23).

Every test runs twice through the ``api`` fixture: in process and over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.conftest import SAMPLES, Api
from tests.server.mediaserver import MediaServer, media_server


def b64(name: str) -> str:
    return base64.b64encode((SAMPLES / name).read_bytes()).decode()


def tiny_png(color: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (6, 4)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def image_input(input_id: str | None = None, **data: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"data": {"image": {"base64": tiny_png()}, **data}}
    if input_id is not None:
        item["id"] = input_id
    return item


def create(api: Api, *items: dict[str, Any]) -> dict[str, Any]:
    code, body = api.post("inputs", {"inputs": list(items)})
    assert code == 200, body
    assert body["status"]["code"] == 10000, body
    return body


@pytest.fixture
def photos() -> Iterator[MediaServer]:
    with media_server() as server:
        yield server


# -- create ---------------------------------------------------------------------------------------


def test_create_from_bytes_answers_the_input_and_get_returns_it(api: Api) -> None:
    sent = b64("cat.jpg")
    body = create(
        api,
        {
            "id": "cat-1",
            "data": {
                "image": {"base64": sent},
                "concepts": [{"id": "cat"}, {"id": "dog", "value": 0}],
                "metadata": {"owner": "ana", "n": 1.0},
                "geo": {"geo_point": {"longitude": -30.5, "latitude": 40.25}},
            },
        },
    )
    [item] = body["inputs"]
    assert item["id"] == "cat-1"
    assert item["status"] == {"code": 30000, "description": "Download complete"}
    assert base64.b64encode(api.fetch_media(item["data"]["image"])).decode() == sent
    with Image.open(SAMPLES / "cat.jpg") as photo:
        expected_size = photo.size
    info = item["data"]["image"]["image_info"]
    assert (info["width"], info["height"], info["format"]) == (*expected_size, "JPEG")
    assert item["data"]["concepts"] == [
        {"id": "cat", "name": "cat", "value": 1.0},
        {"id": "dog", "name": "dog", "value": 0.0},
    ]
    assert item["data"]["metadata"] == {"owner": "ana", "n": 1.0}
    assert item["data"]["geo"] == {"geo_point": {"longitude": -30.5, "latitude": 40.25}}
    assert item["created_at"].endswith("Z") and item["modified_at"] == item["created_at"]

    code, got = api.get("inputs/cat-1")
    assert code == 200 and got["status"]["code"] == 10000
    assert got["input"] == item


def test_both_route_forms_reach_the_same_inputs(api: Api) -> None:
    create(api, image_input("long-form"))
    code, body = api.get("users/local/apps/default/inputs/long-form")
    assert code == 200 and body["input"]["id"] == "long-form"
    code, body = api.get("users/me/apps/default/inputs")
    assert [item["id"] for item in body["inputs"]] == ["long-form"]


def test_create_makes_an_id_when_none_is_given(api: Api) -> None:
    body = create(api, image_input(), image_input(""))
    ids = [item["id"] for item in body["inputs"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", input_id) for input_id in ids)
    assert len(set(ids)) == 2


def test_annotated_concepts_are_created_in_the_app(api: Api) -> None:
    create(
        api, image_input("a", concepts=[{"id": "ginger", "name": "Ginger cat"}, {"id": "tabby"}])
    )
    with api.server.store.read() as connection:
        rows = dict(connection.execute("SELECT id, name FROM concepts").fetchall())
    assert rows == {"ginger": "Ginger cat", "tabby": "tabby"}
    # A later annotation without a name takes the concept's name.
    body = create(api, image_input("b", concepts=[{"id": "ginger", "value": 0}]))
    assert body["inputs"][0]["data"]["concepts"] == [
        {"id": "ginger", "name": "Ginger cat", "value": 0.0}
    ]


def test_create_indexes_concepts_metadata_and_geo(api: Api) -> None:
    create(
        api,
        image_input(
            "indexed",
            concepts=[{"id": "cat"}],
            metadata={"a": {"b": "x"}},
            geo={"geo_point": {"longitude": 2.0, "latitude": 1.0}},
        ),
    )
    with api.server.store.read() as connection:
        concepts = connection.execute("SELECT concept_id, value FROM input_concepts").fetchall()
        metadata = connection.execute("SELECT path, value FROM input_metadata").fetchall()
        geo = connection.execute("SELECT latitude, longitude FROM input_geo").fetchall()
    assert [tuple(row) for row in concepts] == [("cat", 1.0)]
    assert [tuple(row) for row in metadata] == [('["a", "b"]', '"x"')]
    assert [tuple(row) for row in geo] == [(1.0, 2.0)]


def test_a_duplicate_id_fails_its_item_only(api: Api) -> None:
    create(api, image_input("taken"))
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                image_input("fresh"),
                image_input("taken"),
                image_input("twice"),
                image_input("twice"),
            ]
        },
    )
    assert code == 200
    assert body["status"]["code"] == 10010
    assert body["status"]["description"] == "Mixed Success"
    assert "2 of 4 inputs failed" in body["status"]["details"]
    codes = [item["status"]["code"] for item in body["inputs"]]
    assert codes == [30000, 30100, 30000, 30100]
    assert [item["id"] for item in body["inputs"]] == ["fresh", "taken", "twice", "twice"]
    assert body["inputs"][1]["data"] == {}
    assert "already exists" in body["inputs"][1]["status"]["details"]
    assert "inputs[2]" in body["inputs"][3]["status"]["details"]
    code, listed = api.get("inputs")
    assert [item["id"] for item in listed["inputs"]] == ["taken", "fresh", "twice"]


def test_when_every_item_fails_the_answer_is_400_failure(api: Api) -> None:
    create(api, image_input("x"))
    code, body = api.post("inputs", {"inputs": [image_input("x"), image_input("x")]})
    assert code == 400
    assert body["status"]["code"] == 10020
    assert [item["status"]["code"] for item in body["inputs"]] == [30100, 30100]


def test_a_duplicate_url_fails_unless_allowed(api: Api, photos: MediaServer) -> None:
    url = photos.url("/cat.jpg")
    create(api, {"id": "first", "data": {"image": {"url": url}}})
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": "again", "data": {"image": {"url": url}}},
                {"id": "allowed", "data": {"image": {"url": url, "allow_duplicate_url": True}}},
            ]
        },
    )
    assert code == 200 and body["status"]["code"] == 10010
    first, second = body["inputs"]
    assert first["status"]["code"] == 30100
    assert (
        "'first'" in first["status"]["details"]
        and "allow_duplicate_url" in first["status"]["details"]
    )
    assert second["status"]["code"] == 30000
    assert second["data"]["image"]["url"] == url
    assert "base64" not in second["data"]["image"]


def test_a_url_repeated_within_a_batch_fails_the_later_item(api: Api, photos: MediaServer) -> None:
    url = photos.url("/coffee.jpg")
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"data": {"image": {"url": url}}},
                {"data": {"image": {"url": url}}},
            ]
        },
    )
    assert code == 200 and body["status"]["code"] == 10010
    assert [item["status"]["code"] for item in body["inputs"]] == [30000, 30100]


def test_bad_item_fields_fail_their_item_with_details(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"id": "no-media", "data": {"metadata": {"a": 1}}}, "exactly one of image or video"),
        (
            {
                "id": "both",
                "data": {"image": {"url": "http://127.0.0.1/x.jpg", "base64": tiny_png()}},
            },
            "exactly one of url or base64",
        ),
        (
            {
                "id": "value",
                "data": {"image": {"base64": tiny_png()}, "concepts": [{"id": "c", "value": 0.5}]},
            },
            "1 (positive) or 0",
        ),
        (
            {
                "id": "concept-id",
                "data": {"image": {"base64": tiny_png()}, "concepts": [{"name": "c"}]},
            },
            "needs an id",
        ),
        (
            {"id": "crop", "data": {"image": {"base64": tiny_png(), "crop": [0.5, 0, 0.2, 1]}}},
            "top < bottom",
        ),
        (
            {
                "id": "lat",
                "data": {
                    "image": {"base64": tiny_png()},
                    "geo": {"geo_point": {"latitude": 91, "longitude": 0}},
                },
            },
            "latitude must be between -90 and 90",
        ),
        (
            {
                "id": "limit",
                "data": {
                    "image": {"base64": tiny_png()},
                    "geo": {"geo_limit": {"type": "withinMiles", "value": 1}},
                },
            },
            "only a geo_point",
        ),
        ({"id": "b64", "data": {"image": {"base64": "not base64 at all!"}}}, "not valid base64"),
        ({"id": "text", "data": {"text": {"raw": "hello"}}}, "text is not supported"),
    ]
    code, body = api.post("inputs", {"inputs": [item for item, _ in cases] + [image_input("ok")]})
    assert code == 200 and body["status"]["code"] == 10010
    for (item, expected), answered in zip(cases, body["inputs"], strict=False):
        assert answered["id"] == item["id"]
        assert answered["status"]["code"] == 30104, answered
        assert expected in answered["status"]["details"], (expected, answered)
    assert body["inputs"][-1]["status"]["code"] == 30000


def test_the_crop_is_kept_and_answered(api: Api) -> None:
    body = create(api, image_input("cropped"))
    assert "crop" not in body["inputs"][0]["data"]["image"]
    item = {"id": "c2", "data": {"image": {"base64": tiny_png(), "crop": [0.1, 0.2, 0.9, 1]}}}
    body = create(api, item)
    assert body["inputs"][0]["data"]["image"]["crop"] == [0.1, 0.2, 0.9, 1.0]


def test_video_inputs_from_bytes(api: Api) -> None:
    from tests.server.test_predict import make_video

    mp4 = make_video([(255, 0, 0)], fps=10, seconds_each=0.3)  # processing decodes it (PyAV)
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": "clip", "data": {"video": {"base64": base64.b64encode(mp4).decode()}}},
                {
                    "id": "junk",
                    "data": {"video": {"base64": base64.b64encode(b"hello world").decode()}},
                },
            ]
        },
    )
    assert code == 200 and body["status"]["code"] == 10010
    clip, junk = body["inputs"]
    assert clip["status"] == {"code": 31000, "description": "Download complete"}
    assert api.fetch_media(clip["data"]["video"]) == mp4
    assert junk["status"]["code"] == 31101
    assert "not a video container" in junk["status"]["details"]


# -- list, get, counts ------------------------------------------------------------------------------


def test_list_pages_in_creation_order_and_ends_with_an_empty_page(api: Api) -> None:
    create(api, *(image_input(f"in-{n}") for n in range(5)))
    seen: list[str] = []
    sizes = []
    for page in range(1, 5):
        code, body = api.get("inputs", f"page={page}&per_page=2")
        assert code == 200 and body["status"]["code"] == 10000
        sizes.append(len(body["inputs"]))
        seen += [item["id"] for item in body["inputs"]]
    assert sizes == [2, 2, 1, 0]
    assert seen == [f"in-{n}" for n in range(5)]
    code, body = api.get("inputs")
    assert len(body["inputs"]) == 5


def test_list_of_an_empty_app_is_an_empty_list(api: Api) -> None:
    code, body = api.get("inputs", "page=1&per_page=20")
    assert code == 200 and body == {"status": {"code": 10000, "description": "Ok"}, "inputs": []}


def test_list_rejects_bad_paging(api: Api) -> None:
    code, body = api.get("inputs", "per_page=5000")
    assert code == 400 and "per_page" in body["status"]["details"]
    code, body = api.get("inputs", "page=abc")
    assert code == 400 and "page must be an integer" in body["status"]["details"]


def test_list_filters_by_status_code(api: Api) -> None:
    create(api, image_input("good"))
    api.post(
        "inputs", {"inputs": [{"id": "bad", "data": {"image": {"url": "ftp://example.com/x.jpg"}}}]}
    )
    code, body = api.get("inputs", "status.code=30002")
    assert [item["id"] for item in body["inputs"]] == ["bad"]
    code, body = api.get("inputs", "status.code=INPUT_SUCCESS")
    assert [item["id"] for item in body["inputs"]] == ["good"]
    code, body = api.get("inputs", "status.code=NOT_A_CODE")
    assert code == 400 and body["status"]["code"] == 39999
    assert "NOT_A_CODE" in body["status"]["details"]


def test_list_filters_by_repeated_ids_in_creation_order(api: Api) -> None:
    # clarifai-grpc's JSON channel sends ListInputsRequest.ids as ids=a&ids=b.
    for input_id in ("one", "two", "three"):
        create(api, image_input(input_id))
    code, body = api.get("inputs", "ids=three&ids=one&ids=missing")
    assert code == 200 and [item["id"] for item in body["inputs"]] == ["one", "three"]
    code, body = api.get("inputs", "ids=three&ids=one&per_page=1&page=2")
    assert code == 200 and [item["id"] for item in body["inputs"]] == ["three"]
    code, body = api.get("inputs", "ids=two&status.code=INPUT_FAILED")
    assert code == 200 and body["inputs"] == []


def test_list_status_filter_accepts_both_spellings_of_the_aliased_enum(api: Api) -> None:
    # 30000-30003 have two names each; clients send either (the older one from older protos).
    create(api, image_input("good"))
    for name in ("INPUT_DOWNLOAD_SUCCESS", "INPUT_SUCCESS"):
        code, body = api.get("inputs", f"status.code={name}")
        assert code == 200 and [item["id"] for item in body["inputs"]] == ["good"]
    for name in ("INPUT_DOWNLOAD_FAILED", "INPUT_FAILED", "INPUT_DOWNLOAD_PENDING"):
        code, body = api.get("inputs", f"status.code={name}")
        assert code == 200 and body["inputs"] == []


def test_get_an_unknown_input_is_404_with_30102(api: Api) -> None:
    code, body = api.get("inputs/nope")
    assert code == 404
    assert body["status"]["code"] == 30102
    assert body["status"]["description"] == "Input does not exist"
    assert "'nope'" in body["status"]["details"]


def test_input_counts(api: Api) -> None:
    code, body = api.get("inputs/status")
    assert code == 200
    assert body["counts"] == {"processed": 0, "to_process": 0, "errors": 0, "processing": 0}
    create(api, image_input("a"), image_input("b"))
    api.post("inputs", {"inputs": [{"id": "c", "data": {"image": {"url": "ftp://host/c.jpg"}}}]})
    code, body = api.get("inputs/status")
    assert body["counts"] == {"processed": 2, "to_process": 0, "errors": 1, "processing": 0}


# -- patch ------------------------------------------------------------------------------------------


def patch(api: Api, action: str, *items: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return api.patch("inputs", {"action": action, "inputs": list(items)})


def test_patch_merge_answers_the_full_input_with_30200(api: Api) -> None:
    create(api, image_input("p", concepts=[{"id": "cat"}], metadata={"a": {"b": 1}, "keep": True}))
    code, body = patch(
        api,
        "merge",
        {
            "id": "p",
            "data": {
                "concepts": [{"id": "cat", "value": 0}, {"id": "dog"}],
                "metadata": {"a": {"c": 2}},
            },
        },
    )
    assert code == 200 and body["status"]["code"] == 10000
    [item] = body["inputs"]
    assert item["status"] == {"code": 30200, "description": "Input modified successfully"}
    assert item["data"]["concepts"] == [
        {"id": "cat", "name": "cat", "value": 0.0},
        {"id": "dog", "name": "dog", "value": 1.0},
    ]
    assert item["data"]["metadata"] == {"a": {"b": 1, "c": 2}, "keep": True}
    assert api.fetch_media(item["data"]["image"]) == base64.b64decode(tiny_png())  # unchanged
    assert item["modified_at"] >= item["created_at"]
    code, got = api.get("inputs/p")
    assert got["input"]["data"] == item["data"]
    assert got["input"]["status"]["code"] == 30000  # the processing status is unchanged


def test_patch_remove_examples_of_the_reference(api: Api) -> None:
    create(
        api,
        image_input(
            "r",
            concepts=[{"id": "cat"}, {"id": "dog"}],
            metadata={"k": 1, "a": {"b": 2}, "other": "x"},
        ),
    )
    code, body = patch(
        api,
        "remove",
        {
            "id": "r",
            "data": {
                "concepts": [{"id": "dog", "value": 1}],
                "metadata": {"k": True, "a": {"b": True}, "other": "replaced"},
            },
        },
    )
    assert code == 200
    data = body["inputs"][0]["data"]
    assert data["concepts"] == [{"id": "cat", "name": "cat", "value": 1.0}]
    assert data["metadata"] == {"a": {}, "other": "replaced"}
    with api.server.store.read() as connection:
        indexed = connection.execute("SELECT concept_id FROM input_concepts").fetchall()
    assert [row[0] for row in indexed] == ["cat"]


def test_patch_overwrite_replaces_data_but_keeps_the_image(api: Api) -> None:
    create(
        api,
        image_input(
            "o",
            concepts=[{"id": "cat"}],
            metadata={"a": 1},
            geo={"geo_point": {"longitude": 1.0, "latitude": 2.0}},
        ),
    )
    code, body = patch(api, "overwrite", {"id": "o", "data": {"metadata": {"b": 2}}})
    assert code == 200
    data = body["inputs"][0]["data"]
    assert data["metadata"] == {"b": 2}
    assert "concepts" not in data and "geo" not in data
    assert base64.b64encode(api.fetch_media(data["image"])).decode() == tiny_png()
    with api.server.store.read() as connection:
        assert connection.execute("SELECT COUNT(*) FROM input_geo").fetchone()[0] == 0


def test_patch_of_an_unknown_id_fails_that_item(api: Api) -> None:
    create(api, image_input("known"))
    code, body = patch(
        api,
        "merge",
        {"id": "known", "data": {"metadata": {"x": 1}}},
        {"id": "ghost", "data": {"metadata": {"x": 1}}},
    )
    assert code == 200 and body["status"]["code"] == 10010
    known, ghost = body["inputs"]
    assert known["status"]["code"] == 30200
    assert ghost == {
        "id": "ghost",
        "data": {},
        "status": {
            "code": 30102,
            "description": "Input does not exist",
            "details": "inputs[1]: no input with id 'ghost' in this app",
        },
    }
    code, body = patch(api, "merge", {"id": "ghost", "data": {"metadata": {"x": 1}}})
    assert code == 400 and body["status"]["code"] == 10020


def test_patch_cannot_change_the_image(api: Api) -> None:
    create(api, image_input("img"))
    code, body = patch(
        api, "merge", {"id": "img", "data": {"image": {"url": "http://127.0.0.1/x.jpg"}}}
    )
    assert code == 400
    assert "cannot change an input's image" in body["inputs"][0]["status"]["details"]
    # Repeating the same bytes is fine.
    code, body = patch(
        api, "merge", {"id": "img", "data": {"image": {"base64": tiny_png()}, "metadata": {"m": 1}}}
    )
    assert code == 200 and body["inputs"][0]["data"]["metadata"] == {"m": 1}


def test_patch_needs_a_known_action_and_inputs(api: Api) -> None:
    create(api, image_input("a"))
    code, body = api.patch("inputs", {"action": "overwrite"})
    assert code == 400 and body["status"]["code"] == 39999
    assert 'no "inputs"' in body["status"]["details"]
    code, body = api.patch("inputs", {"action": "replace", "inputs": [{"id": "a"}]})
    assert code == 400 and "unknown action 'replace'" in body["status"]["details"]
    code, body = api.patch("inputs", {"inputs": [{"id": "a"}]})
    assert code == 400 and "action is required" in body["status"]["details"]


def test_patch_keeps_the_metadata_limit(api: Api) -> None:
    create(api, image_input("big", metadata={"a": "x" * 700_000}))
    code, body = patch(api, "merge", {"id": "big", "data": {"metadata": {"b": "y" * 700_000}}})
    assert code == 400
    assert "the limit is 1048576 bytes" in body["inputs"][0]["status"]["details"]
    code, got = api.get("inputs/big")
    assert set(got["input"]["data"]["metadata"]) == {"a"}


# -- delete -----------------------------------------------------------------------------------------


def ids_listed(api: Api) -> list[str]:
    code, body = api.get("inputs", "per_page=1000")
    assert code == 200, body
    return [item["id"] for item in body["inputs"]]


def test_delete_one_input(api: Api) -> None:
    create(api, image_input("a", concepts=[{"id": "cat"}]), image_input("b"))
    code, body = api.delete("inputs/a")
    assert code == 200 and body == {"status": {"code": 10000, "description": "Ok"}}
    assert ids_listed(api) == ["b"]
    with api.server.store.read() as connection:
        assert connection.execute("SELECT COUNT(*) FROM input_concepts").fetchone()[0] == 0
    code, body = api.delete("inputs/a")
    assert code == 404 and body["status"]["code"] == 30102


def test_delete_a_list_of_ids_all_or_nothing(api: Api) -> None:
    create(api, *(image_input(name) for name in "abcd"))
    code, body = api.delete("inputs", {"ids": ["a", "zz", "c"]})
    assert code == 404 and body["status"]["code"] == 30102
    assert (
        "'zz'" in body["status"]["details"] and "nothing was deleted" in body["status"]["details"]
    )
    assert ids_listed(api) == ["a", "b", "c", "d"]
    code, body = api.delete("inputs", {"ids": ["a", "c"]})
    assert code == 200 and body["status"]["code"] == 10000
    assert ids_listed(api) == ["b", "d"]


def test_delete_all(api: Api) -> None:
    create(api, *(image_input(name) for name in "abc"))
    code, body = api.delete("inputs", {"delete_all": True})
    assert code == 200 and body["status"]["code"] == 10000
    assert ids_listed(api) == []
    code, body = api.get("inputs/status")
    assert body["counts"]["processed"] == 0


def test_delete_needs_ids_or_delete_all(api: Api) -> None:
    code, body = api.delete("inputs", {})
    assert code == 400 and "nothing to delete" in body["status"]["details"]
    code, body = api.delete("inputs", {"ids": ["a"], "delete_all": True})
    assert code == 400 and "not both" in body["status"]["details"]
    code, body = api.delete("inputs", {"ids": [f"id{n}" for n in range(129)]})
    assert code == 400 and "at most 128" in body["status"]["details"]
