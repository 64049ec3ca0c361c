"""What every transport shares: ``send(request) -> response``, retries, and decoding the envelope.

A :class:`Transport` turns one :class:`Request` into one :class:`Response`, or raises
:class:`~clarimap.errors.TransportError` when no answer came (refused, reset, timed out). It
never raises for an HTTP status: that is :func:`decode_response`'s job, the one place where the
status envelope becomes a typed :class:`~clarimap.errors.ApiError`.

Transports wrap each other: :class:`RetryingTransport` repeats requests that are safe to repeat,
:class:`RecordingTransport` keeps every request it passes on (tests and the demo count calls
with it), and a fault-injecting wrapper in a test can sit between them and the real transport.
The session builds ``RetryingTransport(HTTPTransport(...))``.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from clarimap.errors import (
    ApiError,
    AuthError,
    InvalidArgument,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)

__all__ = [
    "PARTIAL_CODES",
    "RecordingTransport",
    "Request",
    "Response",
    "RetryPolicy",
    "RetryingTransport",
    "Transport",
    "decode_response",
]

log = logging.getLogger("clarimap.transport")

SUCCESS = 10000
MIXED_STATUS = 10010
FAILURE = 10020
#: Top-level codes of a batch answer whose items carry their own statuses.
PARTIAL_CODES = frozenset({MIXED_STATUS, FAILURE})


@attrs.frozen
class Request:
    """One API call: method, path from ``/v2/`` on, query pairs and a JSON body."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    #: True when sending the request twice has the effect of sending it once.
    idempotent: bool = False

    def describe(self) -> str:
        """``METHOD /path`` (what logs and error messages show; never headers)."""
        return f"{self.method} {self.path}"


@attrs.frozen
class Response:
    """What came back: the HTTP status, the decoded JSON body (``None`` if not JSON) and headers."""

    request: Request
    http_status: int
    body: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)
    #: The start of the raw body when it was not JSON.
    text: str = ""
    #: The whole raw body when it was not JSON (hosted media); empty for JSON answers.
    content: bytes = attrs.field(default=b"", repr=False)


@runtime_checkable
class Transport(Protocol):
    """Anything that sends a :class:`Request` and returns its :class:`Response`."""

    def send(self, request: Request) -> Response:
        """Send ``request``; raise :class:`TransportError` when no answer came."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# -- decoding -----------------------------------------------------------------------------------


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` header in seconds (it may be a number or an HTTP date)."""
    value = None
    for name, text in headers.items():
        if name.lower() == "retry-after":
            value = text.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def decode_response(response: Response, *, allow_partial: bool = False) -> dict[str, Any]:
    """The body of a successful answer, or the typed :class:`ApiError` of a failed one.

    With ``allow_partial``, a batch answer whose items carry their own statuses
    (``10010`` mixed, ``10020`` all failed) is returned too, for the caller to read item by item.
    """
    request = response.request
    body = response.body
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, dict):
        if response.http_status < 300 and isinstance(body, dict):
            return dict(body)
        raise _error_class(response.http_status)(
            0,
            "the answer is not a Clarifai JSON envelope",
            (response.text or repr(body))[:200],
            http_status=response.http_status,
            method=request.method,
            path=request.path,
            body=body,
        )
    try:
        code = int(status.get("code", 0))
    except (TypeError, ValueError):
        code = 0
    if response.http_status < 300 and code not in PARTIAL_CODES:
        return dict(body)
    if allow_partial and code in PARTIAL_CODES and response.http_status < 500:
        return dict(body)
    cls = _error_class(response.http_status)
    extra: dict[str, Any] = {}
    if cls is RateLimited:
        extra["retry_after"] = retry_after_seconds(response.headers)
    raise cls(
        code,
        str(status.get("description") or ""),
        str(status.get("details") or ""),
        http_status=response.http_status,
        req_id=str(status.get("req_id") or ""),
        method=request.method,
        path=request.path,
        body=body,
        **extra,
    )


def _error_class(http_status: int) -> type[ApiError]:
    if http_status in (401, 403):
        return AuthError
    if http_status == 404:
        return NotFound
    if http_status == 429:
        return RateLimited
    if http_status >= 500:
        return ServerError
    if http_status == 400 or 400 <= http_status < 500:
        return InvalidArgument
    return ApiError


# -- retries ------------------------------------------------------------------------------------


def _should_retry_status(http_status: int) -> bool:
    return http_status == 429 or http_status >= 500


@attrs.define
class RetryPolicy:
    """How often and how long to wait before repeating a request that is safe to repeat.

    Attempt ``n`` (from 1) waits ``min(max_delay, base_delay * 2 ** (n - 1))`` scaled by a random
    factor in [0.5, 1] (jitter), or what the answer's ``Retry-After`` asks (up to
    ``max_retry_after``) when it is longer. ``sleep`` and ``random`` can be replaced in tests.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counted from 1)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff *= 0.5 + self.random() / 2
        if retry_after is not None:
            return float(max(backoff, min(retry_after, self.max_retry_after)))
        return float(backoff)


@attrs.define
class RetryingTransport:
    """Repeats idempotent requests after 429, 5xx and connection errors, with backoff."""

    inner: Transport
    policy: RetryPolicy = attrs.field(factory=RetryPolicy)

    def send(self, request: Request) -> Response:
        attempt = 1
        while True:
            try:
                response = self.inner.send(request)
            except TransportError as error:
                if not request.idempotent or attempt >= self.policy.attempts:
                    raise
                wait = self.policy.delay(attempt)
                log.info("%s: %s; retry %d in %.2fs", request.describe(), error, attempt, wait)
            else:
                if (
                    not _should_retry_status(response.http_status)
                    or not request.idempotent
                    or attempt >= self.policy.attempts
                ):
                    return response
                wait = self.policy.delay(attempt, retry_after_seconds(response.headers))
                log.info(
                    "%s: HTTP %d; retry %d in %.2fs",
                    request.describe(),
                    response.http_status,
                    attempt,
                    wait,
                )
            self.policy.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self.inner.close()


@attrs.define
class RecordingTransport:
    """Passes requests on and keeps each one (and its HTTP status) in ``calls``."""

    inner: Transport
    calls: list[tuple[Request, int]] = attrs.field(factory=list)

    def send(self, request: Request) -> Response:
        try:
            response = self.inner.send(request)
        except TransportError:
            self.calls.append((request, 0))
            raise
        self.calls.append((request, response.http_status))
        return response

    def close(self) -> None:
        self.inner.close()

    def count(self, method: str | None = None, path_suffix: str | None = None) -> int:
        """How many calls were sent, optionally only with this method and path ending."""
        return len(self.matching(method, path_suffix))

    def matching(
        self, method: str | None = None, path_suffix: str | None = None
    ) -> Sequence[Request]:
        """The requests sent, optionally only with this method and path ending."""
        return [
            request
            for request, _ in self.calls
            if (method is None or request.method == method)
            and (path_suffix is None or request.path.endswith(path_suffix))
        ]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()
