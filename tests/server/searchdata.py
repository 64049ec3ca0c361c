"""Seed the local server's store directly, for the search tests (fast, no HTTP, no processing).

``seed_input`` writes an input row and its search index rows exactly as the inputs handlers do
(``store.index_input``) and, when given image bytes, runs the server's processing steps on the
decoded image (the base embedding), so visual search has vectors to compare.
"""

from __future__ import annotations

import io
import json
from typing import Any

from clarimap.server import ServerApp, status
from clarimap.server.processing import decode_image
from clarimap.server.store import index_input, now


def seed_input(
    server: ServerApp,
    input_id: str,
    *,
    concepts: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    geo: tuple[float, float] | None = None,
    url: str | None = None,
    image: bytes | None = None,
    status_code: int = status.INPUT_DOWNLOAD_SUCCESS,
    app: tuple[str, str] = ("local", "default"),
) -> int:
    """Store one input; returns its seq."""
    app_pk = server.store.app_pk(*app)
    data: dict[str, Any] = {}
    if concepts:
        data["concepts"] = concepts
    if metadata is not None:
        data["metadata"] = metadata
    if geo is not None:
        data["geo"] = {"geo_point": {"latitude": geo[0], "longitude": geo[1]}}
    media = {"url": url} if url else {}
    stamp = now()
    with server.store.transaction() as connection:
        cursor = connection.execute(
            "INSERT INTO inputs (app, id, kind, url, media, data, status_code, created_at, "
            "modified_at) VALUES (?, ?, 'image', ?, ?, ?, ?, ?, ?)",
            (app_pk, input_id, url, json.dumps(media), json.dumps(data), status_code, stamp, stamp),
        )
        seq = int(cursor.lastrowid or 0)
        index_input(connection, seq, app_pk, data)
        for concept in concepts or []:
            connection.execute(
                "INSERT OR IGNORE INTO concepts (app, id, name, language, created_at) "
                "VALUES (?, ?, ?, 'en', ?)",
                (app_pk, concept["id"], concept.get("name") or concept["id"], stamp),
            )
        if image is not None:
            connection.execute("INSERT INTO input_blobs (seq, bytes) VALUES (?, ?)", (seq, image))
            decoded = decode_image(image)
            if decoded.mode != "RGB":
                decoded = decoded.convert("RGB")
            for step in server.processing_steps:
                step(connection, seq, app_pk, decoded)
    return seq


def png(
    colour: tuple[int, int, int], size: tuple[int, int] = (32, 32), stripe: bool = False
) -> bytes:
    """A small PNG of one colour (with a dark vertical stripe on the left half when asked)."""
    from PIL import Image

    image = Image.new("RGB", size, colour)
    if stripe:
        for x in range(size[0] // 2):
            for y in range(size[1]):
                image.putpixel((x, y), (10, 10, 10))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
