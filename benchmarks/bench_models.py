"""Model figures: predict latency per image for each runnable model, and a custom model's AUC.

Run: ``python benchmarks/bench_models.py`` (with ``plugins/clarimap-models`` installed to
include its models). Prints, for each model of the zoo, the milliseconds per image of
``model.predict`` on one image and on batches of 32 (sample photos, after a warm-up call), then
trains a custom concept model on variants of the sample photos (crops, flips, colour shifts)
through the local server and prints the ROC AUC of every concept on held-out variants.
"""

from __future__ import annotations

import base64
import io
import random
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from clarimap.server import create_app
from clarimap.server.modelzoo import PredictConfig, build_zoo
from clarimap.server.training import roc_auc
from clarimap.transport.wsgi import local_session

SAMPLES = Path(__file__).parent.parent / "clarimap" / "demo_data"
PHOTOS = ["cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "galaxies.jpg", "clock.jpg"]


def latency() -> None:
    zoo = build_zoo()
    images = [Image.open(SAMPLES / name).convert("RGB") for name in PHOTOS]
    batch = [images[i % len(images)] for i in range(32)]
    print(f"{'model':<34} {'single ms/img':>14} {'batch32 ms/img':>15}")
    for model_id in zoo.ids():
        model = zoo.require(model_id)
        model.predict(images[:1], PredictConfig())  # warm-up: load weights, build graphs
        singles = []
        for image in images * 2:
            fresh = image.copy()  # a new object: no model may answer from a cache
            start = time.perf_counter()
            model.predict([fresh], PredictConfig())
            singles.append((time.perf_counter() - start) * 1000)
        fresh_batch = [image.copy() for image in batch]
        start = time.perf_counter()
        model.predict(fresh_batch, PredictConfig())
        per_image = (time.perf_counter() - start) * 1000 / len(batch)
        print(
            f"{model.name + ' (' + model.type + ')':<34} {statistics.median(singles):>14.1f} "
            f"{per_image:>15.1f}"
        )


def variant(image: Image.Image, rng: random.Random) -> Image.Image:
    """A random crop (70-100 % of each side), maybe mirrored, with shifted colour and light."""
    width, height = image.size
    scale = rng.uniform(0.7, 1.0)
    crop_w, crop_h = int(width * scale), int(height * scale)
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    out = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.6, 1.4))
    return ImageEnhance.Brightness(out).enhance(rng.uniform(0.7, 1.3))


def encoded(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def custom_model_auc(train_per_photo: int = 12, test_per_photo: int = 8) -> None:
    app = create_app(":memory:", background=False)
    session = local_session("local://:memory:", app=app)
    url = "local://:memory:/v2/"
    rng = random.Random(2024)
    concepts = [name.split(".")[0] for name in PHOTOS]
    originals = {
        c: Image.open(SAMPLES / n).convert("RGB") for c, n in zip(concepts, PHOTOS, strict=True)
    }
    inputs = [
        {
            "data": {
                "image": {"base64": encoded(variant(originals[c], rng))},
                "concepts": [{"id": c, "value": 1}],
            }
        }
        for c in concepts
        for _ in range(train_per_photo)
    ]
    start = time.perf_counter()
    for offset in range(0, len(inputs), 128):
        session.post(
            url + "inputs", json={"inputs": inputs[offset : offset + 128]}
        ).raise_for_status()
    added = time.perf_counter() - start
    session.post(
        url + "models",
        json={
            "model": {
                "id": "photos",
                "output_info": {"data": {"concepts": [{"id": c} for c in concepts]}},
            }
        },
    ).raise_for_status()
    start = time.perf_counter()
    answer = session.post(url + "models/photos/versions", json={}).json()
    trained = time.perf_counter() - start
    version_id = answer["model"]["model_version"]["id"]
    version = session.get(url + f"models/photos/versions/{version_id}").json()["model_version"]
    print(
        f"\ncustom model on {len(inputs)} inputs (base embedding {app.base_embedding.model_id}):"
        f" upload+process {added:.1f} s, train {trained:.2f} s, status {version['status']['code']}"
    )
    test = [(c, variant(originals[c], rng)) for c in concepts for _ in range(test_per_photo)]
    outputs = session.post(
        url + "models/photos/outputs",
        json={
            "inputs": [{"data": {"image": {"base64": encoded(image)}}} for _, image in test],
            "model": {"output_info": {"output_config": {"max_concepts": len(concepts)}}},
        },
    ).json()["outputs"]
    scores = np.array(
        [
            [{c["id"]: c["value"] for c in o["data"]["concepts"]}[k] for k in concepts]
            for o in outputs
        ]
    )
    truth = np.array([[label == k for k in concepts] for label, _ in test])
    print(f"{'concept':<12} {'held-out ROC AUC':>17}")
    for j, concept in enumerate(concepts):
        print(f"{concept:<12} {roc_auc(scores[:, j], truth[:, j]):>17.3f}")
    session.close()
    app.close()


if __name__ == "__main__":
    latency()
    custom_model_auc()
