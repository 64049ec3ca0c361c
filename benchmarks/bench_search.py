"""Search figures with 100,000 inputs stored (the issue's closing-note figures).

Run: ``python benchmarks/bench_search.py [--inputs 100000] [--repeat 30]``.

The store is seeded directly (rows, index rows and built-in descriptor vectors of random
images-like vectors drawn from the descriptor's space) so seeding takes seconds; the searches
then go through the real server. Prints, in process (``local://``) and over HTTP on 127.0.0.1:

* the first page (per_page 20) of a concept plus metadata filter: median and 95th percentile ms;
* the first page (top 20) of a visual similarity search by input id: median and p95 ms;
* iterating all hits of a query (per_page 1000) through the ORM, against fetching the same pages
  with plain ``requests`` calls (JSON only, no entities): the time of each and their ratio.

Model plugins are switched off (``CLARIMAP_DISABLE_PLUGINS=1``): the base embedding is the
built-in 128-dimensional descriptor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import requests

os.environ.setdefault("CLARIMAP_DISABLE_PLUGINS", "1")

import clarimap
from clarimap.entities import Input
from clarimap.server import ServerApp, create_app
from clarimap.server.embedding import BUILTIN_MODEL_ID, DIMENSIONS
from clarimap.server.http import HTTPServer
from clarimap.server.store import index_input, now
from clarimap.transport.wsgi import local_session

CONCEPTS = ["dog", "cat", "car", "tree", "sky"]
OWNERS = ["ana", "bo", "chen", "dee"]


def seed(server: ServerApp, count: int) -> None:
    rng = np.random.default_rng(7)
    app_pk = server.store.app_pk("local", "default")
    stamp = now()
    vectors = np.abs(rng.normal(size=(count, DIMENSIONS))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with server.store.transaction() as connection:
        for seq in range(1, count + 1):
            data = {
                "concepts": [{"id": CONCEPTS[seq % len(CONCEPTS)], "value": 1.0}],
                "metadata": {"owner": {"name": OWNERS[seq % len(OWNERS)]}, "n": float(seq % 10)},
                "geo": {"geo_point": {"latitude": float(seq % 90), "longitude": float(seq % 180)}},
            }
            url = f"https://example.com/{seq}.jpg"
            connection.execute(
                "INSERT INTO inputs (seq, app, id, kind, url, media, data, status_code, "
                "created_at, modified_at) VALUES (?, ?, ?, 'image', ?, ?, ?, 30000, ?, ?)",
                (
                    seq,
                    app_pk,
                    f"in{seq}",
                    url,
                    json.dumps({"url": url}),
                    json.dumps(data),
                    stamp,
                    stamp,
                ),
            )
            index_input(connection, seq, app_pk, data)
        connection.executemany(
            "INSERT INTO input_embeddings (seq, model_id, vector) VALUES (?, ?, ?)",
            ((seq + 1, BUILTIN_MODEL_ID, vectors[seq].tobytes()) for seq in range(count)),
        )


FILTER_BODY = {
    "searches": [
        {
            "query": {
                "filters": [
                    {"annotation": {"data": {"concepts": [{"id": "dog", "value": 1}]}}},
                    {"annotation": {"data": {"metadata": {"owner": {"name": "ana"}}}}},
                ]
            }
        }
    ],
    "pagination": {"page": 1, "per_page": 20},
}
VISUAL_BODY = {
    "searches": [{"query": {"ranks": [{"annotation": {"input_id": "in12345"}}]}}],
    "pagination": {"page": 1, "per_page": 20},
}


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    call()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    server = create_app(":memory:", background=False)
    start = time.perf_counter()
    seed(server, args.inputs)
    print(f"seeded {args.inputs} inputs in {time.perf_counter() - start:.1f} s")
    http = HTTPServer(server, "127.0.0.1", 0).start()
    try:
        transports = {
            "in process": ("local://:memory:", local_session("local://:memory:", app=server)),
            "HTTP": (http.url, requests.Session()),
        }
        print(f"{'search (first page of 20)':<40} {'where':<11} {'median ms':>10} {'p95 ms':>8}")
        for label, body in (
            ("concept + metadata filter", FILTER_BODY),
            ("visual similarity top 20", VISUAL_BODY),
        ):
            for where, (base, http_session) in transports.items():

                def call(
                    base: str = base, http_session: Any = http_session, body: Any = body
                ) -> None:
                    response = http_session.post(f"{base}/v2/inputs/searches", json=body)
                    assert response.status_code == 200, response.text[:300]

                median, p95 = timed(call, args.repeat)
                print(f"{label:<40} {where:<11} {median:>10.1f} {p95:>8.1f}")

        # iterating all hits of a query: the ORM against plain requests over the same pages
        print()
        for where, (base, http_session) in transports.items():
            per_page = 1000
            body = {
                "searches": [
                    {"query": {"filters": [FILTER_BODY["searches"][0]["query"]["filters"][0]]}}
                ],
            }
            start = time.perf_counter()
            page, plain_hits = 1, 0
            while True:
                response = http_session.post(
                    f"{base}/v2/inputs/searches",
                    json={**body, "pagination": {"page": page, "per_page": per_page}},
                )
                hits = response.json()["hits"]
                plain_hits += len(hits)
                if len(hits) < per_page:
                    break
                page += 1
            plain = time.perf_counter() - start
            session = (
                clarimap.connect(base, local_app=server)
                if base.startswith("local://")
                else clarimap.connect(base, api_key="bench")
            )
            start = time.perf_counter()
            orm_hits = sum(
                1 for _ in session.query(Input).where(concept_id="dog").per_page(per_page)
            )
            orm = time.perf_counter() - start
            session.close()
            assert orm_hits == plain_hits, (orm_hits, plain_hits)
            print(
                f"iterate {orm_hits} hits ({where}): ORM {orm:.2f} s, plain requests {plain:.2f} s, "
                f"ratio {orm / plain:.2f}"
            )
    finally:
        http.close()
        server.close()


if __name__ == "__main__":
    main()
