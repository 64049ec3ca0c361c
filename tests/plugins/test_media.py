"""The built-in media sources, one by one, and the errors for sources nobody claims."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import pytest

from clarimap.errors import (
    ClarimapError,
    InvalidMediaError,
    MediaFileNotFoundError,
    UnsupportedMediaSourceError,
)
from clarimap.media import ResolvedMedia, guess_kind, resolve_media
from tests.conftest import SAMPLES

CAT = SAMPLES / "cat.jpg"
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 32


def test_str_path_reads_the_file() -> None:
    resolved = resolve_media(str(CAT))
    assert resolved == ResolvedMedia(base64=CAT.read_bytes(), kind="image")


def test_pathlib_path_reads_the_file() -> None:
    assert resolve_media(CAT).base64 == CAT.read_bytes()


def test_video_file_is_guessed_from_extension(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    assert resolve_media(clip).kind == "video"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(MediaFileNotFoundError) as caught:
        resolve_media(str(missing))
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, ClarimapError)
    assert caught.value.filename == str(missing)
    assert str(missing) in str(caught.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MediaFileNotFoundError, match="directory"):
        resolve_media(tmp_path)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://example.com/dog.jpg", "image"),
        ("http://example.com/clip.mp4?x=1", "video"),
        ("https://example.com/no-extension", "image"),
    ],
)
def test_http_url_is_sent_as_url(url: str, kind: str) -> None:
    assert resolve_media(url) == ResolvedMedia(url=url, kind=kind)  # type: ignore[arg-type]


def test_kind_argument_wins_over_the_guess() -> None:
    assert resolve_media("https://example.com/clip.mp4", kind="image").kind == "image"
    assert resolve_media(CAT, kind="video").kind == "video"


def test_bad_kind_is_refused() -> None:
    with pytest.raises(InvalidMediaError, match="kind"):
        resolve_media(CAT, kind="audio")  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_sources(wrap: type) -> None:
    content = CAT.read_bytes()
    assert resolve_media(wrap(content)).base64 == content


def test_bytes_guess_video_from_signature() -> None:
    assert resolve_media(MP4_HEADER).kind == "video"
    assert resolve_media(b"\x1a\x45\xdf\xa3" + b"\x00" * 20).kind == "video"
    assert resolve_media(CAT.read_bytes()).kind == "image"


def test_heif_signature_is_an_image_not_a_video() -> None:
    assert guess_kind(content=b"\x00\x00\x00\x18ftypheic" + b"\x00" * 8) == "image"


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(InvalidMediaError, match="empty"):
        resolve_media(b"")


def test_binary_file_object_is_read_from_its_position() -> None:
    with CAT.open("rb") as photo:
        photo.seek(10)
        assert resolve_media(photo).base64 == CAT.read_bytes()[10:]


def test_file_object_name_guides_the_kind(tmp_path: Path) -> None:
    clip = tmp_path / "clip.webm"
    clip.write_bytes(b"abc")
    with clip.open("rb") as handle:
        assert resolve_media(handle).kind == "video"


def test_text_file_object_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with text.open() as handle, pytest.raises(InvalidMediaError, match="'rb'"):
        resolve_media(handle)


def test_object_whose_read_returns_str_is_refused() -> None:
    with pytest.raises(InvalidMediaError, match="'rb'"):
        resolve_media(io.StringIO("abc"))


def test_data_uri_base64() -> None:
    content = CAT.read_bytes()
    uri = "data:image/jpeg;base64," + base64.b64encode(content).decode()
    assert resolve_media(uri) == ResolvedMedia(base64=content, kind="image")


def test_data_uri_base64_with_line_breaks_and_percent_escapes() -> None:
    encoded = base64.b64encode(bytes(range(256))).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert resolve_media("data:;base64," + wrapped).base64 == bytes(range(256))
    escaped = encoded.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    assert resolve_media("data:image/png;base64," + escaped).base64 == bytes(range(256))


def test_data_uri_percent_encoded() -> None:
    assert resolve_media("data:image/svg+xml,%3Csvg%2F%3E%ff").base64 == b"<svg/>\xff"


def test_data_uri_media_type_gives_the_kind() -> None:
    assert resolve_media("data:video/mp4;base64,AAAA").kind == "video"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data:image/png;base64", "no ','"),
        ("data:image/png;base64,@@@@", "base64"),
        ("data:image/png;base64,", "no data"),
    ],
)
def test_malformed_data_uri(uri: str, message: str) -> None:
    with pytest.raises(InvalidMediaError, match=message):
        resolve_media(uri)


def test_pil_image_is_encoded_losslessly() -> None:
    from PIL import Image

    original = Image.open(CAT).convert("RGB")
    resolved = resolve_media(original)
    assert resolved.kind == "image" and resolved.base64 is not None
    decoded = Image.open(io.BytesIO(resolved.base64))
    assert decoded.format == "PNG"
    assert decoded.mode == original.mode and decoded.tobytes() == original.tobytes()


def test_pil_cmyk_image_is_kept_in_its_mode() -> None:
    from PIL import Image

    original = Image.new("CMYK", (3, 2), (1, 2, 3, 4))
    resolved = resolve_media(original)
    assert resolved.base64 is not None
    decoded = Image.open(io.BytesIO(resolved.base64))
    assert decoded.mode == "CMYK" and decoded.tobytes() == original.tobytes()


def test_numpy_array_is_encoded_losslessly() -> None:
    import numpy as np
    from PIL import Image

    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    resolved = resolve_media(pixels)
    assert resolved.base64 is not None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(resolved.base64))), pixels)


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [((2, 2, 2), "uint8", "shape"), ((2, 2), "float64", "dtype"), ((2,), "uint8", "shape")],
)
def test_unusable_numpy_array(shape: tuple[int, ...], dtype: str, message: str) -> None:
    import numpy as np

    with pytest.raises(InvalidMediaError, match=message):
        resolve_media(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("source", [42, None, object(), "s3://bucket/key", "ftp://host/x.jpg"])
def test_unclaimed_source_names_type_and_sources(source: object, builtins_only: object) -> None:
    with pytest.raises(UnsupportedMediaSourceError) as caught:
        resolve_media(source)
    message = str(caught.value)
    assert type(source).__qualname__ in message
    for name in ("media-path", "media-url", "media-bytes", "media-data-uri", "media-file-object"):
        assert name in message
    assert isinstance(caught.value, TypeError)


def test_unclaimed_s3_url_suggests_the_plugin(builtins_only: object) -> None:
    with pytest.raises(UnsupportedMediaSourceError, match="clarimap-s3"):
        resolve_media("s3://bucket/key.jpg")


def test_resolved_media_needs_exactly_one_of_url_and_base64() -> None:
    with pytest.raises(InvalidMediaError):
        ResolvedMedia()
    with pytest.raises(InvalidMediaError):
        ResolvedMedia(url="https://x", base64=b"x")


@pytest.mark.parametrize("entry_point_plugins", ["disabled", "enabled"])
def test_importing_clarimap_imports_neither_pil_nor_numpy(entry_point_plugins: str) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    if entry_point_plugins == "disabled":
        env["CLARIMAP_DISABLE_PLUGINS"] = "1"
    code = (
        "import sys, clarimap, clarimap.media, clarimap.plugins\n"
        "clarimap.plugins.get_plugin_manager()\n"
        "clarimap.media.resolve_media(b'x')\n"
        "print(sorted(m for m in ('PIL', 'numpy') if m in sys.modules))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert output.strip() == "[]"
