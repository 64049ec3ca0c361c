"""``clarimap demo``: a guided tour of clarimap against the embedded local server.

The tour follows the 2.6.2 client's tutorial (upload images, search them, predict with the public
models, create a model, train it, predict with it) the clarimap way: one
:class:`~clarimap.Session` from ``clarimap.connect("local://...")``, objects added in a
``with session.begin():`` block, lazy queries, in-place edits sent by ``session.commit()``.
Every API call the session sends passes a :class:`~clarimap.transport.base.RecordingTransport`
(``connect(..., wrap_transport=...)``), and each step ends with the calls it sent, so the user
sees, for instance, twenty metadata edits leave as one PATCH.

The demo is a list of steps (:data:`STEPS`), each a :class:`DemoStep` with a heading and a
function of the shared :class:`DemoContext`. A step prints the code it runs and what came back,
and raises :class:`DemoStepFailed` when an outcome is not the expected one; :func:`run_demo`
prints each heading and the step's calls, and stops at the first failure (exit code 1). A new
capability adds a step by writing a function decorated with :func:`demo_step` and inserting it
into :data:`STEPS`.

It runs offline, in this process, with only the ``server`` extra; the model steps that need the
``clarimap-models`` plugin say so and go on when it is not loaded. Called by :mod:`clarimap.cli`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from clarimap._sample_photos import SAMPLE_CONCEPTS  # a photo not listed gets its file stem

if TYPE_CHECKING:
    from clarimap.session import Session
    from clarimap.transport.base import RecordingTransport, Request

MEMORY_DATABASE = ":memory:"
PROCESSING_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.05

SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png")
DELETED_PHOTO_ID = "clock"
MEDIA_SOURCE_PHOTO_IDS = ("from-data-uri", "from-open-file")
"""Inputs the media-source step adds (from a ``data:`` URI and from an open file)."""
MEDIA_SOURCE_PHOTOS = {"from-data-uri": "rocket.jpg", "from-open-file": "horse.png"}
"""The sample photo each media-source input holds."""

GENERAL_MODEL_NAME = "general-v1.3"
FACE_MODEL_ID = "a403429f2ddf4b49b307e318f00e528b"
CAT_CLASSES = frozenset({"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"})
"""The general model's cat classes: the cat photo's top five must hold one of them."""
CUSTOM_MODEL_ID = "demo-things"
CUSTOM_CONCEPTS = ("animal", "space")
"""The concepts the demo's model learns (the sample photos are uploaded with them)."""
WORKFLOW_ID = "demo-tour"
MODELS_PLUGIN = "clarimap-models"


class DemoStepFailed(Exception):
    """A demo step got an outcome it did not expect; the message says what and where."""


@attrs.define
class DemoContext:
    """What the steps share: the session, its call recorder, and what earlier steps made."""

    out: TextIO
    database: str = MEMORY_DATABASE
    server: Any = None  # the embedded clarimap.server.ServerApp the session reaches
    session: Session | None = None
    recorder: RecordingTransport | None = None
    shown_calls: int = 0  # how many recorded calls are already printed
    photos: dict[str, Any] = attrs.Factory(dict)  # input id -> the session's Input
    custom_model: Any = None  # the clarimap.Model the demo trains

    @property
    def url(self) -> str:
        """The ``local://`` URL of the demo's database."""
        return f"local://{self.database}"

    @property
    def orm(self) -> Session:
        """The session (:class:`DemoStepFailed` before the connect step ran)."""
        if self.session is None:
            raise DemoStepFailed("no session: the connect step did not run")
        return self.session

    def say(self, text: str = "") -> None:
        """Print a line of the demo's output."""
        print(text, file=self.out, flush=True)

    def code(self, *lines: str) -> None:
        """Print Python the step runs, as an interactive session would show it."""
        for line in lines:
            prompt = "..." if line[:1].isspace() or line.startswith(")") else ">>>"
            self.say(f"  {prompt} {line}")

    def table(
        self, header: Sequence[str] | None, rows: Sequence[Sequence[str]], indent: int = 2
    ) -> None:
        """Print rows (under a header, if any), each column as wide as its widest cell."""
        lines = [list(row) for row in rows]
        if header is not None:
            lines.insert(0, list(header))
        if not lines:
            return
        columns = len(lines[0])
        widths = [max(len(line[column]) for line in lines) for column in range(columns - 1)]
        for line in lines:
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            self.say((" " * indent + "  ".join([*cells, line[-1]])).rstrip())

    def new_calls(self) -> list[tuple[Request, int]]:
        """The calls sent since the last :meth:`show_calls` (without marking them shown)."""
        if self.recorder is None:
            return []
        return list(self.recorder.calls[self.shown_calls :])

    def show_calls(self, note: str = "") -> None:
        """Print the calls sent since the last time, one row per run of identical calls."""
        calls = self.new_calls()
        self.shown_calls += len(calls)
        if not calls:
            self.say(f"  API calls sent: none{f' ({note})' if note else ''}")
            return
        runs: list[tuple[list[str], int]] = []  # ([method, path, what, status], times)
        for request, http_status in calls:
            status = f"-> {http_status}" if http_status else "-> no answer"
            row = [request.method, short_path(request.path), describe_call(request), status]
            if runs and runs[-1][0] == row:
                runs[-1] = (row, runs[-1][1] + 1)
            else:
                runs.append((row, 1))
        self.say(f"  API calls sent: {len(calls)}{f' ({note})' if note else ''}")
        rows = [
            [*row[:3], row[3] + (f" ({times} times)" if times > 1 else "")] for row, times in runs
        ]
        self.table(None, rows, indent=4)


