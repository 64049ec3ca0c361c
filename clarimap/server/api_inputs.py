"""Routes: inputs (wire reference, section 5, endpoints 17-23; PATCH per section 6).

Batch calls answer one item per input sent, in the order sent: an item that fails keeps its slot
with its own status and an empty ``data``; the top-level status is ``10000`` when every item
succeeded, ``10010 Mixed Success`` (HTTP 200) when some failed and ``10020 Failure`` (HTTP 400)
when all did, with ``details`` naming the first failures.

Decisions where the reference leaves a choice:

* Input ids are 1-255 printable ASCII characters without ``/`` or whitespace. A bad id fails its
  item (``30104``); ``"id": ""`` is proto3 JSON's "no id", so the server makes one.
* Metadata is at most :data:`MAX_METADATA_BYTES` bytes as compact JSON, after a PATCH too.
* Uploaded bytes (``base64``) are checked when the inputs are created: bytes that are not base64,
  not an image Pillow recognises, or not a known video container fail their item at once
  (``30104``, ``30101``, ``31101``) and are not stored, as the real service rejects invalid
  bytes. URLs are downloaded by the processing that follows (:mod:`clarimap.server.processing`).
* With ``background=False`` the processing runs before the create call answers: the items then
  carry their final status, and an input whose download or decoding failed counts as a failed
  item (it stays stored, with its failure status, as on the real service).
* Inputs made from bytes answer, as the real service does, a hosted ``url`` where their bytes
  are served (``GET /v2/hosted/orig/{token}``, no key needed: the token is the secret; see
  :func:`hosted_media`) and the modern ``hosted`` object, not the bytes: a page of a hundred
  photos stays small. Inputs made from a URL answer that ``url``. Processed images add
  ``image_info`` (width, height, format), as the current API does.
* ``PATCH`` without ``inputs`` answers 400 (``39999``) saying so; an unknown id fails its item
  (``30102``). ``DELETE /v2/inputs`` with ids of which some are unknown deletes nothing and
  answers 404 (``30102``) listing them. ``GET /v2/inputs`` filters by ``status.code`` (number or
  enum name) but refuses the ``ids`` filter (400) rather than answer a partial list.

Other modules load stored inputs in their wire form with :func:`load_inputs`.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.patching import ACTIONS, apply_patch
from clarimap.server.processing import (
    SUCCESS_CODES,
    ProcessingError,
    check_video,
    identify_image,
    pending_code,
)
from clarimap.server.routing import Answer, RequestContext, routes
from clarimap.server.schema import (
    ADD_INPUTS_REQUEST,
    DELETE_INPUT_REQUEST,
    DELETE_INPUTS_REQUEST,
    MAX_INPUTS_A_REQUEST,
    PATCH_INPUTS_REQUEST,
)
from clarimap.server.store import index_input, new_id, now

MAX_METADATA_BYTES = 1024 * 1024
MAX_INPUT_ID_LENGTH = 255

# The keys of an input's data the local server stores (besides the asset, image or video).
DATA_KEYS = ("concepts", "metadata", "geo", "regions")
MEDIA_KINDS = ("image", "video")

_INPUT_COLUMNS = (
    "SELECT i.seq, i.id, i.kind, i.url, i.media, i.data, i.status_code, i.status_details, "
    "i.created_at, i.modified_at, i.hosted, "
    "b.width, b.height, b.format FROM inputs i LEFT JOIN input_blobs b ON b.seq = i.seq"
)

# Where the bytes of inputs made from bytes are served (see clarimap.server.app).
HOSTED_PATH = "/v2/hosted"

# Most ids the ids filter of GET /v2/inputs takes (the largest per_page).
_MAX_IDS_FILTER = 1000

# status.code filter values of GET /v2/inputs, by enum name (modern and 2.6.2 names).
_INPUT_STATUS_NAMES = {
    # Both spellings of the aliased enum: clarifai-grpc 12.x sends INPUT_SUCCESS...,
    # the 2.6.2-era proto (and Clarifai's older docs) INPUT_DOWNLOAD_SUCCESS...
    "INPUT_DOWNLOAD_SUCCESS": status.INPUT_DOWNLOAD_SUCCESS,
    "INPUT_DOWNLOAD_PENDING": status.INPUT_DOWNLOAD_PENDING,
    "INPUT_DOWNLOAD_FAILED": status.INPUT_DOWNLOAD_FAILED,
    "INPUT_DOWNLOAD_IN_PROGRESS": status.INPUT_DOWNLOAD_IN_PROGRESS,
    "INPUT_SUCCESS": status.INPUT_DOWNLOAD_SUCCESS,
    "INPUT_IMAGE_DOWNLOAD_SUCCESS": status.INPUT_DOWNLOAD_SUCCESS,
    "INPUT_PENDING": status.INPUT_DOWNLOAD_PENDING,
    "INPUT_IMAGE_DOWNLOAD_PENDING": status.INPUT_DOWNLOAD_PENDING,
    "INPUT_FAILED": status.INPUT_DOWNLOAD_FAILED,
    "INPUT_IMAGE_DOWNLOAD_FAILED": status.INPUT_DOWNLOAD_FAILED,
    "INPUT_IN_PROGRESS": status.INPUT_DOWNLOAD_IN_PROGRESS,
    "INPUT_IMAGE_DOWNLOAD_IN_PROGRESS": status.INPUT_DOWNLOAD_IN_PROGRESS,
    "INPUT_UNSUPPORTED_FORMAT": status.INPUT_UNSUPPORTED_FORMAT,
    "INPUT_IMAGE_UNSUPPORTED_FORMAT": status.INPUT_UNSUPPORTED_FORMAT,
    "INPUT_VIDEO_DOWNLOAD_SUCCESS": status.INPUT_VIDEO_DOWNLOAD_SUCCESS,
    "INPUT_VIDEO_DOWNLOAD_PENDING": status.INPUT_VIDEO_DOWNLOAD_PENDING,
    "INPUT_VIDEO_DOWNLOAD_FAILED": status.INPUT_VIDEO_DOWNLOAD_FAILED,
    "INPUT_VIDEO_UNSUPPORTED_FORMAT": status.INPUT_VIDEO_UNSUPPORTED_FORMAT,
}


class ItemError(Exception):
    """One item of a batch failed: its status ``code`` and ``details``."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@attrs.define
