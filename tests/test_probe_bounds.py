"""Every probe ends within its timeout as a whole, whatever the peer does (issue 8), against real sockets.

A few direct cases per phase; the big hostile-peer suite lives in tests/hostile/. Bounds are correctness bounds
(a hang is caught, a slow machine is not failed): elapsed < 3 x timeout + 1 s.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.probes import (
    AopOutcome,
    TlsOutcome,
    fetch_certificate,
    probe_http_redirect,
    probe_https,
    probe_origin_pull,
    probe_tls_version,
)
from origin_tls.report import CHECK_IDS, Status
from origin_tls.tls_io import Deadline
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers import HOSTNAME
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.tls_servers import PeerServer, Tarpit

T = TypeVar("T")
TIMEOUT = 1.0
BOUND = 3 * TIMEOUT + 1


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


class Trickler(PeerServer):
    """Over TLS (with ``cert``) or plain TCP: reads the request, then sends ``head`` one byte every ``pace``
    seconds, then ``forever`` repeated (an endless header line or body), until stopped."""

    def __init__(self, *, head: bytes, forever: bytes = b"", pace: float = 0.2, cert: IssuedCert | None = None) -> None:
        super().__init__()
        self.head, self.forever, self.pace = head, forever, pace
        self.context: ssl.SSLContext | None = None
        if cert is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert.chain_path, cert.key_path)

    def handle(self, conn: socket.socket) -> None:
        stream: socket.socket = self.context.wrap_socket(conn, server_side=True) if self.context else conn
        stream.recv(65536)
        for index in range(len(self.head)):
            if self.stopping.wait(self.pace):
                return
            stream.sendall(self.head[index : index + 1])
        while self.forever and not self.stopping.is_set():
            stream.sendall(self.forever)  # as fast as the client reads


class HandshakeTrickler(PeerServer):
    """Answers a ClientHello with the start of a TLS handshake record, one byte every 0.2 s, never finishing."""

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        record = b"\x16\x03\x03\x40\x00" + b"\x02" * 0x4000
        for index in range(len(record)):
            if self.stopping.wait(0.2):
                return
            conn.sendall(record[index : index + 1])


class HugeHandshake(PeerServer):
    """Answers a ClientHello with endless handshake records (a certificate chain that never ends)."""

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        # A Certificate message announcing 16 MiB, then its bytes in full-size records: OpenSSL keeps reading.
        body_length = 16 * 1024 * 1024
        first = b"\x0b" + body_length.to_bytes(3, "big") + (body_length - 3).to_bytes(3, "big")
        conn.sendall(b"\x16\x03\x03" + len(first).to_bytes(2, "big") + first)
        chunk = b"\x16\x03\x03\x40\x00" + b"\x30" * 0x4000
        while not self.stopping.is_set():
            conn.sendall(chunk)


@pytest.fixture(scope="module")
def leaf(tmp_path_factory: pytest.TempPathFactory) -> IssuedCert:
    return TestPki(tmp_path_factory.mktemp("pki-bounds")).good(HOSTNAME)


def test_https_answer_trickled_after_the_handshake_ends_within_the_timeout(leaf: IssuedCert) -> None:
    with Trickler(head=b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=31536000\r\n\r\n", cert=leaf) as peer:
        result, elapsed = _timed(lambda: probe_https(peer.endpoint, HOSTNAME, ca_pem=None, timeout=TIMEOUT))

    assert elapsed < BOUND
    assert result.reached is False
    assert "timeout" in result.detail


def test_plain_http_answer_trickled_ends_within_the_timeout() -> None:
    with Trickler(head=b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://app.example.com/\r\n\r\n") as peer:
        result, elapsed = _timed(lambda: probe_http_redirect(peer.endpoint, HOSTNAME, timeout=TIMEOUT))

    assert elapsed < BOUND
    assert result.reached is False


def test_origin_pull_trickled_is_an_error_not_an_acceptance(leaf: IssuedCert) -> None:
    with Trickler(head=b"HTTP/1.1 200 OK\r\nX: " + b"y" * 100, cert=leaf) as peer:
        result, elapsed = _timed(lambda: probe_origin_pull(peer.endpoint, HOSTNAME, timeout=TIMEOUT))

    assert elapsed < BOUND
    assert result.outcome is AopOutcome.UNREACHABLE
    assert "timeout" in result.detail


def test_a_handshake_that_never_completes_ends_within_the_timeout() -> None:
    with HandshakeTrickler() as peer:
        version, t1 = _timed(lambda: probe_tls_version(peer.endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=TIMEOUT))
        fetched, t2 = _timed(lambda: fetch_certificate(peer.endpoint, HOSTNAME, timeout=TIMEOUT))

    assert max(t1, t2) < BOUND
    assert version.outcome is TlsOutcome.UNREACHABLE
    assert fetched.reached is False


def test_endless_headers_and_an_endless_header_line_are_bounded(leaf: IssuedCert) -> None:
    many = Trickler(head=b"HTTP/1.1 200 OK\r\n", forever=b"X-A: b\r\n", pace=0, cert=leaf)
    long_line = Trickler(head=b"HTTP/1.1 200 OK\r\nX-A: ", forever=b"b" * 4096, pace=0, cert=leaf)
    with many, long_line:
        counted, t1 = _timed(lambda: probe_https(many.endpoint, HOSTNAME, ca_pem=None, timeout=TIMEOUT))
        sized, t2 = _timed(lambda: probe_https(long_line.endpoint, HOSTNAME, ca_pem=None, timeout=TIMEOUT))

    assert max(t1, t2) < BOUND
    assert counted.reached is False
    assert "header lines" in counted.detail
    assert sized.reached is False
    assert "64 KiB" in sized.detail


def test_an_endless_body_keeps_the_answer(leaf: IssuedCert) -> None:
    # The status and headers are the evidence; the body is read up to its bound and no further.
    head = b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains\r\n\r\n"
    with Trickler(head=head, forever=b"z" * 4096, pace=0, cert=leaf) as peer:
        result, elapsed = _timed(lambda: probe_https(peer.endpoint, HOSTNAME, ca_pem=None, timeout=TIMEOUT))

    assert elapsed < BOUND
    assert result.reached
    assert result.sts_headers == ("max-age=31536000; includeSubDomains",)


def test_an_endless_certificate_chain_stops_at_the_handshake_bound() -> None:
    with HugeHandshake() as peer:
        result, elapsed = _timed(lambda: fetch_certificate(peer.endpoint, HOSTNAME, timeout=5))

    assert elapsed < 3 * 5 + 1
    assert result.reached is False  # our 256 KiB bound, or OpenSSL's own certificate-list limit, ended it


def test_a_run_deadline_cuts_a_probe_short() -> None:
    with Tarpit() as peer:
        run = Deadline(time.monotonic() + 0.5, "deadline reached (--deadline bounds the whole run)")
        result, elapsed = _timed(
            lambda: probe_tls_version(peer.endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=30, deadline=run)
        )

    assert elapsed < 3
    assert result.outcome is TlsOutcome.UNREACHABLE
    assert "deadline reached" in result.detail


def test_verify_with_a_deadline_reports_every_check_in_bounded_time() -> None:
    # Given targets whose peers never answer, a long timeout and a short run deadline
    with Tarpit() as peer:
        targets = [Target(f"h{i}.example.com", edge=peer.endpoint, edge_http=peer.endpoint) for i in range(3)]
        options = VerifyOptions(timeout=30, deadline=1.0, concurrency=2)
        report, elapsed = _timed(lambda: verify(targets, Baseline(), options))

    # Then the run ends at its deadline, the report is complete, and what did not finish says so
    assert elapsed < 1.0 + 3
    assert [t.hostname for t in report.targets] == [t.hostname for t in targets]
    for target in report.targets:
        assert [c.id for c in target.checks] == list(CHECK_IDS)
        edge = [c for c in target.checks if c.id.startswith("edge.")]
        assert {c.status for c in edge} == {Status.INCONCLUSIVE}
        assert all("deadline reached" in c.detail for c in edge), edge
    assert report.exit_code == 3


def test_verify_without_a_deadline_is_not_cut_short() -> None:
    # Twin: the same peers, no deadline, a short timeout: the probes end by their own timeout, not "deadline".
    with Tarpit() as peer:
        target = Target("h.example.com", edge=peer.endpoint, edge_http=peer.endpoint)
        report = verify([target], Baseline(), VerifyOptions(timeout=0.5))

    details = [c.detail for c in report.targets[0].checks if c.id.startswith("edge.")]
    assert details
    assert not any("deadline reached" in d for d in details)
    assert all("timeout" in d for d in details), details


class CloseAfterServerHello(PeerServer):
    """Answers the ClientHello with its ServerHello record only, then a clean TCP close."""

    def __init__(self, cert: IssuedCert) -> None:
        super().__init__()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert.chain_path, cert.key_path)

    def handle(self, conn: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.context.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(conn.recv(65536))
        with contextlib.suppress(ssl.SSLWantReadError):
            obj.do_handshake()
        flight = outgoing.read()
        conn.sendall(flight[: 5 + int.from_bytes(flight[3:5], "big")])
        conn.shutdown(socket.SHUT_WR)
        self.stopping.wait(0.5)


@pytest.mark.parametrize(("hello_evidence", "outcome"), [(False, TlsOutcome.ERROR), (True, TlsOutcome.ACCEPTED)])
def test_a_close_after_the_server_hello_is_not_a_refusal(
    leaf: IssuedCert, hello_evidence: bool, outcome: TlsOutcome
) -> None:
    # The server chose TLS 1.2 and hung up: on the edge that proves neither way; on the origin the ServerHello is
    # the evidence that the version was accepted.
    with CloseAfterServerHello(leaf) as peer:
        result = probe_tls_version(
            peer.endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=TIMEOUT, hello_evidence=hello_evidence
        )

    assert result.outcome is outcome, result.detail
    assert "ServerHello selected it" in result.detail


def test_a_name_is_resolved_within_the_deadline(leaf: IssuedCert) -> None:
    # "localhost" goes through the resolver thread; the answer is the same as for the address literal.
    with Trickler(head=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", pace=0, cert=leaf) as peer:
        named = probe_https(Endpoint("localhost", peer.endpoint.port), HOSTNAME, ca_pem=None, timeout=TIMEOUT)

    assert named.reached, named.detail
    assert named.status == 200
