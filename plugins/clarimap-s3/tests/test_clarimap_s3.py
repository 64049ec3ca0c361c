"""clarimap-s3 against moto's S3 server on 127.0.0.1: both modes, errors, the entry point.

Each object round-trips: put into S3, resolved by the plugin, created as an input on clarimap's
local server (in process and over HTTP), read back with ``GET /v2/inputs/{id}``; the bytes the
server stored are the object's bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import boto3.session
import pytest
from clarimap_s3 import S3Media
from moto.server import ThreadedMotoServer

from clarimap import plugins
from clarimap.errors import InvalidMediaError, MediaError, MediaFileNotFoundError
from clarimap.media import resolve_media
from clarimap.server import create_app
from clarimap.transport.wsgi import local_session

SAMPLES = Path(__file__).parents[3] / "clarimap" / "demo_data"
BUCKET = "photos"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, on a free port, for this module's tests."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client on the moto server (also the plugin's default), with the bucket filled."""
    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("CLARIMAP_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("CLARIMAP_S3_MODE", raising=False)
    plugins.reset_plugin_manager()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(
        Bucket=BUCKET,
        Key="cats/cat.jpg",
        Body=(SAMPLES / "cat.jpg").read_bytes(),
        ContentType="image/jpeg",
    )
    client.put_object(Bucket=BUCKET, Key="horse one.png", Body=(SAMPLES / "horse.png").read_bytes())
    client.put_object(
        Bucket=BUCKET, Key="clips/clip.bin", Body=b"\x1a\x45\xdf\xa3webm", ContentType="video/webm"
    )
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    plugins.reset_plugin_manager()


@pytest.fixture(params=["inprocess", "http"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, Any]]:
    """(requests session, base URL, server app) for a fresh local server, in process or HTTP."""
    from clarimap.server.http import HTTPServer

    app = create_app(":memory:", background=False)
    try:
        if request.param == "inprocess":
            session = local_session("local://:memory:", app=app)
            yield session, "local://:memory:", app
        else:
            import requests

            with HTTPServer(app, "127.0.0.1", 0) as server:
                session = requests.Session()
                yield session, server.url, app
        session.close()
    finally:
        app.close()


def round_trip(
    api: tuple[Any, str, Any], input_id: str, source: object
) -> tuple[dict[str, Any], bytes]:
    """Create an input from ``source``; its media as GET answers it, and the bytes stored."""
    session, base_url, app = api
    resolved = resolve_media(source)
    media = (
        {"url": resolved.url}
        if resolved.url is not None
        else {"base64": base64.b64encode(resolved.base64 or b"").decode()}
    )
    headers = {"Authorization": "Key test-key", "Content-Type": "application/json"}
    created = session.post(
        f"{base_url}/v2/inputs",
        json={"inputs": [{"id": input_id, "data": {resolved.kind: media}}]},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    fetched = session.get(f"{base_url}/v2/inputs/{input_id}", headers=headers)
    assert fetched.status_code == 200, fetched.text
    with app.store.read() as connection:
        (blob,) = connection.execute(
            "SELECT b.bytes FROM inputs i JOIN input_blobs b ON b.seq = i.seq WHERE i.id = ?",
            (input_id,),
        ).fetchone()
    return fetched.json()["input"]["data"][resolved.kind], bytes(blob)


def test_plugin_is_discovered_through_its_entry_point(s3: Any) -> None:
    info = next((i for i in plugins.get_plugin_manager().plugin_infos() if i.name == "s3"), None)
    assert info is not None, "clarimap-s3 is not installed (pip install ./plugins/clarimap-s3)"
    assert (info.origin, info.distribution, info.version) == ("entry point", "clarimap-s3", "0.1.0")
    assert plugins.get_plugin_manager().implementers("clarimap_resolve_media")[0] == "s3"


def test_bytes_mode_round_trips(s3: Any, api: tuple[Any, str, Any]) -> None:
    expected = (SAMPLES / "cat.jpg").read_bytes()
    media, stored = round_trip(api, "s3-bytes", S3Media(BUCKET, "cats/cat.jpg", mode="bytes"))
    session, base_url, _ = api
    assert media["url"].startswith(f"{base_url}/v2/hosted/orig/")  # bytes answer a hosted URL
    assert session.get(media["url"]).content == expected
    assert stored == expected


def test_url_mode_sends_a_presigned_url_the_server_downloads(
    s3: Any, api: tuple[Any, str, Any], s3_endpoint: str
) -> None:
    media, stored = round_trip(api, "s3-url", "s3://photos/horse%20one.png")
    assert media["url"].startswith(f"{s3_endpoint}/{BUCKET}/horse%20one.png?")
    assert "Signature" in media["url"] and "Expires" in media["url"]
    assert stored == (SAMPLES / "horse.png").read_bytes()


def test_environment_variable_picks_bytes_for_plain_uris(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARIMAP_S3_MODE", "bytes")
    assert resolve_media("s3://photos/cats/cat.jpg").base64 == (SAMPLES / "cat.jpg").read_bytes()
    monkeypatch.setenv("CLARIMAP_S3_MODE", "sideways")
    with pytest.raises(InvalidMediaError, match="CLARIMAP_S3_MODE"):
        resolve_media("s3://photos/cats/cat.jpg")


def test_kind_comes_from_the_content_type(s3: Any) -> None:
    assert resolve_media("s3://photos/clips/clip.bin").kind == "video"
    assert resolve_media(S3Media(BUCKET, "clips/clip.bin", mode="bytes")).kind == "video"
    assert resolve_media("s3://photos/cats/cat.jpg").kind == "image"


def test_presigned_url_expiry_is_the_callers(s3: Any) -> None:
    url = resolve_media(S3Media(BUCKET, "cats/cat.jpg", expires_in=120)).url
    assert url is not None
    assert S3Media.from_uri("s3://photos/cats/cat.jpg").mode == "url"
    with pytest.raises(InvalidMediaError, match="expires_in"):
        S3Media(BUCKET, "cats/cat.jpg", expires_in=0)


@pytest.mark.parametrize("mode", ["url", "bytes"])
def test_missing_object_names_the_uri(s3: Any, mode: str) -> None:
    with pytest.raises(MediaFileNotFoundError, match=r"s3://photos/cats/missing\.jpg"):
        resolve_media(S3Media(BUCKET, "cats/missing.jpg", mode=mode))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        resolve_media("s3://no-such-bucket/x.jpg")


@pytest.mark.parametrize("uri", ["s3://", "s3://bucket", "s3://bucket/"])
def test_malformed_uri(s3: Any, uri: str) -> None:
    with pytest.raises(InvalidMediaError, match="s3://bucket/key"):
        resolve_media(uri)


def test_bad_mode_is_refused() -> None:
    with pytest.raises(InvalidMediaError, match="mode"):
        S3Media(BUCKET, "k", mode="stream")  # type: ignore[arg-type]


def test_no_credentials_is_a_media_error(
    s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(MediaError, match="no AWS credentials"):
        resolve_media(S3Media(BUCKET, "cats/cat.jpg", client=boto3.session.Session().client("s3")))


def test_other_sources_are_left_to_the_builtins(s3: Any) -> None:
    assert resolve_media(b"abc").base64 == b"abc"
    assert resolve_media("https://example.com/x.jpg").url == "https://example.com/x.jpg"
