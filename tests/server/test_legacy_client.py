"""The legacy ``clarifai==2.6.2`` client against ``clarimap serve`` over HTTP.

Each test starts ``clarimap serve --port 0`` (data in tmp_path, one ``--api-key``), runs a script
with the real 2.6.2 client in its own virtualenv (tests/legacy.py) pointed at it through
``ClarifaiApp(api_key=..., base_url="http://127.0.0.1:PORT")``, and checks the values the client
got back. Skipped, with the reason, only where that virtualenv cannot be built.

The 2.6.2 client has no call that deletes a concept (neither has the v2 API): the concept tests
delete concepts from an input and from a model instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.legacy import (
    CLIENT_PRELUDE,
    run_against,
    run_legacy_script,
    skip_without_legacy_client,
)
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.legacy_client

API_KEY = "legacy-test-key"
GENERAL_MODEL_ID = "aaa03c23b3724a16a56b629203edc62c"

# Put before every script: the app, and helpers that turn results into JSON-able values.
PRELUDE = (
    CLIENT_PRELUDE
    + r"""
def image(img):
    status = getattr(img, "status", None)
    return {
        "id": img.input_id,
        "concepts": sorted(img.concepts or []),
        "not_concepts": sorted(img.not_concepts or []),
        "metadata": img.metadata,
        "status": status.code if status is not None else None,
    }

def concept(c):
    return {"id": c.concept_id, "name": c.concept_name, "app_id": c.app_id,
            "has_created_at": bool(c.created_at)}

def model(m):
    return {
        "id": m.model_id, "name": m.model_name, "app_id": m.app_id,
        "concepts": sorted(c.concept_id for c in m.concepts),
        "mutually_exclusive": m.concepts_mutually_exclusive,
        "closed_environment": m.closed_environment,
        "hyper_parameters": m.hyper_parameters,
        "version_status": m.model_status_code,
    }

def error_of(call):
    try:
        call()
    except ApiError as error:
        return {"http": error.response.status_code if error.response is not None else None,
                "code": error.error_code}
    return None

def wait_until_processed(timeout=60):
    deadline = time.time() + timeout
    while True:
        counts = app.inputs.check_status()
        if counts.to_process == 0 or time.time() > deadline:
            return {"processed": counts.processed, "to_process": counts.to_process,
                    "errors": counts.errors}
        time.sleep(0.1)
"""
)

INPUTS_SCRIPT = (
    PRELUDE
    + r"""
cat = app.inputs.create_image_from_filename(
    sample("cat.jpg"), image_id="cat", concepts=["cat"], not_concepts=["dog"],
    metadata={"owner": "ana", "rating": 3})
out["created"] = image(cat)
with open(sample("coffee.jpg"), "rb") as f:
    out["created_bytes"] = image(app.inputs.create_image_from_bytes(f.read(), image_id="coffee"))
bulk = app.inputs.bulk_create_images([
    ClImage(filename=sample("rocket.jpg"), image_id="rocket", concepts=["rocket"]),
    ClImage(filename=sample("horse.png"), image_id="horse", metadata={"legs": 4}),
])
out["bulk"] = [image(i) for i in bulk]
out["counts"] = wait_until_processed()

out["got"] = image(app.inputs.get("cat"))
out["all_ids"] = [i.input_id for i in app.inputs.get_all()]
out["all_statuses"] = sorted({i.status.code for i in app.inputs.get_all()})
out["page1"] = [i.input_id for i in app.inputs.get_by_page(page=1, per_page=3)]
out["page2"] = [i.input_id for i in app.inputs.get_by_page(page=2, per_page=3)]
out["page3"] = [i.input_id for i in app.inputs.get_by_page(page=3, per_page=3)]

