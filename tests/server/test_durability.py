"""A server killed with SIGKILL in the middle of a batch upload loses nothing it acknowledged.

A client thread uploads batches of 128 inputs over HTTP to a ``clarimap serve`` subprocess and
records every batch answered with HTTP 200; the test kills the server (SIGKILL: no cleanup at
all) while a batch is in flight, checks the database file with ``PRAGMA integrity_check``,
restarts the server on the same data directory and finds every acknowledged input.
"""

from __future__ import annotations

import base64
import io
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from clarimap import cli
from tests.serve_process import ServeProcess

BATCH_SIZE = 128
BATCHES_BEFORE_KILL = 3
PROCESSING_TIMEOUT_SECONDS = 120


def tiny_png(shade: int) -> str:
    """A 16x16 PNG of one grey shade, base64-encoded."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16), color=shade).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class BatchUploader(threading.Thread):
    """Uploads batches of 128 until the connection fails; remembers what was acknowledged."""

    def __init__(self, url: str) -> None:
        super().__init__(name="batch-uploader", daemon=True)
        self.url = url
        self.images = [tiny_png(shade) for shade in range(0, 256, 32)]
        self.acknowledged: list[str] = []
        self.sent: list[str] = []
        self.batches_acknowledged = 0
        self.in_flight = threading.Event()  # set while a batch request is on the wire
        self.stopped_by: BaseException | None = None
        self.unexpected: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        batch_number = 0
        try:
            while True:
                ids = [f"b{batch_number}-{index}" for index in range(BATCH_SIZE)]
                body = {
                    "inputs": [
                        {
                            "id": input_id,
                            "data": {
                                "image": {"base64": self.images[index % len(self.images)]},
                                "metadata": {"batch": batch_number, "index": index},
                            },
                        }
                        for index, input_id in enumerate(ids)
                    ]
                }
                self.sent.extend(ids)
                self.in_flight.set()
                response = session.post(f"{self.url}/v2/inputs", json=body, timeout=60)
                self.in_flight.clear()
                if response.status_code == 200 and response.json()["status"]["code"] == 10000:
                    self.acknowledged.extend(ids)
                    self.batches_acknowledged += 1
                else:
                    self.unexpected.append(f"HTTP {response.status_code}: {response.text[:300]}")
                    return
                batch_number += 1
        except requests.RequestException as error:  # the server died mid-request
            self.stopped_by = error
        finally:
            self.in_flight.clear()
            session.close()


def list_input_ids(url: str) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        response = requests.get(
            f"{url}/v2/inputs", params={"page": page, "per_page": 1000}, timeout=60
        )
        assert response.status_code == 200, response.text[:500]
        batch = response.json()["inputs"]
        if not batch:
            return ids
        ids.extend(item["id"] for item in batch)
        page += 1


def wait_for_processing(url: str) -> dict[str, Any]:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while True:
        counts: dict[str, Any] = requests.get(f"{url}/v2/inputs/status", timeout=60).json()[
            "counts"
        ]
        if counts.get("to_process", 0) + counts.get("processing", 0) == 0:
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def test_sigkill_during_batch_upload_keeps_every_acknowledged_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / cli.DATABASE_FILE_NAME

    server = ServeProcess(data=data).start()
    uploader = BatchUploader(server.url)
    try:
        uploader.start()
        deadline = time.monotonic() + 120
        while uploader.batches_acknowledged < BATCHES_BEFORE_KILL and uploader.is_alive():
            assert time.monotonic() < deadline, "the uploads did not go through in time"
            time.sleep(0.01)
        assert uploader.unexpected == []
        # wait for the next batch to be on the wire, give the server a moment to be inside it
        assert uploader.in_flight.wait(30)
        time.sleep(0.02)
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
        assert server.process.returncode == -signal.SIGKILL
        uploader.join(60)
    finally:
        server.kill()

    assert not uploader.is_alive()
    assert uploader.unexpected == []
    # the kill lands either before the answer's headers (ConnectionError) or while its body is
    # on the wire (ChunkedEncodingError); that batch was never acknowledged either way
    assert isinstance(
        uploader.stopped_by, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ), uploader.stopped_by
    acknowledged = set(uploader.acknowledged)
    assert len(acknowledged) >= BATCHES_BEFORE_KILL * BATCH_SIZE

    # the file as the killed process left it: SQLite recovers the WAL when it is opened
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in connection.execute("SELECT id FROM inputs")}
    finally:
        connection.close()
    assert acknowledged <= stored
    assert stored <= set(uploader.sent)  # nothing appears that was never sent

    with ServeProcess(data=data) as restarted:
        listed = list_input_ids(restarted.url)
        assert len(listed) == len(set(listed))
        assert acknowledged <= set(listed)
        assert set(listed) == stored
        for input_id in sorted(acknowledged)[:: BATCH_SIZE // 4]:
            answer = requests.get(f"{restarted.url}/v2/inputs/{input_id}", timeout=60)
            assert answer.status_code == 200
            batch, index = input_id[1:].split("-")
            assert answer.json()["input"]["data"]["metadata"] == {
                "batch": float(batch),
                "index": float(index),
            }
        # processing interrupted by the kill resumes after the restart
        counts = wait_for_processing(restarted.url)
        assert counts["to_process"] == 0 and counts.get("processing", 0) == 0, counts
        assert counts["errors"] == 0, counts
        assert counts["processed"] == len(stored), counts
        # the restarted server works: it takes new inputs
        created = requests.post(
            f"{restarted.url}/v2/inputs",
            json={"inputs": [{"id": "after-restart", "data": {"image": {"base64": tiny_png(7)}}}]},
            timeout=60,
        )
        assert created.status_code == 200, created.text[:500]
        assert restarted.stop() == 0
