"""Run a server that cannot be told to listen on loopback only, and reach it through a loopback port.

``python netns_relay.py HOST PORT -- COMMAND...``: binds ``HOST:PORT`` (a loopback address, in this namespace),
then moves into a network namespace of its own (only ``lo``), starts ``COMMAND`` there (which listens on ``PORT``
on every address of that namespace: ``lo`` alone) and relays each connection to ``HOST:PORT`` to it, byte for byte.
``gnutls-serv`` has no listen-address option (it binds the wildcard address); this keeps it off every interface
but loopback. ``--check`` only says whether a namespace can be made here (exit 0) or why not (exit 1).

Self-contained (the standard library only): the harness runs it as a script from the server's directory.
A socket keeps the namespace it was made in, so the bound socket stays on the caller's loopback after
``unshare(CLONE_NEWNET)``; it listens only once the server is up, so a port that accepts means a server that answers.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 15.0  # a correctness bound: gnutls-serv is up in well under a second

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _own_network_namespace() -> None:
    """Enter a new network namespace (as root; else inside a new user namespace, where we are root) and bring up
    its loopback interface. OSError when neither is allowed here."""
    if _libc.unshare(_CLONE_NEWNET) != 0:
        uid, gid = os.getuid(), os.getgid()
        if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"cannot make a network namespace: {os.strerror(error)}")
        with open("/proc/self/setgroups", "w") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w") as handle:
            handle.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as handle:
            handle.write(f"0 {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", _IFF_UP_LOOPBACK_RUNNING, b""))


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """One direction until its end, which is passed on (a TLS peer's close after its alert). A write that fails
    (the other side closed) ends this direction only: what the other direction still carries, an alert sent just
    before a close, must still arrive."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    other = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    other.start()
    _pump(client, upstream)
    other.join()
    client.close()
    upstream.close()


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        try:
            _own_network_namespace()
        except OSError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    host, port_text, separator, *command = argv
    if separator != "--" or not command:
        print("usage: netns_relay.py HOST PORT -- COMMAND...", file=sys.stderr)
        return 2
    port = int(port_text)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        print(f"netns_relay: cannot bind {host}:{port}: {exc.strerror}", file=sys.stderr, flush=True)
        return 1
    _own_network_namespace()
    server = subprocess.Popen(command, preexec_fn=_die_with_parent)  # the hook only calls prctl
    if not _wait_for(port, server):
        print(f"netns_relay: {command[0]} did not listen on port {port}", file=sys.stderr, flush=True)
        server.terminate()
        return 1
    listener.listen(64)
    print(f"netns_relay: relaying {host}:{port} to {os.path.basename(command[0])}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, port), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
