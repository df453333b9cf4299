"""A one-line progress display on stderr for fleet runs (DESIGN.md "Report formats": Progress).

Shown only when stderr is a terminal and more than :data:`MIN_TARGETS` targets run: a CI log, a pipe or a file
never gets it, and stdout (the report) never does. A line of our own rather than ``rich``: one ``\\r``-rewritten
line needs no dependency and costs nothing to import. The line is erased when the run ends, so what stays on the
terminal is exactly what would be there without it.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

__all__ = ["MIN_TARGETS", "ProgressLine", "progress_for"]

#: "More than a handful": a run of a few hostnames ends before a progress line would tell anything.
MIN_TARGETS = 5
#: Redraw at most this often: a thousand targets finishing at once must not flood a slow terminal.
_INTERVAL = 0.1
_ERASE = "\r\x1b[2K"  # carriage return, then ECMA-48 EL 2: erase the whole line


class ProgressLine:
    """``progress(done, total)`` for :func:`origin_tls.verify.verify`: ``origin_tls: 12/40 targets verified``.

    Thread-safe (verify may call it from worker threads). :meth:`close` erases the line; call it once at the end.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        with self._lock:
            if done < total and now - self._last < _INTERVAL:
                return
            self._last = now
            self._stream.write(f"{_ERASE}origin_tls: {done}/{total} targets verified")
            self._stream.flush()
            self._shown = True

    def close(self) -> None:
        with self._lock:
            if self._shown:
                self._stream.write(_ERASE)
                self._stream.flush()
                self._shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_for(stream: TextIO, total: int) -> ProgressLine | None:
    """A :class:`ProgressLine` on ``stream`` when it is a terminal and ``total`` > :data:`MIN_TARGETS`, else None."""
    if total <= MIN_TARGETS or not _is_terminal(stream):
        return None
    return ProgressLine(stream)