class _NewInput:
    """An input of a create request, checked and ready to insert."""

    index: int
    input_id: str
    kind: str
    url: str | None
    media: dict[str, Any]
    data: dict[str, Any]
    blob: bytes | None
    blob_format: str | None
    allow_duplicate_url: bool


# -- reading --------------------------------------------------------------------------------------


def load_inputs(connection: sqlite3.Connection, seqs: Sequence[int]) -> list[dict[str, Any]]:
    """The inputs with these ``inputs.seq`` values in their wire form, in that order (gone ones skipped)."""
    rows = _rows_by_seq(connection, seqs)
    return [render_input(rows[seq]) for seq in seqs if seq in rows]


def _rows_by_seq(connection: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, sqlite3.Row]:
    rows: dict[int, sqlite3.Row] = {}
    for chunk in _chunks(sorted(set(seqs)), 500):
        placeholders = ",".join("?" * len(chunk))
        for row in connection.execute(f"{_INPUT_COLUMNS} WHERE i.seq IN ({placeholders})", chunk):
            rows[int(row["seq"])] = row
    return rows


def render_input(row: sqlite3.Row, item_status: dict[str, object] | None = None) -> dict[str, Any]:
    """The wire form of a row selected with the input columns (``item_status`` replaces its own)."""
    media: dict[str, Any] = json.loads(row["media"])
    if row["hosted"] is not None:  # made from bytes: served from its hosted URL
        media.update(hosted_media(row["hosted"]))
    if row["kind"] == "image" and row["width"] is not None:
        media["image_info"] = {
            "width": row["width"],
            "height": row["height"],
            "format": row["format"] or "",
        }
    data: dict[str, Any] = {row["kind"]: media}
    for key, value in json.loads(row["data"]).items():
        if value != [] and value is not None:
            data[key] = value
    return {
        "id": row["id"],
        "data": data,
        "created_at": row["created_at"],
        "modified_at": row["modified_at"],
        "status": item_status
        or status.envelope(int(row["status_code"]), str(row["status_details"] or "")),
    }


def hosted_media(token: str) -> dict[str, Any]:
    """The ``url`` and ``hosted`` fields of an input made from bytes, on this request's server.

    The URL is absolute, built from the base URL of the request being answered
    (:func:`clarimap.server.app.request_base_url`): ``http://127.0.0.1:8080/v2/hosted/orig/{token}``
    over HTTP, ``local://photos.db/v2/hosted/orig/{token}`` in process. ``hosted`` is the modern
    API's form of the same (``prefix + "/" + size + "/" + suffix``).
    """
    from clarimap.server.app import request_base_url

    prefix = f"{request_base_url()}{HOSTED_PATH}"
    return {
        "url": f"{prefix}/orig/{token}",
        "hosted": {"prefix": prefix, "suffix": token, "sizes": ["orig"]},
    }


def is_hosted_url_of(url: str, row: sqlite3.Row) -> bool:
    """True when ``url`` is the hosted URL of the input in ``row`` (whatever server it names)."""
    token = row["hosted"]  # rows of the input columns (_INPUT_COLUMNS)
    return bool(token) and url.endswith(f"{HOSTED_PATH}/orig/{token}")


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _failed_slot(input_id: Any, code: int, details: str) -> dict[str, Any]:
    return {
        "id": input_id if isinstance(input_id, str) else "",
        "data": {},
        "status": status.envelope(code, details),
    }


def _batch_answer(items: list[dict[str, Any]], failures: list[str]) -> Answer:
    """The answer of a batch: 10000, 10010 (some failed) or 10020 (all failed)."""
    if not failures:
        return Answer({"status": status.envelope(status.SUCCESS), "inputs": items})
    code = status.FAILURE if len(failures) == len(items) else status.MIXED_STATUS
    shown = "; ".join(failures[:3]) + ("; ..." if len(failures) > 3 else "")
    details = f"{len(failures)} of {len(items)} inputs failed: {shown}"
    return Answer(
        {"status": status.envelope(code, details), "inputs": items}, status.http_status(code)
    )


# -- checks shared by create and patch ----------------------------------------------------------


def check_input_id(input_id: str) -> str | None:
    """What is wrong with ``input_id`` as an input id, or ``None`` when it is fine."""
    if not input_id:
        return "an input id cannot be empty"
    if len(input_id) > MAX_INPUT_ID_LENGTH:
        return f"an input id has at most {MAX_INPUT_ID_LENGTH} characters; this one has {len(input_id)}"
    if "/" in input_id:
        return f"an input id cannot contain '/': {input_id!r}"
    if not input_id.isascii():
        return f"an input id must be ASCII: {input_id!r}"
    if not input_id.isprintable() or any(c.isspace() for c in input_id):
        return f"an input id cannot contain whitespace or control characters: {input_id!r}"
    return None


def _normalize_concepts(concepts: Any, where: str) -> list[dict[str, Any]]:
    """Concepts with an id each, value 1.0 or 0.0 (missing = 1), one per id (the last one wins)."""
    result: list[dict[str, Any]] = []
    positions: dict[str, int] = {}
    for index, concept in enumerate(concepts or []):
        concept_id = concept.get("id") if isinstance(concept, dict) else None
        if not concept_id:
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT, f"{where}[{index}]: a concept needs an id"
            )
        value = concept.get("value")
        value = 1.0 if value is None else float(value)
        if value not in (0.0, 1.0):
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT,
                f"{where}[{index}].value: an input's concept value is 1 (positive) or 0 "
                f"(negative), got {value}",
            )
        normalized: dict[str, Any] = {"id": concept_id}
        if concept.get("name"):
            normalized["name"] = concept["name"]
        normalized["value"] = value
        if concept_id in positions:
            previous = result[positions[concept_id]]
            previous.update(normalized)
        else:
            positions[concept_id] = len(result)
            result.append(normalized)
    return result


def _normalize_regions(regions: Any) -> list[dict[str, Any]]:
    """Regions, each with an id (the server makes the missing ones)."""
    result: list[dict[str, Any]] = []
    for region in regions or []:
        region = dict(region)
        if not region.get("id"):
            region["id"] = new_id()
        result.append(region)
    return result


