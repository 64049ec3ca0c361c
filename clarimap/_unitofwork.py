"""Pending changes -> ordered, batched API calls, and what their answers mean for the session.

Called only by :meth:`clarimap.session.Session.flush`, which builds one :class:`UnitOfWork` per
flush and hands it the new, edited and deleted objects with their snapshots (the JSON the server
last had). The unit of work

1. validates every pending object (a :class:`~clarimap.errors.ValidationError` is raised before
   anything is sent);
2. diffs each edited object against its snapshot and compiles the differences into calls:
   per kind (concepts, then inputs, then models, then workflows, which reference models) the
   creates (POST), then the patches grouped by action (``remove`` before ``merge`` before
   ``overwrite``), and the deletes last, workflows first (the reverse order, so nothing is
   deleted before what references it); at most :data:`MAX_BATCH` objects a call, objects in the
   order they were added or first edited (``docs/guide/session.md`` lists which edit becomes
   which action);
3. sends the calls in that order through the session, reads every item's status, records what
   applied in the snapshots, and leaves what failed pending. An object that failed in one call
   is left out of the later calls of the same flush (a merge may rely on an earlier remove).

Creates are idempotent: when a create fails because its id is taken (the answer of an earlier
attempt that committed was lost, and the transport or the caller sent it again), the unit of
work reads the stored object back (:meth:`UnitOfWork._read_back`). If it is what the session
meant to create, the create counts as applied; if not, the object stays pending and its outcome
says which fields differ, with the server's object in ``ItemOutcome.existing``.

The invariant it keeps: after a flush that raised nothing, the server's state of every object
equals the session's.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import attrs

from clarimap.converters import structure, unstructure
from clarimap.entities import (
    PENDING_INPUT_CODES,
    SUCCESS_CODES,
    Concept,
    Input,
    Model,
    Status,
    Workflow,
    check_id,
)
from clarimap.errors import (
    ApiError,
    ClarimapError,
    InvalidArgument,
    ItemOutcome,
    NotFound,
    ValidationError,
)

JSON = dict[str, Any]

#: Most objects one call carries.
MAX_BATCH = 128
#: Largest serialized metadata (or hyper_params) of one object clarimap sends, in bytes.
MAX_METADATA_BYTES = 1024 * 1024
#: Item codes that mean a create stored the item (done, or still being processed).
CREATED_CODES = SUCCESS_CODES | PENDING_INPUT_CODES
KIND_ORDER: tuple[type, ...] = (Concept, Input, Model, Workflow)
COLLECTION = {Concept: "concepts", Input: "inputs", Model: "models", Workflow: "workflows"}
SINGULAR = {Concept: "concept", Input: "input", Model: "model", Workflow: "workflow"}
#: Item codes of a create whose id is already taken (input, workflow, model: duplicate).
DUPLICATE_CODES = frozenset({30100, 22100, 40010})
PATCH_ACTIONS = ("remove", "merge", "overwrite")


@attrs.define
class Part:
    """One object's share of one call: the item JSON sent for it."""

    entity: Any
    item: JSON
    #: The snapshot this part leaves on the server when it applies (None for a delete).
    applied: Callable[[JSON], JSON] | None = None


@attrs.define
class PlannedCall:
    """One API call of a flush."""

    kind: type
    action: str  # create, remove, merge, overwrite, delete
    parts: list[Part]
    idempotent: bool = True

    @property
    def method(self) -> str:
        return {"create": "POST", "delete": "DELETE"}.get(self.action, "PATCH")

    @property
    def path(self) -> str:
        return COLLECTION[self.kind]

    def body(self, parts: Sequence[Part]) -> JSON:
        """The request body carrying ``parts``."""
        plural = COLLECTION[self.kind]
        if self.action == "delete":
            return {"ids": [part.item["id"] for part in parts]}
        if self.action == "create":
            if self.kind is Model:
                return {"model": parts[0].item}
            return {plural: [part.item for part in parts]}
        return {"action": self.action, plural: [part.item for part in parts]}

    def describe(self) -> str:
        """``PATCH inputs (merge, 128 items)``: what the demo and logs print."""
        what = f"{self.action}, " if self.method == "PATCH" else ""
        return f"{self.method} /v2/{self.path} ({what}{len(self.parts)} items)"


