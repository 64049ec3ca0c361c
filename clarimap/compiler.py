"""Query -> request: the body of a search endpoint, one function per dialect, no I/O.

* :func:`compile_current`: ``POST /v2/inputs/searches`` with ``searches[0].query.filters`` and
  ``ranks`` (wire reference, section 7.2), the default;
* :func:`compile_legacy`: ``POST /v2/searches`` with ``query.ands`` (section 7.1), the terms
  exactly as clarifai 2.6.2 writes them;
* :func:`compile_concepts`, :func:`compile_models`, :func:`compile_workflows`: the concept search
  (or list), the model search (or list) and the workflow list.

:func:`compile_query` picks the function for a query; :func:`read_results` reads an answer back
into ``(score, wire object)`` pairs. Anything the chosen endpoint cannot express raises
:class:`clarimap.query.QueryError` here, before anything is sent.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from clarimap.converters import format_timestamp, struct_to_wire
from clarimap.entities import Concept, GeoBox, GeoLimit, GeoPoint, Input, Model, Workflow
from clarimap.query import (
    And,
    ConceptCondition,
    Condition,
    GeoBoxCondition,
    GeoRadiusCondition,
    IdCondition,
    MetadataCondition,
    ModifiedCondition,
    Not,
    PredictedRank,
    QueryError,
    UrlCondition,
)

if TYPE_CHECKING:
    from clarimap.query import Dialect, Query, Rank

__all__ = [
    "CompiledRequest",
    "compile_concepts",
    "compile_count",
    "compile_current",
    "compile_legacy",
    "compile_models",
    "compile_query",
    "compile_workflows",
    "read_results",
]

JSON = dict[str, Any]

GEO_LIMIT_TYPES = {
    "miles": "withinMiles",
    "kilometers": "withinKilometers",
    "degrees": "withinDegrees",
    "radians": "withinRadians",
}


@attrs.frozen
class CompiledRequest:
    """One call: method, path relative to the app, JSON body, query pairs."""

    method: str
    path: str
    body: JSON | None = None
    query: tuple[tuple[str, str], ...] = ()
    #: False when the endpoint answers everything at once (no pages to follow).
    paginated: bool = True


def compile_query(
    query: Query[Any], dialect: Dialect, *, page: int, per_page: int
) -> CompiledRequest:
    """The request for page ``page`` of ``query``."""
    if query.entity is Input:
        if dialect == "legacy":
            return compile_legacy(query, page=page, per_page=per_page)
        if dialect == "current":
            return compile_current(query, page=page, per_page=per_page)
        raise QueryError(f"unknown dialect {dialect!r}; use 'current' or 'legacy'")
    if query.entity is Concept:
        return compile_concepts(query, page=page, per_page=per_page)
    if query.entity is Model:
        return compile_models(query, page=page, per_page=per_page)
    if query.entity is Workflow:
        return compile_workflows(query, page=page, per_page=per_page)
    raise QueryError(f"cannot query {query.entity!r}")


def _pagination(page: int, per_page: int) -> JSON:
    return {"page": page, "per_page": per_page}


# ---------------------------------------------------------------------------------------------
# the current dialect


def compile_current(query: Query[Any], *, page: int, per_page: int) -> CompiledRequest:
    """``POST inputs/searches`` with filters and ranks."""
    search_query: JSON = {}
    filters = [_current_filter(condition) for condition in _flatten(query.conditions)]
    if filters:
        search_query["filters"] = filters
    ranks = [_current_rank(rank) for rank in query.ranks]
    if ranks:
        search_query["ranks"] = ranks
    if query.language_code:
        search_query["language"] = query.language_code
    body: JSON = {"searches": [{"query": search_query}], "pagination": _pagination(page, per_page)}
    return CompiledRequest("POST", "inputs/searches", body)


def compile_count(query: Query[Any]) -> CompiledRequest:
    """The current dialect's ``only_count`` request for ``query``."""
    request = compile_current(query, page=1, per_page=1)
    assert request.body is not None
    body = {**request.body, "only_count": True}
    del body["pagination"]
    return attrs.evolve(request, body=body, paginated=False)


def _flatten(conditions: tuple[Condition, ...]) -> list[Condition]:
    flat: list[Condition] = []
    for condition in conditions:
        flat.extend(condition.parts if isinstance(condition, And) else (condition,))
    return flat


