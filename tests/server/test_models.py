"""Model routes of the local server (wire reference, section 5 endpoints 1-8 and 11-13, section 6)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarimap.server.public_models import PUBLIC_MODELS
from clarimap.server.store import new_id, now
from tests.conftest import Api

GENERAL = "aaa03c23b3724a16a56b629203edc62c"
CONFIG_DEFAULTS = {
    "concepts_mutually_exclusive": False,
    "closed_environment": False,
    "max_concepts": 0,
    "min_value": 0.0,
}


def assert_model_shape(model: dict[str, Any]) -> None:
    """The keys 2.6.2 reads from every model (section 4), and both type vocabularies."""
    for key in ("id", "name", "created_at", "app_id", "model_type_id"):
        assert key in model, (key, model)
    assert model["model_version"]["id"]
    assert isinstance(model["model_version"]["status"]["code"], int)
    assert model["output_info"]["type"]
    assert model["output_info"]["type_ext"]
    for concept in (model["output_info"].get("data") or {}).get("concepts", []):
        assert {"id", "name", "created_at", "app_id"} <= concept.keys()
        assert concept["app_id"]


def create_model(
    api: Api, model_id: str, concepts: Sequence[str] = (), **output_config: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {
            "id": model_id,
            "output_info": {
                "data": {"concepts": [{"id": c, "value": 1.0} for c in concepts]},
                "output_config": output_config,
            },
        }
    }
    code, answer = api.post("models", body)
    assert code == 200, answer
    return dict(answer["model"])


def concept_ids(model: dict[str, Any]) -> list[str]:
    return [c["id"] for c in (model["output_info"].get("data") or {}).get("concepts", [])]


# ---------------------------------------------------------------------------------------------
# create


def test_create_legacy_body_answers_an_untrained_model(api: Api) -> None:
    body = {
        "model": {
            "id": "pets",
            "name": "Pets",
            "output_info": {
                "data": {"concepts": [{"id": "dog", "value": 1.0}, {"id": "cat", "value": 1.0}]},
                "output_config": {
                    "concepts_mutually_exclusive": True,
                    "closed_environment": True,
                    "hyper_params": {"lr": 0.1, "layers": [1, 2]},
                },
            },
        }
    }
    code, answer = api.post("models", body)
    assert code == 200, answer
    assert answer["status"]["code"] == 10000
    model = answer["model"]
    assert_model_shape(model)
    assert model["id"] == "pets"
    assert model["name"] == "Pets"
    assert model["app_id"] == "default"
    assert model["model_type_id"] == "embedding-classifier"
    assert (model["output_info"]["type"], model["output_info"]["type_ext"]) == (
        "concept",
        "concept",
    )
    assert model["model_version"]["status"]["code"] == 21102
    assert len(model["model_version"]["id"]) == 32
    assert concept_ids(model) == ["cat", "dog"]
    config = model["output_info"]["output_config"]
    assert config == {
        **CONFIG_DEFAULTS,
        "concepts_mutually_exclusive": True,
        "closed_environment": True,
        "hyper_params": {"lr": 0.1, "layers": [1, 2]},
    }
    # the model's concepts exist in the app now
    code, answer = api.get("concepts/cat")
    assert code == 200


def test_create_name_defaults_to_id_and_model_type_id_is_kept(api: Api) -> None:
    code, answer = api.post("models", {"model": {"id": "m", "model_type_id": "visual-classifier"}})
    assert code == 200, answer
    model = answer["model"]
    assert model["name"] == "m"
    assert model["model_type_id"] == "visual-classifier"
    assert "data" not in model["output_info"]  # no concepts, no data
    assert model["output_info"]["output_config"] == CONFIG_DEFAULTS


def test_create_existing_or_public_id_is_400(api: Api) -> None:
    create_model(api, "m")
    for model_id in ("m", GENERAL):
        code, answer = api.post("models", {"model": {"id": model_id}})
        assert code == 400
        assert "already exists" in answer["status"]["details"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "model: send the model"),
        ({"model": {}}, "model: send the model"),
        ({"model": {"name": "x"}}, "model.id: an id is required"),
        ({"model": {"id": 1}}, "model.id: expected a string"),
        ({"model": {"id": "a/b"}}, "cannot contain '/'"),
        ({"model": {"id": "modèle"}}, "printable ASCII"),
        ({"model": {"id": "m", "colour": 1}}, "model.colour: unknown field"),
        (
            {"model": {"id": "m", "output_info": {"output_config": {"closed_environment": "yes"}}}},
            "closed_environment: expected a boolean",
        ),
        (
            {"model": {"id": "m", "output_info": {"output_config": {"min_value": 3}}}},
            "min_value: must be between 0 and 1",
        ),
        (
            {"model": {"id": "m", "output_info": {"data": {"concepts": [{"name": "x"}]}}}},
            "concepts[0].id: an id is required",
        ),
        (
            {"model": {"id": "m", "output_info": {"data": {"concepts": "cat"}}}},
            "concepts: expected an array",
        ),
        (
            {"model": {"id": "m", "output_info": {"data": {"concepts": [None]}}}},
            "concepts[0]: expected an object, got null",
        ),
    ],
)
def test_create_bad_bodies_say_what_was_wrong(api: Api, body: dict[str, Any], says: str) -> None:
    code, answer = api.post("models", body)
    assert code == 400, answer
    assert says in answer["status"]["details"]
    assert api.get("models/m")[0] == 404


def test_malformed_json_is_400(api: Api) -> None:
    for method in ("POST", "PATCH", "DELETE"):
        code, answer = api.call(method, "models", raw=b"{nope")
        assert code == 400
        assert answer["status"]["code"] == 11100


# ---------------------------------------------------------------------------------------------
# list, get, output_info


def list_all(api: Api, path: str = "models", per_page: int = 7) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    for page in itertools.count(1):
        code, answer = api.get(path, f"page={page}&per_page={per_page}")
        assert code == 200, answer
        if not answer["models"]:
            return models
        assert len(answer["models"]) <= per_page
        models += answer["models"]
    raise AssertionError("unreachable")


def test_list_holds_the_apps_models_then_the_public_ones_and_ends_empty(api: Api) -> None:
    create_model(api, "first", ["a"])
    create_model(api, "second")
    models = list_all(api)
    for model in models:
        assert_model_shape(model)
    assert [m["id"] for m in models[:2]] == ["first", "second"]
    public = models[2:]
    assert [m["id"] for m in public] == [p.id for p in PUBLIC_MODELS]
    assert len(public) == 18
    assert {m["app_id"] for m in public} == {"main"}
    assert len({m["created_at"] for m in public}) == 1
    assert {m["model_version"]["status"]["code"] for m in public} == {21100}
    names = {(m["name"], m["output_info"]["type"]) for m in public}
    for expected in [
        ("general-v1.3", "concept"),
        ("color", "color"),
        ("face-v1.3", "facedetect"),
        ("nsfw-v1.0", "concept"),
        ("food-items-v1.0", "concept"),
        ("travel-v1.0", "concept"),
        ("general-embedding", "embed"),
    ]:
        assert expected in names


def test_list_under_the_public_app_holds_only_public_models(api: Api) -> None:
    create_model(api, "mine")
    models = list_all(api, "users/clarifai/apps/main/models", per_page=100)
    assert [m["id"] for m in models] == [p.id for p in PUBLIC_MODELS]


def test_get_model_with_concepts_and_versions(api: Api) -> None:
    made = create_model(api, "m", ["b", "a"])
    code, answer = api.get("models/m")
    assert code == 200
    model = answer["model"]
    assert_model_shape(model)
    assert concept_ids(model) == ["a", "b"]
    assert model["model_version"] == made["model_version"]
    version_id = made["model_version"]["id"]
    code, answer = api.get("models/m", f"version_id={version_id}")
    assert code == 200
    assert answer["model"]["model_version"]["id"] == version_id
    code, answer = api.get("models/m", "version_id=nope")
    assert code == 404
    assert answer["status"]["code"] == 21200
    assert "nope" in answer["status"]["details"]


def test_get_unknown_model_is_404_21200(api: Api) -> None:
    for path in ("models/nope", "models/nope/output_info", "models/a%2Fb", "models/nope/versions"):
        code, answer = api.get(path)
        assert code == 404, path
        assert answer["status"]["code"] == 21200
        assert answer["status"]["description"] == "Model does not exist"


def test_public_models_are_reachable_from_every_route_form(api: Api) -> None:
    for path in (
        f"models/{GENERAL}",
        f"users/clarifai/apps/main/models/{GENERAL}",
        f"users/local/apps/default/models/{GENERAL}",
        f"users/me/apps/other/models/{GENERAL}",
    ):
        code, answer = api.get(path)
        assert code == 200, (path, answer)
        assert answer["model"]["name"] == "general-v1.3"
        assert answer["model"]["app_id"] == "main"
        assert_model_shape(answer["model"])


def test_output_info_always_lists_the_concepts(api: Api) -> None:
    made = create_model(api, "m", ["cat"])
    code, answer = api.get("models/m/output_info")
    assert code == 200
    assert concept_ids(answer["model"]) == ["cat"]
    version_id = made["model_version"]["id"]
    code, answer = api.get(f"models/m/versions/{version_id}/output_info")
    assert code == 200
    assert answer["model"]["model_version"]["id"] == version_id
    assert concept_ids(answer["model"]) == ["cat"]
    create_model(api, "empty")
    code, answer = api.get("models/empty/output_info")
    assert answer["model"]["output_info"]["data"] == {"concepts": []}
    code, answer = api.get(f"models/{GENERAL}/output_info")
    assert code == 200
    assert "concepts" in answer["model"]["output_info"]["data"]
    code, answer = api.get("models/m/versions/nope/output_info")
    assert code == 404


# ---------------------------------------------------------------------------------------------
# search


def search(api: Api, query: dict[str, Any], **pagination: int) -> list[str]:
    body: dict[str, Any] = {"model_query": query}
    if pagination:
        body["pagination"] = pagination
    code, answer = api.post("models/searches", body)
    assert code == 200, answer
    for model in answer["models"]:
        assert_model_shape(model)
    return [m["name"] for m in answer["models"]]


def test_search_by_name_type_and_model_type_id(api: Api) -> None:
    create_model(api, "m1")
    api.post("models", {"model": {"id": "m2", "name": "General purpose"}})
    assert search(api, {"name": "general*"}) == [
        "General purpose",
        "general-v1.3",
        "general-embedding",
    ]
    assert search(api, {"name": "general*", "type": "embed"}) == ["general-embedding"]
    assert search(api, {"name": "GENERAL-V1.3"}) == ["general-v1.3"]
    assert search(api, {"name": "m1", "model_type_id": "embedding-classifier"}) == ["m1"]
    assert search(api, {"model_type_id": "visual-embedder"}) == [
        "face-embedding",
        "general-embedding",
    ]
    assert search(api, {"name": "nothing*"}) == []
    assert search(api, {"type": "color"}) == ["color"]


def test_search_face_models_by_type(api: Api) -> None:
    assert search(api, {"name": "face*", "type": "facedetect"}) == ["face-v1.3"]
    assert search(api, {"name": "face*", "type": "embed"}) == ["face-embedding"]


def test_search_face_finds_both_face_models_by_display_name(api: Api) -> None:
    """2.6.2's ``app.models.get("face")`` searches ``face`` and keeps the one non-embed model;
    ``get("face", model_type="embed")`` searches with the type (wire reference, section 9)."""
    by_key = {p.key: p for p in PUBLIC_MODELS}
    code, answer = api.post("models/searches", {"model_query": {"name": "face"}})
    assert code == 200
    found = {(m["id"], m["output_info"]["type"]) for m in answer["models"]}
    assert found == {
        (by_key["face_detection"].id, "facedetect"),
        (by_key["face_embedding"].id, "embed"),
    }
    assert {m["display_name"] for m in answer["models"]} == {"face"}
    assert [m for m in found if m[1] not in ("embed", "cluster")] == [
        (by_key["face_detection"].id, "facedetect")
    ]
    assert search(api, {"name": "face", "type": "facedetect"}) == ["face-v1.3"]
    assert search(api, {"name": "face", "type": "embed"}) == ["face-embedding"]
    assert search(api, {"name": "general*", "type": "embed"}) == ["general-embedding"]
    assert search(api, {"name": "general-v1.3", "type": "concept"}) == ["general-v1.3"]
    assert search(api, {"name": "color", "type": "color"}) == ["color"]
    for name in ("nsfw-v1.0", "food-items-v1.0", "travel-v1.0"):
        assert search(api, {"name": name}) == [name]


def test_user_level_models_list_every_app_then_the_public_ones(api: Api) -> None:
    create_model(api, "first")
    code, answer = api.post("users/local/apps/second/models", {"model": {"id": "other"}})
    assert code == 200, answer
    api.post("users/someone/apps/x/models", {"model": {"id": "theirs"}})
    for user in ("local", "me"):
        models = list_all(api, f"users/{user}/models")
        for model in models:
            assert_model_shape(model)
        assert [(m["app_id"], m["id"]) for m in models[:2]] == [
            ("default", "first"),
            ("second", "other"),
        ]
        assert {m["user_id"] for m in models[:2]} == {"local"}
        assert [m["id"] for m in models[2:]] == [p.id for p in PUBLIC_MODELS]
    code, answer = api.get("users/local/models", "name=oth*")
    assert [m["id"] for m in answer["models"]] == ["other"]
    code, answer = api.get("users/local/models", "model_type_id=visual-embedder&per_page=100")
    assert {m["name"] for m in answer["models"]} == {"face-embedding", "general-embedding"}
    public = list_all(api, "users/clarifai/models")
    assert [m["id"] for m in public] == [p.id for p in PUBLIC_MODELS]
    code, answer = api.get("users/local/models", "per_page=1001")
    assert (code, answer["status"]["code"]) == (400, 11102)
    code, answer = api.get("users/local/apps/default/users/local/models")
    assert (code, answer["status"]["code"]) == (404, 11101)


def test_user_level_models_reach_only_the_keys_user(api: Api) -> None:
    api.server.api_keys = frozenset({api.key})
    for path in ("users/local/models", "users/me/models", "users/clarifai/models"):
        code, answer = api.get(path)
        assert code == 200, (path, answer)
    code, answer = api.get("users/someone/models")
    assert (code, answer["status"]["code"]) == (403, 11007)
    assert "someone" in answer["status"]["details"]


def test_search_honours_pagination(api: Api) -> None:
    assert search(api, {"name": "*"}, page=1, per_page=10) == [p.name for p in PUBLIC_MODELS[:10]]
    assert search(api, {"name": "*"}, page=2, per_page=10) == [p.name for p in PUBLIC_MODELS[10:]]
    assert search(api, {"name": "*"}, page=3, per_page=10) == []


def test_search_bad_bodies(api: Api) -> None:
    code, answer = api.post("models/searches", {"model_query": {"nme": "x"}})
    assert code == 400
    assert "model_query.nme: unknown field" in answer["status"]["details"]
    code, answer = api.post("models/searches", {"model_query": {"type": ["embed"]}})
    assert code == 400
    assert "expected a string" in answer["status"]["details"]


# ---------------------------------------------------------------------------------------------
# patch: examples, errors, and the property test against a reference of section 6


def patch(api: Api, action: str, *models: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return api.patch("models", {"action": action, "models": list(models)})


def concepts_patch(model_id: str, ids: list[str], value: float = 1.0) -> dict[str, Any]:
    return {
        "id": model_id,
        "output_info": {"data": {"concepts": [{"id": c, "value": value} for c in ids]}},
    }


def test_patch_examples_of_section_6(api: Api) -> None:
    create_model(api, "m", ["cat", "dog"], closed_environment=True, hyper_params={"lr": 0.1})
    code, answer = patch(api, "merge", concepts_patch("m", ["ant", "dog"]))
    assert code == 200, answer
    assert concept_ids(answer["models"][0]) == ["ant", "cat", "dog"]
    code, answer = patch(api, "remove", concepts_patch("m", ["cat"]))
    assert concept_ids(answer["models"][0]) == ["ant", "dog"]
    code, answer = patch(api, "overwrite", {**concepts_patch("m", ["zebra"]), "name": "Zoo"})
    model = answer["models"][0]
    assert concept_ids(model) == ["zebra"]
    assert model["name"] == "Zoo"
    assert model["output_info"]["output_config"]["closed_environment"] is True  # unsent: kept
    # 2.6.2 update(action='overwrite', concept_ids=[]) sends an empty data: clear the concepts
    code, answer = patch(api, "overwrite", {"id": "m", "output_info": {"data": {}}})
    assert "data" not in answer["models"][0]["output_info"]
    code, answer = patch(
        api,
        "merge",
        {
            "id": "m",
            "output_info": {
                "output_config": {
                    "concepts_mutually_exclusive": True,
                    "hyper_params": {"epochs": 3},
                }
            },
        },
    )
    config = answer["models"][0]["output_info"]["output_config"]
    assert config["concepts_mutually_exclusive"] is True
    assert config["closed_environment"] is True
    assert config["hyper_params"] == {"epochs": 3}
    # the answer is what a later read sees
    assert api.get("models/m")[1]["model"]["output_info"] == answer["models"][0]["output_info"]


def test_remove_of_every_concept_leaves_no_data(api: Api) -> None:
    create_model(api, "m", ["cat"])
    code, answer = patch(api, "remove", concepts_patch("m", ["cat"], value=1.0))
    assert code == 200
    assert "data" not in answer["models"][0]["output_info"]


@pytest.mark.parametrize(
    ("body", "status_code", "says"),
    [
        ({"action": "merge"}, 400, "models: send the models"),
        ({"action": "overwrite", "models": []}, 400, "models: send the models"),
        ({"action": "replace", "models": [{"id": "m"}]}, 400, "action: expected 'merge'"),
        ({"models": [{"id": "m"}]}, 400, "action: expected"),
        ({"action": "merge", "models": [{"name": "x"}]}, 400, "models[0].id: an id is required"),
        ({"action": "merge", "models": [{"id": "m"}, {"id": "m"}]}, 400, "appears twice"),
        ({"action": "merge", "models": [{"id": "m", "nme": "x"}]}, 400, "models[0].nme: unknown"),
        ({"action": "merge", "models": [None]}, 400, "models[0]: expected an object"),
        ({"action": "merge", "models": [{"id": "m", "name": 5}]}, 400, "expected a string"),
        (
            {"action": "merge", "models": [{"id": "m", "model_type_id": "visual-detector"}]},
            400,
            "type cannot be changed",
        ),
        ({"action": "merge", "models": [{"id": "m", "name": "x"}, {"id": "ghost"}]}, 404, "ghost"),
        ({"action": "merge", "models": [{"id": GENERAL, "name": "mine"}]}, 403, "public model"),
        ({"action": "merge", "models": [{"id": f"m{i}"} for i in range(129)]}, 400, "at most 128"),
    ],
)
def test_patch_errors_change_nothing(
    api: Api, body: dict[str, Any], status_code: int, says: str
) -> None:
    create_model(api, "m", ["cat"])
    code, answer = api.patch("models", body)
    assert code == status_code, answer
    assert says in answer["status"]["details"]
    model = api.get("models/m")[1]["model"]
    assert model["name"] == "m"
    assert concept_ids(model) == ["cat"]
    assert api.get(f"models/{GENERAL}")[1]["model"]["name"] == "general-v1.3"


def reference_patch(state: dict[str, Any], item: dict[str, Any], action: str) -> dict[str, Any]:
    """Section 6 for models, written independently of the server's code."""
    new = {
        "name": state["name"],
        "concepts": set(state["concepts"]),
        "config": dict(state["config"]),
    }
    if item.get("name"):
        new["name"] = item["name"]
    output_info = item.get("output_info", {})
    for key, value in output_info.get("output_config", {}).items():
        new["config"][key] = value
    if "data" in output_info:
        ids = {c["id"] for c in output_info["data"].get("concepts", [])}
        if action == "merge":
            new["concepts"] |= ids
        elif action == "remove":
            new["concepts"] -= ids
        else:
            new["concepts"] = ids
    return new


