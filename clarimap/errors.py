"""Every exception clarimap raises, one tree rooted at :class:`ClarimapError`.

::

    ClarimapError(Exception)
     ├── ConfigurationError(ClarimapError, LookupError)   no URL or credentials found
     ├── ValidationError(ClarimapError, ValueError)       bad input caught before anything is sent
     │    └── MediaError(ValidationError)                 a media source that cannot be read
     │         ├── UnsupportedMediaSourceError(MediaError, TypeError)   no media source claims it
     │         ├── MediaFileNotFoundError(MediaError, FileNotFoundError) a path naming no file
     │         └── InvalidMediaError(MediaError)      content unusable (bad data: URI, empty)
     ├── SessionError(ClarimapError, RuntimeError)        an object used in a way its session forbids
     ├── TransportError(ClarimapError, ConnectionError)   no answer: refused, reset, timed out
     ├── WaitTimeoutError(ClarimapError, TimeoutError)    a wait (for inputs, training) ran out
     ├── ApiError(ClarimapError)                          the API answered with an error status
     │    ├── InvalidArgument(ApiError, ValueError)      400: the request was refused as invalid
     │    ├── AuthError(ApiError, PermissionError)       401/403: unknown key, wrong app, no scope
     │    ├── NotFound(ApiError, LookupError)            404: no such input, model, concept ...
     │    ├── RateLimited(ApiError)                      429: throttled (carries ``retry_after``)
     │    └── ServerError(ApiError)                      5xx: the API failed
     ├── FlushError(ClarimapError)                        a flush that did not fully apply;
     │                                                    ``outcomes`` lists every item's result
     ├── PredictionError(ClarimapError)                   predict(..., raise_on_failure=True) with
     │                                                    failed items; ``predictions`` has all
     ├── TrainingError(ClarimapError)                     a version ended in 2111x (no data...)
     ├── EvaluationError(ClarimapError)                   an evaluation that did not complete
     └── PluginError(ClarimapError)                       a plugin did not load, raised, or
                                                          answered a hook with the wrong type

API errors carry the Clarifai status code, its description and details, the request id, the
HTTP status and the method and path of the request (never its headers, so never the key).
:func:`clarimap.transport.base.decode_response` is the one place that turns an answer into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from clarimap.entities import Status

__all__ = [
    "ApiError",
    "AuthError",
    "ClarimapError",
    "ConfigurationError",
    "EvaluationError",
    "FlushError",
    "InvalidArgument",
    "InvalidMediaError",
    "ItemOutcome",
    "MediaError",
    "MediaFileNotFoundError",
    "NotFound",
    "PluginError",
    "PredictionError",
    "RateLimited",
    "ServerError",
    "SessionError",
    "TrainingError",
    "TransportError",
    "UnsupportedMediaSourceError",
    "ValidationError",
    "WaitTimeoutError",
]


class ClarimapError(Exception):
    """The root of every error clarimap raises."""


class ConfigurationError(ClarimapError, LookupError):
    """No base URL or credentials could be found, or they contradict each other."""


class ValidationError(ClarimapError, ValueError):
    """A value clarimap refuses before sending anything (wrong type, bad id, oversized metadata)."""


class MediaError(ValidationError):
    """A media source (path, URL, bytes, file object, data: URI) that cannot be used."""


class UnsupportedMediaSourceError(MediaError, TypeError):
    """No installed media source accepts this value; names its type and the installed sources."""

    def __init__(self, source: object, installed_sources: Sequence[str]) -> None:
        self.source_type = f"{type(source).__module__}.{type(source).__qualname__}"
        self.installed_sources = tuple(installed_sources)
        hint = ""
        if isinstance(source, str) and "://" in source:
            scheme = source.split("://", 1)[0].lower()
            hint = f"; no installed source handles {scheme}:// URLs"
            if scheme == "s3":
                hint += " (install the clarimap-s3 plugin)"
        super().__init__(
            f"cannot use a {self.source_type} as an image or video{hint}; installed media "
            f"sources: {', '.join(self.installed_sources) or '(none)'}"
        )


class MediaFileNotFoundError(MediaError, FileNotFoundError):
    """A media path that names no file (``path`` holds it)."""

    def __init__(self, path: str, reason: str = "no such file") -> None:
        self.message = f"media file not found ({reason}): {path!r}"
        super().__init__(self.message)
        self.path = path
        self.errno = 2
        self.strerror = reason
        self.filename = path

    def __str__(self) -> str:
        return self.message


class InvalidMediaError(MediaError):
    """A media source of a supported type whose content is unusable (a malformed data: URI...)."""


class SessionError(ClarimapError, RuntimeError):
    """An object was used in a way its session does not allow (another session's object...)."""


class TransportError(ClarimapError, ConnectionError):
    """The request got no answer: connection refused or reset, or a timeout."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class WaitTimeoutError(ClarimapError, TimeoutError):
    """Waiting for the server to finish something (processing inputs, training) took too long."""


class ApiError(ClarimapError):
    """The API answered with a status that is not success."""

    def __init__(
        self,
        code: int,
        description: str = "",
        details: str = "",
        *,
        http_status: int = 0,
        req_id: str = "",
        method: str = "",
        path: str = "",
        body: Any = None,
    ) -> None:
        self.code = code
        self.description = description
        self.details = details
        self.http_status = http_status
        self.req_id = req_id
        self.method = method
        self.path = path
        self.body = body
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.code} {self.description}".strip()
        if self.details:
            text += f": {self.details}"
        where = f"{self.method} {self.path}".strip()
        if where:
            text += f" ({where}"
            text += f", HTTP {self.http_status})" if self.http_status else ")"
        if self.req_id:
            text += f" [req_id {self.req_id}]"
        return text


class InvalidArgument(ApiError, ValueError):
    """The API refused the request as invalid (HTTP 400)."""


class AuthError(ApiError, PermissionError):
    """The key or PAT is unknown, or may not reach this app or resource (HTTP 401/403)."""


class NotFound(ApiError, LookupError):
    """The resource does not exist (HTTP 404)."""


class RateLimited(ApiError):
    """The API throttled the request (HTTP 429); ``retry_after`` is its advice in seconds."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServerError(ApiError):
    """The API failed to answer (HTTP 5xx)."""


@attrs.frozen
class ItemOutcome:
    """What happened to one object in one call of a flush."""

    #: The entity the call was about.
    entity: Any
    #: ``"create"``, ``"merge"``, ``"remove"``, ``"overwrite"`` or ``"delete"``.
    action: str
    #: True when the change was applied; the object is clean for this part.
    succeeded: bool
    #: The item's status as the API reported it (or the status of the whole call).
    status: Status | None = None
    #: For a create that found its id taken by other data: the object the server has (the
    #: status then says which fields differ). None otherwise.
    existing: Any = None


class FlushError(ClarimapError):
    """A flush that did not fully apply. Applied changes are clean; failed ones stay pending.

    ``outcomes`` holds one :class:`ItemOutcome` for every item of every call sent;
    ``failed`` only the ones that did not apply. Flushing again sends only what failed.
    """

    def __init__(self, message: str, outcomes: Sequence[ItemOutcome]) -> None:
        super().__init__(message)
        self.outcomes = list(outcomes)

    @property
    def failed(self) -> list[ItemOutcome]:
        """The outcomes of the items that did not apply."""
        return [outcome for outcome in self.outcomes if not outcome.succeeded]

    @property
    def succeeded(self) -> list[ItemOutcome]:
        """The outcomes of the items that applied."""
        return [outcome for outcome in self.outcomes if outcome.succeeded]


class PredictionError(ClarimapError):
    """Some inputs of a predict failed and the caller asked to raise (``raise_on_failure``).

    ``predictions`` holds every item's :class:`~clarimap.entities.Prediction` (or workflow
    result), in request order; ``failed`` only those whose status is not ok.
    """

    def __init__(self, message: str, predictions: Sequence[Any]) -> None:
        super().__init__(message)
        self.predictions = list(predictions)

    @property
    def failed(self) -> list[Any]:
        """The items whose status is not success."""
        return [item for item in self.predictions if not item.status.ok]


class TrainingError(ClarimapError):
    """A model version finished training in a failure status (``2111x``: no data, no positives...).

    ``version`` is the :class:`~clarimap.entities.ModelVersion` as the server last showed it;
    ``code`` and ``details`` its status.
    """

    def __init__(self, message: str, version: Any) -> None:
        super().__init__(message)
        self.version = version
        status = getattr(version, "status", None)
        self.code: int = status.code if status is not None else 0
        self.details: str = status.details if status is not None else ""


class EvaluationError(ClarimapError):
    """An evaluation that ended without metrics; ``status`` says why."""

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        self.status = status


class PluginError(ClarimapError):
    """A plugin failed: it did not load, raised, or answered a hook with the wrong type.

    ``plugin`` and ``hook`` name the culprit where known.
    """

    def __init__(self, message: str, *, plugin: str | None = None, hook: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook
