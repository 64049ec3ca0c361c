"""structure(unstructure(x)) == x for generated entities and value objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarimap.converters import structure, unstructure
from clarimap.entities import (
    Concept,
    GeoBox,
    GeoLimit,
    Input,
    Model,
    Region,
    Workflow,
)
from tests.property import strategies

CASES: list[tuple[type, st.SearchStrategy[Any]]] = [
    (Input, strategies.inputs),
    (Concept, strategies.concepts),
    (Model, strategies.models),
    (Workflow, strategies.workflows),
    (Region, strategies.regions),
    (GeoLimit, strategies.geo_limits),
    (GeoBox, strategies.geo_boxes),
]


@pytest.mark.parametrize(("cls", "strategy"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_round_trip(cls: type, strategy: st.SearchStrategy[Any]) -> None:
    @settings(max_examples=100)
    @given(strategy)
    def round_trip(value: Any) -> None:
        wire = unstructure(value)
        assert json.loads(json.dumps(wire)) == wire  # plain JSON
        again = structure(wire, cls)
        assert again == value
        assert unstructure(again) == wire
        if cls in (Input, Model, Concept):  # fields left out of equality survive too
            for name in ("status", "created_at", "modified_at", "app_id", "model_version"):
                if hasattr(value, name):
                    assert getattr(again, name) == getattr(value, name)

    round_trip()


@given(strategies.metadata)
def test_metadata_numbers_are_sent_as_floats(metadata: dict[str, Any]) -> None:
    wire = unstructure(Input(id="x", metadata=metadata))

    def walk(value: Any) -> None:
        assert not (isinstance(value, int) and not isinstance(value, bool))
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        if isinstance(value, list):
            for item in value:
                walk(item)

    walk(wire.get("data", {}).get("metadata", {}))
