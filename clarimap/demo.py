"""``clarimap demo``: a guided walk through the API against the embedded local server.

The demo is a list of steps (:data:`STEPS`), each a :class:`DemoStep` with a heading and a
function of the shared :class:`DemoContext`. A step prints what it does and raises
:class:`DemoStepFailed` when the server's answer is not what the step expected; :func:`run_demo`
prints each heading, runs the steps in order and stops at the first failure (exit code 1).
Later capabilities add a step by writing a function decorated with :func:`demo_step` and
inserting it into :data:`STEPS`.

It runs offline, in process (``local://:memory:``, no socket), with only the ``server`` extra.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, TextIO
from urllib.parse import urlencode

import attrs
import requests

from clarimap._sample_photos import SAMPLE_CONCEPTS  # a photo not listed gets its file stem

LOCAL_URL = "local://:memory:"
DEMO_API_KEY = "demo-key"
PROCESSING_TIMEOUT_SECONDS = 60.0

SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png")
DELETED_PHOTO_ID = "clock"
MEDIA_SOURCE_PHOTO_IDS = ("from-data-uri", "from-open-file")
"""Inputs the media-source step adds (from a ``data:`` URI and from an open file)."""


class DemoStepFailed(Exception):
    """A demo step got an answer it did not expect; the message says what and where."""


@attrs.define
class DemoContext:
    """What the steps share: the HTTP session to the embedded server and what earlier steps made."""

    out: TextIO
    base_url: str = LOCAL_URL
    session: requests.Session | None = None
    server: Any = None  # the embedded clarimap.server.ServerApp, once started
    photo_ids: list[str] = attrs.Factory(list)
    orm: Any = None  # a clarimap.Session on the embedded server (the model steps open it)
    custom_model: Any = None  # the clarimap.Model the demo trains

    def say(self, text: str = "") -> None:
        """Print a line of the demo's output."""
        print(text, file=self.out, flush=True)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one API call; the JSON answer, or :class:`DemoStepFailed` on an error status."""
        if self.session is None:
            raise DemoStepFailed("the server is not started")
        url = f"{self.base_url}/v2/{path}"
        if query:  # requests applies params= only to http URLs, so build the query here
            url = f"{url}?{urlencode(query)}"
        response = self.session.request(
            method,
            url,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Key {DEMO_API_KEY}", "Content-Type": "application/json"},
            timeout=60,
        )
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            raise DemoStepFailed(
                f"{method} /v2/{path} answered HTTP {response.status_code} with a non-JSON body"
            ) from None
        status = answer.get("status") or {}
        if response.status_code >= 400 or status.get("code") != 10000:
            raise DemoStepFailed(
                f"{method} /v2/{path} answered HTTP {response.status_code}, status "
                f"{status.get('code')} {status.get('description', '')!r}: {status.get('details', '')}"
            )
        return answer


@attrs.frozen
class DemoStep:
    """One step of the demo: a heading and the function that does it."""

    heading: str
    run: Callable[[DemoContext], None]


def demo_step(heading: str) -> Callable[[Callable[[DemoContext], None]], DemoStep]:
    """Decorator: make a function of the context into a :class:`DemoStep` with this heading."""

    def make(function: Callable[[DemoContext], None]) -> DemoStep:
        return DemoStep(heading, function)

    return make


# ---------------------------------------------------------------------------------------------
# the steps


@demo_step("Start the embedded server")
def start_server(ctx: DemoContext) -> None:
    """Create the local server in this process with an in-memory database."""
    from clarimap.server import create_app
    from clarimap.transport.wsgi import local_session

    ctx.server = create_app(":memory:")
    ctx.session = local_session(ctx.base_url, app=ctx.server)
    ctx.say(f"local server at {ctx.base_url} (in this process, no socket, database in memory)")


def sample_photos() -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of every sample photo shipped in ``clarimap/demo_data``."""
    folder = resources.files("clarimap") / "demo_data"
    photos = [
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.name.lower().endswith(SAMPLE_SUFFIXES)
    ]
    return sorted(photos)


