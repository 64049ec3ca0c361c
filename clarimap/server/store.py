"""SQLite storage of the local server: one database file (WAL) or an in-memory database.

The schema is versioned (``PRAGMA user_version``); :data:`MIGRATIONS` holds one script a version
and :meth:`Store.open` applies the missing ones in order, so later releases add tables without
losing data.

The source of truth for an input is its row in ``inputs`` (``data`` holds the JSON ``data``
object without the media). The tables ``input_concepts``, ``input_metadata`` and ``input_geo``
are search indexes derived from it by :func:`index_input`, which every write of an input's data
must call inside the same transaction.

Concurrency: one connection, guarded by a re-entrant lock; writes run in ``BEGIN IMMEDIATE``
transactions (:meth:`Store.transaction`), so a process killed mid-write leaves the last
committed state (WAL with ``synchronous=FULL``).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clarimap.errors import ConfigurationError

MIGRATIONS: list[str] = [
    # version 1
    """
    CREATE TABLE apps (
        pk INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        app_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (user_id, app_id)
    );

    CREATE TABLE inputs (
        seq INTEGER PRIMARY KEY,                 -- insertion order: lists are in this order
        app INTEGER NOT NULL REFERENCES apps(pk),
        id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        url TEXT,                                -- the original URL, when created from one
        media TEXT NOT NULL,                     -- JSON of data.image / data.video as sent, minus base64
        data TEXT NOT NULL,                      -- JSON of data without image/video
        status_code INTEGER NOT NULL,
        status_details TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        UNIQUE (app, id)
    );
    CREATE INDEX inputs_by_url ON inputs (app, url);
    CREATE INDEX inputs_by_status ON inputs (status_code);

    -- the bytes of an input (uploaded, or downloaded while processing) and what decoding found
    CREATE TABLE input_blobs (
        seq INTEGER PRIMARY KEY REFERENCES inputs(seq) ON DELETE CASCADE,
        bytes BLOB,
        width INTEGER,
        height INTEGER,
        format TEXT
    );

    -- search indexes derived from inputs.data by index_input()
    CREATE TABLE input_concepts (
        seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
        app INTEGER NOT NULL,
        concept_id TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (seq, concept_id)
    ) WITHOUT ROWID;
    CREATE INDEX input_concepts_lookup ON input_concepts (app, concept_id, value, seq);

    CREATE TABLE input_metadata (             -- one row per leaf of the metadata tree
        seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
        app INTEGER NOT NULL,
        path TEXT NOT NULL,                      -- JSON-encoded list of keys
        value TEXT NOT NULL                      -- canonical JSON of the leaf (numbers as floats)
    );
    CREATE INDEX input_metadata_lookup ON input_metadata (app, path, value, seq);
    CREATE INDEX input_metadata_by_seq ON input_metadata (seq);

    CREATE TABLE input_geo (
        seq INTEGER PRIMARY KEY REFERENCES inputs(seq) ON DELETE CASCADE,
        app INTEGER NOT NULL,
        latitude REAL NOT NULL,
        longitude REAL NOT NULL
    );
    CREATE INDEX input_geo_lookup ON input_geo (app, latitude, longitude);

    -- what models computed for an input at processing time
    CREATE TABLE input_embeddings (
        seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        vector BLOB NOT NULL,                    -- float32, L2-normalised
        PRIMARY KEY (seq, model_id)
    ) WITHOUT ROWID;
    CREATE TABLE input_predictions (
        seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        concept_id TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (seq, model_id, concept_id)
    ) WITHOUT ROWID;
    CREATE INDEX input_predictions_lookup ON input_predictions (model_id, concept_id, value);

    CREATE TABLE concepts (
        app INTEGER NOT NULL REFERENCES apps(pk),
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'en',
        created_at TEXT NOT NULL,
        PRIMARY KEY (app, id)
    );
    CREATE TABLE concept_translations (      -- names of a concept in other languages
        app INTEGER NOT NULL,
        concept_id TEXT NOT NULL,
        language TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (app, concept_id, language)
    );

    CREATE TABLE models (
        app INTEGER NOT NULL REFERENCES apps(pk),
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,                      -- JSON: display_name, model_type_id, output_config, ...
        concepts TEXT NOT NULL DEFAULT '[]',     -- JSON list of concept ids, sorted
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        PRIMARY KEY (app, id)
    );
    CREATE TABLE model_versions (
        app INTEGER NOT NULL,
        model_id TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,                    -- creation order within the model
        status_code INTEGER NOT NULL,
        status_details TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '{}',         -- JSON: counts, metrics, config snapshot
        artifact BLOB,                           -- trained weights
        created_at TEXT NOT NULL,
        PRIMARY KEY (app, model_id, id)
    );

    CREATE TABLE workflows (
        app INTEGER NOT NULL REFERENCES apps(pk),
        id TEXT NOT NULL,
        body TEXT NOT NULL,                      -- JSON: nodes, metadata
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        PRIMARY KEY (app, id)
    );
    """,
    # version 2: lists of an app's inputs walk this index in insertion order instead of sorting
    """
    CREATE INDEX inputs_by_app_seq ON inputs (app, seq);
    """,
    # version 3: feedback on predictions and searches (kept, not acted on)
    """
    CREATE TABLE feedback (
        seq INTEGER PRIMARY KEY,
        app INTEGER NOT NULL REFERENCES apps(pk),
        kind TEXT NOT NULL CHECK (kind IN ('model', 'search')),
        model_id TEXT,
        version_id TEXT,
        input_id TEXT NOT NULL,
        body TEXT NOT NULL,                      -- JSON of the input sent, with feedback_info
        created_at TEXT NOT NULL
    );
    CREATE INDEX feedback_by_app ON feedback (app, seq);
    """,
    # version 4: a log of input_embeddings changes, kept by triggers (cascaded deletes included),
    # from which the in-memory vector index (clarimap.server.vectors) follows every writer
    """
    CREATE TABLE input_embedding_changes (
        change INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL,
        model_id TEXT NOT NULL
    );
    CREATE TABLE input_embedding_changes_trimmed (upto INTEGER NOT NULL);
    INSERT INTO input_embedding_changes_trimmed (upto) VALUES (0);
    INSERT INTO input_embedding_changes (seq, model_id) SELECT seq, model_id FROM input_embeddings;
    CREATE TRIGGER input_embeddings_inserted AFTER INSERT ON input_embeddings BEGIN
        INSERT INTO input_embedding_changes (seq, model_id) VALUES (NEW.seq, NEW.model_id);
    END;
    CREATE TRIGGER input_embeddings_updated AFTER UPDATE ON input_embeddings BEGIN
        INSERT INTO input_embedding_changes (seq, model_id) VALUES (OLD.seq, OLD.model_id);
        INSERT INTO input_embedding_changes (seq, model_id) VALUES (NEW.seq, NEW.model_id);
    END;
    CREATE TRIGGER input_embeddings_deleted AFTER DELETE ON input_embeddings BEGIN
        INSERT INTO input_embedding_changes (seq, model_id) VALUES (OLD.seq, OLD.model_id);
    END;
    """,
    # version 5: inputs made from bytes are served from a hosted URL (GET /v2/hosted/orig/{token})
    # instead of carrying their base64 in every answer, as the real service does
    """
    ALTER TABLE inputs ADD COLUMN hosted TEXT;
    UPDATE inputs SET hosted = lower(hex(randomblob(16))) WHERE url IS NULL;
    CREATE UNIQUE INDEX inputs_by_hosted ON inputs (hosted);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another process's write lock before "database is locked"."""


