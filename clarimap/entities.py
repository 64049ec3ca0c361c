"""The objects an application works with: inputs, concepts, models, workflows and their values.

Plain attrs classes: they know no JSON field names (those live in :mod:`clarimap.converters`)
and do no I/O. Value objects (:class:`GeoPoint`, :class:`ConceptAnnotation`, :class:`Region`,
:class:`Status` ...) are frozen; replace them to change them. The mapped entities
(:class:`Input`, :class:`Concept`, :class:`Model`) are mutable and tell their session when they
change: setting an attribute, and editing ``metadata`` (at any depth), ``concepts`` or
``regions`` in place, marks the object modified, so the next flush sends it.

Bad values raise :class:`clarimap.errors.ValidationError` naming the field, when they are set.
"""

from __future__ import annotations

import datetime
import math
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, SupportsIndex, TypeVar, cast, overload

import attrs

from clarimap.errors import ValidationError

if TYPE_CHECKING:
    from os import PathLike

__all__ = [
    "BinaryMetrics",
    "BoundingBox",
    "Color",
    "Concept",
    "ConceptAnnotation",
    "ConfusionCell",
    "DetectedRegion",
    "Embedding",
    "EvaluationMetrics",
    "Face",
    "FeedbackInfo",
    "Frame",
    "GeoBox",
    "GeoLimit",
    "GeoPoint",
    "Image",
    "Input",
    "InputCounts",
    "MetricsSummary",
    "Model",
    "ModelVersion",
    "PrecisionRecallCurve",
    "PredictedConcept",
    "Prediction",
    "Region",
    "RocCurve",
    "Status",
    "Video",
    "Workflow",
    "WorkflowNode",
    "WorkflowResult",
    "new_id",
]

#: Longest id the API accepts.
MAX_ID_LENGTH = 255
_ID_PATTERN = re.compile(r"^[^/\s][^/]*$")

GeoUnit = Literal["miles", "kilometers", "degrees", "radians"]
GEO_UNITS: tuple[GeoUnit, ...] = ("miles", "kilometers", "degrees", "radians")
Feedback = Literal["accurate", "misplaced", "not_detected", "false_positive"]


def new_id() -> str:
    """A fresh client-made id (32 hex characters), so a retried create cannot duplicate."""
    return uuid.uuid4().hex


# -- validators ---------------------------------------------------------------------------------


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is a usable id, else :class:`ValidationError` saying why not."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if not value:
        raise ValidationError(f"{what} must not be empty")
    if "/" in value:
        raise ValidationError(f"{what} {value!r} contains '/', which the API does not allow in ids")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"{what} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
        )
    if not _ID_PATTERN.match(value):
        raise ValidationError(f"{what} {value!r} must not start with whitespace")
    return value


def _validate_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_id(value, f"{type(instance).__name__}.{attribute.name}")


def _validate_optional_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _validate_id(instance, attribute, value)


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{what} must be finite, got {value!r}")
    return number


def _to_float(value: object, self: object, field: attrs.Attribute[Any]) -> float:
    return _number(f"{type(self).__name__}.{field.name}", value)


_FLOAT = attrs.Converter(_to_float, takes_self=True, takes_field=True)  # type: ignore[call-overload]


def _optional_text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a string or None, "
            f"got {type(value).__name__} {value!r}"
        )


def _instance_of(*types: type) -> Callable[[object, attrs.Attribute[Any], object], None]:
    names = " or ".join("None" if t is type(None) else t.__name__ for t in types)

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValidationError(
                f"{type(instance).__name__}.{attribute.name} must be {names}, "
                f"got {type(value).__name__} {value!r}"
            )

    return validate


def _optional_datetime(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be an aware datetime or None, "
            f"got {value!r}"
        )


# -- value objects ------------------------------------------------------------------------------


@attrs.frozen
class Status:
    """A Clarifai status: a code (``30000`` download complete...), its description and details."""

    code: int
    description: str = ""
    details: str = ""

    @property
    def ok(self) -> bool:
        """True for the codes that mean success (10000 and the x0000/x0200 family of inputs)."""
        return self.code in SUCCESS_CODES


#: Status codes meaning success for a call or an item.
SUCCESS_CODES = frozenset({10000, 21100, 21150, 23150, 30000, 30200, 31000})
#: Input status codes meaning the input is still being downloaded or processed.
PENDING_INPUT_CODES = frozenset({30001, 30003, 30201, 31001, 31003})


@attrs.frozen
class InputCounts:
    """How many of an app's inputs are processed, waiting, being processed, or failed."""

    processed: int = 0
    to_process: int = 0
    errors: int = 0
    processing: int = 0

    @property
    def pending(self) -> int:
        """Inputs not processed yet (waiting or being processed)."""
        return self.to_process + self.processing


@attrs.frozen
class GeoPoint:
    """A point on Earth, in degrees."""

    longitude: float = attrs.field(converter=_FLOAT)  # type: ignore[misc]
    latitude: float = attrs.field(converter=_FLOAT)  # type: ignore[misc]

    def __attrs_post_init__(self) -> None:
        if not -180.0 <= self.longitude <= 180.0:
            raise ValidationError(
                f"GeoPoint.longitude must be in [-180, 180], got {self.longitude}"
            )
        if not -90.0 <= self.latitude <= 90.0:
            raise ValidationError(f"GeoPoint.latitude must be in [-90, 90], got {self.latitude}")