def photo_id(file_name: str) -> str:
    """The input id the demo gives a sample photo: its file name without the extension."""
    return file_name.rsplit(".", 1)[0]


@demo_step("Upload the sample photos")
def upload_photos(ctx: DemoContext) -> None:
    """Create one input per sample photo (base64), with concepts and metadata, in one batch."""
    photos = sample_photos()
    if not photos:
        raise DemoStepFailed("no sample photos found in clarimap/demo_data")
    inputs = [
        {
            "id": photo_id(name),
            "data": {
                "image": {"base64": base64.b64encode(content).decode("ascii")},
                "concepts": [
                    {"id": concept, "value": 1}
                    for concept in SAMPLE_CONCEPTS.get(name, (photo_id(name),))
                ],
                "metadata": {"file": name, "bytes": len(content)},
            },
        }
        for name, content in photos
    ]
    answer = ctx.call("POST", "inputs", {"inputs": inputs})
    for created in answer.get("inputs", []):
        ctx.photo_ids.append(created["id"])
        ctx.say(f"  created {created['id']:<14} {describe_status(created.get('status'))}")
    ctx.say(f"{len(ctx.photo_ids)} photos uploaded in one call (POST /v2/inputs)")


@demo_step("Add photos from a data: URI and from an open file")
def upload_from_media_sources(ctx: DemoContext) -> None:
    """Resolve two more sources through the media plugins, upload them, check the stored bytes."""
    from clarimap.media import resolve_media

    photos = dict(sample_photos())
    data_uri_photo, file_photo = "rocket.jpg", "horse.png"
    folder = resources.files("clarimap") / "demo_data"
    data_uri = "data:image/jpeg;base64," + base64.b64encode(photos[data_uri_photo]).decode()
    with folder.joinpath(file_photo).open("rb") as open_file:
        data_uri_id, open_file_id = MEDIA_SOURCE_PHOTO_IDS
        sources = [
            (data_uri_id, data_uri_photo, "a data: URI", resolve_media(data_uri)),
            (open_file_id, file_photo, "an open file", resolve_media(open_file)),
        ]
    inputs = [
        {
            "id": input_id,
            "data": {
                resolved.kind: {"base64": base64.b64encode(resolved.base64 or b"").decode()},
                "metadata": {"file": name, "source": described},
            },
        }
        for input_id, name, described, resolved in sources
    ]
    ctx.call("POST", "inputs", {"inputs": inputs})
    for input_id, name, described, resolved in sources:
        stored = ctx.call("GET", f"inputs/{input_id}")["input"]["data"][resolved.kind]
        if base64.b64decode(stored.get("base64", "")) != photos[name]:
            raise DemoStepFailed(f"input {input_id} does not hold the bytes of {name}")
        ctx.photo_ids.append(input_id)
        ctx.say(
            f"  created {input_id:<14} from {described} ({name}, {len(photos[name])} bytes, "
            "read back byte for byte)"
        )
    ctx.say(
        "media sources resolve through the clarimap_resolve_media hook "
        "(clarimap.media.resolve_media)"
    )


@demo_step("Wait for processing")
def wait_for_processing(ctx: DemoContext) -> None:
    """Poll ``GET /v2/inputs/status`` until every input is processed; fail if one failed."""
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while True:
        counts = ctx.call("GET", "inputs/status").get("counts", {})
        waiting = int(counts.get("to_process", 0)) + int(counts.get("processing", 0))
        if waiting == 0:
            break
        if time.monotonic() > deadline:
            raise DemoStepFailed(
                f"{waiting} inputs still not processed after {PROCESSING_TIMEOUT_SECONDS:.0f} s"
            )
        time.sleep(0.05)
    ctx.say(
        f"processed: {counts.get('processed', 0)}, errors: {counts.get('errors', 0)} "
        "(GET /v2/inputs/status)"
    )
    if int(counts.get("errors", 0)):
        raise DemoStepFailed(f"{counts['errors']} sample photos failed processing")


