"""clarimap.testing's helpers: the sample photos and the server for code without pytest."""

from __future__ import annotations

from importlib import resources

import pytest

import clarimap
from clarimap import Input
from clarimap.testing import SAMPLE_PHOTOS, add_sample_photos, local_server, sample_photo


def test_every_shipped_photo_is_a_sample() -> None:
    folder = resources.files("clarimap") / "demo_data"
    shipped = sorted(
        entry.name for entry in folder.iterdir() if entry.name.endswith((".jpg", ".png"))
    )
    assert sorted(photo.file_name for photo in SAMPLE_PHOTOS) == shipped


def test_unknown_sample_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"'dog'.*astronaut, cat, clock"):
        sample_photo("dog")


def test_local_server_without_pytest_fixtures() -> None:
    with local_server() as server:
        session = clarimap.connect("local://:memory:", local_app=server)
        added = add_sample_photos(session, ["horse"], commit=False)
        assert [photo.id for photo in session.new] == ["horse"]
        session.commit()
        reader = clarimap.connect("local://:memory:", local_app=server)
        stored = reader.get(Input, "horse")
        assert stored is not None
        assert stored.metadata == {"file": "horse.png"}
        assert sorted(c.id for c in stored.concepts) == ["animal", "horse"]
        assert reader.fetch_media(stored) == added[0].image.base64  # type: ignore[union-attr]
        assert reader.fetch_media(stored) == sample_photo("horse").read_bytes()