def _validate_unit(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in GEO_UNITS:
        raise ValidationError(f"GeoLimit.unit must be one of {', '.join(GEO_UNITS)}; got {value!r}")


@attrs.frozen
class GeoLimit:
    """A radius around a :class:`GeoPoint` (for searches): ``GeoLimit(10, "kilometers")``."""

    value: float = attrs.field(converter=_FLOAT)  # type: ignore[misc]
    unit: GeoUnit = attrs.field(default="kilometers", validator=_validate_unit)


@attrs.frozen
class GeoBox:
    """A box between two corners (for searches)."""

    corner1: GeoPoint = attrs.field(validator=_instance_of(GeoPoint))
    corner2: GeoPoint = attrs.field(validator=_instance_of(GeoPoint))


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a fraction in [0, 1], got {value}"
        )


@attrs.frozen
class BoundingBox:
    """A box as fractions of the image: rows of its height, columns of its width."""

    top_row: float = attrs.field(converter=_FLOAT, validator=_fraction)  # type: ignore[misc]
    left_col: float = attrs.field(converter=_FLOAT, validator=_fraction)  # type: ignore[misc]
    bottom_row: float = attrs.field(converter=_FLOAT, validator=_fraction)  # type: ignore[misc]
    right_col: float = attrs.field(converter=_FLOAT, validator=_fraction)  # type: ignore[misc]


@attrs.frozen
class ConceptAnnotation:
    """A concept on an input or region with its value: 1 is positive, 0 negative (``not_concepts``)."""

    id: str = attrs.field(validator=_validate_id)
    value: float = attrs.field(default=1.0, converter=_FLOAT)  # type: ignore[misc]
    name: str | None = attrs.field(default=None, validator=_optional_text, eq=False)

    @property
    def positive(self) -> bool:
        """True when the input shows the concept (value above 0)."""
        return self.value > 0


def _annotation(item: object, what: str = "concept") -> ConceptAnnotation:
    if isinstance(item, ConceptAnnotation):
        return item
    if isinstance(item, str):
        return ConceptAnnotation(item)
    raise ValidationError(
        f"a {what} must be a concept id (str) or a ConceptAnnotation, got {type(item).__name__} {item!r}"
    )


def _annotations(items: object) -> tuple[ConceptAnnotation, ...]:
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError(f"concepts must be a list, got {type(items).__name__} {items!r}")
    return tuple(_annotation(item) for item in items)


def _validate_feedback(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value not in (
        "accurate",
        "misplaced",
        "not_detected",
        "false_positive",
    ):
        raise ValidationError(
            "Region.feedback must be accurate, misplaced, not_detected or false_positive; "
            f"got {value!r}"
        )


@attrs.frozen
class Region:
    """A part of an image: a bounding box and the concepts seen in it."""

    id: str = attrs.field(factory=new_id, validator=_validate_id)
    bounding_box: BoundingBox | None = attrs.field(
        default=None, validator=_instance_of(BoundingBox, type(None))
    )
    concepts: tuple[ConceptAnnotation, ...] = attrs.field(default=(), converter=_annotations)
    feedback: Feedback | None = attrs.field(default=None, validator=_validate_feedback)


def _crop(value: object) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 4:
        raise ValidationError(f"crop must be 4 fractions (top, left, bottom, right), got {value!r}")
    numbers = tuple(_number("crop value", item) for item in value)
    if not all(0.0 <= item <= 1.0 for item in numbers):
        raise ValidationError(f"crop values must be fractions in [0, 1], got {value!r}")
    return cast(tuple[float, float, float, float], numbers)


def _optional_bytes(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, bytes):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be raw bytes or None, "
            f"got {type(value).__name__}"
        )


def _one_source(media: Image | Video) -> None:
    if media.url is None and media.base64 is None:
        raise ValidationError(f"{type(media).__name__} needs a url or base64 bytes")


@attrs.frozen
class Image:
    """An image: a ``url`` or the raw bytes (``base64``), optionally cropped."""

    url: str | None = attrs.field(default=None, validator=_optional_text)
    base64: bytes | None = attrs.field(default=None, validator=_optional_bytes, repr=False)
    crop: tuple[float, float, float, float] | None = attrs.field(default=None, converter=_crop)
    allow_duplicate_url: bool = attrs.field(default=False, validator=_instance_of(bool))

    def __attrs_post_init__(self) -> None:
        _one_source(self)


@attrs.frozen
class Video:
    """A video: a ``url`` or the raw bytes (``base64``)."""

    url: str | None = attrs.field(default=None, validator=_optional_text)
    base64: bytes | None = attrs.field(default=None, validator=_optional_bytes, repr=False)
    allow_duplicate_url: bool = attrs.field(default=False, validator=_instance_of(bool))

    def __attrs_post_init__(self) -> None:
        _one_source(self)


_IMAGE_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF, little-endian
    (0, b"MM\x00*"),  # TIFF, big-endian
    (8, b"WEBP"),
    (4, b"ftypheic"),
    (4, b"ftypavif"),
    (4, b"ftypmif1"),
)


