"""Routes: workflows (wire reference, section 5, endpoints 31-33, plus create, patch, delete).

A workflow is a row of ``workflows``; its ``body`` JSON holds ``nodes`` (each
``{"id", "model": {"id", "app_id", "user_id", "model_version": {"id"}}, "node_inputs"?,
"suppress_output"?}``, the version pinned when the node was written) and, when set,
``metadata``, ``description`` and ``display_name``. Nodes reference the app's models or the
public ones. The public workflows (:mod:`clarimap.server.public_workflows`) are not stored: they
are listed by ``GET /v2/public_workflows`` and read from every app. The workflow predict route
(``POST /v2/workflows/{id}/results``) lives with the predict routes and reads these rows.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from clarimap.server import status
from clarimap.server._handlers import (
    Items,
    check_body_id,
    check_id,
    ids_to_delete,
    page_slice,
    request_app_pk,
    require_object,
    require_writable,
    sql_offset,
)
from clarimap.server.api_models import find_model, find_version, patch_struct
from clarimap.server.errors import ApiError
from clarimap.server.public_models import PUBLIC_APP_ID, PUBLIC_USER_ID
from clarimap.server.public_workflows import (
    available_workflows,
    public_workflow,
    unavailable_reason,
)
from clarimap.server.routing import AppRef, RequestContext, routes
from clarimap.server.schema import BOOL, STR, WORKFLOW, request
from clarimap.server.store import now

MAX_BATCH = 128
MAX_NODES = 64

CREATE_WORKFLOWS = request(workflows=Items(WORKFLOW, max_items=MAX_BATCH))
PATCH_WORKFLOWS = request(action=STR, workflows=Items(WORKFLOW, max_items=MAX_BATCH))
DELETE_WORKFLOWS = request(ids=Items(STR, max_items=MAX_BATCH), delete_all=BOOL)
DELETE_ONE = request(workflow_id=STR)

_CODE = status.WORKFLOW_INVALID_ARGUMENT
_TEXT_FIELDS = ("description", "display_name", "notes")


def _missing(workflow_id: str, app: AppRef) -> ApiError:
    return ApiError(
        status.WORKFLOW_DOES_NOT_EXIST,
        f"workflow {workflow_id!r} does not exist in app {app.user_id}/{app.app_id}",
    )


def workflow_json(row: sqlite3.Row, app: AppRef) -> dict[str, Any]:
    """The wire JSON of a ``workflows`` row."""
    body = json.loads(row["body"])
    workflow: dict[str, Any] = {
        "id": row["id"],
        "app_id": app.app_id,
        "user_id": app.user_id,
        "created_at": row["created_at"],
        "modified_at": row["modified_at"],
        "nodes": body.get("nodes") or [],
    }
    for key in ("metadata", *_TEXT_FIELDS):
        if body.get(key) not in (None, ""):
            workflow[key] = body[key]
    return workflow


def find_workflow(
    connection: sqlite3.Connection, app_pk: int, workflow_id: str
) -> sqlite3.Row | None:
    """The ``workflows`` row of ``workflow_id`` in the app, or None."""
    row: sqlite3.Row | None = connection.execute(
        "SELECT * FROM workflows WHERE app = ? AND id = ?", (app_pk, workflow_id)
    ).fetchone()
    return row


def _node(
    ctx: RequestContext,
    connection: sqlite3.Connection,
    app_pk: int,
    node: dict[str, Any],
    where: str,
) -> dict[str, Any]:
    """A node as stored: its model resolved (app or public) and its version pinned."""
    node = require_object(node, where, _CODE)
    node_id = check_id(node.get("id"), f"{where}.id", _CODE)
    model = node.get("model") or {}
    model_id = check_id(model.get("id"), f"{where}.model.id", _CODE)
    wants_public = model.get("user_id") == PUBLIC_USER_ID or model.get("app_id") == PUBLIC_APP_ID
    record = find_model(connection, app_pk, ctx.app, model_id)
    if record is None or (wants_public and record.public is None):
        raise ApiError(
            _CODE,
            f"{where}.model.id: model {model_id!r} does not exist in app "
            f"{ctx.app.user_id}/{ctx.app.app_id} nor among the public models",
        )
    version_id = (model.get("model_version") or {}).get("id") or None
    try:
        version = find_version(connection, record, version_id)
    except ApiError:
        raise ApiError(
            _CODE,
            f"{where}.model.model_version.id: model {model_id!r} has no version {version_id!r}",
        ) from None
    stored: dict[str, Any] = {
        "id": node_id,
        "model": {
            "id": record.id,
            "name": record.name,
            "app_id": record.app.app_id,
            "user_id": record.app.user_id,
            "model_type_id": record.model_type_id,
            "model_version": {"id": version["id"]},
        },
    }
    inputs = node.get("node_inputs")
    if inputs:
        stored["node_inputs"] = [
            {
                "node_id": check_id(
                    require_object(item, f"{where}.node_inputs[{index}]", _CODE).get("node_id"),
                    f"{where}.node_inputs[{index}].node_id",
                    _CODE,
                )
            }
            for index, item in enumerate(inputs)
        ]
    if node.get("suppress_output"):
        stored["suppress_output"] = True
    return stored


def _check_graph(nodes: list[dict[str, Any]], where: str) -> None:
    """Node ids are unique, node_inputs name earlier-or-other nodes of the workflow, no cycles."""
    if not nodes:
        raise ApiError(_CODE, f"{where}.nodes: a workflow needs at least one node")
    if len(nodes) > MAX_NODES:
        raise ApiError(_CODE, f"{where}.nodes: at most {MAX_NODES} nodes, got {len(nodes)}")
    ids = [node["id"] for node in nodes]
    for index, node_id in enumerate(ids):
        if node_id in ids[:index]:
            raise ApiError(_CODE, f"{where}.nodes[{index}].id: {node_id!r} appears twice")
    parents = {
        node["id"]: [item["node_id"] for item in node.get("node_inputs") or []] for node in nodes
    }
    for index, node in enumerate(nodes):
        for parent in parents[node["id"]]:
            if parent not in parents:
                raise ApiError(
                    _CODE,
                    f"{where}.nodes[{index}].node_inputs: no node {parent!r} in the workflow",
                )
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in done:
            return
        if node_id in visiting:
            raise ApiError(_CODE, f"{where}.nodes: node_inputs form a cycle through {node_id!r}")
        visiting.add(node_id)
        for parent in parents[node_id]:
            visit(parent)
        visiting.discard(node_id)
        done.add(node_id)

    for node_id in parents:
        visit(node_id)


def _settings(workflow: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in ("metadata", *_TEXT_FIELDS):
        if workflow.get(key) not in (None, ""):
            settings[key] = workflow[key]
    return settings


# ---------------------------------------------------------------------------------------------
# routes


@routes.post("workflows")
def create_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/workflows``: create workflows; an existing id fails the request (22100)."""
    body = ctx.body(CREATE_WORKFLOWS, code=status.WORKFLOW_INVALID_REQUEST)
    require_writable(ctx.app)
    workflows = body.get("workflows")
    if not workflows:
        raise ApiError(_CODE, 'workflows: send the workflows to create, as {"workflows": [...]}')
    app_pk = request_app_pk(ctx)
    created_at = now()
    seen: set[str] = set()
    with ctx.store.transaction() as connection:
        for index, workflow in enumerate(workflows):
            where = f"workflows[{index}]"
            workflow_id = check_id(workflow.get("id"), f"{where}.id", _CODE)
            if workflow_id in seen or find_workflow(connection, app_pk, workflow_id) is not None:
                raise ApiError(
                    status.WORKFLOW_DUPLICATE,
                    f"{where}.id: a workflow {workflow_id!r} already exists",
                )
            seen.add(workflow_id)
            nodes = [
                _node(ctx, connection, app_pk, node, f"{where}.nodes[{position}]")
                for position, node in enumerate(workflow.get("nodes") or [])
            ]
            _check_graph(nodes, where)
            connection.execute(
                "INSERT INTO workflows (app, id, body, created_at, modified_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    app_pk,
                    workflow_id,
                    json.dumps({"nodes": nodes, **_settings(workflow)}),
                    created_at,
                    created_at,
                ),
            )
        rows = [find_workflow(connection, app_pk, w["id"]) for w in workflows]
    return {"workflows": [workflow_json(row, ctx.app) for row in rows if row is not None]}


