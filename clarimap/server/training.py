"""Training of custom concept models on the base embeddings of the app's annotated inputs.

A custom model learns, for each of its concepts, from the inputs of the app annotated with it:
``value`` 1 is a positive, 0 an explicit negative. When the model's environment is closed
(``closed_environment``), or a concept has no explicit negative, an input positive for another
of the model's concepts counts as a negative too. Each input is represented by its vector of the
server's base embedding (:attr:`ServerApp.base_embedding`), stored when the input was processed.

* concepts not mutually exclusive: one-vs-rest logistic regression (one sigmoid per concept);
* ``concepts_mutually_exclusive``: multinomial logistic regression (a softmax over concepts),
  on the inputs with exactly one positive concept of the model.

Both are fitted with numpy (full-batch gradient descent with L2 regularisation on standardised
features, balanced class weights). The fitted weights are the version's ``artifact``.

Version statuses (wire reference, section 2): ``21103`` queued, ``21101`` training, then
``21100`` trained or ``21110`` no data, ``21111`` no positives, ``21112`` a concept with no
negatives to learn from, ``21115`` an unexpected error (logged).

Called by :mod:`clarimap.server.api_training` (train and evaluate) and by
:mod:`clarimap.server.api_predict` (:func:`runnable_version`).
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.store import now

if TYPE_CHECKING:
    from PIL import Image

    from clarimap.server.app import ServerApp
    from clarimap.server.routing import RequestContext

log = logging.getLogger("clarimap.server.training")

Matrix = npt.NDArray[np.float64]

ITERATIONS = 400
LEARNING_RATE = 0.5
L2 = 1e-3


class TrainingFailure(Exception):
    """Training cannot proceed: the version's terminal status code and why."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@attrs.frozen
class TrainingSet:
    """Vectors, labels (1 positive, 0 negative, -1 unknown) and the input ids, one row each."""

    vectors: Matrix
    labels: npt.NDArray[np.int8]
    input_ids: tuple[str, ...]
    concept_ids: tuple[str, ...]


def gather_training_set(
    connection: sqlite3.Connection,
    app_pk: int,
    concept_ids: Sequence[str],
    embedding_model_id: str,
    closed_environment: bool,
) -> TrainingSet:
    """The app's processed inputs annotated with any of ``concept_ids``, with their vectors."""
    if not concept_ids:
        raise TrainingFailure(status.MODEL_TRAINING_NO_DATA, "the model has no concepts")
    marks = ",".join("?" * len(concept_ids))
    rows = connection.execute(
        f"SELECT i.id, c.concept_id, c.value, e.vector FROM input_concepts c "
        f"JOIN inputs i ON i.seq = c.seq "
        f"JOIN input_embeddings e ON e.seq = c.seq AND e.model_id = ? "
        f"WHERE c.app = ? AND c.concept_id IN ({marks}) ORDER BY i.seq",
        (embedding_model_id, app_pk, *concept_ids),
    ).fetchall()
    if not rows:
        raise TrainingFailure(
            status.MODEL_TRAINING_NO_DATA,
            "no processed input of the app is annotated with any of the model's concepts "
            f"({', '.join(concept_ids)})",
        )
    column = {cid: j for j, cid in enumerate(concept_ids)}
    order: dict[str, int] = {}
    vectors: list[npt.NDArray[np.float32]] = []
    for input_id, _, _, blob in rows:
        if input_id not in order:
            order[input_id] = len(order)
            vectors.append(np.frombuffer(blob, dtype=np.float32))
    labels = np.full((len(order), len(concept_ids)), -1, dtype=np.int8)
    for input_id, concept_id, value, _ in rows:
        labels[order[input_id], column[concept_id]] = 1 if float(value) > 0.5 else 0
    if not (labels == 1).any():
        raise TrainingFailure(
            status.MODEL_TRAINING_NO_POSITIVES,
            "no input is annotated positively with any of the model's concepts",
        )
    positive_elsewhere = (labels == 1).any(axis=1)
    for j in range(len(concept_ids)):
        has_negatives = bool((labels[:, j] == 0).any())
        if closed_environment or not has_negatives:
            fill = (labels[:, j] == -1) & positive_elsewhere
            labels[fill, j] = 0
    return TrainingSet(
        np.vstack(vectors).astype(np.float64), labels, tuple(order), tuple(concept_ids)
    )


