"""The built-in model name -> id cache: a ``cachetools.TTLCache`` in memory, one per scope.

Registered by :mod:`clarimap._builtin_plugins`; asked through ``clarimap_model_cache`` by
:func:`clarimap.plugins.model_cache`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, MutableMapping

import cachetools

from clarimap.hookspecs import hookimpl

DEFAULT_MAXSIZE = 1024
DEFAULT_TTL_SECONDS = 600.0


class LockedTTLCache(MutableMapping[str, str]):
    """A ``cachetools.TTLCache`` behind a lock, so sessions in several threads can share it."""

    def __init__(
        self,
        maxsize: int = DEFAULT_MAXSIZE,
        ttl: float = DEFAULT_TTL_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: cachetools.TTLCache[str, str] = cachetools.TTLCache(maxsize, ttl, timer)
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> str:
        with self._lock:
            return self._cache[name]

    def __setitem__(self, name: str, model_id: str) -> None:
        with self._lock:
            self._cache[name] = model_id

    def __delitem__(self, name: str) -> None:
        with self._lock:
            del self._cache[name]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._cache))

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def __repr__(self) -> str:
        return f"LockedTTLCache(maxsize={self._cache.maxsize}, ttl={self._cache.ttl})"


class InMemoryModelCache:
    """Gives each scope (server and app) its own in-memory TTL cache, kept for the process."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._caches: dict[str, LockedTTLCache] = {}
        self._lock = threading.Lock()

    @hookimpl
    def clarimap_model_cache(self, scope: str) -> MutableMapping[str, str]:
        """The in-memory cache for ``scope``, made on first use."""
        with self._lock:
            cache = self._caches.get(scope)
            if cache is None:
                cache = self._caches[scope] = LockedTTLCache(self.maxsize, self.ttl)
            return cache
