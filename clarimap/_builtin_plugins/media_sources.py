"""The built-in media sources: paths, http(s) URLs, bytes, file objects, data: URIs, PIL, numpy.

Registered by :mod:`clarimap._builtin_plugins`, one plugin each (so an error can name the
installed sources); asked through ``clarimap_resolve_media`` by
:func:`clarimap.media.resolve_media`. PIL and numpy are never imported here: a PIL image or a
numpy array can only exist once its library has been imported, so those sources look it up in
``sys.modules``.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from clarimap.hookspecs import MediaKind, hookimpl
from clarimap.media import (
    InvalidMediaError,
    MediaError,
    MediaFileNotFoundError,
    ResolvedMedia,
    guess_kind,
)

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class PathSource:
    """A ``str`` path (anything without a ``scheme://``) or an ``os.PathLike``: the file's bytes."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Read the file named by ``source``."""
        if isinstance(source, str):
            if _URL_SCHEME.match(source) or source[:5].lower() == "data:":
                return None
            path = source
        elif isinstance(source, os.PathLike):
            path = os.fspath(source)
            if not isinstance(path, str):
                path = os.fsdecode(path)
        else:
            return None
        file_path = Path(path).expanduser()
        if not file_path.exists():
            raise MediaFileNotFoundError(path)
        if file_path.is_dir():
            raise MediaFileNotFoundError(path, "a directory, not a file")
        try:
            content = file_path.read_bytes()
        except PermissionError as error:
            raise MediaError(f"cannot read media file {path!r}: permission denied") from error
        return ResolvedMedia(base64=content, kind=kind or guess_kind(content=content, name=path))


class URLSource:
    """An ``http://`` or ``https://`` URL, sent as the wire's ``url`` for the server to fetch."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Pass http(s) URLs through unchanged."""
        if not isinstance(source, str):
            return None
        match = _URL_SCHEME.match(source)
        if match is None or match.group(1).lower() not in ("http", "https"):
            return None
        if not urlsplit(source).netloc or any(character.isspace() for character in source):
            raise InvalidMediaError(f"not a valid http(s) URL: {source!r}")
        return ResolvedMedia(url=source, kind=kind or guess_kind(name=source))


class BytesSource:
    """``bytes``, ``bytearray`` or ``memoryview``: the content itself."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Copy the bytes."""
        if not isinstance(source, (bytes, bytearray, memoryview)):
            return None
        content = bytes(source)
        if not content:
            raise InvalidMediaError("media bytes are empty")
        return ResolvedMedia(base64=content, kind=kind or guess_kind(content=content))


class FileObjectSource:
    """A binary file object (anything with ``read()`` returning bytes), read from where it is."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Read the rest of the file object."""
        read = getattr(source, "read", None)
        if read is None or isinstance(source, (str, bytes, bytearray, memoryview)):
            return None
        if isinstance(source, io.TextIOBase):
            raise InvalidMediaError(
                f"file object {_name_of(source)!r} is open in text mode; open it with 'rb'"
            )
        content = read()
        if isinstance(content, str):
            raise InvalidMediaError(
                f"file object {_name_of(source)!r} returned str from read(); open it with 'rb'"
            )
        if not isinstance(content, (bytes, bytearray, memoryview)):
            return None
        content = bytes(content)
        if not content:
            raise InvalidMediaError(f"file object {_name_of(source)!r} has nothing left to read")
        name = getattr(source, "name", None)
        return ResolvedMedia(
            base64=content,
            kind=kind or guess_kind(content=content, name=name if isinstance(name, str) else None),
        )


def _name_of(file_object: Any) -> str:
    name = getattr(file_object, "name", None)
    return name if isinstance(name, str) else type(file_object).__name__


class DataURISource:
    """An RFC 2397 ``data:`` URI, base64 (``;base64,``) or percent-encoded."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Decode the URI's payload."""
        if not isinstance(source, str) or source[:5].lower() != "data:":
            return None
        header, comma, payload = source[5:].partition(",")
        if not comma:
            raise InvalidMediaError("malformed data: URI: no ',' before the data")
        parameters = [part.strip() for part in header.split(";")]
        is_base64 = len(parameters) > 1 and parameters[-1].lower() == "base64"
        media_type = parameters[0].lower()
        if is_base64:
            text = (
                unquote_to_bytes(payload) if "%" in payload else payload.encode("ascii", "replace")
            )
            text = b"".join(text.split())
            try:
                content = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                raise InvalidMediaError(f"malformed data: URI: bad base64 ({error})") from error
        else:
            content = unquote_to_bytes(payload)
        if not content:
            raise InvalidMediaError("data: URI holds no data")
        if kind is None:
            if media_type.startswith("video/"):
                kind = "video"
            elif media_type.startswith("image/"):
                kind = "image"
            else:
                kind = guess_kind(content=content)
        return ResolvedMedia(base64=content, kind=kind)


_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def _encode_pil_image(image: Any) -> bytes:
    """Lossless bytes of a PIL image: PNG where PNG holds its mode, TIFF otherwise."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if image.mode in _PNG_MODES else "TIFF")
    return buffer.getvalue()


class PILImageSource:
    """A ``PIL.Image.Image``: encoded losslessly (PNG, or TIFF for modes PNG cannot hold)."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Encode the image's pixels."""
        pil_image = sys.modules.get("PIL.Image")
        if pil_image is None or not isinstance(source, pil_image.Image):
            return None
        return ResolvedMedia(base64=_encode_pil_image(source), kind=kind or "image")


class NumpyArraySource:
    """A ``numpy.ndarray`` of pixels (HxW, HxWx1, HxWx3 or HxWx4), encoded as PNG with Pillow."""

    @hookimpl
    def clarimap_resolve_media(
        self, source: object, kind: MediaKind | None
    ) -> ResolvedMedia | None:
        """Encode the array as a lossless image."""
        numpy = sys.modules.get("numpy")
        if numpy is None or not isinstance(source, numpy.ndarray):
            return None
        try:
            from PIL import Image
        except ImportError as error:
            raise MediaError(
                "a numpy array is encoded as an image with Pillow, which is not installed "
                "(pip install Pillow, or clarimap[server])"
            ) from error
        array = source
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise InvalidMediaError(
                f"a numpy image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                f"not {tuple(source.shape)}"
            )
        if array.dtype != numpy.uint8 and not (array.ndim == 2 and array.dtype == numpy.uint16):
            raise InvalidMediaError(
                f"a numpy image must have dtype uint8 (or uint16 for one channel), not "
                f"{array.dtype}; convert it first, e.g. (array * 255).astype('uint8')"
            )
        image = Image.fromarray(numpy.ascontiguousarray(array))
        return ResolvedMedia(base64=_encode_pil_image(image), kind=kind or "image")


def builtin_media_sources() -> list[tuple[str, object]]:
    """``(plugin name, source)`` for each built-in media source."""
    return [
        ("media-path", PathSource()),
        ("media-url", URLSource()),
        ("media-bytes", BytesSource()),
        ("media-file-object", FileObjectSource()),
        ("media-data-uri", DataURISource()),
        ("media-pil", PILImageSource()),
        ("media-numpy", NumpyArraySource()),
    ]
