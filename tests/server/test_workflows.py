"""Workflow routes of the local server (wire reference, section 5, endpoints 31-33 and writes)."""

from __future__ import annotations

import base64
import importlib.util
from typing import Any

import pytest

from clarimap.server.modelzoo import build_zoo, plugins_disabled, set_zoo, zoo_for
from clarimap.server.public_workflows import PUBLIC_WORKFLOWS
from tests.conftest import SAMPLES, Api

GENERAL = "aaa03c23b3724a16a56b629203edc62c"
COLOR = "eeed0b6733a644cea07cf4c60f87ebb7"


def models_plugin_expected() -> bool:
    """True when clarimap-models is installed and not disabled: its models must be in the zoo."""
    return importlib.util.find_spec("clarimap_models") is not None and not plugins_disabled()


def assert_workflow_shape(workflow: dict[str, Any]) -> None:
    """The keys 2.6.2 reads (section 4): node id, model.id, model.model_version.id."""
    assert workflow["id"]
    assert workflow["app_id"]
    assert workflow["created_at"].endswith("Z")
    for node in workflow["nodes"]:
        assert node["id"]
        assert node["model"]["id"]
        assert node["model"]["model_version"]["id"]


def node(node_id: str, model_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "model": {"id": model_id}, **extra}


@pytest.fixture
def custom_model(api: Api) -> dict[str, Any]:
    code, answer = api.post("models", {"model": {"id": "pets"}})
    assert code == 200, answer
    return dict(answer["model"])


def create(api: Api, *workflows: dict[str, Any]) -> list[dict[str, Any]]:
    code, answer = api.post("workflows", {"workflows": list(workflows)})
    assert code == 200, answer
    assert answer["status"]["code"] == 10000
    return list(answer["workflows"])


def node_ids(workflow: dict[str, Any]) -> list[str]:
    return [n["id"] for n in workflow["nodes"]]


def test_create_pins_each_nodes_model_version(api: Api, custom_model: dict[str, Any]) -> None:
    (made,) = create(
        api,
        {
            "id": "wf",
            "nodes": [
                node("general", GENERAL),
                node("pets", "pets", node_inputs=[{"node_id": "general"}]),
            ],
        },
    )
    assert_workflow_shape(made)
    assert made["app_id"] == "default"
    general, pets = made["nodes"]
    assert general["model"]["app_id"] == "main"
    assert pets["model"]["model_version"]["id"] == custom_model["model_version"]["id"]
    assert pets["node_inputs"] == [{"node_id": "general"}]
    code, answer = api.get("workflows/wf")
    assert code == 200
    assert answer["workflow"] == made


def test_create_with_an_explicit_version(api: Api, custom_model: dict[str, Any]) -> None:
    version_id = custom_model["model_version"]["id"]
    (made,) = create(
        api,
        {
            "id": "wf",
            "nodes": [{"id": "n", "model": {"id": "pets", "model_version": {"id": version_id}}}],
        },
    )
    assert made["nodes"][0]["model"]["model_version"]["id"] == version_id
    code, answer = api.post(
        "workflows",
        {
            "workflows": [
                {
                    "id": "wf2",
                    "nodes": [
                        {"id": "n", "model": {"id": "pets", "model_version": {"id": "nope"}}}
                    ],
                }
            ]
        },
    )
    assert code == 400
    assert "no version 'nope'" in answer["status"]["details"]


def test_create_duplicate_is_22100_and_all_or_nothing(api: Api) -> None:
    create(api, {"id": "wf", "nodes": [node("n", GENERAL)]})
    code, answer = api.post(
        "workflows",
        {
            "workflows": [
                {"id": "new", "nodes": [node("n", GENERAL)]},
                {"id": "wf", "nodes": [node("n", COLOR)]},
            ]
        },
    )
    assert code == 400
    assert answer["status"]["code"] == 22100
    assert api.get("workflows/new")[0] == 404
    code, answer = api.post(
        "workflows",
        {
            "workflows": [
                {"id": "twin", "nodes": [node("n", GENERAL)]},
                {"id": "twin", "nodes": [node("n", GENERAL)]},
            ]
        },
    )
    assert code == 400
    assert answer["status"]["code"] == 22100


