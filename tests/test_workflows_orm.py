"""Workflows through the ORM: create from models, predict (every node per input), list, get, delete.

Against the local server in process and over HTTP. The tests that run the general model need the
``clarimap-models`` plugin and are skipped, saying so, without it; the colour model is built in.
"""

from __future__ import annotations

import pytest

from clarimap import (
    FlushError,
    Input,
    Model,
    PredictionError,
    SessionError,
    ValidationError,
    Workflow,
    WorkflowNode,
    WorkflowResult,
)
from tests.conftest import SAMPLES
from tests.orm_support import (  # noqa: F401 (connected_with_models is the fixture)
    Connected,
    connected_with_models,
    get_model,
    needs_models,
    solid_png,
)
from tests.test_training_orm import add_labelled_inputs, new_model

GENERAL = "aaa03c23b3724a16a56b629203edc62c"
COLOR = "eeed0b6733a644cea07cf4c60f87ebb7"
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


@needs_models
def test_a_workflow_of_public_models_gives_every_nodes_output(connected: Connected) -> None:
    general, color = get_model(connected, GENERAL), get_model(connected, COLOR)
    workflow = connected.session.create_workflow("tag-and-colour", [general, color])

    assert [node.id for node in workflow.nodes] == ["general-v1.3", "color"]
    assert [node.model_id for node in workflow.nodes] == [GENERAL, COLOR]
    result = workflow.predict(SAMPLES / "cat.jpg", max_concepts=5)

    assert isinstance(result, WorkflowResult) and result.ok
    assert [output.model_id for output in result.outputs] == [GENERAL, COLOR]
    assert CAT_CLASSES & set(result.output_of(GENERAL).concept_ids)
    assert len(result.output_of(GENERAL).concepts) == 5
    assert 0 < len(result.output_of(COLOR).colors) <= 5  # the output config applies to every node


@needs_models
def test_public_workflows_are_listed_and_predict(connected: Connected) -> None:
    workflows = {workflow.id: workflow for workflow in connected.session.public_workflows()}
    assert {"General", "Color"} <= set(workflows)
    result = workflows["General"].predict(SAMPLES / "cat.jpg", max_concepts=5)
    assert result.ok
    assert CAT_CLASSES & set(result.output_of(GENERAL).concept_ids)
    assert result.output_of(COLOR).colors


