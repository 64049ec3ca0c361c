"""The unit of work's diffing and planning, on JSON alone (no server)."""

from __future__ import annotations

import pytest

from clarimap import Image, Input, ValidationError
from clarimap._unitofwork import UnitOfWork, diff_input, diff_struct, same
from clarimap.converters import unstructure


def wire(**data: object) -> dict[str, object]:
    return {"id": "i", "data": {"image": {"url": "u"}, **data}}


@pytest.mark.parametrize(
    ("old", "new", "remove", "merge", "overwrite"),
    [
        ({"a": 1.0}, {"a": 2.0}, {}, {"a": 2.0}, False),  # set
        ({"a": 1.0}, {}, {"a": True}, {}, False),  # delete a key
        (
            {"a": {"b": 1.0, "c": 1.0}},
            {"a": {"b": 2.0}},
            {"a": {"c": True}},
            {"a": {"b": 2.0}},
            False,
        ),
        ({"a": ["x"]}, {"a": ["y"]}, {"a": True}, {"a": ["y"]}, False),  # merge appends to lists
        ({"a": ["x"]}, {"a": []}, {}, {"a": []}, False),  # [] replaces under merge
        ({"a": {"b": 1.0}}, {"a": {}}, {}, {"a": {}}, False),  # {} replaces under merge
        ({"a": 1.0}, {"a": {"b": 1.0}}, {"a": True}, {"a": {"b": 1.0}}, False),
        ({"a": True}, {"a": 1.0}, {}, {"a": 1.0}, False),  # a bool is not a number
        ({}, {"a": None}, {}, {"a": None}, True),  # merge ignores null: overwrite
    ],
)
def test_metadata_diff(old: dict, new: dict, remove: dict, merge: dict, overwrite: bool) -> None:
    assert diff_struct(old, new) == (remove, merge, overwrite)


def test_concepts_geo_and_regions() -> None:
    old = wire(
        concepts=[{"id": "cat", "value": 1.0}, {"id": "dog", "value": 1.0}],
        geo={"geo_point": {"longitude": 1.0, "latitude": 2.0}},
        regions=[{"id": "r1"}, {"id": "r2"}],
    )
    new = wire(
        concepts=[{"id": "dog", "value": 0.0}, {"id": "owl", "value": 1.0}],
        regions=[{"id": "r1", "region_info": {"feedback": "accurate"}}, {"id": "r3"}],
    )
    assert diff_input(old, new) == {
        "remove": {
            "id": "i",
            "data": {
                "concepts": [{"id": "cat", "value": 1.0}],
                "regions": [{"id": "r2"}, {"id": "r1"}],
            },
        },
        "merge": {
            "id": "i",
            "data": {
                "concepts": [{"id": "dog", "value": 0.0}, {"id": "owl", "value": 1.0}],
                "regions": [{"id": "r1", "region_info": {"feedback": "accurate"}}, {"id": "r3"}],
                "geo": {},
            },
        },
    }


def test_no_change_no_action_and_concept_order_is_not_state() -> None:
    concepts = [{"id": "a", "value": 1.0}, {"id": "b", "value": 0.0}]
    assert diff_input(wire(concepts=concepts), wire(concepts=concepts[::-1])) == {}


def test_overwrite_sends_all_data_but_the_asset() -> None:
    old = wire(metadata={"a": 1.0}, concepts=[{"id": "c", "value": 1.0}])
    new = wire(metadata={"a": None}, concepts=[{"id": "c", "value": 1.0}])
    assert diff_input(old, new) == {
        "overwrite": {
            "id": "i",
            "data": {"metadata": {"a": None}, "concepts": [{"id": "c", "value": 1.0}]},
        }
    }


def test_plan_orders_and_batches() -> None:
    stored = [Input(id=f"s{n}", image=Image(url=f"u{n}"), metadata={"k": 1}) for n in range(300)]
    snapshots = [(entity, unstructure(entity)) for entity in stored]
    for entity in stored[:200]:
        entity.metadata["k"] = 2
    for entity in stored[100:]:
        del entity.metadata["k"]
    new = [Input(id=f"n{n}", image=Image(url=f"v{n}")) for n in range(130)]
    work = UnitOfWork(new, snapshots, stored[290:])
    plan = [(call.method, call.action, len(call.parts)) for call in work.plan()]
    assert plan == [
        ("POST", "create", 128),
        ("POST", "create", 2),
        ("PATCH", "remove", 128),  # s100-s289 (the deleted s290-s299 are diffed too)
        ("PATCH", "remove", 72),
        ("PATCH", "merge", 100),
        ("DELETE", "delete", 10),
    ]