@attrs.frozen
class ConceptClassifier:
    """Fitted weights: ``scores(vectors)`` -> (n, concepts) probabilities."""

    concept_ids: tuple[str, ...]
    weights: Matrix
    bias: Matrix
    mean: Matrix
    scale: float
    softmax: bool
    embedding_model_id: str

    def scores(self, vectors: Matrix) -> Matrix:
        logits = ((vectors - self.mean) / self.scale) @ self.weights + self.bias
        if self.softmax:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            result: Matrix = shifted / shifted.sum(axis=1, keepdims=True)
            return result
        return _sigmoid(logits)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            weights=self.weights,
            bias=self.bias,
            mean=self.mean,
            scale=np.array(self.scale),
            softmax=np.array(self.softmax),
            concept_ids=np.array(json.dumps(list(self.concept_ids))),
            embedding_model_id=np.array(self.embedding_model_id),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ConceptClassifier:
        with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
            return cls(
                concept_ids=tuple(json.loads(str(saved["concept_ids"]))),
                weights=saved["weights"],
                bias=saved["bias"],
                mean=saved["mean"],
                scale=float(saved["scale"]),
                softmax=bool(saved["softmax"]),
                embedding_model_id=str(saved["embedding_model_id"]),
            )


def _sigmoid(x: Matrix) -> Matrix:
    result: Matrix = 0.5 * (1.0 + np.tanh(0.5 * x))
    return result


def fit(
    vectors: Matrix,
    labels: npt.NDArray[np.int8],
    concept_ids: Sequence[str],
    *,
    softmax: bool,
    embedding_model_id: str,
) -> ConceptClassifier:
    """Fit the classifier; rows/entries labelled -1 are ignored (see the module docstring)."""
    mean = vectors.mean(axis=0, keepdims=True)
    centred = vectors - mean
    scale = float(np.sqrt((centred**2).sum(axis=1).mean())) or 1.0
    features = centred / scale
    count, dims = features.shape
    classes = labels.shape[1]
    weights = np.zeros((dims, classes))
    bias = np.zeros((1, classes))
    if softmax:
        rows = (labels == 1).sum(axis=1) == 1
        features, targets = features[rows], (labels[rows] == 1).astype(np.float64)
        if len(features) == 0:
            raise TrainingFailure(
                status.MODEL_TRAINING_NO_POSITIVES,
                "no input has exactly one positive concept of this mutually exclusive model",
            )
        frequency = targets.mean(axis=0) + 1e-9
        sample_weight = (targets / frequency).sum(axis=1, keepdims=True) / classes
        for _ in range(ITERATIONS):
            logits = features @ weights + bias
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            error = (probabilities - targets) * sample_weight / len(features)
            weights -= LEARNING_RATE * (features.T @ error + L2 * weights)
            bias -= LEARNING_RATE * error.sum(axis=0, keepdims=True)
    else:
        known = (labels >= 0).astype(np.float64)
        targets = (labels == 1).astype(np.float64)
        positives = (targets * known).sum(axis=0)
        negatives = ((1 - targets) * known).sum(axis=0)
        # Balanced weights: positives and negatives of a concept weigh the same in total.
        entry_weight = known * np.where(
            targets == 1, 0.5 / np.maximum(positives, 1), 0.5 / np.maximum(negatives, 1)
        )
        for _ in range(ITERATIONS):
            probabilities = _sigmoid(features @ weights + bias)
            error = (probabilities - targets) * entry_weight
            weights -= LEARNING_RATE * (features.T @ error + L2 * weights)
            bias -= LEARNING_RATE * error.sum(axis=0, keepdims=True)
    del count
    return ConceptClassifier(
        tuple(concept_ids), weights, bias, mean, scale, softmax, embedding_model_id
    )


