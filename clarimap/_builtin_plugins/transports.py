"""The built-in ``local://`` transport: the embedded local server, called in process.

Registered by :mod:`clarimap._builtin_plugins`; asked through ``clarimap_transport_adapter`` by
:func:`clarimap.plugins.transport_adapter` (which ``clarimap.connect`` calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clarimap.hookspecs import hookimpl

if TYPE_CHECKING:
    from requests.adapters import BaseAdapter


class LocalTransport:
    """Serves ``local://PATH`` URLs with :class:`clarimap.transport.wsgi.WSGIAdapter`."""

    @hookimpl
    def clarimap_transport_adapter(self, url: str) -> BaseAdapter | None:
        """A WSGI adapter over the embedded server for ``local://`` URLs; ``None`` otherwise."""
        if not url.lower().startswith("local://"):
            return None
        from clarimap.transport.wsgi import WSGIAdapter, local_app

        return WSGIAdapter(local_app(url))
