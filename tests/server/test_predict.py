"""Predict and workflow predict against the local server (wire reference, sections 5 and 8).

These tests run on a model zoo without plugins (the colour model, plus a small brightness
classifier defined here to exercise the output config of concept models), so they pass with or
without the ``clarimap-models`` plugin installed; that plugin's models are tested in its own
directory.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clarimap.server import ServerApp
from clarimap.server.modelzoo import (
    COLOR_MODEL_ID,
    GENERAL_MODEL_ID,
    ModelZoo,
    PredictConfig,
    build_zoo,
    set_zoo,
)
from tests.conftest import Api
from tests.server.mediaserver import media_server

BRIGHTNESS_MODEL_ID = "test-brightness"


class BrightnessModel:
    """Concepts ``dark``/``mid``/``bright``: a softmax over closeness to 0, 0.5 and 1 mean luma."""

    model_id = BRIGHTNESS_MODEL_ID
    name = "brightness"
    type = "concept"
    type_ext = "concept"
    model_type_id = "visual-classifier"
    languages = ("en",)
    default_max_concepts = 2
    concepts = (
        {"id": "dark", "name": "Dark"},
        {"id": "mid", "name": "Middle"},
        {"id": "bright", "name": "Bright"},
    )

    def predict(self, images: Sequence[Image.Image], config: PredictConfig) -> list[dict[str, Any]]:
        results = []
        for image in images:
            luma = float(np.asarray(image.convert("L"), dtype=np.float64).mean() / 255.0)
            scores = np.exp(-((luma - np.array([0.0, 0.5, 1.0])) ** 2) * 20)
            scores /= scores.sum()
            concepts = [
                {"id": c["id"], "name": c["name"], "value": float(v), "app_id": "main"}
                for c, v in zip(self.concepts, scores, strict=True)
            ]
            results.append({"concepts": sorted(concepts, key=lambda c: -float(c["value"]))})
        return results


@pytest.fixture(autouse=True)
def zoo_without_plugins(server_app: ServerApp) -> Iterator[ModelZoo]:
    zoo = build_zoo(plugins=False)
    zoo.register(BRIGHTNESS_MODEL_ID, BrightnessModel)
    set_zoo(server_app, zoo)
    yield zoo


def encoded(image: Image.Image, format: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode()


def solid(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> str:
    return encoded(Image.new("RGB", size, color))


def image_input(b64: str, input_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"data": {"image": {"base64": b64}}}
    if input_id:
        item["id"] = input_id
    return item


def predict(
    api: Api, model_id: str, inputs: list[dict[str, Any]], **config: Any
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"inputs": inputs}
    if config:
        body["model"] = {"output_info": {"output_config": config}}
    return api.post(f"models/{model_id}/outputs", body)


def make_video(
    colors: Sequence[tuple[int, int, int]], fps: int = 10, seconds_each: float = 1.0
) -> bytes:
    """An MP4 (MPEG-4 part 2) showing each colour for ``seconds_each``, made with PyAV."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for color in colors:
            for _ in range(round(fps * seconds_each)):
                pixels = np.zeros((48, 64, 3), dtype=np.uint8)
                pixels[:] = color
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# the colour model


def test_colour_model_names_a_solid_red_image_red(api: Api) -> None:
    code, body = predict(api, COLOR_MODEL_ID, [image_input(solid((255, 0, 0)), "red-one")])
    assert code == 200, body
    assert body["status"]["code"] == 10000
    (output,) = body["outputs"]
    assert output["status"]["code"] == 10000
    assert output["input"]["id"] == "red-one"
    assert output["model"]["id"] == COLOR_MODEL_ID
    assert output["model"]["output_info"]["type"] == "color"
    assert output["model"]["model_version"]["status"]["code"] == 21100
    assert output["data"]["colors"] == [
        {"raw_hex": "#ff0000", "w3c": {"hex": "#ff0000", "name": "Red"}, "value": 1.0}
    ]


