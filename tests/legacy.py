"""The legacy ``clarifai==2.6.2`` Python client, in a virtualenv of its own, for tests.

The 2.6.2 client needs ``protobuf==3.19.6`` and ``googleapis-common-protos==1.56.4``, which
cannot live in the project's environment, so tests run it in a separate virtualenv as a
subprocess::

    from tests.legacy import LegacyUnavailable, run_legacy_script

    result = run_legacy_script(SCRIPT, env={"CLARIMAP_URL": url})   # the script's JSON output

The virtualenv is built once (``pip install`` from PyPI, about 10 s) and cached across runs in
``~/.cache/clarimap/legacy-venv-2.6.2`` (override with ``CLARIMAP_LEGACY_VENV``); a cached one
that is incomplete or broken is rebuilt. Where it cannot be built (no network, no ``venv``
module), :class:`LegacyUnavailable` says why; tests turn that into a skip with that reason.

A script prints its result as JSON on the last line of stdout; everything printed before is
ignored. Used by tests/server/test_legacy_client.py; later tests (search, predict) reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

LEGACY_REQUIREMENTS = (
    "clarifai==2.6.2",
    "protobuf==3.19.6",
    "googleapis-common-protos==1.56.4",
)
BUILD_TIMEOUT_SECONDS = 600
MARKER_FILE = "clarimap-legacy-venv.json"  # written last: its presence means the build finished


_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/=]{200,}")


def _shorten(text: str, limit: int) -> str:
    """The tail of a script's output, with long base64 runs (image bytes) elided."""
    text = _LONG_BASE64.sub(lambda match: f"<{len(match.group())} base64 chars>", text)
    return text[-limit:]


class LegacyUnavailable(Exception):
    """The 2.6.2 virtualenv cannot be built or used here; the message says why."""


class LegacyScriptFailed(AssertionError):
    """A script run in the 2.6.2 virtualenv exited non-zero or printed no JSON."""


def venv_dir() -> Path:
    """Where the cached virtualenv lives."""
    configured = os.environ.get("CLARIMAP_LEGACY_VENV")
    if configured:
        return Path(configured).expanduser()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "clarimap" / "legacy-venv-2.6.2"


def _python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _expected_marker() -> dict[str, Any]:
    return {
        "requirements": list(LEGACY_REQUIREMENTS),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _is_usable(venv: Path) -> bool:
    """True when ``venv`` finished building with our requirements and imports the client."""
    try:
        marker = json.loads((venv / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    if marker != _expected_marker():
        return False
    check = subprocess.run(
        [str(_python_of(venv)), "-c", "import clarifai.rest, google.protobuf"],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return check.returncode == 0


@contextlib.contextmanager
def _build_lock(venv: Path) -> Iterator[None]:
    """An exclusive lock, so parallel test processes build the virtualenv only once."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _run_build_step(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LegacyUnavailable(
            f"cannot build the clarifai==2.6.2 virtualenv: {what}: {error}"
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise LegacyUnavailable(
            f"cannot build the clarifai==2.6.2 virtualenv: {what} failed "
            f"(exit {done.returncode}): {tail}"
        )


_checked: dict[Path, Path] = {}


def legacy_python() -> Path:
    """The Python of the 2.6.2 virtualenv, building it first if needed.

    Raises :class:`LegacyUnavailable` with the reason when it cannot be built.
    """
    venv = venv_dir()
    if venv in _checked:
        return _checked[venv]
    with _build_lock(venv):
        if not _is_usable(venv):
            shutil.rmtree(venv, ignore_errors=True)
            _run_build_step([sys.executable, "-m", "venv", str(venv)], "python -m venv")
            _run_build_step(
                [
                    str(_python_of(venv)),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *LEGACY_REQUIREMENTS,
                ],
                f"pip install {' '.join(LEGACY_REQUIREMENTS)}",
            )
            (venv / MARKER_FILE).write_text(json.dumps(_expected_marker()))
            if not _is_usable(venv):
                raise LegacyUnavailable(
                    f"the clarifai==2.6.2 virtualenv at {venv} was built but cannot import "
                    "clarifai.rest"
                )
    _checked[venv] = _python_of(venv)
    return _checked[venv]


def run_legacy_script(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run ``script`` with the 2.6.2 client's Python; the JSON on its last stdout line."""
    python = legacy_python()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLARIFAI_", "PYTHON", "VIRTUAL_ENV"))
    }
    child_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="clarimap-legacy-") as home:
        # a HOME of its own: 2.6.2 reads ~/.clarifai/config when no key or base is given
        child_env["HOME"] = home
        script_path = Path(home) / "script.py"
        script_path.write_text(script)
        done = subprocess.run(
            [str(python), str(script_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env,
            stdin=subprocess.DEVNULL,
            cwd=home,
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise LegacyScriptFailed(
            f"the clarifai==2.6.2 script exited {done.returncode}\n"
            f"stdout:\n{_shorten(done.stdout, 4000)}\nstderr:\n{_shorten(done.stderr, 6000)}"
        )
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise LegacyScriptFailed(
            f"the clarifai==2.6.2 script printed no JSON on its last line: {lines[-1][:500]!r}\n"
            f"stderr:\n{_shorten(done.stderr, 4000)}"
        ) from None