def _is_public_app(app: AppRef) -> bool:
    return app.user_id == PUBLIC_USER_ID and app.app_id == PUBLIC_APP_ID


@routes.get("workflows")
def list_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/workflows?page&per_page``: the app's workflows in creation order (for the
    public app ``clarifai/main``, its public workflows)."""
    page, per_page = ctx.page()
    if _is_public_app(ctx.app):
        return {"workflows": _public_listing(ctx, page, per_page)}
    app_pk = request_app_pk(ctx)
    with ctx.store.read() as connection:
        rows = connection.execute(
            "SELECT * FROM workflows WHERE app = ? ORDER BY rowid LIMIT ? OFFSET ?",
            (app_pk, per_page, sql_offset(page, per_page)),
        ).fetchall()
    return {"workflows": [workflow_json(row, ctx.app) for row in rows]}


def _public_listing(ctx: RequestContext, page: int, per_page: int) -> list[dict[str, Any]]:
    return [w.json() for w in page_slice(available_workflows(ctx.server), page, per_page)]


@routes.get("public_workflows", app_scoped=False)
def list_public_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/public_workflows``: the public workflows whose every model this server can run
    (:mod:`clarimap.server.public_workflows`)."""
    page, per_page = ctx.page()
    return {"workflows": _public_listing(ctx, page, per_page)}