def train(
    training_set: TrainingSet, *, softmax: bool, embedding_model_id: str
) -> tuple[ConceptClassifier, list[str]]:
    """The classifier over the concepts that have positives, and those active concept ids."""
    labels = training_set.labels
    active = [j for j in range(labels.shape[1]) if (labels[:, j] == 1).any()]
    if not softmax:
        for j in active:
            if not (labels[:, j] == 0).any():
                raise TrainingFailure(
                    status.MODEL_TRAINING_ONE_VS_N_SINGLE_CLASS,
                    f"concept {training_set.concept_ids[j]!r} has positives but no negative to "
                    "learn from: annotate some inputs with value 0, or add another concept",
                )
    elif len(active) < 2:
        raise TrainingFailure(
            status.MODEL_TRAINING_ONE_VS_N_SINGLE_CLASS,
            "a mutually exclusive model needs positives of at least two concepts",
        )
    active_ids = [training_set.concept_ids[j] for j in active]
    classifier = fit(
        training_set.vectors,
        labels[:, active],
        active_ids,
        softmax=softmax,
        embedding_model_id=embedding_model_id,
    )
    return classifier, active_ids


# ---------------------------------------------------------------------------------------------
# running a trained version


class CustomConceptModel:
    """A trained version of an app's concept model, as a runnable model for predict."""

    type = "concept"
    type_ext = "concept"
    model_type_id = "embedding-classifier"
    languages = ("en",)
    default_max_concepts = 20
    concepts: Sequence[dict[str, str]]

    def __init__(
        self,
        server: ServerApp,
        model_id: str,
        name: str,
        classifier: ConceptClassifier,
        names: dict[str, str],
        app_id: str,
    ) -> None:
        self.server = server
        self.model_id = model_id
        self.name = name
        self.classifier = classifier
        self.app_id = app_id
        self.concepts = [{"id": cid, "name": names.get(cid, cid)} for cid in classifier.concept_ids]

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        embedding = self.server.base_embedding
        if embedding.model_id != self.classifier.embedding_model_id:
            raise ApiError(
                status.MODEL_INVALID_REQUEST,
                f"model {self.model_id!r} was trained on the embedding "
                f"{self.classifier.embedding_model_id!r}, but the server's base embedding is now "
                f"{embedding.model_id!r}: train a new version",
            )
        if not images:
            return []
        vectors = np.vstack(
            [np.asarray(embedding.embed(image), dtype=np.float64) for image in images]
        )
        results = []
        for row in self.classifier.scores(vectors):
            concepts = [
                {"id": c["id"], "name": c["name"], "value": float(v), "app_id": self.app_id}
                for c, v in zip(self.concepts, row, strict=True)
            ]
            concepts.sort(key=lambda c: -float(c["value"]))  # type: ignore[arg-type]
            results.append({"concepts": concepts})
        return results


def runnable_version(
    ctx: RequestContext, record: Any, version: dict[str, Any]
) -> CustomConceptModel | None:
    """The trained version ``version`` of the app model ``record``, or None if not trained."""
    if int(version["status"]["code"]) != status.MODEL_TRAINED:
        return None
    with ctx.store.read() as connection:
        row = connection.execute(
            "SELECT artifact FROM model_versions WHERE app = ? AND model_id = ? AND id = ?",
            (record.app_pk, record.id, version["id"]),
        ).fetchone()
        if row is None or row["artifact"] is None:
            return None
        classifier = ConceptClassifier.from_bytes(bytes(row["artifact"]))
        marks = ",".join("?" * len(classifier.concept_ids))
        names = {
            r["id"]: r["name"]
            for r in connection.execute(
                f"SELECT id, name FROM concepts WHERE app = ? AND id IN ({marks})",
                (record.app_pk, *classifier.concept_ids),
            )
        }
    return CustomConceptModel(
        ctx.server, record.id, record.name, classifier, names, record.app.app_id
    )


# ---------------------------------------------------------------------------------------------
# the training job