def _check_data(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Check stored data (metadata size, geo point, concept values); return it with geo filled."""
    metadata = data.get("metadata")
    if metadata is not None:
        size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_METADATA_BYTES:
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT,
                f"{where}.metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES} "
                "bytes (1 MiB) an input",
            )
    for index, concept in enumerate(data.get("concepts") or []):
        if not isinstance(concept, dict) or not concept.get("id"):
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT, f"{where}.concepts[{index}]: needs an id"
            )
        if float(concept.get("value", 1.0)) not in (0.0, 1.0):
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT,
                f"{where}.concepts[{index}].value: must be 1 or 0, got {concept.get('value')}",
            )
    geo = data.get("geo")
    if isinstance(geo, dict):
        extra = sorted(key for key, value in geo.items() if key != "geo_point" and value)
        if extra:
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT,
                f"{where}.geo: an input stores only a geo_point; {', '.join(extra)} belong in searches",
            )
        point = geo.get("geo_point")
        if isinstance(point, dict) and point:
            latitude = float(point.get("latitude") or 0.0)
            longitude = float(point.get("longitude") or 0.0)
            if not -90.0 <= latitude <= 90.0:
                raise ItemError(
                    status.INPUT_INVALID_ARGUMENT,
                    f"{where}.geo.geo_point.latitude must be between -90 and 90, got {latitude}",
                )
            if not -180.0 <= longitude <= 180.0:
                raise ItemError(
                    status.INPUT_INVALID_ARGUMENT,
                    f"{where}.geo.geo_point.longitude must be between -180 and 180, got {longitude}",
                )
            # proto3 JSON leaves out a coordinate of 0: store both.
            data = {**data, "geo": {"geo_point": {"longitude": longitude, "latitude": latitude}}}
    return data


def _ensure_concepts(
    connection: sqlite3.Connection, app_pk: int, concept_lists: Iterable[list[dict[str, Any]]]
) -> None:
    """Create the app's concepts these annotations name (if missing); fill in missing names."""
    lists = list(concept_lists)
    given: dict[str, str] = {}
    for concepts in lists:
        for concept in concepts:
            given.setdefault(concept["id"], concept.get("name") or concept["id"])
    if not given:
        return
    created = now()
    connection.executemany(
        "INSERT OR IGNORE INTO concepts (app, id, name, language, created_at) "
        "VALUES (?, ?, ?, 'en', ?)",
        [(app_pk, concept_id, name, created) for concept_id, name in given.items()],
    )
    names: dict[str, str] = {}
    for chunk in _chunks(list(given), 500):
        placeholders = ",".join("?" * len(chunk))
        for row in connection.execute(
            f"SELECT id, name FROM concepts WHERE app = ? AND id IN ({placeholders})",
            (app_pk, *chunk),
        ):
            names[row[0]] = row[1]
    for concepts in lists:
        for concept in concepts:
            if not concept.get("name"):
                concept["name"] = names.get(concept["id"], concept["id"])
            # Keep the key order id, name, value.
            value = concept.pop("value", 1.0)
            concept["value"] = value


def _decode_base64(text: str, where: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        if "-" in cleaned or "_" in cleaned:
            cleaned = cleaned.replace("-", "+").replace("_", "/")
        cleaned += "=" * (-len(cleaned) % 4)
        decoded = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT, f"{where} is not valid base64: {error}"
        ) from None
    if not decoded:
        raise ItemError(status.INPUT_INVALID_ARGUMENT, f"{where} holds no bytes")
    return decoded


# -- create ----------------------------------------------------------------------------------------


def _prepare_new_input(item: dict[str, Any] | None, index: int) -> _NewInput:
    where = f"inputs[{index}]"
    if item is None:
        raise ItemError(status.INPUT_INVALID_ARGUMENT, f"{where} is null, not an input")
    input_id = item.get("id") or new_id()
    problem = check_input_id(input_id)
    if problem:
        raise ItemError(status.INPUT_INVALID_ARGUMENT, f"{where}.id: {problem}")
    data = item.get("data") or {}
    unsupported = sorted(
        key
        for key, value in data.items()
        if key not in DATA_KEYS and key not in MEDIA_KINDS and value not in (None, [], {}, "")
    )
    if unsupported:
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT,
            f"{where}.data: the local server stores image and video inputs with concepts, "
            f"metadata, geo and regions; {', '.join(unsupported)} is not supported",
        )
    kinds = [kind for kind in MEDIA_KINDS if data.get(kind)]
    if len(kinds) != 1:
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT,
            f"{where}.data needs exactly one of image or video (with a url or base64), got "
            f"{' and '.join(kinds) or 'neither'}",
        )
    kind = kinds[0]
    sent_media: dict[str, Any] = data[kind]
    url = sent_media.get("url") or None
    encoded = sent_media.get("base64") or None
    if (url is None) == (encoded is None):
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT,
            f"{where}.data.{kind} needs exactly one of url or base64, got "
            f"{'both' if url else 'neither'}",
        )
    media: dict[str, Any] = {}
    if url is not None:
        media["url"] = url
    crop = sent_media.get("crop")
    if kind == "image" and crop:
        if (
            len(crop) != 4
            or not all(isinstance(value, (int, float)) and 0.0 <= value <= 1.0 for value in crop)
            or crop[0] >= crop[2]
            or crop[1] >= crop[3]
        ):
            raise ItemError(
                status.INPUT_INVALID_ARGUMENT,
                f"{where}.data.image.crop must be [top, left, bottom, right], fractions in [0, 1] "
                f"with top < bottom and left < right, got {crop}",
            )
        media["crop"] = [float(value) for value in crop]
    blob: bytes | None = None
    blob_format: str | None = None
    if encoded is not None:
        blob = _decode_base64(encoded, f"{where}.data.{kind}.base64")
        try:
            blob_format = check_video(blob) if kind == "video" else identify_image(blob)
        except ProcessingError as error:
            raise ItemError(error.code, f"{where}.data.{kind}.base64: {error.details}") from None
    stored: dict[str, Any] = {}
    concepts = _normalize_concepts(data.get("concepts"), f"{where}.data.concepts")
    if concepts:
        stored["concepts"] = concepts
    if data.get("metadata") is not None:
        stored["metadata"] = data["metadata"]
    if data.get("geo"):
        stored["geo"] = data["geo"]
    regions = _normalize_regions(data.get("regions"))
    if regions:
        stored["regions"] = regions
    stored = _check_data(stored, f"{where}.data")
    return _NewInput(
        index=index,
        input_id=input_id,
        kind=kind,
        url=url,
        media=media,
        data=stored,
        blob=blob,
        blob_format=blob_format,
        allow_duplicate_url=bool(sent_media.get("allow_duplicate_url")),
    )