def _current_filter(condition: Condition) -> JSON:
    if isinstance(condition, Not):
        inner = condition.part
        parts = list(inner.parts) if isinstance(inner, And) else [inner]
        if any(isinstance(part, (Not, And)) for part in parts):
            raise QueryError(
                "a negated group may hold plain conditions only: ~(a & ~b) cannot be expressed "
                "as search filters"
            )
        merged = _merge_filters([_current_filter(part) for part in parts])
        merged["negate"] = True
        return merged
    if isinstance(condition, ConceptCondition):
        return {"annotation": {"data": {"concepts": [_concept(condition)]}}}
    if isinstance(condition, MetadataCondition):
        return {"annotation": {"data": {"metadata": struct_to_wire(dict(condition.metadata))}}}
    if isinstance(condition, (GeoRadiusCondition, GeoBoxCondition)):
        return {"annotation": {"data": {"geo": _geo(condition)}}}
    if isinstance(condition, IdCondition):
        return {"input": {"id": condition.input_id}}
    if isinstance(condition, UrlCondition):
        return {"input": {"data": {"image": {"url": condition.url}}}}
    if isinstance(condition, ModifiedCondition):
        return {"last_updated_time_range": _time_range(condition)}
    raise QueryError(f"cannot compile the condition {condition!r}")


def _time_range(condition: ModifiedCondition) -> JSON:
    time_range: JSON = {}
    if condition.after is not None:
        time_range["start_time"] = format_timestamp(condition.after)
    if condition.before is not None:
        time_range["end_time"] = format_timestamp(condition.before)
    return time_range


def _merge_filters(filters: list[JSON]) -> JSON:
    """One filter holding the conditions of several (for a negated group ``~(a & b)``)."""
    merged: JSON = {}
    for item in filters:
        for wrapper, content in item.items():
            if wrapper == "last_updated_time_range":
                if wrapper in merged:
                    raise QueryError("a negated group can hold one modified_after/before condition")
                merged[wrapper] = content
                continue
            target = merged.setdefault(wrapper, {})
            if "id" in content:
                if "id" in target:
                    raise QueryError("a negated group can name one input id")
                target["id"] = content["id"]
            data = target.setdefault("data", {}) if "data" in content else None
            for key, value in (content.get("data") or {}).items():
                assert data is not None
                if key == "concepts":
                    data.setdefault("concepts", []).extend(value)
                elif key in data:
                    raise QueryError(
                        f"a negated group can hold one {key} condition; "
                        "combine them into one (e.g. one metadata subset)"
                    )
                else:
                    data[key] = value
    return merged


def _current_rank(rank: Rank) -> JSON:
    if isinstance(rank, PredictedRank):
        return {"annotation": {"data": {"concepts": [_concept(rank)]}}}
    annotation: JSON = {}
    image: JSON = {}
    if rank.input_id is not None:
        annotation["input_id"] = rank.input_id
    elif rank.url is not None:
        image["url"] = rank.url
    else:
        assert rank.image_bytes is not None
        image["base64"] = base64.b64encode(rank.image_bytes).decode("ascii")
    if rank.crop is not None:
        image["crop"] = list(rank.crop)
    if image:
        annotation["data"] = {"image": image}
    return {"annotation": annotation}


def _concept(item: ConceptCondition | PredictedRank) -> JSON:
    concept: JSON = {item.by: item.concept, "value": 1.0 if item.positive else 0.0}
    if item.language:
        concept["language"] = item.language
    return concept


def _geo(condition: GeoRadiusCondition | GeoBoxCondition) -> JSON:
    if isinstance(condition, GeoRadiusCondition):
        return {"geo_point": _point(condition.point), "geo_limit": _limit(condition.limit)}
    return {"geo_box": _box(condition.box)}


def _point(point: GeoPoint) -> JSON:
    return {"longitude": point.longitude, "latitude": point.latitude}


def _limit(limit: GeoLimit) -> JSON:
    kind = GEO_LIMIT_TYPES.get(limit.unit)
    if kind is None:
        raise QueryError(
            f"unknown geo unit {limit.unit!r}; use one of {', '.join(GEO_LIMIT_TYPES)}"
        )
    return {"type": kind, "value": float(limit.value)}


def _box(box: GeoBox) -> list[JSON]:
    return [{"geo_point": _point(box.corner1)}, {"geo_point": _point(box.corner2)}]


# ---------------------------------------------------------------------------------------------
# the legacy dialect


def compile_legacy(query: Query[Any], *, page: int, per_page: int) -> CompiledRequest:
    """``POST searches`` with ``query.ands``, the terms as clarifai 2.6.2 writes them."""
    language = query.language_code
    ands: list[JSON] = []
    for condition in _flatten(query.conditions):
        if isinstance(condition, ConceptCondition) and condition.language:
            if language not in (None, condition.language):
                raise QueryError(
                    "the legacy dialect has one language a query: "
                    f"{language!r} and {condition.language!r} were asked"
                )
            language = condition.language
        ands.append({"input": _legacy_input(condition)})
    for rank in query.ranks:
        if isinstance(rank, PredictedRank) and rank.language:
            if language not in (None, rank.language):
                raise QueryError(
                    "the legacy dialect has one language a query: "
                    f"{language!r} and {rank.language!r} were asked"
                )
            language = rank.language
        ands.append({"output": _legacy_output(rank)})
    body_query: JSON = {"ands": ands}
    if language:
        body_query["language"] = language
    return CompiledRequest(
        "POST", "searches", {"query": body_query, "pagination": _pagination(page, per_page)}
    )


