"""Queries as values: ``session.query(Input).where(concept="dog").similar_to("cat.jpg")``.

A :class:`Query` is immutable: every builder method returns a new query and leaves the one it
was called on as it was, so a query can be kept, shared and refined. Nothing is sent until the
query is iterated, sliced, counted (:meth:`Query.count`) or asked for :meth:`~Query.first`,
:meth:`~Query.one`, :meth:`~Query.all` or :meth:`~Query.page`. :mod:`clarimap.compiler` turns a
query into the request body of a search endpoint (:meth:`Query.compile`).

Filters restrict which inputs match; ranks order them:

* filters, as keywords of :meth:`Query.where`: ``concept=`` (annotated concept by name) or
  ``concept_id=``, with ``value=False`` for a negative annotation and ``language=``;
  ``metadata=`` (a deep subset); ``near=GeoPoint(...)`` with ``within=GeoLimit(...)``, or
  ``inside=GeoBox(...)``; ``id=`` (input id); ``url=`` (original URL); ``modified_after=`` and
  ``modified_before=`` (aware datetimes, both inclusive; the current dialect only);
* filters as expressions on the attributes of the entity (:func:`fields`), combined with ``&``
  and negated with ``~``::

      f = fields(Input)
      session.query(Input).where(f.concepts.contains("dog") & ~(f.metadata["owner"] == "ana"))

  A condition refuses ``bool()``: ``if f.id == "x":`` raises instead of being always true; and
  ``|`` raises, since no search endpoint can express an OR across filters;
* ranks: :meth:`Query.predicted` (predicted concepts of the app's base model) and
  :meth:`Query.similar_to` (visual similarity to a file, URL, bytes, an :class:`Input` or an
  input id, optionally cropped).

What an endpoint cannot express raises :class:`QueryError` when the query is built or compiled;
results are never filtered on the client.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar, Union, cast, overload

import attrs

from clarimap.entities import (
    Concept,
    GeoBox,
    GeoLimit,
    GeoPoint,
    Input,
    Model,
    Workflow,
)
from clarimap.errors import ValidationError

if TYPE_CHECKING:
    from clarimap.session import Session

__all__ = [
    "DIALECTS",
    "MAX_PER_PAGE",
    "And",
    "ConceptCondition",
    "Condition",
    "GeoBoxCondition",
    "GeoRadiusCondition",
    "Hit",
    "IdCondition",
    "MetadataCondition",
    "ModifiedCondition",
    "Not",
    "PredictedRank",
    "Query",
    "QueryError",
    "UrlCondition",
    "VisualRank",
    "fields",
]

T = TypeVar("T")
Dialect = Literal["current", "legacy"]
DIALECTS: tuple[Dialect, ...] = ("current", "legacy")
#: The most hits a search page may hold (wire reference, section 3).
MAX_PER_PAGE = 1000
DEFAULT_PAGE_SIZE = 128


class QueryError(ValidationError):
    """A query that cannot be built, or that the chosen endpoint cannot express."""


# ---------------------------------------------------------------------------------------------
# conditions


class Condition:
    """A filter condition. Combine with ``&``, negate with ``~``; it refuses ``bool()``."""

    __slots__ = ()

    def __and__(self, other: object) -> Condition:
        if not isinstance(other, Condition):
            return NotImplemented
        return And((*_parts(self), *_parts(other)))

    def __invert__(self) -> Condition:
        return Not(self)

    def __or__(self, other: object) -> NoReturn:
        raise QueryError(
            "the search API ANDs its filters: an OR across conditions cannot be expressed "
            "(run two queries instead)"
        )

    __ror__ = __or__

    def __bool__(self) -> NoReturn:
        raise QueryError(
            "a query condition has no truth value: pass it to Query.where() "
            "(and combine conditions with & and ~, not with 'and', 'or', 'not')"
        )


def _parts(condition: Condition) -> tuple[Condition, ...]:
    return condition.parts if isinstance(condition, And) else (condition,)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise QueryError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _optional_language(value: object) -> str | None:
    if value is None:
        return None
    return _text(value, "language")


@attrs.frozen(eq=True)
class ConceptCondition(Condition):
    """An annotated concept: by ``id`` or by ``name``, positive (value 1) or negative (0)."""

    concept: str
    by: Literal["id", "name"] = "name"
    positive: bool = True
    language: str | None = None


@attrs.frozen
class MetadataCondition(Condition):
    """The input's metadata holds ``metadata`` (a deep subset)."""

    metadata: Mapping[str, Any]


