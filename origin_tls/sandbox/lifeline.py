"""A lifeline for what the sandbox leaves outside its own process: nginx and its private directory.

If the sandbox is killed with SIGKILL nothing of it runs again, so the cleanup has to live elsewhere: a small watchdog
process holding the read end of a pipe whose only write end is the sandbox's. The kernel closes that end when the
sandbox dies, however it dies; the watchdog reads end-of-file, kills every process group it was told about with
SIGKILL and removes every directory it was told about, then exits. A sandbox that stops normally says ``release``
first, and the watchdog exits without touching anything.

Why not ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on nginx (prctl(2)):

- it is not inherited across fork(2), and nginx's workers are forks of its master: measured here, a worker whose
  master is SIGKILLed is re-parented to init and keeps serving the port (nginx 1.22, Linux 6);
- it fires when the *thread* that started the child exits, not the process: a sandbox started from a worker thread
  (a test fixture, a thread pool) would lose its nginx as soon as that thread ends.

The watchdog runs this file as a script under ``python -I`` (isolated: standard library only, no package import), in
its own session so that a Ctrl-C meant for the sandbox's terminal does not reach it. The pipe's write end is not
inheritable (PEP 446), so no other child (nginx, ``nginx -t``) can keep it open.

Protocol on the pipe, one command a line: ``group PGID``, ``ungroup PGID`` (stopped normally: forget it, its id may
be reused), ``directory PATH``, ``release``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

__all__ = ["Lifeline", "watch"]


class Lifeline:
    """``Lifeline().start()``; ``guard_group(pgid)``, ``guard_directory(path)``; ``release()`` on a normal stop."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> Lifeline:
        """Start the watchdog (idempotent)."""
        with self._lock:
            if self._process is None:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", str(Path(__file__).resolve())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    close_fds=True,
                )
        return self

    @property
    def pid(self) -> int | None:
        """The watchdog's pid while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _send(self, line: str) -> None:
        with self._lock:
            process = self._process
            if process is None or process.stdin is None:
                raise RuntimeError("the lifeline is not started")
            process.stdin.write(line.encode("utf-8", "surrogateescape") + b"\n")
            process.stdin.flush()

    def guard_group(self, pgid: int) -> None:
        """SIGKILL process group ``pgid`` if this process dies before :meth:`forget_group` or :meth:`release`."""
        self._send(f"group {int(pgid)}")

    def forget_group(self, pgid: int) -> None:
        """The group was stopped normally; its id may be reused by an unrelated process, so forget it."""
        with contextlib.suppress(RuntimeError, OSError):
            self._send(f"ungroup {int(pgid)}")

    def guard_directory(self, path: str | os.PathLike[str]) -> None:
        """Remove ``path`` (recursively) if this process dies before :meth:`release`."""
        text = os.fspath(path)
        if "\n" in text:
            raise ValueError("a directory with a newline in its path cannot be guarded")
        self._send(f"directory {text}")

    def release(self) -> None:
        """A normal stop: the watchdog exits without killing or removing anything. Idempotent."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.write(b"release\n")
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def watch(commands: BinaryIO) -> int:
    """The watchdog: follow ``commands`` until ``release`` (exit quietly) or end-of-file (clean up, exit)."""
    groups: list[int] = []
    directories: list[str] = []
    for raw in iter(commands.readline, b""):
        verb, _, argument = raw.rstrip(b"\n").decode("utf-8", "surrogateescape").partition(" ")
        if verb == "release":
            return 0
        if verb == "group" and argument.isdigit():
            groups.append(int(argument))
        elif verb == "ungroup" and argument.isdigit():
            groups = [g for g in groups if g != int(argument)]
        elif verb == "directory" and argument:
            directories.append(argument)
    # End of file without "release": the sandbox is gone.
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sandbox's terminal is not ours to obey
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise SystemExit(watch(sys.stdin.buffer))