CONCEPT_IDS = st.sampled_from(["ant", "bee", "cat", "dog", "eel"])
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "concepts_mutually_exclusive": st.booleans(),
        "closed_environment": st.booleans(),
        "max_concepts": st.integers(0, 20),
        "min_value": st.sampled_from([0.0, 0.25, 0.5, 0.95]),
        "hyper_params": st.dictionaries(
            st.sampled_from(["lr", "epochs"]), st.integers(0, 9), max_size=2
        ),
    },
)
OUTPUT_INFO = st.fixed_dictionaries(
    {},
    optional={
        "data": st.one_of(
            st.just({}),
            st.builds(
                lambda ids, value: {"concepts": [{"id": c, "value": value} for c in ids]},
                st.lists(CONCEPT_IDS, max_size=4),
                st.sampled_from([0.0, 1.0]),
            ),
        ),
        "output_config": CONFIG,
    },
)
PATCH_ITEM = st.fixed_dictionaries(
    {}, optional={"name": st.sampled_from(["alpha", "beta", "Gamma δ"]), "output_info": OUTPUT_INFO}
)
model_counter = itertools.count()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    initial_concepts=st.lists(CONCEPT_IDS, max_size=4, unique=True),
    initial_config=CONFIG,
    patches=st.lists(
        st.tuples(st.sampled_from(["merge", "remove", "overwrite"]), PATCH_ITEM),
        min_size=1,
        max_size=3,
    ),
)
def test_patch_equals_the_reference(
    api: Api,
    initial_concepts: list[str],
    initial_config: dict[str, Any],
    patches: list[tuple[str, dict[str, Any]]],
) -> None:
    model_id = f"prop{next(model_counter)}"
    create_model(api, model_id, initial_concepts, **initial_config)
    expected = {
        "name": model_id,
        "concepts": set(initial_concepts),
        "config": {**CONFIG_DEFAULTS, **initial_config},
    }
    for action, item in patches:
        code, answer = patch(api, action, {"id": model_id, **item})
        assert code == 200, answer
        expected = reference_patch(expected, item, action)
        model = answer["models"][0]
        assert model["name"] == expected["name"]
        assert concept_ids(model) == sorted(expected["concepts"])
        if not expected["concepts"]:
            assert "data" not in model["output_info"]
        assert model["output_info"]["output_config"] == expected["config"]
    assert api.get(f"models/{model_id}")[1]["model"] == model