@attrs.frozen
class GeoRadiusCondition(Condition):
    """The input's geo point lies within ``limit`` of ``point`` (inclusive)."""

    point: GeoPoint
    limit: GeoLimit


@attrs.frozen
class GeoBoxCondition(Condition):
    """The input's geo point lies inside ``box``."""

    box: GeoBox


@attrs.frozen
class IdCondition(Condition):
    """The input has this id."""

    input_id: str


@attrs.frozen
class UrlCondition(Condition):
    """The input was created from this URL (exact match)."""

    url: str


@attrs.frozen
class ModifiedCondition(Condition):
    """The input was last modified at or after ``after`` and at or before ``before``.

    Either end may be None (open). Only the current dialect can express it
    (``last_updated_time_range``).
    """

    after: datetime.datetime | None = None
    before: datetime.datetime | None = None


def _modified(after: object, before: object) -> ModifiedCondition:
    for name, moment in (("modified_after", after), ("modified_before", before)):
        if moment is not None and (
            not isinstance(moment, datetime.datetime) or moment.tzinfo is None
        ):
            raise QueryError(
                f"{name}= needs an aware datetime (e.g. datetime(2024, 5, 1, tzinfo=timezone.utc)), "
                f"got {moment!r}"
            )
    assert after is None or isinstance(after, datetime.datetime)
    assert before is None or isinstance(before, datetime.datetime)
    if after is None and before is None:
        raise QueryError("modified_after= or modified_before= needs a datetime, not None")
    if after is not None and before is not None and after > before:
        raise QueryError(f"modified_after={after!r} is later than modified_before={before!r}")
    return ModifiedCondition(after, before)


@attrs.frozen
class And(Condition):
    """Every part holds."""

    parts: tuple[Condition, ...]


@attrs.frozen
class Not(Condition):
    """The part does not hold (``~condition``)."""

    part: Condition

    def __invert__(self) -> Condition:
        return self.part


