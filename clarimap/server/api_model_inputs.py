"""Routes: the inputs a model learns from, and feedback (wire reference, section 5, 15, 16, 25).

* ``GET /v2/models/{id}/inputs?page&per_page``: the app's inputs annotated (positively or
  negatively) with any concept of the model, in creation order; a public model has none.
  ``GET /v2/models/{id}/versions/{vid}/inputs``: the inputs that version was trained on (those
  still in the app), empty for a version not trained.
* ``POST /v2/models/{id}/feedback`` (and the version form) and ``POST /v2/searches/feedback``:
  status only. The body is validated (an ``input`` with an ``id``; ``feedback_info.event_type``
  one of ``undefined``, ``search_click``, ``annotation``), the model and version must exist, and
  the feedback is kept in the ``feedback`` table (schema version 3) for whoever reads it later;
  nothing else changes (feedback does not annotate the input).
"""

from __future__ import annotations

import json
from typing import Any

from clarimap.server import status
from clarimap.server._handlers import page_slice, sql_offset
from clarimap.server.api_inputs import load_inputs
from clarimap.server.errors import ApiError
from clarimap.server.routing import RequestContext, routes
from clarimap.server.schema import INPUT, request
from clarimap.server.store import now

FEEDBACK_REQUEST = request(input=INPUT)
EVENT_TYPES = ("undefined", "search_click", "annotation")


# ---------------------------------------------------------------------------------------------
# model inputs


def _model_inputs(ctx: RequestContext, model_id: str, version_id: str | None) -> dict[str, Any]:
    from clarimap.server import api_models

    page, per_page = ctx.page()
    with ctx.store.read() as connection:
        record = api_models.require_model(ctx, connection, model_id)
        if record.public is not None:
            if version_id:
                api_models.find_version(connection, record, version_id)
            return {"inputs": []}
        if version_id is None:
            concept_ids = list(record.concept_ids)
            if not concept_ids:
                return {"inputs": []}
            marks = ",".join("?" * len(concept_ids))
            seqs = [
                int(row[0])
                for row in connection.execute(
                    f"SELECT DISTINCT seq FROM input_concepts WHERE app = ? "
                    f"AND concept_id IN ({marks}) ORDER BY seq LIMIT ? OFFSET ?",
                    (record.app_pk, *concept_ids, per_page, sql_offset(page, per_page)),
                )
            ]
            return {"inputs": load_inputs(connection, seqs)}
        api_models.find_version(connection, record, version_id)
        row = connection.execute(
            "SELECT body FROM model_versions WHERE app = ? AND model_id = ? AND id = ?",
            (record.app_pk, model_id, version_id),
        ).fetchone()
        trained_on = list(json.loads(row["body"] or "{}").get("_input_ids") or [])
        wanted = page_slice(trained_on, page, per_page)
        if not wanted:
            return {"inputs": []}
        marks = ",".join("?" * len(wanted))
        seq_of = {
            r["id"]: int(r["seq"])
            for r in connection.execute(
                f"SELECT id, seq FROM inputs WHERE app = ? AND id IN ({marks})",
                (record.app_pk, *wanted),
            )
        }
        return {"inputs": load_inputs(connection, [seq_of[i] for i in wanted if i in seq_of])}


@routes.get("models/{model_id}/inputs")
def model_inputs(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """The inputs annotated with any concept of the model."""
    return _model_inputs(ctx, model_id, None)


@routes.get("models/{model_id}/versions/{version_id}/inputs")
def model_version_inputs(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """The inputs a version was trained on."""
    return _model_inputs(ctx, model_id, version_id)


# ---------------------------------------------------------------------------------------------
# feedback


def _feedback_input(ctx: RequestContext, code: int) -> dict[str, Any]:
    body = ctx.body(FEEDBACK_REQUEST, code=code)
    item = body.get("input")
    if not item:
        raise ApiError(
            code, 'input: send the input the feedback is about, as {"input": {"id": ...}}'
        )
    if not item.get("id"):
        raise ApiError(code, "input.id: the feedback must name the input it is about")
    info = item.get("feedback_info") or {}
    event_type = info.get("event_type") or "undefined"
    if event_type not in EVENT_TYPES:
        raise ApiError(
            code,
            f"input.feedback_info.event_type must be one of {', '.join(EVENT_TYPES)}, "
            f"got {event_type!r}",
        )
    return dict(item)


def _store_feedback(
    ctx: RequestContext,
    kind: str,
    item: dict[str, Any],
    model_id: str | None,
    version_id: str | None,
) -> None:
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.transaction() as connection:
        connection.execute(
            "INSERT INTO feedback (app, kind, model_id, version_id, input_id, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (app_pk, kind, model_id, version_id, str(item["id"]), json.dumps(item), now()),
        )


def _model_feedback(ctx: RequestContext, model_id: str, version_id: str | None) -> dict[str, Any]:
    from clarimap.server import api_models

    item = _feedback_input(ctx, status.MODEL_INVALID_REQUEST)
    with ctx.store.read() as connection:
        record = api_models.require_model(ctx, connection, model_id)
        version = api_models.find_version(connection, record, version_id)
    _store_feedback(ctx, "model", item, model_id, str(version["id"]))
    return {}


@routes.post("models/{model_id}/feedback")
def model_feedback(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """Feedback on a prediction of the model's latest version (status only)."""
    return _model_feedback(ctx, model_id, None)


@routes.post("models/{model_id}/versions/{version_id}/feedback")
def model_version_feedback(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """Feedback on a prediction of one version (status only)."""
    return _model_feedback(ctx, model_id, version_id)


@routes.post("searches/feedback")
def search_feedback(ctx: RequestContext) -> dict[str, Any]:
    """Feedback on a search: which hit the end user chose (status only)."""
    item = _feedback_input(ctx, status.CONN_INVALID_REQUEST)
    _store_feedback(ctx, "search", item, None, None)
    return {}
