"""Routes: train a custom concept model (wire reference, section 5, endpoint 10).

``POST /v2/models/{id}/versions`` creates a new version in status ``21103`` (queued) and answers
at once with the model carrying it; a worker thread then trains it (:mod:`clarimap.server.training`)
and moves it to ``21101`` and on to ``21100`` or a ``2111x`` failure. A server made with
``background=False`` trains right after the version is created, before the call answers (the
answer still shows the version as it was created, queued), so tests are deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.routing import RequestContext, routes
from clarimap.server.schema import ANY, MODEL_VERSION, ListOf, request
from clarimap.server.store import new_id, now
from clarimap.server.training import run_training_job

TRAIN_REQUEST = request(model_versions=ListOf(MODEL_VERSION), description=ANY)


@routes.post("models/{model_id}/versions")
def train_model(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """Queue the training of a new version of the app's model ``model_id``."""
    from clarimap.server import api_models

    ctx.body(TRAIN_REQUEST, code=status.MODEL_INVALID_REQUEST)
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    version_id = new_id()
    with ctx.store.transaction() as connection:
        record = api_models.require_model(ctx, connection, model_id)
        if record.public is not None:
            raise ApiError(
                status.MODEL_PERMISSION_DENIED,
                f"model {model_id!r} is a public model; only the app's own models can be trained",
            )
        if not record.concept_ids:
            raise ApiError(
                status.MODEL_INVALID_ARGUMENT,
                f"model {model_id!r} has no concepts to learn: add concepts to it first "
                "(PATCH /v2/models with output_info.data.concepts)",
            )
        (last_seq,) = connection.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM model_versions WHERE app = ? AND model_id = ?",
            (app_pk, model_id),
        ).fetchone()
        connection.execute(
            "INSERT INTO model_versions (app, model_id, id, seq, status_code, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, '{}', ?)",
            (
                app_pk,
                model_id,
                version_id,
                int(last_seq) + 1,
                status.MODEL_QUEUED_FOR_TRAINING,
                now(),
            ),
        )
        version = api_models.find_version(connection, record, version_id)
        answer = {"model": api_models.model_json(record, version)}
    _run_job(ctx, run_training_job, app_pk, model_id, version_id, f"clarimap-train-{model_id}")
    return answer


def _run_job(
    ctx: RequestContext,
    job: Callable[[Any, int, str, str], None],
    app_pk: int,
    model_id: str,
    version_id: str,
    name: str,
) -> None:
    """Run a training or evaluation ``job`` in a thread of its own, or now when the server
    processes inline (``background=False``, for deterministic tests)."""
    if ctx.server.processor.background:
        threading.Thread(
            target=job, args=(ctx.server, app_pk, model_id, version_id), name=name, daemon=True
        ).start()
    else:
        job(ctx.server, app_pk, model_id, version_id)


def _trained_version(ctx: RequestContext, model_id: str, version_id: str) -> tuple[Any, int]:
    from clarimap.server import api_models

    with ctx.store.read() as connection:
        record = api_models.require_model(ctx, connection, model_id)
        version = api_models.find_version(connection, record, version_id)
    if record.public is not None:
        raise ApiError(
            status.MODEL_PERMISSION_DENIED,
            f"model {model_id!r} is a public model; it has no evaluation here",
        )
    return record, int(version["status"]["code"])


@routes.post("models/{model_id}/versions/{version_id}/metrics")
def evaluate_version(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """Start the evaluation of a trained version (k-fold cross-validation on its data)."""
    from clarimap.server import api_models
    from clarimap.server.training import run_evaluation_job

    ctx.json()
    record, code = _trained_version(ctx, model_id, version_id)
    if code != status.MODEL_TRAINED:
        raise ApiError(
            status.MODEL_INVALID_ARGUMENT,
            f"version {version_id!r} is not trained (status {code}); train it first",
        )
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.read() as connection:
        version = api_models.find_version(connection, record, version_id)
    version["metrics"] = {"status": status.envelope(status.MODEL_QUEUED_FOR_EVALUATION)}
    _run_job(ctx, run_evaluation_job, app_pk, model_id, version_id, f"clarimap-evaluate-{model_id}")
    return {"model_version": version}


@routes.get("models/{model_id}/versions/{version_id}/metrics")
def get_metrics(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """The version with its metrics (21302 not evaluated until an evaluation was asked for)."""
    from clarimap.server import api_models

    record, _ = _trained_version(ctx, model_id, version_id)
    with ctx.store.read() as connection:
        version = api_models.find_version(connection, record, version_id)
    version.setdefault("metrics", {"status": status.envelope(status.MODEL_NOT_EVALUATED)})
    return {"model_version": version}
