"""Processing of new inputs after upload: download or decode, check the media, then index.

Called by the inputs handlers (:mod:`clarimap.server.api_inputs`: ``processor.submit(seqs)``
after a create commits) and by :class:`clarimap.server.app.ServerApp` (``processor.stop()``).
Work runs in one background thread, or inline in the caller when the server was made with
``background=False`` (deterministic, for tests).

The life of an input (wire reference, section 2, input codes):

* created: ``30001`` pending (``31001`` for a video);
* picked up for a download: ``30003`` in progress;
* success: ``30000`` (``31000`` for a video), written in one transaction with the bytes, their
  width/height/format, and what every processing step computed (below);
* failure: ``30002`` download failed (``31002`` for a video), ``30101`` bytes that are not an
  image Pillow can decode, ``31101`` bytes that are not a video PyAV can decode (no known
  container, or a known container holding no decodable video stream), ``99009`` a processing
  step raised (logged with its traceback; nothing any step computed is written);
  ``status.details`` says what happened.

Processing steps (``server.processing_steps``, a list plugins append to before the processor
starts) see each decoded input as an RGB PIL image: the image after its ``crop``, or a video's
first decoded frame, so videos are embedded, get base predictions and are found by visual search
like images. Processing an input has two phases, so that model inference never holds the store:

1. compute, outside any transaction and without the store's lock (requests are answered
   meanwhile): the bytes are downloaded or read, decoded, and every two-phase step's
   ``compute(image) -> result`` runs (a model's inference);
2. write, in one short transaction: the processor checks that the input still exists, is still
   pending and is the same input (not deleted and another created under the same ``seq``: the
   ``id`` and ``created_at`` it read are compared); if not, the results are dropped. Otherwise
   it stores the bytes and the status, and calls every step's
   ``write(connection, seq, app_pk, result)`` with what its ``compute`` returned.

A two-phase step is a :class:`ProcessingStep` (``name``, ``compute``, ``write``); ``compute`` may
run in several threads at once (a server with ``background=False`` processes in its request
threads) and must not touch the store; ``write`` must only write (an ``INSERT``/``DELETE`` of a
few rows). A step that raises in either phase fails the input with ``99009`` naming the step, and
nothing is written but that status. Calling a :class:`ProcessingStep` with
``(connection, seq, app_pk, image)`` runs both phases at once inside the caller's transaction
(re-processing in tools and tests). Any other callable in the list is a one-phase step,
``step(connection, seq, app_pk, image)``, called in the write transaction: keep those cheap, as
every request waits for them.

A server stopped or killed between the two phases has written nothing: the input is still
pending and is processed again when the server starts.

Videos are opened with PyAV (``av``, a dependency of the ``server`` extra) and their first frame
decoded; without PyAV, processing falls back to checking the container's magic bytes (logged as
a warning once) and runs no steps on videos.

Inputs left pending or in progress by a stopped or killed server are queued again by
:meth:`InputProcessor.start`, which the first ``submit`` (or any inputs request) calls. Register
processing steps before that, so that no input is processed without them. When several servers
share one database file, a worker that has been idle for ``adopt_after / 2`` seconds also takes
the inputs that have been pending for more than ``adopt_after`` seconds (default
:data:`ADOPT_AFTER_SECONDS`): those another process left behind when it stopped, so they do not
wait for a restart. Processing is idempotent (phase 2 writes only while the input is still
pending), so two processes taking the same input waste work but never write twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import queue
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from PIL import Image, ImageOps, UnidentifiedImageError

from clarimap.server import status
from clarimap.server.store import timestamp

if TYPE_CHECKING:
    from clarimap.server.app import ServerApp

log = logging.getLogger("clarimap.server.processing")

PENDING_CODES = (
    status.INPUT_DOWNLOAD_PENDING,
    status.INPUT_DOWNLOAD_IN_PROGRESS,
    status.INPUT_VIDEO_DOWNLOAD_PENDING,
)
VIDEO_SUCCESS = status.INPUT_VIDEO_DOWNLOAD_SUCCESS
SUCCESS_CODES = (status.INPUT_DOWNLOAD_SUCCESS, VIDEO_SUCCESS)

_DOWNLOAD_CHUNK = 64 * 1024


class ProcessingError(Exception):
    """An input cannot be processed: its status ``code`` and ``details`` say why."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclasses.dataclass(frozen=True)
