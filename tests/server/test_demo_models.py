"""The model steps of ``clarimap demo``: real output with the models plugin, notes without it."""

from __future__ import annotations

import importlib.util
import io
import re

import pytest

from clarimap import demo

MODEL_STEPS = [
    demo.predict_general,
    demo.predict_colors,
    demo.predict_faces,
    demo.create_and_train,
    demo.predict_custom,
    demo.evaluate_custom,
    demo.run_workflow,
    demo.search_predicted,
]

BEFORE = [
    demo.connect_session,
    demo.upload_photos,
    demo.upload_from_media_sources,
    demo.wait_for_processing,
]


def run_steps(steps: list[demo.DemoStep]) -> str:
    out = io.StringIO()
    assert demo.run_demo(out, steps) == 0, out.getvalue()
    return out.getvalue()


def section(output: str, step: demo.DemoStep) -> str:
    return output.partition(f"{step.heading} ==")[2].partition("\n== ")[0]


def rows(text: str) -> list[list[str]]:
    """The cells of the table rows of a section (two spaces or more between cells)."""
    return [
        re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if line.startswith("  ") and not line.lstrip().startswith((">>>", "...", "API calls"))
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("clarimap_models") is None,
    reason="the clarimap-models plugin is not installed (pip install ./plugins/clarimap-models)",
)
def test_with_the_models_plugin_every_model_step_shows_real_output() -> None:
    output = run_steps(BEFORE + MODEL_STEPS)
    assert "note:" not in output

    general = section(output, demo.predict_general)
    top_five = [
        row[0] for row in rows(general) if len(row) == 2 and re.fullmatch(r"0\.\d{3}", row[1])
    ]
    assert len(top_five) == 5
    assert demo.CAT_CLASSES & set(top_five)
    assert re.search(r"POST\s+/v2/models/aaa03c23\.\./outputs\s+1 input\s+-> 200", general)

    faces = section(output, demo.predict_faces)
    assert re.search(r"astronaut\.jpg\s+1\s+rows", faces)
    assert re.search(r"galaxies\.jpg\s+0\s+-", faces)
    assert re.search(r"POST\s+/v2/models/a403429f\.\./outputs\s+3 inputs", faces)  # one call

    assert "21100 Model is trained and ready" in section(output, demo.create_and_train)
    custom = section(output, demo.predict_custom)
    assert re.search(r"from-open-file \(horse\.png\)\s+animal", custom)
    assert re.search(r"from-data-uri \(rocket\.jpg\)\s+space", custom)

    evaluation = section(output, demo.evaluate_custom)
    measured = {row[0]: row[1:] for row in rows(evaluation) if len(row) == 5}
    assert measured["animal"][:2] == ["6", "9"]  # cat and horse, two crops of each
    assert measured["space"][:2] == ["9", "6"]  # astronaut, galaxies, rocket and their crops
    assert "21300 Model was successfully evaluated" in evaluation
    assert re.search(r"POST\s+/v2/inputs\s+10 inputs\s+-> 200", evaluation)
    assert re.search(r"DELETE\s+/v2/inputs\s+10 ids\s+-> 200", evaluation)

    workflow = section(output, demo.run_workflow)
    nodes = {row[0]: row[1] for row in rows(workflow) if len(row) == 2}
    assert set(nodes) >= {"general-v1.3", "color", demo.CUSTOM_MODEL_ID}
    assert nodes[demo.CUSTOM_MODEL_ID].startswith("animal ")
    assert re.search(r"POST\s+/v2/workflows/demo-tour/results\s+1 input\s+-> 200", workflow)

    search = section(output, demo.search_predicted)
    assert rows(search)[1][0] == "cat"  # the first row under the header


def test_without_the_models_plugin_the_predict_steps_say_so_and_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")

    output = run_steps(BEFORE + MODEL_STEPS)

    for step in (demo.predict_general, demo.predict_faces, demo.search_predicted):
        text = section(output, step)
        assert "needs the clarimap-models plugin" in text and "Skipping this step" in text
        assert "CLARIMAP_DISABLE_PLUGINS" in text
        assert "API calls sent" not in text  # nothing was asked, nothing is shown as an answer
    assert re.search(r"#[0-9a-f]{6}\s+\w+\s+\d+\.\d%", section(output, demo.predict_colors))
    assert "21100 Model is trained and ready" in section(output, demo.create_and_train)
    workflow = section(output, demo.run_workflow)
    assert "no general model node" in workflow
    nodes = {row[0]: row[1] for row in rows(workflow) if len(row) == 2}
    assert "general-v1.3" not in nodes
    assert nodes[demo.CUSTOM_MODEL_ID].startswith("animal ")