@pytest.mark.parametrize(
    ("workflows", "says"),
    [
        (None, "workflows: send the workflows"),
        ([], "workflows: send the workflows"),
        ([{"nodes": [node("n", GENERAL)]}], "workflows[0].id: an id is required"),
        ([{"id": "w"}], "at least one node"),
        ([{"id": "w", "nodes": [node("n", "ghost")]}], "model 'ghost' does not exist"),
        (
            [{"id": "w", "nodes": [{"id": "n", "model": {}}]}],
            "nodes[0].model.id: an id is required",
        ),
        ([{"id": "w", "nodes": [{"model": {"id": GENERAL}}]}], "nodes[0].id: an id is required"),
        ([{"id": "w", "nodes": [node("n", GENERAL), node("n", COLOR)]}], "appears twice"),
        (
            [{"id": "w", "nodes": [node("n", GENERAL, node_inputs=[{"node_id": "x"}])]}],
            "no node 'x'",
        ),
        (
            [
                {
                    "id": "w",
                    "nodes": [
                        node("a", GENERAL, node_inputs=[{"node_id": "b"}]),
                        node("b", COLOR, node_inputs=[{"node_id": "a"}]),
                    ],
                }
            ],
            "cycle",
        ),
        ([{"id": "w", "nodes": "general"}], "nodes: expected an array"),
        ([{"id": "w", "nodes": [node("n", GENERAL)], "colour": 1}], "workflows[0].colour: unknown"),
        ([{"id": "w/x", "nodes": [node("n", GENERAL)]}], "cannot contain '/'"),
        ([None], "workflows[0]: expected an object, got null"),
        ([{"id": "w", "nodes": [None]}], "nodes[0]: expected an object, got null"),
        (
            [{"id": "w", "nodes": [node("n", GENERAL, node_inputs=[{}])]}],
            "node_inputs[0].node_id: an id is required",
        ),
    ],
)
def test_create_bad_bodies_say_what_was_wrong(api: Api, workflows: Any, says: str) -> None:
    body = {} if workflows is None else {"workflows": workflows}
    code, answer = api.post("workflows", body)
    assert code == 400, answer
    assert says in answer["status"]["details"]
    assert api.get("workflows")[1]["workflows"] == []


def test_malformed_json_is_400(api: Api) -> None:
    code, answer = api.call("POST", "workflows", raw=b'{"workflows": [}')
    assert code == 400
    assert answer["status"]["code"] == 11100


def test_a_private_model_of_the_public_app_is_not_found(
    api: Api, custom_model: dict[str, Any]
) -> None:
    code, answer = api.post(
        "workflows",
        {
            "workflows": [
                {
                    "id": "w",
                    "nodes": [
                        {
                            "id": "n",
                            "model": {"id": "pets", "user_id": "clarifai", "app_id": "main"},
                        }
                    ],
                }
            ]
        },
    )
    assert code == 400
    assert "'pets' does not exist" in answer["status"]["details"]


def test_get_unknown_is_404_22102(api: Api) -> None:
    code, answer = api.get("workflows/nope")
    assert code == 404
    assert answer["status"]["code"] == 22102
    assert "nope" in answer["status"]["details"]


def test_list_pages_and_ends_empty(api: Api) -> None:
    create(api, *({"id": f"w{i}", "nodes": [node("n", GENERAL)]} for i in range(5)))
    code, answer = api.get("workflows")  # 2.6.2 sends no paging
    assert code == 200
    assert [w["id"] for w in answer["workflows"]] == [f"w{i}" for i in range(5)]
    for workflow in answer["workflows"]:
        assert_workflow_shape(workflow)
    pages = [
        [w["id"] for w in api.get("workflows", f"page={p}&per_page=2")[1]["workflows"]]
        for p in (1, 2, 3, 4, 10**20)
    ]
    assert pages == [["w0", "w1"], ["w2", "w3"], ["w4"], [], []]


