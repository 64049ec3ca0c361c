"""Routes: concepts (wire reference, section 5, endpoints 26-30).

Concepts live in the ``concepts`` table (one row an app and id: the name in the concept's own
language) and ``concept_translations`` (names in other languages). The inputs handlers and the
model handlers add the concepts they mention with ``INSERT OR IGNORE`` (:func:`ensure_concepts`).

The helpers the route modules share (id checks, paging, wildcards, the public app's guard) are
in :mod:`clarimap.server._handlers`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from clarimap.server import status
from clarimap.server._handlers import (
    Items,
    check_id,
    page_slice,
    request_app_pk,
    require_writable,
    search_pagination,
    sql_offset,
    wildcard_matcher,
)
from clarimap.server.errors import ApiError
from clarimap.server.routing import AppRef, RequestContext, routes
from clarimap.server.schema import (
    ANY,
    BOOL,
    CONCEPT,
    PAGINATION,
    STR,
    ListOf,
    Obj,
    request,
)
from clarimap.server.store import now

MAX_BATCH = 128
DEFAULT_LANGUAGE = "en"


def ensure_concepts(
    connection: sqlite3.Connection, app_pk: int, concepts: Iterable[tuple[str, str | None]]
) -> None:
    """Add the concepts ``(id, name or None)`` an app does not have yet (name defaults to id)."""
    created_at = now()
    connection.executemany(
        "INSERT OR IGNORE INTO concepts (app, id, name, language, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(app_pk, cid, name or cid, DEFAULT_LANGUAGE, created_at) for cid, name in concepts],
    )


def concept_json(
    row: sqlite3.Row, app_id: str, *, name: str | None = None, language: str | None = None
) -> dict[str, Any]:
    """The wire JSON of a ``concepts`` row (``name``/``language`` override for a translation)."""
    return {
        "id": row["id"],
        "name": name if name is not None else row["name"],
        "value": 1.0,
        "created_at": row["created_at"],
        "language": language if language is not None else row["language"],
        "app_id": app_id,
    }


def concepts_by_id(
    connection: sqlite3.Connection, app_pk: int, app_id: str, ids: Iterable[str]
) -> list[dict[str, Any]]:
    """The wire JSON of the app's concepts ``ids``, in the given order (missing ones by id)."""
    wanted = list(ids)
    rows: dict[str, sqlite3.Row] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in connection.execute(
            f"SELECT * FROM concepts WHERE app = ? AND id IN ({marks})", (app_pk, *chunk)
        ):
            rows[row["id"]] = row
    result = []
    for cid in wanted:
        row = rows.get(cid)
        if row is not None:
            result.append(concept_json(row, app_id))
        else:  # not expected: concepts are created with the models that use them
            result.append(
                {
                    "id": cid,
                    "name": cid,
                    "value": 1.0,
                    "created_at": now(),
                    "language": DEFAULT_LANGUAGE,
                    "app_id": app_id,
                }
            )
    return result


# ---------------------------------------------------------------------------------------------
# request shapes

CREATE_CONCEPTS = request(concepts=Items(CONCEPT, max_items=MAX_BATCH))
PATCH_CONCEPTS = request(action=STR, concepts=Items(CONCEPT, max_items=MAX_BATCH))
CONCEPT_QUERY = Obj(
    name=STR,
    language=STR,
    id=STR,
    workflow_id=STR,
    use_cases=ListOf(STR),
    model=ANY,
    workflow=ANY,
    ignore_app_concepts=BOOL,
)
SEARCH_CONCEPTS = request(concept_query=CONCEPT_QUERY, pagination=PAGINATION)

_CODE = status.CONCEPTS_INVALID_REQUEST


def _not_found(concept_id: str, app: AppRef) -> ApiError:
    return ApiError(
        status.CONN_DOES_NOT_EXIST,
        f"concept {concept_id!r} does not exist in app {app.user_id}/{app.app_id}",
    )


# ---------------------------------------------------------------------------------------------
# routes


