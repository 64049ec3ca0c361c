"""Processing of inputs after upload: downloads, decoding, statuses, steps, the worker, restarts.

URLs are served by a tiny ``http.server`` bound to 127.0.0.1 on a free port (stopped after each
test); an unreachable URL is a closed loopback port.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from clarimap.server import create_app, processing
from clarimap.server.processing import crop_box, video_container
from clarimap.transport.wsgi import local_session
from tests.conftest import SAMPLES, Api
from tests.server.mediaserver import MediaServer, closed_port_url, media_server
from tests.server.test_predict import make_video

# An MP4 header (a valid ftyp box) followed by bytes that are no MP4 boxes: a container by its
# magic bytes, which PyAV cannot open.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 4
RED_THEN_BLUE = make_video([(255, 0, 0), (0, 0, 255)], fps=10, seconds_each=0.5)


def png_bytes(size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def served() -> Iterator[MediaServer]:
    cat = (SAMPLES / "cat.jpg").read_bytes()
    with media_server(
        {
            "/junk.jpg": b"this is not an image, whatever its name says",
            "/truncated.jpg": cat[: len(cat) // 3],
            "/clip.mp4": RED_THEN_BLUE,
            "/broken.mp4": MP4,
            "/notes.mp4": b"plain text pretending to be a video",
            "/wide.png": png_bytes((40, 20)),
        }
    ) as server:
        yield server


def add(api: Api, url: str, kind: str = "image", **image: Any) -> tuple[int, dict[str, Any]]:
    return api.post("inputs", {"inputs": [{"id": "in", "data": {kind: {"url": url, **image}}}]})


def stored_blob(api: Api) -> sqlite3.Row | None:
    with api.server.store.read() as connection:
        row: sqlite3.Row | None = connection.execute(
            "SELECT bytes, width, height, format FROM input_blobs"
        ).fetchone()
        return row


def test_a_url_is_downloaded_and_its_bytes_kept(api: Api, served: MediaServer) -> None:
    url = served.url("/horse.png")
    code, body = add(api, url)
    assert code == 200 and body["status"]["code"] == 10000
    [item] = body["inputs"]
    assert item["status"] == {"code": 30000, "description": "Download complete"}
    assert item["data"]["image"]["url"] == url
    assert "base64" not in item["data"]["image"]
    with Image.open(SAMPLES / "horse.png") as horse:
        size = horse.size
    assert (
        item["data"]["image"]["image_info"]["width"],
        item["data"]["image"]["image_info"]["height"],
    ) == size
    blob = stored_blob(api)
    assert blob is not None
    assert blob["bytes"] == (SAMPLES / "horse.png").read_bytes()
    assert (blob["width"], blob["height"], blob["format"]) == (*size, "PNG")
    assert served.requests == ["/horse.png"]


def test_a_missing_url_fails_with_30002_and_the_http_error(api: Api, served: MediaServer) -> None:
    code, body = add(api, served.url("/nothing-here.jpg"))
    assert code == 400 and body["status"]["code"] == 10020
    status = body["inputs"][0]["status"]
    assert status["code"] == 30002
    assert status["description"] == "Download failed; check URL"
    assert "404" in status["details"]
    # The input stays, with its failure, as on the real service.
    code, got = api.get("inputs/in")
    assert code == 200 and got["input"]["status"] == status
    assert stored_blob(api) is None


def test_an_unreachable_url_fails_with_30002(api: Api) -> None:
    url = closed_port_url()
    code, body = add(api, url)
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 30002
    assert status["details"].startswith(f"could not download {url}")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/cat.jpg", "file:///etc/passwd", "cat.jpg"])
def test_only_http_and_https_urls_are_downloaded(api: Api, url: str) -> None:
    code, body = add(api, url)
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 30002
    assert "only http and https URLs can be downloaded" in status["details"]


def test_downloaded_bytes_that_are_not_an_image_fail_with_30101(
    api: Api, served: MediaServer
) -> None:
    code, body = add(api, served.url("/junk.jpg"))
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 30101
    assert status["description"] == "Input image format is not supported"
    assert "not an image" in status["details"]


def test_a_truncated_image_fails_with_30101(api: Api, served: MediaServer) -> None:
    code, body = add(api, served.url("/truncated.jpg"))
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 30101
    assert "cannot be decoded" in status["details"]


def test_the_download_size_cap(api: Api, served: MediaServer) -> None:
    api.server.max_download_bytes = 1000
    code, body = add(api, served.url("/cat.jpg"))
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 30002
    assert "the server downloads at most 1000" in status["details"]


def video_item(input_id: str, content: bytes) -> dict[str, Any]:
    return {"id": input_id, "data": {"video": {"base64": base64.b64encode(content).decode()}}}


def test_video_urls_are_downloaded_and_decoded(api: Api, served: MediaServer) -> None:
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": "clip", "data": {"video": {"url": served.url("/clip.mp4")}}},
                {"id": "notes", "data": {"video": {"url": served.url("/notes.mp4")}}},
                {"id": "gone", "data": {"video": {"url": served.url("/gone.mp4")}}},
                {"id": "broken", "data": {"video": {"url": served.url("/broken.mp4")}}},
            ]
        },
    )
    assert code == 200 and body["status"]["code"] == 10010
    statuses = {item["id"]: item["status"] for item in body["inputs"]}
    assert {key: value["code"] for key, value in statuses.items()} == {
        "clip": 31000,
        "notes": 31101,
        "gone": 31002,
        "broken": 31101,
    }
    assert "not a video container" in statuses["notes"]["details"]
    assert statuses["broken"]["description"] == "Input video format is not supported"
    assert statuses["broken"]["details"] == (
        f"the {len(MP4)} bytes begin like a video container (mp4) but cannot be decoded: "
        "Invalid data found when processing input"
    )
    with api.server.store.read() as connection:
        blobs = connection.execute(
            "SELECT bytes, width, height, format FROM input_blobs"
        ).fetchall()
    assert [tuple(row) for row in blobs] == [(RED_THEN_BLUE, 64, 48, "mp4")]


def test_uploaded_video_bytes_are_decoded(api: Api) -> None:
    code, body = api.post(
        "inputs", {"inputs": [video_item("clip", RED_THEN_BLUE), video_item("broken", MP4)]}
    )
    assert code == 200 and body["status"]["code"] == 10010
    clip, broken = body["inputs"]
    assert clip["status"] == {"code": 31000, "description": "Download complete"}
    assert api.fetch_media(clip["data"]["video"]) == RED_THEN_BLUE
    assert broken["status"]["code"] == 31101  # its magic bytes passed the create call's check
    assert "cannot be decoded" in broken["status"]["details"]
    code, got = api.get("inputs/broken")
    assert code == 200 and got["input"]["status"] == broken["status"]


def test_a_container_without_a_video_stream_fails_with_31101(api: Api) -> None:
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for index in range(4):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 8000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    code, body = api.post("inputs", {"inputs": [video_item("sound", buffer.getvalue())]})
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 31101
    assert status["details"].endswith("hold no video stream (only audio)")


def test_processing_steps_see_the_first_frame_of_a_video(api: Api) -> None:
    seen: list[tuple[int, tuple[int, int], str, tuple[int, ...]]] = []

    def record(connection: sqlite3.Connection, seq: int, app_pk: int, image: Image.Image) -> None:
        seen.append((seq, image.size, image.mode, image.getpixel((32, 24))))

    api.server.processing_steps.append(record)
    code, body = api.post("inputs", {"inputs": [video_item("clip", RED_THEN_BLUE)]})
    assert code == 200 and body["inputs"][0]["status"]["code"] == 31000
    [(_, size, mode, pixel)] = seen
    assert (size, mode) == ((64, 48), "RGB")
    red, green, blue = pixel
    assert red > 200 and green < 40 and blue < 40  # the first frame is red, not the later blue


def test_a_video_is_found_by_visual_search_on_its_first_frame(api: Api) -> None:
    frame = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(frame, format="PNG")
    blue = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 255)).save(blue, format="PNG")
    items = [
        video_item("clip", RED_THEN_BLUE),
        {"id": "blue", "data": {"image": {"base64": base64.b64encode(blue.getvalue()).decode()}}},
        {
            "id": "cat",
            "data": {
                "image": {"base64": base64.b64encode((SAMPLES / "cat.jpg").read_bytes()).decode()}
            },
        },
    ]
    code, body = api.post("inputs", {"inputs": items})
    assert code == 200 and body["status"]["code"] == 10000
    red = base64.b64encode(frame.getvalue()).decode()
    code, body = api.post(
        "inputs/searches",
        {
            "searches": [
                {"query": {"ranks": [{"annotation": {"data": {"image": {"base64": red}}}}]}}
            ]
        },
    )
    assert code == 200
    hits = [hit["input"]["id"] for hit in body["hits"]]
    assert hits[0] == "clip" and sorted(hits) == ["blue", "cat", "clip"]


def test_without_pyav_videos_are_checked_by_magic_bytes(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "av", None)  # import av raises ImportError
    monkeypatch.setattr(processing, "_warned_without_pyav", False)
    steps: list[int] = []
    api.server.processing_steps.append(lambda connection, seq, app_pk, image: steps.append(seq))
    with caplog.at_level(logging.WARNING, logger="clarimap.server.processing"):
        code, body = api.post(
            "inputs", {"inputs": [video_item("header", MP4), video_item("clip", RED_THEN_BLUE)]}
        )
    assert code == 200
    assert [item["status"]["code"] for item in body["inputs"]] == [31000, 31000]
    assert steps == []
    warnings = [  # waitress may log its own queue warnings in the http variant
        record.getMessage()
        for record in caplog.records
        if record.name == "clarimap.server.processing"
    ]
    assert len(warnings) == 1 and "PyAV is not installed" in warnings[0]


def test_processing_steps_run_in_the_transaction_with_the_cropped_image(
    api: Api, served: MediaServer
) -> None:
    calls: list[tuple[int, int, tuple[int, int], str]] = []

    def record(connection: sqlite3.Connection, seq: int, app_pk: int, image: Image.Image) -> None:
        calls.append((seq, app_pk, image.size, image.mode))
        connection.execute(
            "INSERT INTO input_embeddings (seq, model_id, vector) VALUES (?, 'test', x'00')", (seq,)
        )

    api.server.processing_steps.append(record)
    code, body = add(api, served.url("/wide.png"), crop=[0.0, 0.5, 1.0, 1.0])
    assert code == 200 and body["inputs"][0]["status"]["code"] == 30000
    with api.server.store.read() as connection:
        seq, app_pk = connection.execute("SELECT seq, app FROM inputs").fetchone()
        assert (
            connection.execute(
                "SELECT COUNT(*) FROM input_embeddings WHERE model_id = 'test'"
            ).fetchone()[0]
            == 1
        )
    assert calls == [(seq, app_pk, (20, 20), "RGB")]
    # The image_info keeps the size of the whole image.
    assert body["inputs"][0]["data"]["image"]["image_info"]["width"] == 40


def test_a_failing_step_fails_the_input_and_rolls_back(api: Api) -> None:
    def broken(connection: sqlite3.Connection, seq: int, app_pk: int, image: Image.Image) -> None:
        connection.execute(
            "INSERT INTO input_embeddings (seq, model_id, vector) VALUES (?, 'test', x'00')", (seq,)
        )
        raise RuntimeError("model weights missing")

    api.server.processing_steps.append(broken)
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": "x", "data": {"image": {"base64": base64.b64encode(png_bytes()).decode()}}}
            ]
        },
    )
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 99009
    assert "broken" in status["details"] and "model weights missing" in status["details"]
    with api.server.store.read() as connection:
        assert (
            connection.execute(
                "SELECT COUNT(*) FROM input_embeddings WHERE model_id = 'test'"
            ).fetchone()[0]
            == 0
        )
    code, counts = api.get("inputs/status")
    assert counts["counts"]["errors"] == 1


def test_the_background_worker_processes_after_answering(served: MediaServer) -> None:
    server = create_app(":memory:", background=True)
    session = local_session("local://:memory:", app=server)
    try:
        response = session.post(
            "local://:memory:/v2/inputs",
            json={
                "inputs": [
                    {"id": "ok", "data": {"image": {"url": served.url("/cat.jpg")}}},
                    {"id": "bad", "data": {"image": {"url": closed_port_url()}}},
                    {
                        "id": "bytes",
                        "data": {"image": {"base64": base64.b64encode(png_bytes()).decode()}},
                    },
                ]
            },
        )
        body = response.json()
        # Created: every item succeeded; the processing comes later.
        assert response.status_code == 200 and body["status"]["code"] == 10000
        assert all(
            item["status"]["code"] in (30001, 30003, 30000, 30002) for item in body["inputs"]
        )
        assert server.processor.wait_idle(timeout=60)
        listed = session.get("local://:memory:/v2/inputs").json()["inputs"]
        assert {item["id"]: item["status"]["code"] for item in listed} == {
            "ok": 30000,
            "bad": 30002,
            "bytes": 30000,
        }
        counts = session.get("local://:memory:/v2/inputs/status").json()["counts"]
        assert counts == {"processed": 2, "to_process": 0, "errors": 1, "processing": 0}
    finally:
        session.close()
        server.close()


@pytest.mark.parametrize("left_code", [30001, 30003])
def test_inputs_left_pending_are_processed_after_a_restart(tmp_path: Path, left_code: int) -> None:
    database = tmp_path / "inputs.db"
    server = create_app(str(database), background=False)
    session = local_session(f"local://{database}", app=server)
    session.post(
        f"local://{database}/v2/inputs",
        json={
            "inputs": [
                {"id": "a", "data": {"image": {"base64": base64.b64encode(png_bytes()).decode()}}}
            ]
        },
    )
    session.close()
    with server.store.transaction() as connection:  # as if the server died mid-processing
        connection.execute("UPDATE inputs SET status_code = ?", (left_code,))
        connection.execute("UPDATE input_blobs SET width = NULL, height = NULL")
    server.close()

    restarted = create_app(str(database), background=True)
    session = local_session(f"local://{database}", app=restarted)
    try:
        first = session.get(f"local://{database}/v2/inputs/status").json()["counts"]
        assert first["processed"] + first["to_process"] + first["processing"] == 1
        assert restarted.processor.wait_idle(timeout=60)
        item = session.get(f"local://{database}/v2/inputs/a").json()["input"]
        assert item["status"]["code"] == 30000
        assert item["data"]["image"]["image_info"]["width"] == 40
    finally:
        session.close()
        restarted.close()


def test_inputs_another_process_left_pending_are_adopted_without_a_restart(
    tmp_path: Path,
) -> None:
    """Two servers on one database: what the stopped one left pending, the other one processes."""
    database = tmp_path / "shared.db"
    stopped = create_app(str(database), background=True)
    adopting = create_app(str(database), background=True, adopt_pending_after=0.5)
    stopped.processor.stop()  # it takes uploads, but nothing it queues is processed
    uploads = local_session(f"local://{database}", app=stopped)
    reads = local_session(f"local://{database}", app=adopting)
    try:
        images = [base64.b64encode(png_bytes((40, height))).decode() for height in (20, 21, 22)]
        created = uploads.post(
            f"local://{database}/v2/inputs",
            json={
                "inputs": [
                    {"id": f"left-{index}", "data": {"image": {"base64": image}}}
                    for index, image in enumerate(images)
                ]
            },
        )
        assert created.status_code == 200, created.text
        deadline = time.monotonic() + 60
        while True:
            counts = reads.get(f"local://{database}/v2/inputs/status").json()["counts"]
            if counts["processed"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counts == {"processed": 3, "to_process": 0, "errors": 0, "processing": 0}
        for index in range(3):
            item = reads.get(f"local://{database}/v2/inputs/left-{index}").json()["input"]
            assert item["status"]["code"] == 30000
            assert item["data"]["image"]["image_info"]["width"] == 40
        assert adopting.processor.adopt_stale() == 0  # nothing is left to adopt
    finally:
        uploads.close()
        reads.close()
        stopped.close()
        adopting.close()


def test_the_worker_logs_its_progress_through_a_backlog(caplog: pytest.LogCaptureFixture) -> None:
    server = create_app(":memory:", background=True)
    server.processing_steps.clear()
    release = threading.Event()

    def held(image: object) -> None:
        assert release.wait(60), "the test never released processing"

    server.processing_steps.append(processing.ProcessingStep("held", held, lambda *a: None))
    server.processor.progress_log_seconds = 0  # a line after every input while some wait
    session = local_session("local://:memory:", app=server)
    try:
        with caplog.at_level(logging.INFO, logger="clarimap.server.processing"):
            images = [base64.b64encode(png_bytes((40, 20 + n))).decode() for n in range(5)]
            created = session.post(
                "local://:memory:/v2/inputs",
                json={"inputs": [{"data": {"image": {"base64": image}}} for image in images]},
            )
            assert created.status_code == 200, created.text
            release.set()  # all five are queued: let the first one finish
            assert server.processor.wait_idle(timeout=60)
        lines = [
            record.getMessage()
            for record in caplog.records
            if record.name == "clarimap.server.processing"
        ]
        assert lines == [
            "processed 1 inputs; 4 waiting",
            "processed 2 inputs; 3 waiting",
            "processed 3 inputs; 2 waiting",
            "processed 4 inputs; 1 waiting",
            "processed 5 inputs; none waiting",
        ]
    finally:
        release.set()
        session.close()
        server.close()


def test_video_containers_by_magic_bytes() -> None:
    assert video_container(MP4) == "mp4"
    assert video_container(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == "mov"
    assert video_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == "webm"
    assert video_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska") == "mkv"
    assert video_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert video_container(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert video_container(png_bytes()) is None


def test_crop_boxes() -> None:
    assert crop_box([0.0, 0.5, 1.0, 1.0], 40, 20) == (20, 0, 40, 20)
    assert crop_box([0.25, 0.0, 0.75, 0.5], 100, 100) == (0, 25, 50, 75)
    assert crop_box(None, 40, 20) is None
    assert crop_box([0.0, 0.0, 1.0, 1.0], 40, 20) is None


@pytest.mark.parametrize("crop", [None, [0.0, 0.0, 0.5, 0.5]])
def test_a_video_input_can_be_the_query_of_a_visual_search(
    api: Api, crop: list[float] | None
) -> None:
    red = io.BytesIO()
    Image.new("RGB", (64, 48), (250, 10, 10)).save(red, format="PNG")
    blue = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 255)).save(blue, format="PNG")
    items = [
        video_item("clip", RED_THEN_BLUE),
        {"id": "red", "data": {"image": {"base64": base64.b64encode(red.getvalue()).decode()}}},
        {"id": "blue", "data": {"image": {"base64": base64.b64encode(blue.getvalue()).decode()}}},
    ]
    assert api.post("inputs", {"inputs": items})[0] == 200
    by_input: dict[str, object] = {"id": "clip"}
    if crop is not None:
        by_input["data"] = {"image": {"crop": crop}}
    code, body = api.post("searches", {"query": {"ands": [{"output": {"input": by_input}}]}})
    assert code == 200, body
    hits = [hit["input"]["id"] for hit in body["hits"]]
    assert hits[:2] == ["clip", "red"] and hits[2] == "blue"


# -- two-phase processing: the models run outside the store's lock ----------------------------

GATE_TIMEOUT = 30.0  # seconds a blocked step or a blocked request waits before the test fails


def reader_for(api: Api) -> Api:
    """Another client of the same server, with a session of its own (for another thread)."""
    if api.base_url.startswith("local://"):
        return Api(api.base_url, local_session(api.base_url, app=api.server), api.server)
    return Api(api.base_url, requests.Session(), api.server)


class GatedStep:
    """A two-phase step whose ``compute`` blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.step = processing.ProcessingStep(name="gated", compute=self.compute, write=self.write)

    def compute(self, image: Image.Image) -> bytes:
        self.entered.set()
        if not self.gate.wait(GATE_TIMEOUT):
            raise TimeoutError("the test never opened the gate")
        return bytes([image.size[0] % 256])

    def write(self, connection: sqlite3.Connection, seq: int, app_pk: int, result: bytes) -> None:
        connection.execute(
            "INSERT INTO input_embeddings (seq, model_id, vector) VALUES (?, 'gated', ?)",
            (seq, result),
        )


