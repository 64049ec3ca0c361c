"""Custom models through the ORM: edit, train, versions, evaluate, inputs, feedback.

Against the local server (in process and over HTTP), which trains for real on the base
embeddings of the app's inputs (the plugin's general embedding when ``clarimap-models`` is
installed, the built-in descriptor otherwise).
"""

from __future__ import annotations

import io
import json
import random

import pytest
from PIL import Image as PILImage
from PIL import ImageOps

from clarimap import (
    ApiError,
    Concept,
    EvaluationMetrics,
    Input,
    InvalidArgument,
    Model,
    ModelVersion,
    NotFound,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
    _models,
)
from tests.conftest import SAMPLES, Api
from tests.orm_support import Connected, connected_with_models  # noqa: F401 (the fixture)

LABELLED = {
    "animal": ["cat.jpg", "horse.png"],
    "space": ["galaxies.jpg", "rocket.jpg", "astronaut.jpg"],
}


def variant(name: str, seed: int) -> bytes:
    """A crop of a sample photo (75-100 % of each side), maybe mirrored, as JPEG bytes."""
    rng = random.Random(seed)
    image = PILImage.open(SAMPLES / name).convert("RGB")
    width, height = image.size
    scale = rng.uniform(0.75, 1.0)
    w, h = int(width * scale), int(height * scale)
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = image.crop((left, top, left + w, top + h))
    if seed % 2:
        image = ImageOps.mirror(image)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def add_labelled_inputs(connected: Connected, per_photo: int = 3) -> list[str]:
    """Inputs annotated animal or space (the other one negative); their ids."""
    session = connected.session
    ids = []
    with session.begin():
        for concept, photos in LABELLED.items():
            other = "space" if concept == "animal" else "animal"
            for name in photos:
                for seed in range(per_photo):
                    photo = Input.from_media(
                        variant(name, seed), concepts=[concept], not_concepts=[other]
                    )
                    session.add(photo)
                    ids.append(photo.id)
    return ids


def new_model(connected: Connected, model_id: str = "things", **settings: object) -> Model:
    model = Model(id=model_id, concepts=["animal", "space"], **settings)  # type: ignore[arg-type]
    connected.session.add(model)
    connected.session.flush()
    return model


# -- editing --------------------------------------------------------------------------------


def test_concepts_and_settings_are_flushed_by_the_unit_of_work(connected: Connected) -> None:
    model = new_model(connected)
    model.concepts.append(Concept("plant"))
    model.closed_environment = True
    model.name = "Things"
    connected.session.commit()

    again = connected.fresh().get(Model, "things")
    assert again is not None
    assert sorted(c.id for c in again.concepts) == ["animal", "plant", "space"]
    assert again.closed_environment is True and again.name == "Things"

    del model.concepts[0]  # animal
    connected.session.commit()
    again = connected.fresh().get(Model, "things")
    assert again is not None and sorted(c.id for c in again.concepts) == ["plant", "space"]


# -- training --------------------------------------------------------------------------------


def test_train_waits_and_returns_the_trained_version(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=2)
    model = new_model(connected)

    version = model.train(timeout=120)

    assert isinstance(version, ModelVersion)
    assert version.status is not None and version.status.code == 21100
    assert version.active_concept_count == 2 and version.total_input_count == 10
    assert model.model_version == version
    connected.session.flush()
    assert connected.session.last_flush_calls == []  # the new version is no edit to send
    prediction = model.predict(SAMPLES / "clock.jpg")
    assert set(prediction.concept_ids) == {"animal", "space"}
    assert prediction.model_version_id == version.id


