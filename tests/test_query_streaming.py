"""Streaming: iterating 100,000 hits through a query holds memory flat (peak RSS grows < 50 MB).

The store is seeded directly (rows and index rows, no processing) for speed; the hits then go
the whole way: search endpoint, JSON, converter, identity map (weak), the caller.
"""

from __future__ import annotations

import gc
import json
import resource
import sys

import pytest

import clarimap
from clarimap.entities import Input
from clarimap.server import ServerApp, create_app
from clarimap.server.store import now

HITS = 100_000


def seed(server: ServerApp, count: int) -> None:
    app_pk = server.store.app_pk("local", "default")
    stamp = now()
    data = json.dumps({"concepts": [{"id": "many", "value": 1.0}], "metadata": {"n": 1.0}})
    with server.store.transaction() as connection:
        connection.executemany(
            "INSERT INTO inputs (seq, app, id, kind, url, media, data, status_code, created_at, "
            "modified_at) VALUES (?, ?, ?, 'image', ?, ?, ?, 30000, ?, ?)",
            (
                (
                    seq,
                    app_pk,
                    f"input-{seq:06d}",
                    f"https://example.com/{seq}.jpg",
                    json.dumps({"url": f"https://example.com/{seq}.jpg"}),
                    data,
                    stamp,
                    stamp,
                )
                for seq in range(1, count + 1)
            ),
        )
        connection.executemany(
            "INSERT INTO input_concepts (seq, app, concept_id, value) VALUES (?, ?, 'many', 1.0)",
            ((seq, app_pk) for seq in range(1, count + 1)),
        )


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@pytest.mark.slow
def test_iterating_100k_hits_keeps_memory_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    server = create_app(":memory:", background=False)
    try:
        seed(server, HITS)
        with clarimap.connect("local://:memory:", local_app=server) as session:
            query = session.query(Input).where(concept="many").per_page(1000)
            # warm up: one page through every layer, so lazy imports and caches are counted out
            assert len(query.limit(1000).all()) == 1000
            gc.collect()
            before = peak_rss_mb()
            seen = 0
            last_id = ""
            for item in query:
                seen += 1
                last_id = item.id
            growth = peak_rss_mb() - before
    finally:
        server.close()
    assert seen == HITS and last_id == f"input-{HITS:06d}"
    assert growth < 50, f"peak RSS grew by {growth:.1f} MB while streaming {HITS} hits"
