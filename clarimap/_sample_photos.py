"""The sample photos shipped in ``clarimap/demo_data`` and their concepts, in one place.

Called by :mod:`clarimap.demo` (the photos it uploads) and :mod:`clarimap.testing`
(``SAMPLE_PHOTOS``); it imports nothing, so ``clarimap.testing`` stays light to import. The
photos and their licences are listed in ``demo_data/SOURCES.md``.
"""

from __future__ import annotations

SAMPLE_CONCEPTS: dict[str, tuple[str, ...]] = {
    "astronaut.jpg": ("person", "space"),
    "cat.jpg": ("cat", "animal"),
    "clock.jpg": ("clock",),
    "coffee.jpg": ("coffee", "drink"),
    "galaxies.jpg": ("galaxy", "space"),
    "grace_hopper.jpg": ("person",),
    "horse.png": ("horse", "animal"),
    "rocket.jpg": ("rocket", "space"),
}
"""The concepts of each sample photo, by file name, in file-name order."""
