"""The speed floor: a minimal all-parallel prober gathering the evidence ``verify`` gathers, and nothing else.

    python -m bench.prober --edge H:P --edge-http H:P --origin H:P --edge-ca F \
        --client-cert F --client-key F HOSTNAME...

Issue 17/19's yardstick. Per hostname, 10 connections, every one of every hostname started at once (one thread
each, no bound, no pool): edge TLS 1.0 and 1.1 (must be refused), edge TLS 1.2 (accepted), edge TLS 1.2-1.3 with
the edge certificate verified against ``--edge-ca`` + ``GET /`` (TLS 1.3 negotiated, one HSTS header, not an
origin error), plain-HTTP ``GET /`` (a redirect to ``https://HOSTNAME/``), the origin pull without a client
certificate (refused: nginx's 400 page; the origin certificate kept from its handshake) and with it
(accepted), origin TLS 1.0 and 1.1 (refused) and 1.2 (accepted), the version probes presenting the client
certificate as ``verify`` does.

Only the standard library (``ssl``, ``socket``, ``threading``): nothing is imported that the evidence does not
need, the judging is a comparison per connection (certificates are kept, not parsed: ``verify``'s judges cost
CPU, not connections or round trips). Exit 0 when every hostname showed the bed's evidence (the bench
refuses a figure otherwise, as it does for ``verify``), 1 otherwise with the differences on stderr. Written for
the bench's bed (nginx on loopback behind the latency relay), not for the world: no resolution, no bounds on what
a hostile peer sends beyond socket timeouts.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import partial

__all__ = ["main"]

_TIMEOUT = 10.0
_LEGACY = "DEFAULT:@SECLEVEL=0"
_NO_CERT_PAGE = b"No required SSL certificate was sent"


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def _context(minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        if minimum in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            context.set_ciphers(_LEGACY)
    return context


def _get(sock: socket.socket | ssl.SSLSocket, hostname: str) -> bytes:
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode("ascii"))
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _tls(address: tuple[str, int], hostname: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection(address, timeout=_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(sock, server_hostname=hostname)


def _version(address: tuple[str, int], hostname: str, context: ssl.SSLContext, accepted: bool) -> str | None:
    try:
        with _tls(address, hostname, context):
            pass
    except ssl.SSLError as exc:
        return None if not accepted else f"refused: {exc.reason}"
    return None if accepted else "accepted"


def _https(address: tuple[str, int], hostname: str, context: ssl.SSLContext) -> str | None:
    with _tls(address, hostname, context) as tls:
        negotiated = tls.version()
        head = _get(tls, hostname).split(b"\r\n\r\n", 1)[0].lower()
    sts = head.count(b"\r\nstrict-transport-security:")
    if negotiated != "TLSv1.3" or sts != 1 or head.split(b" ", 2)[1] in (b"520", b"521", b"525", b"526"):
        return f"{negotiated}, {sts} HSTS headers, {head[:40]!r}"
    return None


def _redirect(address: tuple[str, int], hostname: str) -> str | None:
    with socket.create_connection(address, timeout=_TIMEOUT) as sock:
        head = _get(sock, hostname).split(b"\r\n\r\n", 1)[0]
    if not head.startswith(b"HTTP/1.1 301") or f"\r\nLocation: https://{hostname}/".encode() not in head:
        return f"no redirect: {head[:60]!r}"
    return None


def _pull(address: tuple[str, int], hostname: str, context: ssl.SSLContext, *, refused: bool) -> str | None:
    with _tls(address, hostname, context) as tls:
        certificate = tls.getpeercert(binary_form=True)
        answer = _get(tls, hostname)
    if not certificate:
        return "no origin certificate in the handshake"
    if refused:
        ok = answer.startswith(b"HTTP/1.1 400") and _NO_CERT_PAGE in answer
        return None if ok else f"not refused: {answer[:40]!r}"
    return None if answer.startswith(b"HTTP/1.1 200") else f"not accepted: {answer[:40]!r}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("hostnames", nargs="+")
    for flag in ("--edge", "--edge-http", "--origin", "--edge-ca", "--client-cert", "--client-key"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    edge, edge_http, origin = _address(args.edge), _address(args.edge_http), _address(args.origin)
    versions = {v: (v,) * 2 for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2)}
    pinned = {v: _context(*pair) for v, pair in versions.items()}
    client = {v: _context(*pair) for v, pair in versions.items()}
    pull_client = _context()
    for context in (*client.values(), pull_client):
        context.load_cert_chain(args.client_cert, args.client_key)
    verifying = ssl.create_default_context(cafile=args.edge_ca)
    verifying.hostname_checks_common_name = False
    unverified = _context()

    jobs: list[tuple[str, Callable[[], str | None]]] = []
    for name in args.hostnames:
        for version, accepted in ((ssl.TLSVersion.TLSv1, False), (ssl.TLSVersion.TLSv1_1, False),
                                  (ssl.TLSVersion.TLSv1_2, True)):  # fmt: skip
            jobs.append((f"{name} edge {version.name}", partial(_version, edge, name, pinned[version], accepted)))
            jobs.append((f"{name} origin {version.name}", partial(_version, origin, name, client[version], accepted)))
        jobs.append((f"{name} https", partial(_https, edge, name, verifying)))
        jobs.append((f"{name} redirect", partial(_redirect, edge_http, name)))
        jobs.append((f"{name} pull", partial(_pull, origin, name, unverified, refused=True)))
        jobs.append((f"{name} pull+cert", partial(_pull, origin, name, pull_client, refused=False)))

    problems: list[str] = []
    lock = threading.Lock()

    def run(label: str, job: Callable[[], str | None]) -> None:
        try:
            problem = job()
        except Exception as exc:  # a figure only when every connection gave the bed's evidence
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            with lock:
                problems.append(f"{label}: {problem}")

    threading.stack_size(256 * 1024)
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for problem in problems[:20]:
        print(problem, file=sys.stderr)
    print(f"{len(args.hostnames)} hostnames, {len(jobs)} connections, {len(problems)} not as the bed's")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
