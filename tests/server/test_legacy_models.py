"""The legacy ``clarifai==2.6.2`` client's model calls against ``clarimap serve`` over HTTP.

``predict_by_filename``, ``predict_by_bytes``, ``train``, ``get_version``, ``list_versions``,
``evaluate``, ``get_inputs`` and a workflow's ``predict_by_bytes``, with the real models of the
``clarimap-models`` plugin (the general model, face detection) and the built-in colour model.
The server runs as a subprocess (tests/serve_process.py); the client in its own virtualenv
(tests/legacy.py). Skipped, with the reason, where that virtualenv cannot be built or the
models plugin is not installed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clarimap.server.public_models import PUBLIC_MODELS
from tests.legacy import CLIENT_PRELUDE, run_against, skip_without_legacy_client
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.legacy_client

API_KEY = "legacy-models-key"
GENERAL_MODEL_ID = "aaa03c23b3724a16a56b629203edc62c"
COLOR_MODEL_ID = "eeed0b6733a644cea07cf4c60f87ebb7"
FACE_MODEL_ID = "a403429f2ddf4b49b307e318f00e528b"
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}

PRELUDE = (
    CLIENT_PRELUDE
    + r"""
def concepts_of(response):
    output = response["outputs"][0]
    return [[c["id"], c["value"]] for c in output["data"].get("concepts", [])]
"""
)

PREDICT_SCRIPT = (
    PRELUDE
    + r"""
general = app.public_models.general_model
response = general.predict_by_filename(sample("cat.jpg"), max_concepts=5)
out["status"] = response["status"]["code"]
out["top5"] = concepts_of(response)
with open(sample("rocket.jpg"), "rb") as f:
    out["rocket_top5"] = concepts_of(general.predict_by_bytes(f.read(), max_concepts=5))
out["min_value"] = concepts_of(general.predict_by_filename(sample("cat.jpg"), min_value=0.3))
colors = app.public_models.color_model.predict_by_filename(sample("cat.jpg"))
out["colors"] = colors["outputs"][0]["data"]["colors"]
faces = app.public_models.face_detection_model.predict_by_filename(sample("astronaut.jpg"))
out["faces"] = [r["region_info"]["bounding_box"] for r in faces["outputs"][0]["data"]["regions"]]
out["by_name"] = concepts_of(app.models.get("general-v1.3").predict_by_filename(
    sample("cat.jpg"), max_concepts=3))
print(json.dumps(out))
"""
)

TRAIN_SCRIPT = (
    PRELUDE
    + r"""
images = []
for name, concept, other in [("cat.jpg", "animal", "space"), ("horse.png", "animal", "space"),
                             ("rocket.jpg", "space", "animal"),
                             ("galaxies.jpg", "space", "animal"),
                             ("astronaut.jpg", "space", "animal")]:
    for crop in ([0.0, 0.0, 1.0, 1.0], [0.1, 0.1, 0.9, 0.9], [0.0, 0.2, 0.8, 1.0]):
        images.append(ClImage(filename=sample(name), concepts=[concept], not_concepts=[other],
                              crop=crop, allow_dup_url=True))
app.inputs.bulk_create_images(images)
deadline = time.time() + 120
while app.inputs.check_status().to_process and time.time() < deadline:
    time.sleep(0.2)

model = app.models.create("things", concepts=["animal", "space"])
trained = model.train(sync=True, timeout=120)
out["trained_status"] = trained.model_status_code
version_id = trained.model_version
out["version"] = app.api.get_model_version("things", version_id)["model_version"]["status"]["code"]
got = trained.get_version(version_id)
out["get_version"] = [got["model_version"]["id"], got["model_version"]["status"]["code"]]
versions = trained.list_versions()
out["list_versions"] = [v["id"] for v in versions["model_versions"]]
out["inputs"] = len(trained.get_inputs(per_page=100)["inputs"])
out["version_inputs"] = len(trained.get_inputs(version_id=version_id, per_page=100)["inputs"])
out["predict"] = concepts_of(trained.predict_by_filename(sample("clock.jpg")))
evaluation = trained.evaluate()
out["evaluate_status"] = evaluation["model_version"]["metrics"]["status"]["code"]
deadline = time.time() + 120
while time.time() < deadline:
    metrics = app.api.get_model_version("things", version_id)["model_version"].get("metrics", {})
    if metrics.get("status", {}).get("code") not in (21301, 21303):
        break
    time.sleep(0.2)
