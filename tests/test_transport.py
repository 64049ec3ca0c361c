"""Transports: retries with backoff through injected faults, typed errors, secrets kept out."""

# ruff: noqa: F811  (the fixtures imported from tests.orm_support are redefined as arguments)
from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

import clarimap
from clarimap import (
    AuthError,
    Concept,
    FlushError,
    Input,
    Model,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Workflow,
    WorkflowNode,
)
from clarimap.server import create_app
from clarimap.server.http import HTTPServer
from clarimap.transport.base import Request, Response, RetryPolicy, Transport, decode_response
from clarimap.transport.http import HTTPTransport
from tests.orm_support import orm_app, session_on, tiny_png  # noqa: F401


@pytest.fixture
def resetting_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and resets them at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            connection.recv(65536)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()  # RST instead of FIN

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(timeout=5)


class FaultInjectingTransport:
    """Wraps the real transport; answers the first requests with the faults listed.

    ``"429"`` and ``"503"`` answer like a throttling or failing API (a JSON status envelope);
    ``"reset"`` sends the request to a port that resets the connection, through a real
    :class:`HTTPTransport`, so the error is the one a reset really raises. ``"lost"`` sends the
    request to the real server and then raises the connection error of a lost answer;
    ``"committed-503"`` sends it and answers 503 (the server failed after committing);
    ``"pass"`` sends it and returns its answer.
    """

    def __init__(self, inner: Transport, faults: list[str], resetting_port: int) -> None:
        self.inner = inner
        self.faults = list(faults)
        self.resetter = HTTPTransport(f"http://127.0.0.1:{resetting_port}", credential="k")
        self.attempts: list[Request] = []

    def send(self, request: Request) -> Response:
        self.attempts.append(request)
        if not self.faults:
            return self.inner.send(request)
        fault = self.faults.pop(0)
        if fault == "pass":
            return self.inner.send(request)
        if fault == "lost":
            self.inner.send(request)
            raise TransportError(f"{request.describe()} got no answer: connection reset")
        if fault == "committed-503":
            self.inner.send(request)
            body = {"status": {"code": 98004, "description": "Internal server issue"}}
            return Response(request, 503, body, {})
        if fault == "reset":
            return self.resetter.send(request)
        if fault == "429":
            body = {"status": {"code": 11005, "description": "Making too many requests"}}
            return Response(request, 429, body, {"Retry-After": "2"})
        body = {"status": {"code": 98004, "description": "Internal server issue"}}
        return Response(request, 503, body, {})

    def close(self) -> None:
        self.resetter.close()
        self.inner.close()


@pytest.mark.parametrize("kind", ["inprocess", "http"])
def test_idempotent_call_succeeds_after_429_503_and_reset(
    orm_app: object, resetting_port: int, kind: str
) -> None:
    faults: list[FaultInjectingTransport] = []

    def wrap(transport: Transport) -> Transport:
        faults.append(FaultInjectingTransport(transport, ["429", "503", "reset"], resetting_port))
        return faults[0]

    with session_on(orm_app, kind) as connected:  # type: ignore[arg-type]
        photo = Input.from_media(b"\x89PNG\r\n\x1a\n" + _png_rest(), concepts=["cat"])
        connected.session.add(photo)
        connected.session.commit()
        delays: list[float] = []
        session = connected.open(
            wrap_transport=wrap,
            retry=RetryPolicy(attempts=4, base_delay=0.01, sleep=delays.append, random=lambda: 1.0),
        )
        loaded = session.get(Input, photo.id)
        assert loaded is not None and loaded.concept_ids == ["cat"]
        injector = faults[0]
        assert [r.method for r in injector.attempts] == ["GET"] * 4
        assert len(delays) == 3
        assert delays[0] == 2.0  # Retry-After honoured
        assert delays[1:] == [0.02, 0.04]  # exponential backoff (jitter factor 1.0 here)


def _png_rest() -> bytes:
    from tests.orm_support import tiny_png

    return tiny_png(3)[8:]


def test_a_call_not_safe_to_repeat_is_not_repeated(orm_app: object, resetting_port: int) -> None:
    faults: list[FaultInjectingTransport] = []

    def wrap(transport: Transport) -> Transport:
        faults.append(FaultInjectingTransport(transport, ["503"], resetting_port))
        return faults[0]

    with session_on(orm_app, "inprocess") as connected:  # type: ignore[arg-type]
        session = connected.open(wrap_transport=wrap, retry=RetryPolicy(sleep=lambda s: None))
        with pytest.raises(ServerError) as caught:
            session._send("POST", "models/x/versions", {})  # training: not idempotent
        assert caught.value.http_status == 503 and caught.value.code == 98004
        assert len(faults[0].attempts) == 1
        faults[0].faults = ["reset"]
        with pytest.raises(TransportError, match="POST /v2/models/x/versions got no answer"):
            session._send("POST", "models/x/versions", {})
        assert len(faults[0].attempts) == 2


