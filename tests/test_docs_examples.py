"""The Python examples of the guide are true: each page's blocks run, in order, on a local server.

Every ```` ```python ```` block of ``README.md``, ``docs/index.md`` and ``docs/guide/*.md`` is run, in page
order, in one namespace per page, in a temporary directory holding copies of the sample photos
(``cat.jpg``...) and a two-second video ``clip.mp4``. ``clarimap.connect(...)`` is replaced, whatever its target, by a session on a
fresh in-memory local server made for the page (so ``connect(api_key=...)`` examples run too).

A block that cannot run offline (the real Clarifai API, your own application's modules) is
marked in the markdown by a comment on the line before it::

    <!-- docs-test: skip (needs the real Clarifai API) -->

and the test reports how many blocks it ran and skipped on each page. Pages run without the
model plugins (``CLARIMAP_DISABLE_PLUGINS=1``) except those of :data:`PAGES_WITH_MODELS`.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import clarimap
import clarimap.session

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLES = ROOT / "clarimap" / "demo_data"
#: Pages whose examples need the models of the ``clarimap-models`` plugin.
PAGES_WITH_MODELS = frozenset({"README.md", "docs/guide/models.md", "docs/guide/migrating.md"})
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\s*(\((?P<reason>[^)]*)\))?\s*-->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")


@attrs.frozen
class Block:
    """One fenced code block of a page: where it starts, its code, and why it is skipped."""

    line: int
    code: str
    skip_reason: str | None


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown page, each with the skip mark just before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1
        if opening.group("lang") != "python":
            continue
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        mark = SKIP_MARK.search(lines[previous]) if previous >= 0 else None
        reason = (mark.group("reason") or "marked skip") if mark else None
        blocks.append(Block(start + 1, "\n".join(body) + "\n", reason))
    return blocks


def pages() -> list[str]:
    """The pages holding Python examples, relative to the repository's root."""
    found = [ROOT / "README.md", DOCS / "index.md", *sorted((DOCS / "guide").glob("*.md"))]
    return [
        str(page.relative_to(ROOT))
        for page in found
        if python_blocks(page.read_text(encoding="utf-8"))
    ]


def test_blocks_are_found_with_their_skip_marks() -> None:
    text = (
        "intro\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs the real Clarifai API) -->\n"
        "```python\ny = 2\n```\n```bash\nls\n```\n<!-- docs-test: skip -->\n```python\nz\n```\n"
    )
    blocks = python_blocks(text)
    assert [(b.line, b.code, b.skip_reason) for b in blocks] == [
        (2, "x = 1\n", None),
        (7, "y = 2\n", "needs the real Clarifai API"),
        (14, "z\n", "marked skip"),
    ]


@pytest.fixture
def docs_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary working directory with copies of the sample photos."""
    for sample in SAMPLES.iterdir():
        if sample.suffix.lower() in (".jpg", ".jpeg", ".png"):
            shutil.copy(sample, tmp_path / sample.name)
    write_sample_video(tmp_path / "clip.mp4")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def write_sample_video(path: Path, seconds: int = 2, fps: int = 10) -> None:
    """A small MPEG-4 video (``clip.mp4`` of the examples): red, blue and green frames in turn."""
    av = pytest.importorskip("av", reason="PyAV is not installed (clarimap[server])")
    numpy = pytest.importorskip("numpy")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for number in range(seconds * fps):
            pixels = numpy.zeros((48, 64, 3), numpy.uint8)
            pixels[..., number % 3] = 200
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("page", pages())
def test_page_examples_run(
    page: str,
    docs_workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("PIL", reason="the local server is not installed (clarimap[server])")
    if page in PAGES_WITH_MODELS:
        if importlib.util.find_spec("clarimap_models") is None:
            pytest.skip(f"{page} needs the clarimap-models plugin")
        monkeypatch.delenv("CLARIMAP_DISABLE_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    from clarimap.plugins import reset_plugin_manager
    from clarimap.server import create_app

    reset_plugin_manager()  # load the plugins again, with or without the models
    server = create_app(":memory:", background=False)
    real_connect = clarimap.session.connect
    opened: list[clarimap.Session] = []

    def connect_to_page_server(url: str | None = None, **options: Any) -> clarimap.Session:
        """``clarimap.connect`` for the examples: any target becomes the page's local server."""
        kept = {
            name: options[name]
            for name in ("autoflush", "timeout", "retry", "wrap_transport")
            if name in options
        }
        session = real_connect("local://:memory:", local_app=server, **kept)
        opened.append(session)
        return session

    monkeypatch.setattr(clarimap, "connect", connect_to_page_server)
    monkeypatch.setattr(clarimap.session, "connect", connect_to_page_server)
    blocks = python_blocks((ROOT / page).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": f"docs_{page.replace('/', '_')[:-3]}"}
    ran = skipped = 0
    try:
        for block in blocks:
            if block.skip_reason is not None:
                skipped += 1
                continue
            code = compile(block.code, f"{page}:{block.line}", "exec")
            try:
                exec(code, namespace)
            except Exception as error:
                raise AssertionError(
                    f"the example at {page} line {block.line} failed: "
                    f"{type(error).__name__}: {error}\n{block.code}"
                ) from error
            ran += 1
    finally:
        for session in opened:
            session.close()
        server.close()
        reset_plugin_manager()
    record_property("blocks_run", ran)
    record_property("blocks_skipped", skipped)
    with capsys.disabled():
        print(f"\n{page}: {ran} examples run, {skipped} skipped")
    assert ran > 0, f"{page}: every example is skipped"