@routes.get("users/{user_id}/workflows", app_scoped=False)
def list_user_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/users/{user_id}/workflows?page&per_page``: the workflows of every app of the
    user (apps in creation order, each app's in creation order); for ``clarifai``, the public
    workflows."""
    page, per_page = ctx.page()
    user_id = ctx.app.user_id
    if user_id == PUBLIC_USER_ID:
        return {"workflows": _public_listing(ctx, page, per_page)}
    with ctx.store.read() as connection:
        rows = connection.execute(
            "SELECT w.*, a.app_id AS owner_app_id FROM workflows w JOIN apps a ON a.pk = w.app "
            "WHERE a.user_id = ? ORDER BY a.pk, w.rowid LIMIT ? OFFSET ?",
            (user_id, per_page, sql_offset(page, per_page)),
        ).fetchall()
    return {"workflows": [workflow_json(row, AppRef(user_id, row["owner_app_id"])) for row in rows]}


@routes.get("workflows/{workflow_id}")
def get_workflow(ctx: RequestContext, workflow_id: str) -> dict[str, Any]:
    """``GET /v2/workflows/{id}``: one workflow; 404 + 22102 if the app has none by that id."""
    with ctx.store.read() as connection:
        row = find_workflow(connection, request_app_pk(ctx), workflow_id)
    if row is None:
        public = public_workflow(ctx.server, workflow_id)
        if public is None:
            error = _missing(workflow_id, ctx.app)
            error.details += unavailable_reason(ctx.server, workflow_id)
            raise error
        return {"workflow": public.json()}
    return {"workflow": workflow_json(row, ctx.app)}


def patch_nodes(
    old: list[dict[str, Any]], sent: list[dict[str, Any]] | None, action: str
) -> list[dict[str, Any]]:
    """A workflow's nodes after a patch: merge by node id, remove by id, or overwrite."""
    if sent is None:
        return old
    if action == "overwrite":
        return sent
    sent_ids = {node["id"] for node in sent}
    if action == "remove":
        return [node for node in old if node["id"] not in sent_ids]
    by_id = {node["id"]: node for node in sent}
    merged = [by_id.get(node["id"], node) for node in old]
    old_ids = {node["id"] for node in old}
    return merged + [node for node in sent if node["id"] not in old_ids]


@routes.patch("workflows")
def patch_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``PATCH /v2/workflows``: merge, remove or overwrite nodes (by node id) and metadata."""
    body = ctx.body(PATCH_WORKFLOWS, code=status.WORKFLOW_INVALID_REQUEST)
    require_writable(ctx.app)
    action = body.get("action")
    if action not in ("merge", "remove", "overwrite"):
        raise ApiError(_CODE, f"action: expected 'merge', 'remove' or 'overwrite', got {action!r}")
    workflows = body.get("workflows")
    if not workflows:
        raise ApiError(_CODE, 'workflows: send the workflows to patch, as [{"id": ..., ...}]')
    app_pk = request_app_pk(ctx)
    modified_at = now()
    with ctx.store.transaction() as connection:
        for index, patch in enumerate(workflows):
            where = f"workflows[{index}]"
            workflow_id = check_id(patch.get("id"), f"{where}.id", _CODE)
            row = find_workflow(connection, app_pk, workflow_id)
            if row is None:
                raise _missing(workflow_id, ctx.app)
            stored = json.loads(row["body"])
            sent_nodes = patch.get("nodes")
            if sent_nodes is not None and action != "remove":
                sent_nodes = [
                    _node(ctx, connection, app_pk, node, f"{where}.nodes[{position}]")
                    for position, node in enumerate(sent_nodes)
                ]
            elif sent_nodes is not None:
                sent_nodes = [
                    {
                        "id": check_id(
                            require_object(node, f"{where}.nodes[{position}]", _CODE).get("id"),
                            f"{where}.nodes[{position}].id",
                            _CODE,
                        )
                    }
                    for position, node in enumerate(sent_nodes)
                ]
            nodes = patch_nodes(stored.get("nodes") or [], sent_nodes, action)
            _check_graph(nodes, where)
            settings = {key: value for key, value in stored.items() if key != "nodes"}
            if patch.get("metadata") is not None:
                settings["metadata"] = patch_struct(
                    settings.get("metadata") or {}, patch["metadata"], action
                )
            for key in _TEXT_FIELDS:
                if patch.get(key):
                    settings[key] = patch[key]
            connection.execute(
                "UPDATE workflows SET body = ?, modified_at = ? WHERE app = ? AND id = ?",
                (json.dumps({"nodes": nodes, **settings}), modified_at, app_pk, workflow_id),
            )
        rows = [find_workflow(connection, app_pk, w["id"]) for w in workflows]
    return {"workflows": [workflow_json(row, ctx.app) for row in rows if row is not None]}


@routes.delete("workflows/{workflow_id}")
def delete_workflow(ctx: RequestContext, workflow_id: str) -> dict[str, Any]:
    """``DELETE /v2/workflows/{id}``."""
    body = ctx.body(DELETE_ONE, code=status.WORKFLOW_INVALID_REQUEST)
    check_body_id(body, "workflow_id", workflow_id, _CODE)
    require_writable(ctx.app)
    app_pk = request_app_pk(ctx)
    with ctx.store.transaction() as connection:
        if find_workflow(connection, app_pk, workflow_id) is None:
            raise _missing(workflow_id, ctx.app)
        connection.execute("DELETE FROM workflows WHERE app = ? AND id = ?", (app_pk, workflow_id))
    return {}


@routes.delete("workflows")
def delete_workflows(ctx: RequestContext) -> dict[str, Any]:
    """``DELETE /v2/workflows``: the workflows ``ids``, or all of them with ``delete_all``."""
    body = ctx.body(DELETE_WORKFLOWS, code=status.WORKFLOW_INVALID_REQUEST)
    ids, delete_all = ids_to_delete(body, "workflows", _CODE)
    require_writable(ctx.app)
    app_pk = request_app_pk(ctx)
    with ctx.store.transaction() as connection:
        if delete_all:
            connection.execute("DELETE FROM workflows WHERE app = ?", (app_pk,))
            return {}
        for index, workflow_id in enumerate(ids):
            check_id(workflow_id, f"ids[{index}]", _CODE)
            if find_workflow(connection, app_pk, workflow_id) is None:
                raise _missing(workflow_id, ctx.app)
        connection.executemany(
            "DELETE FROM workflows WHERE app = ? AND id = ?",
            [(app_pk, workflow_id) for workflow_id in ids],
        )
    return {}
