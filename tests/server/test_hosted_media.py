"""Inputs made from bytes are answered with a hosted URL that serves those bytes, as on Clarifai.

The URL names the server the client used (``http://127.0.0.1:PORT/...`` over HTTP,
``local://...`` in process); ``GET`` on it needs no key (a random token is the secret) and
answers the bytes with their media type; everything else there answers JSON.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
import requests

import clarimap
from clarimap import Image, Input, NotFound, ValidationError
from clarimap.server import create_app
from clarimap.server.http import HTTPServer
from clarimap.server.store import MIGRATIONS, SCHEMA_VERSION
from clarimap.transport.wsgi import local_session
from tests.conftest import SAMPLES, Api
from tests.server.mediaserver import media_server

CAT = (SAMPLES / "cat.jpg").read_bytes()
HORSE = (SAMPLES / "horse.png").read_bytes()


def create(api: Api, input_id: str, data: bytes) -> dict[str, object]:
    code, body = api.post(
        "inputs",
        {
            "inputs": [
                {"id": input_id, "data": {"image": {"base64": base64.b64encode(data).decode()}}}
            ]
        },
    )
    assert code == 200, body
    code, body = api.get(f"inputs/{input_id}")
    assert code == 200, body
    image: dict[str, object] = body["input"]["data"]["image"]
    return image


def test_the_hosted_url_serves_the_bytes_with_their_media_type(api: Api) -> None:
    image = create(api, "cat", CAT)
    assert str(image["url"]).startswith(f"{api.base_url}/v2/hosted/orig/")
    assert api.fetch_media(image) == CAT
    answer = api.session.get(str(image["url"]), timeout=30)
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert int(answer.headers["Content-Length"]) == len(CAT)
    png = create(api, "horse", HORSE)
    assert api.session.get(str(png["url"]), timeout=30).headers["Content-Type"] == "image/png"


def test_lists_and_searches_carry_urls_not_bytes(api: Api) -> None:
    for number in range(3):
        create(api, f"cat-{number}", CAT)
    code, listed = api.get("inputs")
    assert code == 200
    _, found = api.post("inputs/searches", {"searches": [{"query": {}}]})
    for inputs in (listed["inputs"], [hit["input"] for hit in found["hits"]]):
        assert len(inputs) == 3
        assert all("base64" not in item["data"]["image"] for item in inputs)
        assert len({item["data"]["image"]["url"] for item in inputs}) == 3  # a token each
    # the page is a few hundred bytes an input, not the photo again
    assert (
        len(api.session.get(api.url("inputs"), headers={"Authorization": "Key k"}).content) < 3000
    )


def test_hosted_media_errors_are_json(api: Api) -> None:
    image = create(api, "cat", CAT)
    url = str(image["url"])
    bad = [
        ("GET", url[: -len("0123")] + "zzzz", 404, 30102),
        ("GET", f"{api.base_url}/v2/hosted/small/{url.rsplit('/', 1)[1]}", 404, 11101),
        ("GET", f"{api.base_url}/v2/hosted/", 404, 11101),
        ("POST", url, 405, 11103),
        ("DELETE", url, 405, 11103),
    ]
    for method, target, http_status, code in bad:
        answer = api.session.request(method, target, timeout=30)
        assert answer.status_code == http_status, (method, target, answer.text[:200])
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["status"]["code"] == code
    head = api.session.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(CAT))
    assert head.content == b""
    code, _ = api.delete("inputs/cat")
    assert code == 200
    gone = api.session.get(url, timeout=30)
    assert gone.status_code == 404 and gone.json()["status"]["code"] == 30102


def test_a_key_is_not_needed_for_hosted_media_but_is_for_the_rest() -> None:
    app = create_app(":memory:", api_keys=["secret"], background=False)
    try:
        with HTTPServer(app, "127.0.0.1", 0) as server:
            session = clarimap.connect(server.url, api_key="secret", environ={})
            session.add(Input(id="cat", image=Image(base64=CAT)))
            session.commit()
            stored = session.get(Input, "cat")
            assert stored is not None and stored.image is not None and stored.image.url
            assert requests.get(stored.image.url, timeout=30).content == CAT  # no key
            refused = requests.get(f"{server.url}/v2/inputs/cat", timeout=30)
            assert refused.status_code == 401
            session.close()
    finally:
        app.close()


@pytest.mark.parametrize("kind", ["inprocess", "http"])
def test_session_fetch_media(kind: str) -> None:
    app = create_app(":memory:", background=False)
    try:
        with HTTPServer(app, "127.0.0.1", 0) as server:
            session = (
                clarimap.connect("local://:memory:", local_app=app)
                if kind == "inprocess"
                else clarimap.connect(server.url, api_key="k", environ={})
            )
            photo = Input(id="cat", image=Image(base64=CAT))
            assert session.fetch_media(photo) == CAT  # bytes it holds: no call
            session.add(photo)
            session.commit()
            session.refresh(photo)
            assert photo.image is not None and photo.image.base64 is None
            assert photo.image.url is not None and photo.image.url.startswith(session.base_url)
            assert session.fetch_media(photo) == CAT
            assert session.fetch_media(photo.image) == CAT
            assert session.fetch_media(photo.image.url) == CAT
            data_uri = "data:image/png;base64," + base64.b64encode(HORSE).decode()
            assert session.fetch_media(data_uri) == HORSE  # through the media hooks
            with media_server() as elsewhere:  # another server's URL: a plain GET
                assert session.fetch_media(elsewhere.url("/horse.png")) == HORSE
                with pytest.raises(NotFound):
                    session.fetch_media(elsewhere.url("/nothing.png"))
            url = photo.image.url
            session.delete(photo)
            session.commit()
            with pytest.raises(NotFound):
                session.fetch_media(url)
            with pytest.raises(ValidationError, match="takes an Input"):
                session.fetch_media(42)  # type: ignore[arg-type]
            session.close()
    finally:
        app.close()


def test_a_lost_create_is_recognised_by_the_bytes_behind_its_hosted_url() -> None:
    """The read-back of a retried create compares bytes with bytes, not with the URL."""
    app = create_app(":memory:", background=False)
    try:
        first = clarimap.connect("local://:memory:", local_app=app)
        first.add(Input(id="cat", image=Image(base64=CAT)))
        first.commit()
        again = clarimap.connect("local://:memory:", local_app=app)
        again.add(
            Input(id="cat", image=Image(base64=CAT))
        )  # what a retry after a lost answer sends
        again.commit()  # the id is taken by the same bytes: applied, not a conflict
        assert not again.has_pending
        other = clarimap.connect("local://:memory:", local_app=app)
        other.add(Input(id="cat", image=Image(base64=HORSE)))
        with pytest.raises(clarimap.FlushError, match="image"):
            other.commit()
    finally:
        app.close()


def test_a_version_4_database_gets_hosted_urls_for_its_inputs_made_from_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:4], start=1):
        connection.executescript(script)
        connection.execute(f"PRAGMA user_version = {version}")
    connection.execute(
        "INSERT INTO apps (pk, user_id, app_id, created_at) VALUES (1, 'local', 'default', 'x')"
    )
    for seq, (input_id, url) in enumerate([("old-bytes", None), ("old-url", "http://x/a.jpg")], 1):
        connection.execute(
            "INSERT INTO inputs (seq, app, id, kind, url, media, data, status_code, created_at, "
            "modified_at) VALUES (?, 1, ?, 'image', ?, ?, '{}', 30000, "
            "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
            (seq, input_id, url, '{"url": "http://x/a.jpg"}' if url else "{}"),
        )
        connection.execute(
            "INSERT INTO input_blobs (seq, bytes, format) VALUES (?, ?, 'JPEG')", (seq, CAT)
        )
    connection.commit()
    connection.close()

    app = create_app(str(path), background=False)
    session = local_session(f"local://{path}", app=app)
    try:
        with app.store.read() as reading:
            assert reading.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        made_from_bytes = session.get(f"local://{path}/v2/inputs/old-bytes").json()["input"]
        image = made_from_bytes["data"]["image"]
        assert image["url"].startswith(f"local://{path}/v2/hosted/orig/")
        assert session.get(image["url"]).content == CAT
        from_url = session.get(f"local://{path}/v2/inputs/old-url").json()["input"]
        assert from_url["data"]["image"] == {"url": "http://x/a.jpg"}  # its own URL, no token
    finally:
        session.close()
        app.close()


def test_a_hosted_url_of_this_server_is_read_from_its_store(api: Api) -> None:
    """A new input, a prediction and a visual search may use another input's hosted URL."""
    image = create(api, "cat", CAT)
    url = str(image["url"])  # local://... in process: not downloadable, yet read
    code, body = api.post("inputs", {"inputs": [{"id": "copy", "data": {"image": {"url": url}}}]})
    assert code == 200, body
    code, body = api.get("inputs/copy")
    assert body["input"]["status"]["code"] == 30000, body["input"]["status"]
    assert body["input"]["data"]["image"]["url"] == url  # made from a URL: answers that URL
    assert body["input"]["data"]["image"]["image_info"]["format"] == "JPEG"
    color = "eeed0b6733a644cea07cf4c60f87ebb7"
    code, body = api.post(
        f"models/{color}/outputs", {"inputs": [{"data": {"image": {"url": url}}}]}
    )
    assert code == 200, body
    assert body["outputs"][0]["data"]["colors"]
    code, body = api.post(
        "inputs/searches",
        {"searches": [{"query": {"ranks": [{"annotation": {"data": {"image": {"url": url}}}}]}}]},
    )
    assert code == 200, body
    assert {hit["input"]["id"] for hit in body["hits"][:2]} == {"cat", "copy"}
    assert all(hit["score"] > 0.99 for hit in body["hits"][:2])


def test_a_patch_may_repeat_the_hosted_url_but_not_change_the_media(api: Api) -> None:
    image = create(api, "cat", CAT)
    same = {"id": "cat", "data": {"image": {"url": image["url"]}, "metadata": {"seen": True}}}
    code, body = api.patch("inputs", {"action": "merge", "inputs": [same]})
    assert code == 200, body
    assert body["inputs"][0]["data"]["metadata"] == {"seen": True}
    other = {"id": "cat", "data": {"image": {"url": "https://example.com/cat.jpg"}}}
    code, body = api.patch("inputs", {"action": "merge", "inputs": [other]})
    assert code == 400
    assert (
        "cannot change an input's image (it was made from bytes)"
        in body["inputs"][0]["status"]["details"]
    )
