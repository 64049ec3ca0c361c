"""Routes: models and model versions (wire reference, section 5, endpoints 1-8 and 11-13).

A private model is a row of ``models`` (``body`` holds its JSON settings: ``model_type_id``,
``output_config``, ``display_name``, ``description``, ``notes``, ``metadata``; ``concepts`` its
concept ids as a sorted JSON list) with its versions in ``model_versions``. The public models
(:mod:`clarimap.server.public_models`) are not stored: they are listed and read from every app
and cannot be changed.

A version's JSON is ``id``, ``created_at`` and ``status`` from the columns of its row, plus every
key of its ``body`` JSON that does not start with ``_`` (``active_concept_count``,
``total_input_count``, ``metrics``, ``completed_at`` ... written by the training code).

The helpers :func:`find_model`, :func:`require_model`, :func:`model_json` and
:func:`version_json` are used by the predict and train routes and the workflow routes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from clarimap.server import status
from clarimap.server._handlers import (
    Items,
    check_body_id,
    check_id,
    ids_to_delete,
    page_slice,
    request_app_pk,
    require_object,
    require_writable,
    search_pagination,
    wildcard_matcher,
)
from clarimap.server.api_concepts import concepts_by_id, ensure_concepts
from clarimap.server.errors import ApiError
from clarimap.server.public_models import (
    PUBLIC_APP_ID,
    PUBLIC_CREATED_AT,
    PUBLIC_MODELS,
    PUBLIC_USER_ID,
    PublicModel,
    public_model,
)
from clarimap.server.routing import AppRef, RequestContext, routes
from clarimap.server.schema import (
    BOOL,
    MODEL,
    PAGINATION,
    STR,
    Obj,
    request,
)
from clarimap.server.store import new_id, now

if TYPE_CHECKING:
    from clarimap.server.app import ServerApp

log = logging.getLogger("clarimap.server.models")

MAX_BATCH = 128
LEGACY_MODEL_TYPE_ID = "embedding-classifier"
OUTPUT_INFO_MESSAGE = "Show output_info with: GET /models/{model_id}/output_info"

# model_type_id -> the legacy (type, type_ext) pair 2.6.2 reads
LEGACY_TYPES: dict[str, tuple[str, str]] = {
    "embedding-classifier": ("concept", "concept"),
    "visual-classifier": ("concept", "concept"),
    "text-classifier": ("concept", "concept"),
    "visual-detector": ("detect", "detect-concept"),
    "visual-embedder": ("embed", "embed"),
    "clusterer": ("cluster", "cluster"),
    "visual-segmenter": ("segment", "segment"),
}

# output_config fields always shown (section 1: "always show"), with their defaults
CONFIG_DEFAULTS: dict[str, Any] = {
    "concepts_mutually_exclusive": False,
    "closed_environment": False,
    "max_concepts": 0,
    "min_value": 0.0,
}

# fields of a Model a PATCH may change; the read-only ones below are accepted and ignored
PATCHABLE_TEXT = ("name", "display_name", "description", "notes")
READ_ONLY_FIELDS = frozenset(
    {
        "created_at",
        "modified_at",
        "app_id",
        "user_id",
        "model_version",
        "visibility",
        "toolkits",
        "use_cases",
        "languages",
        "input_info",
        "train_info",
        "import_info",
        "default_eval_info",
        "workflow_recommended",
        "is_starred",
        "star_count",
    }
)

CREATE_MODEL = request(model=MODEL, models=Items(MODEL))
PATCH_MODELS = request(action=STR, models=Items(MODEL, max_items=MAX_BATCH))
DELETE_MODELS = request(ids=Items(STR, max_items=MAX_BATCH), delete_all=BOOL)
DELETE_ONE = request(model_id=STR, version_id=STR)
MODEL_QUERY = Obj(name=STR, type=STR, model_type_id=STR)
SEARCH_MODELS = request(model_query=MODEL_QUERY, pagination=PAGINATION)

_CODE = status.MODEL_INVALID_ARGUMENT


# ---------------------------------------------------------------------------------------------
# the model record and its JSON


@attrs.frozen
class ModelRecord:
    """A model as the server knows it: a row of ``models``, or a public model."""

    id: str
    name: str
    app: AppRef
    app_pk: int | None  # None for a public model
    created_at: str
    modified_at: str
    body: dict[str, Any]
    concept_ids: tuple[str, ...]
    public: PublicModel | None = None

    @property
    def model_type_id(self) -> str:
        return str(self.body.get("model_type_id") or LEGACY_MODEL_TYPE_ID)

    @property
    def legacy_type(self) -> tuple[str, str]:
        if self.public is not None:
            return self.public.type, self.public.type_ext
        return LEGACY_TYPES.get(self.model_type_id, ("concept", "concept"))

    @property
    def output_config(self) -> dict[str, Any]:
        return {**CONFIG_DEFAULTS, **(self.body.get("output_config") or {})}


def _record_from_row(row: sqlite3.Row, app: AppRef) -> ModelRecord:
    return ModelRecord(
        id=row["id"],
        name=row["name"],
        app=app,
        app_pk=row["app"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
        body=json.loads(row["body"]),
        concept_ids=tuple(json.loads(row["concepts"])),
    )


def _public_record(model: PublicModel) -> ModelRecord:
    return ModelRecord(
        id=model.id,
        name=model.name,
        app=AppRef(PUBLIC_USER_ID, PUBLIC_APP_ID),
        app_pk=None,
        created_at=PUBLIC_CREATED_AT,
        modified_at=PUBLIC_CREATED_AT,
        body={"model_type_id": model.model_type_id, "display_name": model.display_name},
        concept_ids=(),
        public=model,
    )


def find_model(
    connection: sqlite3.Connection, app_pk: int, app: AppRef, model_id: str
) -> ModelRecord | None:
    """The model ``model_id`` of the app, else the public model with that id, else None."""
    row = connection.execute(
        "SELECT * FROM models WHERE app = ? AND id = ?", (app_pk, model_id)
    ).fetchone()
    if row is not None:
        return _record_from_row(row, app)
    public = public_model(model_id)
    return _public_record(public) if public is not None else None


def _missing_model(model_id: str, app: AppRef) -> ApiError:
    return ApiError(
        status.MODEL_DOES_NOT_EXIST,
        f"model {model_id!r} does not exist in app {app.user_id}/{app.app_id} "
        "nor among the public models",
    )


def require_model(
    ctx: RequestContext, connection: sqlite3.Connection, model_id: str
) -> ModelRecord:
    """The model ``model_id`` reachable from the request's app; 404 + 21200 if there is none."""
    app_pk = request_app_pk(ctx)
    record = find_model(connection, app_pk, ctx.app, model_id)
    if record is None:
        raise _missing_model(model_id, ctx.app)
    return record


