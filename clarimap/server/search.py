"""The search engine of the local server: parse a search request, find and rank the inputs.

Both request dialects of the wire reference (section 7) are parsed into one :class:`Search`: a
list of filters, ANDed, that restrict the candidate set, then a list of ranks that order it.
:func:`parse_legacy` reads ``POST /v2/searches`` (``query.ands``), :func:`parse_current` reads one
entry of ``POST /v2/inputs/searches`` (``searches[].query.filters/ranks``). :func:`run` executes a
search against the store and returns the total and one page of ``(seq, score)`` hits. The route
handlers of :mod:`clarimap.server.api_search` call these.

Semantics (section 7 and the rules of 7.3):

* Filters run in SQL against the index tables that ``store.index_input`` keeps:
  ``input_concepts`` (annotated concepts; value 1 = positive, 0 = negative annotation),
  ``input_metadata`` (one row per leaf; a query is a deep subset, every leaf of it must be
  present), ``input_geo`` (a latitude range scan, then the exact great-circle test in numpy),
  and ``inputs`` itself for ids, original URLs, processing status codes and modification times
  (``last_updated_time_range``: RFC 3339, inclusive, on the input's ``modified_at``). A
  filter's conditions are ANDed; ``negate`` takes the complement within the app. Concept names resolve to ids through
  the app's concepts (in the query's language when one is given); a concept the app has no
  record of is named by its id. A concept, id or URL that does not exist matches nothing.
* Filter-only searches give every hit the score 1.0, in insertion order.
* Ranks: a predicted concept scores an input by the value the app's base concept model
  predicted for it at processing time (0 if the stored predictions lack the concept; ``1 - value``
  for a rank with concept value 0, "absence"); visual similarity scores by the cosine between the
  query image's vector and the input's stored vector of the base embedding. Ranked searches
  consider the filtered inputs that carry what the ranks need (processed successfully; a stored
  vector), score each by the mean of its rank scores (``negate`` turns a score ``s`` into
  ``1 - s``) and sort by score, descending, then insertion order.

Visual search scores against the in-memory vector index (:mod:`clarimap.server.vectors`): over
the whole app, one matrix-vector product; with filters, a product over the candidates' rows only,
so its cost is proportional to the candidate set. A page of a ranked search takes the top
``page * per_page`` with ``np.argpartition`` rather than sorting every score.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs
import numpy as np

from clarimap.server import status, vectors
from clarimap.server.embedding import Vector
from clarimap.server.errors import ApiError
from clarimap.server.store import canonical_json, metadata_leaves

if TYPE_CHECKING:
    from PIL.Image import Image

    from clarimap.server.app import ServerApp

EARTH_RADIUS_KM = 6371.0
KM_PER_MILE = 1.609344
GEO_LIMIT_TYPES = ("withinMiles", "withinKilometers", "withinDegrees", "withinRadians")


def _bad(details: str) -> ApiError:
    return ApiError(status.SEARCH_INVALID_REQUEST, details)


# ---------------------------------------------------------------------------------------------
# the parsed search


@attrs.frozen
class ConceptTerm:
    """An annotated (filter) or predicted (rank) concept, by id or by name."""

    concept_id: str | None
    name: str | None
    positive: bool
    language: str | None


@attrs.frozen
class MetadataTerm:
    """A deep subset of the input's metadata."""

    metadata: dict[str, Any]


@attrs.frozen
class GeoRadiusTerm:
    """Inputs within ``angle`` radians of central angle from a point (inclusive)."""

    latitude: float
    longitude: float
    angle: float


@attrs.frozen
class GeoBoxTerm:
    """Inputs inside a latitude/longitude rectangle (inclusive)."""

    min_latitude: float
    max_latitude: float
    min_longitude: float
    max_longitude: float


@attrs.frozen
class InputIdTerm:
    input_id: str


@attrs.frozen
class UrlTerm:
    """The input's original URL, exactly."""

    url: str


@attrs.frozen
class TimeRangeTerm:
    """Inputs last modified within [start, end], inclusive; either end may be open.

    Both ends are UTC timestamps in the store's format (``2024-05-01T12:00:00.000000Z``), so
    they compare with ``inputs.modified_at`` as text.
    """

    start: str | None
    end: str | None


@attrs.frozen
class InputStatusTerm:
    """Inputs whose processing status code is ``code`` (``30000`` processed, ``30001`` pending...)."""

    code: int


Condition = Union[  # noqa: UP007 (attrs/mypy on 3.10)
    ConceptTerm,
    MetadataTerm,
    GeoRadiusTerm,
    GeoBoxTerm,
    InputIdTerm,
    UrlTerm,
    TimeRangeTerm,
    InputStatusTerm,
]


@attrs.frozen
class Filter:
    """Conditions that must all hold (or, negated, not all hold)."""

    conditions: tuple[Condition, ...]
    negate: bool = False