@demo_step("List the photos")
def list_photos(ctx: DemoContext) -> None:
    """Print every input with its status, concepts and metadata."""
    print_inputs(ctx, list_all_inputs(ctx))


@demo_step("Patch their metadata")
def patch_metadata(ctx: DemoContext) -> None:
    """Merge an album name and a review flag into every photo's metadata in one PATCH."""
    patches = [
        {"id": input_id, "data": {"metadata": {"album": "samples", "reviewed": True}}}
        for input_id in ctx.photo_ids
    ]
    answer = ctx.call("PATCH", "inputs", {"action": "merge", "inputs": patches})
    patched = answer.get("inputs", [])
    for item in patched:
        metadata = item.get("data", {}).get("metadata", {})
        if metadata.get("album") != "samples" or metadata.get("reviewed") is not True:
            raise DemoStepFailed(f"input {item.get('id')} came back with metadata {metadata}")
    ctx.say(
        f"merged {{album: samples, reviewed: true}} into {len(patched)} photos "
        "(PATCH /v2/inputs, action merge)"
    )


@demo_step("Edit every photo's metadata in one session commit")
def edit_with_session(ctx: DemoContext) -> None:
    """Load the photos into a clarimap session, edit them in place, commit, print the calls."""
    import clarimap
    from clarimap import Input
    from clarimap.transport.base import RecordingTransport

    recorders: list[RecordingTransport] = []

    def record(transport: Any) -> Any:
        recorders.append(RecordingTransport(transport))
        return recorders[-1]

    with clarimap.connect(ctx.base_url, local_app=ctx.server, wrap_transport=record) as session:
        photos = [session._load(Input, wire) for wire in list_all_inputs(ctx)]
        for photo in photos:
            photo.metadata["edited_with"] = "clarimap session"  # tracked, nothing sent yet
            photo.metadata["review"] = {"round": 2}
        session.commit()
        calls = recorders[0].calls
        ctx.say(
            f"edited {len(photos)} photos in place; session.commit() sent {len(calls)} call(s):"
        )
        for request, http_status in calls:
            action = f" action {request.body.get('action')}" if request.method == "PATCH" else ""
            count = len(request.body.get("inputs", [])) if isinstance(request.body, dict) else 0
            ctx.say(
                f"  {request.method} {request.path}{action}, {count} inputs -> HTTP {http_status}"
            )
        if [request.method for request, _ in calls] != ["PATCH"] * math.ceil(len(photos) / 128):
            raise DemoStepFailed(f"expected one PATCH per 128 photos, sent {calls}")


@demo_step("Search: by concept, metadata, geo and visual similarity")
def search_photos(ctx: DemoContext) -> None:
    """Run lazy clarimap queries against the search endpoint (POST /v2/inputs/searches)."""
    import clarimap
    from clarimap import Input
    from clarimap.entities import GeoLimit, GeoPoint
    from clarimap.query import fields

    def expect(what: str, found: list[str], wanted: list[str]) -> None:
        ctx.say(f"  {what:<44} -> {', '.join(found) or '(none)'}")
        if found != wanted:
            raise DemoStepFailed(f"{what}: expected {wanted}, the server found {found}")

    with clarimap.connect(ctx.base_url, local_app=ctx.server) as session:
        photos = session.query(Input)
        space = [i.id for i in photos.where(concept="space")]
        expect('where(concept="space")', sorted(space), ["astronaut", "galaxies", "rocket"])
        animals = photos.where(concept="animal").where(metadata={"album": "samples"})
        expect(
            '... concept="animal", metadata album', sorted(i.id for i in animals), ["cat", "horse"]
        )
        places = {"cat": (2.35, 48.86), "coffee": (2.29, 48.86), "rocket": (-80.6, 28.6)}
        for input_id, (longitude, latitude) in places.items():
            photo = session.get(Input, input_id)
            if photo is not None:
                photo.geo = GeoPoint(longitude, latitude)  # tracked; the query autoflushes
        near_paris = photos.where(near=GeoPoint(2.35, 48.86), within=GeoLimit(10, "kilometers"))
        expect("within 10 km of Paris", sorted(i.id for i in near_paris), ["cat", "coffee"])
        f = fields(Input)
        not_space = photos.where(f.geo.within(GeoPoint(0, 0), GeoLimit(180, "degrees")))
        not_space = not_space.where(~f.concepts.contains("space"))
        expect(
            "has geo, not space (~ expression)", sorted(i.id for i in not_space), ["cat", "coffee"]
        )
        hits = list(photos.similar_to(input_id="rocket").limit(3).hits())
        ctx.say(
            "  similar_to(input_id='rocket')                -> "
            + ", ".join(f"{hit.item.id} {hit.score:.3f}" for hit in hits)
        )
        # the photo itself (and the copy uploaded from a data: URI) score 1.0
        if "rocket" not in [hit.item.id for hit in hits] or hits[0].score < 0.999:
            raise DemoStepFailed("visual search did not rank the rocket photo top for itself")
        ctx.say(f"  total photos (query.count, only_count)       -> {photos.count()}")


