"""The requests transport: one keep-alive ``requests.Session`` per transport.

Works for ``http(s)://`` base URLs and, given the ``requests.Session`` of
:func:`clarimap.transport.wsgi.local_session`, for ``local://`` ones (the query string is built
here, because requests does not apply ``params=`` to non-HTTP URLs). The key or PAT goes only
into the ``Authorization`` header: it is in no repr, log line or error message.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import requests

from clarimap import __version__
from clarimap.errors import TransportError
from clarimap.transport.base import Request, Response

__all__ = ["DEFAULT_TIMEOUT", "HTTPTransport"]

log = logging.getLogger("clarimap.transport")

#: (connect, read) timeouts in seconds.
DEFAULT_TIMEOUT = (10.0, 120.0)


class HTTPTransport:
    """Sends requests with a keep-alive ``requests.Session`` to ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        credential: str | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session if session is not None else requests.Session()
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Clarifai-Client": f"python:clarimap-{__version__}",
        }
        if credential:
            self._headers["Authorization"] = f"Key {credential}"

    def __repr__(self) -> str:
        authorized = "with a credential" if "Authorization" in self._headers else "anonymous"
        return f"<HTTPTransport {self.base_url} {authorized}>"

    def send(self, request: Request) -> Response:
        url = self.base_url + request.path
        if request.query:
            url += "?" + urlencode(request.query)
        data = None
        if request.body is not None:
            data = json.dumps(request.body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            answer = self._session.request(
                request.method, url, data=data, headers=self._headers, timeout=self.timeout
            )
        except requests.Timeout as error:
            raise TransportError(
                f"{request.describe()} timed out ({type(error).__name__})",
                method=request.method,
                path=request.path,
            ) from None
        except requests.RequestException as error:
            raise TransportError(
                f"{request.describe()} got no answer: {_reason(error)}",
                method=request.method,
                path=request.path,
            ) from None
        body: Any = None
        text = ""
        content = b""
        media_type = answer.headers.get("Content-Type", "")
        if media_type.startswith(("image/", "video/", "application/octet-stream")):
            content = answer.content
        else:
            try:
                body = answer.json()
            except ValueError:
                text = answer.text[:500]
        log.debug("%s -> HTTP %d", request.describe(), answer.status_code)
        return Response(request, answer.status_code, body, dict(answer.headers), text, content)

    def close(self) -> None:
        self._session.close()


def _reason(error: BaseException) -> str:
    """A short cause of a requests error (the innermost exception's type and message)."""
    cause: BaseException = error
    while True:
        inner = cause.__context__ or cause.__cause__
        if inner is None or inner is cause:
            break
        cause = inner
    if cause.args and isinstance(cause.args[0], str):
        return f"{type(cause).__name__}: {cause.args[0][:200]}"
    return type(cause).__name__
