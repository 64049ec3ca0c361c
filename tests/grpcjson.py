"""The current official JSON client (``clarifai-grpc==12.6.0``), in a virtualenv of its own, for tests.

``clarifai-grpc`` needs ``protobuf==6.33.6``, which the project's environment does not pin, so
tests run it in a separate virtualenv as a subprocess, the way :mod:`tests.legacy` runs the
2.6.2 client::

    from tests.grpcjson import GrpcJsonUnavailable, run_grpc_json_script

    result = run_grpc_json_script(SCRIPT, env={"CLARIMAP_URL": url, "CLARIMAP_KEY": "k"})

Every script runs after :data:`PRELUDE`, which defines ``stub`` (a ``V2Stub`` over
``ClarifaiChannel.get_json_channel(base_url=CLARIMAP_URL)``), ``metadata`` (the
``authorization`` header), ``user_app_id`` (user ``local``, app ``default``), ``app_only`` (app
``default`` only: the client sends user ``me``), the modules ``service_pb2``,
``resources_pb2`` and ``status_code_pb2``, and ``as_dict(message)`` (proto field names, defaults
left out, enums as numbers). A script prints its result as JSON on the last line of stdout.

The virtualenv is built once (``pip install`` from PyPI) and cached in
``~/.cache/clarimap/grpcjson-venv-12.6.0`` (override with ``CLARIMAP_GRPCJSON_VENV``); one that
is incomplete or broken is rebuilt. Where it cannot be built, :class:`GrpcJsonUnavailable` says
why; tests turn that into a skip with that reason. Used by
tests/server/test_grpc_json_client.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.legacy import _build_lock, _python_of, _shorten

GRPC_JSON_REQUIREMENTS = (
    "clarifai-grpc==12.6.0",
    "protobuf==6.33.6",
    "requests",
)
BUILD_TIMEOUT_SECONDS = 600
MARKER_FILE = "clarimap-grpcjson-venv.json"  # written last: its presence means the build finished

PRELUDE = '''\
import json, os, sys
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import json_format, struct_pb2

channel = ClarifaiChannel.get_json_channel(base_url=os.environ["CLARIMAP_URL"])
stub = service_pb2_grpc.V2Stub(channel)
metadata = (("authorization", "Key " + os.environ.get("CLARIMAP_KEY", "local-key")),)
user_app_id = resources_pb2.UserAppIDSet(user_id="local", app_id="default")
app_only = resources_pb2.UserAppIDSet(app_id="default")


def as_dict(message):
    """The message as a dict: proto field names, defaults left out, enums as numbers."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, use_integers_for_enums=True
    )


def struct(value):
    """A protobuf Struct holding the dict ``value``."""
    result = struct_pb2.Struct()
    result.update(value)
    return result

'''


class GrpcJsonUnavailable(Exception):
    """The clarifai-grpc virtualenv cannot be built or used here; the message says why."""


class GrpcJsonScriptFailed(AssertionError):
    """A script run in the clarifai-grpc virtualenv exited non-zero or printed no JSON."""


def venv_dir() -> Path:
    """Where the cached virtualenv lives."""
    configured = os.environ.get("CLARIMAP_GRPCJSON_VENV")
    if configured:
        return Path(configured).expanduser()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "clarimap" / "grpcjson-venv-12.6.0"


def _expected_marker() -> dict[str, Any]:
    return {
        "requirements": list(GRPC_JSON_REQUIREMENTS),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


_IMPORT_CHECK = (
    "from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel; "
    "from clarifai_grpc.grpc.api import service_pb2_grpc; import requests"
)


def _is_usable(venv: Path) -> bool:
    """True when ``venv`` finished building with our requirements and imports the client."""
    try:
        marker = json.loads((venv / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    if marker != _expected_marker():
        return False
    check = subprocess.run(
        [str(_python_of(venv)), "-c", _IMPORT_CHECK],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return check.returncode == 0


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
        raise GrpcJsonUnavailable(
            f"cannot build the clarifai-grpc==12.6.0 virtualenv: {what}: {error}"
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise GrpcJsonUnavailable(
            f"cannot build the clarifai-grpc==12.6.0 virtualenv: {what} failed "
            f"(exit {done.returncode}): {tail}"
        )


_checked: dict[Path, Path] = {}


def grpc_json_python() -> Path:
    """The Python of the clarifai-grpc virtualenv, building it first if needed.

    Raises :class:`GrpcJsonUnavailable` with the reason when it cannot be built.
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
                    *GRPC_JSON_REQUIREMENTS,
                ],
                f"pip install {' '.join(GRPC_JSON_REQUIREMENTS)}",
            )
            (venv / MARKER_FILE).write_text(json.dumps(_expected_marker()))
            if not _is_usable(venv):
                raise GrpcJsonUnavailable(
                    f"the clarifai-grpc==12.6.0 virtualenv at {venv} was built but cannot "
                    "import clarifai_grpc"
                )
    _checked[venv] = _python_of(venv)
    return _checked[venv]


def run_grpc_json_script(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run :data:`PRELUDE` + ``script`` with the clarifai-grpc Python; the JSON it prints last."""
    python = grpc_json_python()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLARIFAI_", "PYTHON", "VIRTUAL_ENV"))
    }
    child_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="clarimap-grpcjson-") as home:
        child_env["HOME"] = home
        script_path = Path(home) / "script.py"
        script_path.write_text(PRELUDE + script)
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
        raise GrpcJsonScriptFailed(
            f"the clarifai-grpc script exited {done.returncode}\n"
            f"stdout:\n{_shorten(done.stdout, 4000)}\nstderr:\n{_shorten(done.stderr, 6000)}"
        )
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise GrpcJsonScriptFailed(
            f"the clarifai-grpc script printed no JSON on its last line: {lines[-1][:500]!r}\n"
            f"stderr:\n{_shorten(done.stderr, 4000)}"
        ) from None
