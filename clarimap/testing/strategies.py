"""Hypothesis strategies for clarimap's entities, for property-based tests of an application.

Needs ``hypothesis`` (``pip install hypothesis``); clarimap itself does not depend on it, and
no other clarimap module imports this one. Each function returns a strategy::

    from hypothesis import given, strategies as st
    from clarimap.testing import strategies as cs

    @given(st.lists(cs.inputs(), max_size=5, unique_by=lambda photo: photo.id))
    def test_import_keeps_every_photo(photos): ...

What :func:`inputs` draws is accepted by the local server: its images are real PNG files made
in memory (no Pillow needed), its concept annotations are positive or negative, its metadata is
JSON. Strategies for values the server makes (statuses, dates) are left to the caller.
"""

from __future__ import annotations

import datetime
import string
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from clarimap.entities import (
    BoundingBox,
    Concept,
    ConceptAnnotation,
    GeoBox,
    GeoLimit,
    GeoPoint,
    Image,
    Input,
    Region,
)

__all__ = [
    "ID_ALPHABET",
    "bounding_boxes",
    "concept_annotations",
    "concepts",
    "encode_png",
    "geo_boxes",
    "geo_limits",
    "geo_points",
    "ids",
    "images",
    "inputs",
    "json_values",
    "metadata",
    "metadata_keys",
    "moments",
    "png_images",
    "regions",
]

ID_ALPHABET = string.ascii_lowercase + string.digits + "-_"
"""The characters :func:`ids` draws from (the API allows more; these are safe in URLs)."""


def ids(min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    """Ids for inputs, concepts, models and regions."""
    return st.text(ID_ALPHABET, min_size=min_size, max_size=max_size)


def metadata_keys() -> st.SearchStrategy[str]:
    """Keys of metadata objects: short lowercase words."""
    return st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=8)


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.integers(-1000, 1000),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.text(string.ascii_letters + " é猫", min_size=1, max_size=10),
    )