def test_colour_shares_of_a_two_colour_image_match_its_pixel_counts(api: Api) -> None:
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 60, 100))  # 30% black
    _, body = predict(api, COLOR_MODEL_ID, [image_input(encoded(image))])
    shares = {c["w3c"]["name"]: c["value"] for c in body["outputs"][0]["data"]["colors"]}
    assert shares == {"White": pytest.approx(0.7, abs=0.03), "Black": pytest.approx(0.3, abs=0.03)}


def test_colour_model_on_a_photo_from_a_url(api: Api) -> None:
    with media_server() as media:
        code, body = predict(
            api, COLOR_MODEL_ID, [{"data": {"image": {"url": media.url("/coffee.jpg")}}}]
        )
    assert code == 200, body
    output = body["outputs"][0]
    assert output["input"]["data"]["image"]["url"].endswith("/coffee.jpg")
    assert sum(c["value"] for c in output["data"]["colors"]) == pytest.approx(1.0)


def test_max_concepts_and_min_value_apply_to_colours(api: Api) -> None:
    image = Image.new("RGB", (100, 100), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 100, 20))
    image.paste((0, 128, 0), (0, 20, 100, 25))
    _, body = predict(api, COLOR_MODEL_ID, [image_input(encoded(image))], max_concepts=2)
    assert [c["w3c"]["name"] for c in body["outputs"][0]["data"]["colors"]] == ["Red", "Blue"]
    _, body = predict(api, COLOR_MODEL_ID, [image_input(encoded(image))], min_value=0.5)
    assert [c["w3c"]["name"] for c in body["outputs"][0]["data"]["colors"]] == ["Red"]


def test_crop_is_applied_before_predicting(api: Api) -> None:
    image = Image.new("RGB", (100, 100), (255, 0, 0))
    image.paste((0, 0, 255), (50, 0, 100, 100))  # right half blue
    item = {"data": {"image": {"base64": encoded(image), "crop": [0.0, 0.5, 1.0, 1.0]}}}
    _, body = predict(api, COLOR_MODEL_ID, [item])
    assert [c["w3c"]["name"] for c in body["outputs"][0]["data"]["colors"]] == ["Blue"]


# ---------------------------------------------------------------------------------------------
# output config of concept models


def test_concepts_are_sorted_and_cut_to_the_model_default(api: Api) -> None:
    _, body = predict(api, BRIGHTNESS_MODEL_ID, [image_input(solid((10, 10, 10)))])
    concepts = body["outputs"][0]["data"]["concepts"]
    assert [c["id"] for c in concepts] == ["dark", "mid"]  # default_max_concepts = 2
    assert concepts[0]["value"] >= concepts[1]["value"]


def test_max_concepts_and_min_value(api: Api) -> None:
    inputs = [image_input(solid((128, 128, 128)))]
    _, body = predict(api, BRIGHTNESS_MODEL_ID, inputs, max_concepts=3)
    concepts = body["outputs"][0]["data"]["concepts"]
    assert len(concepts) == 3 and concepts[0]["id"] == "mid"
    _, body = predict(api, BRIGHTNESS_MODEL_ID, inputs, max_concepts=3, min_value=0.2)
    assert [c["id"] for c in body["outputs"][0]["data"]["concepts"]] == ["mid"]


def test_output_config_under_model_version_output_info_applies(api: Api) -> None:
    # Where the current API and clarifai-grpc users put it: model.model_version.output_info.
    inputs = [image_input(solid((128, 128, 128)))]

    def concept_ids(model: dict[str, Any]) -> list[str]:
        code, body = api.post(
            f"models/{BRIGHTNESS_MODEL_ID}/outputs", {"inputs": inputs, "model": model}
        )
        assert code == 200, body
        return [c["id"] for c in body["outputs"][0]["data"]["concepts"]]

    in_version = {"model_version": {"output_info": {"output_config": {"max_concepts": 3}}}}
    assert len(concept_ids(in_version)) == 3
    both = {**in_version, "output_info": {"output_config": {"min_value": 0.2}}}
    assert concept_ids(both) == ["mid"]  # fields of both places apply
    overridden = {**in_version, "output_info": {"output_config": {"max_concepts": 1}}}
    assert concept_ids(overridden) == ["mid"]  # the model-level field wins
    code, body = api.post(
        f"models/{BRIGHTNESS_MODEL_ID}/outputs",
        {
            "inputs": inputs,
            "model": {"model_version": {"output_info": {"output_config": {"max_concepts": "x"}}}},
        },
    )
    assert code == 400 and body["status"]["code"] == 40001
    assert "model.model_version.output_info.output_config.max_concepts" in body["status"]["details"]