def _public_version(model: PublicModel) -> dict[str, Any]:
    return {
        "id": model.version_id,
        "created_at": PUBLIC_CREATED_AT,
        "status": status.envelope(status.MODEL_TRAINED),
    }


def version_json(row: sqlite3.Row) -> dict[str, Any]:
    """The wire JSON of a ``model_versions`` row."""
    version: dict[str, Any] = {
        "id": row["id"],
        "created_at": row["created_at"],
        "status": status.envelope(row["status_code"], row["status_details"] or ""),
    }
    extra = json.loads(row["body"] or "{}")
    version.update({key: value for key, value in extra.items() if not key.startswith("_")})
    return version


def model_versions(connection: sqlite3.Connection, record: ModelRecord) -> list[dict[str, Any]]:
    """Every version of a model as wire JSON, newest first."""
    if record.public is not None:
        return [_public_version(record.public)]
    rows = connection.execute(
        "SELECT * FROM model_versions WHERE app = ? AND model_id = ? ORDER BY seq DESC",
        (record.app_pk, record.id),
    ).fetchall()
    return [version_json(row) for row in rows]


def find_version(
    connection: sqlite3.Connection, record: ModelRecord, version_id: str | None = None
) -> dict[str, Any]:
    """The version ``version_id`` of a model (the newest when None); 404 + 21200 if missing."""
    if record.public is not None:
        version = _public_version(record.public)
        if version_id and version_id != version["id"]:
            raise _missing_version(record, version_id)
        return version
    if version_id:
        row = connection.execute(
            "SELECT * FROM model_versions WHERE app = ? AND model_id = ? AND id = ?",
            (record.app_pk, record.id, version_id),
        ).fetchone()
    else:
        row = connection.execute(
            "SELECT * FROM model_versions WHERE app = ? AND model_id = ? ORDER BY seq DESC LIMIT 1",
            (record.app_pk, record.id),
        ).fetchone()
    if row is None:
        if version_id:
            raise _missing_version(record, version_id)
        raise ApiError(status.MODEL_DOES_NOT_EXIST, f"model {record.id!r} has no version")
    return version_json(row)


