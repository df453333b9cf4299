"""The sandbox killed with SIGKILL leaves nothing behind: no nginx (master or worker), no private directory.

Measured before the lifeline (origin_tls/sandbox/lifeline.py): the nginx master and its worker were re-parented to
init and kept serving; the directory with the origin's private key stayed in /tmp.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.nginx import find_nginx

from .cli_run import REPO

pytestmark = pytest.mark.nginx


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, None when it is gone (a zombie counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def _descendants(root: int) -> set[int]:
    table = _processes()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, (_, ppid, _) in table.items() if ppid in frontier} - found
        found |= children
        frontier = children
    # nginx's workers keep the master's process group: count the whole group too.
    groups = {table[pid][2] for pid in found if pid in table}
    found |= {pid for pid, (_, _, pgid) in table.items() if pgid in groups and pgid != os.getpgid(0)}
    return found


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert process.stdout is not None
    limit = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = limit - time.monotonic()
        if left <= 0 or process.poll() is not None:
            raise AssertionError(f"the sandbox printed no JSON line (exit {process.poll()}): {line!r}")
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                continue
            line += chunk
    return line


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def sandbox() -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any], set[int]]]:
    if find_nginx() is None:
        pytest.fail("nginx is required (apt-get install nginx)", pytrace=False)
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=os.environ.get("PATH", "") + ":/usr/sbin")
    process = subprocess.Popen(
        [sys.executable, "-m", "origin_tls", "sandbox", "--json"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    started: set[int] = set()
    try:
        info = json.loads(_read_line(process, 60))
        started = _descendants(process.pid)
        yield process, info, started
    finally:
        # Whatever the test found, end what this test started (by pid), and the sandbox itself.
        if process.poll() is None:
            process.kill()
        process.wait()
        for pid in started:
            if _stat(pid) is not None:
                os.kill(pid, signal.SIGKILL)


def _nginx(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"nginx"):
                found.add(pid)
        except OSError:
            continue
    return found


def test_sigkill_leaves_no_nginx_and_no_private_directory(
    sandbox: tuple[subprocess.Popen[bytes], dict[str, Any], set[int]],
) -> None:
    process, info, started = sandbox
    workdir = Path(info["client_key_file"]).parents[1]
    # Given a running sandbox: an nginx master and worker serving the origin, the private files on disk
    nginx = _nginx(started)
    assert len(nginx) >= 2, f"expected an nginx master and a worker among {sorted(started)}"
    assert _accepts(info["origin"])
    assert Path(info["client_key_file"]).is_file()
    # When the sandbox is killed with SIGKILL (no handler, no finally, no atexit runs)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Then within a few seconds every process it started is gone, and so is its directory
    limit = time.monotonic() + 5
    while time.monotonic() < limit and ({p for p in started if _stat(p) is not None} or workdir.exists()):
        time.sleep(0.05)
    alive = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in started if _stat(pid) is not None}
    assert not alive, f"still running 5 s after the sandbox's SIGKILL: {alive}"
    assert not workdir.exists(), f"{workdir} (the origin's private key) is left behind"
    assert not _accepts(info["origin"])


def test_a_normal_stop_leaves_nothing_either(
    sandbox: tuple[subprocess.Popen[bytes], dict[str, Any], set[int]],
) -> None:
    # The twin path: SIGTERM, the sandbox stops everything itself, and its lifeline exits without work.
    process, info, started = sandbox
    workdir = Path(info["client_key_file"]).parents[1]
    assert _nginx(started)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    limit = time.monotonic() + 5
    while time.monotonic() < limit and {p for p in started if _stat(p) is not None}:
        time.sleep(0.05)
    assert not {p for p in started if _stat(p) is not None}
    assert not workdir.exists()
