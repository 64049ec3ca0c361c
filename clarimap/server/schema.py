"""Request validation: the JSON shapes the server accepts, checked before any handler runs its logic.

A request that names an unknown field, or gives a field a value of the wrong type, is answered
with an :class:`ApiError` whose details give the path of the offending value and what was
expected, the way a proto3 JSON parser rejects it on the real service. Shapes list every field
that the 2.6.2 client and the current JSON client (clarifai-grpc 12.x) send, so both clients pass.

Usage::

    body = validate(raw_body, PATCH_INPUTS_REQUEST, code=status.INPUT_INVALID_REQUEST)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from clarimap.server import status
from clarimap.server.errors import ApiError


class Shape:
    """A JSON type. ``check`` returns the value (possibly normalised) or raises ``ApiError``."""

    name = "value"

    def check(self, value: Any, path: str, code: int) -> Any:
        raise NotImplementedError


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _fail(path: str, expected: str, value: Any, code: int) -> ApiError:
    shown = repr(value) if not isinstance(value, (dict, list)) else _type_name(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ApiError(code, f"{path or 'body'}: expected {expected}, got {_type_name(value)} {shown}")


class _Str(Shape):
    name = "a string"

    def __init__(self, max_length: int = 1_000_000) -> None:
        self.max_length = max_length

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _fail(path, self.name, value, code)
        if len(value) > self.max_length:
            raise ApiError(code, f"{path}: longer than {self.max_length} characters")
        return value


class _Num(Shape):
    name = "a number"

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            # proto3 JSON allows numbers as strings ("1.5", "NaN" excluded here).
            try:
                parsed = float(value)
            except ValueError:
                raise _fail(path, self.name, value, code) from None
            if not math.isfinite(parsed):
                raise _fail(path, "a finite number", value, code)
            return parsed
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, self.name, value, code)
        if not math.isfinite(value):
            raise _fail(path, "a finite number", value, code)
        return value


class _Int(Shape):
    name = "an integer"

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, self.name, value, code)
        return value


class _Bool(Shape):
    name = "a boolean"

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise _fail(path, self.name, value, code)
        return value


class _Any(Shape):
    """Any JSON value (a protobuf ``Struct``/``Value``)."""

    name = "any JSON value"

    def check(self, value: Any, path: str, code: int) -> Any:
        return value


class _Struct(Shape):
    """A JSON object with arbitrary content (protobuf ``Struct``: metadata, hyper_params)."""

    name = "an object"

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _fail(path, self.name, value, code)
        return value


class ListOf(Shape):
    """A JSON array of ``item``; a null element is an error (proto3 JSON refuses it) unless
    ``null_items`` lets a handler fail that one item itself (the per-item inputs endpoints)."""

    def __init__(
        self, item: Shape, max_items: int | None = None, *, null_items: bool = False
    ) -> None:
        self.item = item
        self.max_items = max_items
        self.null_items = null_items or isinstance(item, _Any)
        self.name = f"an array of {item.name}"

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise _fail(path, "an array", value, code)
        if self.max_items is not None and len(value) > self.max_items:
            raise ApiError(
                code, f"{path}: at most {self.max_items} items a request, got {len(value)}"
            )
        if not self.null_items and None in value:
            # proto3 JSON: null is no element of a repeated field (only of a ListValue).
            index = value.index(None)
            raise _fail(f"{path}[{index}]", self.item.name, None, code)
        return [self.item.check(item, f"{path}[{index}]", code) for index, item in enumerate(value)]


class Obj(Shape):
    """A JSON object with known fields; an unknown field is an error.

    Field names are the proto names (snake_case); the lowerCamelCase JSON names proto3 parsers
    also accept are normalised to them.
    """

    name = "an object"

    def __init__(self, fields: Mapping[str, Shape] | None = None, **kwargs: Shape) -> None:
        self.fields: dict[str, Shape] = dict(fields or {})
        self.fields.update(kwargs)

    def extend(self, **kwargs: Shape) -> Obj:
        """A copy with more fields."""
        return Obj({**self.fields, **kwargs})

    def check(self, value: Any, path: str, code: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _fail(path, self.name, value, code)
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in self.fields else _snake(key)
            shape = self.fields.get(name)
            where = f"{path}.{key}" if path else key
            if shape is None:
                known = ", ".join(sorted(self.fields))
                raise ApiError(code, f"{where}: unknown field (known fields: {known})")
            result[name] = shape.check(item, where, code)
        return result


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class Lazy(Shape):
    """A shape defined later (for recursive shapes such as Data inside Region)."""

    def __init__(self) -> None:
        self.target: Shape | None = None

    def check(self, value: Any, path: str, code: int) -> Any:
        assert self.target is not None
        return self.target.check(value, path, code)


STR = _Str()
ID = _Str(max_length=255)
NUM = _Num()
INT = _Int()
BOOL = _Bool()
ANY = _Any()
STRUCT = _Struct()

# ---------------------------------------------------------------------------------------------
# Shapes of the wire reference, section 4 (with the fields of the current API that clients send)

STATUS = Obj(
    code=ANY,
    description=STR,
    details=STR,
    percent_completed=ANY,
    time_remaining=ANY,
    req_id=STR,
    stack_trace=ANY,
    internal_details=STR,
    developer_notes=STR,
)
USER_APP_ID = Obj(user_id=STR, app_id=STR)
CONCEPT = Obj(
    id=ID,
    name=STR,
    value=NUM,
    created_at=STR,
    language=STR,
    app_id=STR,
    definition=STR,
    vocab_id=STR,
    user_id=STR,
    visibility=ANY,
    description=STR,
    metadata=STRUCT,
    image=ANY,
    extra_info=ANY,
    keypoint_info=ANY,
    modified_at=STR,
)
GEO_POINT = Obj(longitude=NUM, latitude=NUM)
GEO_LIMIT = Obj(type=STR, value=NUM)
GEO_BOX_POINT = Obj(geo_point=GEO_POINT)
GEO = Obj(geo_point=GEO_POINT, geo_limit=GEO_LIMIT, geo_box=ListOf(GEO_BOX_POINT))
IMAGE = Obj(
    url=STR,
    base64=STR,
    crop=ListOf(NUM),
    allow_duplicate_url=BOOL,
    hosted=ANY,
    image_info=ANY,
    hosted_image_info=ANY,
    decoded_bytes=ANY,
)
VIDEO = Obj(
    url=STR,
    base64=STR,
    allow_duplicate_url=BOOL,
    thumbnail_url=STR,
    hosted=ANY,
    hosted_thumbnail=ANY,
    video_info=ANY,
)
BOUNDING_BOX = Obj(top_row=NUM, left_col=NUM, bottom_row=NUM, right_col=NUM)
REGION_INFO = Obj(
    bounding_box=BOUNDING_BOX,
    feedback=STR,
    mask=ANY,
    polygon=ANY,
    point=ANY,
    span=ANY,
    token=ANY,
    keypoint_locations=ANY,
)
_DATA = Lazy()
REGION = Obj(id=STR, region_info=REGION_INFO, data=_DATA, value=NUM, track_id=STR)
FRAME = Obj(frame_info=Obj(index=INT, time=INT, number=INT), data=_DATA, id=STR)
DATA = Obj(
    image=IMAGE,
    video=VIDEO,
    concepts=ListOf(CONCEPT),
    metadata=STRUCT,
    geo=GEO,
    regions=ListOf(REGION),
    frames=ListOf(FRAME),
    colors=ANY,
    embeddings=ANY,
    clusters=ANY,
    focus=ANY,
    face=ANY,
    text=ANY,
    audio=ANY,
    tracks=ANY,
    time_segments=ANY,
    hits=ANY,
    heatmaps=ANY,
    parts=ANY,
    ndarray=ANY,
)
_DATA.target = DATA
FEEDBACK_INFO = Obj(end_user_id=STR, session_id=STR, event_type=STR, output_id=STR, search_id=STR)
INPUT = Obj(
    id=ID,
    data=DATA,
    feedback_info=FEEDBACK_INFO,
    created_at=STR,
    modified_at=STR,
    status=STATUS,
    dataset_ids=ListOf(STR),
    settings=ANY,
)
OUTPUT_CONFIG = Obj(
    concepts_mutually_exclusive=BOOL,
    closed_environment=BOOL,
    max_concepts=INT,
    min_value=NUM,
    hyper_params=STRUCT,
    language=STR,
    select_concepts=ListOf(CONCEPT),
    sample_ms=INT,
    existing_model_id=STR,
    hyper_parameters=STR,
    training_timeout=INT,
    test_split_percent=INT,
    template_name=STR,
    embed_model_version_id=STR,
    fail_on_missing_concepts=ANY,
)
OUTPUT_INFO = Obj(
    data=DATA,
    output_config=OUTPUT_CONFIG,
    message=STR,
    type=STR,
    type_ext=STR,
    fields_map=ANY,
    params=ANY,
)
MODEL_VERSION = Obj(
    id=STR,
    created_at=STR,
    status=STATUS,
    active_concept_count=INT,
    total_input_count=INT,
    metrics=ANY,
    completed_at=STR,
    description=STR,
    visibility=ANY,
    app_id=STR,
    user_id=STR,
    metadata=STRUCT,
    train_info=ANY,
    output_info=ANY,
    input_info=ANY,
    modified_at=STR,
)
MODEL = Obj(
    id=ID,
    name=STR,
    display_name=STR,
    created_at=STR,
    modified_at=STR,
    app_id=STR,
    output_info=OUTPUT_INFO,
    model_version=MODEL_VERSION,
    model_type_id=STR,
    user_id=STR,
    visibility=ANY,
    description=STR,
    metadata=STRUCT,
    notes=STR,
    toolkits=ANY,
    use_cases=ANY,
    languages=ANY,
    input_info=ANY,
    train_info=ANY,
    import_info=ANY,
    default_eval_info=ANY,
    workflow_recommended=ANY,
    is_starred=ANY,
    star_count=ANY,
)
WORKFLOW_NODE = Obj(
    id=STR,
    model=MODEL,
    node_inputs=ListOf(Obj(node_id=STR)),
    suppress_output=BOOL,
    output_info_override=ANY,
    node_params=ANY,
)
WORKFLOW = Obj(
    id=ID,
    app_id=STR,
    created_at=STR,
    modified_at=STR,
    nodes=ListOf(WORKFLOW_NODE),
    metadata=STRUCT,
    visibility=ANY,
    user_id=STR,
    description=STR,
    version=ANY,
    notes=STR,
    display_name=STR,
    use_cases=ANY,
)
PAGINATION = Obj(page=INT, per_page=INT)

# Inputs endpoints (clarimap.server.api_inputs). Input ids are plain strings here: their rules
# (no "/", ASCII, 1-255 characters) are checked per item, so one bad id fails only its item.
MAX_INPUTS_A_REQUEST = 128
INPUT_TO_WRITE = INPUT.extend(id=STR)
ADD_INPUTS_REQUEST = Obj(
    user_app_id=USER_APP_ID,
    inputs=ListOf(INPUT_TO_WRITE, max_items=MAX_INPUTS_A_REQUEST, null_items=True),
    inputs_add_job_id=STR,
)
PATCH_INPUTS_REQUEST = Obj(
    user_app_id=USER_APP_ID,
    action=STR,
    inputs=ListOf(INPUT_TO_WRITE, max_items=MAX_INPUTS_A_REQUEST, null_items=True),
)
DELETE_INPUTS_REQUEST = Obj(
    user_app_id=USER_APP_ID,
    ids=ListOf(STR, max_items=MAX_INPUTS_A_REQUEST, null_items=True),
    delete_all=BOOL,
)
DELETE_INPUT_REQUEST = Obj(user_app_id=USER_APP_ID, input_id=STR)


def request(**fields: Shape) -> Obj:
    """A request body shape: its fields plus ``user_app_id``, which clients may leave in a body."""
    return Obj({"user_app_id": USER_APP_ID, **fields})


def validate(body: Any, shape: Shape, *, code: int = status.CONN_INVALID_REQUEST) -> Any:
    """Check ``body`` against ``shape``; return it normalised, or raise ``ApiError(code, ...)``."""
    return shape.check(body, "", code)