def short_path(path: str) -> str:
    """The path with each 32-hex-digit id cut to its first 8 digits (``aaa03c23..``)."""
    return re.sub(r"\b([0-9a-f]{8})[0-9a-f]{24}\b", r"\1..", path)


def plural(count: int, word: str) -> str:
    """``1 input``, ``8 inputs``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe_call(request: Request) -> str:
    """What a call's body carries, in a few words (``merge, 10 inputs``; ``filter concepts``)."""
    body = request.body if isinstance(request.body, dict) else {}
    parts: list[str] = []
    if "action" in body:
        parts.append(str(body["action"]))
    for key, word in (
        ("inputs", "input"),
        ("ids", "id"),
        ("models", "model"),
        ("workflows", "workflow"),
    ):
        if isinstance(body.get(key), list):
            parts.append(plural(len(body[key]), word))
    if "model_query" in body:
        parts.append(f"name {body['model_query'].get('name')!r}")
    for search in body.get("searches") or []:
        query = search.get("query") or {}
        for kind, items in (
            ("filter", query.get("filters") or []),
            ("rank", query.get("ranks") or []),
        ):
            for item in items:
                annotation = item.get("annotation") or item.get("output") or {}
                if "input_id" in annotation:
                    what = f"like input {annotation['input_id']!r}"
                else:
                    what = ", ".join(sorted(annotation.get("data") or {})) or "?"
                negated = "not " if item.get("negate") else ""
                parts.append(f"{kind} {negated}{what}")
        if not query.get("filters") and not query.get("ranks"):
            parts.append("every input")
    if body.get("only_count"):
        parts.append("count only")
    elif "pagination" in body:
        page = body["pagination"]
        parts.append(f"page {page.get('page')}")
    return "; ".join(parts)


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


def expect(condition: bool, message: str) -> None:
    """Raise :class:`DemoStepFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise DemoStepFailed(message)


# ---------------------------------------------------------------------------------------------
# sample photos


def sample_photos() -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of every sample photo shipped in ``clarimap/demo_data``."""
    folder = resources.files("clarimap") / "demo_data"
    photos = [
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.name.lower().endswith(SAMPLE_SUFFIXES)
    ]
    return sorted(photos)


def sample_bytes(name: str) -> bytes:
    """The bytes of one sample photo."""
    return (resources.files("clarimap") / "demo_data" / name).read_bytes()


def photo_id(file_name: str) -> str:
    """The input id the demo gives a sample photo: its file name without the extension."""
    return file_name.rsplit(".", 1)[0]


def concepts_of(file_name: str) -> list[str]:
    """The concepts a sample photo is uploaded with."""
    return list(SAMPLE_CONCEPTS.get(file_name, (photo_id(file_name),)))


def expected_photo_ids() -> list[str]:
    """Every input id the upload steps create."""
    return [photo_id(name) for name, _ in sample_photos()] + list(MEDIA_SOURCE_PHOTO_IDS)


def models_plugin_loaded(ctx: DemoContext) -> bool:
    """True when the server runs the general model (the ``clarimap-models`` plugin is loaded)."""
    from clarimap.server.modelzoo import GENERAL_MODEL_ID, zoo_for

    return GENERAL_MODEL_ID in zoo_for(ctx.server).ids()


def plugin_note(ctx: DemoContext, what: str) -> None:
    """Say that ``what`` needs the models plugin, why it is not loaded, and how to load it."""
    from clarimap.plugins import disabled_entry_points

    disabled = disabled_entry_points()
    why = (
        "plugins are turned off (CLARIMAP_DISABLE_PLUGINS)"
        if disabled is None or disabled
        else f"it is not installed: pip install ./plugins/{MODELS_PLUGIN}"
    )
    ctx.say(f"  note: {what} needs the {MODELS_PLUGIN} plugin, which is not loaded:")
    ctx.say(f"  {why}. Skipping this step.")


# ---------------------------------------------------------------------------------------------
# the steps: inputs