# ---------------------------------------------------------------------------------------------
# delete


def test_delete_one_model(api: Api) -> None:
    create_model(api, "m")
    code, answer = api.delete("models/m")
    assert code == 200
    assert answer["status"]["code"] == 10000
    assert api.get("models/m")[0] == 404
    code, answer = api.delete("models/m")
    assert code == 404
    assert answer["status"]["code"] == 21200
    code, answer = api.delete(f"models/{GENERAL}")
    assert code == 403
    assert "public model" in answer["status"]["details"]


def test_delete_a_list_of_models_is_all_or_nothing(api: Api) -> None:
    for name in ("a", "b", "c"):
        create_model(api, name)
    code, answer = api.delete("models", {"ids": ["a", "ghost"]})
    assert code == 404
    assert "ghost" in answer["status"]["details"]
    code, answer = api.delete("models", {"ids": ["a", GENERAL]})
    assert code == 403
    assert answer["status"]["code"] == 21201
    assert api.get("models/a")[0] == 200
    code, _answer = api.delete("models", {"ids": ["a", "b"]})
    assert code == 200
    assert [m["id"] for m in list_all(api, per_page=100)][:1] == ["c"]


def test_delete_all_removes_private_models_only(api: Api) -> None:
    for name in ("a", "b"):
        create_model(api, name)
    code, answer = api.delete("models", {"delete_all": True})
    assert code == 200, answer
    assert [m["id"] for m in list_all(api, per_page=100)] == [p.id for p in PUBLIC_MODELS]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "send the ids"),
        ({"ids": []}, "send the ids"),
        ({"ids": ["a"], "delete_all": True}, "not both"),
        ({"ids": "a"}, "ids: expected an array"),
        ({"delete_all": "yes"}, "delete_all: expected a boolean"),
        ({"ids": ["a"], "everything": True}, "everything: unknown field"),
    ],
)
def test_bulk_delete_bad_bodies(api: Api, body: dict[str, Any], says: str) -> None:
    create_model(api, "a")
    code, answer = api.delete("models", body)
    assert code == 400
    assert says in answer["status"]["details"]
    assert api.get("models/a")[0] == 200