def test_a_workflow_with_a_custom_model(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    things = new_model(connected)
    version = things.train(timeout=120)
    workflow = connected.session.create_workflow("custom", [things, WorkflowNode("colours", COLOR)])

    assert workflow.nodes[0].model_version_id == version.id
    first, second = workflow.predict([SAMPLES / "rocket.jpg", solid_png((255, 0, 0))])

    assert set(first.output_of("things").concept_ids) == {"animal", "space"}
    assert second.output_of(COLOR).colors[0].w3c_name == "Red"


def test_a_failed_input_keeps_its_slot_with_its_status(connected: Connected) -> None:
    workflow = connected.session.create_workflow("colours", [COLOR])

    results = workflow.predict([solid_png((0, 0, 255)), Input(id="no-such-input")])

    assert [r.status.code for r in results] == [10000, 30102]
    assert results[0].output_of(COLOR).colors[0].w3c_name == "Blue"
    assert [o.status.code for o in results[1].outputs] == [30102]
    with pytest.raises(PredictionError) as raised:
        workflow.predict([solid_png((0, 0, 255)), Input(id="gone")], raise_on_failure=True)
    assert [r.input_id for r in raised.value.failed] == ["gone"]


def test_list_get_and_delete(connected: Connected) -> None:
    session = connected.session
    session.create_workflow("first", [COLOR])
    session.create_workflow("second", [COLOR, COLOR])

    assert sorted(w.id for w in session.query(Workflow)) == ["first", "second"]
    got = session.get(Workflow, "second")
    assert got is not None
    assert [node.id for node in got.nodes] == [COLOR, f"{COLOR}-2"]
    assert got.predict(solid_png((255, 0, 0))).outputs[1].colors[0].w3c_name == "Red"

    got.delete()

    assert session.get(Workflow, "second") is None
    assert [w.id for w in session.query(Workflow)] == ["first"]
    with pytest.raises(SessionError):
        got.predict(solid_png((1, 1, 1)))  # deleted: it left the session


def test_a_workflow_found_by_a_query_can_predict(connected: Connected) -> None:
    connected.session.create_workflow("listed", [COLOR])
    (listed,) = connected.session.query(Workflow).all()
    assert listed.predict(solid_png((255, 0, 0))).outputs[0].colors[0].w3c_name == "Red"


def test_creating_a_workflow_checks_its_models(connected: Connected) -> None:
    session = connected.session
    with pytest.raises(FlushError) as raised:
        session.create_workflow("broken", ["no-such-model"])
    assert "no-such-model" in str(raised.value)
    (failed,) = raised.value.failed
    assert failed.entity.id == "broken" and failed.status is not None
    assert failed.status.code == 22104
    assert not session.has_pending  # the workflow that did not apply left the session
    with pytest.raises(ValidationError):
        session.create_workflow("empty", [])
    with pytest.raises(ValidationError):
        session.create_workflow("bad", [42])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        session.add(Workflow("no-nodes"))
        session.flush()
    session.rollback()
    once = session.create_workflow("once", [COLOR])
    with pytest.raises(SessionError):
        session.create_workflow("once", [COLOR])  # this session already has it

    other = connected.fresh()
    same = other.create_workflow("once", [COLOR])  # what is stored: nothing to do
    assert [node.model_version_id for node in same.nodes] == [
        node.model_version_id for node in once.nodes
    ]
    with pytest.raises(FlushError) as conflict:
        connected.fresh().create_workflow("once", [COLOR, COLOR])
    (outcome,) = conflict.value.failed
    assert outcome.status is not None and outcome.status.code == 22100
    assert "nodes" in outcome.status.details
    assert isinstance(outcome.existing, Workflow) and len(outcome.existing.nodes) == 1
    assert len(session.get(Workflow, "once").nodes) == 1  # type: ignore[union-attr]


# -- workflows through the unit of work -------------------------------------------------------


def _requests(connected: Connected) -> list[str]:
    return [f"{r.method} {r.path.rsplit('/v2/', 1)[1]}" for r, _ in connected.recorder.calls]


def test_an_added_workflow_is_created_at_flush_after_its_model(connected: Connected) -> None:
    session = connected.session
    workflow = Workflow("tagging", nodes=[WorkflowNode("mine", "pets"), WorkflowNode("c", COLOR)])
    session.add(workflow)  # added before the model it references
    session.add(Model("pets", concepts=["cat"]))
    assert connected.recorder.calls == []  # nothing sent before the flush

    session.commit()

    assert _requests(connected) == ["POST models", "POST workflows"]
    assert not session.has_pending and workflow in session
    assert session.get(Workflow, "tagging") is workflow  # identity-mapped
    stored = connected.fresh().get(Workflow, "tagging")
    assert stored is not None and stored.nodes == workflow.nodes
    assert all(node.model_version_id for node in workflow.nodes)  # the versions pinned
    assert workflow.created_at is not None


def test_editing_nodes_flushes_one_patch(connected: Connected) -> None:
    connected.session.create_workflow("flow", [COLOR])
    session = connected.fresh()
    recorder_calls = len(connected.recorder.calls)
    workflow = session.get(Workflow, "flow")
    assert workflow is not None and session.get(Workflow, "flow") is workflow
    (listed,) = session.query(Workflow)
    assert listed is workflow

    workflow.nodes.insert(0, WorkflowNode("first", COLOR))
    workflow.nodes.append(WorkflowNode("last", COLOR))
    assert workflow in session.dirty
    del workflow.nodes[1]  # the original node goes; the order of the others is kept
    with pytest.raises(ValidationError):
        workflow.nodes.append("not a node")  # type: ignore[arg-type]
    session.commit()

    patches = [c for c in session.last_flush_calls if c.startswith("PATCH")]
    assert patches == ["PATCH /v2/workflows (overwrite, 1 items)"]
    stored = connected.fresh().get(Workflow, "flow")
    assert stored is not None
    assert [node.id for node in stored.nodes] == ["first", "last"]
    assert [node.id for node in workflow.nodes] == ["first", "last"]
    assert not session.has_pending
    assert len(connected.recorder.calls) == recorder_calls  # the other session sent it all

    workflow.nodes = list(reversed(workflow.nodes))  # assignment is tracked too
    session.commit()
    stored = connected.fresh().get(Workflow, "flow")
    assert stored is not None and [node.id for node in stored.nodes] == ["last", "first"]


def test_rollback_restores_nodes(connected: Connected) -> None:
    workflow = connected.session.create_workflow("flow", [COLOR])
    workflow.nodes.append(WorkflowNode("more", COLOR))
    connected.session.rollback()
    assert [node.id for node in workflow.nodes] == [COLOR]
    assert not connected.session.has_pending


def test_deleting_a_workflow_and_its_model_at_flush(connected: Connected) -> None:
    session = connected.session
    model = Model("pets", concepts=["cat"])
    session.add(model)
    workflow = Workflow("tagging", nodes=[WorkflowNode("mine", "pets")])
    session.add(workflow)
    session.commit()
    connected.recorder.clear()

    session.delete(model)
    session.delete(workflow)
    assert connected.recorder.calls == []
    session.commit()

    assert _requests(connected) == ["DELETE workflows", "DELETE models"]  # referrers first
    assert workflow not in session
    fresh = connected.fresh()
    assert fresh.get(Workflow, "tagging") is None and fresh.get(Model, "pets") is None
    pending = Workflow("new", nodes=[WorkflowNode("c", COLOR)])
    session.add(pending)
    session.delete(pending)  # never created: just forgotten
    assert not session.has_pending


def test_a_public_workflow_cannot_be_edited_or_deleted(connected: Connected) -> None:
    session = connected.session
    color = {w.id: w for w in session.public_workflows()}["Color"]
    assert color.predict(solid_png((255, 0, 0))).ok
    with pytest.raises(SessionError):
        session.delete(color)
    color.nodes.append(WorkflowNode("more", COLOR))
    assert not session.has_pending  # not in the identity map: nothing to send
