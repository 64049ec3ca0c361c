"""Routes: predict with a model and through a workflow (wire reference, sections 5 and 8).

``POST /v2/models/{id}/outputs`` (and the ``versions/{vid}`` form) runs a model of the zoo
(:mod:`clarimap.server.modelzoo`) or a custom model the app trained on up to 128 inputs given by
URL, base64 or the id of an input of the app; ``POST /v2/workflows/{id}/results`` runs every node
of a workflow on each input. Every item carries its own status; the top status is ``10000`` when
all succeeded, ``10010 Mixed Success`` when some did and ``10020 Failure`` when none did.

Videos are decoded with PyAV and sampled every ``sample_ms`` milliseconds (1000 by default);
each sample is predicted as an image and answered as a frame with its index and time, the output
config applied per frame.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from typing import Any

import attrs
from PIL import Image, ImageOps, UnidentifiedImageError

from clarimap.server import status
from clarimap.server.errors import ApiError
from clarimap.server.modelzoo import PredictConfig, RunnableModel, missing_model_error, zoo_for
from clarimap.server.public_models import (
    PUBLIC_APP_ID,
    PUBLIC_CREATED_AT,
)
from clarimap.server.public_workflows import public_workflow, unavailable_reason
from clarimap.server.routing import RequestContext, routes
from clarimap.server.schema import (
    ANY,
    BOOL,
    INPUT,
    MODEL,
    OUTPUT_CONFIG,
    OUTPUT_INFO,
    STR,
    ListOf,
    request,
)
from clarimap.server.store import new_id, now

MAX_INPUTS = 128
DEFAULT_SAMPLE_MS = 1000
MIN_SAMPLE_MS = 100
MAX_SAMPLE_MS = 60_000
MAX_VIDEO_SAMPLES = 600
"""A video giving more samples than this is refused (raise ``sample_ms`` or cut the video)."""
MAX_CONCEPTS_LIMIT = 200

PREDICT_REQUEST = request(inputs=ListOf(INPUT, max_items=MAX_INPUTS), model=MODEL)
WORKFLOW_PREDICT_REQUEST = request(
    inputs=ListOf(INPUT, max_items=MAX_INPUTS),
    output_config=OUTPUT_CONFIG,
    workflow_state=ANY,
    favor_clarifai_workflows=BOOL,
    workflow_version_id=STR,
)


# ---------------------------------------------------------------------------------------------
# output config


def parse_output_config(raw: dict[str, Any] | None) -> PredictConfig:
    """The validated output config of a request; ``ApiError 40001`` saying what is out of range."""
    raw = raw or {}
    min_value = raw.get("min_value")
    if min_value is not None and not 0.0 <= float(min_value) <= 1.0:
        raise ApiError(
            status.PREDICT_INVALID_REQUEST,
            f"output_config.min_value must be in [0, 1], got {min_value}",
        )
    max_concepts = int(raw.get("max_concepts") or 0)
    if not 0 <= max_concepts <= MAX_CONCEPTS_LIMIT:
        raise ApiError(
            status.PREDICT_INVALID_REQUEST,
            f"output_config.max_concepts must be in [0, {MAX_CONCEPTS_LIMIT}], got {max_concepts}",
        )
    sample_ms = raw.get("sample_ms")
    if sample_ms is None or sample_ms == 0:
        sample_ms = DEFAULT_SAMPLE_MS
    if not MIN_SAMPLE_MS <= int(sample_ms) <= MAX_SAMPLE_MS:
        raise ApiError(
            status.PREDICT_INVALID_REQUEST,
            f"output_config.sample_ms must be in [{MIN_SAMPLE_MS}, {MAX_SAMPLE_MS}], got {sample_ms}",
        )
    selected = []
    for index, concept in enumerate(raw.get("select_concepts") or []):
        wanted = {key: concept[key] for key in ("id", "name") if concept.get(key)}
        if not wanted:
            raise ApiError(
                status.PREDICT_INVALID_REQUEST,
                f"output_config.select_concepts[{index}] needs an id or a name",
            )
        selected.append(wanted)
    return PredictConfig(
        min_value=None if min_value is None else float(min_value),
        max_concepts=max_concepts,
        select_concepts=tuple(selected),
        language=raw.get("language") or None,
        sample_ms=int(sample_ms),
    )


@attrs.frozen
class ConceptSelection:
    """What ``select_concepts`` resolved to for a model: the ids kept and what matched nothing."""

    ids: frozenset[str] | None
    unmatched: tuple[str, ...] = ()


def select_concepts(model: RunnableModel, config: PredictConfig) -> ConceptSelection:
    """Resolve ``select_concepts`` against the model's concepts (exact id or name match)."""
    if not config.select_concepts:
        return ConceptSelection(None)
    by_id = {c["id"]: c["id"] for c in model.concepts}
    by_name = {c.get("name", c["id"]): c["id"] for c in model.concepts}
    kept: set[str] = set()
    unmatched: list[str] = []
    for wanted in config.select_concepts:
        found = by_id.get(wanted.get("id", "")) or by_name.get(wanted.get("name", ""))
        if found is None:
            unmatched.append(wanted.get("id") or wanted.get("name", ""))
        else:
            kept.add(found)
    if not kept:
        raise ApiError(
            status.MODEL_INVALID_ARGUMENT,
            f"none of select_concepts {unmatched} is a concept of model {model.model_id!r}",
        )
    return ConceptSelection(frozenset(kept), tuple(unmatched))