def _check_metadata(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise QueryError(f"metadata must be a dict (a subset to match), got {value!r}")
    for key in value:
        if not isinstance(key, str):
            raise QueryError(f"metadata keys must be strings, got {key!r}")
    return value


# ---------------------------------------------------------------------------------------------
# expressions on entity attributes


class _ConceptsField:
    """``fields(Input).concepts``: conditions on annotated concepts."""

    def __init__(self, positive: bool) -> None:
        self._positive = positive

    def contains(self, name: str, *, language: str | None = None) -> ConceptCondition:
        """Annotated with the concept named ``name`` (in ``language`` when given)."""
        return ConceptCondition(
            _text(name, "concept"), "name", self._positive, _optional_language(language)
        )

    def contains_id(self, concept_id: str) -> ConceptCondition:
        """Annotated with the concept ``concept_id``."""
        return ConceptCondition(_text(concept_id, "concept_id"), "id", self._positive)


class _MetadataPath:
    """``fields(Input).metadata["a"]["b"]``: a path into the metadata tree."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self._path = path

    def __getitem__(self, key: str) -> _MetadataPath:
        return _MetadataPath((*self._path, _text(key, "metadata key")))

    def __eq__(self, value: object) -> MetadataCondition:  # type: ignore[override]
        if not self._path:
            raise QueryError(
                "metadata == {...} would be an exact match, which search cannot express; use "
                "fields(Input).metadata.contains({...}) for a deep subset match"
            )
        tree: Any = value
        for key in reversed(self._path):
            tree = {key: tree}
        return MetadataCondition(tree)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return Not(self == value)

    def contains(self, subset: Mapping[str, Any]) -> MetadataCondition:
        """The metadata (at this path) holds ``subset``: every key and value of it, at any depth."""
        tree: Any = dict(_check_metadata(subset))
        for key in reversed(self._path):
            tree = {key: tree}
        return MetadataCondition(tree)

    __hash__ = None  # type: ignore[assignment]


class _GeoField:
    """``fields(Input).geo``: conditions on the input's geo point."""

    def within(self, point: GeoPoint, limit: GeoLimit) -> GeoRadiusCondition:
        """Within ``limit`` (a radius in miles, kilometers, degrees or radians) of ``point``."""
        return _geo_radius(point, limit)

    def inside(self, box: GeoBox) -> GeoBoxCondition:
        """Inside the box spanned by two corners."""
        if not isinstance(box, GeoBox):
            raise QueryError(f"inside= needs a GeoBox, got {box!r}")
        return GeoBoxCondition(box)


class _ExactField:
    """``fields(Input).id`` / ``.url``: compared with ``==``."""

    def __init__(self, kind: Literal["id", "url"]) -> None:
        self._kind = kind

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        text = _text(value, self._kind)
        return IdCondition(text) if self._kind == "id" else UrlCondition(text)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return Not(self == value)

    __hash__ = None  # type: ignore[assignment]


class InputFields:
    """The searchable attributes of :class:`Input`, as expression builders."""

    #: ``f.id == "x"``: the input id.
    id = _ExactField("id")
    #: ``f.url == "https://..."``: the original URL.
    url = _ExactField("url")
    #: ``f.concepts.contains("dog")``: annotated positive.
    concepts = _ConceptsField(True)
    #: ``f.not_concepts.contains("dog")``: annotated negative (value 0).
    not_concepts = _ConceptsField(False)
    #: ``f.metadata["owner"]["name"] == "ana"`` or ``f.metadata.contains({...})``.
    metadata = _MetadataPath(())
    #: ``f.geo.within(point, limit)``, ``f.geo.inside(box)``.
    geo = _GeoField()


def fields(entity: type[Input]) -> InputFields:
    """Expression builders for the searchable attributes of ``entity`` (only :class:`Input`)."""
    if entity is not Input:
        raise QueryError(f"only Input has searchable attributes, not {entity!r}")
    return InputFields()


def _geo_radius(point: object, limit: object) -> GeoRadiusCondition:
    if not isinstance(point, GeoPoint):
        raise QueryError(f"near= needs a GeoPoint, got {point!r}")
    if not isinstance(limit, GeoLimit):
        raise QueryError(
            f"within= needs a GeoLimit (e.g. GeoLimit(10, 'kilometers')), got {limit!r}"
        )
    if limit.value < 0:
        raise QueryError(f"a geo limit cannot be negative, got {limit.value}")
    return GeoRadiusCondition(point, limit)


# ---------------------------------------------------------------------------------------------
# ranks


@attrs.frozen
class PredictedRank:
    """Order by the value the app's base model predicted for a concept (``positive=False``: absence)."""

    concept: str
    by: Literal["id", "name"] = "name"
    positive: bool = True
    language: str | None = None


@attrs.frozen
class VisualRank:
    """Order by visual similarity to an image (url or bytes) or to a stored input, maybe cropped."""

    url: str | None = None
    image_bytes: bytes | None = attrs.field(default=None, repr=False)
    input_id: str | None = None
    crop: tuple[float, float, float, float] | None = None


Rank = Union[PredictedRank, VisualRank]  # noqa: UP007


def _crop(crop: object) -> tuple[float, float, float, float] | None:
    if crop is None:
        return None
    if isinstance(crop, (str, bytes)) or not isinstance(crop, Sequence) or len(crop) != 4:
        raise QueryError(f"crop must be 4 fractions (top, left, bottom, right), got {crop!r}")
    values: list[float] = []
    for item in crop:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise QueryError(f"crop values must be numbers, got {item!r}")
        values.append(float(item))
    if not all(0.0 <= v <= 1.0 for v in values):
        raise QueryError(f"crop values must be fractions in [0, 1], got {list(crop)}")
    top, left, bottom, right = values
    if not (top < bottom and left < right):
        raise QueryError(f"crop must have top < bottom and left < right, got {list(crop)}")
    return top, left, bottom, right


# ---------------------------------------------------------------------------------------------
# the query


@attrs.frozen
class Hit(Generic[T]):
    """One search result: the object and its score."""

    score: float
    item: T


_FILTER_KEYWORDS = (
    "concept",
    "concept_id",
    "value",
    "language",
    "metadata",
    "near",
    "within",
    "inside",
    "id",
    "url",
    "modified_after",
    "modified_before",
)


@attrs.frozen
class Query(Generic[T]):
    """A search, as a value. Build it with :meth:`Session.query`; run it by iterating."""

    entity: type[T]
    session: Session | None = attrs.field(default=None, eq=False, repr=False)
    conditions: tuple[Condition, ...] = ()
    ranks: tuple[Rank, ...] = ()
    language_code: str | None = None
    #: Concept and model searches: the name pattern (``*`` wildcards) and the model type.
    name_pattern: str | None = None
    model_type: str | None = None
    skip: int = 0
    max_items: int | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    dialect: Dialect = "current"

    # -- builders ------------------------------------------------------------------------------

    def where(self, *conditions: Condition, **keywords: Any) -> Query[T]:
        """A query with more filters (ANDed): condition expressions and/or keywords.

        Inputs: ``concept=`` name or ``concept_id=``, ``value=`` (False: negative annotation),
        ``language=``, ``metadata=``, ``near=`` + ``within=``, ``inside=``, ``id=``, ``url=``,
        ``modified_after=`` / ``modified_before=`` (aware datetimes, inclusive).
        Concepts: ``name=`` (``*`` wildcards) and ``language=``. Models: ``name=`` and ``type=``.
        """
        if self.entity is Concept or self.entity is Model:
            return self._where_named(conditions, keywords)
        if self.entity is not Input:
            raise QueryError(f"{_name(self.entity)} queries take no filters")
        for condition in conditions:
            if not isinstance(condition, Condition):
                raise QueryError(f"where() takes conditions and keywords, got {condition!r}")
        unknown = sorted(set(keywords) - set(_FILTER_KEYWORDS))
        if unknown:
            raise QueryError(
                f"unknown filter {', '.join(unknown)}; an input query filters on "
                + ", ".join(_FILTER_KEYWORDS)
            )
        found = list(conditions)
        value = keywords.get("value", True)
        if not isinstance(value, bool):
            raise QueryError(f"value= must be True or False, got {value!r}")
        language = _optional_language(keywords.get("language"))
        if "concept" in keywords:
            found.append(
                ConceptCondition(_text(keywords["concept"], "concept"), "name", value, language)
            )
        if "concept_id" in keywords:
            found.append(
                ConceptCondition(_text(keywords["concept_id"], "concept_id"), "id", value, language)
            )
        if ("value" in keywords or "language" in keywords) and not (
            "concept" in keywords or "concept_id" in keywords
        ):
            raise QueryError("value= and language= go with concept= or concept_id=")
        if "metadata" in keywords:
            found.append(MetadataCondition(_check_metadata(keywords["metadata"])))
        if "near" in keywords or "within" in keywords:
            if "near" not in keywords or "within" not in keywords:
                raise QueryError(
                    "a radius search needs both near=GeoPoint(...) and within=GeoLimit(...)"
                )
            found.append(_geo_radius(keywords["near"], keywords["within"]))
        if "inside" in keywords:
            found.append(_GeoField().inside(keywords["inside"]))
        if "id" in keywords:
            found.append(IdCondition(_text(keywords["id"], "id")))
        if "url" in keywords:
            found.append(UrlCondition(_text(keywords["url"], "url")))
        if "modified_after" in keywords or "modified_before" in keywords:
            found.append(_modified(keywords.get("modified_after"), keywords.get("modified_before")))
        if not found:
            raise QueryError("where() needs at least one condition")
        return attrs.evolve(self, conditions=self.conditions + tuple(found))

    def _where_named(self, conditions: tuple[Condition, ...], keywords: dict[str, Any]) -> Query[T]:
        if conditions:
            raise QueryError(f"{_name(self.entity)} queries take keywords, not conditions")
        allowed = {"name", "language"} if self.entity is Concept else {"name", "type"}
        unknown = sorted(set(keywords) - allowed)
        if unknown:
            raise QueryError(
                f"unknown filter {', '.join(unknown)}; a {_name(self.entity)} query filters on "
                + " and ".join(sorted(allowed))
            )
        changes: dict[str, Any] = {}
        if "name" in keywords:
            if self.name_pattern is not None:
                raise QueryError("a concept or model search matches one name pattern")
            changes["name_pattern"] = _text(keywords["name"], "name")
        if "language" in keywords:
            changes["language_code"] = _optional_language(keywords["language"])
        if "type" in keywords:
            changes["model_type"] = _text(keywords["type"], "type")
        return attrs.evolve(self, **changes)

    def predicted(
        self,
        concept: str | None = None,
        *,
        concept_id: str | None = None,
        value: bool = True,
        language: str | None = None,
    ) -> Query[T]:
        """A query ranked by the base model's prediction of a concept (``value=False``: absence)."""
        self._require_input("predicted()")
        if (concept is None) == (concept_id is None):
            raise QueryError("predicted() needs a concept name or concept_id=, not both")
        if not isinstance(value, bool):
            raise QueryError(f"value= must be True or False, got {value!r}")
        rank = (
            PredictedRank(_text(concept, "concept"), "name", value, _optional_language(language))
            if concept is not None
            else PredictedRank(_text(concept_id, "concept_id"), "id", value)
        )
        return attrs.evolve(self, ranks=(*self.ranks, rank))

    def similar_to(
        self,
        source: object = None,
        *,
        input_id: str | None = None,
        crop: Sequence[float] | None = None,
    ) -> Query[T]:
        """A query ranked by visual similarity.

        ``source`` is a file path, a URL, bytes, a file object or an :class:`Input` (a stored
        one is compared by id); or give ``input_id=``. ``crop`` = (top, left, bottom, right)
        fractions of the image. Files are read now.
        """
        self._require_input("similar_to()")
        box = _crop(crop)
        if (source is None) == (input_id is None):
            raise QueryError("similar_to() needs an image source or input_id=, not both")
        if input_id is not None:
            rank = VisualRank(input_id=_text(input_id, "input_id"), crop=box)
        elif isinstance(source, Input):
            rank = VisualRank(input_id=source.id, crop=box)
        else:
            from clarimap.media import resolve_media

            if isinstance(source, str) and not _is_url(source) and not os.path.exists(source):
                raise QueryError(
                    f"similar_to({source!r}): no such file, and not a URL; "
                    "to compare with a stored input use similar_to(input_id=...)"
                )
            media = resolve_media(source, kind="image")
            if media.url is not None:
                rank = VisualRank(url=media.url, crop=box)
            else:
                rank = VisualRank(image_bytes=media.base64, crop=box)
        return attrs.evolve(self, ranks=(*self.ranks, rank))

    def language(self, language: str) -> Query[T]:
        """A query resolving concept names in ``language`` (``"zh"``...)."""
        return attrs.evolve(self, language_code=_optional_language(language))

    def limit(self, count: int) -> Query[T]:
        """A query that stops after ``count`` results."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise QueryError(f"limit() needs a count of 0 or more, got {count!r}")
        current = self.max_items
        return attrs.evolve(self, max_items=count if current is None else min(current, count))

    def offset(self, count: int) -> Query[T]:
        """A query that skips the first ``count`` results."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise QueryError(f"offset() needs a count of 0 or more, got {count!r}")
        remaining = None if self.max_items is None else max(self.max_items - count, 0)
        return attrs.evolve(self, skip=self.skip + count, max_items=remaining)

    def per_page(self, count: int) -> Query[T]:
        """A query fetching ``count`` results a request while iterating (1 to 1000)."""
        return attrs.evolve(self, page_size=_check_per_page(count))

    def using(self, dialect: Dialect) -> Query[T]:
        """A query sent in ``dialect``: ``"current"`` (default) or ``"legacy"``."""
        if dialect not in DIALECTS:
            raise QueryError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
        return attrs.evolve(self, dialect=dialect)

    def _require_input(self, what: str) -> None:
        if self.entity is not Input:
            raise QueryError(f"{what} applies to Input queries, not {_name(self.entity)}")

    # -- compiling -----------------------------------------------------------------------------

    def compile(
        self,
        dialect: Dialect | None = None,
        *,
        page: int = 1,
        per_page: int | None = None,
    ) -> dict[str, Any]:
        """The request body of page ``page`` of this query, in ``dialect`` (no I/O).

        ``{}`` for a plain list (concepts, models or workflows without filters), which is a GET.
        """
        from clarimap import compiler

        size = _check_per_page(per_page or self.page_size)
        request = compiler.compile_query(self, dialect or self.dialect, page=page, per_page=size)
        return dict(request.body or {})

    # -- running -------------------------------------------------------------------------------

    def _runner(self) -> Session:
        if self.session is None:
            raise QueryError("this query has no session: build it with session.query(...)")
        return self.session

    def hits(self) -> Iterator[Hit[T]]:
        """The results with their scores, fetched a page at a time as iteration goes on."""
        from clarimap import compiler

        session = self._runner()
        session._autoflush()
        remaining = self.max_items
        if remaining == 0:
            return
        size = self.page_size
        if remaining is not None and remaining < size and self.skip % remaining == 0:
            size = remaining  # ask for no more than is wanted, when the pages line up
        page, to_skip = divmod(self.skip, size)
        page += 1
        fetched = 0
        try:
            while True:
                request = compiler.compile_query(self, self.dialect, page=page, per_page=size)
                body = _send(session, request)
                items = compiler.read_results(self, body)
                fetched += max(len(items) - to_skip, 0)
                if self.max_items is not None:
                    fetched = min(fetched, self.max_items)
                session._report("query", fetched, self.max_items, f"page {page}")
                for score, wire in items[to_skip:]:
                    yield Hit(score, self._load(session, wire))
                    if remaining is not None:
                        remaining -= 1
                        if remaining <= 0:
                            return
                to_skip = 0
                if len(items) < size or not request.paginated:
                    return
                page += 1
        finally:
            session._report("query", fetched, self.max_items, "done", finished=True)

    def _load(self, session: Session, wire: dict[str, Any]) -> T:
        if self.entity is Workflow:
            from clarimap.session import _is_public, _public_workflow

            if _is_public(wire):  # the public app's: ready to predict, not identity-mapped
                return cast(T, _public_workflow(session, wire))
        return session._load(self.entity, wire)

    def __iter__(self) -> Iterator[T]:
        for hit in self.hits():
            yield hit.item

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise QueryError("query slices take no step")
            start = index.start or 0
            if start < 0 or (index.stop is not None and index.stop < 0):
                raise QueryError("query slices cannot count from the end")
            query = self.offset(start)
            if index.stop is not None:
                query = query.limit(max(index.stop - start, 0))
            return query.all()
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise QueryError(f"query index must be an integer of 0 or more, got {index!r}")
        found = self.offset(index).limit(1).all()
        if not found:
            raise IndexError(f"the query has no result {index}")
        return found[0]

    def all(self) -> list[T]:
        """Every result, as a list."""
        return list(self)

    def first(self) -> T | None:
        """The first result, or None."""
        found = self.limit(1).all()
        return found[0] if found else None

    def one(self) -> T:
        """The only result; :class:`QueryError` if there are none or several."""
        found = self.limit(2).all()
        if len(found) != 1:
            raise QueryError(
                f"expected exactly one result, got {'none' if not found else 'more than one'}"
            )
        return found[0]

    def page(self, number: int, *, per_page: int | None = None) -> list[T]:
        """Page ``number`` (from 1) of ``per_page`` results (the query's page size by default)."""
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise QueryError(f"page numbers start at 1, got {number!r}")
        size = _check_per_page(per_page or self.page_size)
        return self.offset((number - 1) * size).limit(size).per_page(size).all()

    def count(self) -> int:
        """How many results the query has (one ``only_count`` request in the current dialect)."""
        from clarimap import compiler

        session = self._runner()
        session._autoflush()
        if self.dialect == "current" and self.entity is Input:
            body = _send(session, compiler.compile_count(self))
            total = int((body.get("hit_counts") or [{}])[0].get("estimated_total", 0))
        else:
            total = sum(
                1 for _ in attrs.evolve(self, skip=0, max_items=None).per_page(MAX_PER_PAGE).hits()
            )
        total = max(total - self.skip, 0)
        return total if self.max_items is None else min(total, self.max_items)

    # -- bulk edits ----------------------------------------------------------------------------

    def update(self, *, metadata: Mapping[str, Any]) -> int:
        """Merge ``metadata`` into every matching input (through the unit of work); the count."""
        self._require_input("update()")
        patch = dict(_check_metadata(metadata))
        session = self._runner()
        matched = self.all()
        for item in matched:
            _deep_merge(cast(Input, item).metadata, patch)
        session.flush()
        return len(matched)

    def delete(self) -> int:
        """Delete every matching input (through the unit of work); the count."""
        self._require_input("delete()")
        session = self._runner()
        matched = self.all()
        for item in matched:
            session.delete(item)
        session.flush()
        return len(matched)


def _send(session: Session, request: Any) -> dict[str, Any]:
    return session._send(
        request.method, request.path, request.body, request.query or None, idempotent=True
    )


def _deep_merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _deep_merge(current, value)
        else:
            target[key] = value


def _check_per_page(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {count!r}")
    return count


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _name(entity: type) -> str:
    return getattr(entity, "__name__", repr(entity))


#: Entities a session can query.
QUERYABLE: tuple[type, ...] = (Input, Concept, Model, Workflow)
