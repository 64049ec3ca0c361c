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
ignored. The building and running are tests/clientvenv.py's, shared with tests/grpcjson.py. Used
by tests/server/test_legacy_client.py, test_legacy_models.py, test_legacy_search.py and
benchmarks/bench_orm.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.clientvenv import ClientScriptFailed, ClientVenv, ClientVenvUnavailable
from tests.conftest import SAMPLES
from tests.serve_process import ServeProcess

LEGACY_REQUIREMENTS = (
    "clarifai==2.6.2",
    "protobuf==3.19.6",
    "googleapis-common-protos==1.56.4",
)

# The start of the test modules' scripts: the app on the server, ``out`` for the results, and
# ``sample(name)``, the path of a photo in clarimap/demo_data.
CLIENT_PRELUDE = r"""
import json, os, sys, time
from clarifai.errors import ApiError
from clarifai.rest import ClarifaiApp
from clarifai.rest import Image as ClImage

app = ClarifaiApp(api_key=os.environ["CLARIMAP_KEY"], base_url=os.environ["CLARIMAP_URL"])
SAMPLES = os.environ["CLARIMAP_SAMPLES"]
out = {}

def sample(name):
    return os.path.join(SAMPLES, name)
"""


class LegacyUnavailable(ClientVenvUnavailable):
    """The 2.6.2 virtualenv cannot be built or used here; the message says why."""


class LegacyScriptFailed(ClientScriptFailed):
    """A script run in the 2.6.2 virtualenv exited non-zero or printed no JSON."""


LEGACY_CLIENT = ClientVenv(
    label="clarifai==2.6.2",
    requirements=LEGACY_REQUIREMENTS,
    cache_dir_name="legacy-venv-2.6.2",
    venv_env_var="CLARIMAP_LEGACY_VENV",
    marker_file="clarimap-legacy-venv.json",
    import_check="import clarifai.rest, google.protobuf",
    client_module="clarifai.rest",
    unavailable=LegacyUnavailable,
    script_failed=LegacyScriptFailed,
    temp_prefix="clarimap-legacy-",
)


def legacy_python() -> Path:
    """The Python of the 2.6.2 virtualenv, building it first if needed.

    Raises :class:`LegacyUnavailable` with the reason when it cannot be built.
    """
    return LEGACY_CLIENT.python()


def run_legacy_script(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run ``script`` with the 2.6.2 client's Python; the JSON on its last stdout line."""
    return LEGACY_CLIENT.run_script(script, env=env, timeout=timeout)


def skip_without_legacy_client() -> None:
    """Build (or reuse) the 2.6.2 virtualenv; skip the calling test, with the reason, if it cannot."""
    try:
        legacy_python()
    except LegacyUnavailable as reason:
        pytest.skip(str(reason))


def run_against(server: ServeProcess, script: str, *, api_key: str, **env: str) -> dict[str, Any]:
    """Run ``script`` with the 2.6.2 client pointed at ``server``; the JSON it printed last.

    The script sees ``CLARIMAP_URL``, ``CLARIMAP_KEY`` (``api_key``), ``CLARIMAP_SAMPLES`` (the
    sample photos) and whatever else ``env`` names.
    """
    result: dict[str, Any] = run_legacy_script(
        script,
        env={
            "CLARIMAP_URL": server.url,
            "CLARIMAP_KEY": api_key,
            "CLARIMAP_SAMPLES": str(SAMPLES),
            **env,
        },
    )
    return result
