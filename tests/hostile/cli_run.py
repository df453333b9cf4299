"""Run ``python -m origin_tls verify`` as a user does, in a subprocess, and measure it: exit status, the JSON
report, wall time, and the child's own peak memory.

Peak memory is ``VmHWM`` from ``/proc/PID/status`` (proc(5)), polled while the child runs: it belongs to the
child's address space since its ``execve``. ``wait4``'s ``ru_maxrss`` would not do: it is kept across ``execve``
and so includes the forked copy of this (larger) pytest process, measured here as the same 67 MiB for every run.

A run that outlives ``kill_after`` is killed (SIGKILL) and marked ``hung``: a test then fails saying what hung
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["REPO", "VerifyRun", "run_verify", "spawn_verify"]

REPO = Path(__file__).resolve().parents[2]
_POLL = 0.02


@dataclass
class VerifyRun:
    argv: list[str]
    code: int | None  # None: killed because it hung
    stdout: str
    stderr: str
    elapsed: float
    max_rss_kib: int  # the highest VmHWM seen while it ran
    hung: bool
    report: dict[str, Any] | None = field(default=None)

    def checks(self) -> dict[str, dict[str, Any]]:
        """Check id -> check, for the first target (empty when there was no report)."""
        if not self.report:
            return {}
        return {c["id"]: c for c in self.report["targets"][0]["checks"]}

    def summary(self) -> str:
        """One line per check, for failure messages: what the run saw."""
        head = f"exit {self.code}, {self.elapsed:.2f}s, peak RSS {self.max_rss_kib // 1024} MiB"
        if self.hung:
            head = f"STILL RUNNING after {self.elapsed:.1f}s: killed; " + head
        lines = [head]
        for check in self.checks().values():
            lines.append(f"  {check['status']:<12} {check['id']}: {check['observed']} | {check['detail']}")
        if self.stderr.strip():
            lines.append("  stderr: " + self.stderr.strip()[-600:])
        return "\n".join(lines)


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CLOUDFLARE_API_TOKEN"}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def spawn_verify(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: Any = None,
    stderr: Any = None,
    argv: Sequence[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m origin_tls verify ARGS`` (from the repository, no API token in its environment);
    ``argv`` runs that command line instead (the measurement's own tests)."""
    command = list(argv) if argv is not None else [sys.executable, "-m", "origin_tls", "verify", *args]
    return subprocess.Popen(command, cwd=REPO, env=_env(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)


def run_verify(
    args: Sequence[str],
    *,
    kill_after: float,
    env: Mapping[str, str] | None = None,
    during: Callable[[subprocess.Popen[bytes], float], None] | None = None,
    argv: Sequence[str] | None = None,
) -> VerifyRun:
    """Run to completion or until ``kill_after`` seconds; ``during(process, elapsed)`` is called while it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = spawn_verify(args, env=env, stdout=out, stderr=err, argv=argv)
        hung = False
        peak = 0
        while True:
            peak = max(peak, _high_water_kib(process.pid))
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            elapsed = time.monotonic() - started
            if pid:
                break
            if elapsed > kill_after and not hung:
                hung = True
                os.kill(process.pid, signal.SIGKILL)
            if during is not None and not hung:
                during(process, elapsed)
            time.sleep(_POLL)
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code  # reaped by wait4: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    report = None
    if not hung:
        try:
            report = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            report = None
    return VerifyRun(list(args), None if hung else code, text, errors, elapsed, peak, hung, report)


def _high_water_kib(pid: int) -> int:
    """The process's peak resident set size so far (``VmHWM``, KiB); 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
