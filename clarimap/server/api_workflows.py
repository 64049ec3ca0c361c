"""Routes: workflows (see the wire reference, section 5)."""

from __future__ import annotations

from clarimap.server.routing import routes  # noqa: F401