@attrs.frozen
class PredictedRank:
    concept: ConceptTerm
    negate: bool = False


@attrs.frozen
class VisualRank:
    """Similarity to an image given by URL, base64 or input id, optionally cropped."""

    url: str | None = None
    base64: str | None = None
    input_id: str | None = None
    crop: tuple[float, float, float, float] | None = None
    negate: bool = False


Rank = Union[PredictedRank, VisualRank]  # noqa: UP007


@attrs.frozen
class Search:
    filters: tuple[Filter, ...] = ()
    ranks: tuple[Rank, ...] = ()
    language: str | None = None


# ---------------------------------------------------------------------------------------------
# parsing


def parse_legacy(query: dict[str, Any]) -> Search:
    """The search of a legacy ``query`` (``{"ands": [...], "language": ...}``), validated."""
    language = query.get("language") or None
    filters: list[Filter] = []
    ranks: list[Rank] = []
    for index, term in enumerate(query.get("ands") or []):
        where = f"query.ands[{index}]"
        # A field sent as null is an absent field (proto3 JSON).
        if not term or ((term.get("input") is None) == (term.get("output") is None)):
            raise _bad(f"{where}: a term needs exactly one of 'input' (filter) or 'output' (rank)")
        if term.get("input") is not None:
            conditions = _input_conditions(term["input"], f"{where}.input", language, legacy=True)
            filters.append(Filter(tuple(conditions)))
        else:
            ranks.extend(_legacy_output_ranks(term["output"], f"{where}.output", language))
    return Search(tuple(filters), tuple(ranks), language)


def parse_current(search: dict[str, Any]) -> Search:
    """The search of one ``searches[]`` entry (``{"query": {"filters", "ranks", "language"}}``)."""
    query = search.get("query") or {}
    language = query.get("language") or None
    filters: list[Filter] = []
    ranks: list[Rank] = []
    for index, item in enumerate(query.get("filters") or []):
        where = f"searches[0].query.filters[{index}]"
        conditions: list[Condition] = []
        if item.get("annotation") is not None:
            conditions += _annotation_conditions(
                item["annotation"], f"{where}.annotation", language
            )
        if item.get("input") is not None:
            conditions += _input_conditions(item["input"], f"{where}.input", language)
        time_range = item.get("last_updated_time_range")
        if time_range:
            conditions.append(_time_range(time_range, f"{where}.last_updated_time_range"))
        if not conditions:
            raise _bad(f"{where}: the filter names nothing to match")
        filters.append(Filter(tuple(conditions), bool(item.get("negate"))))
    for index, item in enumerate(query.get("ranks") or []):
        where = f"searches[0].query.ranks[{index}]"
        annotation = item.get("annotation")
        if not annotation:
            raise _bad(f"{where}: a rank needs an 'annotation' saying what to rank by")
        ranks.extend(
            _annotation_ranks(annotation, f"{where}.annotation", language, bool(item.get("negate")))
        )
    return Search(tuple(filters), tuple(ranks), language)


_FILTERABLE_DATA = {"concepts", "metadata", "geo", "image"}


def _data_conditions(data: dict[str, Any], where: str, language: str | None) -> list[Condition]:
    conditions: list[Condition] = []
    for key, value in data.items():
        if value is None:
            continue
        if key not in _FILTERABLE_DATA:
            raise _bad(
                f"{where}.{key}: the local server filters on concepts, metadata, geo and "
                "image.url only"
            )
    for index, concept in enumerate(data.get("concepts") or []):
        conditions.append(_concept(concept, f"{where}.concepts[{index}]", language))
    metadata = data.get("metadata")
    if metadata is not None:
        conditions.append(MetadataTerm(metadata))
    geo = data.get("geo")
    if geo is not None:
        conditions.append(_geo(geo, f"{where}.geo"))
    image = data.get("image")
    if image:
        if image.get("base64") or image.get("crop"):
            raise _bad(
                f"{where}.image: an image's content ranks (visual similarity), it cannot filter; "
                "filter by image.url (the original URL) or by input id"
            )
        if image.get("url"):
            conditions.append(UrlTerm(image["url"]))
    return conditions


def _input_conditions(
    item: dict[str, Any], where: str, language: str | None, *, legacy: bool = False
) -> list[Condition]:
    conditions: list[Condition] = []
    if item.get("id"):
        conditions.append(InputIdTerm(item["id"]))
    data = item.get("data")
    if data:
        conditions += _data_conditions(data, f"{where}.data", language)
    input_status = item.get("status")
    if input_status and not legacy:
        conditions.append(_input_status(input_status, f"{where}.status"))
    known = ("id", "data") if legacy else ("id", "data", "status")
    others = sorted(k for k, v in item.items() if k not in known and v)
    if others:
        hint = (
            "; filtering on input status is part of the current dialect (POST /v2/inputs/searches)"
            if "status" in others
            else ""
        )
        raise _bad(
            f"{where}: cannot filter on {', '.join(others)} (only {' and '.join(known)}){hint}"
        )
    if not conditions:
        raise _bad(f"{where}: the term names nothing to match")
    return conditions


