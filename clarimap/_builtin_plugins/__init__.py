"""clarimap's built-in plugins, registered through the same hooks as third-party ones.

Called only by :func:`clarimap.plugins.load_builtin_plugins`, which registers them before the
entry-point plugins (so pluggy asks entry-point plugins first).
"""

from __future__ import annotations

from clarimap._builtin_plugins import media_sources, model_cache, transports


def builtin_plugins() -> list[tuple[str, object]]:
    """``(name, plugin)`` for every built-in plugin, in registration order."""
    return [
        *media_sources.builtin_media_sources(),
        ("model-cache-memory", model_cache.InMemoryModelCache()),
        ("transport-local", transports.LocalTransport()),
    ]