@demo_step("Connect to a local Clarifai-compatible server")
def connect_session(ctx: DemoContext) -> None:
    """``clarimap.connect("local://...")``: the embedded server, in this process."""
    import clarimap
    from clarimap.server import create_app
    from clarimap.transport.base import RecordingTransport

    def record(transport: Any) -> RecordingTransport:
        ctx.recorder = RecordingTransport(transport)
        return ctx.recorder

    where = "in memory" if ctx.database == MEMORY_DATABASE else f"in {ctx.database}"
    ctx.say("A session talks to any Clarifai v2 API; a local:// URL runs a compatible server")
    ctx.say(f"inside this process (SQLite {where}, no socket, no account, no network).")
    ctx.code(
        "import clarimap",
        "from clarimap import Input, Model",
        f'session = clarimap.connect("{ctx.url}")',
    )
    ctx.server = create_app(ctx.database)  # made here so that run_demo can close it
    ctx.session = clarimap.connect(ctx.url, local_app=ctx.server, wrap_transport=record)
    ctx.show_calls("connecting sends nothing")


@demo_step("Upload the sample photos")
def upload_photos(ctx: DemoContext) -> None:
    """One ``Input.from_media`` per sample photo, added in one block: one POST creates them."""
    from clarimap import Input

    photos = sample_photos()
    expect(bool(photos), "no sample photos found in clarimap/demo_data")
    ctx.say("Each photo becomes an Input with its concepts and metadata. Nothing is sent while")
    ctx.say("the block runs; at its end the session commits them all in one call.")
    ctx.code(
        "with session.begin():",
        "    for name, photo in sample_photos:  # (file name, bytes), concepts[name]: a list",
        "        session.add(Input.from_media(",
        '            photo, id=name.split(".")[0], concepts=concepts[name], metadata={"file": name}',
        "        ))",
    )
    session = ctx.orm
    added = []
    with session.begin():
        for name, content in photos:
            photo = Input.from_media(
                content, id=photo_id(name), concepts=concepts_of(name), metadata={"file": name}
            )
            session.add(photo)
            added.append(photo)
        expect(not ctx.new_calls(), "the session sent a call before the block ended")
    expect(not session.new, f"still waiting to be created: {[i.id for i in session.new]}")
    rows = []
    for photo in added:
        expect(photo.status is not None, f"the server gave {photo.id} no status")
        rows.append([photo.id, ", ".join(photo.concept_ids), describe_status(photo.status)])
    ctx.table(["id", "concepts", "status (the server's answer)"], rows)
    ctx.show_calls()


@demo_step("Add photos from a data: URI and from an open file")
def upload_from_media_sources(ctx: DemoContext) -> None:
    """Two more media sources through the media plugins; the stored bytes are read back."""
    from clarimap import Input

    data_uri_id, open_file_id = MEDIA_SOURCE_PHOTO_IDS
    data_uri_photo, file_photo = MEDIA_SOURCE_PHOTOS[data_uri_id], MEDIA_SOURCE_PHOTOS[open_file_id]
    ctx.say("Input.from_media also reads paths, URLs, data: URIs and open files (any source a")
    ctx.say("clarimap_resolve_media plugin adds, too).")
    ctx.code(
        f'rocket = Input.from_media("data:image/jpeg;base64,...", id="{data_uri_id}")',
        f'with open("{file_photo}", "rb") as file:',
        f'    horse = Input.from_media(file, id="{open_file_id}")',
        "session.add_all([rocket, horse])",
        "session.commit()",
        "session.refresh(rocket)  # the server answers a hosted URL for bytes, as Clarifai does",
        "session.fetch_media(rocket)  # the bytes at that URL",
    )
    session = ctx.orm
    expected = {name: sample_bytes(name) for name in (data_uri_photo, file_photo)}
    data_uri = "data:image/jpeg;base64," + base64.b64encode(expected[data_uri_photo]).decode()
    rocket = Input.from_media(data_uri, id=data_uri_id, metadata={"source": "a data: URI"})
    with (resources.files("clarimap") / "demo_data" / file_photo).open("rb") as open_file:
        horse = Input.from_media(open_file, id=open_file_id, metadata={"source": "an open file"})
    session.add_all([rocket, horse])
    session.commit()
    rows = []
    for photo, name in ((rocket, data_uri_photo), (horse, file_photo)):
        session.refresh(photo)
        hosted = photo.image is not None and "/v2/hosted/orig/" in (photo.image.url or "")
        expect(hosted, f"input {photo.id} has no hosted URL: {photo.image}")
        stored = session.fetch_media(photo)
        expect(stored == expected[name], f"input {photo.id} does not hold the bytes of {name}")
        rows.append([photo.id, photo.metadata["source"], f"{name}, {len(stored)} bytes", "yes"])
    ctx.table(["id", "from", "photo", "read back byte for byte"], rows)
    ctx.show_calls()