@routes.get("concepts")
def list_concepts(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/concepts?page&per_page``: the app's concepts in creation order."""
    page, per_page = ctx.page()
    app_pk = request_app_pk(ctx)
    with ctx.store.read() as connection:
        rows = connection.execute(
            "SELECT * FROM concepts WHERE app = ? ORDER BY rowid LIMIT ? OFFSET ?",
            (app_pk, per_page, sql_offset(page, per_page)),
        ).fetchall()
    return {"concepts": [concept_json(row, ctx.app.app_id) for row in rows]}


@routes.get("concepts/{concept_id}")
def get_concept(ctx: RequestContext, concept_id: str) -> dict[str, Any]:
    """``GET /v2/concepts/{id}``: one concept, 404 if the app has no such concept."""
    app_pk = request_app_pk(ctx)
    with ctx.store.read() as connection:
        row = connection.execute(
            "SELECT * FROM concepts WHERE app = ? AND id = ?", (app_pk, concept_id)
        ).fetchone()
    if row is None:
        raise _not_found(concept_id, ctx.app)
    return {"concept": concept_json(row, ctx.app.app_id)}


@routes.post("concepts")
def create_concepts(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/concepts``: create concepts; an existing id fails the request (400 + 40003)."""
    body = ctx.body(CREATE_CONCEPTS, code=_CODE)
    require_writable(ctx.app)
    concepts = body.get("concepts")
    if not concepts:
        raise ApiError(_CODE, 'concepts: send at least one concept, as {"concepts": [{"id": ...}]}')
    seen: set[str] = set()
    for index, concept in enumerate(concepts):
        cid = check_id(concept.get("id"), f"concepts[{index}].id", _CODE)
        if cid in seen:
            raise ApiError(_CODE, f"concepts[{index}].id: {cid!r} appears twice in the request")
        seen.add(cid)
        name = concept.get("name")
        if name is not None and not name.strip():
            raise ApiError(_CODE, f"concepts[{index}].name: a name cannot be blank")
    app_pk = request_app_pk(ctx)
    created_at = now()
    with ctx.store.transaction() as connection:
        marks = ",".join("?" * len(seen))
        existing = [
            row[0]
            for row in connection.execute(
                f"SELECT id FROM concepts WHERE app = ? AND id IN ({marks})", (app_pk, *seen)
            )
        ]
        if existing:
            raise ApiError(
                _CODE,
                f"concept {sorted(existing)[0]!r} already exists in app "
                f"{ctx.app.user_id}/{ctx.app.app_id}",
            )
        for concept in concepts:
            cid = concept["id"]
            name = concept.get("name") or cid
            language = concept.get("language") or DEFAULT_LANGUAGE
            connection.execute(
                "INSERT INTO concepts (app, id, name, language, created_at) VALUES (?, ?, ?, ?, ?)",
                (app_pk, cid, name, language, created_at),
            )
            if concept.get("language"):
                connection.execute(
                    "INSERT OR REPLACE INTO concept_translations (app, concept_id, language, name) "
                    "VALUES (?, ?, ?, ?)",
                    (app_pk, cid, language, name),
                )
        rows = {
            row["id"]: row
            for row in connection.execute(
                f"SELECT * FROM concepts WHERE app = ? AND id IN ({marks})", (app_pk, *seen)
            )
        }
    return {"concepts": [concept_json(rows[c["id"]], ctx.app.app_id) for c in concepts]}


@routes.patch("concepts")
def patch_concepts(ctx: RequestContext) -> dict[str, Any]:
    """``PATCH /v2/concepts``: action ``overwrite`` renames concepts (in ``language`` if sent)."""
    body = ctx.body(PATCH_CONCEPTS, code=_CODE)
    require_writable(ctx.app)
    action = body.get("action")
    if action != "overwrite":
        raise ApiError(
            _CODE,
            f"action: concepts can only be patched with action 'overwrite', got {action!r}",
        )
    concepts = body.get("concepts")
    if not concepts:
        raise ApiError(_CODE, 'concepts: send the concepts to rename, as [{"id", "name"}]')
    for index, concept in enumerate(concepts):
        check_id(concept.get("id"), f"concepts[{index}].id", _CODE)
        name = concept.get("name")
        if not name or not name.strip():
            raise ApiError(_CODE, f"concepts[{index}].name: the new name is required")
    app_pk = request_app_pk(ctx)
    answer = []
    with ctx.store.transaction() as connection:
        for concept in concepts:
            cid = concept["id"]
            row = connection.execute(
                "SELECT * FROM concepts WHERE app = ? AND id = ?", (app_pk, cid)
            ).fetchone()
            if row is None:
                raise _not_found(cid, ctx.app)
            language = concept.get("language") or row["language"]
            if language == row["language"]:
                connection.execute(
                    "UPDATE concepts SET name = ? WHERE app = ? AND id = ?",
                    (concept["name"], app_pk, cid),
                )
            if concept.get("language"):
                connection.execute(
                    "INSERT OR REPLACE INTO concept_translations (app, concept_id, language, name) "
                    "VALUES (?, ?, ?, ?)",
                    (app_pk, cid, language, concept["name"]),
                )
            answer.append((cid, language, concept["name"]))
        rows = {
            row["id"]: row
            for row in connection.execute("SELECT * FROM concepts WHERE app = ?", (app_pk,))
            if row["id"] in {cid for cid, _, _ in answer}
        }
    return {
        "concepts": [
            concept_json(rows[cid], ctx.app.app_id, name=name, language=language)
            for cid, language, name in answer
        ]
    }


@routes.post("concepts/searches")
def search_concepts(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/concepts/searches``: concepts whose name (in ``language``) matches a pattern."""
    body = ctx.body(SEARCH_CONCEPTS, code=_CODE)
    query = body.get("concept_query") or {}
    for unsupported in ("workflow_id", "use_cases", "model", "workflow", "ignore_app_concepts"):
        if query.get(unsupported):
            raise ApiError(
                _CODE,
                f"concept_query.{unsupported}: not supported by the local server "
                "(it searches the app's concepts by name, id and language)",
            )
    page, per_page = search_pagination(body)
    matches = wildcard_matcher(query.get("name"))
    wanted_id = query.get("id")
    language = query.get("language") or None
    app_pk = request_app_pk(ctx)
    found: list[dict[str, Any]] = []
    with ctx.store.read() as connection:
        translations: dict[str, str] = {}
        if language:
            translations = {
                row["concept_id"]: row["name"]
                for row in connection.execute(
                    "SELECT concept_id, name FROM concept_translations "
                    "WHERE app = ? AND language = ?",
                    (app_pk, language),
                )
            }
        for row in connection.execute(
            "SELECT * FROM concepts WHERE app = ? ORDER BY rowid", (app_pk,)
        ):
            if wanted_id and row["id"] != wanted_id:
                continue
            if language is None or language == row["language"]:
                name, shown_language = row["name"], row["language"]
                name = translations.get(row["id"], name)
            elif row["id"] in translations:
                name, shown_language = translations[row["id"]], language
            else:
                continue
            if matches(name):
                found.append(concept_json(row, ctx.app.app_id, name=name, language=shown_language))
    return {"concepts": page_slice(found, page, per_page)}