out["merged_concepts"] = image(app.inputs.merge_concepts("cat", ["kitty"], ["horse"]))
out["merged_metadata"] = image(app.inputs.merge_metadata("cat", {"reviewed": True}))
out["deleted_concepts"] = image(app.inputs.delete_concepts("cat", ["dog", "horse"]))
out["overwritten"] = image(app.inputs.update(
    ClImage(image_id="horse", concepts=["animal"], metadata={"only": "this"}),
    action="overwrite"))
out["got_after_update"] = image(app.inputs.get("horse"))

out["delete_one"] = app.inputs.delete("coffee").code
out["ids_after_delete"] = sorted(i.input_id for i in app.inputs.get_all())
out["get_deleted"] = error_of(lambda: app.inputs.get("coffee"))
out["delete_all"] = app.inputs.delete_all().code
out["ids_after_delete_all"] = [i.input_id for i in app.inputs.get_all()]
print(json.dumps(out))
"""
)

CONCEPTS_SCRIPT = (
    PRELUDE
    + r"""
out["created"] = concept(app.concepts.create("cat", "Cat"))
out["created_default_name"] = concept(app.concepts.create("tree"))
out["bulk"] = [concept(c) for c in app.concepts.bulk_create(["dog", "bird"], ["Dog", "Bird"])]
out["got"] = concept(app.concepts.get("cat"))
out["all_ids"] = sorted(c.concept_id for c in app.concepts.get_all())
out["page1"] = [c.concept_id for c in app.concepts.get_by_page(page=1, per_page=3)]
out["page2"] = [c.concept_id for c in app.concepts.get_by_page(page=2, per_page=3)]
out["search_d"] = sorted(c.concept_id for c in app.concepts.search("d*"))
out["search_upper"] = sorted(c.concept_id for c in app.concepts.search("B*"))
out["updated"] = concept(app.concepts.update("cat", "Kitty"))
out["got_after_update"] = concept(app.concepts.get("cat"))
out["bulk_updated"] = sorted(
    (c.concept_id, c.concept_name)
    for c in app.concepts.bulk_update(["dog", "bird"], ["Doggo", "Birdie"]))
out["duplicate"] = error_of(lambda: app.concepts.create("cat", "Cat again"))
out["missing"] = error_of(lambda: app.concepts.get("no-such-concept"))

# "deleting" a concept: remove it from an input (the API has no concept delete)
app.inputs.create_image_from_filename(sample("cat.jpg"), image_id="photo",
                                      concepts=["sky", "tree"])
out["input_concepts_before"] = sorted(app.inputs.get("photo").concepts or [])
app.inputs.delete_concepts("photo", ["tree"])
out["input_concepts_after"] = sorted(app.inputs.get("photo").concepts or [])
print(json.dumps(out))
"""
)

MODELS_SCRIPT = (
    PRELUDE
    + r"""
created = app.models.create("pets", "Pets", concepts=["cat", "dog"],
                            concepts_mutually_exclusive=True, closed_environment=False,
                            hyper_parameters={"learning_rate": 0.01})
out["created"] = model(created)
out["created_plain"] = model(app.models.create("plain"))
out["duplicate"] = error_of(lambda: app.models.create("pets"))

got = app.models.get("pets")
out["got"] = model(got)
info = got.get_info(verbose=True)["model"]
out["output_info_concepts"] = sorted(c["id"] for c in info["output_info"]["data"]["concepts"])
out["by_name"] = model(app.models.get("Pets"))
out["private_ids"] = sorted(m.model_id for m in app.models.get_all(private_only=True))
out["public_ids"] = sorted(m.model_id for m in app.models.get_all(public_only=True))
out["general_by_name"] = app.models.get("general-v1.3").model_id
out["search"] = sorted(m.model_id for m in app.models.search("pe*"))
out["search_none"] = app.models.search("zzz*")  # 2.6.2 returns None for no match

out["added"] = model(got.add_concepts(["bird"]))
out["removed"] = model(got.delete_concepts(["dog"]))
out["overwritten"] = model(got.merge_concepts(["fish", "cat"], overwrite=True))
out["renamed"] = model(got.update(model_name="Pets 2", closed_environment=True))
out["got_after_update"] = model(app.models.get("pets"))

