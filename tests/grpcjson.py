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
why; tests turn that into a skip with that reason. The building and running are
tests/clientvenv.py's, shared with tests/legacy.py. Used by tests/server/test_grpc_json_client.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.clientvenv import ClientScriptFailed, ClientVenv, ClientVenvUnavailable

GRPC_JSON_REQUIREMENTS = (
    "clarifai-grpc==12.6.0",
    "protobuf==6.33.6",
    "requests",
)

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


class GrpcJsonUnavailable(ClientVenvUnavailable):
    """The clarifai-grpc virtualenv cannot be built or used here; the message says why."""


class GrpcJsonScriptFailed(ClientScriptFailed):
    """A script run in the clarifai-grpc virtualenv exited non-zero or printed no JSON."""


GRPC_JSON_CLIENT = ClientVenv(
    label="clarifai-grpc==12.6.0",
    requirements=GRPC_JSON_REQUIREMENTS,
    cache_dir_name="grpcjson-venv-12.6.0",
    venv_env_var="CLARIMAP_GRPCJSON_VENV",
    marker_file="clarimap-grpcjson-venv.json",
    import_check=(
        "from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel; "
        "from clarifai_grpc.grpc.api import service_pb2_grpc; import requests"
    ),
    client_module="clarifai_grpc",
    unavailable=GrpcJsonUnavailable,
    script_failed=GrpcJsonScriptFailed,
    prelude=PRELUDE,
    temp_prefix="clarimap-grpcjson-",
)


def grpc_json_python() -> Path:
    """The Python of the clarifai-grpc virtualenv, building it first if needed.

    Raises :class:`GrpcJsonUnavailable` with the reason when it cannot be built.
    """
    return GRPC_JSON_CLIENT.python()


def run_grpc_json_script(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run :data:`PRELUDE` + ``script`` with the clarifai-grpc Python; the JSON it prints last."""
    return GRPC_JSON_CLIENT.run_script(script, env=env, timeout=timeout)
