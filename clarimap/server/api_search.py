"""Routes: searches (wire reference, section 7).

* ``POST /v2/searches``: the legacy dialect sent by clarifai 2.6.2 (``query.ands``).
* ``POST /v2/inputs/searches``: the current dialect (``searches[].query.filters/ranks``, with
  ``only_count``); answers ``hits`` and ``hit_counts``.
* ``POST /v2/annotations/searches``: the same search; every hit also carries the input's
  annotation. The local server keeps one annotation an input (its user data: concepts,
  metadata, geo, regions), whose id is the input's id.

The engine is :mod:`clarimap.server.search`; this module validates bodies (an unknown field or a
wrong type is ``40002``), runs the search and renders the hits.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from clarimap.server import search, status
from clarimap.server.api_inputs import load_inputs
from clarimap.server.errors import ApiError
from clarimap.server.routing import RequestContext, parse_pagination, routes
from clarimap.server.schema import (
    ANY,
    BOOL,
    DATA,
    INPUT,
    PAGINATION,
    STATUS,
    STR,
    STRUCT,
    ListOf,
    Obj,
    request,
)
from clarimap.server.store import new_id

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 128

ANNOTATION = Obj(
    id=STR,
    input_id=STR,
    data=DATA,
    annotation_info=STRUCT,
    user_id=STR,
    app_id=STR,
    created_at=STR,
    modified_at=STR,
    status=STATUS,
    model_version_id=STR,
    embed_model_version_id=STR,
    trusted=BOOL,
    task_id=STR,
    consensus_info=ANY,
    input_level=BOOL,
    worker=ANY,
)
TIME_RANGE = Obj(start_time=STR, end_time=STR)
FILTER = Obj(annotation=ANNOTATION, input=INPUT, negate=BOOL, last_updated_time_range=TIME_RANGE)
RANK = Obj(annotation=ANNOTATION, negate=BOOL)
QUERY = Obj(filters=ListOf(FILTER), ranks=ListOf(RANK), language=STR)
SEARCH = Obj(
    id=STR,
    query=QUERY,
    app_id=STR,
    user_id=STR,
    name=STR,
    created_at=STR,
    modified_at=STR,
    as_of=STR,
    git_hash=STR,
    save=BOOL,
    min_value=ANY,
    visibility=ANY,
    metric=ANY,
    algorithm=STR,
    metadata=STRUCT,
)
CURRENT_REQUEST = request(searches=ListOf(SEARCH), pagination=PAGINATION, only_count=BOOL)

LEGACY_OUTPUT = Obj(id=STR, input=INPUT, data=DATA, created_at=STR, status=STATUS, model=ANY)
LEGACY_TERM = Obj(input=INPUT, output=LEGACY_OUTPUT)
LEGACY_REQUEST = request(query=Obj(ands=ListOf(LEGACY_TERM), language=STR), pagination=PAGINATION)


def _pagination(body: dict[str, Any]) -> tuple[int, int]:
    pagination = body.get("pagination") or {}
    try:
        return parse_pagination(
            pagination.get("page"), pagination.get("per_page"), DEFAULT_PER_PAGE, MAX_PER_PAGE
        )
    except ApiError as error:
        raise ApiError(status.SEARCH_INVALID_REQUEST, f"pagination: {error.details}") from None


@routes.post("searches")
def legacy_search(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/searches``: ``{"query": {"ands": [...]}, "pagination"}`` -> ``id``, ``hits``."""
    body = ctx.body(LEGACY_REQUEST, code=status.SEARCH_INVALID_REQUEST)
    page, per_page = _pagination(body)
    parsed = search.parse_legacy(body.get("query") or {})
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    result = search.run(ctx.server, app_pk, parsed, page, per_page)
    return {
        "status": status.envelope(status.SUCCESS),
        "id": new_id(),
        "hits": _render_hits(ctx, result.hits, annotations=False),
    }


def _current(ctx: RequestContext, *, annotations: bool) -> dict[str, Any]:
    body = ctx.body(CURRENT_REQUEST, code=status.SEARCH_INVALID_REQUEST)
    page, per_page = _pagination(body)
    searches = body.get("searches") or []
    if len(searches) > 1:
        raise ApiError(
            status.SEARCH_INVALID_REQUEST,
            f"searches: the local server runs one search a request, got {len(searches)}",
        )
    search_body = searches[0] if searches else {}
    parsed = search.parse_current(search_body)
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    only_count = bool(body.get("only_count"))
    result = search.run(ctx.server, app_pk, parsed, page, per_page, count_only=only_count)
    search_id = new_id()
    echo = {**search_body, "id": search_body.get("id") or search_id}
    return {
        "status": status.envelope(status.SUCCESS),
        "id": search_id,
        "hits": _render_hits(ctx, result.hits, annotations=annotations),
        "searches": [echo],
        "hit_counts": [{"estimated_total": result.total}],
    }


@routes.post("inputs/searches")
def input_search(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/inputs/searches``: filters and ranks -> ``hits`` and ``hit_counts``."""
    return _current(ctx, annotations=False)


@routes.post("annotations/searches")
def annotation_search(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/annotations/searches``: as inputs searches, each hit with its annotation."""
    return _current(ctx, annotations=True)


def _render_hits(
    ctx: RequestContext, hits: list[tuple[int, float]], *, annotations: bool
) -> list[dict[str, Any]]:
    if not hits:
        return []
    seqs = [seq for seq, _ in hits]
    with ctx.store.read() as connection:
        rendered = render_inputs(connection, seqs)
    answer: list[dict[str, Any]] = []
    for seq, score in hits:
        item = rendered.get(seq)
        if item is None:  # deleted between the search and the rendering
            continue
        hit: dict[str, Any] = {"score": score, "input": item}
        if annotations:
            data = {k: v for k, v in item.get("data", {}).items() if k not in ("image", "video")}
            hit["annotation"] = {
                "id": item["id"],
                "input_id": item["id"],
                "data": data,
                "created_at": item.get("created_at"),
                "modified_at": item.get("modified_at"),
                "status": {"code": 24150, "description": "Annotation success"},
            }
        answer.append(hit)
    return answer


def render_inputs(connection: sqlite3.Connection, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """The wire JSON of the inputs with these seqs, by seq (rendered as the inputs routes do)."""
    rendered = load_inputs(connection, seqs)
    return {seq: item for seq, item in zip(_present(connection, seqs), rendered, strict=True)}


def _present(connection: sqlite3.Connection, seqs: list[int]) -> list[int]:
    found = {
        int(row[0])
        for row in connection.execute(
            "SELECT seq FROM inputs WHERE seq IN (SELECT value FROM json_each(?))",
            (json.dumps(seqs),),
        )
    }
    return [seq for seq in seqs if seq in found]
