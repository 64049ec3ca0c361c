"""Hypothesis strategies for clarimap entities (used by the round-trip and stateful tests)."""

from __future__ import annotations

import datetime
import string
from typing import Any

from hypothesis import strategies as st

from clarimap.entities import (
    BoundingBox,
    Concept,
    ConceptAnnotation,
    GeoBox,
    GeoLimit,
    GeoPoint,
    Image,
    Input,
    Model,
    ModelVersion,
    Region,
    Status,
    Video,
    Workflow,
    WorkflowNode,
)

ids = st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=12)
short_text = st.text(string.ascii_letters + " é猫", min_size=1, max_size=10)
fractions = st.floats(0, 1, allow_nan=False)
keys = st.sampled_from(["owner", "size", "tags", "a", "b", "reviewed", "n", "nested"])
scalars = st.one_of(
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    short_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=6,
)
metadata = st.dictionaries(keys, json_values, max_size=4)
moments = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1),
    max_value=datetime.datetime(2100, 1, 1),
    timezones=st.just(datetime.timezone.utc),
)
geo_points = st.builds(GeoPoint, st.floats(-180, 180), st.floats(-90, 90))
annotations = st.builds(ConceptAnnotation, ids, st.sampled_from([0.0, 1.0, 0.25]))
statuses = st.builds(Status, st.sampled_from([30000, 30001, 30002, 10000]), short_text, st.just(""))
boxes = st.builds(BoundingBox, fractions, fractions, fractions, fractions)
regions = st.builds(
    Region,
    ids,
    st.none() | boxes,
    st.lists(annotations, max_size=2, unique_by=lambda c: c.id).map(tuple),
    st.none() | st.sampled_from(["accurate", "misplaced"]),
)
images = st.builds(
    Image,
    url=st.none() | st.just("https://example.com/a.jpg"),
    base64=st.binary(min_size=1, max_size=20),
    crop=st.none() | st.tuples(fractions, fractions, fractions, fractions),
    allow_duplicate_url=st.booleans(),
)
videos = st.builds(Video, url=st.just("https://example.com/v.mp4"), allow_duplicate_url=st.booleans())
inputs = st.builds(
    Input,
    id=ids,
    image=images,
    concepts=st.lists(annotations, max_size=3, unique_by=lambda c: c.id),
    metadata=metadata,
    geo=st.none() | geo_points,
    regions=st.lists(regions, max_size=2, unique_by=lambda r: r.id),
    status=st.none() | statuses,
    created_at=st.none() | moments,
    modified_at=st.none() | moments,
) | st.builds(Input, id=ids, video=videos, metadata=metadata)
concepts = st.builds(
    Concept, ids, st.none() | short_text, st.none() | st.just("en"), st.none() | short_text,
    app_id=st.none() | ids, created_at=st.none() | moments,
)
model_versions = st.builds(
    ModelVersion, ids, st.none() | statuses, st.none() | moments,
    st.integers(0, 9), st.integers(0, 9), st.none() | st.just({"status": {"code": 21303.0}}),
)
models = st.builds(
    Model,
    id=ids,
    name=st.none() | short_text,
    concepts=st.lists(concepts, max_size=3, unique_by=lambda c: c.id),
    concepts_mutually_exclusive=st.booleans(),
    closed_environment=st.booleans(),
    max_concepts=st.integers(0, 20),
    min_value=fractions,
    hyper_params=metadata,
    type=st.none() | st.just("concept"),
    type_ext=st.none() | st.just("concept"),
    model_type_id=st.none() | st.just("embedding-classifier"),
    display_name=st.none() | short_text,
    app_id=st.none() | ids,
    created_at=st.none() | moments,
    model_version=st.none() | model_versions,
)
workflows = st.builds(
    Workflow, ids,
    st.lists(st.builds(WorkflowNode, ids, ids, st.none() | ids), max_size=3),
    st.none() | ids, st.none() | moments,
)
geo_limits = st.builds(GeoLimit, st.floats(0, 1000), st.sampled_from(["miles", "kilometers", "degrees", "radians"]))
geo_boxes = st.builds(GeoBox, geo_points, geo_points)
