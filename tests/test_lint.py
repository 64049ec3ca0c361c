"""The tree stays clean: ``ruff check``, ``ruff format --check`` and ``mypy`` find nothing.

Each tool runs from the environment running the tests (beside ``sys.executable``), at the root
of the repository, with the settings of pyproject.toml; a tool that is not installed there skips
its test, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the tool ``name`` of this environment in the repository root; skip if it is missing."""
    tool = TOOLS / (f"{name}.exe" if os.name == "nt" else name)
    if not tool.exists():
        pytest.skip(f"{name} is not installed beside {sys.executable} (pip install -e '.[dev]')")
    return subprocess.run(
        [str(tool), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_ruff_check_finds_nothing() -> None:
    done = run_tool("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_would_change_nothing() -> None:
    done = run_tool("ruff", "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean_on_the_package() -> None:
    done = run_tool("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
