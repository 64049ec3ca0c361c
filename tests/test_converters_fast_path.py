"""The converter's fast construction path builds what the validating constructors build.

Reading server JSON skips the attrs converters and validators when cheap checks pass (see
``clarimap.entities.trusted_constructor``); these tests pin that the result is the same object,
tracked the same way, and that bad data still raises the constructors' own ValidationError.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarimap.converters import _TIMESTAMP, parse_timestamp, structure, unstructure
from clarimap.entities import (
    BoundingBox,
    Concept,
    ConceptAnnotation,
    GeoPoint,
    Image,
    Input,
    Model,
    Region,
    TrackedDict,
    TrackedList,
    Video,
)
from clarimap.errors import ValidationError
from tests.property import strategies


def all_fields(entity: Any) -> dict[str, Any]:
    """Every attrs field of ``entity`` (those left out of equality too), but ``_session``."""
    return {
        field.name: getattr(entity, field.name)
        for field in attrs.fields(type(entity))
        if field.name != "_session"
    }


def assert_tracked(value: Any, owner: Any) -> None:
    """Every dict and list inside ``value`` is tracked and owned by ``owner``."""
    if isinstance(value, dict):
        assert type(value) is TrackedDict and value._owner is not None
        assert value._owner() is owner
        for item in value.values():
            assert_tracked(item, owner)
    elif isinstance(value, list):
        assert type(value) is TrackedList and value._owner is not None
        assert value._owner() is owner
        for item in value:
            assert_tracked(item, owner)


@settings(max_examples=150)
@given(strategies.inputs)
def test_structured_inputs_equal_validated_construction(original: Input) -> None:
    wire = unstructure(original)
    fast = structure(wire, Input)
    validated = Input(**all_fields(fast))
    assert all_fields(fast) == all_fields(validated)
    assert all_fields(fast) == all_fields(original)
    assert fast._session is None
    assert_tracked(fast.metadata, fast)
    assert type(fast.concepts) is TrackedList and fast.concepts._owner() is fast  # type: ignore[attr-defined]
    assert type(fast.regions) is TrackedList and fast.regions._owner() is fast  # type: ignore[attr-defined]
    fast.concepts.append("added")  # the list still converts what is put in
    assert fast.concepts[-1] == ConceptAnnotation("added")


@settings(max_examples=60)
@given(strategies.models)
def test_structured_models_equal_validated_construction(original: Model) -> None:
    fast = structure(unstructure(original), Model)
    assert all_fields(fast) == all_fields(original)
    assert_tracked(fast.hyper_params, fast)
    assert type(fast.concepts) is TrackedList and fast.concepts._owner() is fast  # type: ignore[attr-defined]
    fast.concepts.append("extra")
    assert fast.concepts[-1] == Concept("extra")


BAD_INPUTS: list[tuple[str, dict[str, Any], type[BaseException], str]] = [
    ("id with a slash", {"id": "a/b"}, ValidationError, "contains '/'"),
    ("empty id", {"id": ""}, ValidationError, "must not be empty"),
    ("id not a string", {"id": 7}, ValidationError, "must be a string"),
    ("id too long", {"id": "x" * 256}, ValidationError, "the limit is 255"),
    ("id starting with a space", {"id": " x"}, ValidationError, "whitespace"),
    (
        "concept id with a slash",
        {"id": "i", "data": {"concepts": [{"id": "c/d"}]}},
        ValidationError,
        "contains '/'",
    ),
    (
        "infinite concept value",
        {"id": "i", "data": {"concepts": [{"id": "c", "value": "inf"}]}},
        ValidationError,
        "must be finite",
    ),
    (
        "concept name not a string",
        {"id": "i", "data": {"concepts": [{"id": "c", "name": 5}]}},
        ValidationError,
        "must be a string or None",
    ),
    (
        "latitude out of range",
        {"id": "i", "data": {"geo": {"geo_point": {"longitude": 0, "latitude": 91}}}},
        ValidationError,
        "latitude must be in",
    ),
    (
        "metadata not an object",
        {"id": "i", "data": {"metadata": [1, 2]}},
        ValidationError,
        "metadata must be a dict",
    ),
    (
        "image and video",
        {"id": "i", "data": {"image": {"url": "u"}, "video": {"url": "v"}}},
        ValidationError,
        "not both",
    ),
    ("image without source", {"id": "i", "data": {"image": {}}}, ValidationError, "needs a url"),
    (
        "image url not a string",
        {"id": "i", "data": {"image": {"url": 3}}},
        ValidationError,
        "must be a string or None",
    ),
    (
        "crop out of range",
        {"id": "i", "data": {"image": {"url": "u", "crop": [0, 0, 2, 1]}}},
        ValidationError,
        "fractions in [0, 1]",
    ),
    ("video without source", {"id": "i", "data": {"video": {}}}, ValidationError, "needs a url"),
    (
        "region with bad feedback",
        {"id": "i", "data": {"regions": [{"id": "r", "region_info": {"feedback": "meh"}}]}},
        ValidationError,
        "Region.feedback",
    ),
    (
        "box side out of range",
        {
            "id": "i",
            "data": {
                "regions": [
                    {
                        "id": "r",
                        "region_info": {
                            "bounding_box": {
                                "top_row": 0,
                                "left_col": 0,
                                "bottom_row": 1.5,
                                "right_col": 1,
                            }
                        },
                    }
                ]
            },
        },
        ValidationError,
        "bottom_row must be a fraction",
    ),
    ("bad timestamp", {"id": "i", "created_at": "yesterday"}, ValueError, "RFC 3339"),
    (
        "canonical-looking timestamp, month 13",
        {"id": "i", "created_at": "2020-13-01T00:00:00.000000Z"},
        ValueError,
        "month",
    ),
]


@pytest.mark.parametrize(
    ("wire", "error", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_server_data_still_raises(
    wire: dict[str, Any], error: type[BaseException], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        structure(wire, Input)


def test_values_the_checks_let_through_match_the_constructors() -> None:
    assert structure({"id": "c", "name": "Cat"}, Concept) == Concept("c", name="Cat")
    assert structure({"longitude": -180, "latitude": 90}, GeoPoint) == GeoPoint(-180, 90)
    assert structure({"url": "u", "crop": [0, 0.5, 1, 1]}, Image).crop == (0.0, 0.5, 1.0, 1.0)
    assert structure({"base64": "AAE="}, Video) == Video(base64=b"\x00\x01")
    box = structure({"top_row": 0, "left_col": 0, "bottom_row": 1, "right_col": 1}, BoundingBox)
    assert box == BoundingBox(0, 0, 1, 1) and isinstance(box.bottom_row, float)
    region = structure({"id": "r", "data": {"concepts": [{"id": "a", "value": 0}]}}, Region)
    assert region.concepts == (ConceptAnnotation("a", 0.0),) and type(region.concepts) is tuple
    model = structure({"id": "m", "output_info": {"output_config": {"min_value": 1}}}, Model)
    assert model.min_value == 1.0 and isinstance(model.min_value, float)


def _general_path(text: str) -> datetime.datetime:
    """What parse_timestamp gave before its fast path (the RFC 3339 pattern)."""
    match = _TIMESTAMP.match(text)
    assert match is not None
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    return datetime.datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")


@given(
    st.datetimes(min_value=datetime.datetime(1000, 1, 1), timezones=st.just(datetime.timezone.utc))
)
def test_canonical_timestamps_read_as_the_general_path_reads_them(
    moment: datetime.datetime,
) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    parsed = parse_timestamp(text)
    assert parsed == moment == _general_path(text)
    assert parsed.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2019-01-17T12:43:04.895006174Z",  # nanoseconds
        "2019-01-17T12:43:04Z",  # no fraction
        "2019-01-17t12:43:04.895006z",  # lower case
        "2019-01-17T12:43:04.895006+05:30",  # offset
        "2019-01-17 12:43:04.895006Z",  # a space
    ],
)
def test_other_rfc3339_forms_still_parse(text: str) -> None:
    assert parse_timestamp(text) == _general_path(text)


def test_iso_forms_outside_rfc3339_are_still_refused() -> None:
    for text in ("2019-W03-4T12:43:04.895006Z", "20190117T124304.895006Z", "2019-01-17"):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_timestamp(text)