def _missing_version(record: ModelRecord, version_id: str) -> ApiError:
    return ApiError(
        status.MODEL_DOES_NOT_EXIST,
        f"model {record.id!r} has no version {version_id!r}",
    )


def model_concepts(
    connection: sqlite3.Connection, record: ModelRecord, server: ServerApp | None = None
) -> list[dict[str, Any]]:
    """The concepts of a model as wire JSON, sorted by id.

    A public model's concepts are those of the runnable model the server's zoo holds for its id
    (:mod:`clarimap.server.modelzoo`); a public model the zoo lacks lists none.
    """
    if record.public is not None:
        return [
            {
                "id": concept["id"],
                "name": concept.get("name") or concept["id"],
                "value": 1.0,
                "created_at": PUBLIC_CREATED_AT,
                "language": "en",
                "app_id": PUBLIC_APP_ID,
            }
            for concept in sorted(_zoo_concepts(server, record.id), key=lambda c: c["id"])
        ]
    assert record.app_pk is not None
    return concepts_by_id(connection, record.app_pk, record.app.app_id, record.concept_ids)


def _zoo_concepts(server: ServerApp | None, model_id: str) -> list[dict[str, str]]:
    if server is None:
        return []
    from clarimap.server.modelzoo import zoo_for  # the zoo imports the imaging stack

    zoo = zoo_for(server)
    if model_id not in zoo:
        return []
    try:
        runnable = zoo.get(model_id)
    except Exception:  # a model whose weights fail to load lists no concepts; predict says why
        log.warning("model %s of the zoo failed to load", model_id, exc_info=True)
        return []
    return list(runnable.concepts) if runnable is not None else []


def model_json(
    record: ModelRecord,
    version: dict[str, Any],
    concepts: list[dict[str, Any]] | None = None,
    *,
    always_data: bool = False,
) -> dict[str, Any]:
    """The wire JSON of a model with ``version`` as its ``model_version``.

    ``concepts`` (when given) goes to ``output_info.data.concepts``; an empty list leaves
    ``data`` out unless ``always_data`` (the ``/output_info`` routes always show the list).
    """
    legacy_type, legacy_type_ext = record.legacy_type
    output_info: dict[str, Any] = {}
    if concepts or (always_data and concepts is not None):
        output_info["data"] = {"concepts": concepts}
    output_info["output_config"] = record.output_config
    output_info["message"] = OUTPUT_INFO_MESSAGE
    output_info["type"] = legacy_type
    output_info["type_ext"] = legacy_type_ext
    model: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
        "app_id": record.app.app_id,
        "user_id": record.app.user_id,
        "model_type_id": record.model_type_id,
        "output_info": output_info,
        "model_version": version,
    }
    for key in ("display_name", "description", "notes", "metadata"):
        if record.body.get(key) not in (None, ""):
            model[key] = record.body[key]
    return model


# ---------------------------------------------------------------------------------------------
# reading


def _all_models(
    ctx: RequestContext, connection: sqlite3.Connection, app_pk: int
) -> list[ModelRecord]:
    """The app's models in creation order, then the public ones."""
    rows = connection.execute(
        "SELECT * FROM models WHERE app = ? ORDER BY rowid", (app_pk,)
    ).fetchall()
    return [_record_from_row(row, ctx.app) for row in rows] + [
        _public_record(model) for model in PUBLIC_MODELS
    ]


def _filter_models(
    records: Iterable[ModelRecord],
    name: str | None = None,
    legacy_type: str | None = None,
    model_type_id: str | None = None,
) -> list[ModelRecord]:
    matches = wildcard_matcher(name)
    return [
        record
        for record in records
        if (matches(record.name) or (name and matches(str(record.body.get("display_name") or ""))))
        and (not legacy_type or legacy_type in record.legacy_type)
        and (not model_type_id or model_type_id == record.model_type_id)
    ]


