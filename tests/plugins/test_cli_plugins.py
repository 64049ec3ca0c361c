"""``clarimap plugins``: lists the loaded plugins with their versions."""

from __future__ import annotations

import json

import pytest

from clarimap import __version__
from clarimap.cli import main
from tests.plugins.conftest import FakeDistribution
from tests.plugins.test_manager import FAKE_SOURCE


def test_lists_builtins_and_entry_point_plugins_with_versions(
    fake_distribution: FakeDistribution, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_distribution("acme-media", "4.5.6", {"acme": "acme_media"}, {"acme_media": FAKE_SOURCE})
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "origin", "distribution", "version", "hooks"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["media-path"] == [
        "media-path",
        "builtin",
        "clarimap",
        __version__,
        "clarimap_resolve_media",
    ]
    assert rows["acme"] == [
        "acme",
        "entry",
        "point",
        "acme-media",
        "4.5.6",
        "clarimap_resolve_media",
    ]


def test_json_output(builtins_only: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == [
        "media-path",
        "media-url",
        "media-bytes",
        "media-file-object",
        "media-data-uri",
        "media-pil",
        "media-numpy",
        "model-cache-memory",
        "transport-local",
    ]
    assert rows[-1] == {
        "name": "transport-local",
        "origin": "builtin",
        "distribution": "clarimap",
        "version": __version__,
        "hooks": ["clarimap_transport_adapter"],
    }


def test_a_broken_plugin_is_reported_not_a_traceback(
    fake_distribution: FakeDistribution, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_distribution("broken", "1.0", {"broken": "broken_mod"}, {"broken_mod": "1/0\n"})
    assert main(["plugins"]) == 1
    error = capsys.readouterr().err
    assert "clarimap plugins: error: plugin 'broken' (broken 1.0) failed to load" in error
    assert "ZeroDivisionError" in error and "Traceback" not in error