def _annotation_conditions(
    annotation: dict[str, Any], where: str, language: str | None
) -> list[Condition]:
    conditions: list[Condition] = []
    if annotation.get("input_id"):
        conditions.append(InputIdTerm(annotation["input_id"]))
    data = annotation.get("data")
    if data:
        conditions += _data_conditions(data, f"{where}.data", language)
    others = sorted(k for k, v in annotation.items() if k not in ("input_id", "data") and v)
    if others:
        raise _bad(f"{where}: cannot filter on {', '.join(others)} (only input_id and data)")
    return conditions


def _annotation_ranks(
    annotation: dict[str, Any], where: str, language: str | None, negate: bool
) -> list[Rank]:
    ranks: list[Rank] = []
    data = annotation.get("data") or {}
    for key, value in data.items():
        if value and key not in ("concepts", "image"):
            raise _bad(
                f"{where}.data.{key}: ranks order by predicted concepts or visual similarity; "
                f"put {key} in a filter"
            )
    for index, concept in enumerate(data.get("concepts") or []):
        term = _concept(concept, f"{where}.data.concepts[{index}]", language)
        ranks.append(PredictedRank(term, negate))
    image = data.get("image")
    input_id = annotation.get("input_id")
    if image or input_id:
        ranks.append(_visual(image or {}, input_id, f"{where}.data.image", negate))
    others = sorted(k for k, v in annotation.items() if k not in ("input_id", "data") and v)
    if others:
        raise _bad(f"{where}: cannot rank by {', '.join(others)}")
    if not ranks:
        raise _bad(f"{where}: the rank names nothing to rank by")
    return ranks


def _legacy_output_ranks(output: dict[str, Any], where: str, language: str | None) -> list[Rank]:
    ranks: list[Rank] = []
    data = output.get("data") or {}
    for key, value in data.items():
        if value and key != "concepts":
            raise _bad(f"{where}.data.{key}: output terms rank by predicted concepts only")
    for index, concept in enumerate(data.get("concepts") or []):
        ranks.append(PredictedRank(_concept(concept, f"{where}.data.concepts[{index}]", language)))
    query_input = output.get("input")
    if query_input:
        extra = sorted(k for k, v in (query_input.get("data") or {}).items() if v and k != "image")
        if extra:
            raise _bad(f"{where}.input.data: only an image can be searched by similarity")
        image = (query_input.get("data") or {}).get("image") or {}
        ranks.append(_visual(image, query_input.get("id"), f"{where}.input.data.image", False))
    others = sorted(k for k, v in output.items() if k not in ("input", "data") and v)
    if others:
        raise _bad(f"{where}: cannot rank by {', '.join(others)}")
    if not ranks:
        raise _bad(f"{where}: the term names nothing to rank by")
    return ranks


def _concept(concept: dict[str, Any], where: str, language: str | None) -> ConceptTerm:
    concept_id = concept.get("id") or None
    name = concept.get("name") or None
    if concept_id is None and name is None:
        raise _bad(f"{where}: a concept needs an id or a name")
    value = concept.get("value", 1.0)
    if value is None:
        value = 1.0
    if value not in (0, 1):
        raise _bad(f"{where}.value: must be 1 (present) or 0 (absent), got {value!r}")
    return ConceptTerm(concept_id, name, value == 1, concept.get("language") or language)


def _geo(geo: dict[str, Any], where: str) -> Condition:
    point = geo.get("geo_point")
    box = geo.get("geo_box")
    if point is not None and box:
        raise _bad(f"{where}: give either geo_point with geo_limit or geo_box, not both")
    if box:
        if len(box) != 2:
            raise _bad(f"{where}.geo_box: needs exactly 2 corners, got {len(box)}")
        corners = [
            _lat_lon(corner.get("geo_point"), f"{where}.geo_box[{i}].geo_point")
            for i, corner in enumerate(box)
        ]
        lats = [c[0] for c in corners]
        lons = [c[1] for c in corners]
        return GeoBoxTerm(min(lats), max(lats), min(lons), max(lons))
    if point is None:
        raise _bad(f"{where}: needs geo_point with geo_limit, or geo_box")
    latitude, longitude = _lat_lon(point, f"{where}.geo_point")
    limit = geo.get("geo_limit")
    if not limit:
        raise _bad(f"{where}.geo_limit: a geo_point filter needs a limit (type and value)")
    kind = limit.get("type")
    value = limit.get("value")
    if kind not in GEO_LIMIT_TYPES:
        raise _bad(
            f"{where}.geo_limit.type: unknown unit {kind!r}; use one of {', '.join(GEO_LIMIT_TYPES)}"
        )
    if value is None or value < 0:
        raise _bad(f"{where}.geo_limit.value: must be a number 0 or more, got {value!r}")
    return GeoRadiusTerm(latitude, longitude, limit_angle(kind, float(value)))


