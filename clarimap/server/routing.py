"""Routes of the local server and the request context a handler receives.

Every app-scoped route is written once, relative to the app (``"inputs/{input_id}"``), and is
reached through both route forms of the wire reference: ``/v2/inputs/...`` (the app of the key)
and ``/v2/users/{user_id}/apps/{app_id}/inputs/...``. Paths are split on ``/`` first and each
segment is percent-decoded after, so ``%2F`` inside an id stays part of that id.

Handler modules register with the module-level :data:`routes` table::

    @routes.get("inputs/{input_id}")
    def get_input(ctx: RequestContext, input_id: str) -> Answer: ...

A route registered with ``app_scoped=False`` has no explicit-app form. When its pattern holds
``{user_id}`` it is user-level (``users/{user_id}/models``): the server checks that the key may
reach that user (``me`` is the key's user) and hands the handler ``ctx.app`` =
``AppRef(user_id, "")`` instead of a ``user_id`` argument.

A handler returns an :class:`Answer` (HTTP status and JSON body) or a dict (sent as 200 with a
``10000 Ok`` status added when it has none), or raises ``ApiError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.schema import Shape, validate

if TYPE_CHECKING:
    from clarimap.server.app import ServerApp
    from clarimap.server.store import Store


@attrs.frozen
class AppRef:
    """The (user, app) a request acts on."""

    user_id: str
    app_id: str


@attrs.frozen
class Answer:
    """What a handler answers: an HTTP status and a JSON body (with its ``status`` envelope)."""

    body: dict[str, Any]
    http_status: int = 200


MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 100  # the nesting limit of protobuf's JSON parser, which the real API uses
MAX_PAGE = 2**62 // 1000  # keeps (page - 1) * per_page inside SQLite's OFFSET range


@attrs.define
class RequestContext:
    """Everything a handler may use: the app, the parsed body and query, the store, the server."""

    server: ServerApp
    app: AppRef
    method: str
    path: str
    raw_body: bytes
    query: dict[str, str]
    headers: dict[str, str]
    _body: Any = attrs.field(default=None, alias="_body")
    _parsed: bool = attrs.field(default=False, alias="_parsed")
    query_string: str = ""  # the raw query string, for repeated keys (``ids=a&ids=b``)

    @property
    def store(self) -> Store:
        return self.server.store

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); an ``ApiError`` when it is not one."""
        if not self._parsed:
            self._parsed = True
            if not self.raw_body.strip():
                self._body = {}
            else:
                try:
                    self._body = json.loads(
                        self.raw_body, parse_constant=_refuse_constant, parse_float=_finite_float
                    )
                except (ValueError, UnicodeDecodeError) as error:
                    raise ApiError(
                        status.CONN_BAD_REQUEST_FORMAT,
                        f"the request body is not valid JSON: {error}",
                    ) from None
                except RecursionError:
                    self._body = None
                    raise _too_deep() from None
                problem = _unacceptable_json(self._body)
                if problem:
                    self._body = None
                    raise ApiError(status.CONN_BAD_REQUEST_FORMAT, problem)
        if not isinstance(self._body, dict):
            raise ApiError(
                status.CONN_BAD_REQUEST_FORMAT,
                f"the request body must be a JSON object, got {type(self._body).__name__}",
            )
        return self._body

    def body(self, shape: Shape, *, code: int = status.CONN_INVALID_REQUEST) -> dict[str, Any]:
        """The body validated against ``shape`` (unknown fields and wrong types are errors)."""
        result: dict[str, Any] = validate(self.json(), shape, code=code)
        user_app = result.pop("user_app_id", None)
        if user_app:
            self._check_user_app(user_app.get("user_id"), user_app.get("app_id"))
        return result

    def _check_user_app(self, user_id: str | None, app_id: str | None) -> None:
        if app_id and app_id != self.app.app_id:
            raise ApiError(
                status.CONN_INVALID_REQUEST,
                f"user_app_id.app_id {app_id!r} does not match the app of the route {self.app.app_id!r}",
            )
        if user_id and user_id not in ("me", self.app.user_id):
            raise ApiError(
                status.CONN_INVALID_REQUEST,
                f"user_app_id.user_id {user_id!r} does not match the route's user {self.app.user_id!r}",
            )

    def query_values(self, key: str) -> list[str]:
        """Every value of ``key`` in the query string, in order (``query`` keeps only the last)."""
        return [value for name, value in parse_qsl(self.query_string) if name == key]

    def page(self, default_per_page: int = 128, max_per_page: int = 1000) -> tuple[int, int]:
        """``(page, per_page)`` from the query string (section 3 of the wire reference)."""
        return parse_pagination(
            self.query.get("page"), self.query.get("per_page"), default_per_page, max_per_page
        )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _too_deep() -> ApiError:
    return ApiError(
        status.CONN_BAD_REQUEST_FORMAT,
        f"the request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
    )


