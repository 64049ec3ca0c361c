"""Benchmark of requests served while the local server processes new inputs with real models.

With the model plugins on (``clarimap-models``: the general embedding and the general concept
model run on every new input), ``--images`` photos (variants of the sample photos: crops, flips,
rotations and colour shifts, JPEG, at most 320 pixels a side) are uploaded in batches of 50;
while the server processes them, another thread (the reader) sends ``GET /v2/inputs/{id}`` and a
small visual search (``POST /v2/inputs/searches``, ranked by an input's vector, 10 per page) in
turn, one at a time with a 10 ms pause, and records each latency. Printed, per transport (in
process: ``local://``, the server's worker thread in the same process; HTTP: ``clarimap serve``
in a subprocess): the median, 95th percentile and maximum of each latency while processing was
running, and processing throughput (inputs processed per second, from the first upload until
nothing is left to process).

Before timing, a few inputs are uploaded and processed (the models load their weights; the reader
reads and searches those), and the reader runs for a second on the idle server: its latencies
then are printed too (``idle``), for comparison.

Run: ``python benchmarks/bench_processing.py [--images 300]``. Not run by the tests (figures are
not assertions). The figures are only as steady as the machine: the load average is printed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import Client, ServeSubprocess


class JsonClient(Client):
    """The benchmark client, with ``post`` for searches."""

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(
            f"{self.base_url}/v2/{path}", data=json.dumps(body), headers=self.headers, timeout=120
        )
        if response.status_code != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status_code} {response.text[:300]}")
        answer: dict[str, Any] = response.json()
        return answer


SAMPLES = Path(__file__).resolve().parent.parent / "clarimap" / "demo_data"
UPLOAD_BATCH = 50
READER_PAUSE = 0.010
WARM_UP_INPUTS = 4
IDLE_SECONDS = 1.0


def photo_variants(count: int, seed: int) -> list[str]:
    """``count`` different photos made from the sample photos, base64 JPEG."""
    from PIL import Image, ImageOps

    chooser = random.Random(seed)
    sources = []
    for path in sorted(SAMPLES.glob("*")):
        if path.suffix.lower() in (".jpg", ".png"):
            with Image.open(path) as image:
                photo = image.convert("RGB")
                photo.thumbnail((480, 480))
                sources.append(photo)
    variants = []
    for number in range(count):
        photo = sources[number % len(sources)]
        width, height = photo.size
        left, top = chooser.randrange(width // 4), chooser.randrange(height // 4)
        variant = photo.crop((left, top, left + width * 3 // 4, top + height * 3 // 4))
        if chooser.random() < 0.5:
            variant = ImageOps.mirror(variant)
        variant = variant.rotate(chooser.uniform(-15, 15), expand=False)
        shift = [chooser.uniform(0.8, 1.2) for _ in range(3)]
        variant = Image.merge(
            "RGB",
            [
                band.point(lambda value, factor=factor: min(255, int(value * factor)))
                for band, factor in zip(variant.split(), shift, strict=True)
            ],
        )
        variant.thumbnail((320, 320))
        buffer = io.BytesIO()
        variant.save(buffer, format="JPEG", quality=85)
        variants.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return variants


def upload(client: JsonClient, prefix: str, photos: list[str]) -> None:
    """Create one input a photo, ids ``{prefix}{n}``, in batches of :data:`UPLOAD_BATCH`."""
    items = [
        {"id": f"{prefix}{number}", "data": {"image": {"base64": photo}}}
        for number, photo in enumerate(photos)
    ]
    for start in range(0, len(items), UPLOAD_BATCH):
        client.create(items[start : start + UPLOAD_BATCH])


def left_to_process(client: JsonClient) -> int:
    counts: dict[str, Any] = client.get("inputs/status")["counts"]
    return int(counts.get("to_process", 0)) + int(counts.get("processing", 0))


def wait_until_processed(client: JsonClient, timeout: float, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while left_to_process(client):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processing did not finish in {timeout} s")
        time.sleep(poll)


class Reader(threading.Thread):
    """Sends a GET and a small search in turn until stopped, recording each latency (ms)."""

    def __init__(self, client: JsonClient, input_id: str) -> None:
        super().__init__(name="bench-reader", daemon=True)
        self.client = client
        self.input_id = input_id
        self.stopping = threading.Event()
        self.samples: dict[str, list[float]] = {"GET /v2/inputs/{id}": [], "search": []}
        self.error: BaseException | None = None

    def run(self) -> None:
        search = {
            "searches": [
                {"query": {"ranks": [{"annotation": {"input_id": self.input_id}}]}},
            ],
            "pagination": {"page": 1, "per_page": 10},
        }
        calls: list[tuple[str, Callable[[], object]]] = [
            ("GET /v2/inputs/{id}", lambda: self.client.get(f"inputs/{self.input_id}")),
            ("search", lambda: self.client.post("inputs/searches", search)),
        ]
        try:
            while not self.stopping.is_set():
                for name, call in calls:
                    started = time.perf_counter()
                    call()
                    self.samples[name].append((time.perf_counter() - started) * 1000)
                    time.sleep(READER_PAUSE)
        except BaseException as error:  # reported by the main thread
            self.error = error


def run_transport(client: JsonClient, photos: list[str], warm_up: list[str]) -> dict[str, Any]:
    """Upload ``photos`` while the reader reads; the figures of one transport."""
    upload(client, "warm", warm_up)
    wait_until_processed(client, 600)
    reader = Reader(client, "warm0")
    reader.start()
    time.sleep(IDLE_SECONDS)  # the reader's first requests: the latencies of an idle server
    idle = {name: summary(samples) for name, samples in reader.samples.items()}
    for samples in reader.samples.values():
        samples.clear()
    started = time.perf_counter()
    upload(client, "photo", photos)
    wait_until_processed(client, 1800)
    elapsed = time.perf_counter() - started
    reader.stopping.set()
    reader.join(60)
    if reader.error is not None:
        raise RuntimeError(f"the reader failed: {reader.error!r}")
    figures: dict[str, Any] = {"throughput": len(photos) / elapsed, "seconds": elapsed}
    for name, samples in reader.samples.items():
        figures[name] = summary(samples)
        figures[f"{name}, idle"] = idle[name]
    return figures


def summary(samples: list[float]) -> tuple[float, float, float, int]:
    """Median, 95th percentile and maximum (ms) of ``samples``, and their number."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1], len(ordered)


