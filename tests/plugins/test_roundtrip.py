"""Every built-in media source round-trips through the local server byte for byte.

Each source is resolved with :func:`clarimap.media.resolve_media`, sent as an input with plain
JSON calls (in process and over HTTP, through the ``api`` fixture), read back with
``GET /v2/inputs/{id}`` and its hosted URL, and compared with what the user passed: the same bytes (or, for PIL
images and numpy arrays, which are pixels rather than files, the same pixels), and the bytes
the server stored in its database are those bytes too.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clarimap.media import ResolvedMedia, resolve_media
from tests.conftest import SAMPLES, Api

CAT = SAMPLES / "cat.jpg"
HORSE = SAMPLES / "horse.png"


def create_and_fetch(api: Api, input_id: str, resolved: ResolvedMedia) -> dict[str, Any]:
    """POST the resolved media as one input, then GET it back; the stored input's media object."""
    media: dict[str, Any] = (
        {"url": resolved.url}
        if resolved.url is not None
        else {"base64": base64.b64encode(resolved.base64 or b"").decode("ascii")}
    )
    code, body = api.post("inputs", {"inputs": [{"id": input_id, "data": {resolved.kind: media}}]})
    assert code == 200, body
    code, body = api.get(f"inputs/{input_id}")
    assert code == 200, body
    stored: dict[str, Any] = body["input"]["data"][resolved.kind]
    return stored


def stored_blob(api: Api, input_id: str) -> bytes:
    """The bytes the server keeps for an input, read from its database."""
    with api.server.store.read() as connection:
        row = connection.execute(
            "SELECT b.bytes FROM inputs i JOIN input_blobs b ON b.seq = i.seq WHERE i.id = ?",
            (input_id,),
        ).fetchone()
    assert row is not None, f"no stored bytes for {input_id}"
    return bytes(row[0])


def assert_bytes_round_trip(api: Api, input_id: str, source: object, expected: bytes) -> None:
    resolved = resolve_media(source)
    assert resolved.base64 == expected
    stored = create_and_fetch(api, input_id, resolved)
    assert api.fetch_media(stored) == expected
    assert stored_blob(api, input_id) == expected


@pytest.mark.parametrize(
    ("name", "make_source"),
    [
        ("str-path", lambda path: str(path)),
        ("pathlib-path", lambda path: path),
        ("bytes", lambda path: path.read_bytes()),
        ("bytearray", lambda path: bytearray(path.read_bytes())),
        ("memoryview", lambda path: memoryview(path.read_bytes())),
        ("bytesio", lambda path: io.BytesIO(path.read_bytes())),
        (
            "data-uri",
            lambda path: "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode(),
        ),
        (
            "data-uri-percent",
            lambda path: "data:image/jpeg," + "".join(f"%{byte:02X}" for byte in path.read_bytes()),
        ),
    ],
)
def test_bytes_sources_round_trip(
    api: Api, name: str, make_source: Callable[[Path], object]
) -> None:
    assert_bytes_round_trip(api, name, make_source(CAT), CAT.read_bytes())


def test_open_file_object_round_trips(api: Api) -> None:
    with HORSE.open("rb") as photo:
        assert_bytes_round_trip(api, "file-object", photo, HORSE.read_bytes())


def test_pil_image_round_trips_pixel_for_pixel(api: Api) -> None:
    from PIL import Image

    original = Image.open(HORSE)
    original.load()
    resolved = resolve_media(original)
    stored = create_and_fetch(api, "pil", resolved)
    sent = api.fetch_media(stored)
    assert sent == resolved.base64 == stored_blob(api, "pil")
    decoded = Image.open(io.BytesIO(sent))
    assert (decoded.mode, decoded.size) == (original.mode, original.size)
    assert decoded.tobytes() == original.tobytes()


def test_numpy_array_round_trips_pixel_for_pixel(api: Api) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(CAT).convert("RGB"))
    resolved = resolve_media(pixels)
    stored = create_and_fetch(api, "numpy", resolved)
    sent = api.fetch_media(stored)
    assert sent == resolved.base64 == stored_blob(api, "numpy")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(sent))), pixels)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[str]:
    """The sample photos over HTTP on 127.0.0.1 (a free port); the base URL."""
    handler = functools.partial(QuietHandler, directory=str(SAMPLES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_url_round_trips(api: Api, file_server: str) -> None:
    url = f"{file_server}/coffee.jpg"
    resolved = resolve_media(url)
    assert resolved == ResolvedMedia(url=url, kind="image")
    stored = create_and_fetch(api, "url", resolved)
    assert stored["url"] == url
    assert stored_blob(api, "url") == (SAMPLES / "coffee.jpg").read_bytes()
