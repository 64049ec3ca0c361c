"""clarimap-diskcache: the SQLite model name cache, its TTL, two processes, the entry point."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clarimap_diskcache import SQLiteModelCache

from clarimap import plugins

SCOPE = "https://api.clarifai.com/v2/users/me/apps/photos"


@pytest.fixture
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache file, also the one the plugin uses through clarimap."""
    path = tmp_path / "cache" / "model-names.sqlite3"
    monkeypatch.setenv("CLARIMAP_DISKCACHE_PATH", str(path))
    monkeypatch.delenv("CLARIMAP_DISABLE_PLUGINS", raising=False)
    plugins.reset_plugin_manager()
    yield path
    plugins.reset_plugin_manager()


def test_mapping_behaviour(cache_file: Path) -> None:
    cache = SQLiteModelCache(cache_file, SCOPE)
    assert len(cache) == 0 and "general" not in cache
    cache["general"] = "aaa03c23b3724a16a56b629203edc62c"
    cache["color"] = "eeed0b6733a644cea07cf4c60f87ebb7"
    cache["general"] = "aaa03c23b3724a16a56b629203edc62d"
    assert dict(cache) == {
        "color": "eeed0b6733a644cea07cf4c60f87ebb7",
        "general": "aaa03c23b3724a16a56b629203edc62d",
    }
    del cache["color"]
    assert list(cache) == ["general"]
    with pytest.raises(KeyError):
        del cache["color"]
    with pytest.raises(TypeError):
        cache["x"] = 3  # type: ignore[assignment]


def test_scopes_are_separate_and_the_file_is_shared(cache_file: Path) -> None:
    SQLiteModelCache(cache_file, SCOPE)["general"] = "id-a"
    SQLiteModelCache(cache_file, "https://other.example/v2")["general"] = "id-b"
    assert SQLiteModelCache(cache_file, SCOPE)["general"] == "id-a"
    assert SQLiteModelCache(cache_file, "https://other.example/v2")["general"] == "id-b"


def test_entries_expire_after_the_ttl(cache_file: Path) -> None:
    now = [1_000_000.0]
    cache = SQLiteModelCache(cache_file, SCOPE, ttl=60, clock=lambda: now[0])
    cache["general"] = "id1"
    now[0] += 59.5
    assert cache["general"] == "id1"
    now[0] += 1
    assert "general" not in cache and len(cache) == 0
    with pytest.raises(KeyError):
        del cache["general"]
    cache["other"] = "id2"  # a write purges what expired
    with sqlite3.connect(cache_file) as connection:
        assert connection.execute("SELECT name FROM model_names").fetchall() == [("other",)]


def test_bad_ttl_is_refused(cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="ttl"):
        SQLiteModelCache(cache_file, SCOPE, ttl=0)
    from clarimap_diskcache import default_ttl

    monkeypatch.setenv("CLARIMAP_DISKCACHE_TTL", "soon")
    with pytest.raises(ValueError, match="CLARIMAP_DISKCACHE_TTL"):
        default_ttl()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from clarimap_diskcache import SQLiteModelCache

    path, scope, writer, count, go = sys.argv[1:6]
    while not Path(go).exists():
        time.sleep(0.001)
    cache = SQLiteModelCache(path, scope)
    for index in range(int(count)):
        cache[f"shared-{index}"] = f"{writer}-{index}"
        cache[f"own-{writer}-{index}"] = f"{writer}-{index}"
        if index % 10 == 0:
            del cache[f"own-{writer}-{index}"]
    print("done", flush=True)
    """
)


def test_two_processes_writing_at_once(cache_file: Path, tmp_path: Path) -> None:
    count = 300
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache_file), SCOPE, name, str(count), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    time.sleep(0.2)  # let both start and wait on the go file, so their writes overlap
    go.touch()
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert out.strip() == "done"
    cache = SQLiteModelCache(cache_file, SCOPE)
    for name in ("first", "second"):
        for index in range(count):
            key = f"own-{name}-{index}"
            if index % 10 == 0:
                assert key not in cache
            else:
                assert cache[key] == f"{name}-{index}"
    assert all(
        cache[f"shared-{index}"] in (f"first-{index}", f"second-{index}") for index in range(count)
    )
    assert len(cache) == count + 2 * (count - count // 10)
    with sqlite3.connect(cache_file) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_clarimap_discovers_the_plugin_through_its_entry_point(cache_file: Path) -> None:
    manager = plugins.get_plugin_manager()
    info = next((info for info in manager.plugin_infos() if info.name == "diskcache"), None)
    assert info is not None, (
        "clarimap-diskcache is not installed (pip install ./plugins/clarimap-diskcache)"
    )
    assert (info.origin, info.distribution, info.hooks) == (
        "entry point",
        "clarimap-diskcache",
        ("clarimap_model_cache",),
    )
    cache = plugins.model_cache(SCOPE)
    assert isinstance(cache, SQLiteModelCache) and cache.path == cache_file
    cache["general"] = "aaa03c23b3724a16a56b629203edc62c"
    assert plugins.model_cache(SCOPE)["general"] == "aaa03c23b3724a16a56b629203edc62c"


def test_local_servers_keep_the_in_memory_cache(cache_file: Path) -> None:
    from clarimap._builtin_plugins.model_cache import LockedTTLCache

    assert isinstance(plugins.model_cache("local://:memory:"), LockedTTLCache)
    assert not cache_file.exists()


def test_caches_opened_at_once_on_a_new_file(tmp_path: Path) -> None:
    """Two connections that create the file together: neither fails with 'database is locked'."""
    import threading

    for round_number in range(30):
        path = tmp_path / f"new-{round_number}.sqlite3"
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def open_cache(
            path: Path = path,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                SQLiteModelCache(path, SCOPE)["general"] = "id1"
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=open_cache) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, f"round {round_number}: {errors!r}"
        assert SQLiteModelCache(path, SCOPE)["general"] == "id1"