class Sender(Protocol):
    """What the unit of work needs from its session (implemented by :class:`Session`)."""

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Any = None,
        *,
        idempotent: bool | None = None,
        allow_partial: bool = False,
    ) -> JSON: ...

    def _on_created(self, entity: Any, answer: JSON | None) -> None: ...

    def _on_deleted(self, entity: Any) -> None: ...

    def fetch_media(self, source: Any) -> bytes: ...


class UnitOfWork:
    """One flush: plan the calls for the pending objects, send them, record the outcomes."""

    def __init__(
        self,
        new: Iterable[Any],
        dirty: Iterable[tuple[Any, JSON]],
        deleted: Iterable[Any],
    ) -> None:
        self.new: list[Any] = list(new)
        self.dirty: list[tuple[Any, JSON]] = list(dirty)
        self.deleted: list[Any] = list(deleted)
        #: Entity id() -> the snapshot after the parts that applied in this flush.
        self.snapshots: dict[int, JSON] = {id(entity): snap for entity, snap in self.dirty}
        self.failed: set[int] = set()
        self.outcomes: list[ItemOutcome] = []

    # -- planning -----------------------------------------------------------------------------

    def plan(self) -> list[PlannedCall]:
        """Every call of this flush, in order. Raises ``ValidationError`` before any is sent."""
        calls: list[PlannedCall] = []
        for kind in KIND_ORDER:
            created = [entity for entity in self.new if type(entity) is kind]
            for entity in created:
                validate_entity(entity)
            create_parts = [Part(entity, unstructure(entity)) for entity in created]
            size = 1 if kind is Model else MAX_BATCH
            calls += [PlannedCall(kind, "create", chunk) for chunk in _chunks(create_parts, size)]

            by_action: dict[str, list[Part]] = {action: [] for action in PATCH_ACTIONS}
            appends = False
            for entity, snapshot in self.dirty:
                if type(entity) is not kind:
                    continue
                validate_entity(entity)
                current = unstructure(entity)
                for action, item in diff_entity(kind, snapshot, current).items():
                    by_action[action].append(
                        Part(entity, item, _applier(kind, action, item, current))
                    )
                    appends = appends or (action == "merge" and _has_list(item))
            for action in PATCH_ACTIONS:
                idempotent = not (action == "merge" and appends)
                calls += [
                    PlannedCall(kind, action, chunk, idempotent)
                    for chunk in _chunks(by_action[action], MAX_BATCH)
                ]
        for deleted_kind in reversed(KIND_ORDER):
            parts = [_delete_part(gone) for gone in self.deleted if type(gone) is deleted_kind]
            calls += [
                PlannedCall(deleted_kind, "delete", chunk) for chunk in _chunks(parts, MAX_BATCH)
            ]
        return calls

    # -- sending ------------------------------------------------------------------------------

    def execute(
        self,
        session: Sender,
        calls: Sequence[PlannedCall],
        after_call: Callable[[PlannedCall, int], None] | None = None,
    ) -> None:
        """Send ``calls`` in order; record outcomes; stop at an error that is not the items'.

        ``after_call(call, parts_sent)`` runs after each call (progress reports).
        """
        for index, call in enumerate(calls):
            parts = [part for part in call.parts if id(part.entity) not in self.failed]
            if not parts:
                if after_call is not None:
                    after_call(call, len(call.parts))
                continue
            self._send_call(session, calls, index, call, parts)
            if after_call is not None:
                after_call(call, len(call.parts))

    def _send_call(
        self,
        session: Sender,
        calls: Sequence[PlannedCall],
        index: int,
        call: PlannedCall,
        parts: list[Part],
    ) -> None:
        """Send one planned call with the ``parts`` still to send, and record what happened."""
        try:
            answer = session._send(
                call.method,
                call.path,
                call.body(parts),
                idempotent=call.idempotent,
                allow_partial=True,
            )
        except NotFound as error:
            if call.action == "delete":
                self._delete_one_by_one(session, call, parts)
            else:
                self._fail_all(call, parts, _status_of(error))
            return
        except InvalidArgument as error:
            if call.action == "create":
                # Refused as a whole (concepts, models and workflows refuse a taken id so):
                # the ids found stored are read back, the others sent again.
                refusal = _status_of(error)
                self._read_back(session, call, [(part, refusal) for part in parts], True)
            else:
                self._fail_all(call, parts, _status_of(error))
            return
        except Exception as error:
            status = _status_of(error) if isinstance(error, ApiError) else None
            self._fail_all(call, parts, status)
            for later in calls[index + 1 :]:
                self.failed.update(id(part.entity) for part in later.parts)
            raise
        self._record(session, call, parts, answer)

    def _delete_one_by_one(self, session: Sender, call: PlannedCall, parts: Sequence[Part]) -> None:
        """A batch delete refused because some ids are gone: delete the rest one at a time.

        An object the server no longer has is deleted as far as the invariant goes.
        """
        for part in parts:
            try:
                session._send("DELETE", f"{call.path}/{quote(part.entity.id, safe='')}")
            except NotFound:
                pass
            except ApiError as error:
                self._fail_all(call, [part], _status_of(error))
                continue
            self.outcomes.append(ItemOutcome(part.entity, call.action, True, None))
            session._on_deleted(part.entity)

    def _fail_all(self, call: PlannedCall, parts: Sequence[Part], status: Status | None) -> None:
        for part in parts:
            self.failed.add(id(part.entity))
            self.outcomes.append(ItemOutcome(part.entity, call.action, False, status))

    def _record(
        self, session: Sender, call: PlannedCall, parts: Sequence[Part], answer: JSON
    ) -> None:
        top = _status_from(answer.get("status"))
        partial = top is not None and top.code != 10000
        items: dict[str, JSON] = {}
        listed = answer.get(COLLECTION[call.kind])
        if isinstance(listed, list):
            items = {str(item.get("id")): item for item in listed if isinstance(item, dict)}
        elif isinstance(answer.get("model"), dict):
            items = {str(answer["model"].get("id")): answer["model"]}
        taken: list[tuple[Part, Status | None]] = []
        for part in parts:
            entity = part.entity
            item = items.get(entity.id)
            status = _status_from(item.get("status")) if item else None
            if partial:
                good = CREATED_CODES if call.action == "create" else SUCCESS_CODES
                succeeded = item is not None and (status is None or status.code in good)
            else:
                succeeded = True
            if (
                not succeeded
                and call.action == "create"
                and status is not None
                and status.code in DUPLICATE_CODES
            ):
                taken.append((part, status))
                continue
            self.outcomes.append(ItemOutcome(entity, call.action, succeeded, status or top))
            if not succeeded:
                self.failed.add(id(entity))
            elif call.action == "create":
                session._on_created(entity, item)
            elif call.action == "delete":
                session._on_deleted(entity)
            elif part.applied is not None:
                self.snapshots[id(entity)] = part.applied(self.snapshots[id(entity)])
        if taken:
            self._read_back(session, call, taken, False)

    # -- creates whose id is taken ------------------------------------------------------------

    def _read_back(
        self,
        session: Sender,
        call: PlannedCall,
        refused: Sequence[tuple[Part, Status | None]],
        send_rest: bool,
    ) -> None:
        """Settle creates refused for a taken id by reading the stored objects back.

        A stored object equal to what the session meant to create (:func:`differences` is
        empty) makes its create applied; one that differs is a conflict: the object stays
        pending and its outcome names the fields that differ. An id not stored keeps the
        refusal; with ``send_rest`` (the whole call was refused) those are sent once more
        when some others were found stored, since the refusal was theirs.
        """
        stored = _stored_objects(session, call.kind, [part.entity.id for part, _ in refused])
        missing: list[tuple[Part, Status | None]] = []
        for part, status in refused:
            entity = part.entity
            wire = stored.get(entity.id)
            if wire is None:
                missing.append((part, status))
                continue
            existing: Any = structure(wire, call.kind)
            differing = differences(entity, existing, session.fetch_media)
            if not differing:
                read = _status_from(wire.get("status"))
                self.outcomes.append(ItemOutcome(entity, "create", True, read))
                session._on_created(entity, wire)
                continue
            kind = call.kind.__name__
            conflict = Status(
                status.code if status is not None else 0,
                "Conflict: the id is taken by other data",
                f"the server already has a {kind} {entity.id!r} whose "
                f"{', '.join(differing)} differ from this one's; it stays pending (delete or "
                f"rename one of them, or session.expunge() this one and get the stored one)",
            )
            self.failed.add(id(entity))
            self.outcomes.append(ItemOutcome(entity, "create", False, conflict, existing))
        if send_rest and missing and len(missing) < len(refused):
            retry = PlannedCall(call.kind, "create", [part for part, _ in missing])
            try:
                answer = session._send(
                    retry.method, retry.path, retry.body(retry.parts), allow_partial=True
                )
            except ApiError as error:
                self._fail_all(retry, retry.parts, _status_of(error))
                return
            self._record(session, retry, retry.parts, answer)
            return
        for part, status in missing:
            self._fail_all(call, [part], status)