@demo_step("Wait until the server has processed them")
def wait_for_processing(ctx: DemoContext) -> None:
    """``session.wait_for_inputs()`` polls the input counts until nothing is left to process."""
    from clarimap import Progress

    ctx.say("The server downloads, checks and indexes new inputs in the background (2.6.2:")
    ctx.say("app.wait_until_inputs_upload_finish). Long work reports its progress to a callback")
    ctx.say("(connect(progress=True) prints it).")
    ctx.code(
        "session.progress = reports.append  # a Progress after each poll",
        "session.wait_for_inputs()",
        "session.input_counts()",
    )
    session = ctx.orm
    reports: list[Progress] = []
    session.progress = reports.append
    try:
        session.wait_for_inputs(timeout=PROCESSING_TIMEOUT_SECONDS, interval=POLL_INTERVAL_SECONDS)
    finally:
        session.progress = None
    polls = [report for report in reports if not report.finished]
    shown = [f"{report.done}/{report.total}" for report in polls]
    if len(shown) > 6:
        shown = [*shown[:3], "...", *shown[-2:]]
    ctx.say(f"  progress: {', '.join(shown)} (processed of pending at the first poll)")
    counts = session.input_counts()
    ctx.say(
        f"  InputCounts(processed={counts.processed}, to_process={counts.to_process}, "
        f"errors={counts.errors}, processing={counts.processing})"
    )
    expect(counts.errors == 0, f"{counts.errors} photos failed processing")
    wanted = len(expected_photo_ids())
    expect(counts.processed == wanted, f"{counts.processed} inputs processed, expected {wanted}")
    ctx.show_calls()


@demo_step("List the photos")
def list_photos(ctx: DemoContext) -> None:
    """``session.query(Input).all()``: every input, with its status, concepts and metadata."""
    ctx.say("A query is a value until it runs; .all() runs it, a page of up to 128 a call.")
    ctx.code("photos = session.query(Input).all()")
    ctx.photos = {photo.id: photo for photo in print_inputs(ctx, expected_photo_ids())}
    ctx.show_calls()


@demo_step("Edit every photo's metadata, then commit once")
def edit_metadata(ctx: DemoContext) -> None:
    """In-place edits are tracked; ``session.commit()`` sends them as one PATCH (merge)."""
    session = ctx.orm
    photos = list(ctx.photos.values())
    ctx.say("Edit the objects in place: the session tracks each change and sends nothing yet.")
    ctx.code(
        "for photo in photos:",
        '    photo.metadata["album"] = "samples"',
        '    photo.metadata["reviewed"] = True',
        "len(session.dirty)",
    )
    edits = 0
    for photo in photos:
        photo.metadata["album"] = "samples"
        photo.metadata["reviewed"] = True
        edits += 2
    ctx.say(f"  {len(session.dirty)}")
    expect(not ctx.new_calls(), "an edit sent a call before the commit")
    expect(
        len(session.dirty) == len(photos), f"{len(session.dirty)} photos dirty, not {len(photos)}"
    )
    ctx.code("session.commit()")
    session.commit()
    calls = ctx.new_calls()
    patches = [request for request, _ in calls if request.method == "PATCH"]
    expected_patches = math.ceil(len(photos) / 128)
    expect(
        len(calls) == len(patches) == expected_patches,
        f"expected {expected_patches} PATCH call(s), the commit sent "
        f"{[request.describe() for request, _ in calls]}",
    )
    ctx.say(
        f"  {edits} edits to {len(photos)} photos left as {plural(len(patches), 'PATCH')} "
        "(action merge: only the changed keys)."
    )
    ctx.show_calls()


@demo_step("Search: by concept, metadata, geo and visual similarity")
def search_photos(ctx: DemoContext) -> None:
    """Lazy queries compiled to ``POST /v2/inputs/searches`` (2.6.2: ``app.inputs.search_by_*``)."""
    from clarimap import GeoLimit, GeoPoint, Input
    from clarimap.query import fields

    session = ctx.orm
    inputs = session.query(Input)
    f = fields(Input)
    rows: list[list[str]] = []

    def found(label: str, ids: list[str], wanted: list[str]) -> None:
        rows.append([label, ", ".join(ids) or "(none)"])
        expect(ids == wanted, f"{label}: expected {wanted}, the server found {ids}")

    ctx.say("Each query runs when iterated. Geo points set on three photos are sent by the next")
    ctx.say("query's autoflush, so the search sees them.")
    ctx.code(
        "inputs = session.query(Input)",
        "f = fields(Input)  # from clarimap.query import fields",
        "paris = GeoPoint(2.35, 48.86)",
        'session.get(Input, "cat").geo = paris  # loaded by the listing: no call',
        'session.get(Input, "coffee").geo = GeoPoint(2.29, 48.86)',
        'session.get(Input, "rocket").geo = GeoPoint(-80.6, 28.6)  # Cape Canaveral',
    )
    found(
        'inputs.where(concept="space")',
        sorted(i.id for i in inputs.where(concept="space")),
        ["astronaut", "galaxies", "rocket"],
    )
    animals = inputs.where(concept="animal").where(metadata={"album": "samples"})
    found(
        'inputs.where(concept="animal", metadata={"album": "samples"})',
        sorted(i.id for i in animals),
        ["cat", "horse"],
    )
    paris = GeoPoint(2.35, 48.86)
    places = {"cat": paris, "coffee": GeoPoint(2.29, 48.86), "rocket": GeoPoint(-80.6, 28.6)}
    sent_before = len(ctx.new_calls())
    for input_id, point in places.items():
        photo = session.get(Input, input_id)
        expect(photo is not None, f"the session lost {input_id}")
        assert photo is not None
        photo.geo = point  # tracked; the next query autoflushes it
    expect(
        len(ctx.new_calls()) == sent_before,
        "session.get sent a call for a photo the listing loaded",
    )
    near_paris = inputs.where(near=paris, within=GeoLimit(10, "kilometers"))
    found(
        'inputs.where(near=paris, within=GeoLimit(10, "kilometers"))',
        sorted(i.id for i in near_paris),
        ["cat", "coffee"],
    )
    not_space = inputs.where(f.geo.within(GeoPoint(0, 0), GeoLimit(180, "degrees")))
    not_space = not_space.where(~f.concepts.contains("space"))
    found(
        'inputs.where(f.geo.within(...), ~f.concepts.contains("space"))',
        sorted(i.id for i in not_space),
        ["cat", "coffee"],
    )
    hits = list(inputs.similar_to(input_id="rocket").limit(3).hits())
    rows.append(
        [
            'inputs.similar_to(input_id="rocket").limit(3)',
            ", ".join(f"{hit.item.id} {hit.score:.3f}" for hit in hits),
        ]
    )
    # the rocket photo (and its copy uploaded from a data: URI) score 1.0 against itself
    expect(
        "rocket" in [hit.item.id for hit in hits] and hits[0].score > 0.999,
        "visual search did not rank the rocket photo top for itself",
    )
    in_album = inputs.where(metadata={"album": "samples"}).count()
    rows.append(['inputs.where(metadata={"album": "samples"}).count()', str(in_album)])
    expect(in_album == len(ctx.photos), f"{in_album} photos in the album, not {len(ctx.photos)}")
    ctx.table(["query", "found"], rows)
    ctx.show_calls()