def run_training_job(server: ServerApp, app_pk: int, model_id: str, version_id: str) -> None:
    """Train version ``version_id``: 21103 -> 21101 -> 21100 or a 2111x failure."""
    store = server.store
    try:
        with store.transaction() as connection:
            _set_status(connection, app_pk, model_id, version_id, status.MODEL_TRAINING)
            model_row = connection.execute(
                "SELECT body, concepts FROM models WHERE app = ? AND id = ?", (app_pk, model_id)
            ).fetchone()
        if model_row is None:
            return  # deleted meanwhile
        settings = json.loads(model_row["body"] or "{}")
        config = settings.get("output_config") or {}
        concept_ids = json.loads(model_row["concepts"] or "[]")
        embedding_model_id = server.base_embedding.model_id
        with store.read() as connection:
            training_set = gather_training_set(
                connection,
                app_pk,
                concept_ids,
                embedding_model_id,
                bool(config.get("closed_environment")),
            )
        classifier, active = train(
            training_set,
            softmax=bool(config.get("concepts_mutually_exclusive")),
            embedding_model_id=embedding_model_id,
        )
        body = {
            "active_concept_count": len(active),
            "total_input_count": len(training_set.input_ids),
            "completed_at": now(),
            "_input_ids": list(training_set.input_ids),
        }
        with store.transaction() as connection:
            connection.execute(
                "UPDATE model_versions SET status_code = ?, status_details = '', body = ?, "
                "artifact = ? WHERE app = ? AND model_id = ? AND id = ?",
                (
                    status.MODEL_TRAINED,
                    json.dumps(body),
                    classifier.to_bytes(),
                    app_pk,
                    model_id,
                    version_id,
                ),
            )
    except TrainingFailure as failure:
        with store.transaction() as connection:
            _set_status(connection, app_pk, model_id, version_id, failure.code, failure.details)
    except Exception:
        log.exception("training model %s version %s failed", model_id, version_id)
        with store.transaction() as connection:
            _set_status(
                connection,
                app_pk,
                model_id,
                version_id,
                status.MODEL_TRAINING_UNKNOWN_ERROR,
                "training failed; see the server log",
            )


def _set_status(
    connection: sqlite3.Connection,
    app_pk: int,
    model_id: str,
    version_id: str,
    code: int,
    details: str = "",
) -> None:
    connection.execute(
        "UPDATE model_versions SET status_code = ?, status_details = ? "
        "WHERE app = ? AND model_id = ? AND id = ?",
        (code, details, app_pk, model_id, version_id),
    )


# ---------------------------------------------------------------------------------------------
# evaluation


def roc_auc(scores: Matrix, truth: npt.NDArray[np.bool_]) -> float:
    """The area under the ROC curve (the probability a positive outranks a negative; ties half)."""
    positives, negatives = scores[truth], scores[~truth]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([positives, negatives])[order]
    position = 0
    while position < len(values):  # average ranks of ties
        end = position
        while end + 1 < len(values) and values[end + 1] == values[position]:
            end += 1
        ranks[order[position : end + 1]] = (position + end) / 2 + 1
        position = end + 1
    rank_sum = ranks[: len(positives)].sum()
    return float(
        (rank_sum - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives))
    )