def test_public_workflows_are_built_from_runnable_models(api: Api) -> None:
    create(api, {"id": "mine", "nodes": [node("n", GENERAL)]})
    zoo = zoo_for(api.server)
    code, answer = api.get("public_workflows")
    assert code == 200
    assert answer["status"]["code"] == 10000
    listed = answer["workflows"]
    expected = [w.id for w in PUBLIC_WORKFLOWS if all(m in zoo for m in w.model_ids)]
    assert [w["id"] for w in listed] == expected
    for workflow in listed:
        assert_workflow_shape(workflow)
        assert (workflow["user_id"], workflow["app_id"]) == ("clarifai", "main")
        for item in workflow["nodes"]:
            assert item["model"]["id"] in zoo  # only models this server can run
    if models_plugin_expected():  # an installed plugin whose models did not register fails here
        assert GENERAL in zoo and COLOR in zoo, "clarimap-models is installed but not in the zoo"
        general = next(w for w in listed if w["id"] == "General")
        assert {GENERAL, COLOR} <= {n["model"]["id"] for n in general["nodes"]}
    # paged per section 3, ending with an empty page
    pages = [
        api.get("public_workflows", f"page={page}&per_page=1")[1]["workflows"] for page in (1, 2)
    ]
    assert [w["id"] for p in pages for w in p] == expected[:2]
    assert api.get("public_workflows", f"page={len(expected) + 1}&per_page=1")[1]["workflows"] == []
    # the same list from the public app's workflow list and from the user-level route
    assert api.get("users/clarifai/apps/main/workflows")[1]["workflows"] == listed
    assert api.get("users/clarifai/workflows")[1]["workflows"] == listed
    # and each is readable from any app
    for path in ("workflows/Color", "users/clarifai/apps/main/workflows/Color"):
        code, answer = api.get(path)
        assert code == 200, answer
        assert answer["workflow"] == next(w for w in listed if w["id"] == "Color")


def _image_input(name: str = "cat.jpg") -> dict[str, Any]:
    data = base64.b64encode((SAMPLES / name).read_bytes()).decode()
    return {"id": "photo", "data": {"image": {"base64": data}}}


@pytest.mark.parametrize("prefix", ["", "users/clarifai/apps/main/", "users/me/apps/elsewhere/"])
def test_public_workflow_predict_matches_its_models(api: Api, prefix: str) -> None:
    zoo = zoo_for(api.server)
    if not models_plugin_expected():
        pytest.skip("the clarimap-models plugin is not installed (or CLARIMAP_DISABLE_PLUGINS)")
    assert GENERAL in zoo, "clarimap-models is installed but its models did not register"
    code, answer = api.post(f"{prefix}workflows/General/results", {"inputs": [_image_input()]})
    assert code == 200, answer
    assert answer["status"]["code"] == 10000
    assert (answer["workflow"]["id"], answer["workflow"]["app_id"]) == ("General", "main")
    (result,) = answer["results"]
    assert result["status"]["code"] == 10000
    assert result["input"]["id"] == "photo"
    general_nodes = next(w for w in PUBLIC_WORKFLOWS if w.id == "General").model_ids
    assert [o["model"]["id"] for o in result["outputs"]] == list(general_nodes)
    # every output is what predicting with that model directly answers
    for output in result["outputs"]:
        code, direct = api.post(
            f"models/{output['model']['id']}/outputs", {"inputs": [_image_input()]}
        )
        assert code == 200, direct
        assert output["data"] == direct["outputs"][0]["data"]
    concepts = {c["id"] for c in result["outputs"][0]["data"]["concepts"][:5]}
    assert concepts & {"tabby", "tiger cat", "Egyptian cat"}