class ProcessingStep:
    """A two-phase processing step: ``compute`` outside the store's lock, then ``write`` in it."""

    #: What the step is called in logs and in the ``99009`` details when it fails.
    name: str
    #: ``compute(image) -> result``: the slow part (a model's inference); never touches the store.
    compute: Callable[[Image.Image], Any]
    #: ``write(connection, seq, app_pk, result)``: stores ``result`` for input ``seq`` (inside
    #: the transaction that marks the input processed).
    write: Callable[[sqlite3.Connection, int, int, Any], None]

    def __call__(
        self, connection: sqlite3.Connection, seq: int, app_pk: int, image: Image.Image
    ) -> None:
        """Both phases at once, inside the caller's transaction (re-processing an input)."""
        self.write(connection, seq, app_pk, self.compute(image))


def step_name(step: Callable[..., None]) -> str:
    """The name of a processing step, for logs and failure details."""
    if isinstance(step, ProcessingStep):
        return step.name
    return str(getattr(step, "__qualname__", None) or repr(step))


class _StepFailed(Exception):
    """A processing step raised: its name and the error, for the ``99009`` details."""

    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(f"processing step {name} failed: {type(error).__name__}: {error}")
        self.name = name


def pending_code(kind: str) -> int:
    """The status of a new input of ``kind`` (``"image"`` or ``"video"``)."""
    return status.INPUT_VIDEO_DOWNLOAD_PENDING if kind == "video" else status.INPUT_DOWNLOAD_PENDING


# -- media checks (also used by the create handler for uploaded bytes) ------------------------


def identify_image(data: bytes) -> str:
    """The image format of ``data`` from its header (``"JPEG"``...); ``ProcessingError`` if none."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return str(image.format or "unknown")
    except UnidentifiedImageError:
        raise ProcessingError(
            status.INPUT_UNSUPPORTED_FORMAT,
            f"the {len(data)} bytes are not an image in a format the server can read "
            "(JPEG, PNG, GIF, WebP, TIFF, BMP...)",
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ProcessingError(
            status.INPUT_UNSUPPORTED_FORMAT, f"the image header cannot be read: {error}"
        ) from None


def decode_image(data: bytes) -> Image.Image:
    """The fully decoded image in ``data`` (EXIF orientation applied); ``ProcessingError`` if not."""
    identify_image(data)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        oriented = ImageOps.exif_transpose(image)
        if oriented is not None and oriented is not image:
            oriented.format = image.format
            return oriented
        return image
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        raise ProcessingError(
            status.INPUT_UNSUPPORTED_FORMAT,
            f"the {len(data)} bytes look like an image but cannot be decoded: {error}",
        ) from None


def video_container(data: bytes) -> str | None:
    """The container format of a video from its magic bytes (``"mp4"``...), or ``None``."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mov" if data[8:12] == b"qt  " else "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in data[:64] else "mkv"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    return None


def check_video(data: bytes) -> str:
    """The container format of ``data``; ``ProcessingError`` 31101 when it is not a known one."""
    container = video_container(data)
    if container is None:
        raise ProcessingError(
            status.INPUT_VIDEO_UNSUPPORTED_FORMAT,
            f"the {len(data)} bytes are not a video container the server knows "
            "(MP4/MOV, WebM/Matroska, AVI)",
        )
    return container


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """What processing learns from a video: its container, size, length and first frame."""

    #: The container by its magic bytes (``"mp4"``, ``"mov"``, ``"webm"``, ``"mkv"``, ``"avi"``).
    container: str
    width: int
    height: int
    #: The length the container declares, in milliseconds (``None`` when it declares none).
    duration_ms: int | None
    #: The number of frames the video stream declares (``None`` when it declares none).
    frame_count: int | None
    #: The first decoded frame, RGB: what the processing steps see of the video.
    first_frame: Image.Image