def _listing(
    ctx: RequestContext, connection: sqlite3.Connection, records: list[ModelRecord]
) -> list[dict[str, Any]]:
    return [model_json(record, find_version(connection, record)) for record in records]


@routes.get("models")
def list_models(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/models?page&per_page``: the app's models and the public ones."""
    page, per_page = ctx.page()
    app_pk = request_app_pk(ctx)
    with ctx.store.read() as connection:
        records = _filter_models(
            _all_models(ctx, connection, app_pk),
            name=ctx.query.get("name"),
            model_type_id=ctx.query.get("model_type_id"),
        )
        return {"models": _listing(ctx, connection, page_slice(records, page, per_page))}


@routes.get("users/{user_id}/models", app_scoped=False)
def list_user_models(ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/users/{user_id}/models?page&per_page``: the models of every app of the user
    (apps in creation order, each app's models in creation order), then the public ones."""
    page, per_page = ctx.page()
    user_id = ctx.app.user_id
    with ctx.store.read() as connection:
        rows = connection.execute(
            "SELECT m.*, a.app_id AS owner_app_id FROM models m JOIN apps a ON a.pk = m.app "
            "WHERE a.user_id = ? ORDER BY a.pk, m.rowid",
            (user_id,),
        ).fetchall()
        records = [_record_from_row(row, AppRef(user_id, row["owner_app_id"])) for row in rows]
        records += [_public_record(model) for model in PUBLIC_MODELS]
        records = _filter_models(
            records, name=ctx.query.get("name"), model_type_id=ctx.query.get("model_type_id")
        )
        return {"models": _listing(ctx, connection, page_slice(records, page, per_page))}


@routes.post("models/searches")
def search_models(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/models/searches``: models by name (``*`` wildcards), ``type``, ``model_type_id``."""
    body = ctx.body(SEARCH_MODELS, code=status.MODEL_INVALID_REQUEST)
    query = body.get("model_query") or {}
    page, per_page = search_pagination(body)
    app_pk = request_app_pk(ctx)
    with ctx.store.read() as connection:
        records = _filter_models(
            _all_models(ctx, connection, app_pk),
            name=query.get("name"),
            legacy_type=query.get("type"),
            model_type_id=query.get("model_type_id"),
        )
        return {"models": _listing(ctx, connection, page_slice(records, page, per_page))}


@routes.get("models/{model_id}")
def get_model(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """``GET /v2/models/{id}[?version_id=]``: one model with its concepts."""
    with ctx.store.read() as connection:
        record = require_model(ctx, connection, model_id)
        version = find_version(connection, record, ctx.query.get("version_id") or None)
        concepts = model_concepts(connection, record, ctx.server)
    return {"model": model_json(record, version, concepts)}


@routes.get("models/{model_id}/output_info")
def get_output_info(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """``GET /v2/models/{id}/output_info``: the model with its concept list, always."""
    return _output_info(ctx, model_id, None)


@routes.get("models/{model_id}/versions/{version_id}/output_info")
def get_version_output_info(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """``GET /v2/models/{id}/versions/{vid}/output_info``."""
    return _output_info(ctx, model_id, version_id)


def _output_info(ctx: RequestContext, model_id: str, version_id: str | None) -> dict[str, Any]:
    with ctx.store.read() as connection:
        record = require_model(ctx, connection, model_id)
        version = find_version(connection, record, version_id)
        concepts = model_concepts(connection, record, ctx.server)
    return {"model": model_json(record, version, concepts, always_data=True)}


@routes.get("models/{model_id}/versions")
def list_versions(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """``GET /v2/models/{id}/versions?page&per_page``: the versions, newest first."""
    page, per_page = ctx.page()
    with ctx.store.read() as connection:
        record = require_model(ctx, connection, model_id)
        versions = model_versions(connection, record)
    return {"model_versions": page_slice(versions, page, per_page)}


@routes.get("models/{model_id}/versions/{version_id}")
def get_version(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """``GET /v2/models/{id}/versions/{vid}``: one version (not necessarily the newest)."""
    with ctx.store.read() as connection:
        record = require_model(ctx, connection, model_id)
        version = find_version(connection, record, version_id)
    return {"model_version": version}


# ---------------------------------------------------------------------------------------------
# writing


def _refuse_public(record: ModelRecord, verb: str) -> None:
    if record.public is not None:
        raise ApiError(
            status.MODEL_PERMISSION_DENIED,
            f"model {record.id!r} ({record.name}) is a public model of "
            f"{PUBLIC_USER_ID}/{PUBLIC_APP_ID}; it cannot be {verb}",
        )


def _concept_ids(concepts: list[dict[str, Any]] | None, where: str) -> list[tuple[str, str | None]]:
    """``(id, name)`` of each concept in a request list, checked, without duplicates."""
    result: dict[str, str | None] = {}
    for index, item in enumerate(concepts or []):
        concept = require_object(item, f"{where}[{index}]", _CODE)
        cid = check_id(concept.get("id"), f"{where}[{index}].id", _CODE)
        result.setdefault(cid, concept.get("name") or None)
    return list(result.items())


def _clean_config(config: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """The output_config fields that were sent (nulls dropped), checked."""
    cleaned = {key: value for key, value in (config or {}).items() if value is not None}
    max_concepts = cleaned.get("max_concepts")
    if max_concepts is not None and max_concepts < 0:
        raise ApiError(_CODE, f"{where}.max_concepts: must be 0 or more, got {max_concepts}")
    min_value = cleaned.get("min_value")
    if min_value is not None and not 0 <= min_value <= 1:
        raise ApiError(_CODE, f"{where}.min_value: must be between 0 and 1, got {min_value}")
    return cleaned


@routes.post("models")
def create_model(ctx: RequestContext) -> dict[str, Any]:
    """``POST /v2/models``: a custom concept model with a fresh untrained version (21102)."""
    body = ctx.body(CREATE_MODEL, code=status.MODEL_INVALID_REQUEST)
    require_writable(ctx.app, status.MODEL_PERMISSION_DENIED)
    model = body.get("model")
    where = "model"
    if model is None and body.get("models"):
        if len(body["models"]) != 1:
            raise ApiError(_CODE, 'models: create one model a request (send it as "model")')
        model, where = body["models"][0], "models[0]"
    if not model:
        raise ApiError(_CODE, 'model: send the model to create, as {"model": {"id": ...}}')
    model_id = check_id(model.get("id"), f"{where}.id", _CODE)
    output_info = model.get("output_info") or {}
    concepts = _concept_ids(
        (output_info.get("data") or {}).get("concepts"), f"{where}.output_info.data.concepts"
    )
    config = _clean_config(output_info.get("output_config"), f"{where}.output_info.output_config")
    settings: dict[str, Any] = {
        "model_type_id": model.get("model_type_id") or LEGACY_MODEL_TYPE_ID,
        "output_config": config,
    }
    for key in ("display_name", "description", "notes", "metadata"):
        if model.get(key) not in (None, ""):
            settings[key] = model[key]
    name = model.get("name") or model.get("display_name") or model_id
    app_pk = request_app_pk(ctx)
    created_at = now()
    concept_ids = sorted(cid for cid, _ in concepts)
    with ctx.store.transaction() as connection:
        if find_model(connection, app_pk, ctx.app, model_id) is not None:
            raise ApiError(
                status.DATABASE_DUPLICATE_KEY,
                f"{where}.id: a model {model_id!r} already exists"
                + (" (a public model)" if public_model(model_id) else ""),
            )
        ensure_concepts(connection, app_pk, concepts)
        connection.execute(
            "INSERT INTO models (app, id, name, body, concepts, created_at, modified_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                app_pk,
                model_id,
                name,
                json.dumps(settings),
                json.dumps(concept_ids),
                created_at,
                created_at,
            ),
        )
        connection.execute(
            "INSERT INTO model_versions (app, model_id, id, seq, status_code, body, created_at) "
            "VALUES (?, ?, ?, 1, ?, '{}', ?)",
            (app_pk, model_id, new_id(), status.MODEL_UNTRAINED, created_at),
        )
        record = require_model(ctx, connection, model_id)
        answer = model_json(
            record, find_version(connection, record), model_concepts(connection, record)
        )
    return {"model": answer}


def patch_struct(old: dict[str, Any], patch: dict[str, Any], action: str) -> dict[str, Any]:
    """``old`` patched by ``patch`` under ``action`` (section 6's rules for JSON objects)."""
    if action == "overwrite":
        return dict(patch)
    result = dict(old)
    for key, value in patch.items():
        if value is None:
            continue
        if action == "remove":
            if value is True:
                result.pop(key, None)
            elif isinstance(value, dict) and value and isinstance(result.get(key), dict):
                result[key] = patch_struct(result[key], value, action)
            elif not (isinstance(value, dict) and not value):
                result[key] = value
        elif isinstance(value, dict) and value and isinstance(result.get(key), dict):
            result[key] = patch_struct(result[key], value, action)
        else:
            result[key] = value
    return result


def patch_model_state(state: dict[str, Any], patch: dict[str, Any], action: str) -> dict[str, Any]:
    """A model's patchable state after one PATCH item (section 6, models).

    ``state`` holds ``name``, ``display_name``, ``description``, ``notes``, ``metadata``,
    ``concepts`` (sorted ids) and ``output_config`` (the fields set). For every action, the
    text fields and output_config fields that are sent replace the old ones. Concepts:
    ``merge`` adds, ``remove`` deletes by id, ``overwrite`` replaces the list when
    ``output_info.data`` is sent (``{}`` clears it). Metadata follows the rules of
    :func:`patch_struct`.
    """
    result = dict(state)
    for key in PATCHABLE_TEXT:
        if patch.get(key):
            result[key] = patch[key]
    if patch.get("metadata") is not None:
        result["metadata"] = patch_struct(state.get("metadata") or {}, patch["metadata"], action)
    output_info = patch.get("output_info") or {}
    config = output_info.get("output_config")
    if config:
        result["output_config"] = {**state["output_config"], **config}
    data = output_info.get("data")
    sent = [concept["id"] for concept in (data or {}).get("concepts") or []]
    if action == "merge":
        result["concepts"] = sorted(set(state["concepts"]) | set(sent))
    elif action == "remove":
        result["concepts"] = sorted(set(state["concepts"]) - set(sent))
    elif "data" in output_info and data is not None:
        result["concepts"] = sorted(set(sent))
    return result


@routes.patch("models")
def patch_models(ctx: RequestContext) -> dict[str, Any]:
    """``PATCH /v2/models``: merge, remove or overwrite concepts, names and output_config."""
    body = ctx.body(PATCH_MODELS, code=status.MODEL_INVALID_REQUEST)
    require_writable(ctx.app, status.MODEL_PERMISSION_DENIED)
    action = body.get("action")
    if action not in ("merge", "remove", "overwrite"):
        raise ApiError(_CODE, f"action: expected 'merge', 'remove' or 'overwrite', got {action!r}")
    patches = body.get("models")
    if not patches:
        raise ApiError(_CODE, 'models: send the models to patch, as [{"id": ..., ...}]')
    seen: set[str] = set()
    for index, patch in enumerate(patches):
        model_id = check_id(patch.get("id"), f"models[{index}].id", _CODE)
        if model_id in seen:
            raise ApiError(_CODE, f"models[{index}].id: {model_id!r} appears twice in the request")
        seen.add(model_id)
        output_info = patch.get("output_info") or {}
        _concept_ids(
            (output_info.get("data") or {}).get("concepts"),
            f"models[{index}].output_info.data.concepts",
        )
        patch["output_info"] = {
            **output_info,
            **(
                {
                    "output_config": _clean_config(
                        output_info.get("output_config"),
                        f"models[{index}].output_info.output_config",
                    )
                }
                if "output_config" in output_info
                else {}
            ),
        }
    app_pk = request_app_pk(ctx)
    modified_at = now()
    answers = []
    with ctx.store.transaction() as connection:
        for index, patch in enumerate(patches):
            record = require_model(ctx, connection, patch["id"])
            _refuse_public(record, "patched")
            sent_type = patch.get("model_type_id")
            if sent_type and sent_type != record.model_type_id:
                raise ApiError(
                    _CODE,
                    f"models[{index}].model_type_id: a model's type cannot be changed "
                    f"({record.model_type_id!r} -> {sent_type!r}); create a new model",
                )
            state = {
                "name": record.name,
                **{
                    key: record.body.get(key)
                    for key in ("display_name", "description", "notes", "metadata")
                },
                "concepts": list(record.concept_ids),
                "output_config": dict(record.body.get("output_config") or {}),
            }
            new_state = patch_model_state(state, patch, action)
            data = (patch.get("output_info") or {}).get("data") or {}
            ensure_concepts(
                connection,
                app_pk,
                [
                    (c["id"], c.get("name"))
                    for c in data.get("concepts") or []
                    if c["id"] in new_state["concepts"]
                ],
            )
            settings = dict(record.body)
            settings["output_config"] = new_state["output_config"]
            for key in ("display_name", "description", "notes", "metadata"):
                if new_state.get(key) not in (None, ""):
                    settings[key] = new_state[key]
                else:
                    settings.pop(key, None)
            connection.execute(
                "UPDATE models SET name = ?, body = ?, concepts = ?, modified_at = ? "
                "WHERE app = ? AND id = ?",
                (
                    new_state["name"],
                    json.dumps(settings),
                    json.dumps(new_state["concepts"]),
                    modified_at,
                    app_pk,
                    record.id,
                ),
            )
            updated = require_model(ctx, connection, record.id)
            answers.append(
                model_json(
                    updated, find_version(connection, updated), model_concepts(connection, updated)
                )
            )
    return {"models": answers}


def _delete_models(connection: sqlite3.Connection, app_pk: int, model_ids: Iterable[str]) -> None:
    for model_id in model_ids:
        connection.execute(
            "DELETE FROM model_versions WHERE app = ? AND model_id = ?", (app_pk, model_id)
        )
        connection.execute("DELETE FROM models WHERE app = ? AND id = ?", (app_pk, model_id))


@routes.delete("models/{model_id}")
def delete_model(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """``DELETE /v2/models/{id}``: a private model and its versions."""
    body = ctx.body(DELETE_ONE, code=status.MODEL_INVALID_REQUEST)
    check_body_id(body, "model_id", model_id, _CODE)
    app_pk = request_app_pk(ctx)
    with ctx.store.transaction() as connection:
        record = require_model(ctx, connection, model_id)
        _refuse_public(record, "deleted")
        _delete_models(connection, app_pk, [model_id])
    return {}


@routes.delete("models")
def delete_models(ctx: RequestContext) -> dict[str, Any]:
    """``DELETE /v2/models``: the private models ``ids``, or all of them with ``delete_all``."""
    body = ctx.body(DELETE_MODELS, code=status.MODEL_INVALID_REQUEST)
    ids, delete_all = ids_to_delete(body, "models", _CODE)
    require_writable(ctx.app, status.MODEL_PERMISSION_DENIED)
    app_pk = request_app_pk(ctx)
    with ctx.store.transaction() as connection:
        if delete_all:
            ids = [
                row[0]
                for row in connection.execute("SELECT id FROM models WHERE app = ?", (app_pk,))
            ]
        else:
            for index, model_id in enumerate(ids):
                check_id(model_id, f"ids[{index}]", _CODE)
                record = require_model(ctx, connection, model_id)
                _refuse_public(record, "deleted")
        _delete_models(connection, app_pk, ids)
    return {}


@routes.delete("models/{model_id}/versions/{version_id}")
def delete_version(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """``DELETE /v2/models/{id}/versions/{vid}``: one version (a model keeps at least one)."""
    body = ctx.body(DELETE_ONE, code=status.MODEL_INVALID_REQUEST)
    check_body_id(body, "model_id", model_id, _CODE)
    check_body_id(body, "version_id", version_id, _CODE)
    with ctx.store.transaction() as connection:
        record = require_model(ctx, connection, model_id)
        _refuse_public(record, "changed")
        find_version(connection, record, version_id)
        count = connection.execute(
            "SELECT COUNT(*) FROM model_versions WHERE app = ? AND model_id = ?",
            (record.app_pk, model_id),
        ).fetchone()[0]
        if count <= 1:
            raise ApiError(
                _CODE,
                f"version {version_id!r} is the only version of model {model_id!r}; "
                "delete the model instead",
            )
        connection.execute(
            "DELETE FROM model_versions WHERE app = ? AND model_id = ? AND id = ?",
            (record.app_pk, model_id, version_id),
        )
    return {}