def check_language(model: RunnableModel, config: PredictConfig) -> None:
    """Refuse a language the model has no concept names in (rather than answer in another)."""
    if config.language is None or not model.concepts:
        return
    languages = tuple(getattr(model, "languages", ("en",)))
    if config.language not in languages and "*" not in languages:
        raise ApiError(
            status.MODEL_INVALID_ARGUMENT,
            f"model {model.model_id!r} has concept names in {', '.join(languages)} only, "
            f"not in {config.language!r}",
        )


def _filter_concepts(
    concepts: list[dict[str, Any]],
    config: PredictConfig,
    selection: ConceptSelection,
    default_max: int,
) -> list[dict[str, Any]]:
    ordered = sorted(concepts, key=lambda c: -float(c.get("value", 0.0)))
    if selection.ids is not None:
        ordered = [c for c in ordered if c["id"] in selection.ids]
    if config.min_value is not None:
        ordered = [c for c in ordered if float(c.get("value", 0.0)) >= config.min_value]
    limit = config.max_concepts or (0 if selection.ids is not None else default_max)
    return ordered[:limit] if limit else ordered


def apply_output_config(
    data: dict[str, Any],
    model: RunnableModel,
    config: PredictConfig,
    selection: ConceptSelection,
) -> dict[str, Any]:
    """``data`` as the request asked: concepts selected, above ``min_value``, top ``max_concepts``."""
    default_max = int(getattr(model, "default_max_concepts", 20))
    shaped = dict(data)
    if "concepts" in shaped:
        shaped["concepts"] = _filter_concepts(shaped["concepts"], config, selection, default_max)
    if "colors" in shaped:
        colors = list(shaped["colors"])
        if config.min_value is not None:
            colors = [c for c in colors if float(c["value"]) >= config.min_value]
        if config.max_concepts:
            colors = colors[: config.max_concepts]
        shaped["colors"] = colors
    if "regions" in shaped:
        regions = []
        for region in shaped["regions"]:
            region_data = region.get("data") or {}
            if "concepts" in region_data:
                region = {
                    **region,
                    "data": {
                        **region_data,
                        "concepts": _filter_concepts(
                            region_data["concepts"], config, selection, default_max
                        ),
                    },
                }
            regions.append(region)
        if config.min_value is not None:
            regions = [r for r in regions if float(r.get("value", 1.0)) >= config.min_value]
        shaped["regions"] = regions
    return shaped


# ---------------------------------------------------------------------------------------------
# inputs


@attrs.define
class LoadedInput:
    """One request input, loaded: its echo, its images (one, or a video's samples) or an error."""

    echo: dict[str, Any]
    kind: str = "image"
    images: list[Image.Image] = attrs.field(factory=list)
    frames: list[tuple[int, int]] = attrs.field(factory=list)  # (index, time ms) per image
    error: tuple[int, str] | None = None


