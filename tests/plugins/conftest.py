"""Fixtures for the plugin tests: a plugin manager with only the built-ins, fake distributions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clarimap import plugins


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins.ClarimapPluginManager]:
    """The process-wide manager rebuilt with entry-point plugins disabled; restored after."""
    monkeypatch.setenv(plugins.DISABLE_ENV_VAR, "1")
    plugins.reset_plugin_manager()
    yield plugins.get_plugin_manager()
    plugins.reset_plugin_manager()


FakeDistribution = Callable[..., Path]


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDistribution]:
    """Make installed-looking distributions (a ``.dist-info`` and a module) on ``sys.path``.

    ``fake_distribution("acme-thing", "1.2", {"acme": "acme_mod"}, {"acme_mod": "source"})``
    writes ``acme_mod.py`` and ``acme_thing-1.2.dist-info`` with a ``clarimap`` entry point
    ``acme = acme_mod``; ``importlib.metadata`` finds it as it finds a pip-installed one.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(plugins.DISABLE_ENV_VAR, raising=False)
    made_modules: list[str] = []

    def make(
        name: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
    ) -> Path:
        dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = ["[clarimap]", *(f"{key} = {value}" for key, value in entry_points.items())]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            made_modules.append(module)
        return dist_info

    plugins.reset_plugin_manager()
    yield make
    plugins.reset_plugin_manager()
    import sys

    for module in made_modules:
        sys.modules.pop(module, None)
