"""What the plugin layer costs: media resolution and the model-name cache.

    python benchmarks/bench_plugins.py [--repeat N]

Media: ``resolve_media`` on each kind of built-in source (a path, bytes, an open file, a
``data:`` URI) against the floor of doing the same by hand (reading the file, base64-decoding
the URI), as a ratio measured in the same run on the sample photos. Cache: lookups and writes
of the built-in in-memory cache (``cachetools.TTLCache``) against ``clarimap-diskcache``'s SQLite
file (when installed), as a ratio. Medians of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clarimap.media import resolve_media
from clarimap.plugins import model_cache, reset_plugin_manager

SAMPLES = Path(__file__).resolve().parent.parent / "clarimap" / "demo_data"


def median_us(action: Callable[[], object], rounds: int, per_round: int) -> float:
    """The median time of one ``action`` call in microseconds."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            action()
        timings.append((time.perf_counter() - start) / per_round * 1e6)
    return statistics.median(timings)


def bench_media(rounds: int) -> None:
    photo = SAMPLES / "cat.jpg"
    content = photo.read_bytes()
    uri = "data:image/jpeg;base64," + base64.b64encode(content).decode()

    def open_file() -> object:
        with photo.open("rb") as file:
            return resolve_media(file)

    def read_by_hand() -> bytes:
        with photo.open("rb") as file:
            return file.read()

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("path", lambda: resolve_media(str(photo)), photo.read_bytes),
        ("bytes", lambda: resolve_media(content), lambda: bytes(content)),
        ("open file", open_file, read_by_hand),
        ("data: URI", lambda: resolve_media(uri), lambda: base64.b64decode(uri.split(",", 1)[1])),
    ]
    print(f"media sources ({photo.name}, {len(content):,} bytes; us a call, median)")
    print(f"  {'source':<12}{'resolve_media':>15}{'by hand':>12}{'ratio':>9}")
    for name, resolved, by_hand in cases:
        ours = median_us(resolved, rounds, 200)
        floor = median_us(by_hand, rounds, 200)
        print(f"  {name:<12}{ours:>15.1f}{floor:>12.1f}{ours / floor:>8.2f}x")


def builtin_model_cache() -> object:
    """The cache a session gets with entry-point plugins off: the built-in one."""
    previous = os.environ.get("CLARIMAP_DISABLE_PLUGINS")
    os.environ["CLARIMAP_DISABLE_PLUGINS"] = "1"
    reset_plugin_manager()
    try:
        return model_cache("bench-memory")
    finally:
        if previous is None:
            del os.environ["CLARIMAP_DISABLE_PLUGINS"]
        else:
            os.environ["CLARIMAP_DISABLE_PLUGINS"] = previous
        reset_plugin_manager()


def bench_cache(rounds: int) -> None:
    memory = builtin_model_cache()
    caches: list[tuple[str, object]] = [(f"in memory ({type(memory).__name__})", memory)]
    try:
        from clarimap_diskcache import SQLiteModelCache
    except ImportError:
        print("clarimap-diskcache is not installed: only the in-memory cache is measured")
    else:
        directory = tempfile.mkdtemp()
        caches.append(("SQLite file (diskcache)", SQLiteModelCache(Path(directory) / "c.db", "b")))
    print("\nmodel-name cache (us a call, median)")
    print(f"  {'cache':<26}{'get':>10}{'set':>10}")
    figures = []
    for name, cache in caches:
        cache["general-v1.3"] = "aaa03c23b3724a16a56b629203edc62c"  # type: ignore[index]
        get = median_us(lambda c=cache: c["general-v1.3"], rounds, 200)  # type: ignore[index]
        put = median_us(lambda c=cache: c.__setitem__("color", "eeed"), rounds, 50)  # type: ignore[attr-defined]
        figures.append((get, put))
        print(f"  {name:<26}{get:>10.1f}{put:>10.1f}")
    if len(figures) == 2:
        (memory_get, memory_set), (disk_get, disk_set) = figures
        print(
            f"  diskcache / memory: get {disk_get / memory_get:.0f}x, set {disk_set / memory_set:.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per figure (median)")
    args = parser.parse_args()
    bench_media(args.repeat)
    bench_cache(args.repeat)


if __name__ == "__main__":
    main()