class MediaError(Exception):
    """An input that cannot be predicted: its per-item status code and details."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def load_inputs(
    ctx: RequestContext, raw_inputs: Sequence[dict[str, Any]], config: PredictConfig
) -> list[LoadedInput]:
    """Fetch, decode and (for videos) sample every input; failures become per-item errors."""
    loaded = []
    for raw in raw_inputs:
        echo = _echo(raw)
        try:
            kind, images, frames = _load_media(ctx, raw, echo, config)
        except MediaError as error:
            loaded.append(LoadedInput(echo, error=(error.code, error.details)))
            continue
        loaded.append(LoadedInput(echo, kind, images, frames))
    return loaded


def _echo(raw: dict[str, Any]) -> dict[str, Any]:
    """The ``input`` an output carries: the request's id (or a new one) and its media."""
    data = raw.get("data") or {}
    echo_data = {key: data[key] for key in ("image", "video") if data.get(key)}
    return {"id": raw.get("id") or new_id(), "data": echo_data}


def _load_media(
    ctx: RequestContext, raw: dict[str, Any], echo: dict[str, Any], config: PredictConfig
) -> tuple[str, list[Image.Image], list[tuple[int, int]]]:
    data = raw.get("data") or {}
    image, video = data.get("image") or {}, data.get("video") or {}
    if image and video:
        raise MediaError(
            status.INPUT_INVALID_ARGUMENT, "an input has an image or a video, not both"
        )
    crop = image.get("crop")
    if image or video:
        kind = "image" if image else "video"
        content = _media_bytes(ctx, image or video, kind)
    elif raw.get("id"):
        kind, content, crop = _stored_input(ctx, str(raw["id"]), echo)
    else:
        raise MediaError(
            status.INPUT_INVALID_ARGUMENT,
            "the input has no data.image, no data.video and no id of an existing input",
        )
    if kind == "video":
        samples = decode_video(content, config.sample_ms)
        return "video", [frame for _, _, frame in samples], [(i, t) for i, t, _ in samples]
    picture = decode_image(content)
    if crop:
        picture = crop_image(picture, crop)
    return "image", [picture], []


def _media_bytes(ctx: RequestContext, media: dict[str, Any], kind: str) -> bytes:
    failed = status.INPUT_DOWNLOAD_FAILED if kind == "image" else status.INPUT_VIDEO_DOWNLOAD_FAILED
    if media.get("base64"):
        try:
            return base64.b64decode(str(media["base64"]), validate=False)
        except (binascii.Error, ValueError) as error:
            raise MediaError(
                status.INPUT_INVALID_ARGUMENT, f"{kind}.base64 is not base64: {error}"
            ) from None
    if media.get("url"):
        return download(ctx, str(media["url"]), failed)
    raise MediaError(status.INPUT_INVALID_ARGUMENT, f"data.{kind} needs a url or base64")


def _stored_input(
    ctx: RequestContext, input_id: str, echo: dict[str, Any]
) -> tuple[str, bytes, list[float] | None]:
    """``(kind, bytes, crop)`` of the app's input ``input_id``."""
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.read() as connection:
        row = connection.execute(
            "SELECT i.kind, i.url, i.media, b.bytes FROM inputs i "
            "LEFT JOIN input_blobs b ON b.seq = i.seq WHERE i.app = ? AND i.id = ?",
            (app_pk, input_id),
        ).fetchone()
    if row is None:
        raise MediaError(status.INPUT_DOES_NOT_EXIST, f"no input with id {input_id!r} in this app")
    media = json.loads(row["media"] or "{}")
    echo["data"] = {row["kind"]: {k: v for k, v in media.items() if k != "base64"}}
    if row["bytes"] is not None:
        return row["kind"], bytes(row["bytes"]), media.get("crop")
    if row["url"]:
        failed = (
            status.INPUT_DOWNLOAD_FAILED
            if row["kind"] == "image"
            else status.INPUT_VIDEO_DOWNLOAD_FAILED
        )
        return row["kind"], download(ctx, row["url"], failed), media.get("crop")
    raise MediaError(status.INPUT_DOWNLOAD_PENDING, f"input {input_id!r} has no media stored yet")


def download(ctx: RequestContext, url: str, failed_code: int) -> bytes:
    """The bytes at ``url`` (http or https, size- and time-limited); ``MediaError`` otherwise."""
    from clarimap.server.processing import ProcessingError, read_url

    try:
        return read_url(ctx.server, url, failure_code=failed_code)
    except ProcessingError as error:
        raise MediaError(error.code, error.details) from None


def decode_image(content: bytes) -> Image.Image:
    """An RGB image from encoded bytes (EXIF orientation applied); ``MediaError`` 30101 if not."""
    try:
        opened = Image.open(io.BytesIO(content))
        opened.load()
        picture: Image.Image = ImageOps.exif_transpose(opened) or opened
        return picture.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(
            status.INPUT_UNSUPPORTED_FORMAT, f"the image cannot be decoded: {error}"
        ) from None