# -- validation ---------------------------------------------------------------------------------


def validate_entity(entity: Any) -> None:
    """Raise ``ValidationError`` for what the API would refuse and can be known locally."""
    if isinstance(entity, Input):
        validate_struct(entity.metadata, f"Input {entity.id!r} metadata")
        seen: set[str] = set()
        for concept in entity.concepts:
            if concept.id in seen:
                raise ValidationError(
                    f"Input {entity.id!r} lists concept {concept.id!r} twice; "
                    "keep one annotation a concept (value 1 positive, 0 negative)"
                )
            seen.add(concept.id)
        region_ids = [region.id for region in entity.regions]
        if len(set(region_ids)) != len(region_ids):
            raise ValidationError(f"Input {entity.id!r} has two regions with the same id")
        if entity.image is None and entity.video is None:
            raise ValidationError(f"Input {entity.id!r} has no image or video")
    elif isinstance(entity, Model):
        validate_struct(entity.hyper_params, f"Model {entity.id!r} hyper_params")
        ids = [concept.id for concept in entity.concepts]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"Model {entity.id!r} lists a concept twice")
    elif isinstance(entity, Workflow):
        if not entity.nodes:
            raise ValidationError(f"Workflow {entity.id!r} needs at least one node")
        node_ids = [check_id(node.id, "workflow node id") for node in entity.nodes]
        for node in entity.nodes:
            check_id(node.model_id, f"model id of workflow node {node.id!r}")
        if len(set(node_ids)) != len(node_ids):
            raise ValidationError(f"Workflow {entity.id!r} has two nodes with the same id")


