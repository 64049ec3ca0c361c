"""Models through clarimap: predict overhead against plain requests, training 1,000 inputs.

Run: ``python benchmarks/bench_models_orm.py [--inputs 1000] [--repeat 30]`` (with
``plugins/clarimap-models`` installed to include the general model and its embedding).

1. **Predict end to end.** The same predict request (one sample photo, base64, ``max_concepts``
   5) sent by ``model.predict(...)`` through clarimap and by a plain ``requests.post`` with the
   JSON written by hand, both over HTTP to a local server on 127.0.0.1 (and in process, through
   the WSGI adapter). Prints the median milliseconds of each and the ratio clarimap / requests
   (the cost of the ORM: media resolution, encoding, typed results).
2. **Training 1,000 inputs.** Uploads that many labelled variants of the sample photos (crops,
   mirrors, colour shifts; 4 concepts) through a session, then times ``model.train()`` in
   process and reports the peak memory Python allocated while training (tracemalloc, which
   numpy reports to) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import base64
import io
import random
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import requests
from PIL import Image, ImageEnhance, ImageOps

import clarimap
from clarimap import Input, Model
from clarimap.server import create_app
from clarimap.server.http import HTTPServer
from clarimap.server.modelzoo import COLOR_MODEL_ID, GENERAL_MODEL_ID, zoo_for
from clarimap.transport.wsgi import local_session

SAMPLES = Path(__file__).parent.parent / "clarimap" / "demo_data"
CONCEPT_PHOTOS = {
    "cat": "cat.jpg",
    "coffee": "coffee.jpg",
    "rocket": "rocket.jpg",
    "galaxy": "galaxies.jpg",
}


def paired_medians(
    first: Callable[[], None], second: Callable[[], None], repeat: int
) -> tuple[float, float]:
    """Median milliseconds of each call, the two alternated so that load on the machine hits both."""
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, sink in ((first, timings[0]), (second, timings[1])):
            start = time.perf_counter()
            call()
            sink.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings[0]), statistics.median(timings[1])


def predict_overhead(repeat: int) -> None:
    app = create_app(":memory:", background=False)
    photo = (SAMPLES / "cat.jpg").read_bytes()
    body = {
        "inputs": [{"data": {"image": {"base64": base64.b64encode(photo).decode()}}}],
        "model": {"output_info": {"output_config": {"max_concepts": 5}}},
    }
    models = [COLOR_MODEL_ID]
    if GENERAL_MODEL_ID in zoo_for(app).ids():
        models.insert(0, GENERAL_MODEL_ID)
    print(f"{'predict one photo (median ms)':<44} {'clarimap':>9} {'requests':>9} {'ratio':>6}")
    with HTTPServer(app, "127.0.0.1", 0) as server:
        for where in ("http", "in process"):
            if where == "http":
                session = clarimap.connect(server.url, api_key="k", environ={})
                plain = requests.Session()
                base = f"{server.url}/v2"
            else:
                session = clarimap.connect("local://:memory:", local_app=app)
                plain = local_session("local://:memory:", app=app)
                base = "local://:memory:/v2"
            headers = {"Authorization": "Key k"}
            for model_id in models:
                model = session.get(Model, model_id)
                assert model is not None
                url = f"{base}/models/{model_id}/outputs"

                def by_orm(model: Model = model) -> None:
                    assert model.predict(photo, max_concepts=5).ok

                def by_requests(
                    url: str = url,
                    plain: requests.Session = plain,
                    headers: dict[str, str] = headers,
                ) -> None:
                    answer = plain.post(url, json=body, headers=headers, timeout=60)
                    assert answer.json()["outputs"][0]["status"]["code"] == 10000

                by_orm()
                by_requests()  # warm-up: weights loaded, connections open
                orm_ms, plain_ms = paired_medians(by_orm, by_requests, repeat)
                label = f"{model.name} ({where})"
                print(f"{label:<44} {orm_ms:>9.2f} {plain_ms:>9.2f} {orm_ms / plain_ms:>6.2f}")
            session.close()
            plain.close()
    app.close()


def variant(image: Image.Image, rng: random.Random) -> bytes:
    width, height = image.size
    scale = rng.uniform(0.6, 1.0)
    w, h = int(width * scale), int(height * scale)
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    out = image.crop((left, top, left + w, top + h)).resize((160, 160))
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.6, 1.4))
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def training(count: int) -> None:
    app = create_app(":memory:", background=False)
    session = clarimap.connect("local://:memory:", local_app=app)
    rng = random.Random(7)
    originals = {c: Image.open(SAMPLES / n).convert("RGB") for c, n in CONCEPT_PHOTOS.items()}
    concepts = list(CONCEPT_PHOTOS)
    start = time.perf_counter()
    with session.begin():
        for index in range(count):
            concept = concepts[index % len(concepts)]
            session.add(Input.from_media(variant(originals[concept], rng), concepts=[concept]))
    uploaded = time.perf_counter() - start
    model = Model(id="photos", concepts=concepts)
    with session.begin():
        session.add(model)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    version = model.train(timeout=600)
    trained = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\ntraining on {version.total_input_count} inputs, {len(concepts)} concepts "
        f"(base embedding {app.base_embedding.model_id}):"
    )
    print(f"  upload + processing through a session: {uploaded:.1f} s")
    print(
        f"  model.train(): {trained:.2f} s, status {version.status.code if version.status else '?'}"
    )
    print(f"  peak memory allocated while training (tracemalloc): {peak / 2**20:.1f} MiB")
    print(
        f"  process peak RSS: {rss_before / 1024:.0f} MiB before training, "
        f"{rss_after / 1024:.0f} MiB after"
    )
    session.close()
    app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    arguments = parser.parse_args()
    predict_overhead(arguments.repeat)
    if arguments.inputs:
        training(arguments.inputs)
