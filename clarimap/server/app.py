"""The local Clarifai-compatible server as a WSGI application.

:func:`create_app` builds it over a :class:`~clarimap.server.store.Store`; run it with any WSGI
server (``clarimap serve`` uses waitress) or in process through
:class:`clarimap.transport.wsgi.WSGIAdapter`.

Every answer is JSON with the status envelope of the wire reference, section 2, but one: the
bytes of an input made from bytes, served at its hosted URL (``GET /v2/hosted/orig/{token}``,
with their media type; errors there are JSON too). An exception a handler did not expect is
logged with its traceback on the server side and answered with ``98004 Internal server issue``;
the traceback never reaches the client.
"""

from __future__ import annotations

import contextvars
import json
import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.routing import (
    MAX_BODY_BYTES,
    Answer,
    AppRef,
    RequestContext,
    query_dict,
    routes,
)
from clarimap.server.store import Store

log = logging.getLogger("clarimap.server")

DEFAULT_USER_ID = "local"
DEFAULT_APP_ID = "default"
PUBLIC_USER_ID = "clarifai"
PUBLIC_APP_ID = "main"

StartResponse = Callable[..., Any]

BASE_URL_ENVIRON_KEY = "clarimap.base_url"
"""A WSGI environ key a server in process may set to the base URL its clients use
(``local://photos.db``); otherwise the base URL comes from the request's scheme and host."""

_request_base_url: contextvars.ContextVar[str] = contextvars.ContextVar(
    "clarimap_request_base_url", default=""
)

# media types of the formats Pillow and the video check name, for the hosted route
_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
}


def request_base_url() -> str:
    """The base URL of the request being answered (``http://127.0.0.1:8080``), for links in it."""
    return _request_base_url.get()


def _base_url_of(environ: dict[str, Any]) -> str:
    given = environ.get(BASE_URL_ENVIRON_KEY)
    if given:
        return str(given).rstrip("/")
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = str(environ.get("SERVER_NAME", "localhost"))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port not in ("0", "80" if scheme == "http" else "443"):
            host += f":{port}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")