def crop_image(picture: Image.Image, crop: Sequence[float]) -> Image.Image:
    """The part inside ``crop`` = [top, left, bottom, right] (fractions); ``MediaError`` if bad."""
    if len(crop) != 4 or not all(0.0 <= float(v) <= 1.0 for v in crop):
        raise MediaError(
            status.INPUT_INVALID_ARGUMENT, f"crop must be 4 fractions in [0, 1], got {list(crop)}"
        )
    top, left, bottom, right = (float(v) for v in crop)
    if bottom <= top or right <= left:
        raise MediaError(status.INPUT_INVALID_ARGUMENT, f"crop {list(crop)} is empty")
    width, height = picture.size
    box = (
        int(left * width),
        int(top * height),
        max(int(left * width) + 1, round(right * width)),
        max(int(top * height) + 1, round(bottom * height)),
    )
    return picture.crop(box)


def decode_video(content: bytes, sample_ms: int) -> list[tuple[int, int, Image.Image]]:
    """``(index, time ms, frame)`` every ``sample_ms``: the first frame at or after each time."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency of the server extra
        raise MediaError(
            status.INPUT_VIDEO_UNSUPPORTED_FORMAT, "videos need PyAV: pip install av"
        ) from None
    samples: list[tuple[int, int, Image.Image]] = []
    try:
        with av.open(io.BytesIO(content), mode="r") as container:
            if not container.streams.video:
                raise MediaError(
                    status.INPUT_VIDEO_UNSUPPORTED_FORMAT, "the file has no video stream"
                )
            stream = container.streams.video[0]
            next_time = 0
            for frame in container.decode(stream):
                seconds = frame.time
                if seconds is None:
                    continue
                millis = seconds * 1000.0
                if millis + 0.5 < next_time:
                    continue
                picture = frame.to_image()  # type: ignore[no-untyped-call]
                while next_time <= millis + 0.5:
                    if len(samples) >= MAX_VIDEO_SAMPLES:
                        raise MediaError(
                            status.INPUT_INVALID_ARGUMENT,
                            f"the video gives more than {MAX_VIDEO_SAMPLES} samples at "
                            f"sample_ms={sample_ms}; raise sample_ms",
                        )
                    samples.append((len(samples), next_time, picture))
                    next_time += sample_ms
    except MediaError:
        raise
    except Exception as error:  # PyAV raises its own error tree for bad containers and codecs
        raise MediaError(
            status.INPUT_VIDEO_UNSUPPORTED_FORMAT, f"the video cannot be decoded: {error}"
        ) from None
    if not samples:
        raise MediaError(status.INPUT_VIDEO_UNSUPPORTED_FORMAT, "the video has no decodable frame")
    return samples


# ---------------------------------------------------------------------------------------------
# models


def zoo_model_json(model: RunnableModel) -> dict[str, Any]:
    """The ``model`` of an output for a zoo model that is not one of the public models."""
    version_id = str(getattr(model, "version_id", model.model_id))
    return {
        "id": model.model_id,
        "name": model.name,
        "created_at": PUBLIC_CREATED_AT,
        "app_id": PUBLIC_APP_ID,
        "model_type_id": model.model_type_id,
        "output_info": {
            "message": OUTPUT_INFO_MESSAGE,
            "type": model.type,
            "type_ext": model.type_ext,
        },
        "model_version": {
            "id": version_id,
            "created_at": PUBLIC_CREATED_AT,
            "status": status.envelope(status.MODEL_TRAINED),
        },
    }


OUTPUT_INFO_MESSAGE = "Show output_info with: GET /models/{model_id}/output_info"


@attrs.frozen
class ResolvedModel:
    """A model ready to predict: what runs, and the ``model`` JSON its outputs carry."""

    runnable: RunnableModel
    info: dict[str, Any]


def resolve_model(ctx: RequestContext, model_id: str, version_id: str | None) -> ResolvedModel:
    """The model ``model_id`` (version ``version_id``) of the app or the public app, runnable.

    ``21200`` when no such model or version exists, or when it is a public model no installed
    plugin provides (the description names the plugin); ``21102`` for an app model whose
    version is not trained.
    """
    from clarimap.server import api_models

    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    zoo = zoo_for(ctx.server)
    with ctx.store.read() as connection:
        record = api_models.find_model(connection, app_pk, ctx.app, model_id)
        if record is None:
            runnable = zoo.get(model_id)
            if runnable is None:
                raise missing_model_error(model_id)
            return ResolvedModel(runnable, zoo_model_json(runnable))
        version = api_models.find_version(connection, record, version_id)
        info = api_models.model_json(record, version)
    legacy_type, legacy_type_ext = record.legacy_type
    info["output_info"] = {
        "message": OUTPUT_INFO_MESSAGE,
        "type": legacy_type,
        "type_ext": legacy_type_ext,
    }
    if record.public is not None:
        runnable = zoo.get(model_id)
        if runnable is None:
            raise missing_model_error(model_id)
        return ResolvedModel(runnable, info)
    custom = _custom_model(ctx, record, version)
    if custom is None:
        code = int(version["status"]["code"])
        raise ApiError(
            status.MODEL_UNTRAINED
            if code != status.MODEL_TRAINED
            else status.MODEL_INVALID_REQUEST,
            f"model {model_id!r} version {version['id']!r} cannot predict: its status is {code} "
            f"{status.description(code)}; train it with POST /v2/models/{model_id}/versions",
        )
    return ResolvedModel(custom, info)


def _custom_model(
    ctx: RequestContext, record: Any, version: dict[str, Any]
) -> RunnableModel | None:
    """The trained model of an app model version (see :mod:`clarimap.server.training`), or None."""
    try:
        from clarimap.server import training  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    found: RunnableModel | None = training.runnable_version(ctx, record, version)
    return found


# ---------------------------------------------------------------------------------------------
# running


def run_model(
    resolved: ResolvedModel, loaded: Sequence[LoadedInput], config: PredictConfig
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """One output per input (failed inputs keep their slot) and the unmatched select_concepts."""
    model = resolved.runnable
    check_language(model, config)
    selection = select_concepts(model, config)
    images = [picture for item in loaded if item.error is None for picture in item.images]
    results = model.predict(images, config) if images else []
    if len(results) != len(images):
        raise ApiError(
            status.INTERNAL_SERVER_ISSUE,
            f"model {model.model_id!r} answered {len(results)} results for {len(images)} images",
        )
    outputs = []
    cursor = 0
    model_info = resolved.info
    for item in loaded:
        output: dict[str, Any] = {
            "id": new_id(),
            "created_at": now(),
            "model": model_info,
            "input": item.echo,
        }
        if item.error is not None:
            code, details = item.error
            output["status"] = status.envelope(code, details)
            output["data"] = {}
            outputs.append(output)
            continue
        count = len(item.images)
        shaped = [
            apply_output_config(data, model, config, selection)
            for data in results[cursor : cursor + count]
        ]
        cursor += count
        if item.kind == "video":
            output["data"] = {
                "frames": [
                    {"frame_info": {"index": index, "time": time}, "data": data}
                    for (index, time), data in zip(item.frames, shaped, strict=True)
                ]
            }
        else:
            output["data"] = shaped[0]
        output["status"] = status.envelope(status.SUCCESS)
        outputs.append(output)
    return outputs, selection.unmatched


def batch_status(item_codes: Sequence[int], unmatched: Sequence[str] = ()) -> dict[str, object]:
    """The top status of a batch from its items' codes (section 2, MIXED_STATUS)."""
    failed = [code for code in item_codes if code != status.SUCCESS]
    if item_codes and len(failed) == len(item_codes):
        return status.envelope(status.FAILURE, f"all {len(item_codes)} inputs failed")
    if failed:
        return status.envelope(
            status.MIXED_STATUS, f"{len(failed)} of {len(item_codes)} inputs failed"
        )
    if unmatched:
        return status.envelope(
            status.MIXED_STATUS,
            f"select_concepts not found in the model: {', '.join(unmatched)}",
        )
    return status.envelope(status.SUCCESS)


