"""Benchmark of the ORM core: structuring server JSON, and committing 1,000 metadata edits.

Figures (printed; never asserted):

1. Turning 10,000 inputs of server JSON into entities: ``json.loads`` + ``structure`` against
   plain ``json.loads`` + dict access of the same fields (the floor), as a ratio measured in the
   same run (best of ``--repeat``). The JSON is a real answer of the local server for one input
   (concepts, metadata, geo, status, timestamps), repeated with distinct ids and metadata.
2. Committing 1,000 metadata edits against the local server over HTTP (waitress on 127.0.0.1):
   calls sent and seconds, side by side:
   * clarimap: load the inputs into a session, edit ``metadata`` in place, ``commit()``;
   * the 2.6.2 client, ``app.inputs.merge_metadata(id, {...})`` for each input;
   * the 2.6.2 client, ``app.inputs.bulk_update(images, action="merge")`` in batches of 128
     (its docs call it ``bulk_update_inputs``, which the 2.6.2 ``Inputs`` class lacks; the
     server refuses more than 128 items a call and 2.6.2 does not split these batches itself).
   Calls are counted at the server (a counting WSGI wrapper), so every client is counted the
   same way; only the edit calls are timed and counted, not the loading or client setup.
3. Progress and waiting, in process (``local://``), ``--wait-inputs`` new inputs:
   * committing them with no progress callback, with a callback that keeps each report, and
     with :class:`clarimap.TextProgress` writing to a buffer (its ratio to no callback);
   * ``session.wait_for_inputs(inputs)`` once they are processed (one poll): calls and seconds,
     against reading each input with its own ``GET /v2/inputs/{id}`` (what it did before it
     read them 128 a call).

The 2.6.2 client runs in its own virtualenv (clarifai==2.6.2, protobuf==3.19.6,
googleapis-common-protos==1.56.4), built and cached by ``tests/legacy.py``; where it cannot be
built, its rows say why. The server runs without embedding or prediction steps (processing a
thousand images through a CNN says nothing about the ORM).

Run: ``python benchmarks/bench_orm.py [--inputs 10000] [--edits 1000] [--repeat 3]
[--wait-inputs 5000]``.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import clarimap  # noqa: E402
from clarimap import Image, Input  # noqa: E402
from clarimap.converters import structure  # noqa: E402
from clarimap.server import create_app  # noqa: E402
from clarimap.server.http import HTTPServer  # noqa: E402


def tiny_png(seed: int) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), (seed % 256, (seed // 256) % 256, 42)).save(buffer, "PNG")
    return buffer.getvalue()


class CountingApp:
    """A WSGI wrapper counting the requests that reach the server, by method."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.counts[environ["REQUEST_METHOD"]] += 1
        return self.app(environ, start_response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def bench_structure(count: int, repeat: int) -> None:
    app = create_app(":memory:", background=False)
    app.processing_steps.clear()
    session = clarimap.connect("local://:memory:", local_app=app)
    sample = Input(
        image=Image(base64=tiny_png(1)),
        concepts=["cat", "pet"],
        metadata={"owner": "ana", "size": {"w": 640, "h": 480}, "tags": ["a", "b"]},
        geo=clarimap.GeoPoint(2.35, 48.85),
    )
    session.add(sample)
    session.commit()
    wire = session._send("GET", f"inputs/{sample.id}")["input"]
    wire["data"].pop("image")  # keep the figure about structure, not base64 decoding
    wire["data"]["image"] = {"url": "https://example.com/photo.jpg"}
    items = []
    for n in range(count):
        item = json.loads(json.dumps(wire))
        item["id"] = f"input-{n}"
        item["data"]["metadata"]["n"] = float(n)
        items.append(item)
    text = json.dumps({"status": {"code": 10000}, "inputs": items})
    app.close()

    def floor() -> None:
        for item in json.loads(text)["inputs"]:
            data = item["data"]
            (
                item["id"],
                data["image"]["url"],
                [c["id"] for c in data["concepts"]],
                data["metadata"]["owner"],
                data["geo"]["geo_point"]["latitude"],
                item["status"]["code"],
                item["created_at"],
            )

    def entities() -> None:
        for item in json.loads(text)["inputs"]:
            entity = structure(item, Input)
            (
                entity.id,
                entity.image.url,
                entity.concept_ids,
                entity.metadata["owner"],  # type: ignore[union-attr]
                entity.geo.latitude,
                entity.status.code,
                entity.created_at,
            )  # type: ignore[union-attr]

    def best(function: Any) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    floor_seconds = best(floor)
    entity_seconds = best(entities)
    print(f"\n1. Structuring {count:,} inputs of server JSON (best of {repeat})")
    print(f"   json.loads + dict access     {floor_seconds * 1000:8.1f} ms")
    print(f"   json.loads + structure       {entity_seconds * 1000:8.1f} ms")
    print(
        f"   ratio (clarimap / floor)     {entity_seconds / floor_seconds:8.2f}x  "
        f"({entity_seconds / count * 1e6:.1f} us an input)"
    )


LEGACY_MERGE = """
import json, os, time
from clarifai.rest import ClarifaiApp
app = ClarifaiApp(api_key="bench", base_url=os.environ["URL"])
ids = json.loads(os.environ["IDS"])
start = time.perf_counter()
for input_id in ids:
    app.inputs.merge_metadata(input_id, {"legacy_merge": True, "round": 1})
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

LEGACY_BULK = """
import json, os, time
from clarifai.rest import ClarifaiApp, Image
app = ClarifaiApp(api_key="bench", base_url=os.environ["URL"])
ids = json.loads(os.environ["IDS"])
images = [Image(image_id=i, metadata={"legacy_bulk": True, "round": 2}) for i in ids]
start = time.perf_counter()
# the docs name it bulk_update_inputs; the 2.6.2 Inputs class only has bulk_update
update = getattr(app.inputs, "bulk_update_inputs", None) or app.inputs.bulk_update
for first in range(0, len(images), 128):
    update(images[first:first + 128], action="merge")
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def bench_commit(edits: int) -> None:
    app = create_app(":memory:", background=False)
    app.processing_steps.clear()
    counting = CountingApp(app)
    rows: list[tuple[str, str, str]] = []
    with HTTPServer(counting, "127.0.0.1", 0) as server:  # type: ignore[arg-type]
        writer = clarimap.connect(server.url, api_key="bench", environ={})
        photos = [Input(image=Image(base64=tiny_png(n)), metadata={"n": n}) for n in range(edits)]
        writer.add_all(photos)
        writer.commit()
        ids = [photo.id for photo in photos]
        writer.close()

        session = clarimap.connect(server.url, api_key="bench", environ={})
        loaded = []
        page = 1
        while True:
            answer = session._send("GET", "inputs", query={"page": page, "per_page": 1000})
            if not answer["inputs"]:
                break
            loaded += [session._load(Input, wire) for wire in answer["inputs"]]
            page += 1
        counting.counts.clear()
        start = time.perf_counter()
        for photo in loaded:
            photo.metadata["reviewed"] = True
            photo.metadata["round"] = 0
        session.commit()
        seconds = time.perf_counter() - start
        rows.append(("clarimap session.commit()", _calls(counting), f"{seconds:.2f}"))
        session.close()

        try:
            from tests.legacy import LegacyScriptFailed, LegacyUnavailable, run_legacy_script
        except ImportError as error:  # pragma: no cover
            rows.append(("2.6.2 client", "-", f"unavailable: {error}"))
        else:
            env = {"URL": server.url, "IDS": json.dumps(ids)}
            for label, script in (
                ("2.6.2 merge_metadata per input", LEGACY_MERGE),
                ("2.6.2 bulk_update (128 a call)", LEGACY_BULK),
            ):
                counting.counts.clear()
                try:
                    result = run_legacy_script(script, env=env, timeout=1800)
                except (LegacyUnavailable, LegacyScriptFailed) as error:
                    rows.append((label, "-", f"failed: {str(error).splitlines()[-1][:80]}"))
                    continue
                counts = dict(counting.counts)
                counts["GET"] = counts.get("GET", 0)
                # the client lists models while it is constructed: those GETs are not edits
                patches = counts.get("PATCH", 0)
                rows.append(
                    (
                        label,
                        f"{patches} PATCH (+{counts['GET']} GET at setup)",
                        f"{result['seconds']:.2f}",
                    )
                )
    app.close()
    print(f"\n2. Committing {edits:,} metadata edits over HTTP (local server, 127.0.0.1)")
    print(f"   {'client':34} {'calls':28} seconds")
    for label, calls, seconds in rows:
        print(f"   {label:34} {calls:28} {seconds}")


def bench_progress_and_wait(count: int, repeat: int) -> None:
    from urllib.parse import quote

    from clarimap import Progress, TextProgress

    app = create_app(":memory:", background=False)
    app.processing_steps.clear()
    counting = CountingApp(app)
    print(f"\n3. Progress and waiting, {count:,} new inputs, in process (best of {repeat})")
    timings: dict[str, float] = {}
    reports: list[Progress] = []
    callbacks: list[tuple[str, Any]] = [
        ("no progress callback", None),
        ("a callback keeping each report", reports.append),
        ("TextProgress to a buffer", TextProgress(io.StringIO(), quiet_for=0, interval=0)),
    ]
    photos: list[Input] = []
    for round_number in range(repeat):
        for number, (label, callback) in enumerate(callbacks):
            session = clarimap.connect("local://:memory:", local_app=counting, progress=callback)
            batch = [
                Input(id=f"r{round_number}-{number}-{n}", image=Image(base64=tiny_png(n)))
                for n in range(count)
            ]
            session.add_all(batch)
            start = time.perf_counter()
            session.commit()
            seconds = time.perf_counter() - start
            timings[label] = min(timings.get(label, seconds), seconds)
            photos = batch
            session.close()
    base = timings["no progress callback"]
    print(f"   {'commit':34} {'seconds':>8} {'ratio':>6}")
    for label, _ in callbacks:
        print(f"   {label:34} {timings[label]:8.2f} {timings[label] / base:6.2f}")

    session = clarimap.connect("local://:memory:", local_app=counting)
    counting.counts.clear()
    start = time.perf_counter()
    session.wait_for_inputs(photos, timeout=600)
    batched = time.perf_counter() - start
    batched_calls = _calls(counting)
    counting.counts.clear()
    start = time.perf_counter()
    for photo in photos:
        session._send("GET", f"inputs/{quote(photo.id, safe='')}")
    one_by_one = time.perf_counter() - start
    print(f"   {'wait_for_inputs, one poll':34} {'calls':>12} {'seconds':>8}")
    print(f"   {'128 a call (GET /v2/inputs?ids=)':34} {batched_calls:>12} {batched:8.2f}")
    print(f"   {'one GET /v2/inputs/{id} each':34} {_calls(counting):>12} {one_by_one:8.2f}")
    print(f"   ratio (one by one / batched): {one_by_one / batched:.1f}")
    session.close()
    app.close()


def _calls(counting: CountingApp) -> str:
    return ", ".join(f"{n} {method}" for method, n in sorted(counting.counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wait-inputs", type=int, default=5_000)
    parser.add_argument(
        "--only", choices=["structure", "commit", "progress"], help="run one section"
    )
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"clarimap {clarimap.__version__}, Python {sys.version.split()[0]}, load {load:.2f}")
    if args.only in (None, "structure"):
        bench_structure(args.inputs, args.repeat)
    if args.only in (None, "commit"):
        bench_commit(args.edits)
    if args.only in (None, "progress"):
        bench_progress_and_wait(args.wait_inputs, args.repeat)


if __name__ == "__main__":
    main()
