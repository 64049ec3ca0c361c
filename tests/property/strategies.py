"""Strategies of the round-trip and stateful tests, built on :mod:`clarimap.testing.strategies`.

The reusable strategies live in the package (users get them too); this module adds what only
clarimap's own tests need: a few fixed metadata keys (so edits collide), and entities carrying
what the server makes (statuses, dates, model versions), which a round trip must keep.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from clarimap.entities import (
    Concept,
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
from clarimap.testing import strategies as public

ids = public.ids()
short_text = st.text(string.ascii_letters + " é猫", min_size=1, max_size=10)
fractions = st.floats(0, 1, allow_nan=False)
keys = st.sampled_from(["owner", "size", "tags", "a", "b", "reviewed", "n", "nested"])
json_values: st.SearchStrategy[Any] = public.json_values(keys)
metadata = public.metadata(keys, json_values)
moments = public.moments()
geo_points = public.geo_points()
annotations = public.concept_annotations(values=(0.0, 1.0, 0.25))
statuses = st.builds(Status, st.sampled_from([30000, 30001, 30002, 10000]), short_text, st.just(""))
regions = st.builds(
    Region,
    ids,
    st.none() | public.bounding_boxes(),
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
videos = st.builds(
    Video, url=st.just("https://example.com/v.mp4"), allow_duplicate_url=st.booleans()
)
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
    Concept,
    ids,
    st.none() | short_text,
    st.none() | st.just("en"),
    st.none() | short_text,
    app_id=st.none() | ids,
    created_at=st.none() | moments,
)
model_versions = st.builds(
    ModelVersion,
    ids,
    st.none() | statuses,
    st.none() | moments,
    st.integers(0, 9),
    st.integers(0, 9),
    st.none() | st.just({"status": {"code": 21303.0}}),
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
    Workflow,
    ids,
    st.lists(st.builds(WorkflowNode, ids, ids, st.none() | ids), max_size=3),
    st.none() | ids,
    st.none() | moments,
)
geo_limits = public.geo_limits()
geo_boxes = public.geo_boxes()
