"""Media sources: whatever a user passes as an image or video, made into the wire's url or base64.

:func:`resolve_media` asks the plugins' ``clarimap_resolve_media`` hook (``firstresult``): the
built-in sources (paths, ``pathlib.Path``, http(s) URLs, bytes, binary file objects, ``data:``
URIs, PIL images, numpy arrays) and any installed plugin (``clarimap-s3`` adds ``s3://``). A
source that no plugin claims raises :class:`UnsupportedMediaSourceError` naming its type and the
installed sources.
"""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Literal, get_args
from urllib.parse import urlsplit

import attrs

from clarimap.errors import (
    InvalidMediaError,
    MediaError,
    MediaFileNotFoundError,
    UnsupportedMediaSourceError,
)

__all__ = [
    "MEDIA_KINDS",
    "InvalidMediaError",
    "MediaError",
    "MediaFileNotFoundError",
    "MediaKind",
    "ResolvedMedia",
    "UnsupportedMediaSourceError",
    "guess_kind",
    "resolve_media",
]

MediaKind = Literal["image", "video"]
MEDIA_KINDS: tuple[str, ...] = get_args(MediaKind)


def _check_kind(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in MEDIA_KINDS:
        raise InvalidMediaError(f"media kind must be one of {MEDIA_KINDS}, not {value!r}")


@attrs.frozen
class ResolvedMedia:
    """An image or video as the wire carries it: exactly one of ``url`` and ``base64``.

    ``base64`` holds the raw bytes (the converter base64-encodes them for JSON).
    """

    url: str | None = attrs.field(default=None)
    base64: bytes | None = attrs.field(
        default=None, repr=lambda b: "None" if b is None else f"<{len(b)} bytes>"
    )
    kind: MediaKind = attrs.field(default="image", validator=_check_kind)

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.base64 is None):
            raise InvalidMediaError("a resolved media has exactly one of url and base64")
        if self.url is not None and not isinstance(self.url, str):
            raise InvalidMediaError(f"url must be a str, not {type(self.url).__name__}")
        if self.base64 is not None and not isinstance(self.base64, bytes):
            raise InvalidMediaError(f"base64 must be bytes, not {type(self.base64).__name__}")


_IMAGE_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"heim",
    b"heis",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}


def _looks_like_video(content: bytes) -> bool:
    head = content[:16]
    if head[4:8] == b"ftyp":  # ISO base media: mp4, mov, 3gp; but HEIF/AVIF are images
        return head[8:12] not in _IMAGE_BRANDS
    return (
        head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"FLV\x01")
        or head.startswith(b"\x00\x00\x01\xba")  # MPEG program stream
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF / WMV
    )


def guess_kind(*, content: bytes | None = None, name: str | None = None) -> MediaKind:
    """``"video"`` when the file name's extension or the content's signature says video.

    Anything else is ``"image"`` (the API's default). Media sources in plugins may use this.
    """
    if name:
        path = urlsplit(name).path if "://" in name else name
        mime, _ = mimetypes.guess_type(posixpath.basename(path.replace("\\", "/")))
        if mime is not None:
            return "video" if mime.startswith("video/") else "image"
    if content is not None and _looks_like_video(content):
        return "video"
    return "image"


def resolve_media(source: object, *, kind: MediaKind | None = None) -> ResolvedMedia:
    """Turn ``source`` into a :class:`ResolvedMedia` through the ``clarimap_resolve_media`` hook.

    ``kind`` forces ``"image"`` or ``"video"``; ``None`` lets the source guess (from the file
    extension, the ``data:`` media type or the content's signature). Raises
    :class:`UnsupportedMediaSourceError` (a ``TypeError``) when no installed source accepts
    ``source``, :class:`MediaFileNotFoundError` for a missing file, :class:`InvalidMediaError`
    for content that cannot be used, and :class:`clarimap.plugins.PluginError` when a plugin
    fails.
    """
    from clarimap.plugins import get_plugin_manager

    if kind is not None and kind not in MEDIA_KINDS:
        raise InvalidMediaError(f"kind must be one of {MEDIA_KINDS} or None, not {kind!r}")
    manager = get_plugin_manager()
    resolved: ResolvedMedia | None = manager.call_first(
        "clarimap_resolve_media", ResolvedMedia, source=source, kind=kind
    )
    if resolved is None:
        raise UnsupportedMediaSourceError(source, manager.implementers("clarimap_resolve_media"))
    if kind is not None and resolved.kind != kind:
        resolved = attrs.evolve(resolved, kind=kind)
    return resolved
