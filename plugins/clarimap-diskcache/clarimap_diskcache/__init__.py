"""clarimap plugin: the model name -> id cache in a SQLite file shared by processes, with a TTL.

Registered through the ``clarimap`` entry point ``diskcache``; clarimap asks
:func:`clarimap_model_cache` once per session. See the README for the configuration.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import closing
from pathlib import Path

from clarimap.hookspecs import hookimpl

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "PATH_ENV_VAR",
    "TTL_ENV_VAR",
    "SQLiteModelCache",
    "clarimap_model_cache",
    "default_path",
    "default_ttl",
]

__version__ = "0.1.0"

PATH_ENV_VAR = "CLARIMAP_DISKCACHE_PATH"
TTL_ENV_VAR = "CLARIMAP_DISKCACHE_TTL"
DEFAULT_TTL_SECONDS = 86400.0
BUSY_TIMEOUT_SECONDS = 30.0
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_names (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    model_id TEXT NOT NULL,
    expires_at REAL NOT NULL,              -- seconds since the epoch: one clock for all processes
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS model_names_expiry ON model_names (expires_at);
"""


def default_path() -> Path:
    """``$CLARIMAP_DISKCACHE_PATH``, or ``model-names.sqlite3`` in the user's cache directory."""
    configured = os.environ.get(PATH_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "clarimap" / "model-names.sqlite3"


def default_ttl() -> float:
    """``$CLARIMAP_DISKCACHE_TTL`` in seconds (a positive number), else one day."""
    text = os.environ.get(TTL_ENV_VAR)
    if not text:
        return DEFAULT_TTL_SECONDS
    try:
        ttl = float(text)
    except ValueError:
        raise ValueError(f"{TTL_ENV_VAR}={text!r}: give a number of seconds") from None
    if not ttl > 0:
        raise ValueError(f"{TTL_ENV_VAR}={text!r}: give a positive number of seconds")
    return ttl


class SQLiteModelCache(MutableMapping[str, str]):
    """The names -> ids of one scope (server and app), in a SQLite file any process may share.

    Every operation opens its own connection and is one statement, so instances are safe to use
    from several threads and processes at once, and after ``fork``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        scope: str,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        self.path = Path(path)
        self.scope = scope
        self.ttl = ttl
        self.clock = clock
        self._create()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        return connection

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            _switch_to_wal(connection)
            connection.execute("BEGIN IMMEDIATE")  # one process creates, the others wait
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def __getitem__(self, name: str) -> str:
        with closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT model_id FROM model_names WHERE scope = ? AND name = ? AND expires_at > ?",
                (self.scope, name, self.clock()),
            ).fetchone()
        if row is None:
            raise KeyError(name)
        return str(row[0])

    def __setitem__(self, name: str, model_id: str) -> None:
        if not isinstance(name, str) or not isinstance(model_id, str):
            raise TypeError(
                f"the model cache maps str names to str ids, not {name!r} -> {model_id!r}"
            )
        now = self.clock()
        with closing(self._connect()) as connection:
            connection.execute(
                "INSERT INTO model_names (scope, name, model_id, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (scope, name) DO UPDATE SET model_id = excluded.model_id, "
                "expires_at = excluded.expires_at",
                (self.scope, name, model_id, now + self.ttl),
            )
            connection.execute("DELETE FROM model_names WHERE expires_at <= ?", (now,))

    def __delitem__(self, name: str) -> None:
        with closing(self._connect()) as connection:
            deleted = connection.execute(
                "DELETE FROM model_names WHERE scope = ? AND name = ? RETURNING expires_at",
                (self.scope, name),
            ).fetchall()
        if not deleted or all(expires_at <= self.clock() for (expires_at,) in deleted):
            raise KeyError(name)

    def _live_names(self) -> list[str]:
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT name FROM model_names WHERE scope = ? AND expires_at > ? ORDER BY name",
                (self.scope, self.clock()),
            ).fetchall()
        return [str(name) for (name,) in rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live_names())

    def __len__(self) -> int:
        return len(self._live_names())

    def __repr__(self) -> str:
        return f"SQLiteModelCache({str(self.path)!r}, scope={self.scope!r}, ttl={self.ttl})"


@hookimpl
def clarimap_model_cache(scope: str) -> MutableMapping[str, str] | None:
    """The SQLite cache for ``scope``; ``None`` for ``local://`` (they keep the built-in)."""
    if scope.startswith("local://"):
        return None
    return SQLiteModelCache(default_path(), scope, ttl=default_ttl())


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting for other processes doing the same.

    SQLite answers "database is locked" at once, without its busy handler, when two
    connections switch a new file's journal mode together; retry until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