@demo_step("Delete one photo")
def delete_photo(ctx: DemoContext) -> None:
    """``session.delete(photo)`` + ``commit()``: one DELETE; the server then answers 404."""
    from clarimap import Input

    session = ctx.orm
    ctx.say("session.delete marks an object; the commit deletes it. Reading it again asks the")
    ctx.say("server, which no longer has it (404), so get() returns None.")
    ctx.code(
        f'clock = session.get(Input, "{DELETED_PHOTO_ID}")  # already loaded: no call',
        "session.delete(clock)",
        "session.commit()",
        f'session.get(Input, "{DELETED_PHOTO_ID}")',
    )
    photo = session.get(Input, DELETED_PHOTO_ID)
    expect(photo is not None, f"the session has no photo {DELETED_PHOTO_ID!r}")
    expect(not ctx.new_calls(), "session.get sent a call for an object it holds")
    session.delete(photo)
    session.commit()
    again = session.get(Input, DELETED_PHOTO_ID)
    ctx.say(f"  {again!r}")
    expect(again is None, f"{DELETED_PHOTO_ID!r} is still on the server after the delete")
    del ctx.photos[DELETED_PHOTO_ID]
    ctx.show_calls()


@demo_step("List the photos again")
def list_photos_again(ctx: DemoContext) -> None:
    """List again: one photo fewer, every one with the committed metadata."""
    ctx.say("One photo fewer, and every photo holds the committed metadata.")
    ctx.code("photos = session.query(Input).all()")
    wanted = [input_id for input_id in expected_photo_ids() if input_id != DELETED_PHOTO_ID]
    photos = print_inputs(ctx, wanted)
    for photo in photos:
        expect(
            photo.metadata.get("album") == "samples" and photo.metadata.get("reviewed") is True,
            f"{photo.id} came back with metadata {dict(photo.metadata)}",
        )
    ctx.show_calls()


# ---------------------------------------------------------------------------------------------
# the steps: models (the 2.6.2 tutorial's predict, create, train, predict-with-model)


@demo_step("Predict the concepts of a photo with the general model")
def predict_general(ctx: DemoContext) -> None:
    """``session.get(Model, name="general-v1.3").predict(photo)``: ImageNet classes."""
    from clarimap import Model

    ctx.say("Public models predict without training (2.6.2: app.models.get(...).predict_by_url).")
    if not models_plugin_loaded(ctx):
        plugin_note(ctx, "the general model")
        return
    ctx.code(
        f'general = session.get(Model, name="{GENERAL_MODEL_NAME}")',
        "general.predict(cat_photo, max_concepts=5).concepts",
    )
    general = ctx.orm.get(Model, name=GENERAL_MODEL_NAME)
    expect(general is not None, f"the server lists no model named {GENERAL_MODEL_NAME!r}")
    assert general is not None
    prediction = general.predict(sample_bytes("cat.jpg"), max_concepts=5)
    names = [concept.name or concept.id for concept in prediction.concepts]
    ctx.table(
        ["concept", "score"],
        [[name, f"{c.value:.3f}"] for name, c in zip(names, prediction.concepts, strict=True)],
    )
    expect(bool(CAT_CLASSES & set(names)), f"no cat class in the cat photo's top 5: {names}")
    ctx.show_calls("by name: a model search, then the model")


