"""Fixtures and helpers of the ORM tests: a clarimap session on the local server, calls counted.

Used by tests/test_session.py, tests/test_unitofwork.py, tests/test_transport.py,
tests/property/, and the model tests (test_predict_orm.py, test_training_orm.py,
test_workflows_orm.py). Import the fixtures into a test module to use them::

    from tests.orm_support import Connected, connected, orm_app  # noqa: F401

``orm_app`` is a fresh in-memory server that processes inputs before answering and runs no
embedding or prediction step (the ORM tests need neither, and they would make creating a
thousand inputs take half a minute). ``connected`` is parametrised like ``api``: a
:class:`Connected` once in process (``local://``) and once over HTTP on 127.0.0.1.

The model tests import ``connected_with_models`` instead: a fixture also named ``connected``,
on the full ``server_app`` of tests/conftest.py (embeddings and predictions on).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

import clarimap
from clarimap.entities import Model
from clarimap.server import ServerApp, create_app
from clarimap.server.http import HTTPServer
from clarimap.session import Session
from clarimap.transport.base import RecordingTransport, RetryPolicy, Transport


def no_sleep(seconds: float) -> None:
    """A RetryPolicy sleep that does not wait (tests record delays instead)."""


@attrs.define
class Connected:
    """A session on a local server, the recorder that counts its calls, and a way to open more."""

    session: Session
    recorder: RecordingTransport
    server: ServerApp
    open: Callable[..., Session]

    def fresh(self) -> Session:
        """Another session on the same server (to read back what the first one flushed)."""
        return self.open()


def tiny_png(seed: int) -> bytes:
    """A distinct 8x8 PNG for each ``seed``."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), (seed % 256, (seed // 256) % 256, 99)).save(buffer, "PNG")
    return buffer.getvalue()


def solid_png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    """A PNG of one ``color``."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


needs_models = pytest.mark.skipif(
    importlib.util.find_spec("clarimap_models") is None,
    reason="the clarimap-models plugin is not installed (pip install ./plugins/clarimap-models)",
)
"""Marks a test that needs the real models of the clarimap-models plugin."""


def get_model(connected: Connected, model_id: str) -> Model:
    """The model ``model_id``, which must exist."""
    found = connected.session.get(Model, model_id)
    assert found is not None
    return found


def make_app() -> ServerApp:
    """An in-memory server without the embedding and prediction steps."""
    app = create_app(":memory:", background=False)
    app.processing_steps.clear()
    return app


@pytest.fixture
def orm_app() -> Iterator[ServerApp]:
    app = make_app()
    yield app
    app.close()


@contextmanager
def session_on(
    app: ServerApp, kind: str, wrap: Callable[[Transport], Transport] | None = None
) -> Iterator[Connected]:
    """A :class:`Connected` on ``app``, in process (``"inprocess"``) or over HTTP (``"http"``)."""
    recorders: list[RecordingTransport] = []
    server: HTTPServer | None = None

    def wrap_and_record(transport: Transport) -> Transport:
        if wrap is not None:
            transport = wrap(transport)
        recorder = RecordingTransport(transport)
        recorders.append(recorder)
        return recorder

    if kind == "http":
        server = HTTPServer(app, "127.0.0.1", 0)
        server.start()

    def open_session(**kwargs: Any) -> Session:
        options: dict[str, Any] = {"retry": RetryPolicy(sleep=no_sleep), **kwargs}
        if server is not None:
            return clarimap.connect(server.url, api_key="test-key", environ={}, **options)
        return clarimap.connect("local://:memory:", local_app=app, **options)

    opened = open_session(wrap_transport=wrap_and_record)
    try:
        yield Connected(opened, recorders[0], app, open_session)
    finally:
        opened.close()
        if server is not None:
            server.close()


@pytest.fixture(params=["inprocess", "http"])
def connected(request: pytest.FixtureRequest, orm_app: ServerApp) -> Iterator[Connected]:
    with session_on(orm_app, request.param) as value:
        yield value


@pytest.fixture(name="connected", params=["inprocess", "http"])
def connected_with_models(
    request: pytest.FixtureRequest, server_app: ServerApp
) -> Iterator[Connected]:
    """Like ``connected``, on the full server (embeddings and predictions on)."""
    with session_on(server_app, request.param) as value:
        yield value
