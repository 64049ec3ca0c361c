"""A Clarifai client in a cached virtualenv of its own, and scripts run with it, for tests.

Called by tests/legacy.py (``clarifai==2.6.2``) and tests/grpcjson.py (``clarifai-grpc``), whose
clients need protobuf versions the project's environment cannot hold. Each describes its client
as a :class:`ClientVenv`; this module builds the virtualenv once (``pip install`` from PyPI) in
``~/.cache/clarimap/<cache_dir_name>`` (or where the ``venv_env_var`` variable says), rebuilds
one that is incomplete or broken, and runs scripts with its Python.

A script prints its result as JSON on the last line of stdout; everything printed before is
ignored.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILD_TIMEOUT_SECONDS = 600


class ClientVenvUnavailable(Exception):
    """A client's virtualenv cannot be built or used here; the message says why."""


class ClientScriptFailed(AssertionError):
    """A script run in a client's virtualenv exited non-zero or printed no JSON."""


_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/=]{200,}")


def _shorten(text: str, limit: int) -> str:
    """The tail of a script's output, with long base64 runs (image bytes) elided."""
    text = _LONG_BASE64.sub(lambda match: f"<{len(match.group())} base64 chars>", text)
    return text[-limit:]


def _python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


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


_checked: dict[Path, Path] = {}


@dataclass(frozen=True)
class ClientVenv:
    """One client: what to install, where to cache it, and how to tell that it works."""

    label: str  # says which client in messages, e.g. "clarifai==2.6.2"
    requirements: tuple[str, ...]
    cache_dir_name: str
    venv_env_var: str  # an environment variable that overrides where the virtualenv lives
    marker_file: str  # written last: its presence means the build finished
    import_check: str  # Python code that imports the client; it fails in a broken virtualenv
    client_module: str  # named in the message when the import check fails after a build
    unavailable: type[ClientVenvUnavailable] = ClientVenvUnavailable
    script_failed: type[ClientScriptFailed] = ClientScriptFailed
    prelude: str = ""  # put before every script
    temp_prefix: str = "clarimap-client-"

    def venv_dir(self) -> Path:
        """Where the cached virtualenv lives."""
        configured = os.environ.get(self.venv_env_var)
        if configured:
            return Path(configured).expanduser()
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache_home / "clarimap" / self.cache_dir_name

    def _expected_marker(self) -> dict[str, Any]:
        return {
            "requirements": list(self.requirements),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        }

    def _is_usable(self, venv: Path) -> bool:
        """True when ``venv`` finished building with our requirements and imports the client."""
        try:
            marker = json.loads((venv / self.marker_file).read_text())
        except (OSError, ValueError):
            return False
        if marker != self._expected_marker():
            return False
        check = subprocess.run(
            [str(_python_of(venv)), "-c", self.import_check],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return check.returncode == 0

    def _run_build_step(self, command: list[str], what: str) -> None:
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise self.unavailable(
                f"cannot build the {self.label} virtualenv: {what}: {error}"
            ) from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise self.unavailable(
                f"cannot build the {self.label} virtualenv: {what} failed "
                f"(exit {done.returncode}): {tail}"
            )

    def python(self) -> Path:
        """The Python of the virtualenv, building it first if needed.

        Raises :attr:`unavailable` with the reason when it cannot be built.
        """
        venv = self.venv_dir()
        if venv in _checked:
            return _checked[venv]
        with _build_lock(venv):
            if not self._is_usable(venv):
                shutil.rmtree(venv, ignore_errors=True)
                self._run_build_step([sys.executable, "-m", "venv", str(venv)], "python -m venv")
                self._run_build_step(
                    [
                        str(_python_of(venv)),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        *self.requirements,
                    ],
                    f"pip install {' '.join(self.requirements)}",
                )
                (venv / self.marker_file).write_text(json.dumps(self._expected_marker()))
                if not self._is_usable(venv):
                    raise self.unavailable(
                        f"the {self.label} virtualenv at {venv} was built but cannot import "
                        f"{self.client_module}"
                    )
        _checked[venv] = _python_of(venv)
        return _checked[venv]

    def run_script(
        self, script: str, *, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> Any:
        """Run :attr:`prelude` + ``script`` with the client's Python; the JSON it prints last."""
        python = self.python()
        child_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CLARIFAI_", "PYTHON", "VIRTUAL_ENV"))
        }
        child_env.update(env or {})
        with tempfile.TemporaryDirectory(prefix=self.temp_prefix) as home:
            # a HOME of its own: 2.6.2 reads ~/.clarifai/config when no key or base is given
            child_env["HOME"] = home
            script_path = Path(home) / "script.py"
            script_path.write_text(self.prelude + script)
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
            raise self.script_failed(
                f"the {self.label} script exited {done.returncode}\n"
                f"stdout:\n{_shorten(done.stdout, 4000)}\nstderr:\n{_shorten(done.stderr, 6000)}"
            )
        try:
            return json.loads(lines[-1])
        except ValueError:
            raise self.script_failed(
                f"the {self.label} script printed no JSON on its last line: {lines[-1][:500]!r}\n"
                f"stderr:\n{_shorten(done.stderr, 4000)}"
            ) from None