def limit_angle(kind: str, value: float) -> float:
    """A geo limit of ``kind`` (``withinMiles`` ...) as a central angle in radians."""
    if kind == "withinMiles":
        return value * KM_PER_MILE / EARTH_RADIUS_KM
    if kind == "withinKilometers":
        return value / EARTH_RADIUS_KM
    if kind == "withinDegrees":
        return math.radians(value)
    return value


def _lat_lon(point: Any, where: str) -> tuple[float, float]:
    if not point:
        raise _bad(f"{where}: needs latitude and longitude")
    latitude = float(point.get("latitude") or 0.0)
    longitude = float(point.get("longitude") or 0.0)
    if not -90.0 <= latitude <= 90.0:
        raise _bad(f"{where}.latitude: must be within [-90, 90], got {latitude}")
    if not -180.0 <= longitude <= 180.0:
        raise _bad(f"{where}.longitude: must be within [-180, 180], got {longitude}")
    return latitude, longitude


def _visual(image: dict[str, Any], input_id: str | None, where: str, negate: bool) -> VisualRank:
    url = image.get("url") or None
    data = image.get("base64") or None
    given = [name for name, v in (("url", url), ("base64", data), ("input id", input_id)) if v]
    if len(given) != 1:
        raise _bad(
            f"{where}: visual search needs exactly one of an image url, base64 or an input id"
            + (f" (got {', '.join(given)})" if given else "")
        )
    crop = image.get("crop")
    crop_box: tuple[float, float, float, float] | None = None
    if crop:
        if len(crop) != 4:
            raise _bad(f"{where}.crop: needs 4 numbers (top, left, bottom, right), got {len(crop)}")
        top, left, bottom, right = (float(v) for v in crop)
        if not all(0.0 <= v <= 1.0 for v in (top, left, bottom, right)):
            raise _bad(f"{where}.crop: every number must be within [0, 1], got {list(crop)}")
        if not (top < bottom and left < right):
            raise _bad(f"{where}.crop: top must be below bottom and left below right, got {crop}")
        crop_box = (top, left, bottom, right)
    return VisualRank(url, data, input_id, crop_box, negate)


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def _time_range(time_range: dict[str, Any], where: str) -> TimeRangeTerm:
    def parse(value: Any, name: str, *, round_up: bool) -> str | None:
        if not value:
            return None
        text = str(value)
        match = _RFC3339.fullmatch(text)
        if match is None:
            raise _bad(
                f"{where}.{name}: not an RFC 3339 timestamp (e.g. 2024-05-01T12:00:00Z): {text!r}"
            )
        day, clock, fraction, zone = match.groups()
        digits = (fraction or "").ljust(9, "0")
        offset = "+00:00" if zone in ("Z", "z") else zone
        try:
            moment = dt.datetime.fromisoformat(f"{day}T{clock}.{digits[:6]}{offset}")
        except ValueError as error:
            raise _bad(f"{where}.{name}: {text!r} is not a valid time: {error}") from None
        # The store keeps microseconds: a start between two microseconds begins at the next.
        if round_up and int(digits[6:]):
            moment += dt.timedelta(microseconds=1)
        return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return TimeRangeTerm(
        parse(time_range.get("start_time"), "start_time", round_up=True),
        parse(time_range.get("end_time"), "end_time", round_up=False),
    )


def _input_status(value: dict[str, Any], where: str) -> InputStatusTerm:
    from clarimap.server.api_inputs import input_status_code

    others = sorted(k for k, v in value.items() if k not in ("code", "description") and v)
    if others:
        raise _bad(f"{where}: an input status filter matches on code only, got {', '.join(others)}")
    code = value.get("code")
    if code in (None, "", 0):
        raise _bad(f"{where}.code: give the input status code to match (e.g. 30000)")
    if isinstance(code, bool) or not isinstance(code, (int, str)):
        raise _bad(f"{where}.code: expected a status code or its name, got {code!r}")
    number = input_status_code(str(code))
    if number is None:
        raise _bad(
            f"{where}.code: {code!r} is not an input status code or name "
            "(e.g. 30000 or INPUT_DOWNLOAD_SUCCESS)"
        )
    return InputStatusTerm(number)


# ---------------------------------------------------------------------------------------------
# execution


@attrs.frozen
class Result:
    """What a search found: how many inputs match, and the requested page of (seq, score)."""

    total: int
    hits: list[tuple[int, float]]


Sql = tuple[str, list[Any]]


