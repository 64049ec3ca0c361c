"""Benchmark: listing inputs made from bytes (the sample photos), page by page.

Figures (printed; never asserted): with ``--inputs`` inputs uploaded as bytes (the eight sample
photos in turn, 13-130 KB each), the size of a page of 128 inputs as ``GET /v2/inputs`` answers
it, the median time of reading every page with plain ``requests`` and of
``session.query(Input).all()`` through the ORM, in process (``local://``) and over HTTP
(waitress on 127.0.0.1). The server runs without processing steps (no model inference).

The figures compare two versions of the server: run this script from a checkout of each (it
imports the clarimap next to it), e.g. from a ``git worktree`` of the commit before hosted media:
inputs made from bytes were answered with their base64 then, and with a hosted URL now.

Run: ``python benchmarks/bench_list_pages.py [--inputs 512] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

import clarimap  # noqa: E402
from clarimap import Input  # noqa: E402
from clarimap.server import create_app  # noqa: E402
from clarimap.server.http import HTTPServer  # noqa: E402
from clarimap.transport.wsgi import local_session  # noqa: E402

PER_PAGE = 128


def sample_photos() -> list[bytes]:
    folder = ROOT / "clarimap" / "demo_data"
    return [
        path.read_bytes() for path in sorted(folder.iterdir()) if path.suffix in (".jpg", ".png")
    ]


def read_pages(session: requests.Session, base_url: str, count: int) -> tuple[float, int]:
    """Seconds to read every page of ``count`` inputs, and the bytes of the first page."""
    start = time.perf_counter()
    first = 0
    for page in range(1, -(-count // PER_PAGE) + 1):
        answer = session.get(
            f"{base_url}/v2/inputs",
            params={"page": page, "per_page": PER_PAGE},
            headers={"Authorization": "Key bench"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text[:200]
        first = first or len(answer.content)
    return time.perf_counter() - start, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"clarimap at {revision or '?'} ({ROOT}), load {load:.2f}")

    app = create_app(":memory:", background=False)
    app.processing_steps.clear()
    photos = sample_photos()
    uploader = clarimap.connect("local://:memory:", local_app=app)
    uploader.add_all(
        Input(id=f"photo-{n}", image=clarimap.Image(base64=photos[n % len(photos)]))
        for n in range(args.inputs)
    )
    uploader.commit()
    uploader.close()
    mean_photo = sum(len(base64.b64encode(p)) for p in photos) / len(photos)
    print(
        f"{args.inputs} inputs made from bytes (mean photo {mean_photo / 1024:.0f} KiB as base64), "
        f"pages of {PER_PAGE}, median of {args.repeat}"
    )
    print(
        f"   {'transport':10} {'first page':>12} {'all pages (requests)':>21} {'query(Input).all()':>19}"
    )
    with HTTPServer(app, "127.0.0.1", 0) as server:
        for label, base_url in (("in process", "local://:memory:"), ("HTTP", server.url)):
            http = (
                local_session("local://:memory:", app=app)
                if base_url.startswith("local://")
                else requests.Session()
            )
            raw = [read_pages(http, base_url, args.inputs) for _ in range(args.repeat)]
            http.close()
            orm_times = []
            for _ in range(args.repeat):
                session = (
                    clarimap.connect(base_url, local_app=app)
                    if base_url.startswith("local://")
                    else clarimap.connect(base_url, api_key="bench", environ={})
                )
                start = time.perf_counter()
                loaded = session.query(Input).per_page(PER_PAGE).all()
                orm_times.append(time.perf_counter() - start)
                assert len(loaded) == args.inputs
                session.close()
            page_bytes = raw[0][1]
            print(
                f"   {label:10} {page_bytes / 1024:9.0f} KiB "
                f"{statistics.median(t for t, _ in raw) * 1000:17.0f} ms "
                f"{statistics.median(orm_times) * 1000:15.0f} ms"
            )
    app.close()


if __name__ == "__main__":
    main()
