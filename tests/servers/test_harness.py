"""The server harness itself: a killed test run leaves no server, a port taken meanwhile is picked again, stop()
ends the whole process group, and what a server cannot express is refused up front."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from origin_tls.baseline import TlsVersion
from tests.peers import HOSTNAME
from tests.peers.caddy import CaddyServer
from tests.peers.listeners import PlainListener, TlsListener, Unsupported
from tests.peers.pki import TestPki
from tests.peers.server_process import ServerProcess, port_accepts
from tests.servers.world import SERVERS

_GONE_WITHIN = 15.0  # correctness bound: the servers stop on SIGTERM in well under a second


def _server_class(kind: str) -> type[ServerProcess]:
    server_class = SERVERS[kind]
    why = server_class.unavailable()
    if why is not None:
        pytest.skip(why)
    return server_class


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie waiting for a reaper no longer serves anything


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + _GONE_WITHIN
    while time.monotonic() < deadline:
        if _is_gone(pid):
            return True
        time.sleep(0.05)
    return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and not _is_gone(int(entry)):
            try:
                fields = Path(f"/proc/{entry}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry))
    return members


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_killed_test_process_takes_its_server_with_it(kind: str, tmp_path: Path) -> None:
    # Given a process that started a server, as a test session does
    _server_class(kind)
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from tests.peers.listeners import PlainListener
        from tests.servers.world import SERVERS
        server = SERVERS[{kind!r}](Path({str(tmp_path)!r}), {HOSTNAME!r}, [PlainListener("plain", redirect=False)])
        server.start()
        print(server.pid, server.listener("plain").port, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        pid_text, port_text = parent.stdout.readline().split()
        pid, port = int(pid_text), int(port_text)
        assert port_accepts("127.0.0.1", port)
        # When it dies without any chance to clean up
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=_GONE_WITHIN)
        # Then the parent-death signal stops the server, workers included
        assert _wait_gone(pid), f"{kind} pid {pid} outlived its parent"
        deadline = time.monotonic() + _GONE_WITHIN
        while _group_members(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(pid) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_port_taken_before_the_server_binds_is_picked_again(kind: str, tmp_path: Path) -> None:
    server_class = _server_class(kind)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        listener = PlainListener("plain", redirect=False, port=taken)
        with server_class(tmp_path, HOSTNAME, [listener]) as server:
            assert listener.port != taken
            assert port_accepts("127.0.0.1", listener.port)
            pgid = server.pid
        assert pgid is not None
        # stop() ended the whole group: no worker keeps the port
        assert _wait_gone(pgid)
        assert _group_members(pgid) == []
        assert not port_accepts("127.0.0.1", listener.port)


def test_caddy_refuses_a_legacy_listener_up_front(tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    legacy = TlsListener("legacy", pki.good(HOSTNAME), versions=(TlsVersion.TLS_1_0, TlsVersion.TLS_1_3))
    with pytest.raises(Unsupported, match=r"TLS 1\.0/1\.1"):
        CaddyServer(tmp_path / "caddy", HOSTNAME, [legacy])


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_value_the_configuration_cannot_quote_is_refused(kind: str, tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    # A quote ends a string in three of the syntaxes; braces are placeholders in Caddy's JSON.
    listener = TlsListener("edge", pki.good(HOSTNAME), sts=('max-age=1"; {evil}',))
    server = SERVERS[kind](tmp_path / kind, HOSTNAME, [listener])
    with pytest.raises(ValueError, match="may not contain"):
        server.config_files()
