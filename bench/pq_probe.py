"""Issue 16's figures: what ``origin.pq_key_agreement`` costs.

    python -m bench.pq_probe [--probes 200] [--hosts 1,200] [--pairs 4]

1. One probe on loopback (``--probes`` times each): :func:`origin_tls.pq.probe_pq_key_agreement` (hand-built
   ClientHello) against an OpenSSL 4 peer (pyOpenSSL), a Go crypto/tls peer (when ``go`` is on PATH) and a
   classical-only OpenSSL 4 peer; beside it the alternative it was chosen over, a pyOpenSSL client restricted to
   X25519MLKEM768 making the full handshake. Wall time (median, p90), CPU of this process (client and server
   threads both), bytes sent and read.
2. The whole ``verify`` process on the 50 ms bed (bench/bed.py, as ``bench.speed``), with and without
   ``--require-pq``, runs interleaved in pairs (so the machine's load hits both alike): wall and CPU medians and TLS
   connections per target. The bed's nginx (Debian 12, OpenSSL 3.0) has no ML-KEM, so with ``--require-pq`` the
   check fails as it must (``runner.bed_status``); its cost is the same one connection as a pass.

Figures are printed, never asserted: 2 shared CPUs make them noisy.
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench.bed import Bed, hostnames
from bench.runner import bed_status, checked, child_env, run_child, verify_command
from origin_tls.baseline import Endpoint
from origin_tls.pq import PqResult, probe_pq_key_agreement
from origin_tls.pq_wire import build_client_hello

__all__ = ["main"]

HOSTNAME = "app.example.com"


def _pyopenssl_handshake(endpoint: Endpoint) -> str:
    from OpenSSL import SSL
    from OpenSSL._util import lib

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    lib.SSL_CTX_set1_curves_list(context._context, b"X25519MLKEM768")
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.settimeout(None)
        connection = SSL.Connection(context, sock)
        connection.set_tlsext_host_name(HOSTNAME.encode())
        connection.set_connect_state()
        connection.do_handshake()
        return str(connection.get_group_name())


def _timed(call: Callable[[], Any], count: int) -> tuple[list[float], float, Any]:
    walls: list[float] = []
    cpu = time.process_time()
    last: Any = None
    for _ in range(count):
        started = time.perf_counter()
        try:
            last = call()
        except Exception as exc:
            last = f"{exc.__class__.__name__}"
        walls.append(time.perf_counter() - started)
    return walls, (time.process_time() - cpu) / count, last


def _one_probe(count: int) -> None:
    from tests.peers.pki import TestPki
    from tests.peers.pq_servers import GoPqServer, OpenSslPqServer, go_available

    started = time.process_time()
    for _ in range(count):
        build_client_hello(HOSTNAME)
    print(f"build_client_hello (ML-KEM-768 + X25519 keys): {(time.process_time() - started) / count * 1000:.2f} ms CPU")
    pki = TestPki(Path(tempfile.mkdtemp(prefix="origin-tls-pq-bench-")))
    cert = pki.origin(HOSTNAME)
    peers: list[tuple[str, Callable[[], AbstractContextManager[Any]]]] = [
        ("OpenSSL 4 (pyOpenSSL)", lambda: OpenSslPqServer(cert)),
        ("OpenSSL 4 classical-only", lambda: OpenSslPqServer(cert, groups="X25519:P-256")),
    ]
    if go_available():
        peers.insert(1, ("Go crypto/tls", lambda: GoPqServer(cert)))
    for label, make in peers:
        with make() as server:
            endpoint: Endpoint = server.endpoint
            clients: list[tuple[str, Callable[[], Any]]] = [
                ("hand-built probe", functools.partial(probe_pq_key_agreement, endpoint, HOSTNAME, timeout=5)),
                ("pyOpenSSL client", functools.partial(_pyopenssl_handshake, endpoint)),
            ]
            for name, call in clients:
                walls, cpu, last = _timed(call, count)
                if isinstance(last, PqResult):
                    shown = f"{last.outcome.value}, {last.bytes_sent} B sent, {last.bytes_received} B read"
                else:
                    shown = str(last)
                ordered = sorted(walls)
                print(
                    f"  {label:26} {name:17} median {statistics.median(walls) * 1000:.2f} ms, "
                    f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:.2f} ms, CPU {cpu * 1000:.2f} ms -> {shown}"
                )


def _bed(hosts: Sequence[int], pairs: int) -> None:
    tree = Path(__file__).resolve().parents[1]
    with (
        tempfile.TemporaryDirectory(prefix="origin-tls-pq-bed-") as tmp,
        Bed(Path(tmp) / "bed", one_way_ms=25.0, tcp_handshake=True) as bed,
    ):
        inventory = Path(tmp) / "inventory.json"
        for count in hosts:
            names = hostnames(count)
            walls: dict[bool, list[float]] = {False: [], True: []}
            cpus: dict[bool, list[float]] = {False: [], True: []}
            tls: dict[bool, float] = {}
            for index in range(pairs):
                for pq in (False, True) if index % 2 == 0 else (True, False):
                    extra = ["--require-pq"] if pq else []
                    argv = verify_command(bed, names, python=sys.executable, inventory=inventory, extra=extra)
                    bed.reset()
                    run = checked(
                        run_child(argv, env=child_env(tree), cwd=tree),
                        names,
                        status_of=functools.partial(bed_status, require_pq=pq),
                        exit_code=1 if pq else 0,
                    )
                    walls[pq].append(run.wall)
                    cpus[pq].append(run.user + run.system)
                    tls[pq] = bed.counts().tls / count
            for pq in (False, True):
                print(
                    f"  {count} host(s), 50 ms RTT, {'with' if pq else 'without'} --require-pq: wall median "
                    f"{statistics.median(walls[pq]):.2f} s {[round(w, 2) for w in walls[pq]]}, CPU median "
                    f"{statistics.median(cpus[pq]):.2f} s, {tls[pq]:.2f} TLS connections per target",
                    flush=True,
                )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--probes", type=int, default=200, help="probes per peer and client on loopback")
    parser.add_argument("--hosts", default="1,200", help="host counts on the 50 ms bed ('' to skip)")
    parser.add_argument("--pairs", type=int, default=4, help="with/without runs per host count, interleaved")
    args = parser.parse_args(argv)
    print(f"load average before: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("One probe on loopback:")
    _one_probe(args.probes)
    if args.hosts:
        print("The whole verify process on the 50 ms bed:")
        _bed([int(n) for n in args.hosts.split(",")], args.pairs)
    print(f"load average after: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