def test_select_concepts_by_id_and_by_name(api: Api) -> None:
    inputs = [image_input(solid((250, 250, 250)))]
    _, body = predict(
        api,
        BRIGHTNESS_MODEL_ID,
        inputs,
        select_concepts=[{"id": "dark", "value": 1.0}, {"name": "Middle"}],
    )
    assert body["status"]["code"] == 10000
    assert sorted(c["id"] for c in body["outputs"][0]["data"]["concepts"]) == ["dark", "mid"]


def test_select_concepts_partly_unknown_is_mixed_success(api: Api) -> None:
    _, body = predict(
        api,
        BRIGHTNESS_MODEL_ID,
        [image_input(solid((0, 0, 0)))],
        select_concepts=[{"id": "dark"}, {"id": "unicorn"}],
    )
    assert body["status"]["code"] == 10010
    assert "unicorn" in body["status"]["details"]
    assert [c["id"] for c in body["outputs"][0]["data"]["concepts"]] == ["dark"]


def test_select_concepts_none_known_is_an_invalid_argument(api: Api) -> None:
    code, body = predict(
        api,
        BRIGHTNESS_MODEL_ID,
        [image_input(solid((0, 0, 0)))],
        select_concepts=[{"id": "unicorn"}],
    )
    assert code == 400
    assert body["status"]["code"] == 21202
    assert "unicorn" in body["status"]["details"]


def test_a_language_the_model_lacks_is_refused(api: Api) -> None:
    code, body = predict(api, BRIGHTNESS_MODEL_ID, [image_input(solid((0, 0, 0)))], language="zh")
    assert code == 400
    assert body["status"]["code"] == 21202
    assert "'zh'" in body["status"]["details"]
    code, _ = predict(api, BRIGHTNESS_MODEL_ID, [image_input(solid((0, 0, 0)))], language="en")
    assert code == 200


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_concepts": 201}, "max_concepts"),
        ({"min_value": 1.5}, "min_value"),
        ({"sample_ms": 5}, "sample_ms"),
        ({"select_concepts": [{"value": 1.0}]}, "select_concepts"),
    ],
)
def test_out_of_range_output_config_is_a_predict_error(
    api: Api, config: dict[str, Any], field: str
) -> None:
    code, body = predict(api, COLOR_MODEL_ID, [image_input(solid((0, 0, 0)))], **config)
    assert code == 400
    assert body["status"]["code"] == 40001
    assert field in body["status"]["details"]


# ---------------------------------------------------------------------------------------------
# batches and per-item status


def test_a_mixed_batch_keeps_every_slot_with_its_own_status(api: Api) -> None:
    inputs = [
        image_input(solid((255, 0, 0)), "good"),
        image_input(base64.b64encode(b"not an image at all").decode(), "bytes"),
        {"id": "ftp", "data": {"image": {"url": "ftp://example.invalid/a.jpg"}}},
        {"id": "missing-input"},
    ]
    code, body = predict(api, COLOR_MODEL_ID, inputs)
    assert code == 200
    assert body["status"]["code"] == 10010
    by_id = {o["input"]["id"]: o for o in body["outputs"]}
    assert [o["input"]["id"] for o in body["outputs"]] == ["good", "bytes", "ftp", "missing-input"]
    assert by_id["good"]["status"]["code"] == 10000
    assert by_id["bytes"]["status"]["code"] == 30101
    assert by_id["ftp"]["status"]["code"] == 30002
    assert by_id["missing-input"]["status"]["code"] == 30102
    for failed in ("bytes", "ftp", "missing-input"):
        assert by_id[failed]["data"] == {}
        assert by_id[failed]["status"]["details"]