def upload_in_thread(api: Api, gated: GatedStep, input_id: str) -> concurrent.futures.Future[Any]:
    """Post one input from another thread; return once its step is blocked in ``compute``."""
    uploader = reader_for(api)
    item = {"id": input_id, "data": {"image": {"base64": base64.b64encode(png_bytes()).decode()}}}
    pool = concurrent.futures.ThreadPoolExecutor(1)
    posted = pool.submit(uploader.post, "inputs", {"inputs": [item]})
    pool.shutdown(wait=False)
    assert gated.entered.wait(GATE_TIMEOUT), "the processing step never started"
    return posted


def test_requests_are_answered_while_a_step_computes(api: Api) -> None:
    code, _ = api.post(
        "inputs",
        {"inputs": [{"id": "ready", "data": {"image": {"base64": b64(SAMPLES / "cat.jpg")}}}]},
    )
    assert code == 200
    gated = GatedStep()
    api.server.processing_steps.append(gated.step)
    reader = reader_for(api)
    search = {"searches": [{"query": {"ranks": [{"annotation": {"input_id": "ready"}}]}}]}
    try:
        posted = upload_in_thread(api, gated, "slow")  # inline server: processed in the POST

        def read_while_blocked() -> tuple[Any, ...]:
            return (
                reader.get("inputs/ready"),
                reader.get("inputs/slow"),
                reader.post("inputs/searches", search),
            )

        pool = concurrent.futures.ThreadPoolExecutor(1)
        reads = pool.submit(read_while_blocked)
        pool.shutdown(wait=False)
        # Before two-phase processing, these waited for the store lock the step held: the
        # test fails here after GATE_TIMEOUT instead of hanging.
        (ready_code, ready), (slow_code, slow), (found_code, found) = reads.result(GATE_TIMEOUT)
        assert gated.entered.is_set() and not gated.gate.is_set()  # still mid-processing
        assert ready_code == 200 and ready["input"]["status"]["code"] == 30000
        assert slow_code == 200 and slow["input"]["status"]["code"] == 30001
        assert found_code == 200 and [hit["input"]["id"] for hit in found["hits"]] == ["ready"]
    finally:
        gated.gate.set()
    code, body = posted.result(GATE_TIMEOUT)
    assert code == 200 and body["inputs"][0]["status"]["code"] == 30000
    with api.server.store.read() as connection:
        written = connection.execute(
            "SELECT i.id, e.vector FROM input_embeddings e JOIN inputs i ON i.seq = e.seq "
            "WHERE e.model_id = 'gated'"
        ).fetchall()
        assert [tuple(row) for row in written] == [("slow", bytes([40]))]
    code, found = api.post("inputs/searches", search)
    assert sorted(hit["input"]["id"] for hit in found["hits"]) == ["ready", "slow"]


