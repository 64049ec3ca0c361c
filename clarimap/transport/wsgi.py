"""A requests transport adapter that hands requests straight to a WSGI application, no socket.

``local://PATH`` URLs (``local://photos.db``, ``local:///abs/path.db``, ``local://:memory:``)
reach the embedded local server: :func:`local_session` mounts an adapter for the ``local://``
prefix on a ``requests.Session``. The request goes through the WSGI app exactly as it would over
HTTP (headers, query string, body), so everything but the socket is the same code path.
"""

from __future__ import annotations

import atexit
import io
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WSGIAdapter(BaseAdapter):
    """Sends each prepared request to ``app`` as a WSGI call and builds a ``requests.Response``."""

    def __init__(self, app: WSGIApp, *, host: str = "local") -> None:
        super().__init__()
        self.app = app
        self.host = host

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: object = True,
        cert: object = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(
                chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                for chunk in (body.read() if hasattr(body, "read") else body,)  # type: ignore[union-attr]
            )
        path = _path_of(url.path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": (request.method or "GET").upper(),
            "SCRIPT_NAME": "",
            "PATH_INFO": path.encode("utf-8").decode("latin-1"),
            "RAW_URI": path + (f"?{url.query}" if url.query else ""),
            "QUERY_STRING": url.query,
            "SERVER_NAME": self.host,
            "SERVER_PORT": "0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            # links in answers (hosted media) use the URL form the client used
            "clarimap.base_url": _base_of(request.url or ""),
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value

        captured: dict[str, Any] = {}

        def start_response(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"] = status_line
            captured["headers"] = headers
            return lambda data: None

        chunks = self.app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

        response = requests.Response()
        code, _, reason = captured["status"].partition(" ")
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(captured["headers"])
        response._content = content
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def _base_of(url: str) -> str:
    """The part of a request URL before its API path: ``local://photos.db`` (no query)."""
    index = url.find("/v2/")
    if index < 0:
        index = len(url) - 3 if url.split("?", 1)[0].endswith("/v2") else len(url)
    return url[:index].split("?", 1)[0]


def _path_of(path: str) -> str:
    """The API path of a ``local://`` URL's path (the part from ``/v2`` on)."""
    index = path.find("/v2/")
    if index < 0:
        return "/v2" if path.endswith("/v2") else path
    return path[index:]


_apps: dict[str, Any] = {}
_apps_lock = threading.Lock()


def database_of(url: str) -> str:
    """The database path named by a ``local://`` URL (``:memory:`` for ``local://:memory:``)."""
    if not url.startswith("local://"):
        raise ValueError(f"not a local:// URL: {url!r}")
    rest = url[len("local://") :]
    rest = (
        rest.split("/v2/", 1)[0].split("?", 1)[0].rstrip("/")
        if "/v2/" in rest
        else rest.split("?", 1)[0]
    )
    return rest or ":memory:"


def local_app(url: str, **options: Any) -> Any:
    """The embedded server for a ``local://`` URL, shared by every session in this process.

    Two sessions on the same file share one server (and so one database connection); each
    ``local://:memory:`` URL made by :func:`local_session` gets its own, unless ``shared=True``.
    """
    from clarimap.server import create_app

    database = database_of(url)
    with _apps_lock:
        app = _apps.get(database)
        if app is None or database == ":memory:":
            app = create_app(database, **options)
            if database != ":memory:":
                _apps[database] = app
            _close_at_exit(app)
        return app


_embedded: weakref.WeakSet[Any] = weakref.WeakSet()
_exit_hook: list[bool] = []  # holds True once _close_embedded_servers is registered


def _close_at_exit(app: Any) -> None:
    """Close ``app`` when the interpreter exits, if it is still open then."""
    if not _exit_hook:
        atexit.register(_close_embedded_servers)
        _exit_hook.append(True)
    _embedded.add(app)


def _close_embedded_servers() -> None:
    """Stop the embedded servers' processing workers between two inputs, before the interpreter
    tears down (a worker still inside a model's native code then can abort the process); what
    is still pending stays pending in a file database and is processed at its next start."""
    for app in list(_embedded):
        try:
            app.close()
        except Exception:  # closing at exit is best effort; there is no one left to tell
            logging.getLogger("clarimap.transport").debug("closing %r failed", app, exc_info=True)


def local_session(url: str, app: Any | None = None, **options: Any) -> requests.Session:
    """A ``requests.Session`` whose ``local://`` requests go to the embedded server."""
    session = requests.Session()
    session.mount("local://", WSGIAdapter(app if app is not None else local_app(url, **options)))
    return session