def _require_inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs") or []
    if not inputs:
        raise ApiError(status.PREDICT_INVALID_REQUEST, "inputs: at least one input is required")
    return list(inputs)


def _requested_output_config(model: dict[str, Any]) -> dict[str, Any] | None:
    """The predict request's output_config: ``model.output_info`` (2.6.2) and
    ``model.model_version.output_info`` (where the current API and its docs put it), merged;
    the model-level one wins where both set a field."""
    version_info = (model.get("model_version") or {}).get("output_info")
    version_config: dict[str, Any] = {}
    if version_info is not None:
        checked = OUTPUT_INFO.check(
            version_info, "model.model_version.output_info", status.PREDICT_INVALID_REQUEST
        )
        version_config = checked.get("output_config") or {}
    model_config = (model.get("output_info") or {}).get("output_config")
    if not version_config:
        return model_config
    return {**version_config, **(model_config or {})}


def _predict(ctx: RequestContext, model_id: str, version_id: str | None) -> dict[str, Any]:
    body = ctx.body(PREDICT_REQUEST, code=status.PREDICT_INVALID_REQUEST)
    raw_inputs = _require_inputs(body)
    config = parse_output_config(_requested_output_config(body.get("model") or {}))
    model = resolve_model(ctx, model_id, version_id)
    loaded = load_inputs(ctx, raw_inputs, config)
    outputs, unmatched = run_model(model, loaded, config)
    codes = [int(output["status"]["code"]) for output in outputs]
    return {"status": batch_status(codes, unmatched), "outputs": outputs}


