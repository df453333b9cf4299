"""Ctrl-C and SIGTERM for the ``verify`` command: exit 130 within a second, no traceback, nothing left behind.

DESIGN.md "Exit status": 130 interrupted (Ctrl-C / SIGTERM: stops within a second, no traceback, no temporary file
left behind).

How, and why this way:

- SIGTERM is turned into what SIGINT already is in Python, a :class:`KeyboardInterrupt` in the main thread
  (signal handlers only ever run there, ``signal`` module docs). The main thread unwinds through its ``finally``
  blocks and context managers, so whatever it holds (an ``--output`` temporary file, a temporary directory) is
  removed, and ``cli.main`` answers 130 with one line on stderr.
- Probe threads cannot be interrupted: a thread blocked in ``recv`` on a silent peer wakes only at its own timeout,
  and the interpreter joins them at exit (``verify``'s workers are ordinary threads, as a thread pool's are), so a
  hung worker would keep the process alive for up to
  ``--timeout`` (for ever against a peer that trickles, before issue 8). When :func:`handle_interrupts` runs as the
  program (``hard_exit``), the first signal also arms a daemon timer: if the process is still there
  :data:`GRACE_SECONDS` later, it writes the message and leaves with ``os._exit(130)``, abandoning the workers.
  They hold sockets and memory only; the kernel reclaims both. Nothing of theirs is on disk (the client key reaches
  OpenSSL through an in-memory file, once per run, before any connection).
- A signal the parent set to be ignored (``nohup``, a background job's SIGINT) stays ignored: POSIX shells rely on
  it. A second signal during the unwinding does not raise again (that would be the traceback we promise not to
  print); the timer is already running.
- Outside the main thread (a provider calling ``main`` in a worker thread) nothing is installed: ``signal.signal``
  works only in the main thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "GRACE_SECONDS", "INTERRUPTED_MESSAGE", "handle_interrupts"]

#: The shell's convention for "ended by SIGINT" (128 + 2); used for SIGTERM too, as DESIGN.md says.
EXIT_INTERRUPTED = 130
#: Time the main thread gets to unwind before the process leaves without waiting for its probe threads.
GRACE_SECONDS = 0.3
INTERRUPTED_MESSAGE = "origin_tls: interrupted\n"

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Handler:
    def __init__(self, *, hard_exit: bool) -> None:
        self.hard_exit = hard_exit
        self.interrupted = False
        self.message_written = threading.Event()
        self._timer: threading.Timer | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        first = not self.interrupted
        self.interrupted = True
        if self.hard_exit and self._timer is None:
            self._timer = threading.Timer(GRACE_SECONDS, self._leave)
            self._timer.daemon = True  # never what keeps the process alive
            self._timer.start()
        if first:
            raise KeyboardInterrupt

    def _leave(self) -> None:
        if not self.message_written.is_set():
            with contextlib.suppress(OSError):
                os.write(2, INTERRUPTED_MESSAGE.encode())
        os._exit(EXIT_INTERRUPTED)  # see the module docstring: the probe threads are abandoned on purpose


@contextlib.contextmanager
def handle_interrupts(*, hard_exit: bool) -> Iterator[threading.Event]:
    """Within the block, SIGINT and SIGTERM raise :class:`KeyboardInterrupt` in the main thread; with
    ``hard_exit`` the process is also guaranteed to end with status 130 within :data:`GRACE_SECONDS` of the first
    signal. Yields an event the caller sets once it has written :data:`INTERRUPTED_MESSAGE` itself."""
    handler = _Handler(hard_exit=hard_exit)
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            current = signal.getsignal(sig)
            if current is signal.SIG_IGN:
                continue
            previous[sig] = current
            signal.signal(sig, handler)
    try:
        yield handler.message_written
    finally:
        # Once interrupted as the program, keep our handler: the process is ending, and a second Ctrl-C while the
        # interpreter joins the probe threads would otherwise print a KeyboardInterrupt traceback.
        if not (hard_exit and handler.interrupted):
            for signum, old in previous.items():
                signal.signal(signum, old)  # type: ignore[arg-type]