def test_a_url_answering_404_is_a_download_failure(api: Api) -> None:
    with media_server() as media:
        code, body = predict(
            api, COLOR_MODEL_ID, [{"data": {"image": {"url": media.url("/gone.jpg")}}}]
        )
    assert code == 400
    assert body["status"]["code"] == 10020
    assert body["outputs"][0]["status"]["code"] == 30002
    assert "404" in body["outputs"][0]["status"]["details"]


def test_128_inputs_are_accepted_and_129_refused(api: Api) -> None:
    tiny = solid((0, 0, 255), (4, 4))
    code, body = predict(api, COLOR_MODEL_ID, [image_input(tiny)] * 128)
    assert code == 200 and len(body["outputs"]) == 128
    assert {o["data"]["colors"][0]["w3c"]["name"] for o in body["outputs"]} == {"Blue"}
    code, body = predict(api, COLOR_MODEL_ID, [image_input(tiny)] * 129)
    assert code == 400
    assert body["status"]["code"] == 40001
    assert "128" in body["status"]["details"]


def test_no_inputs_is_a_predict_error(api: Api) -> None:
    code, body = api.post(f"models/{COLOR_MODEL_ID}/outputs", {"inputs": []})
    assert code == 400 and body["status"]["code"] == 40001


def test_predict_an_existing_input_by_id(api: Api) -> None:
    blue = solid((0, 0, 255))
    code, body = api.post(
        "inputs", {"inputs": [{"id": "stored-blue", "data": {"image": {"base64": blue}}}]}
    )
    assert code == 200, body
    code, body = predict(api, COLOR_MODEL_ID, [{"id": "stored-blue"}])
    assert code == 200, body
    output = body["outputs"][0]
    assert output["input"]["id"] == "stored-blue"
    assert output["data"]["colors"][0]["w3c"]["name"] == "Blue"


def test_the_version_route_checks_the_version(api: Api) -> None:
    _, model = api.get(f"models/{COLOR_MODEL_ID}")
    version_id = model["model"]["model_version"]["id"]
    code, body = api.post(
        f"models/{COLOR_MODEL_ID}/versions/{version_id}/outputs",
        {"inputs": [image_input(solid((0, 0, 0)))]},
    )
    assert code == 200, body
    assert body["outputs"][0]["model"]["model_version"]["id"] == version_id
    code, body = api.post(
        f"models/{COLOR_MODEL_ID}/versions/nope/outputs",
        {"inputs": [image_input(solid((0, 0, 0)))]},
    )
    assert code == 404 and body["status"]["code"] == 21200


# ---------------------------------------------------------------------------------------------
# models that are not installed


def test_a_plugin_model_not_installed_answers_21200_naming_the_plugin(api: Api) -> None:
    code, body = predict(api, GENERAL_MODEL_ID, [image_input(solid((0, 0, 0)))])
    assert code == 404
    assert body["status"]["code"] == 21200
    assert "clarimap-models" in body["status"]["description"]
    assert "clarimap-models" in body["status"]["details"]
    assert "outputs" not in body or not body["outputs"]


def test_disabling_plugins_leaves_only_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    zoo = build_zoo()
    assert zoo.ids() == [COLOR_MODEL_ID]


def test_an_unknown_model_answers_21200(api: Api) -> None:
    code, body = predict(api, "no-such-model", [image_input(solid((0, 0, 0)))])
    assert code == 404
    assert body["status"]["code"] == 21200
    assert "no-such-model" in body["status"]["details"]


def test_an_untrained_app_model_cannot_predict(api: Api) -> None:
    code, body = api.post(
        "models", {"model": {"id": "pets", "output_info": {"data": {"concepts": [{"id": "cat"}]}}}}
    )
    assert code == 200, body
    code, body = predict(api, "pets", [image_input(solid((0, 0, 0)))])
    assert code == 400
    assert body["status"]["code"] == 21102
    assert "train" in body["status"]["details"]


# ---------------------------------------------------------------------------------------------
# videos