def now() -> str:
    """The current time as an RFC 3339 UTC timestamp with microseconds."""
    return timestamp(dt.datetime.now(dt.timezone.utc))


def timestamp(moment: dt.datetime) -> str:
    """``moment`` (aware, UTC) as stored: RFC 3339 with microseconds, so text order is time order."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A server-made id: 32 lowercase hex characters, like the real service's."""
    return uuid.uuid4().hex


class Store:
    """The database of one local server."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self.connection = connection
        self.path = path
        self.lock = threading.RLock()
        self._apps: dict[tuple[str, str], int] = {}
        self._reading = False  # inside the outermost read() block (a deferred transaction)

    @classmethod
    def open(cls, path: str | Path = ":memory:") -> Store:
        """Open (creating and migrating as needed) the database at ``path``, or one in memory."""
        target = str(path)
        connection: sqlite3.Connection | None = None
        try:
            if target != ":memory:":
                if Path(target).is_dir():
                    raise ConfigurationError(
                        f"cannot open the database {target}: it is a directory, not a file"
                    )
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys = ON")
            if target != ":memory:":
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                _use_wal(connection)
                connection.execute("PRAGMA synchronous = FULL")
        except (OSError, sqlite3.DatabaseError) as error:  # unwritable place, not a database...
            if connection is not None:
                connection.close()
            raise ConfigurationError(f"cannot open the database {target}: {error}") from None
        store = cls(connection, target)
        store._migrate()
        return store

    def _migrate(self) -> None:
        with self.lock:
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"database {self.path} has schema version {version}, newer than this "
                    f"clarimap ({SCHEMA_VERSION}); upgrade clarimap"
                )
            while version < SCHEMA_VERSION:
                self.connection.execute("BEGIN IMMEDIATE")
                try:
                    # Read the version again under the write lock: another process opening the
                    # same file at the same time may have applied this migration meanwhile.
                    version = self.connection.execute("PRAGMA user_version").fetchone()[0]
                    if version < SCHEMA_VERSION:
                        for statement in _statements(MIGRATIONS[version]):
                            self.connection.execute(statement)
                        version += 1
                        self.connection.execute(f"PRAGMA user_version = {version}")
                    self.connection.execute("COMMIT")
                except BaseException:
                    self.connection.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            else:
                self.connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads (consistent for the length of the block)."""
        with self.lock:
            if self.connection.in_transaction:
                yield self.connection
                return
            self.connection.execute("BEGIN")
            self._reading = True
            try:
                yield self.connection
            finally:
                self._reading = False
                self.connection.execute("COMMIT")

    def hosted_blob(self, token: str) -> tuple[bytes, str] | None:
        """``(bytes, format)`` of the input whose hosted URL ends in ``token``, or ``None``."""
        with self.read() as connection:
            row = connection.execute(
                "SELECT b.bytes, b.format FROM inputs i JOIN input_blobs b ON b.seq = i.seq "
                "WHERE i.hosted = ?",
                (token,),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return bytes(row[0]), str(row[1] or "")

    def app_pk(self, user_id: str, app_id: str) -> int:
        """The primary key of the app ``(user_id, app_id)``, created on first use."""
        key = (user_id, app_id)
        cached = self._apps.get(key)
        if cached is not None:
            return cached
        with self.lock:
            select = "SELECT pk FROM apps WHERE user_id = ? AND app_id = ?"
            row = self.connection.execute(select, key).fetchone()
            if row is None and self._reading and self.path != ":memory:":
                # A read transaction cannot write once another process has committed after it
                # began (SQLITE_BUSY_SNAPSHOT, not retried): create the app on a connection of
                # its own. The read's snapshot does not see the app, which had nothing in it.
                side = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                try:
                    pk = _insert_app(side, user_id, app_id)
                finally:
                    side.close()
            elif row is None:
                pk = _insert_app(self.connection, user_id, app_id)
            else:
                pk = int(row[0])
        self._apps[key] = pk
        return pk


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch a new database file to WAL, waiting while another process opens it too.

    The switch needs the file to itself, and SQLite answers "database is locked" at once, without
    calling the busy handler, when another connection holds a lock that could deadlock with it
    (two servers started together on a new directory).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _insert_app(connection: sqlite3.Connection, user_id: str, app_id: str) -> int:
    """The key of app ``(user_id, app_id)``, inserted unless another connection just did."""
    # Another process on the same file may create the app between a SELECT and an INSERT:
    # insert unless present, then read the key whoever inserted it.
    connection.execute(
        "INSERT OR IGNORE INTO apps (user_id, app_id, created_at) VALUES (?, ?, ?)",
        (user_id, app_id, now()),
    )
    row = connection.execute(
        "SELECT pk FROM apps WHERE user_id = ? AND app_id = ?", (user_id, app_id)
    ).fetchone()
    return int(row[0])


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (trigger bodies stay whole; no string `;`)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    statements: list[str] = []
    current = ""
    for piece in "\n".join(lines).split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements


# ---------------------------------------------------------------------------------------------
# search indexes


def canonical_json(value: Any) -> str:
    """The JSON text a metadata leaf is indexed and compared by (numbers as floats, sorted keys)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(float(value))
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{canonical_json(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    raise TypeError(f"not a JSON value: {value!r}")


def metadata_leaves(
    metadata: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, str]]:
    """``(path, value)`` for every leaf of a metadata tree; lists and empty objects are leaves."""
    for key, value in metadata.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from metadata_leaves(value, path)
        else:
            yield json.dumps(list(path), ensure_ascii=False), canonical_json(value)


def index_input(connection: sqlite3.Connection, seq: int, app: int, data: dict[str, Any]) -> None:
    """Rewrite the search index rows of input ``seq`` from its ``data`` (call inside a transaction)."""
    connection.execute("DELETE FROM input_concepts WHERE seq = ?", (seq,))
    connection.execute("DELETE FROM input_metadata WHERE seq = ?", (seq,))
    connection.execute("DELETE FROM input_geo WHERE seq = ?", (seq,))
    concepts = data.get("concepts") or []
    connection.executemany(
        "INSERT OR REPLACE INTO input_concepts (seq, app, concept_id, value) VALUES (?, ?, ?, ?)",
        [(seq, app, c["id"], float(c.get("value", 1.0))) for c in concepts if c.get("id")],
    )
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        connection.executemany(
            "INSERT INTO input_metadata (seq, app, path, value) VALUES (?, ?, ?, ?)",
            [(seq, app, path, value) for path, value in metadata_leaves(metadata)],
        )
    point = (data.get("geo") or {}).get("geo_point")
    if point and point.get("latitude") is not None and point.get("longitude") is not None:
        connection.execute(
            "INSERT INTO input_geo (seq, app, latitude, longitude) VALUES (?, ?, ?, ?)",
            (seq, app, float(point["latitude"]), float(point["longitude"])),
        )