@demo_step("Its colours, with the colour model")
def predict_colors(ctx: DemoContext) -> None:
    """The built-in colour model: dominant colours, their W3C names and shares."""
    from clarimap import Model

    ctx.say("The colour model is built into the server: it needs no plugin.")
    ctx.code('session.get(Model, name="color").predict(cat_photo, max_concepts=5).colors')
    color = ctx.orm.get(Model, name="color")
    expect(color is not None, "the server lists no model named 'color'")
    assert color is not None
    prediction = color.predict(sample_bytes("cat.jpg"), max_concepts=5)
    expect(bool(prediction.colors), "the colour model found no colour in cat.jpg")
    ctx.table(
        ["colour", "nearest W3C name", "share of the photo"],
        [[c.raw_hex, c.w3c_name, f"{c.value:6.1%}"] for c in prediction.colors],
    )
    ctx.show_calls()


@demo_step("Faces, with the face detection model")
def predict_faces(ctx: DemoContext) -> None:
    """Face regions with their bounding boxes: two portraits and a photo of galaxies."""
    from clarimap import Model

    names = ["astronaut.jpg", "grace_hopper.jpg", "galaxies.jpg"]
    ctx.say("A list of sources is one call; the answer is one Prediction per source, in order.")
    if not models_plugin_loaded(ctx):
        plugin_note(ctx, "face detection")
        return
    ctx.code(
        f'faces = session.get(Model, "{FACE_MODEL_ID}")',
        "faces.predict([astronaut, grace_hopper, galaxies])",
    )
    faces = ctx.orm.get(Model, FACE_MODEL_ID)
    expect(faces is not None, f"the server lists no model {FACE_MODEL_ID}")
    assert faces is not None
    predictions = faces.predict([sample_bytes(name) for name in names])
    rows = []
    found: dict[str, int] = {}
    for name, prediction in zip(names, predictions, strict=True):
        boxes = [r.bounding_box for r in prediction.regions if r.bounding_box is not None]
        found[name] = len(prediction.regions)
        where = ", ".join(
            f"rows {b.top_row:.2f}-{b.bottom_row:.2f}, cols {b.left_col:.2f}-{b.right_col:.2f}"
            for b in boxes
        )
        rows.append([name, str(len(prediction.regions)), where or "-"])
    ctx.table(["photo", "faces", "where (fractions of the photo)"], rows)
    expect(
        found["astronaut.jpg"] >= 1 and found["grace_hopper.jpg"] >= 1,
        f"a portrait without a face: {found}",
    )
    expect(found["galaxies.jpg"] == 0, f"faces found among the galaxies: {found}")
    ctx.show_calls()


@demo_step("Create a model with concepts and train it on the photos")
def create_and_train(ctx: DemoContext) -> None:
    """``session.add(Model(...))``, commit, ``model.train()``: a real model on the photos' labels."""
    from clarimap import Model

    session = ctx.orm
    concepts = ", ".join(f'"{c}"' for c in CUSTOM_CONCEPTS)
    ctx.say("A model learns from the app's inputs annotated with its concepts (2.6.2:")
    ctx.say("app.models.create(...) then model.train()).")
    ctx.code(
        f'model = Model(id="{CUSTOM_MODEL_ID}", concepts=[{concepts}])',
        "with session.begin():",
        "    session.add(model)",
        "version = model.train()  # waits until trained",
        "sorted(photo.id for photo in model.inputs)",
    )
    model = Model(id=CUSTOM_MODEL_ID, concepts=list(CUSTOM_CONCEPTS))
    with session.begin():
        session.add(model)
    started = time.monotonic()
    version = model.train(timeout=PROCESSING_TIMEOUT_SECONDS)
    seconds = time.monotonic() - started
    labelled = sorted(photo.id for photo in model.inputs)
    ctx.table(
        ["version", "status", "trained on", "took"],
        [
            [
                version.id[:8] + "..",
                describe_status(version.status),
                plural(version.total_input_count, "photo"),
                f"{seconds:.2f} s",
            ]
        ],
    )
    ctx.say(f"  {labelled}")
    expect(
        version.status is not None and version.status.code == 21100,
        f"training ended with {describe_status(version.status)}",
    )
    ctx.custom_model = model
    ctx.show_calls()


@demo_step("Predict with it")
def predict_custom(ctx: DemoContext) -> None:
    """The trained model on a photo it never saw, and on stored inputs it was not taught."""
    from clarimap import Input

    model = ctx.custom_model
    expect(model is not None, "no trained model (the previous step did not run)")
    ctx.say("A source may be new media, or a stored input named by id (predicted on the server).")
    ctx.code('model.predict([coffee_photo, Input(id="from-data-uri"), Input(id="from-open-file")])')
    sources = [sample_bytes("coffee.jpg"), *(Input(id=i) for i in MEDIA_SOURCE_PHOTO_IDS)]
    labels = [
        "coffee.jpg (new)",
        *(f"{i} ({MEDIA_SOURCE_PHOTOS[i]})" for i in MEDIA_SOURCE_PHOTO_IDS),
    ]
    predictions = model.predict(sources)
    rows = []
    for label, prediction in zip(labels, predictions, strict=True):
        scores = "  ".join(f"{c.id} {c.value:.2f}" for c in prediction.concepts)
        rows.append([label, scores])
    ctx.table(["source", "concepts"], rows)
    ctx.say("  Neither stored photo carries a label, yet the rocket is space and the horse animal.")
    tops = [p.concepts[0].id if p.concepts else None for p in predictions[1:]]
    expect(
        tops == ["space", "animal"], f"expected the rocket as space, the horse as animal: {tops}"
    )
    ctx.show_calls()


