"""One hostile origin or edge costs its own checks, never the run (issue 18): ``python -m origin_tls verify`` itself,
on a fleet where one origin serves a malformed certificate and one edge answers with hostile headers, exits with a
status and a complete report for every target, and no traceback. And a judge's own bug becomes an ``inconclusive``
check naming it, not a lost run.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from origin_tls.baseline import Baseline
from origin_tls.report import CHECK_IDS, Status
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers.der import MALFORMED, build_certificate
from tests.peers.pki import TestPki
from tests.peers.tls_servers import closed_port

from . import servers as s
from .cli_run import run_verify

TIMEOUT = 2.0
KILL_AFTER = 60.0
BAD_ORIGIN, HOSTILE_EDGE, GOOD = "bad-origin.example.test", "hostile-edge.example.test", "good.example.test"


def _record(content_type: int, *messages: bytes) -> bytes:
    fragment = b"".join(messages)
    return struct.pack("!BHH", content_type, 0x0303, len(fragment)) + fragment


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def serving_certificate(der: bytes) -> s.Behaviour:
    """A TLS 1.2 "server" that answers any ClientHello with a ServerHello, a Certificate of ``der`` and a
    ServerHelloDone, in clear (RFC 5246 section 7.4), then waits: it needs no key, as a hostile origin needs none."""
    renegotiation_info = b"\xff\x01\x00\x01\x00"  # RFC 5746: OpenSSL 3 refuses a server without it
    hello = (
        b"\x03\x03" + os.urandom(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
        + len(renegotiation_info).to_bytes(2, "big") + renegotiation_info
    )  # fmt: skip
    certificate = len(der).to_bytes(3, "big") + der
    flight = _record(
        22,
        _handshake(2, hello),
        _handshake(11, (len(certificate)).to_bytes(3, "big") + certificate),
        _handshake(14, b""),
    )

    def behaviour(conn: socket.socket, peer: s.HostilePeer) -> None:
        s._read_client_hello(conn, peer)
        peer.send(conn, flight)
        while True:
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                peer.pause(0)

    behaviour.__name__ = "serving_certificate"
    return behaviour


def answering(head: bytes) -> s.Behaviour:
    """A server (TLS when the peer has a context) that answers any request with ``head`` and a short body."""

    def behaviour(conn: socket.socket, peer: s.HostilePeer) -> None:
        stream: socket.socket = peer.wrap(conn) if peer.context is not None else conn
        peer.read_request(stream)
        peer.send(stream, head + b"\r\n\r\nok")

    behaviour.__name__ = "answering"
    return behaviour


HOSTILE_HTTPS = (
    b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=" + b"9" * 5000 + b"; includeSubDomains\r\n"
    b"Content-Length: \xb2\r\nConnection: close"
)
HOSTILE_HTTP = b"HTTP/1.1 301 Moved\r\nLocation: http://[\r\nContent-Length: 0\r\nConnection: close"


@dataclass
class World:
    directory: Path
    pki: TestPki
    peers: list[s.HostilePeer]
    inventory: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("hostile-fleet")
    pki = TestPki(directory / "pki")
    malformed = build_certificate(MALFORMED["two subjectAltName extensions (DuplicateExtension)"])
    bad_origin = s.HostilePeer(serving_certificate(malformed))
    edge = s.HostilePeer(answering(HOSTILE_HTTPS), context=s.server_context(pki.good(HOSTILE_EDGE)))
    edge_http = s.HostilePeer(answering(HOSTILE_HTTP))
    good_origins = {
        host: s.HostilePeer(
            answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2"), context=s.server_context(pki.origin(host))
        )
        for host in (HOSTILE_EDGE, GOOD)
    }
    peers = [bad_origin, edge, edge_http, *good_origins.values()]
    for peer in peers:
        peer.start()
    dead = str(closed_port())
    targets = [
        {"hostname": BAD_ORIGIN, "edge": dead, "edge_http": dead, "origin": str(bad_origin.endpoint)},
        {
            "hostname": HOSTILE_EDGE,
            "edge": str(edge.endpoint),
            "edge_http": str(edge_http.endpoint),
            "origin": str(good_origins[HOSTILE_EDGE].endpoint),
        },
        {"hostname": GOOD, "edge": dead, "edge_http": dead, "origin": str(good_origins[GOOD].endpoint)},
    ]
    inventory = directory / "fleet.json"
    defaults = {"origin_ca": str(pki.origin_ca.cert_path), "edge_ca": str(pki.ca.cert_path), "aop": False}
    inventory.write_text(json.dumps({"defaults": defaults, "targets": targets}), encoding="utf-8")
    try:
        yield World(directory, pki, peers, inventory)
    finally:
        for peer in peers:
            peer.stop()


def test_a_hostile_origin_and_edge_leave_every_report_intact(world: World) -> None:
    # When verify runs over the fleet, as a user runs it
    run = run_verify(["--inventory", str(world.inventory), "--timeout", str(TIMEOUT), "--json"], kill_after=KILL_AFTER)

    # Then it exits with a verdict (a check failed), a complete JSON report and no traceback
    assert not run.hung, run.summary()
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code == 1, run.summary()
    assert run.report is not None, run.summary()
    targets = run.report["targets"]
    assert [t["hostname"] for t in targets] == [BAD_ORIGIN, HOSTILE_EDGE, GOOD]
    for target in targets:
        assert [c["id"] for c in target["checks"]] == list(CHECK_IDS)
        assert all(c["observed"] != "judge error" for c in target["checks"]), target
    checks = [{c["id"]: c for c in t["checks"]} for t in targets]
    # The malformed certificate fails its own check, saying why
    bad = checks[0]["origin.certificate"]
    assert bad["status"] == "fail"
    assert bad["detail"].startswith("the origin's certificate could not be parsed: DuplicateExtension")
    # The hostile edge's headers are judged: a max-age of 5,000 digits is a valid (huge) one, the "²" length
    # lost nothing, and a Location that is not a URL fails the redirect check
    assert checks[1]["edge.hsts"]["status"] == "pass", checks[1]["edge.hsts"]
    assert checks[1]["edge.origin_pull"]["status"] == "pass", checks[1]["edge.origin_pull"]
    redirect = checks[1]["edge.https_redirect"]
    assert (redirect["status"], redirect["observed"]) == ("fail", "HTTP 301 -> http://[")
    assert "not a URL" in redirect["detail"]
    # The twins: the well-behaved origins' certificates pass, beside the hostile ones
    assert checks[1]["origin.certificate"]["status"] == "pass", checks[1]["origin.certificate"]
    assert checks[2]["origin.certificate"]["status"] == "pass", checks[2]["origin.certificate"]


# --------------------------------------------------------------------------------------------------------------
# A judge's own bug


def _broken(check_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def judge(plan: object, evidence: object) -> object:
        raise TypeError("a bug, with text that must not be shown: SECRET-ISH")

    from origin_tls import checks  # the judge side of the table, which verify reads when it judges

    patched = tuple(replace(spec, judge=judge) if spec.id == check_id else spec for spec in checks.CHECKS)
    monkeypatch.setattr(checks, "CHECKS", patched)


def _run_alone() -> dict[str, tuple[Status, str, str]]:
    dead = closed_port()
    report = verify([Target("app.example.test", edge=dead, edge_http=dead)], Baseline(), VerifyOptions(timeout=1.0))
    return {c.id: (c.status, c.observed, c.detail) for c in report.targets[0].checks}


def test_a_judge_that_raises_costs_its_own_check_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken("edge.hsts", monkeypatch)

    checks = _run_alone()

    assert list(checks) == list(CHECK_IDS)
    status, observed, detail = checks["edge.hsts"]
    assert (status, observed) == (Status.INCONCLUSIVE, "judge error")
    assert detail == "edge.hsts: unexpected TypeError (a bug in origin-tls: please report it)"
    assert checks["edge.tls_1_3"][1] != "judge error"


def test_its_twin_without_the_bug_is_judged_as_usual() -> None:
    checks = _run_alone()

    assert checks["edge.hsts"][:2] == (Status.INCONCLUSIVE, "no HTTPS response")