def test_retries_give_up_after_the_last_attempt(orm_app: object, resetting_port: int) -> None:
    def wrap(transport: Transport) -> Transport:
        return FaultInjectingTransport(transport, ["429"] * 5, resetting_port)

    with session_on(orm_app, "inprocess") as connected:  # type: ignore[arg-type]
        session = connected.open(
            wrap_transport=wrap, retry=RetryPolicy(attempts=3, sleep=lambda s: None)
        )
        with pytest.raises(RateLimited) as caught:
            session.get(Input, "anything")
        assert caught.value.retry_after == 2.0 and caught.value.code == 11005


def test_status_envelope_becomes_typed_errors(orm_app: object) -> None:
    with session_on(orm_app, "http") as connected:  # type: ignore[arg-type]
        with pytest.raises(NotFound) as caught:
            connected.session._send("GET", "inputs/nope")
        error = caught.value
        assert isinstance(error, LookupError)
        assert (error.code, error.http_status, error.method) == (30102, 404, "GET")
        assert error.path.endswith("/v2/inputs/nope")
        assert "30102" in str(error) and "nope" in str(error)
        with pytest.raises(clarimap.InvalidArgument) as invalid:
            connected.session._send("PATCH", "inputs", {"action": "sideways", "inputs": []})
        assert isinstance(invalid.value, ValueError) and invalid.value.http_status == 400


def test_non_json_answer_is_an_api_error() -> None:
    request = Request("GET", "/v2/inputs")
    with pytest.raises(ServerError, match="not a Clarifai JSON envelope"):
        decode_response(Response(request, 502, None, {}, "<html>bad gateway</html>"))


def test_the_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sekret-KEY-0123456789"
    app = create_app(":memory:", background=False, api_keys=["the-right-key"])
    caplog.set_level(logging.DEBUG)
    try:
        with HTTPServer(app, "127.0.0.1", 0) as server:
            session = clarimap.connect(server.url, api_key=secret, environ={})
            with pytest.raises(AuthError) as caught:
                session.get(Input, "x")
            texts = [str(caught.value), repr(caught.value), repr(session), repr(session.transport)]
            texts.append(repr(session.transport.inner))  # type: ignore[attr-defined]
            with pytest.raises(TransportError) as lost:
                clarimap.connect(
                    "http://127.0.0.1:9", api_key=secret, environ={}, retry=RetryPolicy(attempts=1)
                )._send("GET", "inputs")
            texts += [str(lost.value), repr(lost.value), caplog.text]
            from clarimap.config import resolve_settings

            texts.append(repr(resolve_settings(api_key=secret, environ={})))
            session.close()
    finally:
        app.close()
    assert caught.value.code == 11009 and caught.value.http_status == 401
    for text in texts:
        assert secret not in text


# -- creates whose answer was lost: retried, read back, never duplicated ----------------------


def _stored_inputs(session: clarimap.Session) -> list[dict[str, object]]:
    return list(session._send("GET", "inputs", query={"per_page": 1000})["inputs"])


@pytest.mark.parametrize("fault", ["lost", "committed-503"])
@pytest.mark.parametrize("kind", ["inprocess", "http"])
def test_a_create_whose_answer_was_lost_is_applied_once(
    orm_app: object, resetting_port: int, kind: str, fault: str
) -> None:
    faults: list[FaultInjectingTransport] = []

    def wrap(transport: Transport) -> Transport:
        faults.append(FaultInjectingTransport(transport, [fault], resetting_port))
        return faults[0]

    with session_on(orm_app, kind) as connected:  # type: ignore[arg-type]
        session = connected.open(wrap_transport=wrap, retry=RetryPolicy(sleep=lambda s: None))
        photos = [
            Input.from_media(tiny_png(n), concepts=["cat"], metadata={"n": n}, geo=(n, n))
            for n in range(3)
        ]
        session.add_all(photos)
        session.commit()  # the server stored them; the answer was lost; the retry found them

        requests = [f"{r.method} {r.path}" for r in faults[0].attempts]
        # the stored inputs are read back, and their bytes from their hosted URLs to compare
        assert requests[:3] == ["POST /v2/inputs", "POST /v2/inputs", "GET /v2/inputs"]
        assert len(requests) == 6
        assert all(request.startswith("GET /v2/hosted/orig/") for request in requests[3:])
        assert not session.has_pending
        stored = _stored_inputs(connected.fresh())
        assert sorted(item["id"] for item in stored) == sorted(p.id for p in photos)  # type: ignore[index]
        assert all(p.status is not None and p.status.code == 30000 for p in photos)

        photos[0].metadata["reviewed"] = True  # their snapshots are right: edits still apply
        session.commit()
        again = connected.fresh().get(Input, photos[0].id)
        assert again is not None and again.metadata == {"n": 0, "reviewed": True}