EVALUATION_CROPS = ((0.0, 0.0, 0.8, 0.8), (0.2, 0.2, 1.0, 1.0))
"""Two crops (top, left, bottom, right) of each labelled photo: more examples to evaluate on."""


@demo_step("Evaluate it by cross-validation")
def evaluate_custom(ctx: DemoContext) -> None:
    """``model.evaluate()``: k-fold cross-validation on the labelled photos and two crops of each."""
    from clarimap import Input

    model = ctx.custom_model
    expect(model is not None, "no trained model (an earlier step did not run)")
    session = ctx.orm
    ctx.say("The server trains on part of the labelled inputs and scores the others, fold by")
    ctx.say("fold (2.6.2: model.evaluate()). Five photos are too few, so two crops of each join")
    ctx.say("them for this step. A crop resembles its photo: read the figures as the evaluation")
    ctx.say("at work, not as how the model does on photos it never saw.")
    ctx.code(
        "with session.begin():  # crop = (top, left, bottom, right) fractions",
        "    for photo in model.inputs:",
        "        for n, crop in enumerate(CROPS):",
        "            session.add(Input.from_media(",
        '                files[photo.id], id=f"{photo.id}-crop{n}", concepts=photo.concepts,',
        "                crop=crop))",
        "session.wait_for_inputs()",
        "metrics = model.evaluate()  # waits until evaluated",
    )
    labelled = sorted(model.inputs, key=lambda photo: photo.id)
    files = {photo_id(name): name for name in SAMPLE_CONCEPTS}
    crops = [
        Input.from_media(
            sample_bytes(files[photo.id]),
            id=f"{photo.id}-crop{number}",
            concepts=photo.concepts,
            crop=crop,
        )
        for photo in labelled
        for number, crop in enumerate(EVALUATION_CROPS)
    ]
    with session.begin():
        session.add_all(crops)
    session.wait_for_inputs(timeout=PROCESSING_TIMEOUT_SECONDS)
    metrics = model.evaluate(timeout=PROCESSING_TIMEOUT_SECONDS)
    ctx.table(
        ["concept", "positives", "negatives", "ROC AUC", "F1"],
        [
            [m.concept_id, str(m.num_pos), str(m.num_neg), f"{m.roc_auc:.2f}", f"{m.f1:.2f}"]
            for m in metrics.binary_metrics
        ],
    )
    ctx.say(
        f"  top-1 accuracy {metrics.summary.top1_accuracy:.2f} ({describe_status(metrics.status)})"
    )
    ctx.say("  The crops are deleted again, so the next steps see the photos alone.")
    for crop_input in crops:
        session.delete(crop_input)
    session.commit()
    evaluated = sorted(m.concept_id for m in metrics.binary_metrics)
    expect(
        evaluated == sorted(CUSTOM_CONCEPTS),
        f"expected metrics for {sorted(CUSTOM_CONCEPTS)}, got {evaluated}",
    )
    counts = {m.concept_id: m.num_pos for m in metrics.binary_metrics}
    expect(
        all(
            count == 3 * sum(1 for p in labelled if concept in {c.id for c in p.concepts})
            for concept, count in counts.items()
        ),
        f"every labelled photo and its two crops should be counted: {counts}",
    )
    ctx.show_calls()


@demo_step("Run several models in one call with a workflow")
def run_workflow(ctx: DemoContext) -> None:
    """``session.create_workflow(...)`` then ``workflow.predict(...)``: every node in one call."""
    from clarimap import Input, Model

    model = ctx.custom_model
    expect(model is not None, "no trained model (the training step did not run)")
    session = ctx.orm
    with_general = models_plugin_loaded(ctx)
    ctx.say("A workflow pins models at their versions and runs each of them on every input.")
    ctx.code(
        'color = session.get(Model, name="color")',
        f'workflow = session.create_workflow("{WORKFLOW_ID}", '
        + ("[general, color, model])" if with_general else "[color, model])"),
        'workflow.predict(Input(id="horse"), max_concepts=3).outputs',
    )
    nodes = [session.get(Model, name="color"), model]
    if with_general:
        nodes.insert(0, session.get(Model, name=GENERAL_MODEL_NAME))
    else:
        ctx.say(
            f"  (no general model node: it needs the {MODELS_PLUGIN} plugin, which is not loaded)"
        )
    expect(all(node is not None for node in nodes), "a workflow model is missing on the server")
    workflow = session.create_workflow(WORKFLOW_ID, nodes)
    result = workflow.predict(Input(id="horse"), max_concepts=3)
    rows = []
    for node, output in zip(workflow.nodes, result.outputs, strict=False):
        if output.colors:
            seen = ", ".join(f"{c.w3c_name} {c.value:.1%}" for c in output.colors)
        else:
            seen = ", ".join(f"{c.name or c.id} {c.value:.2f}" for c in output.concepts)
        rows.append([node.id, seen])
    ctx.table(["node", "horse.png"], rows)
    expect(
        len(result.outputs) == len(nodes),
        f"{len(result.outputs)} outputs for {len(nodes)} nodes",
    )
    mine = result.output_of(model.id)
    expect(
        bool(mine.concepts) and mine.concepts[0].id == "animal",
        f"the workflow's {model.id} node did not see an animal: {mine.concept_ids}",
    )
    ctx.show_calls()


