"""``Model.predict`` through the ORM against the local server, in process and over HTTP.

The general model, face detection and embeddings come from the ``clarimap-models`` plugin
(real weights); those tests are skipped, saying so, when it is not installed. The colour model
is built into the server.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

import clarimap
from clarimap import (
    Input,
    InvalidArgument,
    Model,
    Prediction,
    PredictionError,
    SessionError,
    ValidationError,
)
from tests.conftest import SAMPLES
from tests.orm_support import (  # noqa: F401 (connected_with_models is the fixture)
    Connected,
    connected_with_models,
    get_model,
    needs_models,
    solid_png,
)
from tests.server.test_predict import make_video

GENERAL = "aaa03c23b3724a16a56b629203edc62c"
COLOR = "eeed0b6733a644cea07cf4c60f87ebb7"
FACES = "a403429f2ddf4b49b307e318f00e528b"
EMBEDDING = "bbb5f41425b8468d9b7a554ff10f8581"
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}

# -- public models ---------------------------------------------------------------------------


@needs_models
def test_general_model_top5_for_the_cat_photo_has_a_cat_class(connected: Connected) -> None:
    general = connected.session.get(Model, name="general-v1.3")
    assert general is not None and general.id == GENERAL

    prediction = general.predict(SAMPLES / "cat.jpg", max_concepts=5)

    assert isinstance(prediction, Prediction)
    assert prediction.ok and prediction.status.code == 10000
    assert len(prediction.concepts) == 5
    assert CAT_CLASSES & set(prediction.concept_ids)
    values = [concept.value for concept in prediction.concepts]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    assert prediction.model_id == GENERAL and prediction.model_version_id
    assert prediction.output_id


@needs_models
def test_general_model_names_the_coffee_and_the_rocket(connected: Connected) -> None:
    coffee, rocket = get_model(connected, GENERAL).predict(
        [SAMPLES / "coffee.jpg", str(SAMPLES / "rocket.jpg")], max_concepts=5
    )

    assert {"espresso", "cup", "coffee mug"} & set(coffee.concept_ids)
    assert {"space shuttle", "missile", "projectile"} & set(rocket.concept_ids)


@needs_models
def test_options_min_value_and_select_concepts(connected: Connected) -> None:
    general = get_model(connected, GENERAL)

    confident = general.predict(SAMPLES / "cat.jpg", min_value=0.2)
    selected = general.predict(SAMPLES / "cat.jpg", select_concepts=["tabby", "goldfish"])

    assert confident.concepts and all(c.value >= 0.2 for c in confident.concepts)
    assert set(selected.concept_ids) == {"tabby", "goldfish"}
    assert selected.concepts[0].id == "tabby"


@needs_models
def test_select_concepts_that_is_no_list_is_a_validation_error(connected: Connected) -> None:
    with pytest.raises(ValidationError, match="select_concepts must be a list of concept ids"):
        get_model(connected, GENERAL).predict(SAMPLES / "cat.jpg", select_concepts=5)  # type: ignore[arg-type]


@needs_models
def test_a_language_the_model_lacks_is_an_invalid_argument(connected: Connected) -> None:
    with pytest.raises(InvalidArgument) as raised:
        get_model(connected, GENERAL).predict(SAMPLES / "cat.jpg", language="zh")
    assert raised.value.code == 21202


@needs_models
def test_faces_one_in_each_portrait_none_in_the_galaxies(connected: Connected) -> None:
    astronaut, hopper, galaxies = get_model(connected, FACES).predict(
        [SAMPLES / "astronaut.jpg", SAMPLES / "grace_hopper.jpg", SAMPLES / "galaxies.jpg"]
    )

    assert len(astronaut.regions) == 1 and len(hopper.regions) == 1
    assert galaxies.regions == ()
    box = astronaut.regions[0].bounding_box
    assert box is not None
    assert 0 <= box.top_row < box.bottom_row <= 1 and 0 <= box.left_col < box.right_col <= 1
    assert astronaut.regions[0].value is not None and astronaut.regions[0].value > 0.5


@needs_models
def test_general_embedding_is_a_vector(connected: Connected) -> None:
    prediction = get_model(connected, EMBEDDING).predict(SAMPLES / "cat.jpg")

    assert len(prediction.embeddings) == 1
    assert prediction.embeddings[0].num_dimensions == 1280


# -- colours ---------------------------------------------------------------------------------


def test_colour_model_names_a_solid_red_image_red(connected: Connected) -> None:
    prediction = get_model(connected, COLOR).predict(solid_png((255, 0, 0)))

    assert len(prediction.colors) == 1
    color = prediction.colors[0]
    assert (color.raw_hex, color.w3c_hex, color.w3c_name) == ("#ff0000", "#ff0000", "Red")
    assert color.value == pytest.approx(1.0)


def test_colour_shares_match_the_pixel_counts(connected: Connected) -> None:
    image = PILImage.new("RGB", (100, 100), (0, 0, 255))
    image.paste((255, 255, 0), (0, 0, 100, 30))  # 30 % yellow, 70 % blue
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    prediction = get_model(connected, COLOR).predict(buffer.getvalue())

    shares = {color.w3c_name: color.value for color in prediction.colors}
    assert shares["Yellow"] == pytest.approx(0.3, abs=0.03)
    assert shares["Blue"] == pytest.approx(0.7, abs=0.03)


# -- batches, mixed outcomes, inputs by id -----------------------------------------------------


def test_a_mixed_batch_gives_each_item_its_outcome(connected: Connected) -> None:
    color = get_model(connected, COLOR)
    sources = [solid_png((255, 0, 0)), Input(id="no-such-input"), solid_png((0, 0, 255))]

    predictions = color.predict(sources)

    assert [p.status.code for p in predictions] == [10000, 30102, 10000]
    assert predictions[1].input_id == "no-such-input" and not predictions[1].ok
    assert predictions[1].colors == ()
    assert predictions[0].colors[0].w3c_name == "Red"
    assert predictions[2].colors[0].w3c_name == "Blue"


def test_raise_on_failure_raises_with_every_outcome(connected: Connected) -> None:
    with pytest.raises(PredictionError) as raised:
        get_model(connected, COLOR).predict(
            [solid_png((255, 0, 0)), Input(id="missing-one")], raise_on_failure=True
        )
    assert [p.status.code for p in raised.value.predictions] == [10000, 30102]
    assert [p.input_id for p in raised.value.failed] == ["missing-one"]
    assert "missing-one" in str(raised.value)


def test_all_items_failing_still_answers_each_outcome(connected: Connected) -> None:
    predictions = get_model(connected, COLOR).predict([Input(id="gone-1"), Input(id="gone-2")])
    assert [p.status.code for p in predictions] == [30102, 30102]


def test_more_than_128_inputs_are_split_into_calls(connected: Connected) -> None:
    colours = [(i, 255 - i, 0) for i in range(130)]

    predictions = get_model(connected, COLOR).predict([solid_png(c, (8, 8)) for c in colours])

    assert len(predictions) == 130 and all(p.ok for p in predictions)
    calls = connected.recorder.matching("POST", "/outputs")
    assert [len(request.body["inputs"]) for request in calls] == [128, 2]
    assert predictions[129].colors[0].raw_hex == "#817e00"


def test_an_input_of_the_app_is_predicted_by_id(connected: Connected) -> None:
    session = connected.session
    with session.begin():
        session.add(Input.from_media(solid_png((0, 128, 0)), id="green"))
    stored = Input(id="green")

    prediction = get_model(connected, COLOR).predict(stored)

    sent = connected.recorder.matching("POST", "/outputs")[-1].body
    assert sent["inputs"] == [{"id": "green"}]
    assert prediction.input_id == "green"
    assert prediction.colors[0].w3c_name == "Green"


def test_a_version_can_be_named(connected: Connected) -> None:
    color = get_model(connected, COLOR)
    assert color.model_version is not None

    prediction = color.predict(solid_png((255, 0, 0)), version=color.model_version)

    assert prediction.model_version_id == color.model_version.id
    path = connected.recorder.matching("POST", "/outputs")[-1].path
    assert path.endswith(f"/versions/{color.model_version.id}/outputs")


def test_an_unknown_version_is_not_found(connected: Connected) -> None:
    with pytest.raises(clarimap.NotFound):
        get_model(connected, COLOR).predict(solid_png((1, 2, 3)), version="no-such-version")


def test_a_video_gives_one_frame_per_sample(connected: Connected) -> None:
    video = make_video([(255, 0, 0), (0, 0, 255)], fps=10, seconds_each=1.0)

    prediction = get_model(connected, COLOR).predict(video, sample_ms=500)

    assert prediction.ok and prediction.colors == ()
    assert [frame.index for frame in prediction.frames] == list(range(len(prediction.frames)))
    assert len(prediction.frames) == 4
    assert all(frame.time % 500 == 0 for frame in prediction.frames)
    assert prediction.frames[0].colors[0].w3c_name == "Red"
    assert prediction.frames[-1].colors[0].w3c_name == "Blue"


# -- mistakes caught before sending -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_value": 1.5}, "min_value"),
        ({"max_concepts": -1}, "max_concepts"),
        ({"sample_ms": 0}, "sample_ms"),
        ({"select_concepts": "tabby"}, "select_concepts"),
        ({"language": ""}, "language"),
    ],
)
def test_bad_options_are_refused_before_sending(
    connected: Connected, options: dict[str, object], message: str
) -> None:
    color = get_model(connected, COLOR)
    sent = len(connected.recorder.calls)
    with pytest.raises(ValidationError, match=message):
        color.predict(solid_png((1, 2, 3)), **options)  # type: ignore[arg-type]
    assert len(connected.recorder.calls) == sent


def test_an_empty_list_and_unreadable_sources_are_refused(connected: Connected) -> None:
    color = get_model(connected, COLOR)
    with pytest.raises(ValidationError, match="at least one"):
        color.predict([])
    with pytest.raises(clarimap.MediaFileNotFoundError):
        color.predict("/no/such/photo.jpg")
    with pytest.raises(clarimap.InvalidMediaError):
        color.predict(b"these bytes are no image")


def test_a_model_outside_a_session_cannot_predict() -> None:
    with pytest.raises(SessionError, match="not in a session"):
        Model(id=COLOR).predict(solid_png((1, 2, 3)))
