"""Ctrl-C and SIGTERM during ``verify``: exit 130 promptly, no traceback, no temporary file left (DESIGN.md "Exit
status"). The run is held mid-flight by tarpits (a complete handshake, then silence) on the edge and the origin,
with a client certificate so that the origin-pull probes load one; its temporary directory is a fresh ``TMPDIR``.
"""

from __future__ import annotations

import io
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from origin_tls.cli import main
from tests.peers.pki import TestPki
from tests.peers.tls_servers import closed_port

from . import servers as s
from .cli_run import spawn_verify

HOST = "app.example.test"
#: Long enough that every probe is still waiting on a tarpit when the signal comes.
TIMEOUT = 5
#: DESIGN.md promises 130 "within a second"; the grace before the hard exit is 0.3 s. The bound adds a margin for a
#: loaded machine (it catches a process that waits for its probe threads: that takes TIMEOUT seconds).
EXIT_BOUND = 1.5


@dataclass
class Held:
    edge: s.HostilePeer
    origin: s.HostilePeer
    args: list[str]


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Held]:
    pki = TestPki(tmp_path_factory.mktemp("pki-signals"))
    client = pki.client()
    with (
        s.HostilePeer(s.tarpit_after_handshake, context=s.server_context(pki.good(HOST))) as edge,
        s.HostilePeer(s.tarpit_after_handshake, context=s.server_context(pki.origin(HOST))) as origin,
    ):
        dead = str(closed_port())
        args = [HOST, "--edge", str(edge.endpoint), "--edge-http", dead, "--origin", str(origin.endpoint),
                "--client-cert", str(client.cert_path), "--client-key", str(client.key_path),
                "--timeout", str(TIMEOUT), "--json"]  # fmt: skip
        yield Held(edge, origin, args)


def _wait_for_probes(held: Held, before: tuple[int, int], process: subprocess.Popen[bytes]) -> None:
    """Until both tarpits hold at least one new connection (the run is mid-flight), at most 15 s."""
    limit = time.monotonic() + 15
    while time.monotonic() < limit and process.poll() is None:
        if held.edge.connections > before[0] and held.origin.connections >= before[1] + 2:
            time.sleep(0.2)  # the handshakes complete; every probe now waits on a silent peer
            return
        time.sleep(0.02)
    raise AssertionError(f"verify never reached the tarpits (exit {process.poll()})")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_exits_130_at_once_without_a_trace(held: Held, tmp_path: Path, signum: int) -> None:
    # Given verify held mid-run by peers that never answer, its temporary directory fresh and empty
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = (held.edge.connections, held.origin.connections)
    process = spawn_verify(held.args, env={"TMPDIR": str(tmp)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_probes(held, before, process)
        # When it is interrupted
        sent = time.monotonic()
        process.send_signal(signum)
        out, err = process.communicate(timeout=TIMEOUT * 3)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Then it exits 130 within the bound, says so in one line, prints no traceback and leaves no file behind
    errors = err.decode("utf-8", "replace")
    name = signal.Signals(signum).name
    assert process.returncode == 130, f"{name}: exit {process.returncode}, stderr {errors!r}"
    assert elapsed <= EXIT_BOUND, f"{name}: exited {elapsed:.2f}s after the signal (bound {EXIT_BOUND}s)"
    assert "Traceback" not in errors, errors
    assert errors.strip() == "origin_tls: interrupted", errors
    assert out == b""
    assert sorted(p.name for p in tmp.iterdir()) == [], "temporary files left behind"


def test_the_same_run_uninterrupted_ends_on_its_own_with_nothing_left(held: Held, tmp_path: Path) -> None:
    # The twin: without a signal the run ends by its own timeouts with a report, not with 130.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = spawn_verify(held.args, env={"TMPDIR": str(tmp)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=TIMEOUT * 3 + 5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (1, 3), err.decode("utf-8", "replace")  # judged (origin CA untrusted), not 130
    assert b'"inconclusive"' in out
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_main_called_as_a_function_returns_130_and_leaves_the_process_alone(held: Held) -> None:
    # A caller embedding main() gets 130 back (once the probe threads have ended: here by their timeouts); only
    # the program (argv from sys.argv) exits hard.
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, lambda: signal.raise_signal(signal.SIGTERM))
    out, err = io.StringIO(), io.StringIO()
    timer.start()
    try:
        quick = [
            ("1" if before == "--timeout" else arg)
            for before, arg in zip(["", *held.args[:-1]], held.args, strict=True)
        ]
        code = main(["verify", *quick], stdout=out, stderr=err)
    finally:
        timer.cancel()
    assert code == 130
    assert err.getvalue() == "origin_tls: interrupted\n"
    assert signal.getsignal(signal.SIGTERM) == before  # the caller's handler is back