@demo_step("Search by predicted concept")
def search_predicted(ctx: DemoContext) -> None:
    """``session.query(Input).predicted("tabby")``: ranked by the general model's predictions."""
    from clarimap import Input

    ctx.say("The server ran the general model on each photo when it processed it; a query can")
    ctx.say("rank by those predictions (2.6.2: app.inputs.search_by_predicted_concepts).")
    if not models_plugin_loaded(ctx):
        plugin_note(ctx, "search by predicted concept")
        return
    ctx.code('session.query(Input).predicted("tabby").limit(3).hits()')
    hits = list(ctx.orm.query(Input).predicted("tabby").limit(3).hits())
    ctx.table(["input", "score"], [[hit.item.id, f"{hit.score:.3f}"] for hit in hits])
    expect(
        bool(hits) and hits[0].item.id == "cat",
        f"expected the cat photo first, got {[h.item.id for h in hits]}",
    )
    ctx.show_calls()


STEPS: list[DemoStep] = [
    connect_session,
    upload_photos,
    upload_from_media_sources,
    wait_for_processing,
    list_photos,
    edit_metadata,
    search_photos,
    delete_photo,
    list_photos_again,
    predict_general,
    predict_colors,
    predict_faces,
    create_and_train,
    predict_custom,
    evaluate_custom,
    run_workflow,
    search_predicted,
]
"""The demo's steps, in the order they run."""


# ---------------------------------------------------------------------------------------------
# helpers for the steps


def describe_status(status: Any) -> str:
    """``30000 Download complete`` for a :class:`~clarimap.Status` (or ``(no status)``)."""
    if status is None:
        return "(no status)"
    return f"{status.code} {status.description}".strip()


def print_inputs(ctx: DemoContext, wanted: list[str]) -> list[Any]:
    """List every input with ``session.query(Input).all()`` as a table; check the ids."""
    from clarimap import Input

    photos = ctx.orm.query(Input).all()
    rows = []
    for photo in photos:
        concepts = ",".join(c.id if c.value else f"-{c.id}" for c in photo.concepts)
        metadata = json.dumps(dict(photo.metadata), sort_keys=True)
        rows.append([photo.id, describe_status(photo.status), concepts or "-", metadata])
    ctx.table(["id", "status", "concepts", "metadata"], rows)
    ctx.say(f"  {plural(len(photos), 'photo')}")
    listed = sorted(photo.id for photo in photos)
    expect(listed == sorted(wanted), f"expected inputs {sorted(wanted)}, the server lists {listed}")
    return photos


def run_demo(
    out: TextIO, steps: list[DemoStep] | None = None, *, database: str = MEMORY_DATABASE
) -> int:
    """Run the steps in order, each with its heading; 0 when all pass, 1 at the first failure.

    ``database`` is where the embedded server keeps its data (``:memory:`` by default; a file
    path keeps it for ``clarimap serve``).
    """
    ctx = DemoContext(out=out, database=database)
    chosen = STEPS if steps is None else steps
    started = time.monotonic()
    ctx.say("clarimap demo: a guided tour of the object mapper against the local server.")
    ctx.say("Each step shows the Python it runs, what came back, and the API calls it sent.")
    try:
        for number, step in enumerate(chosen, start=1):
            ctx.say(f"\n== {number}. {step.heading} ==")
            try:
                step.run(ctx)
                if ctx.new_calls():
                    ctx.show_calls()
            except DemoStepFailed as error:
                ctx.say(f"FAILED: step {number} ({step.heading}): {error}")
                return 1
            except Exception as error:
                ctx.say(f"FAILED: step {number} ({step.heading}): {type(error).__name__}: {error}")
                return 1
    finally:
        if ctx.session is not None:
            ctx.session.close()
        if ctx.server is not None:
            ctx.server.close()
    total = len(ctx.recorder.calls) if ctx.recorder is not None else 0
    ctx.say(
        f"\nDemo finished: {len(chosen)} steps, {plural(total, 'API call')}, "
        f"{time.monotonic() - started:.1f} s."
    )
    return 0


__all__ = [
    "STEPS",
    "DemoContext",
    "DemoStep",
    "DemoStepFailed",
    "demo_step",
    "run_demo",
]