def validate_struct(value: Any, what: str) -> None:
    """Check a metadata-like value is JSON the API stores (a protobuf ``Struct``) and not huge."""
    _check_json(value, what)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        largest = max(value, key=lambda key: len(json.dumps(value[key]))) if value else ""
        raise ValidationError(
            f"{what} is {size:,} bytes as JSON (its largest value is under key {largest!r}); "
            f"the limit is {MAX_METADATA_BYTES:,} bytes"
        )


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where}: keys must be strings, got {key!r}")
            _check_json(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value} is not a finite number")
    elif value is not None and not isinstance(value, (str, int, bool)):
        raise ValidationError(
            f"{where}: {type(value).__name__} is not a JSON value "
            "(use str, int, float, bool, None, list or dict)"
        )


# -- diffing ------------------------------------------------------------------------------------


def diff_entity(kind: type, old: JSON, new: JSON) -> dict[str, JSON]:
    """The patch items (action -> item) that turn ``old`` into ``new`` on the server."""
    if old.get("id") != new.get("id"):
        raise ValidationError(
            f"the id of a stored {kind.__name__} cannot change ({old.get('id')!r} -> "
            f"{new.get('id')!r}); delete it and add a new one"
        )
    if kind is Input:
        return diff_input(old, new)
    if kind is Model:
        return diff_model(old, new)
    if kind is Workflow:
        return diff_workflow(old, new)
    return diff_concept(old, new)


def diff_input(old: JSON, new: JSON) -> dict[str, JSON]:
    """Remove/merge (or overwrite) items turning input ``old`` into ``new``."""
    before: JSON = old.get("data") or {}
    after: JSON = new.get("data") or {}
    for media in ("image", "video"):
        if not same(before.get(media), after.get(media)):
            raise ValidationError(
                f"the {media} of stored input {new['id']!r} cannot change; "
                "delete the input and add a new one"
            )
    remove: JSON = {}
    merge: JSON = {}
    overwrite = False

    removed, merged = _diff_by_id(before.get("concepts") or [], after.get("concepts") or [])
    if removed:
        remove["concepts"] = [{"id": concept_id, "value": 1.0} for concept_id in removed]
    if merged:
        merge["concepts"] = merged

    old_regions = before.get("regions") or []
    new_regions = after.get("regions") or []
    removed, merged = _diff_by_id(old_regions, new_regions)
    old_region_ids = {region["id"] for region in old_regions}
    changed = [region["id"] for region in merged if region["id"] in old_region_ids]
    removed += changed  # a changed region is removed and merged anew, so nothing of it remains
    if removed:
        remove["regions"] = [{"id": region_id} for region_id in removed]
    if merged:
        merge["regions"] = merged

    metadata_remove, metadata_merge, needs_overwrite = diff_struct(
        before.get("metadata") or {}, after.get("metadata") or {}
    )
    overwrite = overwrite or needs_overwrite
    if metadata_remove:
        remove["metadata"] = metadata_remove
    if metadata_merge:
        merge["metadata"] = metadata_merge

    if not same(before.get("geo"), after.get("geo")):
        # ``{}`` under merge replaces the old value: that clears geo (the request shapes take no
        # ``"geo": true`` under remove).
        merge["geo"] = after.get("geo") or {}

    if overwrite:
        data = {key: value for key, value in after.items() if key not in ("image", "video")}
        return {"overwrite": {"id": new["id"], "data": data}}
    actions: dict[str, JSON] = {}
    if remove:
        actions["remove"] = {"id": new["id"], "data": remove}
    if merge:
        actions["merge"] = {"id": new["id"], "data": merge}
    return actions


