"""Differential test of search: the server's hits equal a naive evaluation written here.

Hypothesis generates a data set (annotated concepts, nested metadata with numbers, booleans,
strings and lists, geo points, small images) and queries (concept, metadata subset, geo radius
in every unit, geo box, input id, modification time range, negations, visual similarity). Each query runs through clarimap
against a fresh in-process server, in both dialects (a negation only in the current one; the
legacy dialect must refuse it, as it must a time range), and the hits must equal what :func:`naive_hits` computes by
brute force from the same data, following section 7.3 of the wire reference.
"""

from __future__ import annotations

import datetime
import io
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import clarimap
from clarimap.entities import GeoBox, GeoLimit, GeoPoint, Image, Input
from clarimap.query import Condition, Query, QueryError, fields
from clarimap.server import create_app
from clarimap.server.embedding import describe

f = fields(Input)

# -- data ----------------------------------------------------------------------------------------

PALETTE = [(200, 30, 30), (30, 160, 40), (20, 40, 210), (240, 240, 240)]


def _picture(index: int) -> bytes:
    from PIL import Image as PILImage

    colour = PALETTE[index % len(PALETTE)]
    image = PILImage.new("RGB", (24, 24), colour)
    if index >= len(PALETTE):  # a second family: a dark band across the top
        image.paste((15, 15, 15), (0, 0, 24, 8 + index))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PICTURES = [_picture(i) for i in range(8)]
VECTORS = []
for _raw in PICTURES:
    from PIL import Image as _PILImage

    VECTORS.append(describe(_PILImage.open(io.BytesIO(_raw)).convert("RGB")))

CONCEPTS = ["a", "b", "c"]
KEYS = ["k", "m", "n"]

leaf_values = st.one_of(
    st.sampled_from([0, 1, 2]),
    st.sampled_from([1.0, 2.5]),
    st.booleans(),
    st.sampled_from(["x", "y"]),
    st.lists(st.sampled_from([1, "x", True]), max_size=2),
)
metadata_values = st.recursive(
    leaf_values,
    lambda children: st.dictionaries(st.sampled_from(KEYS), children, max_size=2),
    max_leaves=4,
)
metadata_trees = st.dictionaries(st.sampled_from(KEYS), metadata_values, max_size=3)
coordinates = st.tuples(
    st.sampled_from([-60.0, -1.0, 0.0, 0.5, 2.0, 45.0, 89.0]),
    st.sampled_from([-179.0, -10.0, 0.0, 1.0, 3.0, 120.0, 179.5]),
)


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 8))
    data = []
    for index in range(count):
        data.append(
            {
                "id": f"in{index}",
                "concepts": draw(
                    st.dictionaries(st.sampled_from(CONCEPTS), st.sampled_from([0.0, 1.0]))
                ),
                "metadata": draw(metadata_trees),
                "geo": draw(st.none() | coordinates),
                "picture": draw(st.integers(0, len(PICTURES) - 1)),
            }
        )
    return data


# -- queries -------------------------------------------------------------------------------------
# A query is described as plain data ("spec"), which both builds the clarimap query and drives
# the naive evaluation.


@st.composite
def metadata_queries(draw: st.DrawFn, data: list[dict[str, Any]]) -> dict[str, Any]:
    """A subset of some input's metadata (so that it often matches), or an arbitrary tree."""
    source = draw(st.sampled_from(data))["metadata"]
    if source and draw(st.booleans()):
        return _some_subset(draw, source)
    return draw(metadata_trees)


def _variant(draw: st.DrawFn, value: Any) -> Any:
    """The same leaf, or one written differently: 1 as 1.0 (equal), True as 1 (not equal)."""
    if isinstance(value, bool):
        return draw(st.sampled_from([value, int(value)]))
    if isinstance(value, (int, float)):
        choices = [float(value), value]
        if float(value).is_integer():
            choices.append(int(value))
        if value in (0, 1):
            choices.append(bool(value))
        return draw(st.sampled_from(choices))
    return value


def _some_subset(draw: st.DrawFn, tree: dict[str, Any]) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(tree)), min_size=1, unique=True))
    subset: dict[str, Any] = {}
    for key in keys:
        value = tree[key]
        if isinstance(value, dict) and value and draw(st.booleans()):
            subset[key] = _some_subset(draw, value)
        else:
            subset[key] = _variant(draw, value)
    return subset