def _find_duplicates(
    connection: sqlite3.Connection, app_pk: int, prepared: list[_NewInput]
) -> dict[int, ItemError]:
    """The items that repeat an id or URL already in the app or earlier in the request."""
    ids = [item.input_id for item in prepared]
    urls = [item.url for item in prepared if item.url is not None]
    existing_ids: set[str] = set()
    existing_urls: dict[str, str] = {}
    if ids:
        placeholders = ",".join("?" * len(ids))
        existing_ids = {
            row[0]
            for row in connection.execute(
                f"SELECT id FROM inputs WHERE app = ? AND id IN ({placeholders})", (app_pk, *ids)
            )
        }
    if urls:
        placeholders = ",".join("?" * len(urls))
        for row in connection.execute(
            f"SELECT url, id FROM inputs WHERE app = ? AND url IN ({placeholders})", (app_pk, *urls)
        ):
            existing_urls.setdefault(row[0], row[1])
    errors: dict[int, ItemError] = {}
    seen_ids: dict[str, int] = {}
    seen_urls: dict[str, int] = {}
    for item in prepared:
        where = f"inputs[{item.index}]"
        if item.input_id in existing_ids:
            errors[item.index] = ItemError(
                status.INPUT_DUPLICATE,
                f"{where}.id: an input with id {item.input_id!r} already exists in the app",
            )
            continue
        if item.input_id in seen_ids:
            errors[item.index] = ItemError(
                status.INPUT_DUPLICATE,
                f"{where}.id: id {item.input_id!r} is also given to inputs[{seen_ids[item.input_id]}] "
                "of this request",
            )
            continue
        if item.url is not None and not item.allow_duplicate_url:
            if item.url in existing_urls:
                errors[item.index] = ItemError(
                    status.INPUT_DUPLICATE,
                    f"{where}.data.{item.kind}.url: input {existing_urls[item.url]!r} already has "
                    f"the URL {item.url}; set allow_duplicate_url to add it again",
                )
                continue
            if item.url in seen_urls:
                errors[item.index] = ItemError(
                    status.INPUT_DUPLICATE,
                    f"{where}.data.{item.kind}.url: inputs[{seen_urls[item.url]}] of this request "
                    f"has the same URL {item.url}; set allow_duplicate_url to add it twice",
                )
                continue
        seen_ids[item.input_id] = item.index
        if item.url is not None:
            seen_urls.setdefault(item.url, item.index)
    return errors


