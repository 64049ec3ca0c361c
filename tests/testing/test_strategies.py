"""clarimap.testing.strategies: what they draw is valid, round-trips, and the server accepts it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clarimap
from clarimap import Input
from clarimap.converters import structure, unstructure
from clarimap.testing import local_server
from clarimap.testing import strategies as cs


@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_encode_png_is_read_back_pixel_for_pixel(
    width: int, height: int, data: st.DataObject
) -> None:
    from PIL import Image as PILImage

    rgb = data.draw(st.binary(min_size=3 * width * height, max_size=3 * width * height))
    decoded = PILImage.open(io.BytesIO(cs.encode_png(width, height, rgb)))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", (width, height))
    assert decoded.tobytes() == rgb


def test_encode_png_refuses_the_wrong_number_of_bytes() -> None:
    with pytest.raises(ValueError, match="2x2 RGB pixels take 12 bytes, got 11"):
        cs.encode_png(2, 2, bytes(11))


@given(cs.inputs())
def test_inputs_round_trip_through_the_converter(photo: Input) -> None:
    assert structure(unstructure(photo), Input) == photo


@given(cs.bounding_boxes())
def test_bounding_boxes_are_ordered(box: clarimap.BoundingBox) -> None:
    assert box.top_row <= box.bottom_row and box.left_col <= box.right_col


@pytest.mark.clarimap_disable_plugins
@settings(max_examples=15)
@given(st.lists(cs.inputs(), min_size=1, max_size=4, unique_by=lambda photo: photo.id))
def test_the_local_server_accepts_what_inputs_draws(photos: list[Input]) -> None:
    with local_server() as server:
        session = clarimap.connect("local://:memory:", local_app=server)
        session.add_all(photos)
        session.commit()
        reader = clarimap.connect("local://:memory:", local_app=server)
        for photo in photos:
            stored = reader.get(Input, photo.id)
            assert stored is not None
            assert stored.status is not None and stored.status.code == 30000, stored.status
            assert stored.metadata == photo.metadata
            assert stored.geo == photo.geo
            assert sorted(stored.concepts, key=lambda c: c.id) == sorted(
                photo.concepts, key=lambda c: c.id
            )