def test_public_workflows_with_plugins_disabled(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    set_zoo(api.server, build_zoo())
    code, answer = api.get("public_workflows")
    assert code == 200
    assert [w["id"] for w in answer["workflows"]] == ["Color"]
    assert [n["model"]["id"] for n in answer["workflows"][0]["nodes"]] == [COLOR]
    for path in ("workflows/General", "users/clarifai/apps/main/workflows/Face"):
        code, answer = api.get(path)
        assert (code, answer["status"]["code"]) == (404, 22102), path
        assert "clarimap-models" in answer["status"]["details"]
    code, answer = api.post("workflows/General/results", {"inputs": [_image_input()]})
    assert (code, answer["status"]["code"]) == (404, 22102)
    assert "clarimap-models" in answer["status"]["details"]
    code, answer = api.post("workflows/Color/results", {"inputs": [_image_input()]})
    assert code == 200, answer
    (output,) = answer["results"][0]["outputs"]
    assert output["model"]["id"] == COLOR
    assert abs(sum(c["value"] for c in output["data"]["colors"]) - 1.0) < 0.05


def test_an_apps_own_workflow_wins_over_a_public_one(api: Api) -> None:
    create(api, {"id": "Color", "nodes": [node("mine", COLOR)]})
    code, answer = api.get("workflows/Color")
    assert code == 200
    assert answer["workflow"]["app_id"] == "default"
    assert node_ids(answer["workflow"]) == ["mine"]
    code, answer = api.get("users/clarifai/apps/main/workflows/Color")
    assert node_ids(answer["workflow"]) == ["color"]


def test_public_workflows_cannot_be_changed(api: Api) -> None:
    code, answer = api.delete("workflows/Color")
    assert (code, answer["status"]["code"]) == (404, 22102)
    code, answer = api.delete("users/clarifai/apps/main/workflows/Color")
    assert code == 403, answer
    code, answer = api.patch(
        "users/clarifai/apps/main/workflows",
        {"action": "merge", "workflows": [{"id": "Color", "nodes": [node("x", COLOR)]}]},
    )
    assert code == 403, answer
    assert api.get("workflows/Color")[1]["workflow"]["nodes"][0]["id"] == "color"


def test_user_level_workflows_list_every_app_of_the_user(api: Api) -> None:
    create(
        api, {"id": "a1", "nodes": [node("n", COLOR)]}, {"id": "a2", "nodes": [node("n", COLOR)]}
    )
    code, answer = api.post(
        "users/local/apps/second/workflows",
        {"workflows": [{"id": "b1", "nodes": [node("n", COLOR)]}]},
    )
    assert code == 200, answer
    api.post(
        "users/someone/apps/x/workflows", {"workflows": [{"id": "c1", "nodes": [node("n", COLOR)]}]}
    )
    for user in ("local", "me"):
        code, answer = api.get(f"users/{user}/workflows")
        assert code == 200, answer
        found = [(w["app_id"], w["id"]) for w in answer["workflows"]]
        assert found == [("default", "a1"), ("default", "a2"), ("second", "b1")]
        assert {w["user_id"] for w in answer["workflows"]} == {"local"}
    pages = [
        [w["id"] for w in api.get("users/local/workflows", f"page={p}&per_page=2")[1]["workflows"]]
        for p in (1, 2, 3)
    ]
    assert pages == [["a1", "a2"], ["b1"], []]
    assert api.get("users/nobody/workflows")[1]["workflows"] == []
    # a user-level route has no explicit-app form
    code, answer = api.get("users/local/apps/default/users/local/workflows")
    assert (code, answer["status"]["code"]) == (404, 11101)


def test_user_level_routes_reach_only_the_keys_user(api: Api) -> None:
    api.server.api_keys = frozenset({api.key})
    for path in ("users/local/workflows", "users/me/workflows", "users/clarifai/workflows"):
        code, answer = api.get(path)
        assert code == 200, (path, answer)
    code, answer = api.get("users/someone/workflows")
    assert (code, answer["status"]["code"]) == (403, 11007)
    code, answer = api.get("users/local/workflows", headers={"Authorization": "Key wrong"})
    assert (code, answer["status"]["code"]) == (401, 11009)


def test_patch_merge_remove_overwrite_nodes(api: Api, custom_model: dict[str, Any]) -> None:
    create(api, {"id": "wf", "nodes": [node("a", GENERAL)], "metadata": {"k": 1, "keep": 2}})
    code, answer = api.patch(
        "workflows",
        {
            "action": "merge",
            "workflows": [
                {"id": "wf", "nodes": [node("b", COLOR), node("a", "pets")], "metadata": {"k": 5}}
            ],
        },
    )
    assert code == 200, answer
    merged = answer["workflows"][0]
    assert node_ids(merged) == ["a", "b"]
    assert merged["nodes"][0]["model"]["id"] == "pets"  # node a updated in place
    assert merged["metadata"] == {"k": 5, "keep": 2}
    code, answer = api.patch(
        "workflows",
        {
            "action": "remove",
            "workflows": [{"id": "wf", "nodes": [{"id": "a"}], "metadata": {"keep": True}}],
        },
    )
    assert code == 200, answer
    assert node_ids(answer["workflows"][0]) == ["b"]
    assert answer["workflows"][0]["metadata"] == {"k": 5}
    code, answer = api.patch(
        "workflows",
        {
            "action": "overwrite",
            "workflows": [{"id": "wf", "nodes": [node("x", GENERAL), node("y", COLOR)]}],
        },
    )
    assert node_ids(answer["workflows"][0]) == ["x", "y"]
    assert api.get("workflows/wf")[1]["workflow"] == answer["workflows"][0]


@pytest.mark.parametrize(
    ("body", "status_code", "says"),
    [
        ({"action": "merge"}, 400, "workflows: send"),
        ({"action": "append", "workflows": [{"id": "wf"}]}, 400, "action: expected"),
        ({"action": "merge", "workflows": [{"id": "ghost"}]}, 404, "ghost"),
        (
            {"action": "merge", "workflows": [{"id": "wf", "nodes": [node("z", "ghost")]}]},
            400,
            "'ghost' does not exist",
        ),
        (
            {"action": "remove", "workflows": [{"id": "wf", "nodes": [{"id": "a"}]}]},
            400,
            "at least one node",
        ),
        (
            {
                "action": "merge",
                "workflows": [
                    {"id": "wf", "nodes": [node("z", GENERAL, node_inputs=[{"node_id": "q"}])]}
                ],
            },
            400,
            "no node 'q'",
        ),
    ],
)
def test_patch_errors_change_nothing(
    api: Api, body: dict[str, Any], status_code: int, says: str
) -> None:
    (before,) = create(api, {"id": "wf", "nodes": [node("a", GENERAL)]})
    code, answer = api.patch("workflows", body)
    assert code == status_code, answer
    assert says in answer["status"]["details"]
    assert api.get("workflows/wf")[1]["workflow"] == before


def test_delete_one_list_and_all(api: Api) -> None:
    create(api, *({"id": f"w{i}", "nodes": [node("n", GENERAL)]} for i in range(4)))
    code, answer = api.delete("workflows/w0")
    assert code == 200
    assert answer["status"]["code"] == 10000
    code, answer = api.delete("workflows/w0")
    assert code == 404
    assert answer["status"]["code"] == 22102
    code, answer = api.delete("workflows", {"ids": ["w1", "ghost"]})
    assert code == 404
    assert api.get("workflows/w1")[0] == 200
    code, answer = api.delete("workflows", {"ids": ["w1", "w2"]})
    assert code == 200
    assert [w["id"] for w in api.get("workflows")[1]["workflows"]] == ["w3"]
    code, answer = api.delete("workflows", {"delete_all": True})
    assert code == 200
    assert api.get("workflows")[1]["workflows"] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "send the ids"),
        ({"ids": ["a"], "delete_all": True}, "not both"),
        ({"ids": [1]}, "ids[0]: expected a string"),
    ],
)
def test_bulk_delete_bad_bodies(api: Api, body: dict[str, Any], says: str) -> None:
    code, answer = api.delete("workflows", body)
    assert code == 400
    assert says in answer["status"]["details"]