@demo_step("Delete one photo")
def delete_photo(ctx: DemoContext) -> None:
    """Delete one input by id."""
    ctx.call("DELETE", f"inputs/{DELETED_PHOTO_ID}", {})
    ctx.photo_ids.remove(DELETED_PHOTO_ID)
    ctx.say(f"deleted {DELETED_PHOTO_ID!r} (DELETE /v2/inputs/{DELETED_PHOTO_ID})")


@demo_step("List the photos again")
def list_photos_again(ctx: DemoContext) -> None:
    """List again: one photo fewer, and the patched metadata."""
    inputs = list_all_inputs(ctx)
    print_inputs(ctx, inputs)
    listed = sorted(item["id"] for item in inputs)
    if listed != sorted(ctx.photo_ids):
        raise DemoStepFailed(f"expected inputs {sorted(ctx.photo_ids)}, the server lists {listed}")


# -- models: the second half of the 2.6.2 tutorial, through the ORM -------------------------------

GENERAL_MODEL_NAME = "general-v1.3"
FACE_MODEL_ID = "a403429f2ddf4b49b307e318f00e528b"
MODELS_PLUGIN_NOTE = (
    "  note: {what} from the clarimap-models plugin, which is not installed; install it with "
    " pip install ./plugins/clarimap-models  (skipping this step)"
)
CUSTOM_MODEL_ID = "demo-things"
CUSTOM_CONCEPTS = ("animal", "space")
"""The concepts the demo's model learns (the sample photos are uploaded with them)."""


def orm_session(ctx: DemoContext) -> Any:
    """A clarimap session on the embedded server (opened once, closed by :func:`run_demo`)."""
    if ctx.orm is None:
        import clarimap

        ctx.orm = clarimap.connect(ctx.base_url, local_app=ctx.server)
    return ctx.orm


def sample_bytes(name: str) -> bytes:
    """The bytes of a sample photo."""
    return (resources.files("clarimap") / "demo_data" / name).read_bytes()


def plugin_missing(error: Exception) -> bool:
    """True when a predict failed because the models plugin is not installed (21200)."""
    from clarimap.errors import ApiError

    return isinstance(error, ApiError) and error.code == 21200


@demo_step("Predict the concepts of a photo with the general model")
def predict_general(ctx: DemoContext) -> None:
    """``session.get(Model, name="general-v1.3").predict(photo)``: ImageNet classes."""
    from clarimap import Model
    from clarimap.errors import ApiError

    general = orm_session(ctx).get(Model, name=GENERAL_MODEL_NAME)
    if general is None:
        raise DemoStepFailed(f"the server lists no model named {GENERAL_MODEL_NAME!r}")
    try:
        prediction = general.predict(sample_bytes("cat.jpg"), max_concepts=5)
    except ApiError as error:
        if plugin_missing(error):
            ctx.say(MODELS_PLUGIN_NOTE.format(what="the general model comes"))
            return
        raise
    for concept in prediction.concepts:
        ctx.say(f"  {concept.name or concept.id:<20} {concept.value:.3f}")
    ctx.say(f"cat.jpg, top 5 of {GENERAL_MODEL_NAME} (model.predict(photo, max_concepts=5))")