@st.composite
def filter_specs(draw: st.DrawFn, data: list[dict[str, Any]]) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(["concept", "metadata", "radius", "box", "id", "modified"]))
    if kind == "concept":
        return ("concept", draw(st.sampled_from([*CONCEPTS, "zzz"])), draw(st.booleans()))
    if kind == "metadata":
        return ("metadata", draw(metadata_queries(data)))
    if kind == "radius":
        # The limit is the distance to some point, a little more or less, or much more: so the
        # boundary is often between two inputs.
        points = [d["geo"] for d in data if d["geo"] is not None]
        centre = draw(st.sampled_from(points) | coordinates) if points else draw(coordinates)
        other = draw(st.sampled_from(points) | coordinates) if points else draw(coordinates)
        angle = central_angle(centre, other) * draw(st.sampled_from([0.95, 1.05, 2.0]))
        assume(angle > 0)
        unit = draw(st.sampled_from(["kilometers", "miles", "degrees", "radians"]))
        return ("radius", centre, unit, angle / UNIT_TO_RADIANS[unit])
    if kind == "box":
        return ("box", draw(coordinates), draw(coordinates))
    if kind == "modified":
        # the bounds are the modification times of inputs (known once stored), or open
        positions = st.none() | st.integers(0, len(data) - 1)
        after, before = draw(positions), draw(positions)
        assume(after is not None or before is not None)
        return ("modified", after, before)
    return ("id", draw(st.sampled_from([*(d["id"] for d in data), "missing"])))


@st.composite
def query_specs(draw: st.DrawFn, data: list[dict[str, Any]]) -> dict[str, Any]:
    filters = draw(st.lists(filter_specs(data), min_size=1, max_size=2))
    negated = [draw(st.booleans()) and draw(st.booleans()) for _ in filters]
    rank = draw(st.none() | st.sampled_from([d["id"] for d in data]))
    return {"filters": filters, "negated": negated, "rank": rank}


def condition_of(spec: tuple[Any, ...], times: list[datetime.datetime]) -> Condition:
    kind = spec[0]
    if kind == "concept":
        return f.concepts.contains(spec[1]) if spec[2] else f.not_concepts.contains(spec[1])
    if kind == "metadata":
        return f.metadata.contains(spec[1])
    if kind == "radius":
        (lat, lon), unit, value = spec[1], spec[2], spec[3]
        return f.geo.within(GeoPoint(lon, lat), GeoLimit(value, unit))
    if kind == "box":
        (lat1, lon1), (lat2, lon2) = spec[1], spec[2]
        return f.geo.inside(GeoBox(GeoPoint(lon1, lat1), GeoPoint(lon2, lat2)))
    if kind == "modified":
        after = None if spec[1] is None else times[spec[1]]
        before = None if spec[2] is None else times[spec[2]]
        if after is not None and before is not None and after > before:
            after, before = before, after
        return Query(Input).where(modified_after=after, modified_before=before).conditions[0]
    return f.id == spec[1]


def build(
    query: Query[Input], spec: dict[str, Any], times: list[datetime.datetime]
) -> Query[Input]:
    for filter_spec, negated in zip(spec["filters"], spec["negated"], strict=True):
        condition = condition_of(filter_spec, times)
        query = query.where(~condition if negated else condition)
    if spec["rank"] is not None:
        query = query.similar_to(input_id=spec["rank"])
    return query


# -- the naive evaluation ------------------------------------------------------------------------


def same_value(query: Any, stored: Any) -> bool:
    if isinstance(query, dict):
        return (
            isinstance(stored, dict)
            and all(
                key in stored and same_value(value, stored[key]) for key, value in query.items()
            )
            if query
            else isinstance(stored, dict)
        )
    if isinstance(query, bool) or isinstance(stored, bool):
        return isinstance(query, bool) and isinstance(stored, bool) and query == stored
    if isinstance(query, (int, float)) and isinstance(stored, (int, float)):
        return float(query) == float(stored)
    if isinstance(query, list):
        return (
            isinstance(stored, list)
            and len(query) == len(stored)
            and all(_equal(q, s) for q, s in zip(query, stored, strict=True))
        )
    return type(query) is type(stored) and query == stored


def _equal(query: Any, stored: Any) -> bool:
    """Equality inside a list: dicts must be equal, not subsets."""
    if isinstance(query, dict) or isinstance(stored, dict):
        return (
            isinstance(query, dict)
            and isinstance(stored, dict)
            and query.keys() == stored.keys()
            and all(_equal(query[k], stored[k]) for k in query)
        )
    return same_value(query, stored)


EARTH_RADIUS_KM = 6371.0
UNIT_TO_RADIANS = {
    "kilometers": 1 / EARTH_RADIUS_KM,
    "miles": 1.609344 / EARTH_RADIUS_KM,
    "degrees": math.pi / 180,
    "radians": 1.0,
}


def central_angle(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle angle between two (latitude, longitude) points, by the cosine rule."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lon2 - lon1
    )
    return math.acos(max(-1.0, min(1.0, cosine)))


