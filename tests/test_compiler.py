"""The search compiler: every construct of the query language, in both dialects, as literal JSON."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from clarimap.entities import Concept, GeoBox, GeoLimit, GeoPoint, Input, Model, Workflow
from clarimap.query import ModifiedCondition, Query, QueryError, fields

f = fields(Input)
Q: Query[Input] = Query(Input)
PAGE = {"page": 1, "per_page": 128}


def current(filters: list[Any] | None = None, ranks: list[Any] | None = None, **query: Any) -> Any:
    search_query: dict[str, Any] = {}
    if filters:
        search_query["filters"] = filters
    if ranks:
        search_query["ranks"] = ranks
    search_query.update(query)
    return {"searches": [{"query": search_query}], "pagination": PAGE}


def legacy(ands: list[Any], **query: Any) -> Any:
    return {"query": {"ands": ands, **query}, "pagination": PAGE}


POINT = GeoPoint(longitude=-30.0, latitude=40.0)
GEO_POINT = {"longitude": -30.0, "latitude": 40.0}
BOX = GeoBox(GeoPoint(-31.0, 39.0), GeoPoint(-29.0, 41.0))
GEO_BOX = [
    {"geo_point": {"longitude": -31.0, "latitude": 39.0}},
    {"geo_point": {"longitude": -29.0, "latitude": 41.0}},
]
IMAGE = b"\x89PNG fake bytes"
IMAGE_B64 = base64.b64encode(IMAGE).decode()

# (query, current body, legacy body)
CASES: list[tuple[str, Query[Input], Any, Any]] = [
    (
        "concept by name",
        Q.where(concept="dog"),
        current([{"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}]),
        legacy([{"input": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}]),
    ),
    (
        "negative concept by id",
        Q.where(concept_id="cat", value=False),
        current([{"annotation": {"data": {"concepts": [{"id": "cat", "value": 0.0}]}}}]),
        legacy([{"input": {"data": {"concepts": [{"id": "cat", "value": 0.0}]}}}]),
    ),
    (
        "concept with a language",
        Q.where(concept="狗", language="zh"),
        current(
            [
                {
                    "annotation": {
                        "data": {"concepts": [{"name": "狗", "value": 1.0, "language": "zh"}]}
                    }
                }
            ]
        ),
        legacy([{"input": {"data": {"concepts": [{"name": "狗", "value": 1.0}]}}}], language="zh"),
    ),
    (
        "query language",
        Q.where(concept="狗").language("zh"),
        current(
            [{"annotation": {"data": {"concepts": [{"name": "狗", "value": 1.0}]}}}], language="zh"
        ),
        legacy([{"input": {"data": {"concepts": [{"name": "狗", "value": 1.0}]}}}], language="zh"),
    ),
    (
        "metadata (numbers as floats)",
        Q.where(metadata={"owner": {"name": "ana", "age": 3}}),
        current([{"annotation": {"data": {"metadata": {"owner": {"name": "ana", "age": 3.0}}}}}]),
        legacy([{"input": {"data": {"metadata": {"owner": {"name": "ana", "age": 3.0}}}}}]),
    ),
    (
        "geo radius",
        Q.where(near=POINT, within=GeoLimit(5, "kilometers")),
        current(
            [
                {
                    "annotation": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinKilometers", "value": 5.0},
                            }
                        }
                    }
                }
            ]
        ),
        legacy(
            [
                {
                    "input": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinKilometers", "value": 5.0},
                            }
                        }
                    }
                }
            ]
        ),
    ),
    (
        "geo box",
        Q.where(inside=BOX),
        current([{"annotation": {"data": {"geo": {"geo_box": GEO_BOX}}}}]),
        legacy([{"input": {"data": {"geo": {"geo_box": GEO_BOX}}}}]),
    ),
    (
        "input id",
        Q.where(id="i1"),
        current([{"input": {"id": "i1"}}]),
        legacy([{"input": {"id": "i1", "data": {"image": {}}}}]),
    ),
    (
        "original url",
        Q.where(url="https://example.com/a.jpg"),
        current([{"input": {"data": {"image": {"url": "https://example.com/a.jpg"}}}}]),
        legacy([{"input": {"data": {"image": {"url": "https://example.com/a.jpg"}}}}]),
    ),
    (
        "filters are ANDed, in order",
        Q.where(concept="dog").where(metadata={"k": "v"}, id="x"),
        current(
            [
                {"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {"annotation": {"data": {"metadata": {"k": "v"}}}},
                {"input": {"id": "x"}},
            ]
        ),
        legacy(
            [
                {"input": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {"input": {"data": {"metadata": {"k": "v"}}}},
                {"input": {"id": "x", "data": {"image": {}}}},
            ]
        ),
    ),
    (
        "expressions joined with &",
        Q.where(f.concepts.contains("dog") & (f.metadata["owner"]["name"] == "ana")),
        current(
            [
                {"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {"annotation": {"data": {"metadata": {"owner": {"name": "ana"}}}}},
            ]
        ),
        legacy(
            [
                {"input": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {"input": {"data": {"metadata": {"owner": {"name": "ana"}}}}},
            ]
        ),
    ),
    (
        "expression forms of every filter",
        Q.where(
            f.not_concepts.contains_id("cat")
            & f.metadata.contains({"a": [1, "x"]})
            & f.geo.within(POINT, GeoLimit(2, "miles"))
            & f.geo.inside(BOX)
            & (f.id == "i")
            & (f.url == "https://u")
        ),
        current(
            [
                {"annotation": {"data": {"concepts": [{"id": "cat", "value": 0.0}]}}},
                {"annotation": {"data": {"metadata": {"a": [1.0, "x"]}}}},
                {
                    "annotation": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinMiles", "value": 2.0},
                            }
                        }
                    }
                },
                {"annotation": {"data": {"geo": {"geo_box": GEO_BOX}}}},
                {"input": {"id": "i"}},
                {"input": {"data": {"image": {"url": "https://u"}}}},
            ]
        ),
        legacy(
            [
                {"input": {"data": {"concepts": [{"id": "cat", "value": 0.0}]}}},
                {"input": {"data": {"metadata": {"a": [1.0, "x"]}}}},
                {
                    "input": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinMiles", "value": 2.0},
                            }
                        }
                    }
                },
                {"input": {"data": {"geo": {"geo_box": GEO_BOX}}}},
                {"input": {"id": "i", "data": {"image": {}}}},
                {"input": {"data": {"image": {"url": "https://u"}}}},
            ]
        ),
    ),
    (
        "geo limits in degrees and radians",
        Q.where(
            f.geo.within(POINT, GeoLimit(1, "degrees"))
            & f.geo.within(POINT, GeoLimit(0.5, "radians"))
        ),
        current(
            [
                {
                    "annotation": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinDegrees", "value": 1.0},
                            }
                        }
                    }
                },
                {
                    "annotation": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinRadians", "value": 0.5},
                            }
                        }
                    }
                },
            ]
        ),
        legacy(
            [
                {
                    "input": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinDegrees", "value": 1.0},
                            }
                        }
                    }
                },
                {
                    "input": {
                        "data": {
                            "geo": {
                                "geo_point": GEO_POINT,
                                "geo_limit": {"type": "withinRadians", "value": 0.5},
                            }
                        }
                    }
                },
            ]
        ),
    ),
    (
        "rank by predicted concept",
        Q.predicted("dog"),
        current(ranks=[{"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}]),
        legacy([{"output": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}]),
    ),
    (
        "rank by absence of a predicted concept id",
        Q.predicted(concept_id="ai_1", value=False),
        current(ranks=[{"annotation": {"data": {"concepts": [{"id": "ai_1", "value": 0.0}]}}}]),
        legacy([{"output": {"data": {"concepts": [{"id": "ai_1", "value": 0.0}]}}}]),
    ),
    (
        "visual similarity to a URL with a crop",
        Q.similar_to("https://example.com/a.jpg", crop=[0.1, 0.2, 0.9, 0.8]),
        current(
            ranks=[
                {
                    "annotation": {
                        "data": {
                            "image": {
                                "url": "https://example.com/a.jpg",
                                "crop": [0.1, 0.2, 0.9, 0.8],
                            }
                        }
                    }
                }
            ]
        ),
        legacy(
            [
                {
                    "output": {
                        "input": {
                            "data": {
                                "image": {
                                    "url": "https://example.com/a.jpg",
                                    "crop": [0.1, 0.2, 0.9, 0.8],
                                }
                            }
                        }
                    }
                }
            ]
        ),
    ),
    (
        "visual similarity to bytes",
        Q.similar_to(IMAGE),
        current(ranks=[{"annotation": {"data": {"image": {"base64": IMAGE_B64}}}}]),
        legacy([{"output": {"input": {"data": {"image": {"base64": IMAGE_B64}}}}}]),
    ),
    (
        "visual similarity to a stored input",
        Q.similar_to(input_id="i1"),
        current(ranks=[{"annotation": {"input_id": "i1"}}]),
        legacy([{"output": {"input": {"id": "i1", "data": {"image": {}}}}}]),
    ),
    (
        "visual similarity to an Input object, cropped",
        Q.similar_to(Input(id="i2"), crop=(0, 0, 0.5, 0.5)),
        current(
            ranks=[
                {
                    "annotation": {
                        "input_id": "i2",
                        "data": {"image": {"crop": [0.0, 0.0, 0.5, 0.5]}},
                    }
                }
            ]
        ),
        legacy(
            [{"output": {"input": {"id": "i2", "data": {"image": {"crop": [0.0, 0.0, 0.5, 0.5]}}}}}]
        ),
    ),
    (
        "filters and ranks together",
        Q.where(concept="dog").similar_to(input_id="i1"),
        current(
            [{"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}],
            [{"annotation": {"input_id": "i1"}}],
        ),
        legacy(
            [
                {"input": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {"output": {"input": {"id": "i1", "data": {"image": {}}}}},
            ]
        ),
    ),
    ("no filter at all", Q, current(), legacy([])),
]


@pytest.mark.parametrize(("name", "query", "expected", "_"), CASES, ids=[c[0] for c in CASES])
def test_current_dialect(name: str, query: Query[Input], expected: Any, _: Any) -> None:
    assert query.compile() == expected
    assert query.compile(dialect="current") == expected


@pytest.mark.parametrize(("name", "query", "_", "expected"), CASES, ids=[c[0] for c in CASES])
def test_legacy_dialect(name: str, query: Query[Input], _: Any, expected: Any) -> None:
    assert query.compile(dialect="legacy") == expected
    assert query.using("legacy").compile() == expected


def test_negation_in_the_current_dialect() -> None:
    assert Q.where(~f.concepts.contains("dog")).compile() == current(
        [{"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}, "negate": True}]
    )
    assert Q.where(~(f.url == "https://u")).compile() == current(
        [{"input": {"data": {"image": {"url": "https://u"}}}, "negate": True}]
    )
    assert Q.where(f.id != "x").compile() == current([{"input": {"id": "x"}, "negate": True}])
    # ~(a & b) is one negated filter holding both conditions
    group = ~(f.concepts.contains("dog") & (f.metadata["k"] == 1) & (f.id == "x"))
    assert Q.where(group).compile() == current(
        [
            {
                "annotation": {
                    "data": {"concepts": [{"name": "dog", "value": 1.0}], "metadata": {"k": 1.0}}
                },
                "input": {"id": "x"},
                "negate": True,
            }
        ]
    )
    assert Q.where(~~f.concepts.contains("dog")).compile() == Q.where(concept="dog").compile()


def test_pagination_and_count() -> None:
    body = Q.where(concept="dog").compile(page=3, per_page=50)
    assert body["pagination"] == {"page": 3, "per_page": 50}
    assert Q.per_page(7).compile(dialect="legacy")["pagination"] == {"page": 1, "per_page": 7}
    from clarimap.compiler import compile_count

    request = compile_count(Q.where(concept="dog"))
    assert (request.method, request.path) == ("POST", "inputs/searches")
    assert request.body == {
        "searches": [
            {
                "query": {
                    "filters": [
                        {"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}}
                    ]
                }
            }
        ],
        "only_count": True,
    }


def test_concept_model_and_workflow_queries() -> None:
    from clarimap.compiler import compile_query

    concepts: Query[Concept] = Query(Concept)
    request = compile_query(
        concepts.where(name="ca*", language="zh"), "current", page=2, per_page=10
    )
    assert (request.method, request.path) == ("POST", "concepts/searches")
    assert request.body == {
        "concept_query": {"name": "ca*", "language": "zh"},
        "pagination": {"page": 2, "per_page": 10},
    }
    request = compile_query(concepts, "current", page=1, per_page=20)
    assert (request.method, request.path, request.query) == (
        "GET",
        "concepts",
        (("page", "1"), ("per_page", "20")),
    )
    models: Query[Model] = Query(Model)
    request = compile_query(
        models.where(name="general*", type="concept"), "legacy", page=1, per_page=5
    )
    assert (request.method, request.path) == ("POST", "models/searches")
    assert request.body == {
        "model_query": {"name": "general*", "type": "concept"},
        "pagination": {"page": 1, "per_page": 5},
    }
    assert compile_query(models, "current", page=1, per_page=5).path == "models"
    request = compile_query(Query(Workflow), "current", page=1, per_page=5)
    assert (request.method, request.path) == ("GET", "workflows")
    assert Query(Workflow).compile() == {}


# -- what an endpoint cannot express ------------------------------------------------------------


def test_legacy_cannot_negate() -> None:
    with pytest.raises(QueryError, match="legacy dialect cannot negate"):
        Q.where(~f.concepts.contains("dog")).compile(dialect="legacy")


def test_legacy_has_one_language() -> None:
    query = Q.where(concept="狗", language="zh").where(concept="perro", language="es")
    with pytest.raises(QueryError, match="one language"):
        query.compile(dialect="legacy")
    # the current dialect carries a language on each concept
    assert query.compile()["searches"][0]["query"]["filters"][1]["annotation"]["data"][
        "concepts"
    ] == [{"name": "perro", "value": 1.0, "language": "es"}]


def test_or_and_bool_are_refused() -> None:
    with pytest.raises(QueryError, match="OR"):
        f.concepts.contains("dog") | f.concepts.contains("cat")
    with pytest.raises(QueryError, match="truth value"):
        bool(f.id == "x")
    with pytest.raises(QueryError, match="truth value"):
        if f.concepts.contains("dog"):
            pass


def test_nested_negation_is_refused() -> None:
    with pytest.raises(QueryError, match="negated group"):
        Q.where(~(f.concepts.contains("a") & ~f.concepts.contains("b"))).compile()
    with pytest.raises(QueryError, match="one metadata"):
        Q.where(~((f.metadata["a"] == 1) & (f.metadata["b"] == 2))).compile()


def test_filters_on_other_entities_are_refused() -> None:
    with pytest.raises(QueryError, match="unknown filter"):
        Query(Concept).where(concept="x")
    with pytest.raises(QueryError, match="unknown filter"):
        Query(Model).where(language="zh")
    with pytest.raises(QueryError, match="no filters"):
        Query(Workflow).where(name="x")
    with pytest.raises(QueryError, match="Input"):
        Query(Concept).similar_to(input_id="x")


# -- modified_after / modified_before ------------------------------------------------------------


def test_modified_range_in_the_current_dialect() -> None:
    import datetime as dt

    after = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    before = dt.datetime(2024, 5, 2, 8, 30, 15, 250000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert Q.where(modified_after=after).compile() == current(
        [{"last_updated_time_range": {"start_time": "2024-05-01T12:00:00.000000Z"}}]
    )
    assert Q.where(modified_before=before).compile() == current(
        [{"last_updated_time_range": {"end_time": "2024-05-02T06:30:15.250000Z"}}]
    )
    assert Q.where(concept="dog", modified_after=after, modified_before=before).compile() == (
        current(
            [
                {"annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}}},
                {
                    "last_updated_time_range": {
                        "start_time": "2024-05-01T12:00:00.000000Z",
                        "end_time": "2024-05-02T06:30:15.250000Z",
                    }
                },
            ]
        )
    )
    # ~(a & b): one negated filter holding both
    group = ~(f.concepts.contains("dog") & ModifiedCondition(after=after))
    assert Q.where(group).compile() == current(
        [
            {
                "annotation": {"data": {"concepts": [{"name": "dog", "value": 1.0}]}},
                "last_updated_time_range": {"start_time": "2024-05-01T12:00:00.000000Z"},
                "negate": True,
            }
        ]
    )
    with pytest.raises(QueryError, match="one modified_after/before"):
        Q.where(~(ModifiedCondition(after=after) & ModifiedCondition(before=before))).compile()


def test_modified_range_is_refused_by_the_legacy_dialect() -> None:
    import datetime as dt

    query = Q.where(concept="dog", modified_after=dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(QueryError, match=r"legacy dialect .* no time filter"):
        query.compile(dialect="legacy")


def test_modified_range_needs_aware_datetimes_in_order() -> None:
    import datetime as dt

    with pytest.raises(QueryError, match="aware datetime"):
        Q.where(modified_after=dt.datetime(2024, 5, 1))
    with pytest.raises(QueryError, match="aware datetime"):
        Q.where(modified_before="2024-05-01T00:00:00Z")
    with pytest.raises(QueryError, match="later than"):
        Q.where(
            modified_after=dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc),
            modified_before=dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
        )
    with pytest.raises(QueryError, match="not None"):
        Q.where(modified_after=None)
