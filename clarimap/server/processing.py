"""Processing of new inputs after upload: download or decode, check the image, then index.

Called by the inputs handlers (``processor.submit(seqs)``) after a create commits; runs in a
background thread, or inline when the server was made with ``background=False``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clarimap.server.app import ServerApp


class InputProcessor:
    """Moves inputs from 30001 (pending) to 30000 (success) or a failure code."""

    def __init__(self, server: ServerApp, *, background: bool = True) -> None:
        self.server = server
        self.background = background

    def submit(self, seqs: Iterable[int]) -> None:
        """Queue the inputs with these ``inputs.seq`` values for processing."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the worker thread (pending inputs stay pending and resume on restart)."""
