"""``verify`` against hostile peers on loopback, driven as a user drives it (the CLI in a subprocess, ``--json``).

The contract (DESIGN.md "Bounds and trust", issue 8): every probe ends within ``--timeout`` as a whole whatever the
peer does, nothing read from a peer is unbounded, and a check that could not be carried out is ``inconclusive``
with the reason, never ``pass``. Each case asserts

- the honest status of the checks that depend on the misbehaving phase (and that none of them passes),
- a correctness bound on the wall time of the whole run: 3 x ``--timeout`` + 1 s (catches a hang; not a benchmark),
- for the floods, that the process's peak memory stays within a fixed margin of a run that talked to nobody.

The twins: the same library's well-behaved peer passes the same checks, over IPv4 and IPv6.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.pki import IssuedCert, TestPki
from tests.peers.tls_servers import closed_port

from . import servers as s
from .cli_run import VerifyRun, run_verify

HOST = "app.example.test"
TIMEOUT = 1.5
#: The correctness bound on a whole run (every probe of a target runs at once, so one timeout would do).
BOUND = 3 * TIMEOUT + 1
#: A run still going at this point is killed and reported as hung (today's trickles would go on for minutes).
KILL_AFTER = BOUND + 3
#: Peak RSS allowed above the quiet run's: far below what an unbounded read of a flood would take in the time.
MEMORY_MARGIN_KIB = 48 * 1024
#: Reasons that name a time bound, and reasons that name a size bound or what the peer did.
TIME_REASON = re.compile(r"time|deadline|within|slow", re.IGNORECASE)
SIZE_REASON = re.compile(r"bound|limit|too (many|long|large)|exceed|more than|bytes|header|line", re.IGNORECASE)

EDGE_TLS = ("edge.min_tls_version", "edge.tls_1_3", "edge.certificate", "edge.hsts")


@dataclass(frozen=True)
class Case:
    """One hostile peer, where it stands (``edge``, ``edge_http`` or ``origin``), and what an honest run says."""

    name: str
    behaviour: s.Behaviour
    side: str
    inconclusive: tuple[str, ...]  # must be inconclusive, with a reason matching ``reason``
    never_pass: tuple[str, ...] = ()  # must not pass (fail or inconclusive, per the existing rules)
    reason: re.Pattern[str] | None = None
    tls: bool = True
    flood: bool = False
    host: str = "127.0.0.1"
    long_chain: bool = False


CASES = [
    # A trickle at each phase: today each read gets its byte within the timeout, so nothing is ever cut off.
    Case("trickle-handshake-edge", s.trickle_handshake, "edge", ("edge.tls_1_3", "edge.certificate", "edge.hsts"),
         never_pass=EDGE_TLS, reason=TIME_REASON),
    Case("trickle-handshake-origin", s.trickle_handshake, "origin", ("origin.certificate", "origin.aop"),
         reason=TIME_REASON),
    Case("trickle-https-headers", s.trickle_answer, "edge", ("edge.hsts",), reason=TIME_REASON),
    Case("trickle-plain-http", s.trickle_answer, "edge_http", ("edge.https_redirect",), reason=TIME_REASON,
         tls=False),
    Case("trickle-origin-pull", s.trickle_pull_answer, "origin", ("origin.aop",), reason=TIME_REASON),
    Case("trickle-ipv6-origin-pull", s.trickle_pull_answer, "origin", ("origin.aop",), reason=TIME_REASON,
         host="::1"),
    # Floods: bounded in bytes, so bounded in time and memory.
    Case("endless-headers", s.endless_headers, "edge", ("edge.hsts",), reason=SIZE_REASON, flood=True),
    Case("header-line-without-end", s.endless_header_line, "edge", ("edge.hsts",), reason=SIZE_REASON, flood=True),
    Case("endless-body", s.endless_body, "edge", (), never_pass=("edge.hsts",), flood=True),
    Case("very-long-certificate-chain", s.good_answer, "edge", ("edge.certificate", "edge.hsts"),
         never_pass=EDGE_TLS, flood=True, long_chain=True),
    # Protocol violations and abrupt ends: each says what happened.
    Case("plaintext-on-tls-port", s.plaintext_answer, "edge", ("edge.certificate", "edge.hsts"),
         never_pass=EDGE_TLS, tls=False),
    Case("rst-at-accept", s.reset_at_accept, "edge", ("edge.certificate", "edge.hsts"), never_pass=EDGE_TLS),
    Case("rst-after-client-hello", s.reset_after_client_hello, "edge", ("edge.certificate", "edge.hsts"),
         never_pass=EDGE_TLS),
    Case("rst-after-handshake", s.reset_after_handshake, "edge", ("edge.hsts",)),
    # A server that answered the ClientHello with a ServerHello has accepted the version: its close afterwards is
    # not a refusal ("Refused means the server refused", DESIGN.md), so the version checks cannot fail on it either.
    Case("close-after-server-hello", s.close_after_server_hello, "edge", EDGE_TLS),
    Case("alert-mid-answer", s.alert_mid_answer, "edge", ("edge.hsts",)),
    Case("corrupt-record-mid-answer", s.corrupt_record_mid_answer, "edge", ("edge.hsts",)),
    Case("tarpit-after-handshake", s.tarpit_after_handshake, "edge", ("edge.hsts",), reason=TIME_REASON),
    Case("tarpit-after-handshake-ipv6", s.tarpit_after_handshake, "edge", ("edge.hsts",), reason=TIME_REASON,
         host="::1"),
    Case("rst-at-accept-origin", s.reset_at_accept, "origin", ("origin.certificate", "origin.aop")),
]  # fmt: skip


def _long_chain(pki: TestPki, cert: IssuedCert, directory: Path) -> Path:
    """The leaf, then 400 copies of an unrelated CA certificate: about 200 KB of Certificate message, twice what
    OpenSSL accepts by default (``SSL_CTX_set_max_cert_list``, 100 KiB)."""
    path = directory / "long-chain.pem"
    path.write_text(cert.cert_pem + pki.other_ca.cert_pem * 400, encoding="ascii")
    return path


@dataclass
class Lab:
    pki: TestPki
    files: dict[str, str]
    peers: dict[str, s.HostilePeer]
    dead: str
    quiet: VerifyRun
    seen: dict[str, VerifyRun]


def _args(lab: Lab, side: str, where: str) -> list[str]:
    edge = where if side == "edge" else lab.dead
    edge_http = where if side == "edge_http" else lab.dead
    args = [HOST, "--edge", edge, "--edge-http", edge_http, "--edge-ca", lab.files["edge_ca"]]
    if side == "origin":
        args += ["--origin", where, "--origin-ca", lab.files["origin_ca"]]
    return [*args, "--timeout", str(TIMEOUT), "--json"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("hostile")
    pki = TestPki(directory)
    edge_cert, origin_cert = pki.good(HOST), pki.origin(HOST)
    files = {"edge_ca": str(pki.ca.cert_path), "origin_ca": str(pki.origin_ca.cert_path)}
    peers: dict[str, s.HostilePeer] = {}
    for case in CASES:
        cert = origin_cert if case.side == "origin" else edge_cert
        context = None
        if case.tls:
            context = s.server_context(cert, _long_chain(pki, cert, directory) if case.long_chain else None)
        peers[case.name] = s.HostilePeer(case.behaviour, context=context, host=case.host).start()
    for host in ("127.0.0.1", "::1"):
        peers[f"good-edge-{host}"] = s.HostilePeer(s.good_answer, context=s.server_context(edge_cert), host=host)
        peers[f"good-http-{host}"] = s.HostilePeer(s.good_answer, host=host)
        peers[f"good-edge-{host}"].start()
        peers[f"good-http-{host}"].start()
    dead = str(closed_port())
    quiet = run_verify([HOST, "--edge", dead, "--edge-http", dead, "--timeout", str(TIMEOUT), "--json"],
                       kill_after=KILL_AFTER)  # fmt: skip
    lab = Lab(pki, files, peers, dead, quiet, {})
    try:
        yield lab
    finally:
        for peer in peers.values():
            peer.stop()
        # What was measured, for the record (pytest -s shows it).
        print(
            f"\nhostile peers, --timeout {TIMEOUT}, bound {BOUND}s; quiet run {quiet.elapsed:.2f}s, "
            f"{quiet.max_rss_kib // 1024} MiB"
        )
        for name, run in sorted(lab.seen.items(), key=lambda item: -item[1].elapsed):
            state = "HUNG" if run.hung else f"exit {run.code}"
            print(f"  {run.elapsed:6.2f}s  {run.max_rss_kib // 1024:4d} MiB  {state:<8} {name}")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_peer_gets_an_honest_bounded_answer(lab: Lab, case: Case) -> None:
    # Given a peer that misbehaves at one phase
    peer = lab.peers[case.name]
    # When verify runs against it
    run = run_verify(_args(lab, case.side, str(peer.endpoint)), kill_after=KILL_AFTER)
    lab.seen[case.name] = run
    what = f"{case.name} ({case.behaviour.__name__} at {peer.endpoint}, {peer.connections} connection(s)):\n"
    # Then it ends within the bound, with a complete report
    assert not run.hung, what + "verify hung. " + run.summary()
    assert run.elapsed <= BOUND, what + f"took {run.elapsed:.2f}s > {BOUND}s. " + run.summary()
    assert run.report is not None, what + "no JSON report. " + run.summary()
    assert run.code in (1, 3), what + "a hostile peer cannot leave every check passing. " + run.summary()
    checks = run.checks()
    # and says honestly what it could not carry out
    for check_id in case.inconclusive:
        check = checks[check_id]
        assert check["status"] == "inconclusive", what + f"{check_id} should be inconclusive. " + run.summary()
        assert check["detail"], what + f"{check_id} is inconclusive without a reason. " + run.summary()
        if case.reason is not None:
            assert case.reason.search(check["detail"]), (
                what + f"{check_id}'s reason does not name the bound ({case.reason.pattern}). " + run.summary()
            )
    for check_id in case.never_pass:
        assert checks[check_id]["status"] != "pass", what + f"{check_id} passed. " + run.summary()
    # and a flood does not grow the process
    if case.flood:
        allowed = lab.quiet.max_rss_kib + MEMORY_MARGIN_KIB
        assert run.max_rss_kib <= allowed, (
            what + f"peak RSS {run.max_rss_kib} KiB > {allowed} KiB (quiet run {lab.quiet.max_rss_kib} KiB, "
            f"peer sent {peer.bytes_sent} bytes). " + run.summary()
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_well_behaved_twin_passes_the_same_checks(lab: Lab, host: str) -> None:
    # Given the same library's well-behaved peer (IPv4, and IPv6 literal endpoints "[::1]:PORT")
    edge, http = lab.peers[f"good-edge-{host}"], lab.peers[f"good-http-{host}"]
    args = [HOST, "--edge", str(edge.endpoint), "--edge-http", str(http.endpoint), "--edge-ca", lab.files["edge_ca"],
            "--timeout", str(TIMEOUT), "--json"]  # fmt: skip
    # When verify runs
    run = run_verify(args, kill_after=KILL_AFTER)
    lab.seen[f"good-{host}"] = run
    # Then the checks the hostile peers must never pass do pass here: the assertions above can tell
    assert not run.hung, run.summary()
    checks = run.checks()
    for check_id in ("edge.min_tls_version", "edge.tls_1_3", "edge.certificate", "edge.hsts", "edge.https_redirect"):
        assert checks[check_id]["status"] == "pass", f"{check_id} over {host}: " + run.summary()
    assert run.elapsed <= BOUND, run.summary()


def test_the_yardstick_sees_a_process_that_grows_and_one_that_hangs() -> None:
    # The twins of the bounds: a child that takes 96 MiB more than the quiet run, and one that never ends.
    grow = "import time; b = bytearray(96 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)"
    grown = run_verify([], kill_after=KILL_AFTER, argv=[sys.executable, "-c", grow])
    assert grown.code == 0
    assert grown.max_rss_kib >= 96 * 1024, grown.summary()
    hang = run_verify([], kill_after=0.5, argv=[sys.executable, "-c", "import time; time.sleep(60)"])
    assert hang.hung
    assert hang.code is None
    assert hang.elapsed < 5


def test_the_quiet_run_is_the_memory_yardstick(lab: Lab) -> None:
    # A run that talked to nobody: every edge check inconclusive, quickly. Its peak RSS is the floods' baseline.
    assert lab.quiet.code == 3, lab.quiet.summary()
    assert lab.quiet.max_rss_kib > 0
    assert lab.quiet.elapsed <= BOUND, lab.quiet.summary()
