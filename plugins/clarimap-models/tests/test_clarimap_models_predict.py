"""The plugin's models on the sample photos, directly and through the local server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from clarimap_models import (
    FaceDetectionModel,
    GeneralEmbeddingModel,
    GeneralModel,
    NsfwModel,
    imagenet_labels,
)
from clarimap_models.efficientnet import fold_batch_norm
from PIL import Image, ImageOps

import clarimap.server as server_package
from clarimap.server import ServerApp, create_app
from clarimap.server.modelzoo import (
    FACE_DETECTION_MODEL_ID,
    GENERAL_EMBEDDING_MODEL_ID,
    GENERAL_MODEL_ID,
    NSFW_MODEL_ID,
    build_zoo,
)
from clarimap.transport.wsgi import local_session

SAMPLES = Path(server_package.__file__).parent.parent / "demo_data"
SAMPLE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png"))
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}


def sample(name: str) -> Image.Image:
    return Image.open(SAMPLES / name).convert("RGB")


def top(names: str, count: int = 5) -> list[str]:
    concepts = GeneralModel().predict([sample(names)])[0]["concepts"]
    return [c["name"] for c in concepts[:count]]


# ---------------------------------------------------------------------------------------------
# the label list and the network


def test_the_label_list_has_the_1000_imagenet_classes_in_order() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[0] == "tench" and labels[999] == "toilet tissue"
    assert labels[281:286] == ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]
    assert (labels[504], labels[657], labels[812], labels[967]) == (
        "coffee mug",
        "missile",
        "space shuttle",
        "espresso",
    )


def test_folding_batch_norm_into_a_convolution_keeps_its_output() -> None:
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(4, 3, 1, 1)).astype(np.float32)
    state = {
        "bn.weight": rng.uniform(0.5, 2, 4),
        "bn.bias": rng.normal(size=4),
        "bn.running_mean": rng.normal(size=4),
        "bn.running_var": rng.uniform(0.1, 3, 4),
    }
    pixels = rng.normal(size=(3, 5)).astype(np.float32)  # 3 channels, 5 positions
    convolved = weight[:, :, 0, 0] @ pixels
    normalised = (convolved - state["bn.running_mean"][:, None]) / np.sqrt(
        state["bn.running_var"][:, None] + 1e-3
    ) * state["bn.weight"][:, None] + state["bn.bias"][:, None]
    folded, bias = fold_batch_norm(weight, state, "bn")
    np.testing.assert_allclose(
        folded[:, :, 0, 0] @ pixels + bias[:, None], normalised, rtol=1e-5, atol=1e-5
    )


def test_the_general_model_puts_a_cat_class_in_the_top_five_for_the_cat() -> None:
    best = top("cat.jpg")
    assert CAT_CLASSES & set(best), best
    assert best[0] in CAT_CLASSES


def test_the_general_model_sees_coffee_and_a_rocket() -> None:
    assert {"espresso", "cup", "coffee mug"} & set(top("coffee.jpg", 3))
    assert {"missile", "projectile", "space shuttle"} & set(top("rocket.jpg", 3))


def test_probabilities_cover_every_class_and_sum_to_one() -> None:
    concepts = GeneralModel().predict([sample("coffee.jpg")])[0]["concepts"]
    assert len(concepts) == 1000
    assert sum(c["value"] for c in concepts) == pytest.approx(1.0, abs=1e-3)
    values = [c["value"] for c in concepts]
    assert values == sorted(values, reverse=True)


def test_a_batch_gives_the_same_answers_as_single_images() -> None:
    model = GeneralModel()
    names = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
    batch = model.predict([sample(n) for n in names])
    for name, result in zip(names, batch, strict=True):
        single = model.predict([sample(name)])[0]
        assert [c["id"] for c in result["concepts"][:5]] == [
            c["id"] for c in single["concepts"][:5]
        ]
        assert result["concepts"][0]["value"] == pytest.approx(
            single["concepts"][0]["value"], abs=1e-4
        )


def test_embeddings_are_unit_vectors_that_find_the_same_picture() -> None:
    model = GeneralEmbeddingModel()
    cat, mirrored, galaxies, coffee = model.embed_images(
        [
            sample("cat.jpg"),
            ImageOps.mirror(sample("cat.jpg")),
            sample("galaxies.jpg"),
            sample("coffee.jpg"),
        ]
    )
    assert cat.shape == (1280,)
    assert np.linalg.norm(cat) == pytest.approx(1.0, abs=1e-5)
    assert float(cat @ mirrored) > float(cat @ galaxies) + 0.2
    assert float(cat @ mirrored) > float(cat @ coffee) + 0.2
    data = model.predict([sample("cat.jpg")])[0]
    assert data["embeddings"][0]["num_dimensions"] == 1280
    assert len(data["embeddings"][0]["vector"]) == 1280


# ---------------------------------------------------------------------------------------------
# faces and NSFW


@pytest.mark.parametrize("name", ["astronaut.jpg", "grace_hopper.jpg"])
def test_one_face_in_each_portrait(name: str) -> None:
    (data,) = FaceDetectionModel().predict([sample(name)])
    assert len(data["regions"]) == 1
    box = data["regions"][0]["region_info"]["bounding_box"]
    assert 0 <= box["top_row"] < box["bottom_row"] <= 1
    assert 0 <= box["left_col"] < box["right_col"] <= 1
    assert box["bottom_row"] < 0.7  # the faces are in the upper part of both photos
    assert data["regions"][0]["value"] >= 0.7


def test_no_face_among_the_galaxies() -> None:
    assert FaceDetectionModel().predict([sample("galaxies.jpg")]) == [{"regions": []}]


def test_a_large_image_is_reduced_before_detection() -> None:
    big = sample("astronaut.jpg").resize((2048, 2048))
    assert len(FaceDetectionModel().detect(big)) == 1


def test_nsfw_rates_every_sample_safe() -> None:
    results = NsfwModel().predict([sample(name) for name in SAMPLE_FILES])
    assert len(results) == len(SAMPLE_FILES) >= 8
    for name, data in zip(SAMPLE_FILES, results, strict=True):
        values = {c["id"]: c["value"] for c in data["concepts"]}
        assert values["sfw"] + values["nsfw"] == pytest.approx(1.0, abs=1e-4)
        assert values["nsfw"] < 0.2, name


# ---------------------------------------------------------------------------------------------
# through the local server


@pytest.fixture
def served() -> Iterator[tuple[ServerApp, object]]:
    app = create_app(":memory:", background=False)
    session = local_session("local://:memory:", app=app)
    yield app, session
    session.close()
    app.close()


def _post(session: object, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    response = session.post(f"local://:memory:/v2/{path}", json=body)  # type: ignore[attr-defined]
    return response.status_code, response.json()


def _b64(name: str) -> str:
    return base64.b64encode((SAMPLES / name).read_bytes()).decode()


def test_the_plugin_registers_its_four_models() -> None:
    assert {
        GENERAL_MODEL_ID,
        GENERAL_EMBEDDING_MODEL_ID,
        FACE_DETECTION_MODEL_ID,
        NSFW_MODEL_ID,
    } <= set(build_zoo().ids())


def test_predict_with_the_general_model_through_the_server(
    served: tuple[ServerApp, object],
) -> None:
    _, session = served
    code, body = _post(
        session,
        f"models/{GENERAL_MODEL_ID}/outputs",
        {
            "inputs": [
                {"id": "c", "data": {"image": {"base64": _b64("cat.jpg")}}},
                {"id": "k", "data": {"image": {"base64": _b64("coffee.jpg")}}},
            ],
            "model": {"output_info": {"output_config": {"max_concepts": 5}}},
        },
    )
    assert code == 200, body
    cat, coffee = body["outputs"]  # type: ignore[misc]
    assert len(cat["data"]["concepts"]) == 5
    assert CAT_CLASSES & {c["name"] for c in cat["data"]["concepts"]}
    assert cat["model"]["name"] == "general-v1.3"
    assert coffee["data"]["concepts"][0]["app_id"] == "main"


def test_select_concepts_on_the_general_model(served: tuple[ServerApp, object]) -> None:
    _, session = served
    code, body = _post(
        session,
        f"models/{GENERAL_MODEL_ID}/outputs",
        {
            "inputs": [{"data": {"image": {"base64": _b64("cat.jpg")}}}],
            "model": {
                "output_info": {
                    "output_config": {"select_concepts": [{"name": "tabby"}, {"id": "espresso"}]}
                }
            },
        },
    )
    assert code == 200, body
    values = {c["id"]: c["value"] for c in body["outputs"][0]["data"]["concepts"]}  # type: ignore[index]
    assert set(values) == {"tabby", "espresso"}
    assert values["tabby"] > values["espresso"]


def test_face_and_nsfw_through_the_server(served: tuple[ServerApp, object]) -> None:
    _, session = served
    inputs = {
        "inputs": [
            {"data": {"image": {"base64": _b64(n)}}} for n in ("astronaut.jpg", "galaxies.jpg")
        ]
    }
    code, body = _post(session, f"models/{FACE_DETECTION_MODEL_ID}/outputs", inputs)
    assert code == 200, body
    assert [len(o["data"]["regions"]) for o in body["outputs"]] == [1, 0]  # type: ignore[index]
    code, body = _post(session, f"models/{NSFW_MODEL_ID}/outputs", inputs)
    assert [o["data"]["concepts"][0]["id"] for o in body["outputs"]] == ["sfw", "sfw"]  # type: ignore[index]


def test_the_general_models_become_the_base_models(served: tuple[ServerApp, object]) -> None:
    app, session = served
    assert app.base_embedding.model_id == GENERAL_EMBEDDING_MODEL_ID
    assert app.base_concept_model_id == GENERAL_MODEL_ID
    code, body = _post(
        session,
        "inputs",
        {"inputs": [{"id": "the-cat", "data": {"image": {"base64": _b64("cat.jpg")}}}]},
    )
    assert code == 200, body
    with app.store.read() as connection:
        predicted = connection.execute(
            "SELECT concept_id FROM input_predictions p JOIN inputs i ON i.seq = p.seq "
            "WHERE i.id = 'the-cat' AND p.model_id = ? ORDER BY value DESC",
            (GENERAL_MODEL_ID,),
        ).fetchall()
        vectors = connection.execute(
            "SELECT length(vector) FROM input_embeddings WHERE model_id = ?",
            (GENERAL_EMBEDDING_MODEL_ID,),
        ).fetchall()
    assert predicted and predicted[0][0] in CAT_CLASSES
    assert [row[0] for row in vectors] == [1280 * 4]
