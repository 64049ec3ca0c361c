"""Helpers the route modules share: id checks, paging, wildcards and the public app's guard.

Called by api_concepts, api_models, api_workflows and api_model_inputs; each helper is given the
status code its caller reports bad input with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.public_models import PUBLIC_APP_ID, PUBLIC_USER_ID
from clarimap.server.routing import AppRef, RequestContext, parse_pagination
from clarimap.server.schema import ListOf


def check_id(value: Any, where: str, code: int) -> str:
    """``value`` as a resource id, or ``ApiError(code)`` saying why it cannot be one.

    An id is 1 to 255 printable ASCII characters without ``/`` (a path segment of the API).
    """
    if not isinstance(value, str) or not value:
        raise ApiError(code, f"{where}: an id is required (a non-empty string)")
    if len(value) > 255:
        raise ApiError(code, f"{where}: an id is at most 255 characters, got {len(value)}")
    if "/" in value:
        raise ApiError(code, f"{where}: an id cannot contain '/', got {value!r}")
    if not value.isascii() or not value.isprintable():
        raise ApiError(code, f"{where}: an id holds printable ASCII characters only, got {value!r}")
    return value


class Items(ListOf):
    """An array whose items may not be null (proto3 JSON has no null in a repeated field)."""

    def check(self, value: Any, path: str, code: int) -> Any:
        if isinstance(value, list):
            for index, item in enumerate(value):
                if item is None:
                    raise ApiError(code, f"{path}[{index}]: expected {self.item.name}, got null")
        return super().check(value, path, code)


def require_object(value: Any, where: str, code: int) -> dict[str, Any]:
    """``value`` when it is a JSON object; an ``ApiError`` naming ``where`` when it is null."""
    if not isinstance(value, dict):
        raise ApiError(code, f"{where}: expected an object, got null")
    return value


def wildcard_matcher(pattern: str | None) -> Callable[[str], bool]:
    """A case-insensitive test for ``pattern``, where ``*`` matches any run of characters.

    An empty or missing pattern matches everything; without ``*`` the whole name must match.
    """
    if not pattern:
        return lambda name: True
    regex = re.compile(
        ".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE | re.DOTALL
    )
    return lambda name: regex.fullmatch(name) is not None


def require_writable(app: AppRef, code: int = status.CONN_INSUFFICIENT_SCOPES) -> None:
    """Refuse a write to the public app ``clarifai/main`` (HTTP 403)."""
    if app.user_id == PUBLIC_USER_ID and app.app_id == PUBLIC_APP_ID:
        raise ApiError(
            code,
            f"the public app {PUBLIC_USER_ID}/{PUBLIC_APP_ID} is read-only",
            http_status=403,
        )


def page_slice(items: list[Any], page: int, per_page: int) -> list[Any]:
    """The items of 1-based page ``page`` (empty past the end)."""
    start = (page - 1) * per_page
    return items[start : start + per_page]


def sql_offset(page: int, per_page: int) -> int:
    """The OFFSET of a page, capped to what SQLite's 64-bit integers hold (far pages are empty)."""
    return min((page - 1) * per_page, 2**62)


def search_pagination(body: dict[str, Any]) -> tuple[int, int]:
    """``(page, per_page)`` from a search body's ``pagination`` (section 3)."""
    pagination = body.get("pagination") or {}
    return parse_pagination(pagination.get("page"), pagination.get("per_page"))


def request_app_pk(ctx: RequestContext) -> int:
    """The store's key of the app the request addresses (created on first use)."""
    return ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)


def check_body_id(body: dict[str, Any], key: str, path_value: str, code: int) -> None:
    """Refuse a body whose ``key`` names another resource than the path does."""
    sent = body.get(key)
    if sent and sent != path_value:
        raise ApiError(
            code, f"{key}: {sent!r} in the body does not match {path_value!r} in the path"
        )


def ids_to_delete(body: dict[str, Any], noun: str, code: int) -> tuple[list[Any], bool]:
    """``(ids, delete_all)`` of a batch delete body; exactly one of the two must be sent."""
    ids: list[Any] = body.get("ids") or []
    delete_all = bool(body.get("delete_all"))
    if delete_all and ids:
        raise ApiError(code, "send either ids or delete_all, not both")
    if not delete_all and not ids:
        raise ApiError(code, f'send the ids of the {noun} to delete, or "delete_all": true')
    return ids, delete_all