out["metrics_status"] = metrics["status"]["code"]
out["aucs"] = {m["concept"]["id"]: m["roc_auc"] for m in metrics.get("binary_metrics", [])}
print(json.dumps(out))
"""
)

WORKFLOW_SCRIPT = (
    PRELUDE
    + r"""
workflow = app.workflows.get("general-and-colour")
out["workflow_id"] = workflow.wf_id
out["listed"] = [w.wf_id for w in app.workflows.get_all()]
with open(sample("cat.jpg"), "rb") as f:
    response = workflow.predict_by_bytes(f.read())
out["status"] = response["status"]["code"]
result = response["results"][0]
out["outputs"] = [
    {"model": o["model"]["id"], "concepts": [c["id"] for c in o["data"].get("concepts", [])][:5],
     "colors": len(o["data"].get("colors", []))}
    for o in result["outputs"]
]
print(json.dumps(out))
"""
)

NAMES_SCRIPT = (
    PRELUDE
    + r"""
face = app.models.get("face")
out["face"] = [face.model_id, face.output_info["type"]]
face_embed = app.models.get("face", model_type="embed")
out["face_embed"] = [face_embed.model_id, face_embed.output_info["type"]]
found = app.models.search("face", model_type="facedetect")
out["search_face"] = [[m.model_id, m.model_name] for m in found]
out["general_embed"] = [m["name"] for m in app.api.search_models("general*", "embed")["models"]]
general = app.models.get("general-v1.3")
out["general"] = general.model_id
for name, model_type in [("color", "color"), ("nsfw-v1.0", None), ("food-items-v1.0", None),
                         ("travel-v1.0", None)]:
    out[name] = app.models.get(name, model_type=model_type).model_id
out["public_ids"] = {
    key: getattr(app.public_models, key + "_model").model_id
    for key in json.loads(os.environ["PUBLIC_MODEL_KEYS"])
}
out["public_workflows"] = [w.wf_id for w in app.workflows.get_all(public_only=True)]
workflow = app.workflows.get("General")
response = workflow.predict_by_filename(sample("cat.jpg"))
out["workflow_status"] = response["status"]["code"]
out["workflow_models"] = [o["model"]["id"] for o in response["results"][0]["outputs"]]
out["workflow_top"] = [c["id"] for c in response["results"][0]["outputs"][0]["data"]["concepts"]][:5]
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def legacy_ready() -> None:
    """Build (or reuse) the 2.6.2 virtualenv and need the models plugin; skip saying why not."""
    if importlib.util.find_spec("clarimap_models") is None:
        pytest.skip(
            "the clarimap-models plugin is not installed (pip install ./plugins/clarimap-models)"
        )
    skip_without_legacy_client()


@pytest.fixture
def server(legacy_ready: None, tmp_path: Path) -> Iterator[ServeProcess]:
    with ServeProcess(data=tmp_path / "data", api_keys=[API_KEY]) as process:
        yield process


def run(script: str, server: ServeProcess) -> dict[str, Any]:
    return run_against(server, script, api_key=API_KEY)