def test_an_input_deleted_while_its_steps_compute_gets_no_results(api: Api) -> None:
    gated = GatedStep()
    api.server.processing_steps.append(gated.step)
    try:
        posted = upload_in_thread(api, gated, "gone")
        assert reader_for(api).delete("inputs/gone")[0] == 200
    finally:
        gated.gate.set()
    posted.result(GATE_TIMEOUT)
    with api.server.store.read() as connection:
        for table in ("inputs", "input_blobs", "input_embeddings", "input_embedding_changes"):
            rows = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            # input_embedding_changes: nothing was ever written for the deleted input
            assert rows == 0, table


def test_an_input_replaced_under_the_same_seq_gets_no_results_of_the_old_one(api: Api) -> None:
    gated = GatedStep()
    api.server.processing_steps.append(gated.step)
    try:
        posted = upload_in_thread(api, gated, "first")
        with api.server.store.read() as connection:
            first_seq = connection.execute("SELECT seq FROM inputs").fetchone()[0]
        with api.server.store.transaction() as connection:  # deleted and another one stored
            connection.execute("DELETE FROM inputs WHERE seq = ?", (first_seq,))
            connection.execute(
                "INSERT INTO inputs (seq, app, id, kind, media, data, status_code, created_at, "
                "modified_at) SELECT ?, pk, 'first', 'image', '{}', '{}', 30001, 'later', "
                "'later' FROM apps",
                (first_seq,),
            )
    finally:
        gated.gate.set()
    posted.result(GATE_TIMEOUT)
    with api.server.store.read() as connection:
        assert [row[0] for row in connection.execute("SELECT status_code FROM inputs")] == [30001]
        assert connection.execute("SELECT COUNT(*) FROM input_embeddings").fetchone()[0] == 0
        assert connection.execute("SELECT COUNT(*) FROM input_blobs").fetchone()[0] == 0


