"""The identity map: one object per (class, id) in a session, held weakly, with its snapshot.

Called only by :class:`clarimap.session.Session` (and read by its unit of work). An object is
held weakly, so streaming many query results does not pin them; an object with pending edits is
also held strongly (``hold``) until a flush applies them, so edits cannot be lost. The snapshot
of an object is its JSON as the server last had it; it goes when the object goes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

Key = tuple[type, str]
JSON = dict[str, Any]


def key_of(entity: Any) -> Key:
    """The identity of a mapped entity: its class and id."""
    return (type(entity), entity.id)


class IdentityMap:
    """(class, id) -> object (weakly), with the last known server state of each."""

    def __init__(self) -> None:
        self._refs: dict[Key, weakref.ref[Any]] = {}
        self._snapshots: dict[Key, JSON] = {}
        self._held: dict[Key, Any] = {}

    def __len__(self) -> int:
        return sum(1 for _ in self.objects())

    def __contains__(self, key: Key) -> bool:
        return self.get(key) is not None

    def add(self, entity: Any, snapshot: JSON) -> None:
        """Map ``entity`` under its key, with ``snapshot`` as the server's state of it."""
        key = key_of(entity)

        def forget(ref: weakref.ref[Any], key: Key = key) -> None:
            if self._refs.get(key) is ref:
                del self._refs[key]
                self._snapshots.pop(key, None)

        self._refs[key] = weakref.ref(entity, forget)
        self._snapshots[key] = snapshot

    def get(self, key: Key) -> Any | None:
        """The live object under ``key``, or None."""
        ref = self._refs.get(key)
        return None if ref is None else ref()

    def snapshot(self, key: Key) -> JSON | None:
        """The server's last known state of the object under ``key``."""
        return self._snapshots.get(key)

    def set_snapshot(self, key: Key, snapshot: JSON) -> None:
        """Record ``snapshot`` as the server's state of the object under ``key``."""
        self._snapshots[key] = snapshot

    def remove(self, key: Key) -> None:
        """Forget the object under ``key`` (and its snapshot and any hold on it)."""
        self._refs.pop(key, None)
        self._snapshots.pop(key, None)
        self._held.pop(key, None)

    def hold(self, entity: Any) -> None:
        """Keep ``entity`` alive until :meth:`release` (it has pending edits)."""
        self._held[key_of(entity)] = entity

    def release(self, key: Key) -> None:
        """Stop keeping the object under ``key`` alive."""
        self._held.pop(key, None)

    def is_held(self, key: Key) -> bool:
        """Whether the object under ``key`` has pending edits (is held)."""
        return key in self._held

    def held(self) -> list[Any]:
        """The objects with pending edits, in the order they were first edited."""
        return list(self._held.values())

    def objects(self) -> Iterator[Any]:
        """Every live object in the map."""
        for ref in list(self._refs.values()):
            entity = ref()
            if entity is not None:
                yield entity

    def clear(self) -> None:
        """Forget everything."""
        self._refs.clear()
        self._snapshots.clear()
        self._held.clear()