def test_train_flushes_pending_edits_first(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = Model(id="fresh", concepts=["animal"])
    connected.session.add(model)
    model.concepts.append("space")

    version = model.train(timeout=120)

    assert version.active_concept_count == 2
    posts = [r.path for r in connected.recorder.matching("POST")]
    assert posts.index("/v2/models") < posts.index("/v2/models/fresh/versions")


def test_train_without_waiting_returns_the_queued_version(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = new_model(connected)

    queued = model.train(wait=False)

    assert queued.status is not None and queued.status.code == 21103
    assert model.get_version(queued.id).id == queued.id


def test_train_with_no_labelled_inputs_raises_a_training_error(connected: Connected) -> None:
    model = new_model(connected)

    with pytest.raises(TrainingError) as raised:
        model.train(timeout=60)

    assert raised.value.code == 21110
    assert raised.value.version.status.code == 21110
    assert "21110" in str(raised.value)


def test_train_times_out_with_a_typed_error(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = new_model(connected)
    with pytest.raises(WaitTimeoutError, match="still 21103"):
        model.train(timeout=0)


def test_a_model_without_concepts_cannot_train(connected: Connected) -> None:
    model = Model(id="empty")
    connected.session.add(model)
    with pytest.raises(InvalidArgument) as raised:
        model.train()
    assert raised.value.code == 21202


# -- versions --------------------------------------------------------------------------------


def test_versions_are_listed_newest_first_got_and_deleted(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = new_model(connected)
    first = model.train(timeout=120)
    second = model.train(timeout=120)

    listed = list(model.versions)
    assert [v.id for v in listed[:2]] == [second.id, first.id]
    assert len(listed) == 3  # and the untrained version made with the model
    assert model.get_version(first.id).status.code == 21100  # type: ignore[union-attr]

    model.delete_version(first)
    assert [v.id for v in model.versions] == [second.id, listed[2].id]
    with pytest.raises(NotFound):
        model.get_version(first.id)


def test_versions_are_paged_lazily(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = new_model(connected)
    for _ in range(3):
        model.train(wait=False)
    before = len(connected.recorder.calls)

    pages = model.versions
    assert len(connected.recorder.calls) == before  # nothing sent until iterated

    versions = list(_models.iter_versions(model, per_page=2))
    assert len(versions) == 4
    gets = [r for r, _ in connected.recorder.calls[before:] if r.path.endswith("/versions")]
    assert [dict(r.query)["page"] for r in gets] == ["1", "2", "3"]
    assert len(list(pages)) == 4


# -- evaluation ------------------------------------------------------------------------------


def test_evaluate_returns_typed_metrics(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=4)
    model = new_model(connected)
    version = model.train(timeout=120)

    metrics = model.evaluate(timeout=120)

    assert isinstance(metrics, EvaluationMetrics)
    assert metrics.status.code == 21300
    assert metrics.concept_ids == ("animal", "space")
    animal, space = metrics.for_concept("animal"), metrics.for_concept("space")
    assert (animal.num_pos, space.num_pos) == (8, 12)
    assert animal.num_tot == 20
    for concept in (animal, space):
        assert concept.roc_auc >= 0.9
        assert 0.0 <= concept.f1 <= 1.0
        assert len(concept.roc_curve.fpr) == len(concept.roc_curve.tpr) > 0
        assert len(concept.precision_recall_curve.precision) > 0
    assert metrics.summary.macro_avg_roc_auc == pytest.approx((animal.roc_auc + space.roc_auc) / 2)
    total = sum(cell.value for cell in metrics.confusion_matrix)
    assert total == 20
    assert metrics.confusion("animal", "animal") + metrics.confusion("space", "animal") == 8
    assert metrics.positive_label_counts == {"animal": 8, "space": 12}
    assert model.evaluate(version.id, timeout=120).for_concept("animal").num_pos == 8


def test_evaluating_an_untrained_version_is_refused(connected: Connected) -> None:
    model = new_model(connected)
    with pytest.raises(ApiError) as raised:
        model.evaluate()
    assert raised.value.code == 21202


# -- inputs and feedback ---------------------------------------------------------------------


def test_model_inputs_are_the_annotated_ones_and_a_versions_its_training_set(
    connected: Connected,
) -> None:
    labelled = add_labelled_inputs(connected, per_photo=1)
    session = connected.session
    with session.begin():
        session.add(Input.from_media(variant("clock.jpg", 0), id="unlabelled"))
    model = new_model(connected)
    version = model.train(timeout=120)
    with session.begin():
        session.add(Input.from_media(variant("cat.jpg", 9), id="later", concepts=["animal"]))

    assert sorted(i.id for i in model.inputs) == sorted([*labelled, "later"])
    assert sorted(i.id for i in model.inputs_of(version)) == sorted(labelled)
    first = next(iter(model.inputs))
    assert first is session.get(Input, first.id)  # identity-mapped


def test_model_feedback_is_sent_and_kept(connected: Connected) -> None:
    add_labelled_inputs(connected, per_photo=1)
    model = new_model(connected)
    model.train(timeout=120)
    prediction = model.predict(Input.from_media(variant("cat.jpg", 5), id="probe"))

    model.send_feedback(
        prediction,
        concepts=["animal"],
        not_concepts=["space"],
        end_user_id="u1",
        session_id="s1",
    )

    sent = connected.recorder.matching("POST", "/feedback")[-1]
    assert sent.path == "/v2/models/things/feedback"
    assert sent.body == {
        "input": {
            "id": "probe",
            "feedback_info": {
                "event_type": "annotation",
                "end_user_id": "u1",
                "session_id": "s1",
                "output_id": prediction.output_id,
            },
            "data": {"concepts": [{"id": "animal", "value": 1.0}, {"id": "space", "value": 0.0}]},
        }
    }
    with connected.server.store.read() as connection:
        rows = connection.execute("SELECT kind, model_id, input_id, body FROM feedback").fetchall()
    assert [(r["kind"], r["model_id"], r["input_id"]) for r in rows] == [
        ("model", "things", "probe")
    ]
    assert json.loads(rows[0]["body"])["feedback_info"]["output_id"] == prediction.output_id


def test_search_feedback_is_sent_and_kept(connected: Connected) -> None:
    connected.session.send_search_feedback("photo-1", search_id="search-9", end_user_id="u2")

    sent = connected.recorder.matching("POST", "/searches/feedback")[-1]
    assert sent.body == {
        "input": {
            "id": "photo-1",
            "feedback_info": {
                "event_type": "search_click",
                "end_user_id": "u2",
                "search_id": "search-9",
            },
        }
    }
    with connected.server.store.read() as connection:
        kinds = [r[0] for r in connection.execute("SELECT kind FROM feedback")]
    assert kinds == ["search"]


def test_feedback_event_type_is_checked_before_sending(connected: Connected) -> None:
    with pytest.raises(ValidationError, match="event_type"):
        connected.session.send_search_feedback("x", event_type="clicked")  # type: ignore[arg-type]


def test_feedback_on_an_unknown_version_is_not_found(connected: Connected) -> None:
    color = connected.session.get(Model, "eeed0b6733a644cea07cf4c60f87ebb7")
    assert color is not None
    with pytest.raises(NotFound):
        color.send_feedback("x", concepts=["red"], version="no-such-version")


# -- the server's validation of feedback and model inputs ---------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "input"),
        ({"input": {"data": {}}}, "input.id"),
        ({"input": {"id": "x", "feedback_info": {"event_type": "clicked"}}}, "event_type"),
        ({"input": {"id": "x", "colour": 1}}, "colour"),
    ],
)
def test_the_server_refuses_bad_feedback_bodies(
    api: Api, body: dict[str, object], expected: str
) -> None:
    for path in ("models/eeed0b6733a644cea07cf4c60f87ebb7/feedback", "searches/feedback"):
        http_status, answer = api.post(path, body)
        assert http_status == 400, answer
        assert expected in answer["status"]["details"]


def test_model_inputs_and_feedback_of_unknown_models_are_404(api: Api) -> None:
    assert api.get("models/ghost/inputs")[0] == 404
    assert api.post("models/ghost/feedback", {"input": {"id": "x"}})[0] == 404
    status_code, answer = api.get("models/eeed0b6733a644cea07cf4c60f87ebb7/inputs")
    assert (status_code, answer["inputs"]) == (200, [])