def run(
    server: ServerApp,
    app_pk: int,
    search: Search,
    page: int,
    per_page: int,
    *,
    count_only: bool = False,
) -> Result:
    """Run ``search`` in the app ``app_pk``: the total and the page ``page`` of hits."""
    prepared_ranks = [_prepare_rank(server, app_pk, rank) for rank in search.ranks]
    with server.store.read() as connection:
        candidates = _candidates_sql(connection, app_pk, search)
        if not search.ranks:
            if not count_only and not _single_lookup(search):
                # one pass computes the candidates once for the page and the total
                rows = connection.execute(
                    f"SELECT seq, count(*) OVER () FROM ({candidates[0]}) ORDER BY seq "
                    "LIMIT ? OFFSET ?",
                    [*candidates[1], per_page, (page - 1) * per_page],
                ).fetchall()
                if rows:
                    return Result(int(rows[0][1]), [(int(row[0]), 1.0) for row in rows])
            total = int(
                connection.execute(
                    f"SELECT count(*) FROM ({candidates[0]})", candidates[1]
                ).fetchone()[0]
            )
            if count_only:
                return Result(total, [])
            rows = connection.execute(
                f"SELECT seq FROM ({candidates[0]}) ORDER BY seq LIMIT ? OFFSET ?",
                [*candidates[1], per_page, (page - 1) * per_page],
            ).fetchall()
            return Result(total, [(int(row[0]), 1.0) for row in rows])
        seqs, scores = _rank(server, connection, app_pk, search, candidates, prepared_ranks)
    index = vectors.index_of(server.store)
    if index.log_size > vectors.TRIM_AFTER:
        index.trim(server.store)
    total = len(seqs)
    if count_only:
        return Result(total, [])
    start = (page - 1) * per_page
    chosen = _page_order(seqs, scores, start, start + per_page)
    return Result(total, [(int(seqs[i]), _clean_score(float(scores[i]))) for i in chosen])


def _single_lookup(search: Search) -> bool:
    """Whether the candidates are one index lookup (no filter, or one plain condition).

    Counting those, then reading a page, is cheaper than one windowed query; candidates that
    take several lookups are cheaper computed once, with ``count(*) OVER ()``.
    """
    if not search.filters:
        return True
    if len(search.filters) > 1 or search.filters[0].negate:
        return False
    conditions = search.filters[0].conditions
    if len(conditions) != 1:
        return False
    condition = conditions[0]
    return (
        not isinstance(condition, MetadataTerm)
        or len(query_metadata_leaves(condition.metadata)) <= 1
    )