@pytest.mark.parametrize("phase", ["compute", "write"])
def test_a_two_phase_step_failing_in_either_phase_writes_nothing(api: Api, phase: str) -> None:
    def compute(image: Image.Image) -> str:
        if phase == "compute":
            raise RuntimeError("out of memory")
        return "result"

    def write(connection: sqlite3.Connection, seq: int, app_pk: int, result: str) -> None:
        connection.execute(
            "INSERT INTO input_embeddings (seq, model_id, vector) VALUES (?, 'test', x'00')", (seq,)
        )
        raise RuntimeError("disk on fire")

    api.server.processing_steps.append(processing.ProcessingStep("fragile", compute, write))
    item = {"id": "x", "data": {"image": {"base64": base64.b64encode(png_bytes()).decode()}}}
    code, body = api.post("inputs", {"inputs": [item]})
    assert code == 400
    status = body["inputs"][0]["status"]
    assert status["code"] == 99009
    reason = "out of memory" if phase == "compute" else "disk on fire"
    assert status["details"] == f"processing step fragile failed: RuntimeError: {reason}"
    with api.server.store.read() as connection:
        # neither the failing step's rows nor the base embedding computed before it
        assert connection.execute("SELECT COUNT(*) FROM input_embeddings").fetchone()[0] == 0


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_embedded_servers_stop_their_workers_when_the_interpreter_exits(tmp_path: Path) -> None:
    """At exit the worker stops between two inputs; what is left stays pending in the file."""
    import subprocess
    import sys
    import textwrap

    database = tmp_path / "photos.db"
    script = textwrap.dedent(
        f"""
        import atexit, base64, io
        import clarimap
        from PIL import Image
        from clarimap.transport import wsgi

        def png(n):
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), (n % 256, n // 256, 7)).save(buffer, "PNG")
            return buffer.getvalue()

        session = clarimap.connect("local://{database}")
        session.add_all(clarimap.Input(image=clarimap.Image(base64=png(n))) for n in range(200))
        session.commit()
        app = wsgi._apps[{str(database)!r}]
        atexit._run_exitfuncs()  # what the interpreter does on its way out
        print(app.processor._stopped, app.processor._thread is None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "terminate called" not in done.stderr
    connection = sqlite3.connect(database)
    try:
        codes = [row[0] for row in connection.execute("SELECT status_code FROM inputs")]
    finally:
        connection.close()
    assert len(codes) == 200 and set(codes) <= {30000, 30001, 30003}
