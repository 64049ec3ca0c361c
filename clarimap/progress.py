"""Progress of long work: flushes of many objects, waits for processing, batched predictions.

A session reports progress to its ``progress`` callback (``clarimap.connect(progress=...)`` or
``session.progress = ...``), one :class:`Progress` at a time, from the thread doing the work:

* ``flush``: after each call of a flush, the objects sent so far of those pending;
* ``wait_for_inputs``: after each poll, the inputs processed (or failed) of those waited for;
* ``wait_until_deleted``: after each poll, the objects gone of those waited for (``total`` is
  unknown when waiting for a whole collection to empty);
* ``predict``: after each batch of up to 128 sources, the sources predicted so far;
* ``query``: after each page of a query's results, the results fetched so far (``total`` is
  the query's ``limit``, or unknown);
* ``train`` and ``evaluate``: at each poll, with the version's status in ``detail``
  (``total`` is unknown: the server gives no fraction).

Each task reports once at its start (``done == 0``) and once when it ends (``finished``), so a
display can open and close a line. ``progress=True`` uses :class:`TextProgress` on standard
error. A callback that raises stops the work it reports on, as any exception there would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import attrs

__all__ = ["Progress", "ProgressCallback", "TextProgress", "progress_callback"]


@attrs.frozen
class Progress:
    """One report of a long task: how far it is, and what it is doing."""

    #: ``flush``, ``wait_for_inputs``, ``wait_until_deleted``, ``predict``, ``query``,
    #: ``train``, ``evaluate``.
    task: str
    #: Units done so far (objects, inputs, sources).
    done: int
    #: Units in all, or ``None`` when the server gives no count.
    total: int | None
    #: What is happening now: the call just sent, a status.
    detail: str = ""
    #: ``True`` on the task's last report (success or not).
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or ``None`` without a total."""
        if self.total is None:
            return None
        if self.total == 0:
            return 1.0
        return min(self.done / self.total, 1.0)


ProgressCallback = Callable[[Progress], None]
"""What a session calls with each :class:`Progress`."""


class TextProgress:
    """Writes progress to a stream (standard error by default), for scripts and notebooks.

    On a terminal, each task has one line that is rewritten in place; elsewhere (a log file, a
    CI job) a line is written at most every ``interval`` seconds and at the end. Tasks that end
    within ``quiet_for`` seconds of their start print nothing, so short calls stay silent.
    """

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 2.0, quiet_for: float = 0.5
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.quiet_for = quiet_for
        self._started: dict[str, float] = {}
        self._last_written: dict[str, float] = {}

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        started = self._started.setdefault(progress.task, now)
        if progress.finished:
            del self._started[progress.task]
            last = self._last_written.pop(progress.task, None)
            if last is None:  # nothing shown: stay silent for a short task
                return
            self._write(progress, now - started, final=True)
            return
        if now - started < self.quiet_for:
            return
        last = self._last_written.get(progress.task)
        interactive = self.stream.isatty()
        if last is not None and not interactive and now - last < self.interval:
            return
        self._last_written[progress.task] = now
        self._write(progress, now - started, final=False)

    def _write(self, progress: Progress, elapsed: float, *, final: bool) -> None:
        if progress.total is not None:
            fraction = progress.fraction or 0.0
            amount = f"{progress.done:,}/{progress.total:,} ({fraction:.0%})"
        else:
            amount = f"{progress.done:,}" if progress.done else ""
        parts = [f"clarimap {progress.task}:", amount, progress.detail, f"{elapsed:.1f}s"]
        line = " ".join(part for part in parts if part)
        if self.stream.isatty():
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def progress_callback(value: ProgressCallback | bool | None) -> ProgressCallback | None:
    """The callback for a ``progress=`` argument: ``True`` is :class:`TextProgress`."""
    if value is True:
        return TextProgress()
    if value is None or value is False:
        return None
    if not callable(value):
        from clarimap.errors import ValidationError

        raise ValidationError(
            f"progress must be a callable taking a Progress, True or None, got "
            f"{type(value).__name__}"
        )
    return value