def _page_order(seqs: np.ndarray, scores: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Positions of the hits ``start:stop`` by score descending, then seq ascending.

    Only the best ``stop`` are sorted: ``np.argpartition`` finds the ``stop``-th best score, and
    every hit scoring at least that (ties included, so the order is the full sort's) is sorted.
    """
    if start >= len(seqs):
        return np.zeros(0, dtype=np.intp)
    if stop >= len(seqs):
        return np.lexsort((seqs, -scores))[start:stop]
    threshold = scores[np.argpartition(-scores, stop - 1)[stop - 1]]
    best = np.flatnonzero(scores >= threshold)
    order = best[np.lexsort((seqs[best], -scores[best]))]
    return order[start:stop]


def _clean_score(score: float) -> float:
    return round(min(max(score, -1.0), 1.0), 6)


def _candidates_sql(connection: sqlite3.Connection, app_pk: int, search: Search) -> Sql:
    """A SELECT of the seqs of the app's inputs that pass every filter."""
    if not search.filters:
        return "SELECT seq FROM inputs WHERE app = ?", [app_pk]
    # a negated filter selects most of the app: let a positive one drive the query
    ordered = sorted(search.filters, key=lambda item: item.negate)
    return _all_of([_filter_sql(connection, app_pk, f) for f in ordered], distinct=True)


def _all_of(parts: list[Sql], *, distinct: bool = False) -> Sql:
    """The seqs every part selects (each once if ``distinct``: only the outermost query sorts).

    The first part's rows are probed in the others (``seq IN (...)`` builds an index of each
    other part once), which is about three times faster than ``INTERSECT``: that sorts every
    part into a temporary B-tree, then the result again for ``DISTINCT`` (about 7 ms against
    23 ms for a concept of 20,000 inputs and a metadata leaf of 25,000, ``EXPLAIN QUERY PLAN``
    in ``benchmarks/README.md``).
    """
    (first, first_params), rest = parts[0], parts[1:]
    sql = f"SELECT {'DISTINCT ' if distinct else ''}seq FROM ({first})"
    if rest:
        sql += " WHERE " + " AND ".join(f"seq IN ({part})" for part, _ in rest)
    return sql, [*first_params, *(p for _, part_params in rest for p in part_params)]


def _selectivity(condition: Condition) -> int:
    """An order for a filter's conditions: the likely smallest candidate sets first."""
    if isinstance(condition, (InputIdTerm, UrlTerm)):
        return 0
    if isinstance(condition, (ConceptTerm, MetadataTerm, GeoRadiusTerm, GeoBoxTerm)):
        return 1
    return 2


def _filter_sql(connection: sqlite3.Connection, app_pk: int, item: Filter) -> Sql:
    conditions = sorted(item.conditions, key=_selectivity)
    sql, params = _all_of([_condition_sql(connection, app_pk, c) for c in conditions])
    if item.negate:
        return f"SELECT seq FROM inputs WHERE app = ? AND seq NOT IN ({sql})", [app_pk, *params]
    return sql, params


def _condition_sql(connection: sqlite3.Connection, app_pk: int, condition: Condition) -> Sql:
    if isinstance(condition, ConceptTerm):
        ids = resolve_concept(connection, [app_pk], condition)
        value_test = "value > 0" if condition.positive else "value <= 0"
        return (
            "SELECT seq FROM input_concepts WHERE app = ? AND concept_id IN "
            f"(SELECT value FROM json_each(?)) AND {value_test}",
            [app_pk, json.dumps(sorted(ids))],
        )
    if isinstance(condition, MetadataTerm):
        return _metadata_sql(app_pk, condition.metadata)
    if isinstance(condition, (GeoRadiusTerm, GeoBoxTerm)):
        seqs = _geo_seqs(connection, app_pk, condition)
        return "SELECT value AS seq FROM json_each(?)", [json.dumps(seqs)]
    if isinstance(condition, InputIdTerm):
        return "SELECT seq FROM inputs WHERE app = ? AND id = ?", [app_pk, condition.input_id]
    if isinstance(condition, UrlTerm):
        return "SELECT seq FROM inputs WHERE app = ? AND url = ?", [app_pk, condition.url]
    if isinstance(condition, InputStatusTerm):
        return (
            "SELECT seq FROM inputs WHERE app = ? AND status_code = ?",
            [app_pk, condition.code],
        )
    sql = "SELECT seq FROM inputs WHERE app = ?"
    params: list[Any] = [app_pk]
    if condition.start:
        sql += " AND modified_at >= ?"
        params.append(condition.start)
    if condition.end:
        sql += " AND modified_at <= ?"
        params.append(condition.end)
    return sql, params


def _metadata_sql(app_pk: int, metadata: dict[str, Any]) -> Sql:
    """Inputs whose metadata holds every leaf of ``metadata`` (an empty object holds nothing)."""
    parts: list[Sql] = []
    for path, value in _query_leaves(metadata):
        if value == "{}":
            # An empty object in the query: the input has an object at that path (any content).
            prefix = path[:-1] + ", "  # metadata_leaves writes paths with json.dumps
            parts.append(
                (
                    "SELECT seq FROM input_metadata WHERE app = ? AND "
                    "((path = ? AND value = '{}') OR (path > ? AND path < ?))",
                    [app_pk, path, prefix, prefix + "\U0010ffff"],
                )
            )
        else:
            parts.append(
                (
                    "SELECT seq FROM input_metadata WHERE app = ? AND path = ? AND value = ?",
                    [app_pk, path, value],
                )
            )
    if not parts:
        return "SELECT seq FROM inputs WHERE app = ?", [app_pk]
    return _all_of(parts)


def _query_leaves(metadata: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if not metadata:
        return
    yield from metadata_leaves(metadata)


def resolve_concept(
    connection: sqlite3.Connection, app_pks: Sequence[int], term: ConceptTerm
) -> set[str]:
    """The concept ids ``term`` means: its id, or the ids of the concepts with its name."""
    if term.concept_id is not None:
        return {term.concept_id}
    assert term.name is not None
    ids: set[str] = set()
    for app_pk in app_pks:
        if term.language:
            rows = connection.execute(
                "SELECT id FROM concepts WHERE app = ? AND name = ? AND language = ? "
                "UNION SELECT concept_id FROM concept_translations "
                "WHERE app = ? AND name = ? AND language = ?",
                (app_pk, term.name, term.language, app_pk, term.name, term.language),
            ).fetchall()
        else:
            rows = connection.execute(
                "SELECT id FROM concepts WHERE app = ? AND name = ?", (app_pk, term.name)
            ).fetchall()
        ids.update(str(row[0]) for row in rows)
    known = any(
        connection.execute(
            "SELECT 1 FROM concepts WHERE app = ? AND id = ?", (app_pk, term.name)
        ).fetchone()
        for app_pk in app_pks
    )
    if not known:
        ids.add(term.name)  # a concept the app has no record of is named by its id
    return ids


def _geo_seqs(
    connection: sqlite3.Connection, app_pk: int, term: GeoRadiusTerm | GeoBoxTerm
) -> list[int]:
    if isinstance(term, GeoBoxTerm):
        rows = connection.execute(
            "SELECT seq FROM input_geo WHERE app = ? AND latitude BETWEEN ? AND ? "
            "AND longitude BETWEEN ? AND ?",
            (app_pk, term.min_latitude, term.max_latitude, term.min_longitude, term.max_longitude),
        ).fetchall()
        return [int(row[0]) for row in rows]
    # A latitude band holds every point within the angle; the exact test runs on what it finds.
    margin = math.degrees(term.angle) + 1e-9
    rows = connection.execute(
        "SELECT seq, latitude, longitude FROM input_geo WHERE app = ? AND latitude BETWEEN ? AND ?",
        (app_pk, term.latitude - margin, term.latitude + margin),
    ).fetchall()
    if not rows:
        return []
    table = np.array([(row[0], row[1], row[2]) for row in rows], dtype=np.float64)
    angles = central_angles(term.latitude, term.longitude, table[:, 1], table[:, 2])
    return [int(seq) for seq in table[angles <= term.angle, 0]]


def central_angles(
    latitude: float, longitude: float, latitudes: np.ndarray, longitudes: np.ndarray
) -> np.ndarray:
    """Great-circle central angles (radians) from one point to many (haversine formula)."""
    phi1 = math.radians(latitude)
    phi2 = np.radians(latitudes)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = np.radians(longitudes - longitude) / 2.0
    a = np.sin(half_dphi) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(half_dlambda) ** 2
    result: np.ndarray = 2.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


# ---------------------------------------------------------------------------------------------
# ranking


@attrs.frozen
class _PreparedRank:
    """A rank made ready outside the read transaction (query images fetched and embedded)."""

    rank: Rank
    vector: Vector | None = None  # visual: the query vector, when known before reading


def _prepare_rank(server: ServerApp, app_pk: int, rank: Rank) -> _PreparedRank:
    if isinstance(rank, PredictedRank):
        if server.base_concept_model_id is None:
            raise ApiError(
                status.MODEL_DOES_NOT_EXIST,
                "ranking by predicted concepts needs the app's base concept model, and no "
                "concept model is installed (install a model plugin that provides one)",
            )
        return _PreparedRank(rank)
    if rank.input_id is not None and rank.crop is None:
        return _PreparedRank(rank)  # the stored vector is read inside the transaction
    if rank.input_id is not None:
        image = _input_image(server, app_pk, rank.input_id)
    elif rank.url is not None:
        image = decode_image(fetch_image(server, rank.url), "the image at the search url")
    else:
        assert rank.base64 is not None
        try:
            raw = base64.b64decode(rank.base64, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("image.base64: not valid base64") from None
        image = decode_image(raw, "image.base64")
    if rank.crop is not None:
        from clarimap.server.processing import crop_box

        box = crop_box(list(rank.crop), *image.size)
        if box is not None:
            image = image.crop(box)
    return _PreparedRank(rank, server.base_embedding.embed(image))


def _input_image(server: ServerApp, app_pk: int, input_id: str) -> Image:
    with server.store.read() as connection:
        row = connection.execute(
            "SELECT b.bytes FROM inputs i LEFT JOIN input_blobs b ON b.seq = i.seq "
            "WHERE i.app = ? AND i.id = ?",
            (app_pk, input_id),
        ).fetchone()
    if row is None:
        raise _bad(f"no input with id {input_id!r} to search by")
    if row[0] is None:
        raise ApiError(
            status.SEARCH_BY_NOT_FULLY_INDEXED_INPUT,
            f"input {input_id!r} has no image bytes yet (not processed, or failed)",
        )
    data = bytes(row[0])
    from clarimap.server.processing import ProcessingError, decode_video, video_container

    if video_container(data) is not None:  # a video input: search by its first frame
        try:
            video = decode_video(data)
        except ProcessingError as error:
            raise _bad(f"input {input_id!r}: {error.details}") from None
        if video is None:
            raise ApiError(
                status.SEARCH_INVALID_REQUEST,
                f"input {input_id!r} is a video and PyAV is not installed to decode it",
            )
        return video.first_frame
    return decode_image(data, f"input {input_id!r}")


def fetch_image(server: ServerApp, url: str) -> bytes:
    """The bytes at ``url``, fetched as input processing fetches (http/https, size, time)."""
    from clarimap.server.processing import ProcessingError, read_url

    try:
        return read_url(server, url, failure_code=status.INPUT_DOWNLOAD_FAILED)
    except ProcessingError as error:
        raise ApiError(error.code, f"image.url: {error.details}") from None


def decode_image(raw: bytes, what: str) -> Image:
    """``raw`` decoded as input processing decodes (orientation applied, RGB); 40002 if not."""
    from clarimap.server.processing import ProcessingError
    from clarimap.server.processing import decode_image as processing_decode

    try:
        image = processing_decode(raw)
    except ProcessingError as error:
        raise _bad(f"{what}: not a decodable image ({error.details})") from None
    return image if image.mode == "RGB" else image.convert("RGB")


def _rank(
    server: ServerApp,
    connection: sqlite3.Connection,
    app_pk: int,
    search: Search,
    candidates: Sql,
    prepared: list[_PreparedRank],
) -> tuple[np.ndarray, np.ndarray]:
    """Seqs and scores of the candidates that carry what every rank needs."""
    columns: list[tuple[np.ndarray, np.ndarray]] = []  # per rank: sorted seqs, their scores
    visual = [p for p in prepared if isinstance(p.rank, VisualRank)]
    if visual:
        model_id = server.base_embedding.model_id
        candidate_seqs: np.ndarray | None = None
        if search.filters:  # without filters the candidates are the app's inputs: the table
            # one text row rather than a row a seq: twice as fast for 20,000 candidates
            listed = connection.execute(
                f"SELECT group_concat(seq) FROM ({candidates[0]})", candidates[1]
            ).fetchone()[0]
            candidate_seqs = np.array(listed.split(",") if listed else [], dtype=np.int64)
        try:
            table = vectors.index_of(server.store).table(connection, app_pk, model_id)
            for item in visual:
                assert isinstance(item.rank, VisualRank)
                vector = item.vector
                if vector is None:
                    vector = _stored_vector(connection, app_pk, model_id, item.rank)
                if candidate_seqs is None:
                    seqs, scores = table.cosines(vector)
                else:
                    seqs, scores = table.cosines_of(vector, candidate_seqs)
                if item.rank.negate:
                    scores = 1.0 - scores
                columns.append((seqs, scores.astype(np.float64)))
        except vectors.VectorSizeError as error:
            raise ApiError(status.SEARCH_INTERNAL_FAILURE, str(error)) from None
    predicted = [p.rank for p in prepared if isinstance(p.rank, PredictedRank)]
    if predicted:
        from clarimap.server.app import PUBLIC_APP_ID, PUBLIC_USER_ID

        concept_model_id = server.base_concept_model_id
        public_pk = server.store.app_pk(PUBLIC_USER_ID, PUBLIC_APP_ID)
        rows = connection.execute(
            f"SELECT seq FROM inputs WHERE app = ? AND status_code = ? AND seq IN "
            f"({candidates[0]}) ORDER BY seq",
            [app_pk, status.INPUT_DOWNLOAD_SUCCESS, *candidates[1]],
        ).fetchall()
        seqs = np.array([row[0] for row in rows], dtype=np.int64)
        position = {int(seq): i for i, seq in enumerate(seqs)}
        for rank in predicted:
            ids = resolve_concept(connection, [app_pk, public_pk], rank.concept)
            values = np.zeros(len(seqs), dtype=np.float64)
            for seq, value in connection.execute(
                "SELECT seq, max(value) FROM input_predictions WHERE model_id = ? AND concept_id "
                f"IN (SELECT value FROM json_each(?)) AND seq IN ({candidates[0]}) GROUP BY seq",
                [concept_model_id, json.dumps(sorted(ids)), *candidates[1]],
            ):
                index = position.get(int(seq))
                if index is not None:
                    values[index] = float(value)
            if not rank.concept.positive:
                values = 1.0 - values
            if rank.negate:
                values = 1.0 - values
            columns.append((seqs, values))
    if len(columns) == 1:
        return columns[0]
    # Keep the seqs present in every column; average the scores.
    common = columns[0][0]
    for seqs, _ in columns[1:]:
        common = np.intersect1d(common, seqs, assume_unique=True)
    total = np.zeros(len(common), dtype=np.float64)
    for seqs, scores in columns:
        total += scores[np.searchsorted(seqs, common)]
    return common, total / len(columns)


def _stored_vector(
    connection: sqlite3.Connection, app_pk: int, model_id: str, rank: VisualRank
) -> Vector:
    row = connection.execute(
        "SELECT i.seq, e.vector FROM inputs i LEFT JOIN input_embeddings e "
        "ON e.seq = i.seq AND e.model_id = ? WHERE i.app = ? AND i.id = ?",
        (model_id, app_pk, rank.input_id),
    ).fetchone()
    if row is None:
        raise _bad(f"no input with id {rank.input_id!r} to search by")
    if row[1] is None:
        raise ApiError(
            status.SEARCH_BY_NOT_FULLY_INDEXED_INPUT,
            f"input {rank.input_id!r} has no stored embedding yet (not processed, or failed)",
        )
    vector: Vector = np.frombuffer(row[1], dtype=np.float32)
    return vector


def query_metadata_leaves(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """The (path, canonical value) leaves a metadata query must all find (for tests and tools)."""
    return [(path, value) for path, value in _query_leaves(metadata)]


__all__ = [
    "EARTH_RADIUS_KM",
    "KM_PER_MILE",
    "Filter",
    "PredictedRank",
    "Result",
    "Search",
    "VisualRank",
    "canonical_json",
    "central_angles",
    "decode_image",
    "fetch_image",
    "limit_angle",
    "parse_current",
    "parse_legacy",
    "resolve_concept",
    "run",
]