def test_changing_an_id_or_asset_is_refused() -> None:
    photo = Input(id="a", image=Image(url="u"))
    snapshot = unstructure(photo)
    photo.id = "b"
    with pytest.raises(ValidationError, match="id of a stored Input cannot change"):
        UnitOfWork([], [(photo, snapshot)], []).plan()


def test_same_tells_bools_from_numbers() -> None:
    assert same({"a": [1.0, True]}, {"a": [1, True]})
    assert not same(True, 1.0) and not same({"a": 1.0}, {"a": True})


def test_workflows_are_created_after_models_and_deleted_before_them() -> None:
    from clarimap import Model, Workflow, WorkflowNode

    workflow = Workflow("w", nodes=[WorkflowNode("n", "m")])
    model = Model("m")
    stored_flow = Workflow("old", nodes=[WorkflowNode("n", "m")])
    stored_model = Model("old-model")
    work = UnitOfWork([workflow, model], [], [stored_model, stored_flow])
    plan = [(call.method, call.path) for call in work.plan()]
    assert plan == [
        ("POST", "models"),
        ("POST", "workflows"),
        ("DELETE", "workflows"),
        ("DELETE", "models"),
    ]


def test_a_workflow_edit_is_one_overwrite_keeping_node_order() -> None:
    from clarimap import Workflow, WorkflowNode
    from clarimap._unitofwork import diff_entity

    old = unstructure(Workflow("w", nodes=[WorkflowNode("a", "m1"), WorkflowNode("b", "m2", "v")]))
    assert diff_entity(Workflow, old, old) == {}
    swapped = Workflow("w", nodes=[WorkflowNode("b", "m2", "v"), WorkflowNode("a", "m1")])
    assert diff_entity(Workflow, old, unstructure(swapped)) == {
        "overwrite": {"id": "w", "nodes": unstructure(swapped)["nodes"]}
    }
    with pytest.raises(ValidationError):
        UnitOfWork([Workflow("empty")], [], []).plan()
    twice = Workflow("twice", nodes=[WorkflowNode("a", "m"), WorkflowNode("a", "n")])
    with pytest.raises(ValidationError):
        UnitOfWork([twice], [], []).plan()


def test_differences_of_a_create_from_what_is_stored() -> None:
    from clarimap import Concept, GeoPoint, Model, Workflow, WorkflowNode
    from clarimap._unitofwork import differences

    photo = Input(id="p", image=Image(url="u"), concepts=["a", "b"], metadata={"k": [1, 2]})
    stored = Input(id="p", image=Image(url="u"), concepts=["b", "a"], metadata={"k": [1.0, 2.0]})
    assert differences(photo, stored) == []  # concept order and 1 vs 1.0 are not state
    stored.geo = GeoPoint(1, 2)
    stored.metadata["k"].append(3)
    assert differences(photo, stored) == ["metadata", "geo"]  # an input matches in full
    assert differences(photo, Input(id="p", image=Image(url="v"))) == [
        "image",
        "concepts",
        "metadata",
    ]
    # Fields a new concept, model or node leaves unset are the server's to fill.
    assert differences(Concept("c"), Concept("c", name="c", language="en")) == []
    assert differences(Concept("c", name="C"), Concept("c", name="c")) == ["name"]
    assert differences(Model("m", concepts=["x"]), Model("m", name="m", concepts=["x"])) == []
    assert differences(Model("m", max_concepts=2), Model("m")) == ["max_concepts"]
    flow = Workflow("w", nodes=[WorkflowNode("a", "m1"), WorkflowNode("b", "m2")])
    pinned = Workflow("w", nodes=[WorkflowNode("a", "m1", "v1"), WorkflowNode("b", "m2", "v2")])
    assert differences(flow, pinned) == []
    assert differences(flow, Workflow("w", nodes=list(reversed(pinned.nodes)))) == ["nodes"]
