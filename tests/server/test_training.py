"""Training custom concept models on the base embeddings of the app's annotated inputs."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from clarimap.server import ServerApp
from clarimap.server.embedding import BUILTIN
from tests.conftest import Api


@pytest.fixture(autouse=True)
def builtin_embedding(server_app: ServerApp) -> Iterator[None]:
    """Train on the built-in descriptor whatever plugins are installed (fast, deterministic)."""
    server_app.base_embedding = BUILTIN
    yield


def png(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def reddish(rng: random.Random) -> tuple[int, int, int]:
    return (200 + rng.randint(0, 55), rng.randint(0, 60), rng.randint(0, 60))


def bluish(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(0, 60), rng.randint(0, 60), 200 + rng.randint(0, 55))


def add_inputs(
    api: Api, items: list[tuple[str, tuple[int, int, int], list[dict[str, Any]]]]
) -> None:
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": input_id, "data": {"image": {"base64": png(color)}, "concepts": concepts}}
                for input_id, color, concepts in items
            ]
        },
    )
    assert code == 200, body


def create_model(api: Api, model_id: str, concepts: list[str], **config: Any) -> None:
    output_info: dict[str, Any] = {"data": {"concepts": [{"id": c} for c in concepts]}}
    if config:
        output_info["output_config"] = config
    code, body = api.post("models", {"model": {"id": model_id, "output_info": output_info}})
    assert code == 200, body


def train(api: Api, model_id: str) -> dict[str, Any]:
    code, body = api.post(f"models/{model_id}/versions", {})
    assert code == 200, body
    assert body["model"]["model_version"]["status"]["code"] == 21103  # answered while queued
    version_id = body["model"]["model_version"]["id"]
    code, body = api.get(f"models/{model_id}/versions/{version_id}")
    assert code == 200, body
    return dict(body["model_version"])


def red_and_blue_set(api: Api, count: int = 12) -> None:
    rng = random.Random(7)
    items = []
    for i in range(count):
        items.append((f"r{i}", reddish(rng), [{"id": "red", "value": 1}]))
        items.append((f"b{i}", bluish(rng), [{"id": "blue", "value": 1}]))
    add_inputs(api, items)


def predict(api: Api, model_id: str, colors: list[tuple[int, int, int]]) -> list[dict[str, float]]:
    code, body = api.post(
        f"models/{model_id}/outputs",
        {"inputs": [{"data": {"image": {"base64": png(c)}}} for c in colors]},
    )
    assert code == 200, body
    return [{c["id"]: c["value"] for c in o["data"]["concepts"]} for o in body["outputs"]]


def test_train_then_predict_held_out_colours(api: Api) -> None:
    red_and_blue_set(api)
    create_model(api, "rb", ["red", "blue"])
    version = train(api, "rb")
    assert version["status"]["code"] == 21100, version
    assert version["active_concept_count"] == 2
    assert version["total_input_count"] == 24
    rng = random.Random(99)
    held_out = [reddish(rng) for _ in range(3)] + [bluish(rng) for _ in range(3)]
    results = predict(api, "rb", held_out)
    for values in results[:3]:
        assert values["red"] > 0.5 > values["blue"]
    for values in results[3:]:
        assert values["blue"] > 0.5 > values["red"]


def test_a_trained_version_predicts_through_the_version_route(api: Api) -> None:
    red_and_blue_set(api, 6)
    create_model(api, "rb", ["red", "blue"])
    version = train(api, "rb")
    code, body = api.post(
        f"models/rb/versions/{version['id']}/outputs",
        {"inputs": [{"data": {"image": {"base64": png((250, 0, 0))}}}]},
    )
    assert code == 200, body
    assert body["outputs"][0]["data"]["concepts"][0]["id"] == "red"
    assert body["outputs"][0]["model"]["model_version"]["id"] == version["id"]


def test_mutually_exclusive_concepts_get_a_softmax(api: Api) -> None:
    red_and_blue_set(api, 6)
    create_model(api, "rb", ["red", "blue"], concepts_mutually_exclusive=True)
    assert train(api, "rb")["status"]["code"] == 21100
    (values,) = predict(api, "rb", [(240, 10, 10)])
    assert values["red"] + values["blue"] == pytest.approx(1.0)
    assert values["red"] > 0.5


def test_a_model_without_concepts_cannot_be_trained(api: Api) -> None:
    code, body = api.post("models", {"model": {"id": "empty"}})
    assert code == 200, body
    code, body = api.post("models/empty/versions", {})
    assert code == 400
    assert body["status"]["code"] == 21202


def test_no_annotated_input_is_no_data(api: Api) -> None:
    create_model(api, "lonely", ["dog"])
    version = train(api, "lonely")
    assert version["status"]["code"] == 21110
    assert "dog" in version["status"]["details"]


def test_only_negatives_is_no_positives(api: Api) -> None:
    add_inputs(api, [("n1", (0, 0, 0), [{"id": "cat", "value": 0}])])
    create_model(api, "cats", ["cat"])
    assert train(api, "cats")["status"]["code"] == 21111


def test_one_concept_with_only_positives_has_nothing_to_contrast(api: Api) -> None:
    add_inputs(
        api,
        [
            ("p1", (255, 0, 0), [{"id": "cat", "value": 1}]),
            ("p2", (250, 5, 0), [{"id": "cat", "value": 1}]),
        ],
    )
    create_model(api, "cats", ["cat"])
    version = train(api, "cats")
    assert version["status"]["code"] == 21112
    assert "negative" in version["status"]["details"]


def test_one_concept_with_explicit_negatives_trains(api: Api) -> None:
    rng = random.Random(3)
    add_inputs(
        api,
        [(f"p{i}", reddish(rng), [{"id": "red", "value": 1}]) for i in range(5)]
        + [(f"n{i}", bluish(rng), [{"id": "red", "value": 0}]) for i in range(5)],
    )
    create_model(api, "redness", ["red"])
    assert train(api, "redness")["status"]["code"] == 21100
    red, blue = predict(api, "redness", [(255, 20, 20), (20, 20, 255)])
    assert red["red"] > 0.5 > blue["red"]


def test_versions_are_listed_newest_first(api: Api) -> None:
    red_and_blue_set(api, 3)
    create_model(api, "rb", ["red", "blue"])
    first = train(api, "rb")
    second = train(api, "rb")
    code, body = api.get("models/rb/versions")
    assert code == 200
    ids = [v["id"] for v in body["model_versions"]]
    assert ids[:2] == [second["id"], first["id"]]


def test_public_models_cannot_be_trained(api: Api) -> None:
    code, body = api.post("models/eeed0b6733a644cea07cf4c60f87ebb7/versions", {})
    assert code == 403
    assert body["status"]["code"] == 21201


def roc_auc_reference(scores: list[float], truth: list[bool]) -> float:
    """The fraction of (positive, negative) pairs ranked correctly, ties counting half."""
    pairs = [
        (p, n)
        for p, tp in zip(scores, truth, strict=True)
        if tp
        for n, tn in zip(scores, truth, strict=True)
        if not tn
    ]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_roc_auc_matches_the_pairwise_definition() -> None:
    import numpy as np

    from clarimap.server.training import roc_auc

    rng = random.Random(5)
    for _ in range(20):
        scores = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9]) for _ in range(15)]
        truth = [rng.random() < 0.4 for _ in range(15)]
        if all(truth) or not any(truth):
            continue
        assert roc_auc(np.array(scores), np.array(truth)) == pytest.approx(
            roc_auc_reference(scores, truth)
        )


def test_evaluate_fills_the_metrics_by_cross_validation(api: Api) -> None:
    red_and_blue_set(api, 10)
    create_model(api, "rb", ["red", "blue"])
    version = train(api, "rb")
    code, body = api.get(f"models/rb/versions/{version['id']}/metrics")
    assert code == 200 and body["model_version"]["metrics"]["status"]["code"] == 21302
    code, body = api.post(f"models/rb/versions/{version['id']}/metrics", {})
    assert code == 200, body
    assert body["model_version"]["metrics"]["status"]["code"] == 21303
    code, body = api.get(f"models/rb/versions/{version['id']}/metrics")
    metrics = body["model_version"]["metrics"]
    assert metrics["status"]["code"] == 21300, metrics["status"]
    assert {m["concept"]["id"] for m in metrics["binary_metrics"]} == {"red", "blue"}
    for concept in metrics["binary_metrics"]:
        assert concept["num_pos"] == 10 and concept["num_neg"] == 10
        assert concept["roc_auc"] >= 0.9
        assert len(concept["roc_curve"]["fpr"]) == len(concept["roc_curve"]["thresholds"])
    assert metrics["summary"]["macro_avg_roc_auc"] >= 0.9
    assert metrics["summary"]["top1_accuracy"] >= 0.9
    assert sum(cell["value"] for cell in metrics["confusion_matrix"]["matrix"]) == 20
    assert len(metrics["test_set"]) == 20


def test_evaluation_with_one_positive_of_a_concept_fails_saying_so(api: Api) -> None:
    rng = random.Random(11)
    add_inputs(
        api,
        [(f"r{i}", reddish(rng), [{"id": "red", "value": 1}]) for i in range(4)]
        + [("b0", bluish(rng), [{"id": "blue", "value": 1}])],
    )
    create_model(api, "rb", ["red", "blue"])
    version = train(api, "rb")
    assert version["status"]["code"] == 21100  # one example is enough to train
    code, _ = api.post(f"models/rb/versions/{version['id']}/metrics", {})
    assert code == 200
    _, body = api.get(f"models/rb/versions/{version['id']}/metrics")
    metrics = body["model_version"]["metrics"]
    assert metrics["status"]["code"] == 21315, metrics["status"]
    assert "at least 2 positive inputs" in metrics["status"]["details"]
    assert "'blue' (1)" in metrics["status"]["details"]
    assert "summary" not in metrics  # no figures made up from nothing


def test_folds_spread_the_positives_of_the_rarest_concept() -> None:
    import numpy as np

    from clarimap.server.training import _fold_assignment

    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(50):
        labels = np.where(rng.random((40, 4)) < rng.random(4) * 0.6, 1, 0)
        positives = labels.sum(axis=0)
        if (positives < 2).any():
            continue
        checked += 1
        folds = int(min(5, positives.min()))
        assignment = _fold_assignment(labels, folds, seed=0)
        assert sorted(set(assignment.tolist())) == list(range(folds))
        rarest = int(np.argmin(positives))
        per_fold = np.bincount(assignment[labels[:, rarest] == 1], minlength=folds)
        assert per_fold.max() - per_fold.min() <= 1, per_fold  # dealt round-robin
        assert per_fold.min() >= 1
    assert checked >= 20  # the seed gives 34 label sets with two positives of every concept


def test_an_untrained_version_cannot_be_evaluated(api: Api) -> None:
    create_model(api, "lonely", ["dog"])
    _, body = api.get("models/lonely")
    version_id = body["model"]["model_version"]["id"]
    code, body = api.post(f"models/lonely/versions/{version_id}/metrics", {})
    assert code == 400
    assert body["status"]["code"] == 21202