def check_image_bytes(content: bytes, source: object = None) -> None:
    """Raise :class:`InvalidMediaError` unless ``content`` starts like an image file."""
    if any(content[offset : offset + len(sig)] == sig for offset, sig in _IMAGE_SIGNATURES):
        return
    from clarimap.errors import InvalidMediaError

    shown = (
        source
        if isinstance(source, str) or not isinstance(source, (bytes, bytearray))
        else (f"{len(source)} bytes")
    )
    raise InvalidMediaError(
        f"{shown!s:.80} is not an image: its bytes start {content[:8]!r}, which is no JPEG, PNG, "
        "GIF, BMP, TIFF, WEBP, HEIC or AVIF signature"
    )


# -- change tracking ----------------------------------------------------------------------------
#
# A mapped entity holds ``_session`` (its session, or None). Setting an attribute calls
# ``_notify_change``; metadata, concepts and regions are held in tracked containers that call it
# on any in-place edit. The session then keeps the object strongly until it is flushed, so an
# edited object cannot be lost even though the identity map holds objects weakly.

Owner = Callable[[], Any]


def _notify(owner: Owner | None) -> None:
    if owner is None:
        return
    entity = owner()
    if entity is not None:
        session = entity._session
        if session is not None:
            session._entity_changed(entity)


def _track(value: Any, owner: Owner | None) -> Any:
    if isinstance(value, dict):
        return TrackedDict(value, owner)
    if isinstance(value, list):
        return TrackedList(value, owner)
    return value


class TrackedDict(dict[str, Any]):
    """A dict that tells its owning entity when it changes (nested dicts and lists too)."""

    __slots__ = ("_owner",)

    def __init__(self, items: Mapping[str, Any] = (), owner: Owner | None = None) -> None:  # type: ignore[assignment]
        self._owner = owner
        if items:
            if type(items) is not dict:
                items = dict(items)
            dict.update(
                self,
                {
                    key: _track(value, owner) if isinstance(value, (dict, list)) else value
                    for key, value in items.items()
                },
            )

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _track(value, self._owner))
        _notify(self._owner)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        _notify(self._owner)

    def __ior__(self, other: Any) -> TrackedDict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        _notify(self._owner)

    def pop(self, key: str, *default: Any) -> Any:
        result = super().pop(key, *default)
        _notify(self._owner)
        return result

    def popitem(self) -> tuple[str, Any]:
        result = super().popitem()
        _notify(self._owner)
        return result

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            super().__setitem__(key, _track(value, self._owner))
        _notify(self._owner)


_T = TypeVar("_T")


class TrackedList(list[_T]):
    """A list that tells its owning entity when it changes; ``item`` converts what is put in."""

    __slots__ = ("_item", "_owner")

    def __init__(
        self,
        items: Iterable[Any] = (),
        owner: Owner | None = None,
        item: Callable[[Any], Any] | None = None,
    ) -> None:
        self._owner = owner
        self._item = item
        if item is not None:
            super().__init__([item(value) for value in items])
        else:
            super().__init__([_track(value, owner) for value in items])

    @classmethod
    def _of_converted(
        cls, items: list[_T], owner: Owner, item: Callable[[Any], Any]
    ) -> TrackedList[_T]:
        """A tracked list of ``items`` already converted by ``item`` (no conversion run)."""
        tracked = cls.__new__(cls)
        list.extend(tracked, items)
        tracked._owner = owner
        tracked._item = item
        return tracked

    def _convert(self, value: Any) -> Any:
        if self._item is not None:
            return self._item(value)
        return _track(value, self._owner)

    def __reduce__(self) -> Any:
        return (list, (list(self),))

    @overload
    def __setitem__(self, index: SupportsIndex, value: _T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[_T]) -> None: ...
    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [self._convert(item) for item in value])
        else:
            super().__setitem__(index, self._convert(value))
        _notify(self._owner)

    def __delitem__(self, index: SupportsIndex | slice) -> None:
        super().__delitem__(index)
        _notify(self._owner)

    def __iadd__(self, other: Iterable[Any]) -> TrackedList[_T]:  # type: ignore[override,misc]
        self.extend(other)
        return self

    def __imul__(self, count: SupportsIndex) -> TrackedList[_T]:
        super().__imul__(count)
        _notify(self._owner)
        return self

    def append(self, value: Any) -> None:
        super().append(self._convert(value))
        _notify(self._owner)

    def extend(self, values: Iterable[Any]) -> None:
        super().extend(self._convert(value) for value in values)
        _notify(self._owner)

    def insert(self, index: SupportsIndex, value: Any) -> None:
        super().insert(index, self._convert(value))
        _notify(self._owner)

    def pop(self, index: SupportsIndex = -1) -> _T:
        result = super().pop(index)
        _notify(self._owner)
        return result

    def remove(self, value: Any) -> None:
        super().remove(value)
        _notify(self._owner)

    def clear(self) -> None:
        super().clear()
        _notify(self._owner)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        _notify(self._owner)

    def reverse(self) -> None:
        super().reverse()
        _notify(self._owner)


def _owner_of(entity: Any) -> Owner:
    return weakref.ref(entity)


def _tracked_metadata(value: object, self: Any) -> TrackedDict:
    if isinstance(value, TrackedDict) and value._owner is not None and value._owner() is self:
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{type(self).__name__}.metadata must be a dict, got {type(value).__name__} {value!r}"
        )
    return TrackedDict(value, _owner_of(self))


def _region(item: object) -> Region:
    if not isinstance(item, Region):
        raise ValidationError(
            f"regions must hold Region objects, got {type(item).__name__} {item!r}"
        )
    return item