def _curves(
    scores: Matrix, truth: npt.NDArray[np.bool_]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    thresholds = sorted({float(s) for s in scores}, reverse=True)
    positives = max(int(truth.sum()), 1)
    negatives = max(int((~truth).sum()), 1)
    fpr, tpr, precision, recall = [], [], [], []
    for threshold in thresholds:
        predicted = scores >= threshold
        true_positive = int((predicted & truth).sum())
        false_positive = int((predicted & ~truth).sum())
        fpr.append(false_positive / negatives)
        tpr.append(true_positive / positives)
        precision.append(true_positive / max(true_positive + false_positive, 1))
        recall.append(true_positive / positives)
    return (
        {"fpr": fpr, "tpr": tpr, "thresholds": thresholds},
        {"recall": recall, "precision": precision, "thresholds": thresholds},
    )


def _fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold for each input, spreading every concept's positives over the folds.

    Inputs are dealt round-robin in the order of their rarest positive concept (random within
    a concept), so a concept with ``n >= folds`` positives has some in every fold's training
    part; inputs with no positive come last.
    """
    count = len(labels)
    rng = np.random.default_rng(seed)
    positive = labels == 1
    frequency = positive.sum(axis=0)
    rank = np.argsort(np.argsort(frequency, kind="stable"), kind="stable")  # 0 = rarest
    rarest = np.where(
        positive.any(axis=1), np.where(positive, rank, len(frequency)).min(axis=1), len(frequency)
    )
    order = np.lexsort((rng.permutation(count), rarest))
    assignment = np.empty(count, dtype=int)
    assignment[order] = np.arange(count) % folds
    return assignment


def evaluate(
    training_set: TrainingSet,
    *,
    softmax: bool,
    embedding_model_id: str,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of section 4 from k-fold cross-validation (out-of-fold scores of every input)."""
    labels = training_set.labels
    active = [j for j in range(labels.shape[1]) if (labels[:, j] == 1).any()]
    count = len(training_set.input_ids)
    positives = (labels[:, active] == 1).sum(axis=0)
    too_few = [
        f"{training_set.concept_ids[j]!r} ({int(n)})"
        for j, n in zip(active, positives, strict=True)
        if n < 2
    ]
    if too_few:
        raise TrainingFailure(
            21315,
            "evaluation by cross-validation needs at least 2 positive inputs of every concept "
            f"(one to learn from, one to test); too few: {', '.join(too_few)}",
        )
    folds = max(2, min(folds, int(positives.min())))
    assignment = _fold_assignment(labels[:, active], folds, seed)
    scores = np.full((count, len(active)), np.nan)
    for fold in range(folds):
        train_rows, test_rows = assignment != fold, assignment == fold
        subset = TrainingSet(
            training_set.vectors[train_rows],
            labels[train_rows][:, active],
            (),
            tuple(training_set.concept_ids[j] for j in active),
        )
        if not (subset.labels == 1).any(axis=0).all():
            continue  # a concept without positives in this fold's training part: skip the fold
        classifier = fit(
            subset.vectors,
            subset.labels,
            subset.concept_ids,
            softmax=softmax,
            embedding_model_id=embedding_model_id,
        )
        scores[test_rows] = classifier.scores(training_set.vectors[test_rows])
    scored = ~np.isnan(scores).any(axis=1)
    if not scored.any():
        raise TrainingFailure(
            21315, "no cross-validation fold had positives of every concept to learn from"
        )
    binary_metrics, aucs, f1s, precisions, recalls = [], [], [], [], []
    for position, j in enumerate(active):
        known = scored & (labels[:, j] >= 0)
        truth = labels[known, j] == 1
        column = scores[known, position]
        auc = roc_auc(column, truth)
        predicted = column >= 0.5
        true_positive = int((predicted & truth).sum())
        precision = true_positive / max(int(predicted.sum()), 1)
        recall = true_positive / max(int(truth.sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        roc_curve, pr_curve = _curves(column, truth)
        concept_id = training_set.concept_ids[j]
        binary_metrics.append(
            {
                "num_pos": int(truth.sum()),
                "num_neg": int((~truth).sum()),
                "num_tot": len(truth),
                "roc_auc": auc,
                "f1": f1,
                "concept": {"id": concept_id, "name": concept_id},
                "roc_curve": roc_curve,
                "precision_recall_curve": pr_curve,
            }
        )
        aucs.append(auc)
        f1s.append(f1)
        precisions.append(precision)
        recalls.append(recall)
    concept_ids = [training_set.concept_ids[j] for j in active]
    single = scored & ((labels[:, active] == 1).sum(axis=1) == 1)
    actual = np.argmax(labels[single][:, active] == 1, axis=1)
    predicted_index = np.argmax(scores[single], axis=1)
    confusion: dict[tuple[int, int], int] = {}
    for a, p in zip(actual, predicted_index, strict=True):
        confusion[(int(p), int(a))] = confusion.get((int(p), int(a)), 0) + 1
    top1 = float((actual == predicted_index).mean()) if len(actual) else float("nan")
    finite = [a for a in aucs if not np.isnan(a)]
    return {
        "status": status.envelope(status.MODEL_EVALUATED),
        "summary": {
            "top1_accuracy": top1,
            "macro_avg_roc_auc": float(np.mean(finite)) if finite else float("nan"),
            "macro_std_roc_auc": float(np.std(finite)) if finite else float("nan"),
            "macro_avg_f1_score": float(np.mean(f1s)) if f1s else 0.0,
            "macro_std_f1_score": float(np.std(f1s)) if f1s else 0.0,
            "macro_avg_precision": float(np.mean(precisions)) if precisions else 0.0,
            "macro_avg_recall": float(np.mean(recalls)) if recalls else 0.0,
        },
        "confusion_matrix": {
            "matrix": [
                {"predicted": concept_ids[p], "actual": concept_ids[a], "value": value}
                for (p, a), value in sorted(confusion.items())
            ],
            "concept_ids": concept_ids,
        },
        "label_counts": {
            "positive_label_counts": [
                {
                    "concept_name": training_set.concept_ids[j],
                    "count": int((labels[:, j] == 1).sum()),
                }
                for j in active
            ]
        },
        "binary_metrics": binary_metrics,
        "test_set": [
            {
                "id": training_set.input_ids[i],
                "predicted_concepts": [
                    {"id": cid, "value": float(scores[i, k])} for k, cid in enumerate(concept_ids)
                ],
                "ground_truth_concepts": [
                    {"id": cid, "value": 1.0}
                    for k, cid in enumerate(concept_ids)
                    if labels[i, active[k]] == 1
                ],
            }
            for i in range(count)
            if scored[i]
        ],
    }


def run_evaluation_job(server: ServerApp, app_pk: int, model_id: str, version_id: str) -> None:
    """Evaluate a trained version by cross-validation; its ``metrics`` go 21301 -> 21300."""
    store = server.store

    def save(metrics: dict[str, Any]) -> None:
        with store.transaction() as connection:
            row = connection.execute(
                "SELECT body FROM model_versions WHERE app = ? AND model_id = ? AND id = ?",
                (app_pk, model_id, version_id),
            ).fetchone()
            if row is None:
                return
            body = json.loads(row["body"] or "{}")
            body["metrics"] = metrics
            connection.execute(
                "UPDATE model_versions SET body = ? WHERE app = ? AND model_id = ? AND id = ?",
                (json.dumps(body, allow_nan=False, default=str), app_pk, model_id, version_id),
            )

    save({"status": status.envelope(status.MODEL_EVALUATING)})
    try:
        with store.read() as connection:
            model_row = connection.execute(
                "SELECT body, concepts FROM models WHERE app = ? AND id = ?", (app_pk, model_id)
            ).fetchone()
            if model_row is None:
                return
            config = json.loads(model_row["body"] or "{}").get("output_config") or {}
            training_set = gather_training_set(
                connection,
                app_pk,
                json.loads(model_row["concepts"] or "[]"),
                server.base_embedding.model_id,
                bool(config.get("closed_environment")),
            )
        metrics = evaluate(
            training_set,
            softmax=bool(config.get("concepts_mutually_exclusive")),
            embedding_model_id=server.base_embedding.model_id,
        )
        save(_finite(metrics))
    except TrainingFailure as failure:
        save(
            {
                "status": status.envelope(
                    21315, failure.details, description_text="Evaluation needs labelled inputs"
                )
            }
        )
    except Exception:
        log.exception("evaluating model %s version %s failed", model_id, version_id)
        save(
            {
                "status": status.envelope(
                    21312,
                    "evaluation failed; see the server log",
                    description_text="Evaluation failed",
                )
            }
        )


def _finite(value: Any) -> Any:
    """``value`` with NaN replaced by 0 (JSON has no NaN)."""
    if isinstance(value, float) and np.isnan(value):
        return 0.0
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