def format_rows(label: str, figures: dict[str, Any]) -> list[str]:
    rows = [
        f"{label}: {figures['throughput']:.1f} inputs processed/s "
        f"({figures['seconds']:.1f} s, uploads included)",
        f"  {'while processing':<26} {'median ms':>10} {'p95 ms':>10} {'max ms':>10} {'n':>6}",
    ]
    for name in ("GET /v2/inputs/{id}", "search", "GET /v2/inputs/{id}, idle", "search, idle"):
        median, p95, most, count = figures[name]
        rows.append(f"  {name:<26} {median:>10.1f} {p95:>10.1f} {most:>10.1f} {count:>6}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=300, help="photos uploaded (timed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transport", choices=("both", "in-process", "http"), default="both")
    args = parser.parse_args(argv)
    if os.environ.get("CLARIMAP_DISABLE_PLUGINS"):
        print(
            "unset CLARIMAP_DISABLE_PLUGINS: this benchmark runs the model plugins", file=sys.stderr
        )
        return 2

    from clarimap.server import create_app
    from clarimap.server.modelzoo import GENERAL_MODEL_ID, zoo_for
    from clarimap.transport.wsgi import local_session

    photos = photo_variants(args.images + WARM_UP_INPUTS, args.seed)
    warm_up, photos = photos[:WARM_UP_INPUTS], photos[WARM_UP_INPUTS:]
    print(
        f"clarimap processing benchmark: {len(photos)} photos uploaded in batches of "
        f"{UPLOAD_BATCH}, model plugins on; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    results: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clarimap-bench-processing-") as directory:
        if args.transport in ("both", "in-process"):
            app = create_app(str(Path(directory) / "inprocess" / "clarimap.sqlite3"))
            if GENERAL_MODEL_ID not in zoo_for(app):
                print("the clarimap-models plugin is not installed", file=sys.stderr)
                return 2
            try:
                client = JsonClient("local://bench", local_session("local://bench", app=app))
                results += format_rows("in process", run_transport(client, photos, warm_up))
            finally:
                app.close()
        if args.transport in ("both", "http"):
            server = ServeSubprocess(Path(directory) / "http")
            try:
                client = JsonClient(server.url, requests.Session())
                results += format_rows("HTTP", run_transport(client, photos, warm_up))
            finally:
                server.stop()
    print("\n".join(results))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