def _tracked_list(item: Callable[[Any], Any], what: str) -> attrs.Converter[Any, Any]:
    def convert(value: object, self: Any) -> TrackedList[Any]:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise ValidationError(
                f"{type(self).__name__}.{what} must be a list, got {type(value).__name__} {value!r}"
            )
        return TrackedList(value, _owner_of(self), item)

    return attrs.Converter(convert, takes_self=True)  # type: ignore[call-overload,no-any-return]


def _on_change(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> Any:
    session = instance._session
    if session is not None and attribute.name not in _UNTRACKED:
        session._entity_changed(instance)
    return value


_UNTRACKED = frozenset({"_session"})
_TRACKING = [attrs.setters.convert, attrs.setters.validate, _on_change]


_REPR_ITEMS = 5
"""How many items of a long list a repr shows (a public model has a thousand concepts)."""


def _short_list_repr(items: Sequence[Any]) -> str:
    """``repr`` of a list, cut to its first few items and a count of the rest when long."""
    if len(items) <= _REPR_ITEMS * 2:
        return repr(items)
    shown = ", ".join(repr(item) for item in items[:_REPR_ITEMS])
    return f"[{shown}, ... {len(items) - _REPR_ITEMS} more]"


def _session_field() -> Any:
    """The private ``_session`` field of mapped entities (not in init, repr or equality)."""
    return attrs.field(
        default=None, init=False, repr=False, eq=False, on_setattr=attrs.setters.NO_OP
    )


# -- mapped entities ----------------------------------------------------------------------------


@attrs.define(on_setattr=_TRACKING)  # type: ignore[arg-type]
class Input:
    """An image or video in an app, with its concepts, metadata, geo point and regions.

    ``concepts`` holds :class:`ConceptAnnotation` values; a plain string put in it becomes a
    positive annotation. ``status``, ``created_at`` and ``modified_at`` are the server's.
    """

    id: str = attrs.field(factory=new_id, validator=_validate_id)
    image: Image | None = attrs.field(default=None, validator=_instance_of(Image, type(None)))
    video: Video | None = attrs.field(default=None, validator=_instance_of(Video, type(None)))
    concepts: list[ConceptAnnotation] = attrs.field(
        factory=list,
        converter=_tracked_list(_annotation, "concepts"),  # type: ignore[misc]
    )
    metadata: dict[str, Any] = attrs.field(
        factory=dict,
        converter=attrs.Converter(_tracked_metadata, takes_self=True),  # type: ignore[misc]
    )
    geo: GeoPoint | None = attrs.field(default=None, validator=_instance_of(GeoPoint, type(None)))
    regions: list[Region] = attrs.field(factory=list, converter=_tracked_list(_region, "regions"))  # type: ignore[misc]
    status: Status | None = attrs.field(default=None, eq=False)
    created_at: datetime.datetime | None = attrs.field(
        default=None, validator=_optional_datetime, eq=False
    )
    modified_at: datetime.datetime | None = attrs.field(
        default=None, validator=_optional_datetime, eq=False
    )
    _session: Any = _session_field()  # noqa: RUF009

    def __attrs_post_init__(self) -> None:
        if self.image is not None and self.video is not None:
            raise ValidationError("an Input holds an image or a video, not both")

    @classmethod
    def from_media(
        cls,
        source: str | bytes | PathLike[str] | IO[bytes],
        *,
        concepts: Iterable[str | ConceptAnnotation] = (),
        not_concepts: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        geo: GeoPoint | tuple[float, float] | None = None,
        id: str | None = None,
        crop: Sequence[float] | None = None,
        allow_duplicate_url: bool = False,
        kind: Literal["image", "video"] | None = None,
    ) -> Input:
        """An input from a path, URL, bytes, file object or ``data:`` URI.

        ``concepts`` are positive annotations, ``not_concepts`` negative ones (value 0);
        ``geo`` a :class:`GeoPoint` or a ``(longitude, latitude)`` pair. The media is read now,
        so an unreadable source raises :class:`clarimap.errors.MediaError` here.
        """
        from clarimap.media import resolve_media

        resolved = resolve_media(source, kind=kind)
        if resolved.kind == "image" and resolved.base64 is not None:
            check_image_bytes(resolved.base64, source)
        media: Image | Video
        if resolved.kind == "video":
            if crop is not None:
                raise ValidationError("crop applies to images, not videos")
            media = Video(
                url=resolved.url, base64=resolved.base64, allow_duplicate_url=allow_duplicate_url
            )
        else:
            media = Image(
                url=resolved.url,
                base64=resolved.base64,
                crop=crop,  # type: ignore[arg-type]
                allow_duplicate_url=allow_duplicate_url,
            )
        annotations = [_annotation(item) for item in concepts]
        if isinstance(not_concepts, str):
            raise ValidationError("not_concepts must be a list of concept ids, not one string")
        annotations += [ConceptAnnotation(_annotation(item).id, 0.0) for item in not_concepts]
        if geo is not None and not isinstance(geo, GeoPoint):
            if not isinstance(geo, tuple) or len(geo) != 2:
                raise ValidationError(
                    f"geo must be a GeoPoint or (longitude, latitude), got {geo!r}"
                )
            geo = GeoPoint(*geo)
        return cls(
            id=new_id() if id is None else id,
            image=media if isinstance(media, Image) else None,
            video=media if isinstance(media, Video) else None,
            concepts=annotations,
            metadata=dict(metadata or {}),
            geo=geo,
        )

    @property
    def concept_ids(self) -> list[str]:
        """The ids of the concepts annotated positive."""
        return [concept.id for concept in self.concepts if concept.positive]

    @property
    def not_concept_ids(self) -> list[str]:
        """The ids of the concepts annotated negative."""
        return [concept.id for concept in self.concepts if not concept.positive]


@attrs.define(on_setattr=_TRACKING)  # type: ignore[arg-type]
class Concept:
    """A concept of an app (or of a model's output). ``name`` defaults to the id on the server."""

    id: str = attrs.field(validator=_validate_id)
    name: str | None = attrs.field(default=None, validator=_optional_text)
    language: str | None = attrs.field(default=None, validator=_optional_text)
    definition: str | None = attrs.field(default=None, validator=_optional_text)
    app_id: str | None = attrs.field(default=None, eq=False)
    created_at: datetime.datetime | None = attrs.field(
        default=None, validator=_optional_datetime, eq=False
    )
    _session: Any = _session_field()  # noqa: RUF009


def _concept(item: object) -> Concept:
    if isinstance(item, Concept):
        return item
    if isinstance(item, str):
        return Concept(item)
    raise ValidationError(f"a model's concepts are Concept objects or ids, got {item!r}")


@attrs.define
class ModelVersion:
    """One trained (or training) version of a model."""

    id: str = attrs.field(validator=_validate_id)
    status: Status | None = None
    created_at: datetime.datetime | None = attrs.field(default=None, validator=_optional_datetime)
    active_concept_count: int = 0
    total_input_count: int = 0
    #: The evaluation metrics as the API sent them (``None`` until evaluated).
    metrics: dict[str, Any] | None = None


@attrs.define(on_setattr=_TRACKING)  # type: ignore[arg-type]
class Model:
    """A model: its concepts and output settings, and the version the API reported with it."""

    id: str = attrs.field(factory=new_id, validator=_validate_id)
    name: str | None = attrs.field(default=None, validator=_optional_text)
    concepts: list[Concept] = attrs.field(
        factory=list,
        converter=_tracked_list(_concept, "concepts"),  # type: ignore[misc]
        repr=_short_list_repr,
    )
    concepts_mutually_exclusive: bool = attrs.field(default=False, validator=_instance_of(bool))
    closed_environment: bool = attrs.field(default=False, validator=_instance_of(bool))
    max_concepts: int = attrs.field(default=0, validator=_instance_of(int))
    min_value: float = attrs.field(default=0.0, converter=_FLOAT)  # type: ignore[misc]
    hyper_params: dict[str, Any] = attrs.field(
        factory=dict,
        converter=attrs.Converter(_tracked_metadata, takes_self=True),  # type: ignore[misc]
    )
    type: str | None = attrs.field(default=None, eq=False)
    type_ext: str | None = attrs.field(default=None, eq=False)
    model_type_id: str | None = attrs.field(default=None, validator=_optional_text)
    display_name: str | None = attrs.field(default=None, validator=_optional_text)
    app_id: str | None = attrs.field(default=None, eq=False)
    created_at: datetime.datetime | None = attrs.field(
        default=None, validator=_optional_datetime, eq=False
    )
    model_version: ModelVersion | None = attrs.field(default=None, eq=False)
    _session: Any = _session_field()  # noqa: RUF009

    # -- calls (through the model's session; see clarimap._models) ----------------------------

    @overload
    def predict(
        self,
        sources: list[Any] | tuple[Any, ...],
        *,
        min_value: float | None = None,
        max_concepts: int | None = None,
        select_concepts: Iterable[str | Concept] | None = None,
        language: str | None = None,
        sample_ms: int | None = None,
        version: ModelVersion | str | None = None,
        raise_on_failure: bool = False,
        kind: Literal["image", "video"] | None = None,
    ) -> list[Prediction]: ...
    @overload
    def predict(
        self,
        sources: Input | str | bytes | PathLike[str] | IO[bytes],
        *,
        min_value: float | None = None,
        max_concepts: int | None = None,
        select_concepts: Iterable[str | Concept] | None = None,
        language: str | None = None,
        sample_ms: int | None = None,
        version: ModelVersion | str | None = None,
        raise_on_failure: bool = False,
        kind: Literal["image", "video"] | None = None,
    ) -> Prediction: ...
    def predict(
        self,
        sources: Any,
        *,
        min_value: float | None = None,
        max_concepts: int | None = None,
        select_concepts: Iterable[str | Concept] | None = None,
        language: str | None = None,
        sample_ms: int | None = None,
        version: ModelVersion | str | None = None,
        raise_on_failure: bool = False,
        kind: Literal["image", "video"] | None = None,
    ) -> Prediction | list[Prediction]:
        """Run the model on one source (a :class:`Prediction`) or a list (one each, in order).

        A source is an :class:`Input` (one without media, such as ``Input(id="photo-1")``, is
        predicted by id from the app's stored inputs) or anything the media sources accept:
        a path, URL, bytes, file object, ``data:`` URI; images and videos (``frames``). Options:
        ``min_value`` (0-1), ``max_concepts``, ``select_concepts`` (concept ids), ``language``,
        ``sample_ms`` (videos), ``version`` (a :class:`ModelVersion` or id). More than 128
        inputs are sent in several calls. An input that fails (a bad URL, bytes that are no
        image) gives a :class:`Prediction` whose ``status`` says why; with
        ``raise_on_failure=True`` a :class:`~clarimap.errors.PredictionError` is raised instead.
        """
        from clarimap import _models

        config = _models.output_config(
            min_value=min_value,
            max_concepts=max_concepts,
            select_concepts=select_concepts,
            language=language,
            sample_ms=sample_ms,
        )
        return _models.predict(
            self,
            sources,
            version=version,
            config=config,
            raise_on_failure=raise_on_failure,
            kind=kind,
        )

    def train(self, *, wait: bool = True, timeout: float = 300.0) -> ModelVersion:
        """Train a new version on the app's inputs annotated with the model's concepts.

        Pending edits are flushed first. With ``wait`` (the default), polls with backoff while
        the version is queued or training and returns it trained, or raises
        :class:`~clarimap.errors.TrainingError` (``2111x``: no data, no positives...) or
        :class:`~clarimap.errors.WaitTimeoutError` after ``timeout`` seconds. Without, returns
        the queued version at once. ``model_version`` becomes the new version.
        """
        from clarimap import _models

        return _models.train(self, wait=wait, timeout=timeout)

    @property
    def versions(self) -> Iterator[ModelVersion]:
        """The model's versions, newest first, fetched a page at a time as you iterate."""
        from clarimap import _models

        return _models.iter_versions(self)

    def get_version(self, version_id: str) -> ModelVersion:
        """One version by id (:class:`~clarimap.errors.NotFound` if there is none)."""
        from clarimap import _models

        return _models.get_version(self, version_id)

    def delete_version(self, version: ModelVersion | str) -> None:
        """Delete one version now (a model keeps at least one)."""
        from clarimap import _models

        _models.delete_version(self, version)

    def evaluate(
        self,
        version: ModelVersion | str | None = None,
        *,
        wait: bool = True,
        timeout: float = 300.0,
    ) -> EvaluationMetrics:
        """Evaluate a trained version (default: ``model_version``) by cross-validation.

        With ``wait``, returns the finished :class:`EvaluationMetrics` or raises
        :class:`~clarimap.errors.EvaluationError`; without, the metrics as queued.
        """
        from clarimap import _models

        return _models.evaluate(self, version, wait=wait, timeout=timeout)

    @property
    def inputs(self) -> Iterator[Input]:
        """The inputs the model learns from (annotated with any of its concepts), paged lazily."""
        from clarimap import _models

        return _models.iter_inputs(self)

    def inputs_of(self, version: ModelVersion | str) -> Iterator[Input]:
        """The inputs a version was trained on, paged lazily."""
        from clarimap import _models

        return _models.iter_inputs(self, version)

    def send_feedback(
        self,
        target: Input | Prediction | str,
        *,
        concepts: Iterable[str | ConceptAnnotation] = (),
        not_concepts: Iterable[str] = (),
        regions: Iterable[Region] = (),
        end_user_id: str | None = None,
        session_id: str | None = None,
        event_type: FeedbackEvent = "annotation",
        output_id: str | None = None,
        version: ModelVersion | str | None = None,
    ) -> None:
        """Tell the model what is right about an input it predicted (a :class:`Prediction`,
        an :class:`Input` or an input id): the concepts it shows and does not show, and regions
        (with ``feedback`` such as ``"misplaced"``)."""
        from clarimap import _models

        info = FeedbackInfo(end_user_id, session_id, event_type, output_id)
        _models.send_model_feedback(
            self,
            target,
            concepts=concepts,
            not_concepts=not_concepts,
            regions=regions,
            info=info,
            version=version,
        )


@attrs.frozen
class WorkflowNode:
    """One model of a workflow, at a fixed version."""

    id: str
    model_id: str
    model_version_id: str | None = None


def _workflow_node(item: object) -> WorkflowNode:
    if isinstance(item, WorkflowNode):
        return item
    raise ValidationError(
        f"a workflow's nodes are WorkflowNode objects, got {type(item).__name__} {item!r}"
    )


@attrs.define(on_setattr=_TRACKING)  # type: ignore[arg-type]
class Workflow:
    """A workflow: several models run on each input in one call.

    ``session.add(Workflow(id, nodes=[...]))`` creates one at the next flush (after the models
    it references); :meth:`Session.create_workflow` adds one and flushes. ``session.get(Workflow,
    id)`` reads one; edits of its ``nodes`` are sent at the next flush (one PATCH, overwrite).
    """

    id: str = attrs.field(validator=_validate_id)
    nodes: list[WorkflowNode] = attrs.field(
        factory=list,
        converter=_tracked_list(_workflow_node, "nodes"),  # type: ignore[misc]
    )
    app_id: str | None = None
    created_at: datetime.datetime | None = attrs.field(default=None, validator=_optional_datetime)
    _session: Any = _session_field()  # noqa: RUF009

    def predict(
        self,
        sources: Any,
        *,
        min_value: float | None = None,
        max_concepts: int | None = None,
        select_concepts: Iterable[str | Concept] | None = None,
        language: str | None = None,
        sample_ms: int | None = None,
        raise_on_failure: bool = False,
        kind: Literal["image", "video"] | None = None,
    ) -> Any:
        """Run every node on one source (a :class:`WorkflowResult`) or a list (one each).

        Sources and options as in :meth:`Model.predict`; each result holds one
        :class:`Prediction` per node, in node order (:meth:`WorkflowResult.output_of`).
        """
        from clarimap import _models

        config = _models.output_config(
            min_value=min_value,
            max_concepts=max_concepts,
            select_concepts=select_concepts,
            language=language,
            sample_ms=sample_ms,
        )
        return _models.predict_workflow(
            self, sources, config=config, raise_on_failure=raise_on_failure, kind=kind
        )

    def delete(self) -> None:
        """Delete the workflow now: ``session.delete(workflow)`` and a flush (which sends every
        pending change of the session)."""
        from clarimap import _models

        _models.delete_workflow(self)


#: The entity classes a session maps, with the path of their collection.
MAPPED_ENTITIES: dict[type, str] = {
    Concept: "concepts",
    Input: "inputs",
    Model: "models",
    Workflow: "workflows",
}


# -- construction from checked values -----------------------------------------------------------
#
# ``cls(...)`` runs every converter and validator of the class: right for values a user gives,
# and most of the cost of reading server answers (an Input's __init__ is about 6 us, against 1 us
# to set its fields). ``trusted_constructor(cls)`` builds instances without them. It is called only
# by clarimap.converters, which checks each value read from the server first with cheap tests
# that imply the validators' (a well-formed id, a finite float, a fraction...) and falls back to
# ``cls(...)`` when a test fails, so a bad answer raises the same ValidationError as before.

_TRACKED_FIELDS: dict[type, dict[str, Callable[[Any], Any] | None]] = {
    Input: {"concepts": _annotation, "metadata": None, "regions": _region},
    Model: {"concepts": _concept, "hyper_params": None},
    Workflow: {"nodes": _workflow_node},
}


def _wrap_tracked_list(
    item: Callable[[Any], Any],
) -> Callable[[list[Any], Owner], TrackedList[Any]]:
    def wrap(items: list[Any], owner: Owner) -> TrackedList[Any]:
        return TrackedList._of_converted(items, owner, item)

    return wrap


def trusted_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A function making ``cls`` instances from already valid values, skipping the class's checks.

    The function takes every init field of ``cls`` (by name or in order) and sets each as given:
    no converter, validator or ``__attrs_post_init__`` runs, so a float must already be a finite
    float, a tuple a tuple, an id a valid id. For a mapped entity, its tracked fields (``metadata``,
    ``concepts``, ``regions``, ``hyper_params``) take a plain dict, or a list of items already of
    the field's type, and get wrapped in tracked containers owned by the new entity; ``_session``
    starts as None. Made once per class (the function is generated, as attrs makes ``__init__``).
    User-facing construction never goes this way.
    """
    tracked = _TRACKED_FIELDS.get(cls, {})
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_weak": weakref.ref,
        "_TrackedDict": TrackedDict,
    }
    all_fields = attrs.fields(cast(Any, cls))
    init_fields = [field for field in all_fields if field.init]
    parameters = ", ".join(field.name for field in init_fields)
    lines = [f"def build({parameters}):", "    _instance = _new(_cls)"]
    if tracked:
        lines.append("    _owner = _weak(_instance)")
    for field in all_fields:
        if not field.init:
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{field.name}: a non-init field with a factory")
            namespace[f"_default_{field.name}"] = field.default
            value = f"_default_{field.name}"
        elif field.name not in tracked:
            value = field.name
        elif tracked[field.name] is None:
            value = f"_TrackedDict({field.name}, _owner)"
        else:
            namespace[f"_wrap_{field.name}"] = _wrap_tracked_list(tracked[field.name])  # type: ignore[arg-type]
            value = f"_wrap_{field.name}({field.name}, _owner)"
        lines.append(f"    _set(_instance, {field.name!r}, {value})")
    lines.append("    return _instance")
    exec(compile("\n".join(lines), f"<clarimap trusted {cls.__name__}>", "exec"), namespace)
    build: Callable[..., _T] = namespace["build"]
    build.__doc__ = f"A {cls.__name__} from already valid values (see trusted_constructor)."
    return build


# -- what models answer (predictions, evaluations, feedback) ------------------------------------
#
# Frozen value objects read from predict, workflow and evaluation answers. The calls that make
# them live in :mod:`clarimap._models` (the methods of Model and Workflow delegate to it).


@attrs.frozen
class PredictedConcept:
    """A concept a model sees, with its score (``value``, 0 to 1)."""

    id: str
    value: float
    name: str | None = None
    app_id: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Color:
    """A dominant colour: its exact hex, the nearest W3C named colour, and its share of the area."""

    raw_hex: str
    w3c_hex: str
    w3c_name: str
    #: The share of the image area, 0 to 1.
    value: float


@attrs.frozen
class Embedding:
    """A vector a model made of an image."""

    vector: tuple[float, ...]

    @property
    def num_dimensions(self) -> int:
        """The length of the vector."""
        return len(self.vector)


@attrs.frozen
class Face:
    """What a face model says of a face: identity and appearance concepts (each may be empty)."""

    identity: tuple[PredictedConcept, ...] = ()
    age_appearance: tuple[PredictedConcept, ...] = ()
    gender_appearance: tuple[PredictedConcept, ...] = ()
    multicultural_appearance: tuple[PredictedConcept, ...] = ()


@attrs.frozen
class DetectedRegion:
    """A part of an image a model found: its box, its score, and what was seen in it."""

    id: str
    bounding_box: BoundingBox | None = None
    #: The detection's confidence, when the model gives one.
    value: float | None = None
    concepts: tuple[PredictedConcept, ...] = ()
    face: Face | None = None


@attrs.frozen
class Frame:
    """The prediction for one sampled frame of a video: its index and time (milliseconds)."""

    index: int
    time: int
    concepts: tuple[PredictedConcept, ...] = ()
    colors: tuple[Color, ...] = ()
    regions: tuple[DetectedRegion, ...] = ()
    embeddings: tuple[Embedding, ...] = ()


@attrs.frozen
class Prediction:
    """What one model said about one input, with that input's own status.

    For a video, ``frames`` holds one :class:`Frame` per sample and the other lists are empty.
    A failed item (a download that failed, bytes that are no image) has a status that is not
    ``ok`` and nothing else.
    """

    input_id: str
    status: Status
    concepts: tuple[PredictedConcept, ...] = ()
    colors: tuple[Color, ...] = ()
    regions: tuple[DetectedRegion, ...] = ()
    embeddings: tuple[Embedding, ...] = ()
    frames: tuple[Frame, ...] = ()
    model_id: str | None = None
    model_version_id: str | None = None
    #: The id of this output (feedback on it names it).
    output_id: str | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """True when the model ran on this input."""
        return self.status.ok

    @property
    def concept_ids(self) -> list[str]:
        """The ids of the predicted concepts, best first."""
        return [concept.id for concept in self.concepts]


@attrs.frozen
class WorkflowResult:
    """Every node's output for one input of a workflow predict, in node order."""

    input_id: str
    status: Status
    outputs: tuple[Prediction, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the input could be read (each output has its own status too)."""
        return self.status.ok

    def output_of(self, model_id: str) -> Prediction:
        """The output of the node running ``model_id`` (``KeyError`` if no node runs it)."""
        for output in self.outputs:
            if output.model_id == model_id:
                return output
        raise KeyError(f"no node of the workflow ran model {model_id!r}")


@attrs.frozen
class MetricsSummary:
    """The headline figures of an evaluation (macro averages over the concepts)."""

    top1_accuracy: float = 0.0
    top5_accuracy: float = 0.0
    macro_avg_roc_auc: float = 0.0
    macro_std_roc_auc: float = 0.0
    macro_avg_f1_score: float = 0.0
    macro_std_f1_score: float = 0.0
    macro_avg_precision: float = 0.0
    macro_avg_recall: float = 0.0


@attrs.frozen
class RocCurve:
    """False and true positive rates at each threshold."""

    fpr: tuple[float, ...] = ()
    tpr: tuple[float, ...] = ()
    thresholds: tuple[float, ...] = ()


@attrs.frozen
class PrecisionRecallCurve:
    """Precision and recall at each threshold."""

    recall: tuple[float, ...] = ()
    precision: tuple[float, ...] = ()
    thresholds: tuple[float, ...] = ()


@attrs.frozen
class BinaryMetrics:
    """One concept's evaluation: counts, ROC AUC, F1 and curves."""

    concept_id: str
    num_pos: int = 0
    num_neg: int = 0
    num_tot: int = 0
    roc_auc: float = 0.0
    f1: float = 0.0
    roc_curve: RocCurve = RocCurve()
    precision_recall_curve: PrecisionRecallCurve = PrecisionRecallCurve()
    concept_name: str | None = None


@attrs.frozen
class ConfusionCell:
    """How many inputs of concept ``actual`` were predicted as ``predicted``."""

    predicted: str
    actual: str
    value: float


@attrs.frozen
class EvaluationMetrics:
    """The metrics of an evaluated model version (``model.evaluate()``)."""

    status: Status
    summary: MetricsSummary = MetricsSummary()
    binary_metrics: tuple[BinaryMetrics, ...] = ()
    confusion_matrix: tuple[ConfusionCell, ...] = ()
    concept_ids: tuple[str, ...] = ()
    #: Concept id or name -> how many inputs are positive for it.
    positive_label_counts: Mapping[str, int] = attrs.field(factory=dict, eq=False)

    def for_concept(self, concept_id: str) -> BinaryMetrics:
        """The binary metrics of one concept (``KeyError`` if it was not evaluated)."""
        for metrics in self.binary_metrics:
            if metrics.concept_id == concept_id:
                return metrics
        raise KeyError(f"concept {concept_id!r} was not evaluated")

    def confusion(self, predicted: str, actual: str) -> float:
        """The cell of the confusion matrix (0 when absent)."""
        for cell in self.confusion_matrix:
            if cell.predicted == predicted and cell.actual == actual:
                return cell.value
        return 0.0


FeedbackEvent = Literal["undefined", "search_click", "annotation"]


@attrs.frozen
class FeedbackInfo:
    """Who gave feedback and on what (an output of a predict, or a search)."""

    end_user_id: str | None = None
    session_id: str | None = None
    event_type: FeedbackEvent = attrs.field(default="annotation")
    output_id: str | None = None
    search_id: str | None = None

    @event_type.validator
    def _check_event_type(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in ("undefined", "search_click", "annotation"):
            raise ValidationError(
                f"FeedbackInfo.event_type must be undefined, search_click or annotation; got {value!r}"
            )