def test_predict_by_filename_and_bytes_with_public_models(server: ServeProcess) -> None:
    out = run(PREDICT_SCRIPT, server)

    assert out["status"] == 10000
    assert len(out["top5"]) == 5
    assert CAT_CLASSES & {concept_id for concept_id, _ in out["top5"]}
    values = [value for _, value in out["top5"]]
    assert values == sorted(values, reverse=True)
    assert {"space shuttle", "missile", "projectile"} & {cid for cid, _ in out["rocket_top5"]}
    assert out["min_value"] and all(value >= 0.3 for _, value in out["min_value"])
    assert out["colors"] and abs(sum(c["value"] for c in out["colors"]) - 1.0) < 0.05
    assert all(c["raw_hex"].startswith("#") and c["w3c"]["name"] for c in out["colors"])
    assert len(out["faces"]) == 1
    assert CAT_CLASSES & {concept_id for concept_id, _ in out["by_name"]}


def test_train_versions_inputs_and_evaluate(server: ServeProcess) -> None:
    out = run(TRAIN_SCRIPT, server)

    assert out["trained_status"] == 21100
    assert out["version"] == 21100
    assert out["get_version"][1] == 21100
    assert out["get_version"][0] == out["list_versions"][0]  # newest first
    assert len(out["list_versions"]) == 2  # the untrained version made at creation, and this one
    assert out["inputs"] == 15
    assert out["version_inputs"] == 15
    assert {concept_id for concept_id, _ in out["predict"]} == {"animal", "space"}
    assert out["evaluate_status"] in (21300, 21301, 21303)
    assert out["metrics_status"] == 21300
    assert set(out["aucs"]) == {"animal", "space"}
    assert all(0.0 <= auc <= 1.0 for auc in out["aucs"].values())


def test_workflow_predict_by_bytes(server: ServeProcess) -> None:
    created = requests.post(
        f"{server.url}/v2/workflows",
        json={
            "workflows": [
                {
                    "id": "general-and-colour",
                    "nodes": [
                        {"id": "general", "model": {"id": GENERAL_MODEL_ID}},
                        {"id": "colour", "model": {"id": COLOR_MODEL_ID}},
                    ],
                }
            ]
        },
        headers={"Authorization": f"Key {API_KEY}"},
        timeout=60,
    )
    assert created.status_code == 200, created.text

    out = run(WORKFLOW_SCRIPT, server)

    assert out["workflow_id"] == "general-and-colour"
    assert out["listed"] == ["general-and-colour"]
    assert out["status"] == 10000
    general, colour = out["outputs"]
    assert general["model"] == GENERAL_MODEL_ID
    assert CAT_CLASSES & set(general["concepts"])
    assert colour["model"] == COLOR_MODEL_ID and colour["colors"] > 0


def test_model_names_public_model_ids_and_public_workflows(server: ServeProcess) -> None:
    """The names 2.6.2's helpers and tests look up (wire reference, section 9)."""
    by_key = {model.key: model for model in PUBLIC_MODELS}
    out = run_against(
        server,
        NAMES_SCRIPT,
        api_key=API_KEY,
        PUBLIC_MODEL_KEYS=json.dumps(sorted(by_key)),
    )

    assert out["face"] == [FACE_MODEL_ID, "facedetect"]
    assert out["face_embed"] == [by_key["face_embedding"].id, "embed"]
    assert out["search_face"] == [[FACE_MODEL_ID, "face-v1.3"]]
    assert out["general_embed"] == ["general-embedding"]
    assert out["general"] == GENERAL_MODEL_ID
    assert out["color"] == COLOR_MODEL_ID
    assert out["nsfw-v1.0"] == by_key["nsfw"].id
    assert out["food-items-v1.0"] == by_key["food"].id
    assert out["travel-v1.0"] == by_key["travel"].id
    assert out["public_ids"] == {key: model.id for key, model in by_key.items()}
    assert out["public_workflows"] == ["General", "Color", "Face", "NSFW"]
    assert out["workflow_status"] == 10000
    assert out["workflow_models"] == [
        GENERAL_MODEL_ID,
        by_key["general_embedding"].id,
        COLOR_MODEL_ID,
    ]
    assert CAT_CLASSES & set(out["workflow_top"])