def _diff_by_id(old: list[JSON], new: list[JSON]) -> tuple[list[str], list[JSON]]:
    """Ids gone from ``new``, and the items of ``new`` that are added or changed."""
    old_by_id = {item["id"]: item for item in old}
    new_ids = {item["id"] for item in new}
    removed = [item["id"] for item in old if item["id"] not in new_ids]
    merged = [item for item in new if not same(old_by_id.get(item["id"]), item)]
    return removed, merged


def diff_struct(old: JSON, new: JSON) -> tuple[JSON, JSON, bool]:
    """(remove tree, merge tree, needs overwrite) turning the JSON object ``old`` into ``new``.

    The remove tree has ``True`` at each key to delete; the merge tree holds what to set. A
    changed non-empty list is removed and merged anew (merge appends to lists); a ``null`` set
    anywhere needs an overwrite (merge ignores nulls).
    """
    remove: JSON = {}
    merge: JSON = {}
    overwrite = False
    for key in old:
        if key not in new:
            remove[key] = True
    for key, value in new.items():
        if key in old and same(old[key], value):
            continue
        if _has_null(value):
            overwrite = True
        before = old.get(key, _MISSING)
        if before is _MISSING:
            merge[key] = value
        elif isinstance(before, dict) and isinstance(value, dict) and value:
            nested_remove, nested_merge, nested_overwrite = diff_struct(before, value)
            overwrite = overwrite or nested_overwrite
            if nested_remove:
                remove[key] = nested_remove
            if nested_merge:
                merge[key] = nested_merge
        elif (isinstance(value, list) and value) or (isinstance(value, dict) and value):
            remove[key] = True
            merge[key] = value
        else:
            merge[key] = value
    return remove, merge, overwrite


_MISSING = object()


def diff_model(old: JSON, new: JSON) -> dict[str, JSON]:
    """Patch items turning model ``old`` into ``new``: concept merges/removes, else overwrite."""
    settings = ("name", "display_name", "model_type_id")
    old_info = old.get("output_info") or {}
    new_info = new.get("output_info") or {}
    config_changed = not same(
        old_info.get("output_config") or {}, new_info.get("output_config") or {}
    )
    if config_changed or any(not same(old.get(name), new.get(name)) for name in settings):
        config = new_info.get("output_config") or {}
        item: JSON = {
            "id": new["id"],
            "output_info": {
                "data": {"concepts": _model_concepts(new_info)},
                "output_config": {
                    "concepts_mutually_exclusive": bool(config.get("concepts_mutually_exclusive")),
                    "closed_environment": bool(config.get("closed_environment")),
                    "max_concepts": int(config.get("max_concepts") or 0),
                    "min_value": float(config.get("min_value") or 0.0),
                    "hyper_params": config.get("hyper_params") or {},
                },
            },
        }
        for name in settings:
            if new.get(name):
                item[name] = new[name]
        return {"overwrite": item}
    removed, merged = _diff_by_id(_model_concepts(old_info), _model_concepts(new_info))
    actions: dict[str, JSON] = {}
    if removed:
        actions["remove"] = _model_concept_item(new["id"], [{"id": i} for i in removed])
    if merged:
        actions["merge"] = _model_concept_item(new["id"], merged)
    return actions