@routes.post("inputs")
def add_inputs(ctx: RequestContext) -> Answer:
    """``POST /v2/inputs``: create up to 128 inputs; each is processed after it is stored."""
    body = ctx.body(ADD_INPUTS_REQUEST)
    items: list[dict[str, Any]] = body.get("inputs") or []
    if not items:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            f'no inputs to add: send {{"inputs": [...]}} with 1 to {MAX_INPUTS_A_REQUEST} inputs',
        )
    server = ctx.server
    server.processor.start()
    outcomes: list[_NewInput | ItemError] = []
    for index, item in enumerate(items):
        try:
            outcomes.append(_prepare_new_input(item, index))
        except ItemError as error:
            outcomes.append(error)
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    seqs: dict[int, int] = {}
    with ctx.store.transaction() as connection:
        prepared = [outcome for outcome in outcomes if isinstance(outcome, _NewInput)]
        duplicates = _find_duplicates(connection, app_pk, prepared)
        for index, duplicate in duplicates.items():
            outcomes[index] = duplicate
        accepted = [item for item in prepared if item.index not in duplicates]
        _ensure_concepts(connection, app_pk, (item.data.get("concepts", []) for item in accepted))
        created = now()
        for new_input in accepted:
            cursor = connection.execute(
                "INSERT INTO inputs (app, id, kind, url, media, data, status_code, status_details, "
                "created_at, modified_at, hosted) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
                (
                    app_pk,
                    new_input.input_id,
                    new_input.kind,
                    new_input.url,
                    json.dumps(new_input.media, ensure_ascii=False),
                    json.dumps(new_input.data, ensure_ascii=False),
                    pending_code(new_input.kind),
                    created,
                    created,
                    new_id() if new_input.url is None else None,
                ),
            )
            seq = int(cursor.lastrowid or 0)
            seqs[new_input.index] = seq
            if new_input.blob is not None:
                connection.execute(
                    "INSERT INTO input_blobs (seq, bytes, format) VALUES (?, ?, ?)",
                    (seq, new_input.blob, new_input.blob_format),
                )
            index_input(connection, seq, app_pk, new_input.data)
    server.processor.submit(seqs[index] for index in sorted(seqs))
    with ctx.store.read() as connection:
        rows = _rows_by_seq(connection, seqs.values())
    answered: list[dict[str, Any]] = []
    failures: list[str] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ItemError):
            sent_id = (items[index] or {}).get("id")
            answered.append(_failed_slot(sent_id, outcome.code, outcome.details))
            failures.append(outcome.details)
            continue
        row = rows.get(seqs[index])
        if row is None:  # deleted by another request in between
            answered.append(_failed_slot(outcome.input_id, status.INPUT_DOES_NOT_EXIST, ""))
            failures.append(f"inputs[{index}] was deleted while it was being created")
            continue
        rendered = render_input(row)
        answered.append(rendered)
        code = int(rendered["status"]["code"])
        if not server.processor.background and code not in SUCCESS_CODES:
            failures.append(
                f"inputs[{index}] (id {outcome.input_id!r}): {rendered['status']['description']}"
                + (
                    f": {rendered['status']['details']}"
                    if rendered["status"].get("details")
                    else ""
                )
            )
    return _batch_answer(answered, failures)


# -- read ------------------------------------------------------------------------------------------


def input_status_code(value: str) -> int | None:
    """An input status code given as a number or an enum name (``30000``, ``INPUT_SUCCESS``).

    None when ``value`` is neither. Also used by the search filter on input status.
    """
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return _INPUT_STATUS_NAMES.get(text.upper())


def _status_filter(value: str) -> int:
    code = input_status_code(value)
    if code is None:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            f"status.code {value!r} is not an input status code or name "
            f"(e.g. 30000 or INPUT_SUCCESS)",
        )
    return code


@routes.get("inputs")
def list_inputs(ctx: RequestContext) -> Answer:
    """``GET /v2/inputs?page&per_page[&status.code][&ids...]``: the app's inputs in creation order."""
    ctx.server.processor.start()
    page, per_page = ctx.page()
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    conditions = "i.app = ?"
    parameters: list[Any] = [app_pk]
    # ``ids=a&ids=b`` (repeated, as clarifai-grpc's JSON channel sends a repeated field): only
    # those inputs, still in creation order and paged.
    ids = [value for value in ctx.query_values("ids") if value]
    if ids:
        if len(ids) > _MAX_IDS_FILTER:
            raise ApiError(
                status.INPUT_INVALID_REQUEST,
                f"the ids filter takes at most {_MAX_IDS_FILTER} ids, got {len(ids)}",
            )
        conditions += f" AND i.id IN ({', '.join('?' * len(ids))})"
        parameters.extend(ids)
    status_text = ctx.query.get("status.code")
    if status_text:
        conditions += " AND i.status_code = ?"
        parameters.append(_status_filter(status_text))
    with ctx.store.read() as connection:
        rows = connection.execute(
            f"{_INPUT_COLUMNS} WHERE {conditions} ORDER BY i.seq LIMIT ? OFFSET ?",
            (*parameters, per_page, (page - 1) * per_page),
        ).fetchall()
    return Answer(
        {"status": status.envelope(status.SUCCESS), "inputs": [render_input(r) for r in rows]}
    )


