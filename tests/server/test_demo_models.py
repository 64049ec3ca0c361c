"""The model steps of ``clarimap demo``: real output with the models plugin, notes without it."""

from __future__ import annotations

import importlib.util
import io

import pytest

from clarimap import demo

MODEL_STEPS = [
    demo.predict_general,
    demo.predict_colors,
    demo.predict_faces,
    demo.create_and_train,
    demo.predict_custom,
    demo.search_predicted,
]


def run_steps(steps: list[demo.DemoStep]) -> str:
    out = io.StringIO()
    assert demo.run_demo(out, steps) == 0, out.getvalue()
    return out.getvalue()


def section(output: str, step: demo.DemoStep) -> str:
    return output.partition(f"{step.heading} ==")[2].partition("\n== ")[0]


BEFORE = [
    demo.start_server,
    demo.upload_photos,
    demo.upload_from_media_sources,
    demo.wait_for_processing,
]


@pytest.mark.skipif(
    importlib.util.find_spec("clarimap_models") is None,
    reason="the clarimap-models plugin is not installed (pip install ./plugins/clarimap-models)",
)
def test_with_the_models_plugin_every_model_step_shows_real_output() -> None:
    output = run_steps(BEFORE + MODEL_STEPS)

    general = section(output, demo.predict_general)
    named = {line.strip().rsplit(" ", 1)[0].strip() for line in general.splitlines() if line}
    assert {"tabby", "tiger cat", "Egyptian cat"} & named
    faces = section(output, demo.predict_faces)
    assert "astronaut.jpg      1 face(s)" in faces and "galaxies.jpg       0 face(s)" in faces
    assert "21100 Model is trained and ready" in section(output, demo.create_and_train)
    custom = section(output, demo.predict_custom)
    assert "from-open-file     animal" in custom  # the horse: animal scores highest
    search = section(output, demo.search_predicted)
    assert search.strip().startswith("cat ")
    assert "note:" not in output


def test_without_the_models_plugin_the_predict_steps_say_so_and_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")

    output = run_steps(BEFORE + MODEL_STEPS)

    for step in (demo.predict_general, demo.predict_faces, demo.search_predicted):
        text = section(output, step)
        assert "clarimap-models" in text and "skipping this step" in text
        assert "face(s)" not in text and "score" not in text
    assert "nearest" in section(output, demo.predict_colors)  # built in: still real output
    assert "21100 Model is trained and ready" in section(output, demo.create_and_train)