_warned_without_pyav = False


def decode_video(data: bytes) -> DecodedVideo | None:
    """The first frame and the facts of the video in ``data``; ``ProcessingError`` 31101 if none.

    The container is first told by its magic bytes (:func:`check_video`), then opened with PyAV
    and decoded up to its first frame: bytes that start like a container but hold no decodable
    video stream fail with a description of what was wrong. Without PyAV (not installed), only
    the magic bytes are checked and the answer is ``None`` (a warning is logged once).
    """
    global _warned_without_pyav
    container_name = check_video(data)
    try:
        import av
    except ImportError:
        if not _warned_without_pyav:
            _warned_without_pyav = True
            log.warning(
                "PyAV is not installed (pip install 'clarimap[server]'): videos are checked by "
                "their container's magic bytes only, not decoded, and not processed"
            )
        return None
    what = f"the {len(data)} bytes begin like a video container ({container_name}) but"
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                kinds: list[str] = sorted({stream.type for stream in container.streams})
                held = f"only {', '.join(kinds)}" if kinds else "no stream at all"
                raise ProcessingError(
                    status.INPUT_VIDEO_UNSUPPORTED_FORMAT, f"{what} hold no video stream ({held})"
                )
            stream = container.streams.video[0]
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise ProcessingError(
                    status.INPUT_VIDEO_UNSUPPORTED_FORMAT,
                    f"{what} their video stream ({stream.codec_context.name}) has no "
                    "decodable frame",
                )
            picture = first.to_image()  # type: ignore[no-untyped-call]
            duration = container.duration  # microseconds (AV_TIME_BASE), or None
            frames = int(stream.frames or 0)
    except ProcessingError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ProcessingError(
            status.INPUT_VIDEO_UNSUPPORTED_FORMAT, f"{what} cannot be decoded: {reason}"
        ) from None
    return DecodedVideo(
        container=container_name,
        width=picture.width,
        height=picture.height,
        duration_ms=None if not duration else round(duration / 1000),
        frame_count=frames or None,
        first_frame=picture if picture.mode == "RGB" else picture.convert("RGB"),
    )


def read_url(server: ServerApp, url: str, *, failure_code: int) -> bytes:
    """The bytes at ``url``: this server's own hosted media from the store, else downloaded.

    A hosted URL (``.../v2/hosted/orig/{token}``) whose token this database knows is read
    without a request, whatever host or scheme names it (``local://`` included), so an input,
    a prediction or a search may use another input's hosted URL. Other URLs go to
    :func:`download` with the server's timeout and size cap.
    """
    path = urlsplit(url).path
    marker = "/v2/hosted/orig/"
    if marker in path:
        hosted = server.store.hosted_blob(path.rsplit(marker, 1)[1])
        if hosted is not None:
            return hosted[0]
    return download(
        url,
        timeout=server.download_timeout,
        max_bytes=server.max_download_bytes,
        failure_code=failure_code,
    )


