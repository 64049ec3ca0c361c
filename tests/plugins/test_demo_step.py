"""The demo's media-source step: a photo from a data: URI and one from an open file."""

from __future__ import annotations

import io

from clarimap import demo


def test_demo_adds_photos_from_a_data_uri_and_an_open_file() -> None:
    out = io.StringIO()
    assert demo.run_demo(out, [demo.start_server, demo.upload_from_media_sources]) == 0
    text = out.getvalue()
    assert "created from-data-uri  from a data: URI (rocket.jpg" in text
    assert "created from-open-file from an open file (horse.png" in text
    assert text.count("read back byte for byte") == 2


def test_the_step_is_part_of_the_demo() -> None:
    assert (
        demo.STEPS.index(demo.upload_from_media_sources) == demo.STEPS.index(demo.upload_photos) + 1
    )