@routes.post("models/{model_id}/outputs")
def predict(ctx: RequestContext, model_id: str) -> dict[str, Any]:
    """Predict with the latest version of a model."""
    return _predict(ctx, model_id, None)


@routes.post("models/{model_id}/versions/{version_id}/outputs")
def predict_version(ctx: RequestContext, model_id: str, version_id: str) -> dict[str, Any]:
    """Predict with one version of a model."""
    return _predict(ctx, model_id, version_id)


# ---------------------------------------------------------------------------------------------
# workflows


def _workflow_row(ctx: RequestContext, workflow_id: str) -> dict[str, Any]:
    app_pk = ctx.store.app_pk(ctx.app.user_id, ctx.app.app_id)
    with ctx.store.read() as connection:
        row = connection.execute(
            "SELECT id, body, created_at FROM workflows WHERE app = ? AND id = ?",
            (app_pk, workflow_id),
        ).fetchone()
    if row is None:
        # Not the app's: a public workflow (clarimap.server.public_workflows), if runnable here.
        public = public_workflow(ctx.server, workflow_id)
        if public is None:
            raise ApiError(
                status.WORKFLOW_DOES_NOT_EXIST,
                f"no workflow with id {workflow_id!r} in this app nor among the public ones"
                + unavailable_reason(ctx.server, workflow_id),
            )
        wire = public.json()
        return {
            "id": wire["id"],
            "app_id": wire["app_id"],
            "created_at": wire["created_at"],
            "nodes": wire["nodes"],
        }
    body = json.loads(row["body"] or "{}")
    return {
        "id": row["id"],
        "app_id": ctx.app.app_id,
        "created_at": row["created_at"],
        "nodes": body.get("nodes") or [],
    }


@routes.post("workflows/{workflow_id}/results")
def predict_workflow(ctx: RequestContext, workflow_id: str) -> dict[str, Any]:
    """Run every node of a workflow on each input: one result per input, one output per node."""
    body = ctx.body(WORKFLOW_PREDICT_REQUEST, code=status.PREDICT_INVALID_REQUEST)
    raw_inputs = _require_inputs(body)
    config = parse_output_config(body.get("output_config"))
    workflow = _workflow_row(ctx, workflow_id)
    models = []
    for node in workflow["nodes"]:
        if node.get("suppress_output"):
            continue
        node_model = node.get("model") or {}
        version = (node_model.get("model_version") or {}).get("id") or None
        models.append(resolve_model(ctx, str(node_model.get("id", "")), version))
    loaded = load_inputs(ctx, raw_inputs, config)
    per_node = [run_model(model, loaded, config)[0] for model in models]
    results = []
    for index, item in enumerate(loaded):
        outputs = [node_outputs[index] for node_outputs in per_node]
        if item.error is not None:
            item_status = status.envelope(*item.error)
        else:
            item_status = status.envelope(status.SUCCESS)
        results.append({"status": item_status, "input": item.echo, "outputs": outputs})
    codes = [int(item.error[0]) if item.error is not None else status.SUCCESS for item in loaded]
    return {
        "status": batch_status(codes),
        "workflow": {
            "id": workflow["id"],
            "app_id": workflow["app_id"],
            "created_at": workflow["created_at"],
        },
        "results": results,
    }
