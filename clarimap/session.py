"""The session: one conversation with a Clarifai app, remembering what changed.

::

    session = clarimap.connect("local://photos.db")
    with session.begin():                       # flush + commit at the end, rollback on error
        session.add(Input.from_media("cat.jpg", concepts=["cat"]))
    photo = session.get(Input, "some-id")
    photo.metadata["reviewed"] = True           # tracked; nothing sent yet
    session.commit()                            # one PATCH (merge)

A session holds an identity map (one object per id, weakly referenced), the snapshot of each
object as the server last had it, and the objects added, edited and deleted since the last
flush. :meth:`Session.flush` hands them to a fresh :class:`clarimap._unitofwork.UnitOfWork`,
which sends the fewest calls that apply them (``docs/guide/session.md``).

For the layers built on top (query, predict, train), the call path is single:

* ``session._send(method, path, body=None, query=None, *, idempotent=None,
  allow_partial=False) -> dict`` sends one call and returns the decoded JSON body, or raises
  the typed :class:`~clarimap.errors.ApiError`. ``path`` is relative to the app
  (``"inputs/searches"``; the session adds ``/v2`` or ``/v2/users/{u}/apps/{a}``) or absolute
  (``"/v2/users/clarifai/apps/main/models/x"``). ``query`` is a mapping or a list of pairs.
  ``idempotent`` (default: true for GET and DELETE) allows retries after 429/5xx/connection
  errors; a read-only POST such as a search or a predict should pass ``idempotent=True``.
* ``session._load(cls, wire) -> entity`` turns a JSON object of the server into the session's
  object for that id (the one already in the identity map, if any; it is not overwritten).
* ``session._autoflush()`` flushes pending changes first if ``session.autoflush`` is on; call it
  before running a query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import parse_qsl, quote

import attrs

from clarimap import _unitofwork
from clarimap._identity import IdentityMap, Key, key_of
from clarimap.config import Settings, resolve_settings
from clarimap.converters import structure, unstructure
from clarimap.entities import (
    MAPPED_ENTITIES,
    PENDING_INPUT_CODES,
    Concept,
    FeedbackEvent,
    FeedbackInfo,
    Image,
    Input,
    InputCounts,
    Model,
    Status,
    Video,
    Workflow,
    WorkflowNode,
    check_id,
)
from clarimap.errors import (
    ClarimapError,
    FlushError,
    NotFound,
    SessionError,
    TransportError,
    ValidationError,
    WaitTimeoutError,
)
from clarimap.progress import Progress, ProgressCallback, progress_callback
from clarimap.transport.base import (
    Request,
    RetryingTransport,
    RetryPolicy,
    Transport,
    decode_response,
)

if TYPE_CHECKING:
    from clarimap.query import Query

__all__ = ["Session", "connect"]

E = TypeVar("E")
JSON = dict[str, Any]

_SINGULAR = {Input: "input", Concept: "concept", Model: "model", Workflow: "workflow"}
_COLLECTION = {Input: "inputs", Concept: "concepts", Model: "models", Workflow: "workflows"}
PUBLIC_PREFIX = "/v2/users/clarifai/apps/main"


class Session:
    """Objects of one app, their changes, and the calls that apply them."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str = "",
        user_id: str | None = None,
        app_id: str | None = None,
        scoped: bool = False,
        autoflush: bool = True,
        model_cache: Any = None,
        progress: ProgressCallback | bool | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.user_id = user_id
        self.app_id = app_id
        #: Flush pending changes before a query runs.
        self.autoflush = autoflush
        self.prefix = (
            f"/v2/users/{quote(user_id or '', safe='')}/apps/{quote(app_id or '', safe='')}"
            if scoped
            else "/v2"
        )
        self._identity = IdentityMap()
        self._new: dict[Key, Any] = {}
        self._deleted: dict[Key, Any] = {}
        self._model_cache = model_cache
        self._flushing = False
        #: The calls the last flush planned, described (``"PATCH /v2/inputs (merge, 128 items)"``).
        self.last_flush_calls: list[str] = []
        self._progress: ProgressCallback | None = progress_callback(progress)

    def __repr__(self) -> str:
        app = f" app={self.user_id}/{self.app_id}" if self.app_id else ""
        return f"<Session {self.base_url}{app}>"

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport's connections (pending changes are not sent)."""
        self.transport.close()

    # -- the call path ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        *,
        idempotent: bool | None = None,
        allow_partial: bool = False,
    ) -> JSON:
        """Send one call and return its decoded body (see the module docstring)."""
        method = method.upper()
        full_path = path if path.startswith("/") else f"{self.prefix}/{path}"
        pairs: tuple[tuple[str, str], ...] = ()
        if query:
            items = query.items() if isinstance(query, Mapping) else query
            pairs = tuple((str(name), _query_value(value)) for name, value in items)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE")
        if body is None and method in ("POST", "PATCH", "DELETE"):
            body = {}
        request = Request(method, full_path, pairs, body, idempotent)
        return decode_response(self.transport.send(request), allow_partial=allow_partial)

    @property
    def progress(self) -> ProgressCallback | None:
        """Called with a :class:`~clarimap.progress.Progress` as long work goes on (flushes,
        waits, batched predictions, training); ``None`` reports nothing. Set it to a callable,
        ``True`` (a :class:`~clarimap.progress.TextProgress` on standard error) or ``None``."""
        return self._progress

    @progress.setter
    def progress(self, value: ProgressCallback | bool | None) -> None:
        self._progress = progress_callback(value)

    def _report(
        self,
        task: str,
        done: int,
        total: int | None,
        detail: str = "",
        *,
        finished: bool = False,
    ) -> None:
        """Tell the ``progress`` callback, if any, how far ``task`` is."""
        if self._progress is not None:
            self._progress(Progress(task, done, total, detail, finished))

    def _load(self, cls: type[E], wire: JSON) -> E:
        """The session's object for the server's JSON ``wire`` (identity-mapped).

        An object already in the session is returned as it is when it has unsent edits (they
        are kept) or is marked for deletion; otherwise it takes the server's newer state (a
        status that moved from pending to processed, another client's edits), like a refresh.
        """
        key = (cls, wire["id"])
        existing = self._identity.get(key)
        if existing is not None:
            if not self._is_pending(key) and self._identity.snapshot(key) != wire:
                self._assign_quietly(existing, structure(wire, cls))
                self._identity.set_snapshot(key, wire)
            return existing  # type: ignore[no-any-return]
        entity = structure(wire, cls)
        entity._session = self  # type: ignore[attr-defined]
        self._identity.add(entity, wire)
        return entity

    def _is_pending(self, key: Key) -> bool:
        """Whether the object under ``key`` has unsent edits, or is to be created or deleted."""
        return key in self._new or key in self._deleted or self._identity.is_held(key)

    def _autoflush(self) -> None:
        """Flush first if autoflush is on and something is pending (called before queries)."""
        if self.autoflush and not self._flushing and self.has_pending:
            self.flush()

    @contextlib.contextmanager
    def no_autoflush(self) -> Iterator[Session]:
        """A block in which queries do not flush first."""
        previous, self.autoflush = self.autoflush, False
        try:
            yield self
        finally:
            self.autoflush = previous

    # -- state --------------------------------------------------------------------------------

    @property
    def new(self) -> list[Any]:
        """Objects added and not yet created on the server."""
        return list(self._new.values())

    @property
    def dirty(self) -> list[Any]:
        """Loaded objects edited since the last flush (their diff may turn out empty)."""
        return [e for e in self._identity.held() if key_of(e) not in self._deleted]

    @property
    def deleted(self) -> list[Any]:
        """Objects marked for deletion."""
        return list(self._deleted.values())

    @property
    def has_pending(self) -> bool:
        """True when a flush would have something to look at."""
        return bool(self._new or self._deleted or self._identity.held())

    def __contains__(self, entity: object) -> bool:
        return getattr(entity, "_session", None) is self

    def __iter__(self) -> Iterator[Any]:
        """Every object the session knows: new ones and the live ones of the identity map."""
        yield from self._new.values()
        yield from self._identity.objects()

    def _entity_changed(self, entity: Any) -> None:
        """Called by an entity when it is edited: keep it until the next flush."""
        key = key_of(entity)
        if key in self._new or self._flushing:
            return
        if self._identity.get(key) is entity:
            self._identity.hold(entity)

    def _snapshot_of(self, entity: Any) -> JSON:
        """The entity's last known server state, in the converter's normal form."""
        raw = self._identity.snapshot(key_of(entity))
        if raw is None:
            raise SessionError(f"no snapshot of {type(entity).__name__} {entity.id!r}")
        return unstructure(structure(raw, type(entity)))  # type: ignore[no-any-return]

    # -- adding, deleting, getting --------------------------------------------------------------

    def add(self, entity: Any) -> None:
        """Put a new object in the session; the next flush creates it (POST)."""
        cls = type(entity)
        if cls not in MAPPED_ENTITIES:
            raise ValidationError(
                f"a session maps Input, Concept, Model and Workflow objects, not {cls.__name__}"
            )
        owner = entity._session
        if owner is self:
            key = key_of(entity)
            self._deleted.pop(key, None)
            return
        if owner is not None:
            raise SessionError(f"{cls.__name__} {entity.id!r} belongs to another session")
        key = key_of(entity)
        if key in self._new or self._identity.get(key) is not None:
            raise SessionError(f"the session already has a {cls.__name__} with id {entity.id!r}")
        _unitofwork.validate_entity(entity)
        entity._session = self
        self._new[key] = entity

    def add_all(self, entities: Iterable[Any]) -> None:
        """:meth:`add` each object."""
        for entity in entities:
            self.add(entity)

    def delete(self, entity: Any) -> None:
        """Mark an object for deletion at the next flush (a new one is just forgotten)."""
        cls = type(entity)
        if cls is Concept:
            raise SessionError("the Clarifai API has no call that deletes a concept")
        if cls not in MAPPED_ENTITIES:
            raise ValidationError(f"cannot delete a {cls.__name__}")
        key = key_of(entity)
        if key in self._new and self._new[key] is entity:
            self.expunge(entity)
            return
        if entity._session is None:
            existing = self._identity.get(key)
            if existing is not None and existing is not entity:
                raise SessionError(
                    f"the session has another object for {cls.__name__} {entity.id!r}"
                )
            entity._session = self
            self._identity.add(entity, unstructure(entity))
        elif entity._session is not self:
            raise SessionError(f"{cls.__name__} {entity.id!r} belongs to another session")
        elif self._identity.get(key) is not entity:
            raise SessionError(
                f"{cls.__name__} {entity.id!r} is not stored in this session's app "
                "(a public workflow, say): it cannot be deleted"
            )
        self._deleted[key] = entity

    def expunge(self, entity: Any) -> None:
        """Forget an object: it leaves the session with its pending changes."""
        if entity._session is not self:
            raise SessionError(f"{type(entity).__name__} {entity.id!r} is not in this session")
        key = key_of(entity)
        self._new.pop(key, None)
        self._deleted.pop(key, None)
        if self._identity.get(key) is entity:
            self._identity.remove(key)
        entity._session = None

    def expunge_all(self) -> None:
        """Forget every object."""
        for entity in list(self):
            entity._session = None
        self._new.clear()
        self._deleted.clear()
        self._identity.clear()

    @overload
    def get(self, cls: type[E], id: str) -> E | None: ...
    @overload
    def get(self, cls: type[Model], id: None = None, *, name: str) -> Model | None: ...
    def get(self, cls: type[Any], id: str | None = None, *, name: str | None = None) -> Any:
        """The object with this id (from the identity map, else the server), or None.

        ``get(Model, name="general")`` finds a model by name through the model cache.
        """
        if name is not None:
            if cls is not Model:
                raise ValidationError("only models can be got by name")
            return self._model_by_name(name)
        if id is None:
            raise ValidationError(f"get({cls.__name__}, id) needs an id")
        if cls not in _COLLECTION:
            raise ValidationError(f"cannot get a {getattr(cls, '__name__', cls)!r}")
        check_id(id, f"{cls.__name__} id")
        if cls in MAPPED_ENTITIES:
            existing = self._identity.get((cls, id)) or self._new.get((cls, id))
            if existing is not None:
                return existing
        try:
            return self._fetch(cls, id)
        except NotFound:
            return None

    def _fetch(self, cls: type[E], id: str, prefix: str | None = None) -> E:
        path = f"{_COLLECTION[cls]}/{quote(id, safe='')}"
        if prefix is not None:
            path = f"{prefix}/{path}"
        try:
            answer = self._send("GET", path)
        except NotFound:
            if cls is Model and prefix is None and self.prefix != PUBLIC_PREFIX:
                return self._fetch(cls, id, PUBLIC_PREFIX)  # a public model, by its long route
            raise
        wire = answer[_SINGULAR[cls]]
        if cls is Workflow and _is_public(wire):
            return _public_workflow(self, wire)  # type: ignore[return-value]
        return self._load(cls, wire)

    def _model_by_name(self, name: str) -> Model | None:
        cache = self._models_by_name()
        model_id = cache.get(name)
        if model_id is not None:
            found = self.get(Model, model_id)
            if found is not None:
                return found
            cache.pop(name, None)
        answer = self._send(
            "POST", "models/searches", {"model_query": {"name": name}}, idempotent=True
        )
        matches = [m for m in answer.get("models") or [] if (m.get("name") or m["id"]) == name]
        if not matches:
            matches = [m for m in answer.get("models") or [] if m["id"] == name]
        if not matches:
            return None
        if len({m["id"] for m in matches}) > 1:
            ids = ", ".join(sorted({m["id"] for m in matches}))
            raise ValidationError(
                f"{len(matches)} models are named {name!r} ({ids}); get one by id"
            )
        cache[name] = matches[0]["id"]
        # Search answers leave a model's concepts out: read the full model by id.
        return self.get(Model, matches[0]["id"])

    def _models_by_name(self) -> Any:
        if self._model_cache is None:
            scope = f"{self.base_url}|{self.prefix}"
            try:
                from clarimap.plugins import model_cache

                self._model_cache = model_cache(scope)
            except ImportError:
                from cachetools import TTLCache

                self._model_cache = TTLCache(maxsize=1024, ttl=600)
        return self._model_cache

    def query(self, cls: type[E]) -> Query[E]:
        """A lazy, immutable query over ``cls`` (Input, Concept, Model, Workflow): :mod:`clarimap.query`."""
        from clarimap.query import QUERYABLE, Query, QueryError

        if cls not in QUERYABLE:
            raise QueryError(
                f"cannot query {getattr(cls, '__name__', cls)!r}; query Input, Concept, Model or Workflow"
            )
        return Query(cls, self)

    def refresh(self, entity: Any) -> None:
        """Reload an object from the server, dropping its unsent edits."""
        if entity._session is not self or key_of(entity) in self._new:
            raise SessionError(
                f"{type(entity).__name__} {entity.id!r} is not stored in this session"
            )
        key = key_of(entity)
        answer = self._send("GET", f"{_COLLECTION[type(entity)]}/{quote(entity.id, safe='')}")
        wire = answer[_SINGULAR[type(entity)]]
        self._assign_quietly(entity, structure(wire, type(entity)))
        self._identity.set_snapshot(key, wire)
        self._identity.release(key)

    def _assign_quietly(self, entity: Any, source: Any) -> None:
        """Copy every field of ``source`` into ``entity`` without marking it edited."""
        owner, entity._session = entity._session, None
        try:
            for field in attrs.fields(type(entity)):
                if field.name != "_session":
                    setattr(entity, field.name, getattr(source, field.name))
        finally:
            entity._session = owner

    # -- flush, commit, rollback ----------------------------------------------------------------

    def flush(self) -> None:
        """Send every pending change, in the fewest calls (see ``docs/guide/session.md``).

        Raises :class:`ValidationError` before sending anything when an object is invalid, and
        :class:`FlushError` when some items did not apply: those stay pending, the rest are
        clean, and flushing again sends only what is pending.
        """
        if self._flushing:
            raise SessionError("flush() called while flushing")
        dirty = [(e, self._snapshot_of(e)) for e in self.dirty]
        work = _unitofwork.UnitOfWork(self._new.values(), dirty, self._deleted.values())
        calls = work.plan()
        self.last_flush_calls = [call.describe() for call in calls]
        self._flushing = True
        cause: BaseException | None = None
        total = sum(len(call.parts) for call in calls)
        sent = 0

        def report(call: _unitofwork.PlannedCall, parts: int) -> None:
            nonlocal sent
            sent += parts
            self._report("flush", sent, total, call.describe())

        try:
            if calls:
                self._report("flush", 0, total, f"{len(calls)} calls planned")
            work.execute(self, calls, report if self.progress is not None else None)
        except ClarimapError as error:
            cause = error
        finally:
            if calls:
                self._report("flush", sent, total, "done", finished=True)
            self._flushing = False
            for entity, _ in dirty:
                key = key_of(entity)
                if key in self._deleted:
                    continue
                if id(entity) in work.failed:
                    self._identity.set_snapshot(key, work.snapshots[id(entity)])
                else:
                    self._identity.set_snapshot(key, unstructure(entity))
                    self._identity.release(key)
        if cause is not None or work.failed:
            failed = [outcome for outcome in work.outcomes if not outcome.succeeded]
            message = f"{len(failed)} of {len(work.outcomes)} items did not apply"
            if cause is not None:
                message += f"; the flush stopped at: {cause}"
            elif failed and failed[0].status is not None:
                first = failed[0]
                message += (
                    f" (first: {first.action} {type(first.entity).__name__} "
                    f"{first.entity.id!r}: {first.status.code} {first.status.description}"  # type: ignore[union-attr]
                )
                if first.status.details:  # type: ignore[union-attr]
                    message += f": {first.status.details}"  # type: ignore[union-attr]
                message += ")"
            raise FlushError(message, work.outcomes) from cause

    def commit(self) -> None:
        """Flush. (The API has no transactions: what a flush sent stays sent.)"""
        self.flush()

    def rollback(self) -> None:
        """Restore edited objects to their snapshots, forget new ones, un-delete deleted ones."""
        for entity in self._identity.held():
            key = key_of(entity)
            self._assign_quietly(entity, structure(self._snapshot_of(entity), type(entity)))
            self._identity.release(key)
        for entity in list(self._new.values()):
            entity._session = None
        self._new.clear()
        for key in list(self._deleted):
            self._identity.release(key)
        self._deleted.clear()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:
        """A block that commits at its end, or rolls back if it raises."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # -- callbacks of the unit of work ------------------------------------------------------------

    def _on_created(self, entity: Any, answer: JSON | None) -> None:
        key = key_of(entity)
        self._new.pop(key, None)
        if answer is not None:
            owner, entity._session = entity._session, None
            try:
                created = structure(answer, type(entity)) if "id" in answer else None
                # A workflow's nodes come back with the model versions the server pinned.
                server_fields: tuple[str, ...] = (
                    "status",
                    "created_at",
                    "modified_at",
                    "app_id",
                    "model_version",
                )
                if type(entity) is Workflow:
                    server_fields += ("nodes",)
                for name in server_fields:
                    if created is not None and hasattr(created, name):
                        value = getattr(created, name)
                        if value is not None:
                            setattr(entity, name, value)
            finally:
                entity._session = owner
        self._identity.add(entity, unstructure(entity))

    def _on_deleted(self, entity: Any) -> None:
        key = key_of(entity)
        self._deleted.pop(key, None)
        self._identity.remove(key)
        entity._session = None

    # -- workflows and search feedback (calls sent at once; see clarimap._models) --------------

    def create_workflow(self, id: str, models: Sequence[Model | WorkflowNode | str]) -> Workflow:
        """Create a workflow that runs each model (a Model, a model id or a node) on its inputs.

        Adds the :class:`Workflow` and flushes (so every pending change is sent, the models
        the workflow references first); a :class:`Model` is pinned at its ``model_version``, a
        model id at the version the server has. Returns the workflow, ready to ``predict``.
        When the workflow did not apply, it leaves the session and the :class:`FlushError`
        says why.
        """
        from clarimap import _models

        workflow = _models.new_workflow(id, models)
        self.add(workflow)
        try:
            self.flush()
        except FlushError as error:
            if workflow in self.new or any(o.entity is workflow for o in error.failed):
                self.expunge(workflow)
            raise
        return workflow

    def public_workflows(self) -> list[Workflow]:
        """The public workflows the server offers (``GET /v2/public_workflows``), ready to predict.

        The local server lists those whose models it can run (``docs/local-server.md``); the
        current Clarifai API no longer has the route and answers it with an error.
        """
        answer = self._send("GET", "/v2/public_workflows")
        return [_public_workflow(self, wire) for wire in answer.get("workflows") or []]

    def send_search_feedback(
        self,
        input_id: str,
        *,
        search_id: str | None = None,
        end_user_id: str | None = None,
        session_id: str | None = None,
        event_type: FeedbackEvent = "search_click",
    ) -> None:
        """Tell the API which hit of a search (``search_id``) the end user chose (sent at once)."""
        from clarimap import _models

        info = FeedbackInfo(end_user_id, session_id, event_type, None, search_id)
        _models.send_search_feedback(self, input_id, info)

    # -- waiting ----------------------------------------------------------------------------

    def wait_for_inputs(
        self,
        inputs: Iterable[Input | str] | None = None,
        *,
        timeout: float = 60.0,
        interval: float = 0.5,
    ) -> list[Input]:
        """Wait until inputs are processed; return them with their final status.

        With no ``inputs``, waits until the app has nothing left to process (2.6.2's
        ``wait_until_inputs_upload_finish``) and returns ``[]``; with inputs or ids, until each
        has left the pending statuses (``wait_for_specific_input_uploads_to_finish``). Raises
        :class:`WaitTimeoutError` when ``timeout`` seconds pass without any input finishing:
        a long backlog that keeps moving is waited for, a stuck one is not.
        """
        try:
            if inputs is None:
                self._wait_for_app_inputs(timeout, interval)
                return []
            waiting = _ids_of(Input, inputs)
            return self._wait_for_these_inputs(waiting, timeout, interval)
        finally:
            self._report("wait_for_inputs", 0, None, "done", finished=True)

    def _wait_for_app_inputs(self, timeout: float, interval: float) -> None:
        """Poll ``GET /v2/inputs/status`` until nothing is left to process."""
        first_pending: int | None = None
        least_pending: int | None = None
        deadline = time.monotonic() + timeout
        while True:
            counts = self._send("GET", "inputs/status").get("counts") or {}
            pending = int(counts.get("to_process") or 0) + int(counts.get("processing") or 0)
            if least_pending is not None and pending < least_pending:
                deadline = time.monotonic() + timeout  # moving: give it ``timeout`` more
            least_pending = pending if least_pending is None else min(least_pending, pending)
            first_pending = pending if first_pending is None else max(first_pending, pending)
            self._report(
                "wait_for_inputs", first_pending - pending, first_pending, f"{pending} pending"
            )
            if not pending:
                return
            _sleep_or_give_up(deadline, interval, f"inputs still processing: {counts}")

    def _wait_for_these_inputs(
        self, waiting: list[str], timeout: float, interval: float
    ) -> list[Input]:
        """Poll the inputs ``waiting`` (128 a call) until none is pending; raise if one is gone."""
        done: dict[str, Input] = {}
        deadline = time.monotonic() + timeout
        while True:
            finished_before = len(done)
            pending = [input_id for input_id in waiting if input_id not in done]
            stored = _unitofwork._stored_objects(self, Input, pending)
            for input_id in pending:
                wire = stored.get(input_id)
                if wire is None:  # not in a batch read: ask for it alone (raises NotFound)
                    wire = self._send("GET", f"inputs/{quote(input_id, safe='')}")["input"]
                entity = self._load(Input, wire)
                status = wire.get("status")
                if status is not None:
                    object.__setattr__(entity, "status", structure(status, Status))
                if entity.status is None or entity.status.code not in PENDING_INPUT_CODES:
                    done[input_id] = entity
            self._report("wait_for_inputs", len(done), len(waiting))
            if len(done) > finished_before:
                deadline = time.monotonic() + timeout  # moving: give it ``timeout`` more
            if len(done) == len(waiting):
                return [done[input_id] for input_id in waiting]
            pending = [input_id for input_id in waiting if input_id not in done]
            _sleep_or_give_up(deadline, interval, f"inputs still pending: {pending[:10]}")

    def fetch_media(self, source: Input | Image | Video | str, *, timeout: float = 60.0) -> bytes:
        """The bytes of an input's image or video (or of an ``Image``, a ``Video``, a URL).

        Media the object holds as bytes are returned as they are. Otherwise its ``url`` is read:
        a URL of this session's server (the hosted URL the server gives an input made from bytes,
        ``local://...`` included) through the session's transport, with its retries; a ``data:``
        URI or a scheme a media plugin reads (``s3://``) through the media hooks; any other URL
        (the real API's hosted storage, a web server) with a plain ``GET`` that carries no
        credentials. Raises :class:`NotFound` when the server no longer has the media,
        :class:`TransportError` when the URL cannot be read.
        """
        media: Any = source
        if isinstance(source, Input):
            media = source.image or source.video
            if media is None:
                raise ValidationError(f"input {source.id!r} has no image or video")
        if isinstance(media, (Image, Video)):
            if media.base64 is not None:
                return media.base64
            url = media.url
        elif isinstance(media, str):
            url = media
        else:
            raise ValidationError(
                "fetch_media() takes an Input, an Image, a Video or a URL, got "
                f"{type(source).__name__}"
            )
        if not url:
            raise ValidationError("the media has neither bytes nor a url")
        if url.startswith(self.base_url + "/v2/"):
            path, _, query_string = url[len(self.base_url) :].partition("?")
            request = Request("GET", path, tuple(parse_qsl(query_string)), None, True)
            response = self.transport.send(request)
            if response.http_status >= 300 or response.body is not None:
                decode_response(response)  # raises the typed error of the answer
                raise TransportError(
                    f"GET {path} answered JSON, not media", method="GET", path=path
                )
            return response.content
        if not url.lower().startswith(("http://", "https://")):
            # data: URIs, and schemes a media plugin reads (s3://...), through the media hooks
            from clarimap.media import resolve_media

            resolved = resolve_media(url)
            if resolved.base64 is not None:
                return resolved.base64
        return _download(url, timeout)

    def input_counts(self) -> InputCounts:
        """How many of the app's inputs are processed, pending or failed (2.6.2's ``check_status``)."""
        counts = self._send("GET", "inputs/status").get("counts") or {}
        return InputCounts(
            processed=int(counts.get("processed") or 0),
            to_process=int(counts.get("to_process") or 0),
            errors=int(counts.get("errors") or 0),
            processing=int(counts.get("processing") or 0),
        )

    def wait_until_deleted(
        self,
        cls: type[Input] | type[Model],
        objects: Iterable[Input | Model | str] | None = None,
        *,
        timeout: float = 60.0,
        interval: float = 0.5,
    ) -> None:
        """Wait until the server no longer has the given inputs or models (deletes may lag).

        With ``objects`` (entities or ids), waits until reading each answers not found. With
        none, waits until the app has no input left (2.6.2's ``wait_until_inputs_delete_finish``);
        models need ``objects``, since the model list always holds the public models. Raises
        :class:`WaitTimeoutError` after ``timeout`` seconds.
        """
        if cls is not Input and cls is not Model:
            raise ValidationError(f"wait_until_deleted() waits for inputs or models, not {cls!r}")
        deadline = time.monotonic() + timeout
        collection = _COLLECTION[cls]
        if objects is None:
            if cls is Model:
                raise ValidationError(
                    "give the models to wait for: the model list always holds the public models"
                )
            try:
                while self._send("GET", "inputs", query={"page": 1, "per_page": 1}).get("inputs"):
                    self._report("wait_until_deleted", 0, None, "the app still has inputs")
                    _sleep_or_give_up(deadline, interval, "the app still has inputs")
            finally:
                self._report("wait_until_deleted", 0, None, "done", finished=True)
            return
        waiting = _ids_of(cls, objects)
        total = len(waiting)
        try:
            while waiting:
                still_there = []
                for object_id in waiting:
                    try:
                        self._send("GET", f"{collection}/{quote(object_id, safe='')}")
                    except NotFound:
                        continue
                    still_there.append(object_id)
                waiting = still_there
                self._report("wait_until_deleted", total - len(waiting), total, collection)
                if waiting:
                    _sleep_or_give_up(
                        deadline, interval, f"{collection} still there: {waiting[:10]}"
                    )
        finally:
            self._report("wait_until_deleted", total - len(waiting), total, "done", finished=True)


def _is_public(wire: JSON) -> bool:
    """True for the JSON of a public workflow (``clarifai/main``), which no app owns."""
    return wire.get("user_id") == "clarifai" and wire.get("app_id") == "main"


def _public_workflow(session: Session, wire: JSON) -> Workflow:
    """A public workflow, ready to predict; not identity-mapped, so not edited or deleted."""
    workflow = structure(wire, Workflow)
    object.__setattr__(workflow, "_session", session)
    return workflow


def _ids_of(cls: type[Input] | type[Model], objects: Iterable[Any]) -> list[str]:
    """The ids of ``objects`` (entities of ``cls`` or id strings); ``ValidationError`` if not."""
    ids = []
    for item in objects:
        if isinstance(item, str):
            object_id = item
        elif isinstance(item, (Input, Model)) and isinstance(item, cls):
            object_id = item.id
        else:
            raise ValidationError(
                f"expected {cls.__name__} objects or their ids, got {type(item).__name__} {item!r}"
            )
        ids.append(check_id(object_id, f"{cls.__name__} id"))
    return ids


def _download(url: str, timeout: float) -> bytes:
    """The bytes at ``url`` (not this session's server): a plain GET, no credentials."""
    import requests

    try:
        answer = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise TransportError(
            f"GET {url} got no answer: {type(error).__name__}", method="GET", path=url
        ) from None
    if answer.status_code == 404:
        raise NotFound(0, "Not found", f"GET {url}", http_status=404, method="GET", path=url)
    if answer.status_code >= 300:
        raise TransportError(
            f"GET {url} answered HTTP {answer.status_code}", method="GET", path=url
        )
    return answer.content


def _sleep_or_give_up(deadline: float, interval: float, what: str) -> None:
    if time.monotonic() + interval > deadline:
        raise WaitTimeoutError(what)
    time.sleep(interval)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def connect(
    url: str | None = None,
    *,
    api_key: str | None = None,
    pat: str | None = None,
    user_id: str | None = None,
    app_id: str | None = None,
    autoflush: bool = True,
    timeout: float | tuple[float, float] | None = None,
    retry: RetryPolicy | None = None,
    wrap_transport: Any = None,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    local_app: Any = None,
    progress: ProgressCallback | bool | None = None,
) -> Session:
    """A :class:`Session` for ``url``: ``local://PATH``, ``http(s)://...``, or the configured API.

    ``local://photos.db`` (or ``local://:memory:``) runs the embedded server in this process and
    needs no credentials. Otherwise the URL and credentials come from the arguments, then the
    environment, then ``~/.clarifai/config`` (:mod:`clarimap.config`); a PAT uses the
    ``/v2/users/{user_id}/apps/{app_id}`` routes. ``retry`` sets the backoff policy;
    ``wrap_transport(transport) -> transport`` may wrap the raw transport (tests inject faults
    and count calls with it), below the retries. ``local_app`` is the WSGI app a ``local://``
    URL reaches (default: the process's shared server for that path). ``progress`` is called
    with a :class:`~clarimap.progress.Progress` as long work goes on (``True``: a
    :class:`~clarimap.progress.TextProgress` on standard error); see :mod:`clarimap.progress`.
    """
    from clarimap.transport.http import DEFAULT_TIMEOUT, HTTPTransport

    if url is not None and not isinstance(url, str):
        raise ValidationError(f"connect() needs a URL string, got {type(url).__name__} {url!r}")
    if url is not None and url.startswith("local://"):
        from clarimap.transport.wsgi import local_session

        # "local://" alone is the in-memory server (see transport.wsgi.database_of); say so, as
        # stripping its slashes would leave "local:", onto which no request path joins
        base_url = "local://:memory:" if url == "local://" else url.rstrip("/")
        settings = Settings(
            base_url=base_url, api_key=api_key, pat=pat, user_id=user_id, app_id=app_id
        )
        if local_app is not None:
            http_session = local_session(url, app=local_app)
        else:  # the clarimap_transport_adapter hook; the built-in serves the embedded server
            import requests

            from clarimap.plugins import transport_adapter

            local_adapter = transport_adapter(url)
            http_session = local_session(url) if local_adapter is None else requests.Session()
            if local_adapter is not None:
                http_session.mount("local://", local_adapter)
    else:
        settings = resolve_settings(
            url,
            api_key=api_key,
            pat=pat,
            user_id=user_id,
            app_id=app_id,
            environ=environ,
            config_file=config_file,
        )
        http_session = None
        scheme = (settings.base_url or "").split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            import requests

            from clarimap.plugins import transport_adapter

            adapter = transport_adapter(settings.base_url or "")
            http_session = requests.Session()
            if adapter is not None:
                http_session.mount(f"{scheme}://", adapter)
    transport: Transport = HTTPTransport(
        settings.base_url or "",
        credential=settings.credential,
        session=http_session,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
    )
    if wrap_transport is not None:
        transport = wrap_transport(transport)
    transport = RetryingTransport(transport, retry if retry is not None else RetryPolicy())
    if settings.scoped and (settings.user_id is None or settings.app_id is None):
        raise ValidationError("routes scoped to an app need both user_id and app_id")
    return Session(
        transport,
        base_url=settings.base_url or "",
        user_id=settings.user_id,
        app_id=settings.app_id,
        scoped=settings.scoped,
        autoflush=autoflush,
        progress=progress,
    )