def download(url: str, *, timeout: float, max_bytes: int, failure_code: int) -> bytes:
    """The bytes at ``url`` (http and https only, ``timeout`` seconds, at most ``max_bytes``)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ProcessingError(
            failure_code, f"only http and https URLs can be downloaded; {url!r} has {shown}"
        )
    deadline = time.monotonic() + timeout
    try:
        with requests.get(
            url, timeout=timeout, stream=True, headers={"User-Agent": "clarimap-local-server"}
        ) as response:
            if response.status_code >= 400:
                raise ProcessingError(
                    failure_code,
                    f"{response.status_code} {response.reason} downloading {url}",
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ProcessingError(
                    failure_code,
                    f"{url} is {declared} bytes; the server downloads at most {max_bytes}",
                )
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise ProcessingError(
                        failure_code,
                        f"{url} is more than {max_bytes} bytes, the most the server downloads",
                    )
                if time.monotonic() > deadline:
                    raise ProcessingError(
                        failure_code, f"downloading {url} took more than {timeout} seconds"
                    )
                chunks.append(chunk)
    except requests.RequestException as error:
        raise ProcessingError(failure_code, f"could not download {url}: {error}") from None
    data = b"".join(chunks)
    if not data:
        raise ProcessingError(failure_code, f"{url} answered with no bytes")
    return data


def crop_box(crop: Any, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixel box of a wire ``crop`` (top, left, bottom, right fractions), or ``None``."""
    if not isinstance(crop, list) or len(crop) != 4:
        return None
    top, left, bottom, right = (float(value) for value in crop)
    if (top, left, bottom, right) in ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0)):
        return None
    box = (round(left * width), round(top * height), round(right * width), round(bottom * height))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return box


# -- the processor -----------------------------------------------------------------------------


PROGRESS_LOG_SECONDS = 10.0
"""How often the worker logs its progress through a backlog."""

ADOPT_AFTER_SECONDS = 60.0
"""How long an input may stay pending before an idle worker takes it (see the module's doc)."""