@demo_step("Its colours, with the colour model")
def predict_colors(ctx: DemoContext) -> None:
    """The built-in colour model: dominant colours, their W3C names and shares."""
    from clarimap import Model

    color = orm_session(ctx).get(Model, name="color")
    if color is None:
        raise DemoStepFailed("the server lists no model named 'color'")
    prediction = color.predict(sample_bytes("cat.jpg"), max_concepts=5)
    if not prediction.colors:
        raise DemoStepFailed("the colour model found no colour in cat.jpg")
    for found in prediction.colors:
        ctx.say(f"  {found.raw_hex}  nearest {found.w3c_name:<16} {found.value:6.1%} of the photo")
    ctx.say("cat.jpg, its 5 main colours (the colour model is built into the server)")


@demo_step("Faces, with the face detection model")
def predict_faces(ctx: DemoContext) -> None:
    """Face regions with their bounding boxes, for two portraits and a photo of galaxies."""
    from clarimap import Model
    from clarimap.errors import ApiError

    faces = orm_session(ctx).get(Model, FACE_MODEL_ID)
    if faces is None:
        raise DemoStepFailed(f"the server lists no model {FACE_MODEL_ID}")
    names = ["astronaut.jpg", "grace_hopper.jpg", "galaxies.jpg"]
    try:
        predictions = faces.predict([sample_bytes(name) for name in names])
    except ApiError as error:
        if plugin_missing(error):
            ctx.say(MODELS_PLUGIN_NOTE.format(what="face detection comes"))
            return
        raise
    for name, prediction in zip(names, predictions, strict=True):
        boxes = ", ".join(
            f"rows {r.bounding_box.top_row:.2f}-{r.bounding_box.bottom_row:.2f} "
            f"cols {r.bounding_box.left_col:.2f}-{r.bounding_box.right_col:.2f}"
            for r in prediction.regions
            if r.bounding_box is not None
        )
        ctx.say(f"  {name:<18} {len(prediction.regions)} face(s) {boxes}")
    ctx.say("three photos in one call (model.predict([...]))")


@demo_step("Create a model with concepts and train it on the photos")
def create_and_train(ctx: DemoContext) -> None:
    """``session.add(Model(...))``, commit, ``model.train()``: a real model on the photos' labels."""
    from clarimap import Model
    from clarimap.converters import unstructure

    session = orm_session(ctx)
    model = Model(id=CUSTOM_MODEL_ID, concepts=list(CUSTOM_CONCEPTS))
    with session.begin():
        session.add(model)
    ctx.say(
        f"created model {model.id!r} with concepts {', '.join(CUSTOM_CONCEPTS)} "
        "(session.add + commit: POST /v2/models)"
    )
    started = time.monotonic()
    version = model.train(timeout=PROCESSING_TIMEOUT_SECONDS)
    labelled = sorted(photo.id for photo in model.inputs)
    ctx.say(
        f"trained version {version.id[:8]} in {time.monotonic() - started:.2f} s: "
        f"{describe_status(unstructure(version.status))} (model.train())"
    )
    ctx.say(
        f"it learned from {version.total_input_count} labelled photos (model.inputs): "
        f"{', '.join(labelled)}"
    )
    ctx.custom_model = model


@demo_step("Predict with it")
def predict_custom(ctx: DemoContext) -> None:
    """The trained model on a photo it never saw, and on stored inputs it was not taught."""
    from clarimap import Input

    model = ctx.custom_model
    if model is None:
        raise DemoStepFailed("no trained model (the previous step did not run)")
    sources = [sample_bytes("coffee.jpg"), Input(id="from-data-uri"), Input(id="from-open-file")]
    labels = ["coffee.jpg (new)", "from-data-uri", "from-open-file"]
    for label, prediction in zip(labels, model.predict(sources), strict=True):
        scores = "  ".join(f"{c.id} {c.value:.2f}" for c in prediction.concepts)
        ctx.say(f"  {label:<18} {scores}")
    ctx.say("from-data-uri is the rocket photo, from-open-file the horse: both unlabelled")