# ---------------------------------------------------------------------------------------------
# versions


def add_version(api: Api, model_id: str, code: int = 21100) -> str:
    """A second version, written the way the training code writes one."""
    version_id = new_id()
    store = api.server.store
    app_pk = store.app_pk("local", "default")
    with store.transaction() as connection:
        seq = connection.execute(
            "SELECT MAX(seq) FROM model_versions WHERE app = ? AND model_id = ?",
            (app_pk, model_id),
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO model_versions (app, model_id, id, seq, status_code, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                app_pk,
                model_id,
                version_id,
                seq + 1,
                code,
                '{"active_concept_count": 1, "_private": 1}',
                now(),
            ),
        )
    return version_id


def test_versions_list_get_and_delete(api: Api) -> None:
    first = create_model(api, "m", ["cat"])["model_version"]["id"]
    second = add_version(api, "m")
    code, answer = api.get("models/m/versions", "page=1&per_page=1")
    assert code == 200
    assert [v["id"] for v in answer["model_versions"]] == [second]
    assert answer["model_versions"][0]["active_concept_count"] == 1
    assert "_private" not in answer["model_versions"][0]
    assert [
        v["id"] for v in api.get("models/m/versions", "page=2&per_page=1")[1]["model_versions"]
    ] == [first]
    assert api.get("models/m/versions", "page=3&per_page=1")[1]["model_versions"] == []
    # the model shows its newest version
    assert api.get("models/m")[1]["model"]["model_version"]["id"] == second
    code, answer = api.get(f"models/m/versions/{first}")
    assert code == 200
    assert answer["model_version"]["status"]["code"] == 21102
    code, answer = api.get("models/m/versions/nope")
    assert code == 404
    assert answer["status"]["code"] == 21200
    code, answer = api.delete(f"models/m/versions/{second}")
    assert code == 200
    assert api.get("models/m")[1]["model"]["model_version"]["id"] == first
    code, answer = api.delete(f"models/m/versions/{first}")
    assert code == 400
    assert "only version" in answer["status"]["details"]
    code, answer = api.delete("models/m/versions/nope")
    assert code == 404


def test_public_model_versions(api: Api) -> None:
    code, answer = api.get(f"models/{GENERAL}/versions")
    assert code == 200
    (version,) = answer["model_versions"]
    assert version["status"]["code"] == 21100
    code, answer = api.get(f"models/{GENERAL}/versions/{version['id']}")
    assert code == 200
    code, answer = api.delete(f"models/{GENERAL}/versions/{version['id']}")
    assert code == 403


def test_writes_under_the_public_app_are_refused(api: Api) -> None:
    code, answer = api.post("users/clarifai/apps/main/models", {"model": {"id": "x"}})
    assert code == 403
    assert "read-only" in answer["status"]["details"]
    code, answer = api.delete("users/clarifai/apps/main/models", {"delete_all": True})
    assert code == 403
    assert answer["status"]["code"] == 21201
    assert len(list_all(api, per_page=100)) == 18
