"""The in-memory vector index of the local server: stored embeddings as one float32 matrix.

Called by :mod:`clarimap.server.search` (visual similarity ranks). Reading every candidate's
vector from SQLite on each search costs time proportional to the app (about 235 ms for 100,000
inputs); this index keeps, per (app, embedding model id), the app's stored vectors as one
contiguous ``float32`` matrix with the matching ``inputs.seq`` values, so a visual search is one
matrix-vector product (whole app) or a product over the candidate rows only (filtered search).

Memory: ``n x d x 4`` bytes for the matrix plus 9 bytes a row for the seqs and liveness
(and a dict entry a row, about 100 bytes, mapping seqs to rows). 100,000 inputs of the built-in
128-d descriptor cost 51 MB (``100,000 x 128 x 4``); with a 1280-d embedding 512 MB. The matrix
grows by doubling, so up to twice that while an app is growing.

Staying in sync. ``input_embeddings`` is written by the processing steps (``INSERT OR
REPLACE``), by model plugins, and emptied by ``ON DELETE CASCADE`` when inputs are deleted, by
any code path, in this process or another one on the same database file. Rather than trusting
every writer to notify the index, schema version 4 (:mod:`clarimap.server.store`) adds triggers
that append ``(seq, model_id)`` to ``input_embedding_changes`` on every insert, update and delete
of ``input_embeddings`` (cascaded deletes fire them too). A table remembers the last change it has
applied; :meth:`VectorIndex.table` (called inside the search's read transaction) reads the
changes since then and re-reads the vectors of those seqs: found means added or replaced, gone
means removed. So a deleted input is never returned and a newly processed one is found by the
very next search. When nothing changed the check costs three primary-key lookups.

The change log is trimmed (:meth:`VectorIndex.trim`) once it holds more than
:data:`TRIM_AFTER` rows; the trimmed position is recorded in
``input_embedding_changes_trimmed``, and a table (of any process) whose position is older than
it reloads in full instead of applying changes it can no longer see.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from clarimap.server.store import Store

Seqs = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

TRIM_AFTER = 200_000
"""Log rows kept before :meth:`VectorIndex.trim` deletes the ones every loaded table applied."""

_FULL_RELOAD_SHARE = 0.5  # more changed seqs than this share of the table: reload it whole
_COMPACT_SHARE = 0.25  # more removed rows than this share of the matrix: compact it


class VectorSizeError(ValueError):
    """Stored vectors of one (app, model) differ in length, or from the query vector."""


class VectorTable:
    """The stored vectors of one app under one embedding model id, as one matrix."""

    def __init__(self, app_pk: int, model_id: str) -> None:
        self.app_pk = app_pk
        self.model_id = model_id
        self.position = 0  # the last input_embedding_changes row applied
        self.dimensions = 0
        self._matrix: Matrix = np.zeros((0, 0), dtype=np.float32)
        self._seqs: Seqs = np.zeros(0, dtype=np.int64)
        self._live = np.zeros(0, dtype=bool)
        self._size = 0  # rows of the matrix in use (live or removed)
        self._removed = 0
        self._row_of: dict[int, int] = {}  # seq -> row, live rows only
        self._sorted: tuple[Seqs, npt.NDArray[np.intp], bool] | None = None

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def nbytes(self) -> int:
        """Bytes held by the matrix and the seq and liveness arrays (capacity included)."""
        return int(self._matrix.nbytes + self._seqs.nbytes + self._live.nbytes)

    # -- loading and changes ---------------------------------------------------------------------

    def load(self, connection: sqlite3.Connection, position: int) -> None:
        """Read every vector of the app under the model (inside the caller's transaction)."""
        rows = connection.execute(
            "SELECT e.seq, e.vector FROM inputs i JOIN input_embeddings e "
            "ON e.seq = i.seq AND e.model_id = ? WHERE i.app = ? ORDER BY i.seq",
            (self.model_id, self.app_pk),
        ).fetchall()
        seqs = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        dimensions = len(rows[0][1]) // 4 if rows else 0
        if any(len(row[1]) != dimensions * 4 for row in rows):
            raise VectorSizeError(
                f"the stored vectors of model {self.model_id!r} differ in length; reprocess "
                "the inputs"
            )
        # one writable buffer, no further copy: the matrix owns the joined bytes
        joined = bytearray().join(row[1] for row in rows)
        del rows
        matrix = np.frombuffer(joined, dtype=np.float32).reshape(len(seqs), dimensions)
        self.dimensions = dimensions
        self._matrix = matrix
        self._seqs = seqs
        self._live = np.ones(len(seqs), dtype=bool)
        self._size = len(seqs)
        self._removed = 0
        self._row_of = {int(seq): row for row, seq in enumerate(seqs)}
        self._sorted = None
        self.position = position

    def apply(self, connection: sqlite3.Connection, position: int) -> None:
        """Apply the logged changes after :attr:`position` up to ``position``."""
        changed = [
            int(row[0])
            for row in connection.execute(
                "SELECT DISTINCT seq FROM input_embedding_changes "
                "WHERE change > ? AND change <= ? AND model_id = ?",
                (self.position, position, self.model_id),
            )
        ]
        if len(changed) > max(1024, _FULL_RELOAD_SHARE * len(self._row_of)):
            self.load(connection, position)
            return
        found = {
            int(row[0]): bytes(row[1])
            for row in connection.execute(
                "SELECT e.seq, e.vector FROM input_embeddings e JOIN inputs i ON i.seq = e.seq "
                "WHERE e.model_id = ? AND i.app = ? AND e.seq IN (SELECT value FROM json_each(?))",
                (self.model_id, self.app_pk, json.dumps(changed)),
            )
        }
        for seq in changed:
            blob = found.get(seq)
            if blob is None:
                self._remove(seq)
            else:
                self._put(seq, np.frombuffer(blob, dtype=np.float32))
        self.position = position
        if self._removed > 1024 and self._removed > _COMPACT_SHARE * self._size:
            self._compact()

    def _put(self, seq: int, vector: Matrix) -> None:
        if not self.dimensions:
            self.dimensions = len(vector)
            self._matrix = np.zeros((0, self.dimensions), dtype=np.float32)
        if len(vector) != self.dimensions:
            raise VectorSizeError(
                f"the stored vectors of model {self.model_id!r} differ in length "
                f"({len(vector)} and {self.dimensions}); reprocess the inputs"
            )
        row = self._row_of.get(seq)
        if row is not None:  # re-processed: replace in place
            self._matrix[row] = vector
            return
        if self._size == len(self._matrix):
            self._grow(max(16, 2 * self._size))
        row = self._size
        self._matrix[row] = vector
        self._seqs[row] = seq
        self._live[row] = True
        self._row_of[seq] = row
        self._size += 1
        self._sorted = None

    def _remove(self, seq: int) -> None:
        row = self._row_of.pop(seq, None)
        if row is None:
            return
        self._live[row] = False
        self._removed += 1
        self._sorted = None

    def _grow(self, capacity: int) -> None:
        matrix = np.zeros((capacity, self.dimensions), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        seqs = np.zeros(capacity, dtype=np.int64)
        seqs[: self._size] = self._seqs[: self._size]
        live = np.zeros(capacity, dtype=bool)
        live[: self._size] = self._live[: self._size]
        self._matrix, self._seqs, self._live = matrix, seqs, live

    def _compact(self) -> None:
        keep = np.flatnonzero(self._live[: self._size])
        self._matrix = np.ascontiguousarray(self._matrix[keep])
        self._seqs = self._seqs[keep]
        self._live = np.ones(len(keep), dtype=bool)
        self._size = len(keep)
        self._removed = 0
        self._row_of = {int(seq): row for row, seq in enumerate(self._seqs)}
        self._sorted = None

    def _by_seq(self) -> tuple[Seqs, npt.NDArray[np.intp], bool]:
        """The live seqs ascending, the matrix row of each, and whether those are all rows."""
        if self._sorted is None:
            rows = np.flatnonzero(self._live[: self._size])
            order = np.argsort(self._seqs[rows], kind="stable")
            rows = rows[order]
            every_row = len(rows) == self._size and bool(np.all(np.diff(rows) > 0))
            self._sorted = (self._seqs[rows], rows, every_row)
        return self._sorted

    # -- scoring ---------------------------------------------------------------------------------

    def _check(self, query: Matrix) -> Matrix:
        vector = np.ascontiguousarray(query, dtype=np.float32)
        if len(self._row_of) and vector.shape != (self.dimensions,):
            raise VectorSizeError(
                "stored vectors and the query vector differ in size; reprocess the inputs"
            )
        return vector

    def cosines(self, query: Matrix) -> tuple[Seqs, Scores]:
        """Every live seq (ascending) and its vector's dot product with ``query`` (unit vectors)."""
        seqs, rows, every_row = self._by_seq()
        if not len(seqs):
            return seqs, np.zeros(0, dtype=np.float32)
        vector = self._check(query)
        scores: Scores = self._matrix[: self._size] @ vector
        return seqs, scores if every_row else scores[rows]

    def cosines_of(self, query: Matrix, candidates: Seqs) -> tuple[Seqs, Scores]:
        """The ``candidates`` that have a vector (ascending) and their scores; cost ~ candidates."""
        seqs, rows, _ = self._by_seq()
        wanted = np.unique(np.asarray(candidates, dtype=np.int64))
        if not len(seqs) or not len(wanted):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        at = np.minimum(np.searchsorted(seqs, wanted), len(seqs) - 1)
        present = seqs[at] == wanted
        vector = self._check(query)
        chosen = rows[at[present]]
        scores: Scores = self._matrix[chosen] @ vector
        return wanted[present], scores


class VectorIndex:
    """The vector tables of one store, created on first use and kept in step with the log."""

    def __init__(self) -> None:
        self._tables: dict[tuple[int, str], VectorTable] = {}
        self._lock = threading.Lock()
        self.log_size = 0  # rows in the change log at the last sync

    def table(self, connection: sqlite3.Connection, app_pk: int, model_id: str) -> VectorTable:
        """The app's vectors under ``model_id``, up to date with ``connection``'s transaction.

        Call inside a read (or write) transaction of the store, and use the table before it
        ends: another thread may apply later changes to it afterwards.
        """
        latest, trimmed, oldest = connection.execute(
            "SELECT (SELECT max(change) FROM input_embedding_changes), "
            "(SELECT upto FROM input_embedding_changes_trimmed), "
            "(SELECT min(change) FROM input_embedding_changes)"
        ).fetchone()
        latest = int(latest if latest is not None else trimmed or 0)
        trimmed = int(trimmed or 0)
        self.log_size = 0 if oldest is None else latest - int(oldest) + 1
        with self._lock:
            key = (app_pk, model_id)
            table = self._tables.get(key)
            if table is None or table.position < trimmed or table.position > latest:
                table = VectorTable(app_pk, model_id)
                table.load(connection, latest)
                self._tables[key] = table
            elif table.position < latest:
                table.apply(connection, latest)
            return table

    def forget(self) -> None:
        """Drop every table (they reload on next use)."""
        with self._lock:
            self._tables.clear()

    def trim(self, store: Store) -> int:
        """Delete the log rows every loaded table has applied; the number deleted."""
        # the store's lock first, as in table() (called inside a transaction): no lock cycle
        with store.transaction() as connection, self._lock:
            latest = connection.execute(
                "SELECT max(change) FROM input_embedding_changes"
            ).fetchone()[0]
            if latest is None:
                return 0
            upto = min([t.position for t in self._tables.values()] + [int(latest)])
            deleted = int(
                connection.execute(
                    "DELETE FROM input_embedding_changes WHERE change <= ?", (upto,)
                ).rowcount
            )
            connection.execute(
                "UPDATE input_embedding_changes_trimmed SET upto = max(upto, ?)", (upto,)
            )
            self.log_size = max(0, self.log_size - deleted)
            return deleted


_INDEXES: weakref.WeakKeyDictionary[Store, VectorIndex] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def index_of(store: Store) -> VectorIndex:
    """The vector index of ``store`` (one per open store, made on first use)."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(store)
        if index is None:
            index = _INDEXES[store] = VectorIndex()
        return index


__all__ = ["TRIM_AFTER", "VectorIndex", "VectorSizeError", "VectorTable", "index_of"]
