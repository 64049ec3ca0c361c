"""The demo's media-source step: a photo from a data: URI and one from an open file."""

from __future__ import annotations

import io
import re

from clarimap import demo


def test_demo_adds_photos_from_a_data_uri_and_an_open_file() -> None:
    out = io.StringIO()
    assert demo.run_demo(out, [demo.connect_session, demo.upload_from_media_sources]) == 0
    text = out.getvalue()
    rocket = len(demo.sample_bytes("rocket.jpg"))
    horse = len(demo.sample_bytes("horse.png"))
    assert re.search(rf"from-data-uri\s+a data: URI\s+rocket\.jpg, {rocket} bytes\s+yes", text)
    assert re.search(rf"from-open-file\s+an open file\s+horse\.png, {horse} bytes\s+yes", text)
    # one POST for both, then the two reads that compared the stored bytes
    assert re.search(r"POST\s+/v2/inputs\s+2 inputs\s+-> 200", text)
    assert re.search(r"GET\s+/v2/inputs/from-open-file\s+-> 200", text)


def test_the_step_is_part_of_the_demo() -> None:
    assert (
        demo.STEPS.index(demo.upload_from_media_sources) == demo.STEPS.index(demo.upload_photos) + 1
    )