@routes.get("inputs/status")
def input_counts(ctx: RequestContext) -> Answer:
    """``GET /v2/inputs/status``: how many inputs are processed, waiting, failed, in progress."""
    ctx.server.processor.start()
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    counts = {"processed": 0, "to_process": 0, "errors": 0, "processing": 0}
    with ctx.store.read() as connection:
        for code, count in connection.execute(
            "SELECT status_code, COUNT(*) FROM inputs WHERE app = ? GROUP BY status_code", (app_pk,)
        ):
            if code in SUCCESS_CODES:
                counts["processed"] += count
            elif code in (status.INPUT_DOWNLOAD_PENDING, status.INPUT_VIDEO_DOWNLOAD_PENDING):
                counts["to_process"] += count
            elif code == status.INPUT_DOWNLOAD_IN_PROGRESS:
                counts["processing"] += count
            else:
                counts["errors"] += count
    return Answer({"status": status.envelope(status.SUCCESS), "counts": counts})


def _input_not_found(input_id: str) -> ApiError:
    return ApiError(status.INPUT_DOES_NOT_EXIST, f"no input with id {input_id!r} in this app")


@routes.get("inputs/{input_id}")
def get_input(ctx: RequestContext, input_id: str) -> Answer:
    """``GET /v2/inputs/{id}``: one input; 404 + 30102 when the app has none with that id."""
    ctx.server.processor.start()
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.read() as connection:
        row = connection.execute(
            f"{_INPUT_COLUMNS} WHERE i.app = ? AND i.id = ?", (app_pk, input_id)
        ).fetchone()
    if row is None:
        raise _input_not_found(input_id)
    return Answer({"status": status.envelope(status.SUCCESS), "input": render_input(row)})


# -- patch -----------------------------------------------------------------------------------------


def _patched_data(
    connection: sqlite3.Connection, row: sqlite3.Row, action: str, item: dict[str, Any], where: str
) -> dict[str, Any]:
    """The data of stored input ``row`` after ``item``'s patch (checked; nothing written)."""
    patch = dict(item.get("data") or {})
    for kind in MEDIA_KINDS:
        sent = patch.pop(kind, None)
        if sent:
            _check_media_unchanged(connection, row, kind, sent, f"{where}.data.{kind}")
    unsupported = sorted(
        key for key, value in patch.items() if key not in DATA_KEYS and value not in (None, [], {})
    )
    if unsupported:
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT,
            f"{where}.data: {', '.join(unsupported)} cannot be patched; an input holds concepts, "
            "metadata, geo and regions",
        )
    if action != "remove":
        if patch.get("concepts") is not None:
            patch["concepts"] = _normalize_concepts(patch["concepts"], f"{where}.data.concepts")
        if patch.get("regions") is not None:
            patch["regions"] = _normalize_regions(patch["regions"])
    current: dict[str, Any] = json.loads(row["data"])
    result = apply_patch(action, current, patch)
    return _check_data(result, f"{where}.data")


def _check_media_unchanged(
    connection: sqlite3.Connection, row: sqlite3.Row, kind: str, sent: dict[str, Any], where: str
) -> None:
    """A PATCH may repeat the input's asset but not change it."""
    problem = ""
    if kind != row["kind"]:
        problem = f"the input is a {row['kind']}, not a {kind}"
    elif sent.get("url") and sent["url"] != row["url"] and not is_hosted_url_of(sent["url"], row):
        problem = f"its url is {row['url']!r}" if row["url"] else "it was made from bytes"
    elif sent.get("base64"):
        stored = connection.execute(
            "SELECT bytes FROM input_blobs WHERE seq = ?", (row["seq"],)
        ).fetchone()
        if row["url"] or stored is None or stored[0] != _decode_base64(sent["base64"], where):
            problem = "the bytes differ from the input's"
    if problem:
        raise ItemError(
            status.INPUT_INVALID_ARGUMENT,
            f"{where}: a PATCH cannot change an input's {kind} ({problem}); delete the input and "
            "create a new one",
        )