out["delete_one"] = app.models.delete("plain")["status"]["code"]
out["get_deleted"] = error_of(lambda: app.api.get_model("plain"))
app.models.create("extra1")
app.models.create("extra2")
out["bulk_delete"] = app.models.bulk_delete(["extra1", "extra2"])["status"]["code"]
out["private_after_bulk"] = sorted(m.model_id for m in app.models.get_all(private_only=True))
out["delete_all"] = app.models.delete_all()["status"]["code"]
out["private_after_all"] = sorted(m.model_id for m in app.models.get_all(private_only=True))
out["public_after_all"] = len(list(app.models.get_all(public_only=True)))
print(json.dumps(out))
"""
)

BAD_KEY_SCRIPT = r"""
import json, os
from clarifai.errors import ApiError
from clarifai.rest import ClarifaiApp
try:
    ClarifaiApp(api_key="wrong-key", base_url=os.environ["CLARIMAP_URL"])
    print(json.dumps({"raised": False}))
except ApiError as error:
    print(json.dumps({"raised": True, "http": error.response.status_code,
                      "code": error.error_code, "description": error.error_desc}))
"""


@pytest.fixture(scope="module")
def legacy_ready() -> None:
    """Build (or reuse) the 2.6.2 virtualenv; skip the module with the reason if it cannot."""
    skip_without_legacy_client()


@pytest.fixture
def server(legacy_ready: None, tmp_path: Path) -> Iterator[ServeProcess]:
    with ServeProcess(data=tmp_path / "data", api_keys=[API_KEY]) as process:
        yield process


def run(script: str, server: ServeProcess) -> dict[str, Any]:
    return run_against(server, script, api_key=API_KEY)


def test_inputs_create_list_get_update_delete(server: ServeProcess) -> None:
    out = run(INPUTS_SCRIPT, server)

    assert out["created"]["id"] == "cat"
    assert out["created"]["concepts"] == ["cat"]
    assert out["created"]["not_concepts"] == ["dog"]
    assert out["created"]["metadata"] == {"owner": "ana", "rating": 3}
    assert out["created"]["status"] in (30000, 30001, 30003)
    assert out["created_bytes"]["id"] == "coffee"
    assert [item["id"] for item in out["bulk"]] == ["rocket", "horse"]
    assert out["bulk"][1]["metadata"] == {"legs": 4}
    assert out["counts"] == {"processed": 4, "to_process": 0, "errors": 0}

    assert out["got"] == {
        "id": "cat",
        "concepts": ["cat"],
        "not_concepts": ["dog"],
        "metadata": {"owner": "ana", "rating": 3},
        "status": 30000,
    }
    assert sorted(out["all_ids"]) == ["cat", "coffee", "horse", "rocket"]
    assert out["all_statuses"] == [30000]
    pages = out["page1"] + out["page2"]
    assert len(out["page1"]) == 3 and len(out["page2"]) == 1 and out["page3"] == []
    assert sorted(pages) == sorted(out["all_ids"])

    assert out["merged_concepts"]["concepts"] == ["cat", "kitty"]
    assert out["merged_concepts"]["not_concepts"] == ["dog", "horse"]
    assert out["merged_metadata"]["metadata"] == {"owner": "ana", "rating": 3, "reviewed": True}
    assert out["merged_metadata"]["concepts"] == ["cat", "kitty"]
    assert out["deleted_concepts"]["concepts"] == ["cat", "kitty"]
    assert out["deleted_concepts"]["not_concepts"] == []
    assert out["overwritten"]["concepts"] == ["animal"]
    assert out["overwritten"]["metadata"] == {"only": "this"}
    assert out["got_after_update"]["concepts"] == ["animal"]
    assert out["got_after_update"]["metadata"] == {"only": "this"}

    assert out["delete_one"] == 10000
    assert out["ids_after_delete"] == ["cat", "horse", "rocket"]
    assert out["get_deleted"] == {"http": 404, "code": 30102}
    assert out["delete_all"] == 10000
    assert out["ids_after_delete_all"] == []


def test_concepts_create_list_get_update_and_remove(server: ServeProcess) -> None:
    out = run(CONCEPTS_SCRIPT, server)

    assert out["created"] == {
        "id": "cat",
        "name": "Cat",
        "app_id": "default",
        "has_created_at": True,
    }
    assert out["created_default_name"]["name"] == "tree"
    assert [(c["id"], c["name"]) for c in out["bulk"]] == [("dog", "Dog"), ("bird", "Bird")]
    assert out["got"] == out["created"]
    assert out["all_ids"] == ["bird", "cat", "dog", "tree"]
    assert len(out["page1"]) == 3 and len(out["page2"]) == 1
    assert sorted(out["page1"] + out["page2"]) == out["all_ids"]
    assert out["search_d"] == ["dog"]
    assert out["search_upper"] == ["bird"]
    assert out["updated"]["name"] == "Kitty"
    assert out["got_after_update"]["name"] == "Kitty"
    assert out["bulk_updated"] == [["bird", "Birdie"], ["dog", "Doggo"]]
    assert out["duplicate"] == {"http": 400, "code": 40003}
    assert out["missing"]["http"] == 404

    assert out["input_concepts_before"] == ["sky", "tree"]
    assert out["input_concepts_after"] == ["sky"]


def test_models_create_list_get_update_delete(server: ServeProcess) -> None:
    out = run(MODELS_SCRIPT, server)

    assert out["created"] == {
        "id": "pets",
        "name": "Pets",
        "app_id": "default",
        "concepts": ["cat", "dog"],
        "mutually_exclusive": True,
        "closed_environment": False,
        "hyper_parameters": {"learning_rate": 0.01},
        "version_status": 21102,
    }
    assert out["created_plain"]["name"] == "plain"
    assert out["created_plain"]["concepts"] == []
    assert out["duplicate"]["http"] == 400

    assert out["got"] == out["created"]
    assert out["output_info_concepts"] == ["cat", "dog"]
    assert out["by_name"]["id"] == "pets"
    assert out["private_ids"] == ["pets", "plain"]
    assert GENERAL_MODEL_ID in out["public_ids"]
    assert "pets" not in out["public_ids"]
    assert out["general_by_name"] == GENERAL_MODEL_ID
    assert out["search"] == ["pets"]
    assert out["search_none"] is None

    assert out["added"]["concepts"] == ["bird", "cat", "dog"]
    assert out["removed"]["concepts"] == ["bird", "cat"]
    assert out["overwritten"]["concepts"] == ["cat", "fish"]
    assert out["renamed"]["name"] == "Pets 2"
    assert out["renamed"]["closed_environment"] is True
    assert out["renamed"]["mutually_exclusive"] is True
    assert out["got_after_update"] == out["renamed"]

    assert out["delete_one"] == 10000
    assert out["get_deleted"] == {"http": 404, "code": 21200}
    assert out["bulk_delete"] == 10000
    assert out["private_after_bulk"] == ["pets"]
    assert out["delete_all"] == 10000
    assert out["private_after_all"] == []
    assert out["public_after_all"] == len(out["public_ids"])


def test_a_wrong_key_is_refused_at_construction(server: ServeProcess) -> None:
    out = run(BAD_KEY_SCRIPT, server)
    assert out == {"raised": True, "http": 401, "code": 11009, "description": "API key not found"}


def test_legacy_virtualenv_has_the_pinned_client(legacy_ready: None) -> None:
    """The helper itself: the pinned versions, and the last stdout line parsed as JSON."""
    script = (
        "import json\nimport clarifai.rest, google.protobuf\nprint('noise before the result')\n"
        "print(json.dumps({'protobuf': google.protobuf.__version__}))\n"
    )
    assert run_legacy_script(script) == {"protobuf": "3.19.6"}