def test_a_video_gives_one_result_per_sampled_frame(api: Api) -> None:
    video = base64.b64encode(make_video([(255, 0, 0), (0, 255, 0), (0, 0, 255)])).decode()
    code, body = predict(api, COLOR_MODEL_ID, [{"data": {"video": {"base64": video}}}])
    assert code == 200, body
    frames = body["outputs"][0]["data"]["frames"]
    assert [f["frame_info"] for f in frames] == [
        {"index": 0, "time": 0},
        {"index": 1, "time": 1000},
        {"index": 2, "time": 2000},
    ]
    assert [f["data"]["colors"][0]["w3c"]["name"] for f in frames] == ["Red", "Lime", "Blue"]


def test_video_sample_ms_sets_the_frame_times(api: Api) -> None:
    video = base64.b64encode(make_video([(255, 0, 0), (0, 0, 255)], fps=10)).decode()
    code, body = predict(
        api, COLOR_MODEL_ID, [{"data": {"video": {"base64": video}}}], sample_ms=400, max_concepts=1
    )
    assert code == 200, body
    frames = body["outputs"][0]["data"]["frames"]
    times = [f["frame_info"]["time"] for f in frames]
    assert times == [0, 400, 800, 1200, 1600]
    assert all(t % 400 == 0 for t in times)
    assert all(len(f["data"]["colors"]) == 1 for f in frames)  # output config per frame
    names = [f["data"]["colors"][0]["w3c"]["name"] for f in frames]
    assert names == ["Red", "Red", "Red", "Blue", "Blue"]


def test_bytes_that_are_not_a_video_fail_that_item(api: Api) -> None:
    bad = base64.b64encode(b"\x00" * 500).decode()
    code, body = predict(
        api, COLOR_MODEL_ID, [{"data": {"video": {"base64": bad}}}, image_input(solid((0, 0, 0)))]
    )
    assert code == 200
    assert body["status"]["code"] == 10010
    assert body["outputs"][0]["status"]["code"] == 31101
    assert body["outputs"][1]["status"]["code"] == 10000


# ---------------------------------------------------------------------------------------------
# workflows


def test_workflow_predict_gives_one_output_per_node(api: Api) -> None:
    code, body = api.post(
        "workflows",
        {
            "workflows": [
                {
                    "id": "wf",
                    "nodes": [
                        {"id": "colours", "model": {"id": COLOR_MODEL_ID}},
                        {"id": "light", "model": {"id": BRIGHTNESS_MODEL_ID}},
                    ],
                }
            ]
        },
    )
    if code != 200:  # the brightness model is not a stored or public model: use colour twice
        code, body = api.post(
            "workflows",
            {
                "workflows": [
                    {
                        "id": "wf",
                        "nodes": [
                            {"id": "colours", "model": {"id": COLOR_MODEL_ID}},
                            {"id": "colours-again", "model": {"id": COLOR_MODEL_ID}},
                        ],
                    }
                ]
            },
        )
    assert code == 200, body
    inputs = [image_input(solid((255, 0, 0)), "r"), image_input(solid((0, 0, 0)), "k")]
    code, body = api.post(
        "workflows/wf/results", {"inputs": inputs, "output_config": {"max_concepts": 1}}
    )
    assert code == 200, body
    assert body["status"]["code"] == 10000
    assert body["workflow"]["id"] == "wf"
    assert [r["input"]["id"] for r in body["results"]] == ["r", "k"]
    for result, name in zip(body["results"], ["Red", "Black"], strict=True):
        assert result["status"]["code"] == 10000
        assert len(result["outputs"]) == 2
        assert result["outputs"][0]["model"]["id"] == COLOR_MODEL_ID
        assert result["outputs"][0]["data"]["colors"][0]["w3c"]["name"] == name


def test_workflow_predict_of_an_unknown_workflow_is_22102(api: Api) -> None:
    code, body = api.post("workflows/none/results", {"inputs": [image_input(solid((0, 0, 0)))]})
    assert code == 404
    assert body["status"]["code"] == 22102