@routes.patch("inputs")
def patch_inputs(ctx: RequestContext) -> Answer:
    """``PATCH /v2/inputs``: merge, remove or overwrite the data of up to 128 inputs."""
    body = ctx.body(PATCH_INPUTS_REQUEST)
    action = body.get("action")
    if not action:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            f"action is required: one of {', '.join(ACTIONS)}",
        )
    if action not in ACTIONS:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}",
        )
    items: list[dict[str, Any]] = body.get("inputs") or []
    if not items:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            'the PATCH body has no "inputs": nothing to patch; send '
            '{"action": "merge", "inputs": [{"id": "...", "data": {...}}]}',
        )
    ctx.server.processor.start()
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    outcomes: list[int | ItemError] = []
    with ctx.store.transaction() as connection:
        for index, item in enumerate(items):
            where = f"inputs[{index}]"
            try:
                if item is None:
                    raise ItemError(status.INPUT_INVALID_ARGUMENT, f"{where} is null, not an input")
                input_id = item.get("id")
                if not input_id:
                    raise ItemError(
                        status.INPUT_INVALID_ARGUMENT,
                        f"{where}: the id of the input to patch is missing",
                    )
                row = connection.execute(
                    f"{_INPUT_COLUMNS} WHERE i.app = ? AND i.id = ?", (app_pk, input_id)
                ).fetchone()
                if row is None:
                    raise ItemError(
                        status.INPUT_DOES_NOT_EXIST,
                        f"{where}: no input with id {input_id!r} in this app",
                    )
                data = _patched_data(connection, row, action, item, where)
                _ensure_concepts(connection, app_pk, [data.get("concepts") or []])
                connection.execute(
                    "UPDATE inputs SET data = ?, modified_at = ? WHERE seq = ?",
                    (json.dumps(data, ensure_ascii=False), now(), row["seq"]),
                )
                index_input(connection, int(row["seq"]), app_pk, data)
                outcomes.append(int(row["seq"]))
            except ItemError as error:
                outcomes.append(error)
    modified = status.envelope(status.INPUT_MODIFY_SUCCESS)
    with ctx.store.read() as connection:
        rows = _rows_by_seq(connection, (o for o in outcomes if isinstance(o, int)))
    answered: list[dict[str, Any]] = []
    failures: list[str] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ItemError):
            answered.append(
                _failed_slot((items[index] or {}).get("id"), outcome.code, outcome.details)
            )
            failures.append(outcome.details)
        elif outcome in rows:
            answered.append(render_input(rows[outcome], modified))
        else:
            answered.append(
                _failed_slot((items[index] or {}).get("id"), status.INPUT_DOES_NOT_EXIST, "")
            )
            failures.append(f"inputs[{index}] was deleted while it was being patched")
    return _batch_answer(answered, failures)


# -- delete ----------------------------------------------------------------------------------------


@routes.delete("inputs/{input_id}")
def delete_input(ctx: RequestContext, input_id: str) -> Answer:
    """``DELETE /v2/inputs/{id}``: delete one input; 404 + 30102 when there is none."""
    ctx.body(DELETE_INPUT_REQUEST)
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.transaction() as connection:
        cursor = connection.execute(
            "DELETE FROM inputs WHERE app = ? AND id = ?", (app_pk, input_id)
        )
        if cursor.rowcount == 0:
            raise _input_not_found(input_id)
    return Answer({"status": status.envelope(status.SUCCESS)})


@routes.delete("inputs")
def delete_inputs(ctx: RequestContext) -> Answer:
    """``DELETE /v2/inputs``: delete the inputs ``ids`` (all or none), or all with ``delete_all``."""
    body = ctx.body(DELETE_INPUTS_REQUEST)
    ids: list[str] = body.get("ids") or []
    delete_all = bool(body.get("delete_all"))
    if ids and delete_all:
        raise ApiError(status.INPUT_INVALID_REQUEST, "send either ids or delete_all, not both")
    if not ids and not delete_all:
        raise ApiError(
            status.INPUT_INVALID_REQUEST,
            'nothing to delete: send {"ids": [...]} (at most '
            f'{MAX_INPUTS_A_REQUEST}) or {{"delete_all": true}}',
        )
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.transaction() as connection:
        if delete_all:
            connection.execute("DELETE FROM inputs WHERE app = ?", (app_pk,))
            return Answer({"status": status.envelope(status.SUCCESS)})
        wanted = list(dict.fromkeys(ids))
        placeholders = ",".join("?" * len(wanted))
        found = {
            row[0]
            for row in connection.execute(
                f"SELECT id FROM inputs WHERE app = ? AND id IN ({placeholders})", (app_pk, *wanted)
            )
        }
        missing = [input_id for input_id in wanted if input_id not in found]
        if missing:
            shown = ", ".join(repr(input_id) for input_id in missing[:10])
            raise ApiError(
                status.INPUT_DOES_NOT_EXIST,
                f"no inputs with ids {shown}{' ...' if len(missing) > 10 else ''} in this app; "
                "nothing was deleted",
            )
        connection.execute(
            f"DELETE FROM inputs WHERE app = ? AND id IN ({placeholders})", (app_pk, *wanted)
        )
    return Answer({"status": status.envelope(status.SUCCESS)})