@demo_step("Search by predicted concept")
def search_predicted(ctx: DemoContext) -> None:
    """``session.query(Input).predicted("tabby")``: ranked by the general model's predictions."""
    from clarimap import Input
    from clarimap.server.modelzoo import GENERAL_MODEL_ID, zoo_for

    query = orm_session(ctx).query(Input)
    if not hasattr(query, "predicted"):
        ctx.say("  note: this clarimap has no query(Input).predicted(); skipping this step")
        return
    if GENERAL_MODEL_ID not in zoo_for(ctx.server).ids():
        ctx.say(MODELS_PLUGIN_NOTE.format(what="predicted concepts come"))
        return
    hits = list(query.predicted("tabby").limit(3).hits())
    for hit in hits:
        ctx.say(f"  {hit.item.id:<14} score {hit.score:.3f}")
    ctx.say(
        "the photos the general model found most 'tabby' when they were processed "
        "(session.query(Input).predicted('tabby'))"
    )
    if not hits or hits[0].item.id != "cat":
        raise DemoStepFailed(f"expected the cat photo first, got {[h.item.id for h in hits]}")


STEPS: list[DemoStep] = [
    start_server,
    upload_photos,
    upload_from_media_sources,
    wait_for_processing,
    list_photos,
    patch_metadata,
    edit_with_session,
    search_photos,
    delete_photo,
    list_photos_again,
    predict_general,
    predict_colors,
    predict_faces,
    create_and_train,
    predict_custom,
    search_predicted,
]
"""The demo's steps, in the order they run."""


# ---------------------------------------------------------------------------------------------
# helpers for the steps


def list_all_inputs(ctx: DemoContext, per_page: int = 100) -> list[dict[str, Any]]:
    """Every input of the app, page by page until an empty page."""
    inputs: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = ctx.call("GET", "inputs", query={"page": page, "per_page": per_page}).get(
            "inputs", []
        )
        if not batch:
            return inputs
        inputs.extend(batch)
        page += 1


def describe_status(status: dict[str, Any] | None) -> str:
    """``30000 Download complete`` for a status object."""
    if not status:
        return "(no status)"
    return f"{status.get('code')} {status.get('description', '')}".strip()


def print_inputs(ctx: DemoContext, inputs: list[dict[str, Any]]) -> None:
    """A table of inputs: id, status, concepts, metadata."""
    ctx.say(f"  {'id':<14} {'status':<26} {'concepts':<18} metadata")
    for item in inputs:
        data = item.get("data", {})
        concepts = ",".join(
            concept["id"] if concept.get("value", 1) else f"-{concept['id']}"
            for concept in data.get("concepts", [])
        )
        metadata = json.dumps(data.get("metadata", {}), sort_keys=True)
        ctx.say(
            f"  {item['id']:<14} {describe_status(item.get('status')):<26} {concepts:<18} {metadata}"
        )
    ctx.say(f"{len(inputs)} photos (GET /v2/inputs)")


def run_demo(out: TextIO, steps: list[DemoStep] | None = None) -> int:
    """Run the steps in order, printing each heading; 0 when all pass, 1 at the first failure."""
    ctx = DemoContext(out=out)
    chosen = STEPS if steps is None else steps
    started = time.monotonic()
    try:
        for number, step in enumerate(chosen, start=1):
            ctx.say(f"\n== {number}. {step.heading} ==")
            try:
                step.run(ctx)
            except DemoStepFailed as error:
                ctx.say(f"FAILED: step {number} ({step.heading}): {error}")
                return 1
            except Exception as error:
                ctx.say(f"FAILED: step {number} ({step.heading}): {type(error).__name__}: {error}")
                return 1
    finally:
        if ctx.orm is not None:
            ctx.orm.close()
        if ctx.session is not None:
            ctx.session.close()
        if ctx.server is not None:
            ctx.server.close()
    ctx.say(f"\nDemo finished: {len(chosen)} steps in {time.monotonic() - started:.1f} s.")
    return 0
