"""The local server's search engine: both dialects, every filter and rank, errors (section 7)."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from clarimap.server import ServerApp, create_app
from clarimap.server.embedding import BUILTIN_MODEL_ID, describe
from tests.conftest import SAMPLES, Api
from tests.server.searchdata import png, seed_input


def current(api: Api, filters: list[Any] = (), ranks: list[Any] = (), **extra: Any) -> Any:
    body: dict[str, Any] = {
        "searches": [{"query": {"filters": list(filters), "ranks": list(ranks)}}]
    }
    body.update(extra)
    return api.post("inputs/searches", body)


def legacy(api: Api, ands: list[Any], **extra: Any) -> Any:
    body: dict[str, Any] = {"query": {"ands": ands}}
    body.update(extra)
    return api.post("searches", body)


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["input"]["id"] for hit in body["hits"]]


@pytest.fixture
def server_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerApp]:
    """The local server with the built-in models only (the base embedding is the descriptor)."""
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    app = create_app(":memory:", background=False)
    assert app.base_embedding.model_id == BUILTIN_MODEL_ID
    yield app
    app.close()


@pytest.fixture
def animals(server_app: ServerApp) -> ServerApp:
    seed_input(
        server_app,
        "cat1",
        concepts=[{"id": "cat", "value": 1}, {"id": "dog", "value": 0}],
        metadata={"owner": {"name": "ana", "age": 30}, "tags": ["a", "b"], "ok": True},
        geo=(40.0, -30.0),
        url="https://example.com/cat1.jpg",
    )
    seed_input(
        server_app,
        "dog1",
        concepts=[{"id": "dog", "value": 1}],
        metadata={"owner": {"name": "bo"}, "ok": 1},
        geo=(40.05, -30.0),
        url="https://example.com/dog1.jpg",
    )
    seed_input(server_app, "both", concepts=[{"id": "cat"}, {"id": "dog"}], metadata={"n": 1.0})
    seed_input(server_app, "plain")
    return server_app


# -- filters -----------------------------------------------------------------------------------


def test_concept_filter_by_id_and_name_in_both_dialects(api: Api, animals: ServerApp) -> None:
    code, body = current(api, [{"annotation": {"data": {"concepts": [{"id": "cat", "value": 1}]}}}])
    assert code == 200 and body["status"]["code"] == 10000
    assert ids(body) == ["cat1", "both"]
    assert [hit["score"] for hit in body["hits"]] == [1.0, 1.0]
    assert body["hit_counts"] == [{"estimated_total": 2}]
    code, body = legacy(api, [{"input": {"data": {"concepts": [{"name": "cat", "value": 1.0}]}}}])
    assert code == 200 and ids(body) == ["cat1", "both"]
    assert len(body["id"]) == 32 and "hit_counts" not in body


def test_negative_concept_value_matches_negative_annotations(api: Api, animals: ServerApp) -> None:
    _, body = legacy(api, [{"input": {"data": {"concepts": [{"id": "dog", "value": 0.0}]}}}])
    assert ids(body) == ["cat1"]
    _, body = current(api, [{"input": {"data": {"concepts": [{"name": "dog", "value": 0}]}}}])
    assert ids(body) == ["cat1"]


def test_concept_names_resolve_through_the_apps_concepts(api: Api, animals: ServerApp) -> None:
    code, _ = api.post("concepts", {"concepts": [{"id": "feline", "name": "Kitty"}]})
    assert code == 200
    seed_input(animals, "kit", concepts=[{"id": "feline"}])
    _, body = current(api, [{"annotation": {"data": {"concepts": [{"name": "Kitty"}]}}}])
    assert ids(body) == ["kit"]
    _, body = current(api, [{"annotation": {"data": {"concepts": [{"name": "feline"}]}}}])
    assert ids(body) == []  # the concept is known, and its name is not "feline"


def test_unknown_concept_or_id_matches_nothing(api: Api, animals: ServerApp) -> None:
    code, body = current(api, [{"annotation": {"data": {"concepts": [{"id": "zebra"}]}}}])
    assert (code, body["status"]["code"], body["hits"]) == (200, 10000, [])
    assert body["hit_counts"] == [{"estimated_total": 0}]
    code, body = legacy(api, [{"input": {"id": "nope", "data": {"image": {}}}}])
    assert (code, body["status"]["code"], body["hits"]) == (200, 10000, [])


def test_metadata_deep_subset(api: Api, animals: ServerApp) -> None:
    def meta(metadata: dict[str, Any]) -> list[str]:
        _, body = current(api, [{"annotation": {"data": {"metadata": metadata}}}])
        return ids(body)

    assert meta({"owner": {"name": "ana"}}) == ["cat1"]
    assert meta({"owner": {"name": "ana", "age": 30.0}}) == ["cat1"]  # 30 == 30.0
    assert meta({"owner": {"name": "ana", "age": 31}}) == []
    assert meta({"owner": {}}) == ["cat1", "dog1"]
    assert meta({"tags": ["a", "b"]}) == ["cat1"]
    assert meta({"tags": ["a"]}) == []  # a list matches an equal list only
    assert meta({"ok": True}) == ["cat1"]  # booleans are not numbers
    assert meta({"ok": 1}) == ["dog1"]
    assert meta({"n": 1}) == ["both"]
    assert meta({"owner": "ana"}) == []
    _, body = legacy(api, [{"input": {"data": {"metadata": {"owner": {"name": "bo"}}}}}])
    assert ids(body) == ["dog1"]
    # metadata may also sit under `input` in the current dialect (section 7.3)
    _, body = current(api, [{"input": {"data": {"metadata": {"owner": {"name": "bo"}}}}}])
    assert ids(body) == ["dog1"]


@pytest.mark.parametrize(
    ("kind", "inside", "outside"),
    [
        # cat1 is 0 km from the centre, dog1 0.05 degrees of latitude (5.56 km) north
        ("withinKilometers", 5.6, 5.5),
        ("withinMiles", 3.46, 3.45),
        ("withinDegrees", 0.0501, 0.0499),
        ("withinRadians", math.radians(0.0501), math.radians(0.0499)),
    ],
)
def test_geo_radius_in_every_unit(
    api: Api, animals: ServerApp, kind: str, inside: float, outside: float
) -> None:
    def near(limit: float) -> list[str]:
        geo = {
            "geo_point": {"latitude": 40.0, "longitude": -30.0},
            "geo_limit": {"type": kind, "value": limit},
        }
        _, body = legacy(api, [{"input": {"data": {"geo": geo}}}])
        return ids(body)

    assert near(inside) == ["cat1", "dog1"]
    assert near(outside) == ["cat1"]


def test_geo_radius_limit_is_inclusive(api: Api, server_app: ServerApp) -> None:
    seed_input(server_app, "north", geo=(1.0, 0.0))
    geo = {
        "geo_point": {"latitude": 0.0, "longitude": 0.0},
        "geo_limit": {"type": "withinDegrees", "value": 1.0},
    }
    _, body = current(api, [{"annotation": {"data": {"geo": geo}}}])
    assert ids(body) == ["north"]


def test_geo_box_corners_in_any_order(api: Api, animals: ServerApp) -> None:
    box = [
        {"geo_point": {"latitude": 40.02, "longitude": -29.0}},
        {"geo_point": {"latitude": 39.0, "longitude": -31.0}},
    ]
    _, body = current(api, [{"annotation": {"data": {"geo": {"geo_box": box}}}}])
    assert ids(body) == ["cat1"]
    _, body = legacy(api, [{"input": {"data": {"geo": {"geo_box": box[::-1]}}}}])
    assert ids(body) == ["cat1"]


def test_id_url_and_negate_filters(api: Api, animals: ServerApp) -> None:
    _, body = current(api, [{"input": {"id": "dog1"}}])
    assert ids(body) == ["dog1"]
    _, body = legacy(api, [{"input": {"id": "dog1", "data": {"image": {}}}}])
    assert ids(body) == ["dog1"]
    url_term = {"input": {"data": {"image": {"url": "https://example.com/cat1.jpg"}}}}
    _, body = legacy(api, [url_term])
    assert ids(body) == ["cat1"]
    _, body = current(api, [{**url_term, "negate": True}])
    assert ids(body) == ["dog1", "both", "plain"]
    # filters are ANDed
    _, body = current(
        api,
        [
            {"annotation": {"data": {"concepts": [{"id": "dog"}]}}},
            {"annotation": {"data": {"metadata": {"n": 1}}}},
        ],
    )
    assert ids(body) == ["both"]


def test_pagination_counts_and_only_count(api: Api, animals: ServerApp) -> None:
    _, body = current(api, [], pagination={"page": 2, "per_page": 3})
    assert ids(body) == ["plain"]
    assert body["hit_counts"] == [{"estimated_total": 4}]
    _, body = current(api, [], pagination={"page": 3, "per_page": 3})
    assert body["hits"] == [] and body["status"]["code"] == 10000
    _, body = current(
        api, [{"annotation": {"data": {"concepts": [{"id": "dog"}]}}}], only_count=True
    )
    assert body["hits"] == [] and body["hit_counts"] == [{"estimated_total": 2}]


def test_multi_lookup_filters_page_and_count(api: Api, animals: ServerApp) -> None:
    """Several lookups (one windowed query for page and total): every page, and past the end."""
    cat_or_dog_not_plain = [
        {"annotation": {"data": {"concepts": [{"id": "dog"}]}}},
        {"annotation": {"data": {"metadata": {"ok": 1}}}, "negate": True},
    ]
    _, body = current(api, cat_or_dog_not_plain, pagination={"page": 1, "per_page": 1})
    assert ids(body) == ["both"] and body["hit_counts"] == [{"estimated_total": 1}]
    pair = [
        {"annotation": {"data": {"concepts": [{"id": "cat"}]}}},
        {"annotation": {"data": {"metadata": {"owner": {}}}}},
    ]
    _, body = current(api, pair, pagination={"page": 1, "per_page": 5})
    assert ids(body) == ["cat1"] and body["hit_counts"] == [{"estimated_total": 1}]
    animals_by_two = [{"annotation": {"data": {"concepts": [{"id": "cat"}], "metadata": {}}}}]
    _, body = current(api, animals_by_two, pagination={"page": 1, "per_page": 1})
    assert ids(body) == ["cat1"] and body["hit_counts"] == [{"estimated_total": 2}]
    _, body = current(api, animals_by_two, pagination={"page": 2, "per_page": 1})
    assert ids(body) == ["both"] and body["hit_counts"] == [{"estimated_total": 2}]
    _, body = current(api, animals_by_two, pagination={"page": 3, "per_page": 1})
    assert body["hits"] == [] and body["hit_counts"] == [{"estimated_total": 2}]


def test_annotation_search_returns_the_input_level_annotation(api: Api, animals: ServerApp) -> None:
    body_in = {"searches": [{"query": {"filters": [{"input": {"id": "dog1"}}]}}]}
    code, body = api.post("annotations/searches", body_in)
    assert code == 200
    (hit,) = body["hits"]
    assert hit["annotation"]["input_id"] == "dog1"
    assert hit["annotation"]["data"]["concepts"] == [{"id": "dog", "value": 1}]


def test_long_route_form(api: Api, animals: ServerApp) -> None:
    code, body = api.post(
        "users/local/apps/default/inputs/searches",
        {"searches": [{"query": {"filters": [{"input": {"id": "cat1"}}]}}]},
    )
    assert code == 200 and ids(body) == ["cat1"]


# -- ranks -------------------------------------------------------------------------------------


@pytest.fixture
def pictures(server_app: ServerApp) -> ServerApp:
    for name in ("cat", "coffee", "rocket", "galaxies"):
        seed_input(
            server_app,
            name,
            image=(SAMPLES / f"{name}.jpg").read_bytes(),
            metadata={"kind": "space" if name in ("rocket", "galaxies") else "earth"},
        )
    seed_input(server_app, "red", image=png((220, 20, 20)))
    seed_input(server_app, "unprocessed", status_code=30001)
    return server_app


def test_visual_similarity_by_input_id_ranks_itself_first(api: Api, pictures: ServerApp) -> None:
    _, body = current(api, ranks=[{"annotation": {"input_id": "coffee"}}])
    assert ids(body)[0] == "coffee"
    assert body["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    scores = [hit["score"] for hit in body["hits"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.9
    assert "unprocessed" not in ids(body)  # no stored vector, nothing to compare
    assert body["hit_counts"] == [{"estimated_total": 5}]
    _, body = legacy(api, [{"output": {"input": {"id": "coffee", "data": {"image": {}}}}}])
    assert ids(body)[0] == "coffee"


def test_visual_similarity_by_bytes_and_with_filters(api: Api, pictures: ServerApp) -> None:
    data = base64.b64encode((SAMPLES / "rocket.jpg").read_bytes()).decode()
    _, body = legacy(api, [{"output": {"input": {"data": {"image": {"base64": data}}}}}])
    assert ids(body)[0] == "rocket"
    _, body = current(
        api,
        filters=[{"annotation": {"data": {"metadata": {"kind": "earth"}}}}],
        ranks=[{"annotation": {"data": {"image": {"base64": data}}}}],
    )
    assert sorted(ids(body)) == ["cat", "coffee"]  # filters restrict the candidates first


def test_visual_similarity_with_crop(api: Api, server_app: ServerApp) -> None:
    from io import BytesIO

    from PIL import Image

    # left half red, right half blue; a crop of the left half looks like the all-red input
    image = Image.new("RGB", (64, 64), (0, 0, 220))
    image.paste((220, 0, 0), (0, 0, 32, 64))
    out = BytesIO()
    image.save(out, format="PNG")
    seed_input(server_app, "halves", image=out.getvalue())
    seed_input(server_app, "red", image=png((220, 0, 0)))
    seed_input(server_app, "blue", image=png((0, 0, 220)))
    crop = [0.0, 0.0, 1.0, 0.5]
    _, body = current(
        api,
        ranks=[
            {
                "annotation": {
                    "data": {
                        "image": {"base64": base64.b64encode(out.getvalue()).decode(), "crop": crop}
                    }
                }
            }
        ],
    )
    assert ids(body)[0] == "red"
    _, body = legacy(
        api, [{"output": {"input": {"id": "halves", "data": {"image": {"crop": crop}}}}}]
    )
    assert ids(body)[0] == "red"


def test_rank_by_predicted_concepts_needs_a_concept_model(api: Api, pictures: ServerApp) -> None:
    pictures.base_concept_model_id = None  # no concept model installed
    code, body = legacy(api, [{"output": {"data": {"concepts": [{"name": "cat", "value": 1.0}]}}}])
    assert code == 404 and body["status"]["code"] == 21200
    assert "concept model" in body["status"]["details"]


def test_rank_by_predicted_concepts(api: Api, pictures: ServerApp) -> None:
    pictures.base_concept_model_id = "general-test"
    with pictures.store.transaction() as connection:
        seqs = dict(connection.execute("SELECT id, seq FROM inputs").fetchall())
        connection.executemany(
            "INSERT INTO input_predictions (seq, model_id, concept_id, value) VALUES (?, ?, ?, ?)",
            [
                (seqs["cat"], "general-test", "cat", 0.9),
                (seqs["coffee"], "general-test", "cat", 0.2),
                (seqs["rocket"], "other-model", "cat", 1.0),
            ],
        )
    _, body = legacy(api, [{"output": {"data": {"concepts": [{"id": "cat", "value": 1.0}]}}}])
    assert ids(body)[:2] == ["cat", "coffee"]
    assert [h["score"] for h in body["hits"]][:3] == [0.9, 0.2, 0.0]
    _, body = current(
        api, ranks=[{"annotation": {"data": {"concepts": [{"id": "cat", "value": 0}]}}}]
    )
    assert ids(body)[-2:] == ["coffee", "cat"]  # absence: the most cat-like comes last
    assert body["hits"][-1]["score"] == pytest.approx(0.1)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {
                "query": {
                    "ands": [
                        {
                            "input": {
                                "data": {
                                    "geo": {
                                        "geo_point": {"latitude": 1, "longitude": 2},
                                        "geo_limit": {"type": "withinFurlongs", "value": 3},
                                    }
                                }
                            }
                        }
                    ]
                }
            },
            "withinFurlongs",
        ),
        (
            {
                "query": {
                    "ands": [
                        {
                            "output": {
                                "input": {"id": "cat", "data": {"image": {"crop": [0, 0, 1.5, 1]}}}
                            }
                        }
                    ]
                }
            },
            "crop",
        ),
        ({"query": {"ands": []}, "pagination": {"page": 1, "per_page": 1001}}, "per_page"),
        (
            {"query": {"ands": [{"input": {"data": {"concepts": [{"id": "cat", "value": 0.5}]}}}]}},
            "value",
        ),
        ({"query": {"ands": [{"input": {"dat": {}}}]}}, "dat"),
        ({"query": {"ands": [{}]}}, "exactly one"),
        ({"query": {"ands": [{"input": {"data": {"concepts": [{}]}}}]}}, "id or a name"),
        (
            {
                "query": {
                    "ands": [
                        {
                            "input": {
                                "data": {
                                    "geo": {
                                        "geo_box": [{"geo_point": {"latitude": 1, "longitude": 1}}]
                                    }
                                }
                            }
                        }
                    ]
                }
            },
            "2 corners",
        ),
        (
            {
                "query": {
                    "ands": [
                        {
                            "input": {
                                "data": {
                                    "geo": {
                                        "geo_point": {"latitude": 91, "longitude": 1},
                                        "geo_limit": {"type": "withinDegrees", "value": 1},
                                    }
                                }
                            }
                        }
                    ]
                }
            },
            "latitude",
        ),
        ({"query": {"ands": [{"input": {"data": {"colors": [{}]}}}]}}, "colors"),
        (
            {"query": {"ands": [{"output": {"input": {"data": {"image": {"base64": "###"}}}}}]}},
            "base64",
        ),
        (
            {
                "query": {
                    "ands": [{"output": {"input": {"data": {"image": {"base64": "aGVsbG8="}}}}}]
                }
            },
            "decodable",
        ),
    ],
)
def test_bad_legacy_requests_are_40002(
    api: Api, pictures: ServerApp, body: dict[str, Any], fragment: str
) -> None:
    code, answer = api.post("searches", body)
    assert code == 400
    assert answer["status"]["code"] == 40002
    assert fragment in answer["status"]["details"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"filters": [{}]}, "nothing to match"),
        ({"filters": [{"annotation": {"data": {"metadata": "x"}}}]}, "metadata"),
        ({"ranks": [{"annotation": {"data": {"metadata": {"a": 1}}}}]}, "filter"),
        (
            {"ranks": [{"annotation": {"data": {"image": {"url": "u", "base64": "aGk="}}}}]},
            "exactly one",
        ),
        (
            {
                "filters": [
                    {
                        "annotation": {
                            "data": {"geo": {"geo_point": {"latitude": 1, "longitude": 1}}}
                        }
                    }
                ]
            },
            "geo_limit",
        ),
        ({"filters": [{"last_updated_time_range": {"start_time": "yesterday"}}]}, "RFC 3339"),
        ({"filters": [{"annotation": {"data": {"image": {"base64": "aGk="}}}}]}, "ranks"),
    ],
)
def test_bad_current_requests_are_40002(
    api: Api, pictures: ServerApp, query: dict[str, Any], fragment: str
) -> None:
    code, answer = api.post("inputs/searches", {"searches": [{"query": query}]})
    assert code == 400
    assert answer["status"]["code"] == 40002, answer
    assert fragment in answer["status"]["details"]


def test_visual_similarity_by_url(api: Api, pictures: ServerApp) -> None:
    import http.server
    import threading

    payload = (SAMPLES / "galaxies.jpg").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/galaxies.jpg" else 404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/galaxies.jpg"
        _, body = legacy(api, [{"output": {"input": {"data": {"image": {"url": url}}}}}])
        assert ids(body)[0] == "galaxies"
        assert body["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)
        code, body = current(
            api, ranks=[{"annotation": {"data": {"image": {"url": url + ".missing"}}}}]
        )
        assert (code, body["status"]["code"]) == (400, 30002)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_visual_similarity_url_must_be_http(api: Api, pictures: ServerApp) -> None:
    url = "ftp://example.com/x.jpg"
    code, body = current(api, ranks=[{"annotation": {"data": {"image": {"url": url}}}}])
    assert (code, body["status"]["code"]) == (400, 30002)
    assert "http" in body["status"]["details"]


def test_rank_by_unprocessed_input_is_43004(api: Api, pictures: ServerApp) -> None:
    code, answer = current(api, ranks=[{"annotation": {"input_id": "unprocessed"}}])
    assert (code, answer["status"]["code"]) == (400, 43004)


def test_time_range_filter(api: Api, animals: ServerApp) -> None:
    _, body = current(api, [{"last_updated_time_range": {"start_time": "2000-01-01T00:00:00Z"}}])
    assert len(body["hits"]) == 4
    _, body = current(api, [{"last_updated_time_range": {"end_time": "2000-01-01T00:00:00Z"}}])
    assert body["hits"] == []


# -- the built-in descriptor -------------------------------------------------------------------


def test_descriptor_is_unit_length_and_documented_size() -> None:
    from PIL import Image

    vector = describe(Image.open(SAMPLES / "cat.jpg"))
    assert vector.dtype == np.float32 and vector.shape == (128,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)
    flat = describe(Image.new("RGB", (10, 10), (128, 128, 128)))
    # a flat image has no layout part, and one histogram bin
    assert float(flat[:64].max()) == pytest.approx(1.0, abs=1e-5)
    assert float(np.abs(flat[64:]).max()) == 0.0


def test_processing_step_stores_the_vector(server_app: ServerApp) -> None:
    seq = seed_input(server_app, "cat", image=(SAMPLES / "cat.jpg").read_bytes())
    with server_app.store.read() as connection:
        (blob,) = connection.execute(
            "SELECT vector FROM input_embeddings WHERE seq = ? AND model_id = ?",
            (seq, BUILTIN_MODEL_ID),
        ).fetchone()
    assert len(blob) == 128 * 4


# -- end to end through the inputs routes --------------------------------------------------------


def test_inputs_created_through_the_api_are_searchable(api: Api) -> None:
    def image(name: str) -> str:
        return base64.b64encode((SAMPLES / name).read_bytes()).decode()

    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {
                    "id": "c",
                    "data": {
                        "image": {"base64": image("cat.jpg")},
                        "concepts": [{"id": "cat", "value": 1}],
                        "metadata": {"owner": {"name": "ana"}},
                        "geo": {"geo_point": {"latitude": 10.0, "longitude": 20.0}},
                    },
                },
                {
                    "id": "r",
                    "data": {
                        "image": {"base64": image("rocket.jpg")},
                        "concepts": [{"id": "cat", "value": 0}],
                    },
                },
            ]
        },
    )
    assert code == 200, body
    _, body = legacy(api, [{"input": {"data": {"concepts": [{"name": "cat", "value": 1.0}]}}}])
    assert ids(body) == ["c"]
    _, body = current(api, [{"annotation": {"data": {"metadata": {"owner": {"name": "ana"}}}}}])
    assert ids(body) == ["c"]
    _, body = current(api, ranks=[{"annotation": {"input_id": "r"}}])
    assert ids(body) == ["r", "c"]
    code, _ = api.patch(
        "inputs",
        {
            "action": "merge",
            "inputs": [{"id": "r", "data": {"metadata": {"owner": {"name": "ana"}}}}],
        },
    )
    assert code == 200
    _, body = current(api, [{"annotation": {"data": {"metadata": {"owner": {"name": "ana"}}}}}])
    assert ids(body) == ["c", "r"]


# -- last_updated_time_range and input status (current dialect) -------------------------------


def _modified_times(api: Api) -> dict[str, str]:
    code, body = api.get("inputs", "per_page=100")
    assert code == 200
    return {item["id"]: item["modified_at"] for item in body["inputs"]}


def _shift(stamp: str, offset: str) -> str:
    """The same instant as ``stamp`` (``...Z``) written with a UTC offset and 9 fraction digits."""
    import datetime as dt

    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    delta = dt.timedelta(hours=hours, minutes=minutes) * (1 if offset[0] == "+" else -1)
    local = moment.astimezone(dt.timezone(delta))
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000" + offset


def test_time_range_is_inclusive_on_modified_at(api: Api, animals: ServerApp) -> None:
    api.patch(
        "inputs",
        {"action": "merge", "inputs": [{"id": "dog1", "data": {"metadata": {"seen": True}}}]},
    )
    times = _modified_times(api)
    pivot = times["dog1"]  # modified last, by the patch
    order = sorted(times, key=lambda input_id: times[input_id])
    assert order[-1] == "dog1"
    created_order = ["cat1", "dog1", "both", "plain"]

    def search(time_range: dict[str, str], **extra: Any) -> list[str]:
        code, body = current(api, [{"last_updated_time_range": time_range, **extra}])
        assert code == 200, body
        return ids(body)

    at_or_after = [i for i in created_order if times[i] >= pivot]
    assert search({"start_time": pivot}) == at_or_after == ["dog1"]
    assert search({"end_time": pivot}) == created_order  # everything is at or before the last
    first = times[order[0]]
    assert search({"start_time": first, "end_time": first}) == [
        i for i in created_order if times[i] == first
    ]
    # the same instants written with other offsets and nanoseconds
    assert search({"start_time": _shift(pivot, "+05:30")}) == ["dog1"]
    assert search({"end_time": _shift(first, "-03:00")}) == [
        i for i in created_order if times[i] == first
    ]
    # a start one nanosecond after an input's microsecond excludes it
    assert "dog1" not in search({"start_time": pivot[:-1] + "001Z"})
    # negate: the complement; combined with an input filter in one filter: both hold
    assert search({"start_time": pivot}, negate=True) == [i for i in created_order if i != "dog1"]
    _, body = current(
        api,
        [
            {
                "input": {"data": {"concepts": [{"id": "dog", "value": 1}]}},
                "last_updated_time_range": {"end_time": times["both"]},
            }
        ],
    )
    assert ids(body) == [i for i in ["dog1", "both"] if times[i] <= times["both"]]


@pytest.mark.parametrize(
    ("time_range", "fragment"),
    [
        ({"start_time": "2024-05-01"}, "RFC 3339"),
        ({"start_time": "2024-05-01T00:00:00"}, "RFC 3339"),  # no offset
        ({"end_time": "2024-13-01T00:00:00Z"}, "not a valid time"),
        ({"end_time": 5}, "expected a string"),
        ({"stop_time": "2024-05-01T00:00:00Z"}, "unknown field"),
    ],
)
def test_bad_time_ranges_are_40002(
    api: Api, animals: ServerApp, time_range: dict[str, Any], fragment: str
) -> None:
    code, body = current(api, [{"last_updated_time_range": time_range}])
    assert (code, body["status"]["code"]) == (400, 40002), body
    assert fragment in body["status"]["details"]


@pytest.fixture
def statuses(server_app: ServerApp) -> ServerApp:
    seed_input(server_app, "done1")
    seed_input(server_app, "pending", status_code=30001)
    seed_input(server_app, "failed", status_code=30002, metadata={"k": 1})
    seed_input(server_app, "done2", metadata={"k": 1})
    return server_app


def test_input_status_filter(api: Api, statuses: ServerApp) -> None:
    def search(code_value: Any, **extra: Any) -> list[str]:
        code, body = current(api, [{"input": {"status": {"code": code_value}}, **extra}])
        assert code == 200, body
        return ids(body)

    assert search(30000) == ["done1", "done2"]
    assert search(30001) == ["pending"]
    assert search("INPUT_DOWNLOAD_FAILED") == ["failed"]
    assert search("INPUT_SUCCESS") == ["done1", "done2"]  # the 12.x name of 30000
    assert search(30003) == []
    assert search(30000, negate=True) == ["pending", "failed"]
    _, body = current(api, [{"input": {"status": {"code": 30000}, "data": {"metadata": {"k": 1}}}}])
    assert ids(body) == ["done2"]
    _, body = current(api, [{"input": {"status": {"code": 30000}}}], only_count=True)
    assert body["hit_counts"] == [{"estimated_total": 2}]


@pytest.mark.parametrize(
    ("status_value", "fragment"),
    [
        ({"code": "DONE"}, "not an input status code"),
        ({"code": 1.5}, "expected a status code"),
        ({"code": 0}, "give the input status code"),
        ({}, "names nothing to match"),
        ({"code": 30000, "details": "x"}, "code only"),
    ],
)
def test_bad_status_filters_are_40002(
    api: Api, statuses: ServerApp, status_value: dict[str, Any], fragment: str
) -> None:
    code, body = current(api, [{"input": {"status": status_value}}])
    assert (code, body["status"]["code"]) == (400, 40002), body
    assert fragment in body["status"]["details"]


def test_the_legacy_dialect_does_not_filter_on_status(api: Api, statuses: ServerApp) -> None:
    code, body = legacy(api, [{"input": {"status": {"code": 30000}}}])
    assert (code, body["status"]["code"]) == (400, 40002)
    assert "current dialect" in body["status"]["details"]


@pytest.mark.parametrize(
    "ands",
    [
        [{"input": None}],
        [{"output": None}],
        [{"input": None, "output": None}],
        [None],
    ],
)
def test_a_null_legacy_term_is_a_400_saying_what_is_missing(api: Api, ands: list[Any]) -> None:
    """Found by tests/server/test_fuzz.py: a term whose only key is null crashed with a 500."""
    code, body = legacy(api, ands)
    assert code == 400, body
    assert body["status"]["code"] == 40002
    assert "query.ands[0]" in body["status"]["details"]


def test_a_null_rank_or_filter_is_a_400(api: Api) -> None:
    """Found by the fuzzer: ``"ranks": [null]`` reached the parser and crashed with a 500."""
    code, body = current(api, ranks=[None])
    assert code == 400, body
    assert "searches[0].query.ranks[0]: expected an object, got null" in body["status"]["details"]
    code, body = current(api, filters=[None])
    assert code == 400, body
    assert "filters[0]" in body["status"]["details"]
