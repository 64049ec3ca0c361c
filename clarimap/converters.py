"""The one cattrs converter between entities and Clarifai JSON: every wire name lives here.

``converter.unstructure(entity)`` gives the JSON object the API expects and
``converter.structure(json_object, Input)`` the entity; :func:`unstructure` and
:func:`structure` are shortcuts. The encoding is proto3 JSON as the wire reference (sections 1
and 4) describes it:

* field names are the proto names (``allow_duplicate_url``, ``top_row``);
* defaults (``None``, ``""``, ``False``, ``0``, empty lists and objects) are omitted, except the
  fields the API always shows: a concept annotation's ``value`` (a negative is ``"value": 0``),
  a geo point's coordinates, a bounding box's four sides;
* numbers inside ``metadata`` and ``hyper_params`` (protobuf ``Struct``) are sent as floats;
* timestamps are RFC 3339 UTC strings and come back as aware datetimes (to the microsecond:
  the nanoseconds the API may send are cut);
* ``base64`` fields are standard base64 text on the wire and raw bytes in entities.

Reading is lenient where the API is (a missing ``value`` reads as 1.0, a status code may be a
numeric string); writing is exact.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, get_args

import cattrs

from clarimap.entities import (
    BinaryMetrics,
    BoundingBox,
    Color,
    Concept,
    ConceptAnnotation,
    ConfusionCell,
    DetectedRegion,
    Embedding,
    EvaluationMetrics,
    Face,
    Feedback,
    FeedbackInfo,
    Frame,
    GeoBox,
    GeoLimit,
    GeoPoint,
    Image,
    Input,
    MetricsSummary,
    Model,
    ModelVersion,
    PrecisionRecallCurve,
    PredictedConcept,
    Prediction,
    Region,
    RocCurve,
    Status,
    Video,
    Workflow,
    WorkflowNode,
    WorkflowResult,
    trusted_constructor,
)

__all__ = [
    "converter",
    "feedback_input",
    "format_timestamp",
    "parse_timestamp",
    "predict_input",
    "predict_output_config",
    "struct_to_wire",
    "structure",
    "unstructure",
]

JSON = dict[str, Any]
T = TypeVar("T")

converter = cattrs.Converter()

# -- scalars ------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$"
)


# The form the API (and this module) writes: UTC, six fraction digits, ``Z``.
_CANONICAL_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII
).fullmatch


def parse_timestamp(text: str) -> datetime.datetime:
    """An aware datetime from an RFC 3339 string (fractions past microseconds are cut)."""
    if _CANONICAL_TIMESTAMP(text):
        try:  # ("Z" itself is read by fromisoformat from Python 3.11 only)
            return datetime.datetime.fromisoformat(text[:-1] + "+00:00")
        except ValueError:
            pass  # a day or hour out of range: the general path says so
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    return datetime.datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")


def format_timestamp(moment: datetime.datetime) -> str:
    """The RFC 3339 UTC string of an aware datetime (``2019-01-17T12:43:04.895006Z``)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def struct_to_wire(value: Any) -> Any:
    """A copy of a JSON value with every number a float, as a protobuf ``Struct`` carries it."""
    if isinstance(value, dict):
        return {key: struct_to_wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [struct_to_wire(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _plain(value: Any) -> Any:
    """A plain-dict copy of a JSON value (tracked containers become dict and list)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _code(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"status code {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    return int(str(value))


# -- checks for the fast construction path ------------------------------------------------------
#
# Reading an answer builds its entities with ``trusted_constructor`` (no attrs converters or
# validators: most of the cost of ``cls(...)``) when the cheap tests below pass. Each test
# implies the validator it stands for, and when one fails the hook calls ``cls(...)`` with the
# same values, so bad server data raises the same ValidationError as it always did.

_valid_id = re.compile(r"[^/\s][^/]{0,254}").fullmatch  # entities.check_id, in one match
_FEEDBACK_VALUES = frozenset(get_args(Feedback))
_INF = float("inf")


def _is_id(value: Any) -> bool:
    return type(value) is str and _valid_id(value) is not None


def _is_text(value: Any) -> bool:
    return value is None or type(value) is str


def _is_finite(number: float) -> bool:
    return -_INF < number < _INF  # False for NaN too


_trusted_status = trusted_constructor(Status)  # (Status has no validators)
_trusted_annotation = trusted_constructor(ConceptAnnotation)
_trusted_geo_point = trusted_constructor(GeoPoint)
_trusted_bounding_box = trusted_constructor(BoundingBox)
_trusted_region = trusted_constructor(Region)
_trusted_image = trusted_constructor(Image)
_trusted_video = trusted_constructor(Video)
_trusted_input = trusted_constructor(Input)
_trusted_concept = trusted_constructor(Concept)
_trusted_model_version = trusted_constructor(ModelVersion)
_trusted_model = trusted_constructor(Model)
_trusted_workflow = trusted_constructor(Workflow)


# -- value objects ------------------------------------------------------------------------------


def _unstructure_status(status: Status) -> JSON:
    wire: JSON = {"code": status.code}
    if status.description:
        wire["description"] = status.description
    if status.details:
        wire["details"] = status.details
    return wire


def _structure_status(wire: Mapping[str, Any], _: Any = None) -> Status:
    code = wire.get("code", 0)
    return _trusted_status(  # type: ignore[no-any-return]
        code if type(code) is int else _code(code),
        wire.get("description") or "",
        wire.get("details") or "",
    )


def _unstructure_geo_point(point: GeoPoint) -> JSON:
    return {"longitude": point.longitude, "latitude": point.latitude}


def _structure_geo_point(wire: Mapping[str, Any], _: Any = None) -> GeoPoint:
    longitude = float(wire.get("longitude", 0.0))
    latitude = float(wire.get("latitude", 0.0))
    if -180.0 <= longitude <= 180.0 and -90.0 <= latitude <= 90.0:
        return _trusted_geo_point(longitude, latitude)
    return GeoPoint(longitude, latitude)


_GEO_LIMIT_TYPES = {
    "miles": "withinMiles",
    "kilometers": "withinKilometers",
    "degrees": "withinDegrees",
    "radians": "withinRadians",
}
_GEO_LIMIT_UNITS = {wire: unit for unit, wire in _GEO_LIMIT_TYPES.items()}


def _unstructure_geo_limit(limit: GeoLimit) -> JSON:
    return {"type": _GEO_LIMIT_TYPES[limit.unit], "value": limit.value}


def _structure_geo_limit(wire: Mapping[str, Any], _: Any = None) -> GeoLimit:
    kind = wire.get("type") or "withinMiles"
    if kind not in _GEO_LIMIT_UNITS:
        raise ValueError(f"unknown geo_limit type {kind!r}")
    return GeoLimit(float(wire.get("value", 0.0)), _GEO_LIMIT_UNITS[kind])  # type: ignore[arg-type]


def _unstructure_geo_box(box: GeoBox) -> list[JSON]:
    return [
        {"geo_point": _unstructure_geo_point(box.corner1)},
        {"geo_point": _unstructure_geo_point(box.corner2)},
    ]


def _structure_geo_box(wire: list[Mapping[str, Any]], _: Any = None) -> GeoBox:
    if len(wire) != 2:
        raise ValueError(f"a geo_box has 2 corners, got {len(wire)}")
    return GeoBox(
        _structure_geo_point(wire[0].get("geo_point") or {}),
        _structure_geo_point(wire[1].get("geo_point") or {}),
    )


_BOX_SIDES = ("top_row", "left_col", "bottom_row", "right_col")


def _unstructure_bounding_box(box: BoundingBox) -> JSON:
    return {
        "top_row": box.top_row,
        "left_col": box.left_col,
        "bottom_row": box.bottom_row,
        "right_col": box.right_col,
    }


def _structure_bounding_box(wire: Mapping[str, Any], _: Any = None) -> BoundingBox:
    sides = [float(wire.get(side, 0.0)) for side in _BOX_SIDES]
    if all(0.0 <= side <= 1.0 for side in sides):
        return _trusted_bounding_box(*sides)
    return BoundingBox(*sides)


def _unstructure_annotation(concept: ConceptAnnotation) -> JSON:
    wire: JSON = {"id": concept.id, "value": concept.value}
    if concept.name:
        wire["name"] = concept.name
    return wire


def _structure_annotation(wire: Mapping[str, Any], _: Any = None) -> ConceptAnnotation:
    concept_id = wire["id"]
    value = wire.get("value")
    value = 1.0 if value is None else float(value)
    name = wire.get("name") or None
    if _is_id(concept_id) and _is_finite(value) and _is_text(name):
        return _trusted_annotation(concept_id, value, name)
    return ConceptAnnotation(concept_id, value, name)


def _unstructure_region(region: Region) -> JSON:
    wire: JSON = {"id": region.id}
    info: JSON = {}
    if region.bounding_box is not None:
        info["bounding_box"] = _unstructure_bounding_box(region.bounding_box)
    if region.feedback:
        info["feedback"] = region.feedback
    if info:
        wire["region_info"] = info
    if region.concepts:
        wire["data"] = {"concepts": [_unstructure_annotation(c) for c in region.concepts]}
    return wire


def _structure_region(wire: Mapping[str, Any], _: Any = None) -> Region:
    info = wire.get("region_info") or {}
    box = info.get("bounding_box")
    data = wire.get("data") or {}
    region_id = wire["id"]
    bounding_box = None if box is None else _structure_bounding_box(box)
    concepts = tuple([_structure_annotation(c) for c in data.get("concepts") or ()])
    feedback = info.get("feedback") or None
    if _is_id(region_id) and (feedback is None or feedback in _FEEDBACK_VALUES):
        return _trusted_region(region_id, bounding_box, concepts, feedback)  # type: ignore[no-any-return]
    return Region(id=region_id, bounding_box=bounding_box, concepts=concepts, feedback=feedback)


def _unstructure_media(media: Image | Video) -> JSON:
    wire: JSON = {}
    if media.url is not None:
        wire["url"] = media.url
    if media.base64 is not None:
        wire["base64"] = base64.b64encode(media.base64).decode("ascii")
    if isinstance(media, Image) and media.crop is not None:
        wire["crop"] = list(media.crop)
    if media.allow_duplicate_url:
        wire["allow_duplicate_url"] = True
    return wire


def _media_fields(wire: Mapping[str, Any]) -> dict[str, Any]:
    encoded = wire.get("base64")
    return {
        "url": wire.get("url") or None,
        "base64": base64.b64decode(encoded) if encoded else None,
        "allow_duplicate_url": bool(wire.get("allow_duplicate_url", False)),
    }


def _structure_image(wire: Mapping[str, Any], _: Any = None) -> Image:
    crop = wire.get("crop")
    crop = tuple(crop) if crop else None
    url = wire.get("url") or None
    encoded = wire.get("base64")
    content = base64.b64decode(encoded) if encoded else None
    duplicate = bool(wire.get("allow_duplicate_url", False))
    if crop is None and _is_text(url) and (url or content) is not None:
        return _trusted_image(url, content, None, duplicate)  # type: ignore[no-any-return]
    return Image(url=url, base64=content, crop=crop, allow_duplicate_url=duplicate)


def _structure_video(wire: Mapping[str, Any], _: Any = None) -> Video:
    fields = _media_fields(wire)
    if _is_text(fields["url"]) and (fields["url"] or fields["base64"]) is not None:
        return _trusted_video(**fields)  # type: ignore[no-any-return]
    return Video(**fields)


def _timestamp_field(wire: Mapping[str, Any], name: str) -> datetime.datetime | None:
    text = wire.get(name)
    return parse_timestamp(text) if text else None


def _put_timestamp(wire: JSON, name: str, moment: datetime.datetime | None) -> None:
    if moment is not None:
        wire[name] = format_timestamp(moment)


# -- entities -----------------------------------------------------------------------------------


def input_data(entity: Input) -> JSON:
    """The ``data`` object of an input (media, concepts, metadata, geo, regions)."""
    data: JSON = {}
    if entity.image is not None:
        data["image"] = _unstructure_media(entity.image)
    if entity.video is not None:
        data["video"] = _unstructure_media(entity.video)
    if entity.concepts:
        data["concepts"] = [_unstructure_annotation(c) for c in entity.concepts]
    if entity.metadata:
        data["metadata"] = struct_to_wire(entity.metadata)
    if entity.geo is not None:
        data["geo"] = {"geo_point": _unstructure_geo_point(entity.geo)}
    if entity.regions:
        data["regions"] = [_unstructure_region(r) for r in entity.regions]
    return data


def _unstructure_input(entity: Input) -> JSON:
    wire: JSON = {"id": entity.id}
    data = input_data(entity)
    if data:
        wire["data"] = data
    _put_timestamp(wire, "created_at", entity.created_at)
    _put_timestamp(wire, "modified_at", entity.modified_at)
    if entity.status is not None:
        wire["status"] = _unstructure_status(entity.status)
    return wire


def _structure_input(wire: Mapping[str, Any], _: Any = None) -> Input:
    data = wire.get("data") or {}
    image = data.get("image")
    video = data.get("video")
    geo = (data.get("geo") or {}).get("geo_point")
    status = wire.get("status")
    created_at = wire.get("created_at")
    modified_at = wire.get("modified_at")
    input_id = wire["id"]
    image = None if image is None else _structure_image(image)
    video = None if video is None else _structure_video(video)
    concepts = [_structure_annotation(c) for c in data.get("concepts") or ()]
    metadata = data.get("metadata") or {}
    geo = None if geo is None else _structure_geo_point(geo)
    regions = [_structure_region(r) for r in data.get("regions") or ()]
    status = None if status is None else _structure_status(status)
    created_at = parse_timestamp(created_at) if created_at else None
    modified_at = parse_timestamp(modified_at) if modified_at else None
    if (
        _is_id(input_id)
        and (type(metadata) is dict or isinstance(metadata, Mapping))
        and (image is None or video is None)
    ):
        return _trusted_input(  # type: ignore[no-any-return]
            input_id,
            image,
            video,
            concepts,
            metadata,
            geo,
            regions,
            status,
            created_at,
            modified_at,
        )
    return Input(
        id=input_id,
        image=image,
        video=video,
        concepts=concepts,
        metadata=metadata,
        geo=geo,
        regions=regions,
        status=status,
        created_at=created_at,
        modified_at=modified_at,
    )


def _unstructure_concept(concept: Concept) -> JSON:
    wire: JSON = {"id": concept.id}
    for name in ("name", "language", "definition", "app_id"):
        value = getattr(concept, name)
        if value:
            wire[name] = value
    _put_timestamp(wire, "created_at", concept.created_at)
    return wire


def _structure_concept(wire: Mapping[str, Any], _: Any = None) -> Concept:
    fields = {
        "id": wire["id"],
        "name": wire.get("name") or None,
        "language": wire.get("language") or None,
        "definition": wire.get("definition") or None,
        "app_id": wire.get("app_id") or None,
        "created_at": _timestamp_field(wire, "created_at"),
    }
    if (
        _is_id(fields["id"])
        and _is_text(fields["name"])
        and _is_text(fields["language"])
        and _is_text(fields["definition"])
    ):
        return _trusted_concept(**fields)  # type: ignore[no-any-return]
    return Concept(**fields)


def _unstructure_model_version(version: ModelVersion) -> JSON:
    wire: JSON = {"id": version.id}
    _put_timestamp(wire, "created_at", version.created_at)
    if version.status is not None:
        wire["status"] = _unstructure_status(version.status)
    if version.active_concept_count:
        wire["active_concept_count"] = version.active_concept_count
    if version.total_input_count:
        wire["total_input_count"] = version.total_input_count
    if version.metrics is not None:
        wire["metrics"] = _plain(version.metrics)
    return wire


def _structure_model_version(wire: Mapping[str, Any], _: Any = None) -> ModelVersion:
    status = wire.get("status")
    fields = {
        "id": wire["id"],
        "status": None if status is None else _structure_status(status),
        "created_at": _timestamp_field(wire, "created_at"),
        "active_concept_count": int(wire.get("active_concept_count") or 0),
        "total_input_count": int(wire.get("total_input_count") or 0),
        "metrics": wire.get("metrics"),
    }
    if _is_id(fields["id"]):
        return _trusted_model_version(**fields)  # type: ignore[no-any-return]
    return ModelVersion(**fields)


def model_output_config(model: Model) -> JSON:
    """The ``output_config`` object of a model (non-default settings only)."""
    config: JSON = {}
    if model.concepts_mutually_exclusive:
        config["concepts_mutually_exclusive"] = True
    if model.closed_environment:
        config["closed_environment"] = True
    if model.max_concepts:
        config["max_concepts"] = model.max_concepts
    if model.min_value:
        config["min_value"] = model.min_value
    if model.hyper_params:
        config["hyper_params"] = struct_to_wire(model.hyper_params)
    return config


def _unstructure_model(model: Model) -> JSON:
    wire: JSON = {"id": model.id}
    for name in ("name", "display_name", "app_id", "model_type_id"):
        value = getattr(model, name)
        if value:
            wire[name] = value
    _put_timestamp(wire, "created_at", model.created_at)
    output_info: JSON = {}
    if model.concepts:
        output_info["data"] = {"concepts": [_unstructure_concept(c) for c in model.concepts]}
    config = model_output_config(model)
    if config:
        output_info["output_config"] = config
    if model.type:
        output_info["type"] = model.type
    if model.type_ext:
        output_info["type_ext"] = model.type_ext
    if output_info:
        wire["output_info"] = output_info
    if model.model_version is not None:
        wire["model_version"] = _unstructure_model_version(model.model_version)
    return wire


def _structure_model(wire: Mapping[str, Any], _: Any = None) -> Model:
    output_info = wire.get("output_info") or {}
    config = output_info.get("output_config") or {}
    version = wire.get("model_version")
    fields = {
        "id": wire["id"],
        "name": wire.get("name") or None,
        "concepts": [
            _structure_concept(c) for c in (output_info.get("data") or {}).get("concepts") or ()
        ],
        "concepts_mutually_exclusive": bool(config.get("concepts_mutually_exclusive", False)),
        "closed_environment": bool(config.get("closed_environment", False)),
        "max_concepts": int(config.get("max_concepts") or 0),
        "min_value": float(config.get("min_value") or 0.0),
        "hyper_params": config.get("hyper_params") or {},
        "type": output_info.get("type") or None,
        "type_ext": output_info.get("type_ext") or None,
        "model_type_id": wire.get("model_type_id") or None,
        "display_name": wire.get("display_name") or None,
        "app_id": wire.get("app_id") or None,
        "created_at": _timestamp_field(wire, "created_at"),
        "model_version": None if version is None else _structure_model_version(version),
    }
    if (
        _is_id(fields["id"])
        and _is_text(fields["name"])
        and _is_finite(fields["min_value"])
        and isinstance(fields["hyper_params"], Mapping)
        and _is_text(fields["model_type_id"])
        and _is_text(fields["display_name"])
    ):
        return _trusted_model(**fields)  # type: ignore[no-any-return]
    return Model(**fields)


def _unstructure_workflow(workflow: Workflow) -> JSON:
    wire: JSON = {"id": workflow.id}
    if workflow.app_id:
        wire["app_id"] = workflow.app_id
    _put_timestamp(wire, "created_at", workflow.created_at)
    if workflow.nodes:
        wire["nodes"] = [_unstructure_workflow_node(node) for node in workflow.nodes]
    return wire


def _unstructure_workflow_node(node: WorkflowNode) -> JSON:
    model: JSON = {"id": node.model_id}
    if node.model_version_id:
        model["model_version"] = {"id": node.model_version_id}
    return {"id": node.id, "model": model}


def _structure_workflow_node(wire: Mapping[str, Any], _: Any = None) -> WorkflowNode:
    model = wire.get("model") or {}
    return WorkflowNode(
        id=wire["id"],
        model_id=model["id"],
        model_version_id=(model.get("model_version") or {}).get("id") or None,
    )


def _structure_workflow(wire: Mapping[str, Any], _: Any = None) -> Workflow:
    fields = {
        "id": wire["id"],
        "nodes": [_structure_workflow_node(node) for node in wire.get("nodes") or ()],
        "app_id": wire.get("app_id") or None,
        "created_at": _timestamp_field(wire, "created_at"),
    }
    if _is_id(fields["id"]):
        return _trusted_workflow(**fields)  # type: ignore[no-any-return]
    return Workflow(**fields)


# -- predictions, evaluations, feedback (read from answers; the requests are built here too) -----


def _structure_predicted_concept(wire: Mapping[str, Any], _: Any = None) -> PredictedConcept:
    return PredictedConcept(
        id=wire["id"],
        value=float(wire.get("value") or 0.0),
        name=wire.get("name") or None,
        app_id=wire.get("app_id") or None,
    )


def _predicted_concepts(items: Any) -> tuple[PredictedConcept, ...]:
    return tuple(_structure_predicted_concept(item) for item in items or ())


def _structure_color(wire: Mapping[str, Any], _: Any = None) -> Color:
    w3c = wire.get("w3c") or {}
    return Color(
        raw_hex=wire.get("raw_hex") or "",
        w3c_hex=w3c.get("hex") or "",
        w3c_name=w3c.get("name") or "",
        value=float(wire.get("value") or 0.0),
    )


def _structure_embedding(wire: Mapping[str, Any], _: Any = None) -> Embedding:
    return Embedding(tuple(float(x) for x in wire.get("vector") or ()))


_FACE_PARTS = ("identity", "age_appearance", "gender_appearance", "multicultural_appearance")


def _structure_face(wire: Mapping[str, Any], _: Any = None) -> Face:
    return Face(
        **{
            part: _predicted_concepts((wire.get(part) or {}).get("concepts"))
            for part in _FACE_PARTS
        }
    )


def _structure_detected_region(wire: Mapping[str, Any], _: Any = None) -> DetectedRegion:
    info = wire.get("region_info") or {}
    box = info.get("bounding_box")
    data = wire.get("data") or {}
    face = data.get("face")
    value = wire.get("value")
    return DetectedRegion(
        id=wire.get("id") or "",
        bounding_box=None if box is None else _structure_bounding_box(box),
        value=None if value is None else float(value),
        concepts=_predicted_concepts(data.get("concepts")),
        face=None if face is None else _structure_face(face),
    )


def _prediction_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a prediction (or a frame) has in common, from an output's ``data``."""
    return {
        "concepts": _predicted_concepts(data.get("concepts")),
        "colors": tuple(_structure_color(c) for c in data.get("colors") or ()),
        "regions": tuple(_structure_detected_region(r) for r in data.get("regions") or ()),
        "embeddings": tuple(_structure_embedding(e) for e in data.get("embeddings") or ()),
    }


def _structure_frame(wire: Mapping[str, Any], _: Any = None) -> Frame:
    info = wire.get("frame_info") or {}
    return Frame(
        index=int(info.get("index") or 0),
        time=int(info.get("time") or 0),
        **_prediction_fields(wire.get("data") or {}),
    )


def _structure_prediction(wire: Mapping[str, Any], _: Any = None) -> Prediction:
    data = wire.get("data") or {}
    model = wire.get("model") or {}
    return Prediction(
        input_id=(wire.get("input") or {}).get("id") or "",
        status=_structure_status(wire.get("status") or {"code": 10000}),
        frames=tuple(_structure_frame(f) for f in data.get("frames") or ()),
        model_id=model.get("id") or None,
        model_version_id=(model.get("model_version") or {}).get("id") or None,
        output_id=wire.get("id") or None,
        **_prediction_fields(data),
    )


def _structure_workflow_result(wire: Mapping[str, Any], _: Any = None) -> WorkflowResult:
    return WorkflowResult(
        input_id=(wire.get("input") or {}).get("id") or "",
        status=_structure_status(wire.get("status") or {"code": 10000}),
        outputs=tuple(_structure_prediction(o) for o in wire.get("outputs") or ()),
    )


def _floats(items: Any) -> tuple[float, ...]:
    return tuple(float(x) for x in items or ())


def _structure_binary_metrics(wire: Mapping[str, Any], _: Any = None) -> BinaryMetrics:
    concept = wire.get("concept") or {}
    roc = wire.get("roc_curve") or {}
    pr = wire.get("precision_recall_curve") or {}
    return BinaryMetrics(
        concept_id=concept.get("id") or "",
        concept_name=concept.get("name") or None,
        num_pos=int(wire.get("num_pos") or 0),
        num_neg=int(wire.get("num_neg") or 0),
        num_tot=int(wire.get("num_tot") or 0),
        roc_auc=float(wire.get("roc_auc") or 0.0),
        f1=float(wire.get("f1") or 0.0),
        roc_curve=RocCurve(
            _floats(roc.get("fpr")), _floats(roc.get("tpr")), _floats(roc.get("thresholds"))
        ),
        precision_recall_curve=PrecisionRecallCurve(
            _floats(pr.get("recall")), _floats(pr.get("precision")), _floats(pr.get("thresholds"))
        ),
    )


_SUMMARY_FIELDS = tuple(field.name for field in MetricsSummary.__attrs_attrs__)


def _structure_metrics(wire: Mapping[str, Any], _: Any = None) -> EvaluationMetrics:
    summary = wire.get("summary") or {}
    confusion = wire.get("confusion_matrix") or {}
    counts = (wire.get("label_counts") or {}).get("positive_label_counts") or ()
    return EvaluationMetrics(
        status=_structure_status(wire.get("status") or {"code": 0}),
        summary=MetricsSummary(
            **{name: float(summary.get(name) or 0.0) for name in _SUMMARY_FIELDS}
        ),
        binary_metrics=tuple(
            _structure_binary_metrics(b) for b in wire.get("binary_metrics") or ()
        ),
        confusion_matrix=tuple(
            ConfusionCell(
                cell.get("predicted") or "",
                cell.get("actual") or "",
                float(cell.get("value") or 0.0),
            )
            for cell in confusion.get("matrix") or ()
        ),
        concept_ids=tuple(confusion.get("concept_ids") or ()),
        positive_label_counts={
            item.get("concept_name") or "": int(item.get("count") or 0) for item in counts
        },
    )


def _unstructure_feedback_info(info: FeedbackInfo) -> JSON:
    wire: JSON = {"event_type": info.event_type}
    for name in ("end_user_id", "session_id", "output_id", "search_id"):
        value = getattr(info, name)
        if value:
            wire[name] = value
    return wire


def _structure_feedback_info(wire: Mapping[str, Any], _: Any = None) -> FeedbackInfo:
    return FeedbackInfo(
        end_user_id=wire.get("end_user_id") or None,
        session_id=wire.get("session_id") or None,
        event_type=wire.get("event_type") or "undefined",
        output_id=wire.get("output_id") or None,
        search_id=wire.get("search_id") or None,
    )


def predict_input(entity: Input, *, by_id: bool = False) -> JSON:
    """An input of a predict request: its id and media, or (``by_id``) its id alone."""
    if by_id:
        return {"id": entity.id}
    data: JSON = {}
    if entity.image is not None:
        data["image"] = _unstructure_media(entity.image)
    if entity.video is not None:
        data["video"] = _unstructure_media(entity.video)
    return {"id": entity.id, "data": data}


def predict_output_config(
    *,
    min_value: float | None = None,
    max_concepts: int | None = None,
    select_concepts: Sequence[str] = (),
    language: str | None = None,
    sample_ms: int | None = None,
) -> JSON:
    """The ``output_config`` of a predict request (only the options that are set)."""
    config: JSON = {}
    if min_value is not None:
        config["min_value"] = float(min_value)
    if max_concepts:
        config["max_concepts"] = int(max_concepts)
    if select_concepts:
        config["select_concepts"] = [{"id": concept_id} for concept_id in select_concepts]
    if language:
        config["language"] = language
    if sample_ms:
        config["sample_ms"] = int(sample_ms)
    return config


def feedback_input(
    entity: Input,
    info: FeedbackInfo,
    *,
    concepts: Sequence[ConceptAnnotation] = (),
    regions: Sequence[Region] = (),
) -> JSON:
    """The ``input`` of a feedback request: id, media url, the concepts and regions said right."""
    wire: JSON = {"id": entity.id, "feedback_info": _unstructure_feedback_info(info)}
    data: JSON = {}
    media = entity.image or entity.video
    if media is not None and media.url:
        data["image" if entity.image is not None else "video"] = {"url": media.url}
    if concepts:
        data["concepts"] = [_unstructure_annotation(c) for c in concepts]
    if regions:
        data["regions"] = [_unstructure_region(r) for r in regions]
    if data:
        wire["data"] = data
    return wire


_HOOKS: list[tuple[type, Callable[[Any], Any], Callable[[Any, Any], Any]]] = [
    (Status, _unstructure_status, _structure_status),
    (GeoPoint, _unstructure_geo_point, _structure_geo_point),
    (GeoLimit, _unstructure_geo_limit, _structure_geo_limit),
    (GeoBox, _unstructure_geo_box, _structure_geo_box),
    (BoundingBox, _unstructure_bounding_box, _structure_bounding_box),
    (ConceptAnnotation, _unstructure_annotation, _structure_annotation),
    (Region, _unstructure_region, _structure_region),
    (Image, _unstructure_media, _structure_image),
    (Video, _unstructure_media, _structure_video),
    (Input, _unstructure_input, _structure_input),
    (Concept, _unstructure_concept, _structure_concept),
    (ModelVersion, _unstructure_model_version, _structure_model_version),
    (Model, _unstructure_model, _structure_model),
    (WorkflowNode, _unstructure_workflow_node, _structure_workflow_node),
    (Workflow, _unstructure_workflow, _structure_workflow),
    (FeedbackInfo, _unstructure_feedback_info, _structure_feedback_info),
]
for _cls, _structure_only in [
    (PredictedConcept, _structure_predicted_concept),
    (Color, _structure_color),
    (Embedding, _structure_embedding),
    (Face, _structure_face),
    (DetectedRegion, _structure_detected_region),
    (Frame, _structure_frame),
    (Prediction, _structure_prediction),
    (WorkflowResult, _structure_workflow_result),
    (BinaryMetrics, _structure_binary_metrics),
    (EvaluationMetrics, _structure_metrics),
]:
    converter.register_structure_hook(_cls, _structure_only)
for _cls, _unstructure_hook, _structure_hook in _HOOKS:
    converter.register_unstructure_hook(_cls, _unstructure_hook)
    converter.register_structure_hook(_cls, _structure_hook)
converter.register_unstructure_hook(datetime.datetime, format_timestamp)
converter.register_structure_hook(datetime.datetime, lambda text, _: parse_timestamp(text))


def unstructure(entity: Any) -> Any:
    """The Clarifai JSON of an entity or value object (or a list of them)."""
    return converter.unstructure(entity)


def structure(wire: Any, cls: type[T]) -> T:
    """The entity of class ``cls`` from its Clarifai JSON."""
    return converter.structure(wire, cls)
