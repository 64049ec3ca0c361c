"""Testing an application against clarimap's local server: sample data, a server, fixtures.

- pytest fixtures ``clarimap_server``, ``clarimap_session``, ``clarimap_http_server`` and
  ``clarimap_http_session`` come from :mod:`clarimap.testing.pytest_plugin`, which pytest loads
  by itself once clarimap is installed (the ``pytest11`` entry point);
- :func:`add_sample_photos` seeds a session with the photos shipped in ``clarimap/demo_data``;
- :func:`local_server` is a fresh in-memory server for code that does not use pytest;
- :mod:`clarimap.testing.strategies` holds hypothesis strategies (it needs ``hypothesis``).

Importing this module imports neither the server (the ``server`` extra) nor hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING

import attrs

from clarimap._sample_photos import SAMPLE_CONCEPTS

if TYPE_CHECKING:
    from clarimap.entities import Input
    from clarimap.server import ServerApp
    from clarimap.session import Session

__all__ = [
    "SAMPLE_PHOTOS",
    "SERVER_MISSING",
    "SamplePhoto",
    "add_sample_photos",
    "local_server",
    "sample_photo",
]

SERVER_MISSING = "the clarimap local server is not installed: pip install 'clarimap[server]'"
"""What a test that needs the local server says when the ``server`` extra is missing."""


@attrs.frozen
class SamplePhoto:
    """A photo shipped in ``clarimap/demo_data``, with the concepts :func:`add_sample_photos` gives it."""

    id: str
    file_name: str
    concepts: tuple[str, ...]

    def read_bytes(self) -> bytes:
        """The photo's file content (JPEG or PNG)."""
        return (resources.files("clarimap") / "demo_data" / self.file_name).read_bytes()


SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = tuple(
    SamplePhoto(file_name.rsplit(".", 1)[0], file_name, concepts)
    for file_name, concepts in SAMPLE_CONCEPTS.items()
)
"""Every sample photo, by id; the photos and their licences are listed in ``demo_data/SOURCES.md``."""


def sample_photo(photo_id: str) -> SamplePhoto:
    """The sample photo ``photo_id`` (``"cat"``, ``"coffee"``...); ``KeyError`` names the others."""
    for photo in SAMPLE_PHOTOS:
        if photo.id == photo_id:
            return photo
    known = ", ".join(photo.id for photo in SAMPLE_PHOTOS)
    raise KeyError(f"no sample photo {photo_id!r}; the sample photos are: {known}")


def add_sample_photos(
    session: Session, photo_ids: Iterable[str] | None = None, *, commit: bool = True
) -> list[Input]:
    """Add the sample photos (all, or those of ``photo_ids``) to ``session`` as new inputs.

    Each input's id is the photo's id, its concepts are the photo's positive concepts and its
    metadata is ``{"file": file name}``. With ``commit=True`` (the default) the session is
    committed, so the inputs are on the server when this returns. Returns the inputs, in the
    order of ``photo_ids`` (or of :data:`SAMPLE_PHOTOS`).
    """
    from clarimap.entities import Input

    photos = list(SAMPLE_PHOTOS) if photo_ids is None else [sample_photo(one) for one in photo_ids]
    inputs = [
        Input.from_media(
            photo.read_bytes(),
            id=photo.id,
            concepts=photo.concepts,
            metadata={"file": photo.file_name},
        )
        for photo in photos
    ]
    session.add_all(inputs)
    if commit:
        session.commit()
    return inputs


@contextmanager
def local_server(database: str = ":memory:") -> Iterator[ServerApp]:
    """A fresh local server that processes inputs before create calls answer; closed at the end.

    For tests that do not use pytest's fixtures: connect to it with
    ``clarimap.connect("local://:memory:", local_app=server)``. Needs ``clarimap[server]``.
    """
    from clarimap.server import create_app

    server = create_app(database, background=False)
    try:
        yield server
    finally:
        server.close()