def json_values(
    keys: st.SearchStrategy[str] | None = None, max_leaves: int = 6
) -> st.SearchStrategy[Any]:
    """JSON values (no ``null``): numbers, booleans, text, and lists and objects of them.

    ``keys`` draws the keys of nested objects (default :func:`metadata_keys`); a few fixed keys
    (``st.sampled_from([...])``) make objects that overlap, which is what merges are about.
    """
    object_keys = keys if keys is not None else metadata_keys()
    return st.recursive(
        _scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(object_keys, inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def metadata(
    keys: st.SearchStrategy[str] | None = None,
    values: st.SearchStrategy[Any] | None = None,
    max_size: int = 4,
) -> st.SearchStrategy[dict[str, Any]]:
    """Metadata objects: ``keys`` (default :func:`metadata_keys`) to :func:`json_values`."""
    object_keys = keys if keys is not None else metadata_keys()
    object_values = values if values is not None else json_values(object_keys)
    return st.dictionaries(object_keys, object_values, max_size=max_size)


def moments() -> st.SearchStrategy[datetime.datetime]:
    """Times in UTC between 2000 and 2100 (as the API's timestamps carry them)."""
    return st.datetimes(
        min_value=datetime.datetime(2000, 1, 1),
        max_value=datetime.datetime(2100, 1, 1),
        timezones=st.just(datetime.timezone.utc),
    )


def geo_points() -> st.SearchStrategy[GeoPoint]:
    """Points anywhere on Earth."""
    return st.builds(GeoPoint, st.floats(-180, 180), st.floats(-90, 90))


def geo_limits() -> st.SearchStrategy[GeoLimit]:
    """Search radii, in each unit the API knows."""
    return st.builds(
        GeoLimit, st.floats(0, 1000), st.sampled_from(["miles", "kilometers", "degrees", "radians"])
    )


def geo_boxes() -> st.SearchStrategy[GeoBox]:
    """Search boxes between two points."""
    return st.builds(GeoBox, geo_points(), geo_points())


def concept_annotations(
    concept_ids: st.SearchStrategy[str] | None = None, values: Sequence[float] = (1.0, 0.0)
) -> st.SearchStrategy[ConceptAnnotation]:
    """Concepts on an input: an id (default :func:`ids`) and a value, 1 (shown) or 0 (not)."""
    return st.builds(
        ConceptAnnotation,
        concept_ids if concept_ids is not None else ids(),
        st.sampled_from(values),
    )


def concepts() -> st.SearchStrategy[Concept]:
    """Concepts with an id and, sometimes, a name."""
    return st.builds(
        Concept, ids(), st.none() | st.text(string.ascii_letters + " ", min_size=1, max_size=10)
    )


def bounding_boxes() -> st.SearchStrategy[BoundingBox]:
    """Boxes as fractions of an image, top above bottom and left of right."""
    ends = st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted)
    return st.builds(lambda rows, cols: BoundingBox(rows[0], cols[0], rows[1], cols[1]), ends, ends)


def regions(
    annotations: st.SearchStrategy[ConceptAnnotation] | None = None,
) -> st.SearchStrategy[Region]:
    """Regions: an id, a bounding box and up to two concepts."""
    drawn = annotations if annotations is not None else concept_annotations()
    return st.builds(
        Region,
        ids(),
        bounding_boxes(),
        st.lists(drawn, max_size=2, unique_by=lambda concept: concept.id).map(tuple),
    )


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG file of ``width`` x ``height`` pixels from ``rgb`` (3 bytes a pixel, row by row)."""
    if width < 1 or height < 1 or len(rgb) != 3 * width * height:
        raise ValueError(
            f"{width}x{height} RGB pixels take {3 * width * height} bytes, got {len(rgb)}"
        )
    row_bytes = 3 * width
    scanlines = b"".join(
        b"\x00" + rgb[row * row_bytes : (row + 1) * row_bytes] for row in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines))
        + chunk(b"IEND", b"")
    )


def png_images(min_side: int = 2, max_side: int = 8) -> st.SearchStrategy[bytes]:
    """Real PNG files (bytes) with random pixels, ``min_side`` to ``max_side`` pixels a side."""
    sides = st.integers(min_side, max_side)

    def with_pixels(size: tuple[int, int]) -> st.SearchStrategy[bytes]:
        width, height = size
        count = 3 * width * height
        pixels = st.binary(min_size=count, max_size=count)
        return pixels.map(lambda rgb: encode_png(width, height, rgb))

    return st.tuples(sides, sides).flatmap(with_pixels)


def images() -> st.SearchStrategy[Image]:
    """Images given by their bytes (:func:`png_images`)."""
    return st.builds(Image, base64=png_images())


def inputs(
    input_ids: st.SearchStrategy[str] | None = None,
    annotations: st.SearchStrategy[ConceptAnnotation] | None = None,
    metadata_objects: st.SearchStrategy[dict[str, Any]] | None = None,
    geo: st.SearchStrategy[GeoPoint | None] | None = None,
    max_concepts: int = 3,
) -> st.SearchStrategy[Input]:
    """New image inputs the local server accepts: a PNG, concepts, metadata and maybe a geo point.

    Each argument replaces the strategy for that part (defaults: :func:`ids`,
    :func:`concept_annotations`, :func:`metadata`, ``None`` or :func:`geo_points`). Draw lists
    of them with ``unique_by=lambda photo: photo.id``: ids must differ within an app.
    """
    return st.builds(
        Input,
        id=input_ids if input_ids is not None else ids(),
        image=images(),
        concepts=st.lists(
            annotations if annotations is not None else concept_annotations(),
            max_size=max_concepts,
            unique_by=lambda concept: concept.id,
        ),
        metadata=metadata_objects if metadata_objects is not None else metadata(),
        geo=geo if geo is not None else st.none() | geo_points(),
    )
