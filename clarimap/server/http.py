"""Serving the local server over HTTP with waitress (threaded, keep-alive).

:class:`HTTPServer` binds (127.0.0.1 by default; port 0 picks a free port), and either runs in
the foreground (``clarimap serve``) or in a daemon thread (tests, benchmarks, the demo).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from clarimap.server.app import ServerApp


class HTTPServer:
    """A waitress server for ``app``; ``url`` is known as soon as it is constructed."""

    def __init__(
        self, app: ServerApp, host: str = "127.0.0.1", port: int = 0, threads: int = 8
    ) -> None:
        from waitress.server import create_server

        self.app = app
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="clarimap",
            clear_untrusted_proxy_headers=True,
            channel_timeout=120,
            connection_limit=1000,
        )
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