class ServerApp:
    """The WSGI application. Attributes are the server's configuration and shared state."""

    def __init__(
        self,
        store: Store,
        *,
        api_keys: Sequence[str] = (),
        user_id: str = DEFAULT_USER_ID,
        app_id: str = DEFAULT_APP_ID,
        download_timeout: float = 10.0,
        max_download_bytes: int = 20 * 1024 * 1024,
        background: bool = True,
        adopt_pending_after: float | None = None,
    ) -> None:
        self.store = store
        self.api_keys = frozenset(api_keys)
        self.default_app = AppRef(user_id, app_id)
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        # Set by clarimap.server.processing: runs the processing of new inputs.
        from clarimap.server.processing import InputProcessor

        # Steps run on every successfully decoded input (a PIL image): a two-phase
        # ``processing.ProcessingStep`` computes outside the store's lock and writes in the
        # transaction that marks the input processed; any other callable is a one-phase
        # ``step(connection, seq, app_pk, image)`` run in that transaction (see
        # clarimap.server.processing). The search engine's embedding and the base model's
        # predictions register here.
        self.processing_steps: list[Callable[..., None]] = []
        # The app's base models, read by search (clarimap.server.search): the embedding whose
        # vectors visual search compares (the built-in descriptor until a model plugin assigns
        # its own), and the concept model whose stored predictions rank by predicted concept
        # (None until a concept model is installed).
        from clarimap.server import embedding

        self.base_embedding: embedding.EmbeddingModel = embedding.BUILTIN
        self.base_concept_model_id: str | None = None
        self.processing_steps.append(embedding.processing_step(self))
        # adopt_pending_after: seconds before an idle worker processes inputs another process
        # sharing the database left pending (default processing.ADOPT_AFTER_SECONDS)
        self.processor = InputProcessor(self, background=background)
        if adopt_pending_after is not None:
            self.processor.adopt_after = adopt_pending_after

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        base = _request_base_url.set(_base_url_of(environ))
        try:
            return self._answer(environ, start_response)
        finally:
            _request_base_url.reset(base)

    def _answer(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            hosted = self._hosted_media(environ)
            if hosted is not None:
                media_type, content = hosted
                start_response(
                    "200 OK",
                    [
                        ("Content-Type", media_type),
                        ("Content-Length", str(len(content))),
                        ("Cache-Control", "private, max-age=3600"),
                    ],
                )
                return [] if environ.get("REQUEST_METHOD", "").upper() == "HEAD" else [content]
            answer = self.handle(environ)
        except ApiError as error:
            answer = Answer(error.body(), error.http_status)
        except Exception:
            log.error(
                "unexpected error answering %s %s\n%s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                traceback.format_exc(),
            )
            internal = ApiError(
                status.INTERNAL_SERVER_ISSUE, "the server failed to answer; see its log"
            )
            answer = Answer(internal.body(), internal.http_status)
        payload = _encode(answer.body)
        start_response(
            f"{answer.http_status} {_REASONS.get(answer.http_status, 'Error')}",
            [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(payload))),
            ],
        )
        if environ.get("REQUEST_METHOD", "").upper() == "HEAD":
            # the headers GET would have sent, no body: waitress writes whatever the app
            # returns, and a body after a HEAD answer would be read as the next answer
            return []
        return [payload]

    def _hosted_media(self, environ: dict[str, Any]) -> tuple[str, bytes] | None:
        """``(media type, bytes)`` for ``GET /v2/hosted/orig/{token}``; ``None`` for other paths.

        No key is needed: the token, made at random when the input was created, is the secret
        (as the real service's hosted URLs are). Raises ``ApiError`` for a bad method or an
        unknown token.
        """
        raw_path = _raw_path(environ)
        if not raw_path.startswith("/v2/hosted/"):
            return None
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in ("GET", "HEAD"):
            raise ApiError(
                status.CONN_METHOD_NOT_ALLOWED,
                f"{method} is not allowed on {raw_path}: hosted media is read-only (GET, HEAD)",
            )
        parts = raw_path.strip("/").split("/")
        if len(parts) != 4 or parts[2] != "orig" or not parts[3]:
            raise ApiError(
                status.CONN_DOES_NOT_EXIST,
                f"no route {raw_path!r}: hosted media is at /v2/hosted/orig/{{token}}",
            )
        hosted = self.store.hosted_blob(parts[3])
        if hosted is None:
            raise ApiError(
                status.INPUT_DOES_NOT_EXIST,
                "no input has this hosted URL (it was deleted, or the token is wrong)",
            )
        content, media_format = hosted
        return _MEDIA_TYPES.get(media_format, "application/octet-stream"), content

    def handle(self, environ: dict[str, Any]) -> Answer:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = _raw_path(environ)
        try:
            parts = [unquote(part, errors="strict") for part in raw_path.strip("/").split("/")]
        except UnicodeDecodeError:
            raise ApiError(
                status.CONN_BAD_REQUEST_FORMAT,
                f"the path {raw_path!r} is not valid percent-encoded UTF-8",
            ) from None
        if not parts or parts[0] != "v2":
            raise ApiError(
                status.CONN_DOES_NOT_EXIST, f"no route {raw_path!r}: paths start with /v2/"
            )
        parts = parts[1:]
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        key_app = self._authenticate(headers.get("authorization"))
        query = query_dict(environ.get("QUERY_STRING", ""))

        app = key_app
        explicit_app = len(parts) >= 4 and parts[0] == "users" and parts[2] == "apps"
        if explicit_app:
            user_id = key_app.user_id if parts[1] == "me" else parts[1]
            app = self._scoped_app(key_app, AppRef(user_id, parts[3]))
            parts = parts[4:]
        found = routes.find(method, parts)
        # A route that is not app-scoped (``users/{user_id}/models``, ``public_workflows``) has
        # no explicit-app form.
        if found is None or (explicit_app and not found[0].app_scoped):
            raise ApiError(status.CONN_DOES_NOT_EXIST, f"no route for {method} {raw_path}")
        route, params = found
        if not route.app_scoped and "user_id" in params:
            # A user-level route: the handler reads the (authorised) user from ``ctx.app``.
            app = AppRef(self.scoped_user(key_app, params.pop("user_id")), "")

        raw_body = _read_body(environ)
        ctx = RequestContext(
            server=self,
            app=app,
            method=method,
            path=raw_path,
            raw_body=raw_body,
            query=query,
            headers=headers,
            query_string=environ.get("QUERY_STRING", ""),
        )
        qs_user = query.pop("user_app_id.user_id", None)
        qs_app = query.pop("user_app_id.app_id", None)
        if qs_user or qs_app:
            ctx._check_user_app(qs_user, qs_app)
        result = route.handler(ctx, **params)
        if isinstance(result, Answer):
            return result
        if "status" not in result:
            result = {"status": status.envelope(status.SUCCESS), **result}
        return Answer(result, status.http_status(int(result["status"]["code"])))

    # -- auth ---------------------------------------------------------------------------------

    def _authenticate(self, authorization: str | None) -> AppRef:
        """The app the request's key belongs to; ``ApiError`` 11009 for an unknown key."""
        if not self.api_keys:
            return self.default_app
        key = ""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() in ("key", "bearer"):
                key = value.strip()
        if key not in self.api_keys:
            raise ApiError(
                status.CONN_KEY_NOT_FOUND, "send a configured key as 'Authorization: Key <key>'"
            )
        return self.default_app

    def _scoped_app(self, key_app: AppRef, wanted: AppRef) -> AppRef:
        """The app of a ``/v2/users/{u}/apps/{a}`` route, if the key may reach it."""
        if wanted == key_app or wanted == AppRef(PUBLIC_USER_ID, PUBLIC_APP_ID):
            return wanted
        if self.api_keys:
            raise ApiError(
                status.CONN_INSUFFICIENT_SCOPES,
                f"the key belongs to app {key_app.user_id}/{key_app.app_id}, "
                f"not {wanted.user_id}/{wanted.app_id}",
            )
        return wanted

    def scoped_user(self, key_app: AppRef, user_id: str) -> str:
        """The user of a ``/v2/users/{user_id}/...`` route, if the key may reach it.

        ``me`` is the key's user; the public user ``clarifai`` is reachable by every key; with
        keys configured, any other user than the key's is refused (HTTP 403, ``11007``).
        """
        wanted = key_app.user_id if user_id == "me" else user_id
        if wanted in (key_app.user_id, PUBLIC_USER_ID) or not self.api_keys:
            return wanted
        raise ApiError(
            status.CONN_INSUFFICIENT_SCOPES,
            f"the key belongs to user {key_app.user_id}, not {wanted}",
        )

    def close(self) -> None:
        """Stop background work and close the database."""
        self.processor.stop()
        self.store.close()