def test_lost_creates_of_every_kind_are_read_back(orm_app: object, resetting_port: int) -> None:
    faults: list[FaultInjectingTransport] = []

    def wrap(transport: Transport) -> Transport:
        # Each create: its answer lost, the retry refused as a duplicate, one read back.
        faults.append(FaultInjectingTransport(transport, ["lost", "pass", "pass"] * 3, 0))
        return faults[0]

    with session_on(orm_app, "inprocess") as connected:  # type: ignore[arg-type]
        session = connected.open(wrap_transport=wrap, retry=RetryPolicy(sleep=lambda s: None))
        concept = Concept("kitten", name="Kitten")
        model = Model("pets", concepts=["cat"], max_concepts=3)
        workflow = Workflow("tagging", nodes=[WorkflowNode("mine", "pets")])
        session.add_all([workflow, model, concept])
        session.commit()

        requests = [f"{r.method} {r.path}" for r in faults[0].attempts]
        assert requests == [
            *["POST /v2/concepts"] * 2,
            "GET /v2/concepts/kitten",
            *["POST /v2/models"] * 2,
            "GET /v2/models/pets",
            *["POST /v2/workflows"] * 2,
            "GET /v2/workflows/tagging",
        ]
        assert not session.has_pending
        assert workflow.nodes[0].model_version_id  # as the server pinned it
        fresh = connected.fresh()
        assert [w.id for w in fresh.query(Workflow)] == ["tagging"]
        stored_concept = fresh.get(Concept, "kitten")
        assert stored_concept is not None and stored_concept.name == "Kitten"
        stored_model = fresh.get(Model, "pets")
        assert stored_model is not None and stored_model.max_concepts == 3


def test_a_create_of_an_id_taken_by_other_data_is_a_conflict(orm_app: object) -> None:
    with session_on(orm_app, "inprocess") as connected:  # type: ignore[arg-type]
        other = connected.fresh()
        other.add(Input.from_media(tiny_png(1), id="taken", metadata={"by": "other"}))
        other.add(Input.from_media(tiny_png(2), id="same"))
        other.add(Workflow("flow", nodes=[WorkflowNode("c", "eeed0b6733a644cea07cf4c60f87ebb7")]))
        other.commit()

        session = connected.session
        mine = Input.from_media(tiny_png(1), id="taken", metadata={"by": "me"})
        same = Input.from_media(tiny_png(2), id="same")  # what is stored: created as it is
        fresh = Input.from_media(tiny_png(3), id="fresh")
        session.add_all([mine, same, fresh])
        with pytest.raises(FlushError) as raised:
            session.commit()

        (failed,) = raised.value.failed
        assert failed.entity is mine and failed.action == "create"
        assert failed.status is not None and failed.status.code == 30100
        assert "Conflict" in failed.status.description
        assert "metadata" in failed.status.details and "image" not in failed.status.details
        assert failed.existing.metadata == {"by": "other"}
        assert "taken" in str(raised.value) and "metadata" in str(raised.value)
        assert {o.entity.id for o in raised.value.succeeded} == {"same", "fresh"}
        assert session.new == [mine]  # kept pending: nothing lost, nothing overwritten
        stored = connected.fresh().get(Input, "taken")
        assert stored is not None and stored.metadata == {"by": "other"}

        session.expunge(mine)
        flow = Workflow("flow", nodes=[WorkflowNode("c", "eeed0b6733a644cea07cf4c60f87ebb7")])
        other_flow = Workflow(
            "other-flow", nodes=[WorkflowNode("c", "eeed0b6733a644cea07cf4c60f87ebb7")]
        )
        session.add_all([flow, other_flow])
        session.commit()  # "flow" is stored as it is; "other-flow" is sent again on its own
        assert not session.has_pending
        assert sorted(w.id for w in connected.fresh().query(Workflow)) == ["flow", "other-flow"]
