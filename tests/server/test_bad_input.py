"""Bad input to the inputs endpoints: every case answers a Clarifai status that says what was
wrong, an HTTP 4xx and a JSON body; never a 500, never a traceback (issue 2, "Bad input")."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Api
from tests.server.mediaserver import closed_port_url

_buffer = io.BytesIO()
Image.new("RGB", (4, 4), (9, 9, 9)).save(_buffer, format="PNG")
PNG = base64.b64encode(_buffer.getvalue()).decode()


def assert_clear_error(
    answer: tuple[int, dict[str, Any]], http_status: int, code: int, *phrases: str
) -> dict[str, Any]:
    """The answer is ``http_status`` with status ``code`` and details holding every phrase."""
    got_http, body = answer
    assert got_http == http_status, body
    status = body["status"]
    assert status["code"] == code, body
    assert status["description"] and status["description"] != "Unknown status"
    text = status.get("details", "")
    for phrase in phrases:
        assert phrase in text, (phrase, text)
    assert "Traceback" not in str(body)
    return body


def item_error(answer: tuple[int, dict[str, Any]], code: int, *phrases: str) -> None:
    """A one-item create failed: 400 + 10020 at the top, ``code`` and phrases on the item."""
    body = assert_clear_error(answer, 400, 10020, "1 of 1 inputs failed", *phrases)
    [item] = body["inputs"]
    assert item["status"]["code"] == code
    for phrase in phrases:
        assert phrase in item["status"]["details"]


def one(data: dict[str, Any], input_id: str | None = "x") -> dict[str, Any]:
    item: dict[str, Any] = {"data": data}
    if input_id is not None:
        item["id"] = input_id
    return {"inputs": [item]}


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_malformed_json(api: Api, method: str) -> None:
    answer = api.call(method, "inputs", raw=b'{"inputs": [{"id": "a",')
    assert_clear_error(answer, 400, 11100, "not valid JSON")


def test_a_body_that_is_not_an_object(api: Api) -> None:
    assert_clear_error(
        api.call("POST", "inputs", raw=b"[1, 2]"), 400, 11100, "must be a JSON object"
    )


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"inputs": "cat.jpg"}, "inputs: expected an array"),
        (
            {"inputs": [{"data": {"image": {"url": 12}}}]},
            "inputs[0].data.image.url: expected a string",
        ),
        (
            {
                "inputs": [
                    {"data": {"image": {"base64": PNG}, "concepts": [{"id": "c", "value": "yes"}]}}
                ]
            },
            "inputs[0].data.concepts[0].value: expected a number",
        ),
        (
            {"inputs": [{"data": {"image": {"base64": PNG}, "metadata": [1, 2]}}]},
            "inputs[0].data.metadata: expected an object",
        ),
        (
            {"inputs": [{"id": 7, "data": {"image": {"base64": PNG}}}]},
            "inputs[0].id: expected a string",
        ),
        (
            {"inputs": [{"data": {"image": {"base64": PNG, "allow_duplicate_url": "yes"}}}]},
            "allow_duplicate_url: expected a boolean",
        ),
    ],
)
def test_wrong_types(api: Api, body: dict[str, Any], phrase: str) -> None:
    assert_clear_error(api.post("inputs", body), 400, 11102, phrase)


def test_wrong_types_in_patch_and_delete(api: Api) -> None:
    assert_clear_error(
        api.patch("inputs", {"action": 1, "inputs": []}), 400, 11102, "action: expected a string"
    )
    assert_clear_error(api.delete("inputs", {"ids": "a"}), 400, 11102, "ids: expected an array")
    assert_clear_error(
        api.delete("inputs", {"delete_all": "yes"}), 400, 11102, "expected a boolean"
    )


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"inputs": [], "colour": "red"}, "colour: unknown field"),
        (
            {"inputs": [{"data": {"image": {"base64": PNG, "colour": "red"}}}]},
            "inputs[0].data.image.colour: unknown field",
        ),
        ({"inputs": [{"id": "a", "dta": {}}]}, "inputs[0].dta: unknown field"),
    ],
)
def test_unknown_fields(api: Api, body: dict[str, Any], phrase: str) -> None:
    assert_clear_error(api.post("inputs", body), 400, 11102, phrase)


def test_unknown_field_in_a_patch(api: Api) -> None:
    answer = api.patch(
        "inputs", {"action": "merge", "inputs": [{"id": "a", "data": {"metadat": {}}}]}
    )
    assert_clear_error(answer, 400, 11102, "inputs[0].data.metadat: unknown field")


@pytest.mark.parametrize(
    ("input_id", "phrase"),
    [
        ("a/b", "cannot contain '/'"),
        ("caf\u00e9", "must be ASCII"),
        ("\u732b", "must be ASCII"),
        ("x" * 256, "at most 255 characters"),
        ("with space", "whitespace"),
    ],
)
def test_bad_input_ids(api: Api, input_id: str, phrase: str) -> None:
    item_error(
        api.post("inputs", one({"image": {"base64": PNG}}, input_id)), 30104, "inputs[0].id", phrase
    )


def test_a_bad_id_fails_only_its_item(api: Api) -> None:
    body = {
        "inputs": [
            {"id": "a/b", "data": {"image": {"base64": PNG}}},
            {"id": "fine", "data": {"image": {"base64": PNG}}},
        ]
    }
    code, answer = api.post("inputs", body)
    assert code == 200 and answer["status"]["code"] == 10010
    assert [item["status"]["code"] for item in answer["inputs"]] == [30104, 30000]


def test_metadata_of_10_megabytes(api: Api) -> None:
    metadata = {"blob": "m" * (10 * 1024 * 1024)}
    answer = api.post("inputs", one({"image": {"base64": PNG}, "metadata": metadata}))
    size = len(json.dumps(metadata, separators=(",", ":")))
    item_error(answer, 30104, f"metadata is {size} bytes", "the limit is 1048576 bytes")
    code, listed = api.get("inputs")
    assert code == 200 and listed["inputs"] == []


def test_200_inputs_in_one_batch(api: Api) -> None:
    body = {"inputs": [{"data": {"image": {"base64": PNG}}} for _ in range(200)]}
    assert_clear_error(api.post("inputs", body), 400, 11102, "at most 128 items a request, got 200")
    code, listed = api.get("inputs")
    assert code == 200 and listed["inputs"] == []


def test_200_inputs_in_one_patch(api: Api) -> None:
    body = {"action": "merge", "inputs": [{"id": f"i{n}"} for n in range(200)]}
    assert_clear_error(api.patch("inputs", body), 400, 11102, "at most 128 items")


def test_corrupt_image_bytes(api: Api) -> None:
    corrupt = base64.b64encode(b"\x89PNG\r\n\x1a\nthis is not really a png").decode()
    item_error(api.post("inputs", one({"image": {"base64": corrupt}})), 30101, "not an image")
    junk = base64.b64encode(b"GIF89a" + bytes(3)).decode()
    answer = api.post("inputs", one({"image": {"base64": junk}}))
    body = assert_clear_error(answer, 400, 10020)
    assert body["inputs"][0]["status"]["code"] == 30101


def test_base64_that_is_not_base64(api: Api) -> None:
    item_error(api.post("inputs", one({"image": {"base64": "***"}})), 30104, "not valid base64")


def test_an_unreachable_url(api: Api) -> None:
    url = closed_port_url()
    item_error(api.post("inputs", one({"image": {"url": url}})), 30002, f"could not download {url}")


def test_a_patch_with_no_inputs_key(api: Api) -> None:
    answer = api.patch("inputs", {"action": "overwrite"})
    assert_clear_error(answer, 400, 39999, 'no "inputs"', "nothing to patch")


def test_an_empty_create(api: Api) -> None:
    assert_clear_error(api.post("inputs", {}), 400, 39999, "no inputs to add")
    assert_clear_error(api.post("inputs", {"inputs": []}), 400, 39999, "no inputs to add")


def test_a_null_item(api: Api) -> None:
    code, body = api.post("inputs", {"inputs": [None, {"data": {"image": {"base64": PNG}}}]})
    assert code == 200 and body["status"]["code"] == 10010
    assert "inputs[0] is null" in body["inputs"][0]["status"]["details"]
    code, body = api.patch("inputs", {"action": "merge", "inputs": [None]})
    assert code == 400 and "inputs[0] is null" in body["inputs"][0]["status"]["details"]


def test_bad_paging_and_filters(api: Api) -> None:
    assert_clear_error(api.get("inputs", "page=-1"), 400, 11102, "page must be 1 or more")
    assert_clear_error(api.get("inputs", "per_page=x"), 400, 11102, "per_page must be an integer")
    assert_clear_error(api.get("inputs", "status.code=BOGUS"), 400, 39999, "'BOGUS'")
    too_many = "&".join(f"ids=i{n}" for n in range(1001))
    assert_clear_error(api.get("inputs", too_many), 400, 39999, "ids filter", "at most 1000")


def test_wrong_methods(api: Api) -> None:
    assert_clear_error(api.call("PATCH", "inputs/abc", {}), 405, 11103, "PATCH is not allowed")
