"""Benchmark of the local server: creating inputs, and reading them with many inputs stored.

Figures, each for the in-process transport (``local://``, no socket) and for HTTP
(``clarimap serve`` in a subprocess, waitress, keep-alive), with the ratio between them:

* inputs created per second, in batches of 128 (``POST /v2/inputs``; processing of the new
  inputs runs in the server's background thread meanwhile, as it does in use);
* latency (median and 95th percentile) of ``GET /v2/inputs`` (the first page, server default
  size), of a page in the middle of the table, and of ``GET /v2/inputs/{id}`` for random ids,
  with ``--inputs`` inputs stored (100,000 by default).

How: the in-process server seeds one database with ``--inputs`` inputs, waits for processing,
measures its read latencies and closes; ``clarimap serve`` opens the same database, the read
latencies are measured over HTTP, then ``--timed-inputs`` more inputs are created over HTTP
(timed); last, the in-process server reopens the database and creates as many (timed). Both
transports read the same data and create on a store of the same size, and both clients are
``requests`` sessions, so the ratio is the cost of the socket and the HTTP server. The figures
are only as steady as the machine: the load average is printed with them.

By default the model plugins are disabled (``CLARIMAP_DISABLE_PLUGINS=1``), so processing is
decoding and checking each image: a CNN's predictions on 100,000 inputs would take hours on a
small machine and say nothing about the server; ``--model-plugins`` keeps them.

Run: ``python benchmarks/bench_server.py [--inputs 100000] [--requests 300]``. Not run by the
tests (figures are not assertions).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

BATCH_SIZE = 128
DATABASE_FILE_NAME = "clarimap.sqlite3"


def tiny_png(shade: int) -> str:
    """A 16x16 grey PNG, base64-encoded (small, so the figures measure the server, not I/O)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (16, 16), color=shade).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Client:
    """A JSON client over a ``requests`` session, for ``local://`` and ``http://`` alike."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.headers = {"Authorization": "Key bench", "Content-Type": "application/json"}

    def get(self, path_and_query: str) -> dict[str, Any]:
        response = self.session.get(
            f"{self.base_url}/v2/{path_and_query}", headers=self.headers, timeout=120
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"GET {path_and_query}: HTTP {response.status_code} {response.text[:300]}"
            )
        answer: dict[str, Any] = response.json()
        return answer

    def create(self, inputs: list[dict[str, Any]]) -> None:
        body = json.dumps({"inputs": inputs}).encode()
        response = self.session.post(
            f"{self.base_url}/v2/inputs", data=body, headers=self.headers, timeout=120
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"POST /v2/inputs: HTTP {response.status_code} {response.text[:300]}"
            )


def input_batches(prefix: str, count: int, images: list[str]) -> list[list[dict[str, Any]]]:
    """``count`` inputs with ids ``{prefix}{n}``, in batches of 128 (built before timing)."""
    items = [
        {
            "id": f"{prefix}{number}",
            "data": {
                "image": {"base64": images[number % len(images)]},
                "metadata": {"n": number, "group": number % 10},
            },
        }
        for number in range(count)
    ]
    return [items[start : start + BATCH_SIZE] for start in range(0, len(items), BATCH_SIZE)]


def create_all(client: Client, batches: list[list[dict[str, Any]]], label: str) -> float:
    """Create every batch; the inputs created per second."""
    started = time.perf_counter()
    created = 0
    for number, batch in enumerate(batches, start=1):
        client.create(batch)
        created += len(batch)
        if number % 100 == 0:
            rate = created / (time.perf_counter() - started)
            print(f"  {label}: {created:,} inputs ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    return created / (time.perf_counter() - started)


def wait_for_processing(client: Client, timeout: float) -> dict[str, Any]:
    """Poll ``GET /v2/inputs/status`` until nothing is left to process (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        counts: dict[str, Any] = client.get("inputs/status")["counts"]
        waiting = int(counts.get("to_process", 0)) + int(counts.get("processing", 0))
        if waiting == 0 or time.monotonic() > deadline:
            return counts
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            print(f"  waiting for processing: {counts}", file=sys.stderr, flush=True)
        time.sleep(0.5)


def latencies(call: Callable[[], object], requests_count: int) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds, of ``requests_count`` calls (after warm-up)."""
    for _ in range(min(10, requests_count)):
        call()
    samples = []
    for _ in range(requests_count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def read_latencies(
    client: Client, ids: list[str], stored: int, requests_count: int, seed: int
) -> dict[str, tuple[float, float]]:
    """The read figures for one transport."""
    chooser = random.Random(seed)
    middle_page = max(1, stored // BATCH_SIZE // 2)

    def get_one() -> None:
        client.get(f"inputs/{chooser.choice(ids)}")

    return {
        "GET /v2/inputs": latencies(lambda: client.get("inputs"), requests_count),
        f"GET /v2/inputs?page={middle_page}&per_page={BATCH_SIZE}": latencies(
            lambda: client.get(f"inputs?page={middle_page}&per_page={BATCH_SIZE}"), requests_count
        ),
        "GET /v2/inputs/{id}": latencies(get_one, requests_count),
    }


class ServeSubprocess:
    """``clarimap serve`` on a free loopback port, over ``data``."""

    def __init__(self, data: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clarimap", "serve", "--port", "0", "--data", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 120)
        if not ready:
            self.process.kill()
            raise RuntimeError("clarimap serve did not start")
        self.url = self.process.stdout.readline().decode().strip()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


def format_rows(inprocess: dict[str, Any], http: dict[str, Any]) -> list[str]:
    rows = [f"{'':<44} {'in-process':>12} {'HTTP':>12} {'in-process vs HTTP':>20}"]
    rate_in, rate_http = inprocess["create"], http["create"]
    rows.append(
        f"{'create, batches of 128 (inputs/s)':<44} {rate_in:>12,.0f} {rate_http:>12,.0f} "
        f"{rate_in / rate_http:>19.2f}x"
    )
    for name, (median_in, p95_in) in inprocess["reads"].items():
        median_http, p95_http = http["reads"][name]
        rows.append(
            f"{name + ' median (ms)':<44} {median_in:>12.2f} {median_http:>12.2f} "
            f"{median_http / median_in:>12.2f}x faster"
        )
        rows.append(
            f"{name + ' p95 (ms)':<44} {p95_in:>12.2f} {p95_http:>12.2f} "
            f"{p95_http / p95_in:>12.2f}x faster"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inputs",
        type=int,
        default=100_000,
        help="inputs stored while reads are measured (default: %(default)s)",
    )
    parser.add_argument(
        "--timed-inputs",
        type=int,
        default=12_800,
        help="inputs created while creation is timed, per transport "
        "(default: %(default)s = 100 batches; at most --inputs)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="requests per latency figure (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="data directory to use (default: a temporary one, removed after)",
    )
    parser.add_argument(
        "--model-plugins",
        action="store_true",
        help="keep installed model plugins (their processing steps, e.g. the base "
        "model's predictions, then run on every input: much slower)",
    )
    parser.add_argument(
        "--processing-timeout",
        type=float,
        default=3600,
        help="seconds to wait for the seeded inputs to be processed",
    )
    args = parser.parse_args(argv)
    if args.inputs < BATCH_SIZE:
        parser.error(f"--inputs must be at least {BATCH_SIZE}")
    timed = min(args.timed_inputs, args.inputs)
    if not args.model_plugins:
        # both the in-process server and the `clarimap serve` subprocess read this
        os.environ["CLARIMAP_DISABLE_PLUGINS"] = "1"

    from clarimap.server import create_app
    from clarimap.transport.wsgi import local_session

    with tempfile.TemporaryDirectory(prefix="clarimap-bench-") as scratch:
        data = args.data or Path(scratch) / "data"
        data.mkdir(parents=True, exist_ok=True)
        database = data / DATABASE_FILE_NAME
        if database.exists():
            parser.error(f"{database} exists: give an empty --data directory")
        images = [tiny_png(shade) for shade in range(0, 256, 16)]
        print(
            f"clarimap server benchmark: {args.inputs:,} inputs stored, batches of "
            f"{BATCH_SIZE}, {args.requests} requests per latency figure",
            flush=True,
        )
        print(
            f"python {platform.python_version()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs; database {database}",
            flush=True,
        )
        print(
            "processing: "
            + (
                "with the installed model plugins"
                if args.model_plugins
                else "decode and check only (model plugins disabled)"
            ),
            flush=True,
        )

        # -- in process: seed, wait for processing, read ------------------------------------
        app = create_app(str(database))
        client = Client("local://bench", local_session("local://bench", app=app))
        started = time.perf_counter()
        create_all(client, input_batches("in", args.inputs, images), "seeding")
        print(
            f"  seeded {args.inputs:,} inputs in {time.perf_counter() - started:,.0f} s; "
            "waiting for processing",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        counts = wait_for_processing(client, args.processing_timeout)
        print(
            f"  processing done in {time.perf_counter() - started:,.0f} s more: {counts}",
            file=sys.stderr,
            flush=True,
        )
        ids = [f"in{number}" for number in range(args.inputs)]
        inprocess: dict[str, Any] = {}
        inprocess["reads"] = read_latencies(client, ids, args.inputs, args.requests, seed=1)
        client.session.close()
        app.close()

        # -- over HTTP, the same database: read, then create `timed_count` more (timed) -------
        timed_batches = timed // BATCH_SIZE or 1
        timed_count = timed_batches * BATCH_SIZE
        server = ServeSubprocess(data)
        try:
            client = Client(server.url, requests.Session())
            http: dict[str, Any] = {}
            http["reads"] = read_latencies(client, ids, args.inputs, args.requests, seed=1)
            http["create"] = create_all(
                client, input_batches("http", timed_count, images), "HTTP (timed)"
            )
            wait_for_processing(client, args.processing_timeout)
            client.session.close()
        finally:
            server.stop()

        # -- in process again, on the same store: create `timed_count` more (timed) ---------
        app = create_app(str(database))
        client = Client("local://bench", local_session("local://bench", app=app))
        inprocess["create"] = create_all(
            client, input_batches("again", timed_count, images), "in-process (timed)"
        )
        client.session.close()
        app.close()

        print()
        print(
            f"inputs processed before the reads: {counts.get('processed')}, "
            f"errors {counts.get('errors')}, still waiting {counts.get('to_process')}"
        )
        print(
            f"creation timed over {timed_count:,} inputs per transport, with "
            f"{args.inputs:,} stored; load average now {os.getloadavg()[0]:.2f}"
        )
        for row in format_rows(inprocess, http):
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