def _model_concepts(output_info: JSON) -> list[JSON]:
    concepts = (output_info.get("data") or {}).get("concepts") or []
    return [{"id": c["id"], **({"name": c["name"]} if c.get("name") else {})} for c in concepts]


def _model_concept_item(model_id: str, concepts: list[JSON]) -> JSON:
    return {"id": model_id, "output_info": {"data": {"concepts": concepts}}}


def diff_concept(old: JSON, new: JSON) -> dict[str, JSON]:
    """An overwrite item when a concept's name, language or definition changed."""
    fields = ("name", "language", "definition")
    if all(same(old.get(name), new.get(name)) for name in fields):
        return {}
    item = {"id": new["id"], **{name: new[name] for name in fields if new.get(name)}}
    return {"overwrite": item}


def diff_workflow(old: JSON, new: JSON) -> dict[str, JSON]:
    """An overwrite item with every node when a workflow's nodes changed (order included).

    ``PATCH /v2/workflows`` merges nodes by id and appends new ones at the end, so only an
    overwrite keeps the session's node order (the order of a predict's outputs).
    """
    if same(old.get("nodes") or [], new.get("nodes") or []):
        return {}
    return {"overwrite": {"id": new["id"], "nodes": new.get("nodes") or []}}


# -- reading back creates whose id is taken --------------------------------------------------


def _stored_objects(session: Sender, kind: type, ids: Sequence[str]) -> dict[str, JSON]:
    """The server's JSON of the objects of ``kind`` with these ids (absent ones left out).

    Inputs are read in batches (``GET /v2/inputs?ids=...``), the others one ``GET`` each.
    """
    found: dict[str, JSON] = {}
    if kind is Input:
        for start in range(0, len(ids), MAX_BATCH):
            chunk = list(ids[start : start + MAX_BATCH])
            query = [("ids", input_id) for input_id in chunk] + [("per_page", len(chunk))]
            answer = session._send("GET", "inputs", query=query)
            for wire in answer.get("inputs") or []:
                if isinstance(wire, dict) and wire.get("id") in chunk:
                    found[str(wire["id"])] = wire
        return found
    for object_id in ids:
        try:
            answer = session._send("GET", f"{COLLECTION[kind]}/{quote(object_id, safe='')}")
        except NotFound:
            continue
        wire = answer.get(SINGULAR[kind])
        if isinstance(wire, dict) and wire.get("id") == object_id:
            found[object_id] = wire
    return found


def differences(
    intended: Any, stored: Any, fetch: Callable[[Any], bytes] | None = None
) -> list[str]:
    """The fields in which the ``stored`` object differs from the ``intended`` new one.

    ``fetch(media) -> bytes`` reads a stored image or video the server answers with a hosted
    URL, to compare it with the bytes the new input was made from.

    An input must match in full (media, concepts, metadata, geo, regions). For concepts, models
    and workflows a field the new object leaves unset (``None``: a concept's name, a model's
    type, a node's model version) is the server's to fill, so any stored value matches it.
    Server-owned fields (status, times) and lists' order of concepts and regions do not count;
    the order of a workflow's nodes does.
    """
    if isinstance(intended, Input):
        return [
            name
            for name, same_value in (
                ("image", _same_media(intended.image, stored.image, fetch)),
                ("video", _same_media(intended.video, stored.video, fetch)),
                ("concepts", _by_id(intended.concepts) == _by_id(stored.concepts)),
                ("metadata", same(dict(intended.metadata), dict(stored.metadata))),
                ("geo", intended.geo == stored.geo),
                ("regions", _by_id(intended.regions) == _by_id(stored.regions)),
            )
            if not same_value
        ]
    return [
        field.name
        for field in attrs.fields(type(intended))
        if field.eq
        and not field.name.startswith("_")
        and not _matches(
            getattr(intended, field.name), getattr(stored, field.name), field.name == "nodes"
        )
    ]


def _same_media(intended: Any, stored: Any, fetch: Callable[[Any], bytes] | None = None) -> bool:
    if intended is None or stored is None:
        return intended is stored
    if intended.base64 is not None and stored.base64 is None and stored.url and fetch:
        # made from bytes, answered with its hosted URL (as the real service does): read them
        try:
            same_bytes = fetch(stored) == intended.base64
        except ClarimapError:
            return False
        return same_bytes and getattr(intended, "crop", None) == getattr(stored, "crop", None)
    return bool(
        intended.url == stored.url
        and intended.base64 == stored.base64
        and getattr(intended, "crop", None) == getattr(stored, "crop", None)
    )