def _encode(body: dict[str, Any]) -> bytes:
    """The JSON text of an answer; a string that is no valid Unicode is sent \\u-escaped."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _raw_path(environ: dict[str, Any]) -> str:
    """The request path before percent-decoding (so ``%2F`` stays inside a segment)."""
    for key in ("RAW_URI", "REQUEST_URI"):
        raw = environ.get(key)
        if raw:
            raw = str(raw).split("?", 1)[0]
            if "://" in raw:  # absolute-form request target
                raw = "/" + raw.split("://", 1)[1].partition("/")[2]
            return raw
    path = environ.get("PATH_INFO", "/")
    # PATH_INFO is latin-1 decoded bytes per PEP 3333; re-encode to get the UTF-8 text back.
    try:
        return str(path.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        return str(path)


def _read_body(environ: dict[str, Any]) -> bytes:
    length_text = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(length_text)
    except ValueError:
        raise ApiError(
            status.CONN_BAD_REQUEST_FORMAT, f"bad Content-Length {length_text!r}"
        ) from None
    if length > MAX_BODY_BYTES:
        raise ApiError(
            status.CONN_BAD_REQUEST_FORMAT,
            f"the request body is {length} bytes; the limit is {MAX_BODY_BYTES}",
            http_status=413,
        )
    if length <= 0:
        return b""
    stream = environ["wsgi.input"]
    return bytes(stream.read(length))


_REASONS = {
    200: "OK",
    207: "Multi-Status",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def create_app(
    database: str = ":memory:",
    *,
    api_keys: Sequence[str] = (),
    background: bool = True,
    **options: Any,
) -> ServerApp:
    """The local server over the SQLite database file ``database`` (``":memory:"`` by default).

    ``api_keys``: when given, only these keys are accepted (others get 401 + 11009); with none,
    any key reaches the default app. ``background=False`` processes new inputs before the
    create call answers instead of in a worker thread (deterministic, for tests).
    """
    # Importing the handler modules registers their routes.
    from clarimap.server import (  # noqa: F401
        api_concepts,
        api_inputs,
        api_model_inputs,
        api_models,
        api_predict,
        api_search,
        api_training,
        api_workflows,
        modelzoo,
    )

    server = ServerApp(Store.open(database), api_keys=api_keys, background=background, **options)
    modelzoo.install(server)  # the runnable models; the general ones become the base models
    server.processor.start()  # resumes inputs a previous run left pending
    return server