def matches(record: dict[str, Any], spec: tuple[Any, ...], times: list[datetime.datetime]) -> bool:
    kind = spec[0]
    if kind == "concept":
        value = record["concepts"].get(spec[1])
        return value == (1.0 if spec[2] else 0.0)
    if kind == "metadata":
        return same_value(spec[1], record["metadata"])
    if kind == "radius":
        if record["geo"] is None:
            return False
        angle = central_angle(spec[1], record["geo"])
        limit = spec[3] * UNIT_TO_RADIANS[spec[2]]
        assume(abs(angle - limit) > 1e-7)  # no example on the boundary, where rounding decides
        return angle <= limit
    if kind == "box":
        if record["geo"] is None:
            return False
        (lat1, lon1), (lat2, lon2) = spec[1], spec[2]
        lat, lon = record["geo"]
        return min(lat1, lat2) <= lat <= max(lat1, lat2) and min(lon1, lon2) <= lon <= max(
            lon1, lon2
        )
    if kind == "modified":
        if not times:  # before the inputs are stored: evaluated again once they are
            return False
        bounds = sorted(times[i] for i in spec[1:] if i is not None)
        moment = times[int(record["id"][2:])]
        if spec[1] is not None and spec[2] is not None:
            return bounds[0] <= moment <= bounds[1]
        return moment >= bounds[0] if spec[1] is not None else moment <= bounds[0]
    return bool(record["id"] == spec[1])


def naive_hits(
    data: list[dict[str, Any]], spec: dict[str, Any], times: list[datetime.datetime]
) -> list[tuple[str, float]]:
    """The hits the reference semantics give: (id, score), in order."""
    kept = [
        record
        for record in data
        if all(
            matches(record, filter_spec, times) != negated
            for filter_spec, negated in zip(spec["filters"], spec["negated"], strict=True)
        )
    ]
    if spec["rank"] is None:
        return [(record["id"], 1.0) for record in kept]
    target = next(r for r in data if r["id"] == spec["rank"])
    query_vector = VECTORS[target["picture"]]
    scored = [
        (record["id"], float(np.dot(VECTORS[record["picture"]], query_vector))) for record in kept
    ]
    return sorted(scored, key=lambda item: -item[1])


# -- the test --------------------------------------------------------------------------------------


@contextmanager
def builtin_models_only() -> Iterator[None]:
    previous = os.environ.get("CLARIMAP_DISABLE_PLUGINS")
    os.environ["CLARIMAP_DISABLE_PLUGINS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["CLARIMAP_DISABLE_PLUGINS"]
        else:
            os.environ["CLARIMAP_DISABLE_PLUGINS"] = previous


def check(found: list[tuple[str, float]], expected: list[tuple[str, float]], ranked: bool) -> None:
    if not ranked:
        assert found == expected
        return
    assert sorted(i for i, _ in found) == sorted(i for i, _ in expected)
    scores = dict(expected)
    for input_id, score in found:
        assert abs(score - scores[input_id]) < 1e-5, (input_id, score, scores[input_id])
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


@given(data=st.data())
def test_server_hits_equal_the_naive_evaluation(data: st.DataObject) -> None:
    records_ = data.draw(records(), label="data set")
    specs = data.draw(st.lists(query_specs(records_), min_size=4, max_size=8), label="queries")
    # may reject boundary cases before a server is started
    for spec in specs:
        naive_hits(records_, spec, [])

    with builtin_models_only():
        server = create_app(":memory:", background=False)
    try:
        with clarimap.connect("local://:memory:", local_app=server) as session:
            for record in records_:  # one request each: distinct modification times
                with session.begin():
                    lat_lon = record["geo"]
                    session.add(
                        Input(
                            id=record["id"],
                            image=Image(base64=PICTURES[record["picture"]]),
                            concepts=[
                                clarimap.entities.ConceptAnnotation(cid, value)
                                for cid, value in record["concepts"].items()
                            ],
                            metadata=record["metadata"],
                            geo=None if lat_lon is None else GeoPoint(lat_lon[1], lat_lon[0]),
                        )
                    )
            stored = {item.id: item.modified_at for item in session.query(Input)}
            times: list[datetime.datetime] = []
            for record in records_:
                moment = stored[record["id"]]
                assert moment is not None
                times.append(moment)
            for spec in specs:
                expected = naive_hits(records_, spec, times)
                query = build(session.query(Input), spec, times)
                found = [(hit.item.id, hit.score) for hit in query.per_page(3).hits()]
                check(found, expected, spec["rank"] is not None)
                assert query.count() == len(expected)
                legacy = query.using("legacy")
                if any(spec["negated"]) or any(f[0] == "modified" for f in spec["filters"]):
                    try:
                        legacy.all()
                    except QueryError:
                        continue
                    raise AssertionError(
                        "the legacy dialect cannot negate nor filter on time; it must refuse"
                    )
                found = [(hit.item.id, hit.score) for hit in legacy.per_page(4).hits()]
                check(found, expected, spec["rank"] is not None)
    finally:
        server.close()