def _by_id(items: Iterable[Any]) -> dict[str, Any]:
    return {item.id: item for item in items}


def _matches(intended: Any, stored: Any, ordered: bool = False) -> bool:
    if intended is None:
        return True
    if isinstance(intended, (list, tuple)):
        if not isinstance(stored, (list, tuple)) or len(intended) != len(stored):
            return False
        if ordered or not all(hasattr(item, "id") for item in intended):
            return all(_matches(a, b) for a, b in zip(intended, stored, strict=True))
        by_id = _by_id(stored)
        return all(item.id in by_id and _matches(item, by_id[item.id]) for item in intended)
    if isinstance(intended, dict):
        return isinstance(stored, dict) and same(dict(intended), dict(stored))
    if attrs.has(type(intended)):
        return type(stored) is type(intended) and all(
            _matches(getattr(intended, f.name), getattr(stored, f.name), f.name == "nodes")
            for f in attrs.fields(type(intended))
            if f.eq and not f.name.startswith("_")
        )
    return same(intended, stored)


# -- applying a part to a snapshot ---------------------------------------------------------------


def _applier(kind: type, action: str, item: JSON, current: JSON) -> Callable[[JSON], JSON]:
    """What applying ``item`` with ``action`` makes of a snapshot (for partly failed flushes)."""

    def apply(snapshot: JSON) -> JSON:
        if kind is not Input:
            # Concepts and models get one action each, or concept removes/merges that only
            # apply in full: their applied state is the state sent.
            return copy.deepcopy(current)
        result = copy.deepcopy(snapshot)
        data = result.setdefault("data", {})
        patch = item.get("data") or {}
        if action == "overwrite":
            media = {key: data[key] for key in ("image", "video") if key in data}
            result["data"] = {**media, **copy.deepcopy(patch)}
        elif action == "remove":
            for field in ("concepts", "regions"):
                gone = {entry["id"] for entry in patch.get(field) or []}
                if gone:
                    data[field] = [e for e in data.get(field) or [] if e["id"] not in gone]
                    if not data[field]:
                        del data[field]
            if "metadata" in patch:
                data["metadata"] = _remove_tree(data.get("metadata") or {}, patch["metadata"])
                if not data["metadata"]:
                    del data["metadata"]
        else:
            for field in ("concepts", "regions"):
                if field in patch:
                    by_id = {entry["id"]: entry for entry in patch[field]}
                    merged = [by_id.pop(e["id"], e) for e in data.get(field) or []]
                    data[field] = merged + list(by_id.values())
            if "metadata" in patch:
                data["metadata"] = _merge_tree(data.get("metadata") or {}, patch["metadata"])
            if "geo" in patch:
                data["geo"] = copy.deepcopy(patch["geo"])
        return result

    return apply


def _remove_tree(target: JSON, tree: JSON) -> JSON:
    result = dict(target)
    for key, value in tree.items():
        if value is True:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _remove_tree(result[key], value)
    return result


def _merge_tree(target: JSON, tree: JSON) -> JSON:
    result = dict(target)
    for key, value in tree.items():
        if isinstance(value, dict) and value and isinstance(result.get(key), dict):
            result[key] = _merge_tree(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- helpers ------------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """JSON equality that tells booleans from numbers (``True != 1.0`` here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return (bool(a == b) and type(a) is type(b)) or (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
    )


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_null(item) for item in value)
    return False


def _has_list(item: JSON) -> bool:
    metadata = (item.get("data") or {}).get("metadata")

    def walk(value: Any) -> bool:
        if isinstance(value, list):
            return bool(value)
        if isinstance(value, dict):
            return any(walk(v) for v in value.values())
        return False

    return walk(metadata)


def _delete_part(entity: Any) -> Part:
    return Part(entity, {"id": entity.id})


def _chunks(parts: list[Part], size: int) -> list[list[Part]]:
    return [parts[start : start + size] for start in range(0, len(parts), size)]


def _status_from(value: Any) -> Status | None:
    if not isinstance(value, dict) or "code" not in value:
        return None
    try:
        code = int(value["code"])
    except (TypeError, ValueError):
        return None
    return Status(code, str(value.get("description") or ""), str(value.get("details") or ""))


def _status_of(error: ApiError) -> Status:
    return Status(error.code, error.description, error.details)
