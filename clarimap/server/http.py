"""Serving the local server over HTTP with waitress (threaded, keep-alive).

:class:`HTTPServer` binds (127.0.0.1 by default; port 0 picks a free port), and either runs in
the foreground (``clarimap serve``) or in a daemon thread (tests, benchmarks, the demo).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from clarimap.server import status
from clarimap.server.app import ServerApp


class HTTPServer:
    """A waitress server for ``app``; ``url`` is known as soon as it is constructed."""

    def __init__(
        self,
        app: ServerApp,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        *,
        access_log: TextIO | None = None,
    ) -> None:
        from waitress.server import create_server

        self.app = app
        self._server: Any = create_server(
            AccessLog(app, access_log) if access_log is not None else app,
            host=host,
            port=port,
            threads=threads,
            ident="clarimap",
            clear_untrusted_proxy_headers=True,
            channel_timeout=120,
            connection_limit=1000,
        )
        # Requests waitress cannot parse (bad Content-Length, bad chunks, bad headers) are
        # answered in the status envelope too, not with waitress' plain text.
        self._server.channel_class = _json_error_channel()
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (from a signal handler or another thread)."""
        self._server.run()

    def start(self) -> HTTPServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="clarimap-http", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting connections and wait for the serving thread to end."""
        from waitress import wasyncore

        # Stop the worker threads, then close the listening socket and every open (keep-alive)
        # connection: waitress' loop ends once its socket map is empty.
        with contextlib.suppress(Exception):  # best effort: the dispatcher may be gone already
            self._server.task_dispatcher.shutdown(timeout=5)
        closed_by_loop = False
        if self._thread is not None and self._thread.is_alive():
            # Close the sockets from the serving thread itself (through waitress' trigger), so the
            # loop never selects on a descriptor closed under it.
            with contextlib.suppress(OSError):  # the trigger is gone: the loop is ending anyway
                self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
                closed_by_loop = True
        if not closed_by_loop:
            wasyncore.close_all(self._server._map)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> HTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_error_channel() -> type:
    """A waitress channel whose own error answers are JSON with the status envelope.

    Waitress answers a request it cannot parse itself (``400 Bad Request``, ``413``, ``431``,
    ``501`` for a transfer coding it lacks) before the application sees it; this keeps those
    answers in the wire format: ``11100 Bad request format`` with waitress' reason as details.
    A 501 becomes a 400 (the request is at fault, and clients retry 5xx answers).
    """
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JSONErrorTask(ErrorTask):  # type: ignore[misc]
        def execute(self) -> None:
            error = self.request.error
            code = int(error.code)
            if code == 501:
                code = 400
            api_code = (
                status.INTERNAL_SERVER_ISSUE if code >= 500 else status.CONN_BAD_REQUEST_FORMAT
            )
            details = f"{error.reason}: {error.body}".strip().rstrip(".")
            payload = json.dumps(
                {"status": status.envelope(api_code, details)}, separators=(",", ":")
            ).encode()
            self.status = f"{code} {error.reason if code == error.code else 'Bad Request'}"
            self.response_headers.append(("Content-Type", "application/json; charset=utf-8"))
            self.set_close_on_finish()
            self.content_length = len(payload)
            self.write(payload)

    class JSONErrorChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = JSONErrorTask

    return JSONErrorChannel


_STATUS_CODE = re.compile(rb'^\{"status":\{"code":(\d+)')


class AccessLog:
    """WSGI middleware writing one line per request to ``stream`` (``clarimap serve --access-log``).

    ``127.0.0.1 "POST /v2/inputs" 200 10000 12.4ms``: the client, the request line, the HTTP
    status, the Clarifai status code of the answer (``-`` when the body has none) and the time
    the application took. Query strings are left out: they may carry ids a log need not keep.
    """

    def __init__(self, app: ServerApp, stream: TextIO) -> None:
        self.app = app
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def recording_start_response(status_line: str, headers: Any, *rest: Any) -> Any:
            seen["status"] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, *rest)

        body = list(self.app(environ, recording_start_response))
        match = _STATUS_CODE.match(body[0]) if body else None
        code = match.group(1).decode() if match else "-"
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        line = (
            f'{environ.get("REMOTE_ADDR", "-")} "{environ.get("REQUEST_METHOD", "-")} '
            f'{str(path).split("?", 1)[0]}" {seen.get("status", "-")} {code} '
            f"{(time.perf_counter() - started) * 1000:.1f}ms\n"
        )
        with self._lock:
            self.stream.write(line)
            self.stream.flush()
        return body