def _legacy_input(condition: Condition) -> JSON:
    if isinstance(condition, Not):
        raise QueryError(
            "the legacy dialect cannot negate a filter (~...): use the current dialect, or "
            "value=False for a negative annotation"
        )
    if isinstance(condition, ConceptCondition):
        concept = {condition.by: condition.concept, "value": 1.0 if condition.positive else 0.0}
        return {"data": {"concepts": [concept]}}
    if isinstance(condition, MetadataCondition):
        return {"data": {"metadata": struct_to_wire(dict(condition.metadata))}}
    if isinstance(condition, (GeoRadiusCondition, GeoBoxCondition)):
        return {"data": {"geo": _geo(condition)}}
    if isinstance(condition, IdCondition):
        return {"id": condition.input_id, "data": {"image": {}}}
    if isinstance(condition, UrlCondition):
        return {"data": {"image": {"url": condition.url}}}
    if isinstance(condition, ModifiedCondition):
        raise QueryError(
            "the legacy dialect (POST /v2/searches) has no time filter: modified_after= and "
            "modified_before= need the current dialect"
        )
    raise QueryError(f"cannot compile the condition {condition!r}")


def _legacy_output(rank: Rank) -> JSON:
    if isinstance(rank, PredictedRank):
        concept = {rank.by: rank.concept, "value": 1.0 if rank.positive else 0.0}
        return {"data": {"concepts": [concept]}}
    image: JSON = {}
    if rank.url is not None:
        image["url"] = rank.url
    elif rank.image_bytes is not None:
        image["base64"] = base64.b64encode(rank.image_bytes).decode("ascii")
    if rank.crop is not None:
        image["crop"] = list(rank.crop)
    if rank.input_id is not None:
        return {"input": {"id": rank.input_id, "data": {"image": image}}}
    return {"input": {"data": {"image": image}}}


# ---------------------------------------------------------------------------------------------
# concepts, models, workflows


def _no_input_parts(query: Query[Any], what: str) -> None:
    if query.conditions or query.ranks:
        raise QueryError(f"a {what} query takes no input filters or ranks")


def compile_concepts(query: Query[Any], *, page: int, per_page: int) -> CompiledRequest:
    """``POST concepts/searches`` for a name pattern, else ``GET concepts``."""
    _no_input_parts(query, "concept")
    if query.name_pattern is None:
        if query.language_code:
            raise QueryError("language= needs name= (it selects which names are matched)")
        return CompiledRequest(
            "GET", "concepts", None, (("page", str(page)), ("per_page", str(per_page)))
        )
    concept_query: JSON = {"name": query.name_pattern}
    if query.language_code:
        concept_query["language"] = query.language_code
    body = {"concept_query": concept_query, "pagination": _pagination(page, per_page)}
    return CompiledRequest("POST", "concepts/searches", body)


def compile_models(query: Query[Any], *, page: int, per_page: int) -> CompiledRequest:
    """``POST models/searches`` for a name pattern or type, else ``GET models``."""
    _no_input_parts(query, "model")
    if query.name_pattern is None and query.model_type is None:
        return CompiledRequest(
            "GET", "models", None, (("page", str(page)), ("per_page", str(per_page)))
        )
    model_query: JSON = {}
    if query.name_pattern is not None:
        model_query["name"] = query.name_pattern
    if query.model_type is not None:
        model_query["type"] = query.model_type
    body = {"model_query": model_query, "pagination": _pagination(page, per_page)}
    return CompiledRequest("POST", "models/searches", body)


def compile_workflows(query: Query[Any], *, page: int, per_page: int) -> CompiledRequest:
    """``GET workflows`` (a workflow query only lists)."""
    _no_input_parts(query, "workflow")
    if query.name_pattern is not None or query.model_type is not None or query.language_code:
        raise QueryError("workflows can only be listed: a workflow query takes no filters")
    return CompiledRequest(
        "GET", "workflows", None, (("page", str(page)), ("per_page", str(per_page)))
    )


# ---------------------------------------------------------------------------------------------
# answers


_RESULT_KEYS = {Concept: "concepts", Model: "models", Workflow: "workflows"}


def read_results(query: Query[Any], body: Mapping[str, Any]) -> list[tuple[float, JSON]]:
    """``(score, wire object)`` for every result in an answer to ``query``'s request."""
    if query.entity is Input:
        return [(float(hit.get("score", 0.0)), hit["input"]) for hit in body.get("hits") or []]
    key = _RESULT_KEYS[query.entity]
    return [(1.0, item) for item in body.get(key) or []]