def _unacceptable_json(value: Any) -> str:
    """What makes a parsed body unacceptable ('' if nothing): too deep, or a lone surrogate.

    ``json.loads`` accepts ``"\\ud800"`` (half of a UTF-16 pair) although it is no character:
    such a string can be neither stored in SQLite nor sent back as UTF-8, so it is refused here,
    as a proto3 JSON parser refuses it. Walks level by level (no recursion).
    """
    level: list[Any] = [value]
    for _ in range(MAX_JSON_DEPTH + 1):
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.keys())
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
            elif isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as error:
                    return (
                        f"the request body holds a string that is not valid Unicode "
                        f"({error.reason}: {item[error.start : error.end]!r})"
                    )
        if not children:
            return ""
        level = children
    return _too_deep().details


def parse_pagination(
    page: Any, per_page: Any, default_per_page: int = 128, max_per_page: int = 1000
) -> tuple[int, int]:
    """Validate page (1-based) and per_page; raise ``ApiError`` with what was wrong."""

    def number(value: Any, name: str, default: int) -> int:
        if value is None or value == "":
            return default
        try:
            parsed = int(value)
        except (TypeError, ValueError):
            raise ApiError(
                status.CONN_INVALID_REQUEST, f"{name} must be an integer, got {value!r}"
            ) from None
        if isinstance(value, bool):
            raise ApiError(status.CONN_INVALID_REQUEST, f"{name} must be an integer, got {value!r}")
        return parsed

    page_number = number(page, "page", 1)
    size = number(per_page, "per_page", default_per_page)
    if page_number == 0:
        page_number = 1
    if size == 0:
        size = default_per_page
    if page_number < 0:
        raise ApiError(status.CONN_INVALID_REQUEST, f"page must be 1 or more, got {page_number}")
    # A page far past the end is an empty page, like any page past the end; clamping keeps
    # (page - 1) * per_page inside SQLite's 64-bit OFFSET.
    page_number = min(page_number, MAX_PAGE)
    if size < 0 or size > max_per_page:
        raise ApiError(
            status.CONN_INVALID_REQUEST,
            f"per_page must be between 1 and {max_per_page}, got {size}",
        )
    return page_number, size


Handler = Callable[..., "Answer | dict[str, Any]"]


@attrs.frozen
class Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler
    app_scoped: bool

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{"):
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


class RouteTable:
    """All routes, matched in the order of specificity (literal segments before parameters)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, app_scoped: bool = True) -> None:
        self.routes.append(Route(method, tuple(pattern.strip("/").split("/")), handler, app_scoped))
        # Literal segments win over parameters at the same position ("inputs/status" before
        # "inputs/{input_id}").
        self.routes.sort(key=lambda r: tuple(s.startswith("{") for s in r.segments))

    def _decorator(
        self, method: str, pattern: str, app_scoped: bool
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler, app_scoped=app_scoped)
            return handler

        return register

    def get(self, pattern: str, *, app_scoped: bool = True) -> Callable[[Handler], Handler]:
        return self._decorator("GET", pattern, app_scoped)

    def post(self, pattern: str, *, app_scoped: bool = True) -> Callable[[Handler], Handler]:
        return self._decorator("POST", pattern, app_scoped)

    def patch(self, pattern: str, *, app_scoped: bool = True) -> Callable[[Handler], Handler]:
        return self._decorator("PATCH", pattern, app_scoped)

    def delete(self, pattern: str, *, app_scoped: bool = True) -> Callable[[Handler], Handler]:
        return self._decorator("DELETE", pattern, app_scoped)

    def find(self, method: str, parts: list[str]) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method`` and path ``parts``; ``ApiError`` 405 if only the method is wrong."""
        path_matched = False
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method == method:
                return route, params
            path_matched = True
        if path_matched:
            raise ApiError(
                status.CONN_METHOD_NOT_ALLOWED,
                f"{method} is not allowed on /{'/'.join(parts)}",
            )
        return None


routes = RouteTable()


def query_dict(query_string: str) -> dict[str, str]:
    """The query string as a dict (the last value of a repeated key wins)."""
    return dict(parse_qsl(query_string, keep_blank_values=True))