class InputProcessor:
    """Moves inputs from 30001 (pending) to 30000 (success) or a failure code."""

    def __init__(
        self,
        server: ServerApp,
        *,
        background: bool = True,
        adopt_after: float = ADOPT_AFTER_SECONDS,
    ) -> None:
        self.server = server
        self.background = background
        self.adopt_after = adopt_after
        #: While inputs wait, the worker logs (INFO) how many it processed and how many wait,
        #: at most this often; ``clarimap serve`` shows these lines.
        self.progress_log_seconds = PROGRESS_LOG_SECONDS
        # inputs whose processing raised here: left as they are, never adopted again
        self._abandoned: set[int] = set()
        self._burst_processed = 0  # inputs processed since the queue was last empty
        self._burst_logged = False
        self._last_log = 0.0
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._started = False
        self._stopped = False
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Queue inputs left pending by an earlier run and start the worker (once; idempotent)."""
        if self._started:
            return
        with self._start_lock:
            if self._started or self._stopped:
                return
            self._started = True
            leftover = self._pending_seqs()
            if self.background:
                self._thread = threading.Thread(
                    target=self._work, name="clarimap-input-processing", daemon=True
                )
                self._thread.start()
        if leftover:
            log.info("resuming the processing of %d inputs", len(leftover))
        self._enqueue(leftover)

    def submit(self, seqs: Iterable[int]) -> None:
        """Process the inputs with these ``inputs.seq`` values (queued, or now when inline)."""
        self.start()
        self._enqueue(seqs)

    def _enqueue(self, seqs: Iterable[int]) -> None:
        if self.background:
            for seq in seqs:
                self._queue.put(seq)
        else:
            for seq in seqs:
                self.process(seq)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued input is processed; ``False`` if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def stop(self) -> None:
        """Stop the worker thread (pending inputs stay pending and resume on restart)."""
        with self._start_lock:
            self._stopped = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.server.download_timeout + 5)
            self._thread = None

    def _pending_seqs(self, created_before: str | None = None) -> list[int]:
        """The pending inputs (``created_before``: only those created before that time)."""
        placeholders = ",".join("?" * len(PENDING_CODES))
        sql = f"SELECT seq FROM inputs WHERE status_code IN ({placeholders})"
        parameters: tuple[Any, ...] = PENDING_CODES
        if created_before is not None:
            sql += " AND created_at < ?"
            parameters += (created_before,)
        with self.server.store.read() as connection:
            rows = connection.execute(sql + " ORDER BY seq", parameters).fetchall()
        return [int(row[0]) for row in rows if int(row[0]) not in self._abandoned]

    def adopt_stale(self) -> int:
        """Queue the inputs pending for over ``adopt_after`` seconds; returns how many.

        The worker calls this when it has been idle for ``adopt_after / 2`` seconds: its own
        queue is empty then, so what it finds was left by another process sharing the database.
        """
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=self.adopt_after)
        stale = self._pending_seqs(timestamp(cutoff))
        if stale:
            log.info("processing %d inputs left pending by another process", len(stale))
            self._enqueue(stale)
        return len(stale)

    def _work(self) -> None:
        while True:
            try:
                seq = self._queue.get(timeout=max(self.adopt_after / 2, 0.05))
            except queue.Empty:
                if self._stopped:
                    return
                try:
                    self.adopt_stale()
                except Exception:  # a locked or closed database: try again when idle next
                    log.warning("looking for stale pending inputs failed", exc_info=True)
                continue
            try:
                if seq is None or self._stopped:
                    return
                try:
                    self.process(seq)
                except Exception:
                    self._abandoned.add(seq)
                    log.error("processing input seq %s failed\n%s", seq, traceback.format_exc())
                self._log_progress()  # before task_done: wait_idle() returns after the line
            finally:
                self._queue.task_done()

    def _log_progress(self) -> None:
        """After each input: log the backlog's progress every ``progress_log_seconds``."""
        now = time.monotonic()
        self._burst_processed += 1
        if self._burst_processed == 1:
            self._last_log = now
        waiting = self._queue.qsize()
        if waiting == 0:
            if self._burst_logged:
                log.info("processed %d inputs; none waiting", self._burst_processed)
            self._burst_processed = 0
            self._burst_logged = False
        elif now - self._last_log >= self.progress_log_seconds:
            log.info("processed %d inputs; %d waiting", self._burst_processed, waiting)
            self._last_log = now
            self._burst_logged = True

    # -- one input ----------------------------------------------------------------------------

    def process(self, seq: int) -> None:
        """Process input ``seq`` now if it is still pending (a no-op otherwise).

        Phase 1 (download, decode, every step's ``compute``) holds no lock; phase 2
        (:meth:`_finish`) writes everything in one short transaction.
        """
        store = self.server.store
        with store.read() as connection:
            row = connection.execute(
                "SELECT i.app, i.id, i.created_at, i.kind, i.url, i.media, i.status_code, "
                "b.bytes FROM inputs i LEFT JOIN input_blobs b ON b.seq = i.seq WHERE i.seq = ?",
                (seq,),
            ).fetchone()
        if row is None or row["status_code"] not in PENDING_CODES:
            return
        identity = (str(row["id"]), str(row["created_at"]))
        app_pk = int(row["app"])
        kind = str(row["kind"])
        data: bytes | None = row["bytes"]
        failure_code = (
            status.INPUT_VIDEO_DOWNLOAD_FAILED if kind == "video" else status.INPUT_DOWNLOAD_FAILED
        )
        try:
            if data is None:
                url = str(row["url"] or "")
                self._set_status(seq, identity, status.INPUT_DOWNLOAD_IN_PROGRESS, "")
                data = read_url(self.server, url, failure_code=failure_code)
            if kind == "video":
                video = decode_video(data)
                if video is None:  # no PyAV: the magic bytes were checked, nothing decoded
                    blob = _Blob(data, None, check_video(data))
                    self._finish(seq, identity, app_pk, blob, None, [], code=VIDEO_SUCCESS)
                    return
                log.debug(
                    "input seq %s: %s video %dx%d, %s ms, %s frames",
                    seq,
                    video.container,
                    video.width,
                    video.height,
                    video.duration_ms,
                    video.frame_count,
                )
                blob = _Blob(data, (video.width, video.height), video.container)
                image, code = video.first_frame, VIDEO_SUCCESS
            else:
                decoded = decode_image(data)
                media = _json_object(row["media"])
                width, height = decoded.size
                image = decoded if decoded.mode == "RGB" else decoded.convert("RGB")
                box = crop_box(media.get("crop"), width, height)
                if box is not None:
                    image = image.crop(box)
                blob = _Blob(data, (width, height), decoded.format or "")
                code = status.INPUT_DOWNLOAD_SUCCESS
        except ProcessingError as error:
            self._set_status(seq, identity, error.code, error.details)
            return
        steps = list(self.server.processing_steps)
        try:
            computed = [(step, _compute(step, image)) for step in steps]
            self._finish(seq, identity, app_pk, blob, image, computed, code=code)
        except _StepFailed as failure:
            log.error(
                "processing step %s failed on input seq %s\n%s",
                failure.name,
                seq,
                traceback.format_exc(),
            )
            self._set_status(seq, identity, status.INTERNAL_UNCATEGORIZED, str(failure))

    def _finish(
        self,
        seq: int,
        identity: tuple[str, str],
        app_pk: int,
        blob: _Blob,
        image: Image.Image | None,
        computed: Sequence[tuple[Callable[..., None], Any]],
        *,
        code: int,
    ) -> None:
        """Phase 2: store the bytes, the status ``code`` and every step's result, in one transaction.

        Nothing is written when the input was deleted, processed or replaced meanwhile; a step
        whose ``write`` raises rolls everything back (``_StepFailed``).
        """
        with self.server.store.transaction() as connection:
            if not _still_pending(connection, seq, identity):
                return  # deleted, processed or replaced meanwhile: the results are dropped
            width, height = blob.size if blob.size is not None else (None, None)
            connection.execute(
                "INSERT OR REPLACE INTO input_blobs (seq, bytes, width, height, format) "
                "VALUES (?, ?, ?, ?, ?)",
                (seq, blob.data, width, height, blob.media_format),
            )
            connection.execute(
                "UPDATE inputs SET status_code = ?, status_details = '' WHERE seq = ?",
                (code, seq),
            )
            for step, result in computed:
                try:
                    if isinstance(step, ProcessingStep):
                        step.write(connection, seq, app_pk, result)
                    else:  # a one-phase step: it runs here, on the image
                        step(connection, seq, app_pk, image)
                except Exception as error:
                    raise _StepFailed(step_name(step), error) from error

    def _set_status(self, seq: int, identity: tuple[str, str], code: int, details: str) -> None:
        """Set the status of input ``seq`` if it is still the same input and still pending."""
        with self.server.store.transaction() as connection:
            if _still_pending(connection, seq, identity):
                connection.execute(
                    "UPDATE inputs SET status_code = ?, status_details = ? WHERE seq = ?",
                    (code, details, seq),
                )


@dataclasses.dataclass(frozen=True)
class _Blob:
    """The bytes of an input and what decoding found: what phase 2 stores in ``input_blobs``."""

    data: bytes
    size: tuple[int, int] | None
    media_format: str


_ONE_PHASE = object()
"""The phase-1 result of a one-phase step (it runs in phase 2)."""


def _compute(step: Callable[..., None], image: Image.Image) -> Any:
    """Phase 1 of ``step`` on ``image`` (no lock held); ``_StepFailed`` if it raises."""
    if not isinstance(step, ProcessingStep):
        return _ONE_PHASE
    try:
        return step.compute(image)
    except Exception as error:
        raise _StepFailed(step.name, error) from error


def _still_pending(connection: sqlite3.Connection, seq: int, identity: tuple[str, str]) -> bool:
    """Whether input ``seq`` is still the input ``identity`` (id, created_at), still pending."""
    row = connection.execute(
        "SELECT id, created_at, status_code FROM inputs WHERE seq = ?", (seq,)
    ).fetchone()
    return (
        row is not None and (str(row[0]), str(row[1])) == identity and int(row[2]) in PENDING_CODES
    )


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
