"""The checks added by issue 9 and the fixes of issue 8, through verify() against real peers on loopback.

edge.origin_pull, origin.min_tls_version, --min-days on the AOP client certificate, SAN-only hostname checks, and
the merged probes (one connection per piece of evidence, verdicts unchanged). Each passing case has a failing twin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.probes import TlsOutcome, probe_https, probe_tls_version
from origin_tls.report import Check, Status, TargetReport
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers import HOSTNAME
from tests.peers.nginx import NginxServer, TlsSite
from tests.peers.pki import IssuedCert, TestPki, _name, utc_now
from tests.peers.tls_servers import HttpAnswerServer, client_auth_server

STS = "max-age=31536000; includeSubDomains"


@dataclass
class Peers:
    pki: TestPki
    sites: dict[str, TlsSite]
    redirect: Endpoint

    def options(self, **overrides: object) -> VerifyOptions:
        values: dict[str, object] = {
            "origin_ca_pem": self.pki.origin_ca.cert_pem,
            "edge_ca_pem": self.pki.ca.cert_pem,
            "timeout": 3.0,
        }
        values.update(overrides)
        return VerifyOptions(**values)  # type: ignore[arg-type]

    def target(self, edge: str = "edge", origin: str | None = "origin_on") -> Target:
        return Target(
            HOSTNAME,
            edge=self.sites[edge].endpoint,
            edge_http=self.redirect,
            origin=self.sites[origin].endpoint if origin else None,
        )


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    pki = TestPki(tmp_path_factory.mktemp("pki-checks"))
    server = NginxServer(tmp_path_factory.mktemp("nginx-checks"))
    good, origin, ca = pki.good(HOSTNAME), pki.origin(HOSTNAME), pki.client_ca.cert_path
    sites = {
        "edge": server.add_tls_site(HOSTNAME, cert=good, sts=[STS]),
        # An edge answering like Cloudflare when it cannot use the origin (nginx sends any status asked for).
        "edge_526": server.add_tls_site(HOSTNAME, cert=good, sts=[STS], status=526, body="error code: 526\n"),
        "edge_530": server.add_tls_site(HOSTNAME, cert=good, sts=[STS], status=530, body="error code: 1016\n"),
        "edge_502": server.add_tls_site(HOSTNAME, cert=good, sts=[STS], status=502, body="app down\n"),
        "origin_on": server.add_tls_site(HOSTNAME, cert=origin, verify_client="on", client_ca=ca),
        "origin_legacy": server.add_tls_site(
            HOSTNAME, cert=origin, verify_client="on", client_ca=ca, protocols=("TLSv1", "TLSv1.1", "TLSv1.2")
        ),
        "origin_13": server.add_tls_site(
            HOSTNAME, cert=origin, verify_client="on", client_ca=ca, protocols=("TLSv1.3",)
        ),
    }
    redirect = server.add_http_site(redirect=True)
    with server:
        yield Peers(pki, sites, redirect.endpoint)


def _check(report_target: TargetReport, check_id: str) -> Check:
    return report_target.check(check_id)


def _run(peers: Peers, target: Target, baseline: Baseline | None = None, **options: object) -> TargetReport:
    return verify([target], baseline or Baseline(), peers.options(**options)).targets[0]


# --------------------------------------------------------------------------------------------------------------
# edge.origin_pull


def test_edge_origin_pull_passes_when_the_edge_serves_the_site(peers: Peers) -> None:
    check = _check(_run(peers, peers.target()), "edge.origin_pull")

    assert (check.status, check.observed) == (Status.PASS, "HTTP 200")


def test_an_application_error_still_proves_the_hop(peers: Peers) -> None:
    check = _check(_run(peers, peers.target("edge_502")), "edge.origin_pull")

    assert check.status is Status.PASS


@pytest.mark.parametrize(
    ("edge", "observed", "meaning"),
    [("edge_526", "HTTP 526", "invalid SSL certificate"), ("edge_530", "HTTP 530 (error 1016)", "1xxx")],
)
def test_edge_origin_pull_fails_on_a_cloudflare_origin_error(
    peers: Peers, edge: str, observed: str, meaning: str
) -> None:
    report = _run(peers, peers.target(edge))
    check = _check(report, "edge.origin_pull")

    assert check.status is Status.FAIL
    assert check.observed == observed
    assert meaning in check.detail
    # and it is the only edge check that notices
    assert {c.id for c in report.checks if c.status is Status.FAIL} == {"edge.origin_pull"}


# --------------------------------------------------------------------------------------------------------------
# origin.min_tls_version


def test_origin_min_tls_version_passes_on_a_hardened_origin(peers: Peers) -> None:
    check = _check(_run(peers, peers.target()), "origin.min_tls_version")

    assert check.status is Status.PASS, check
    assert check.observed == "1.0 refused, 1.1 refused, 1.2 accepted"


def test_origin_min_tls_version_fails_on_an_origin_accepting_tls_1_0(peers: Peers) -> None:
    report = _run(peers, peers.target(origin="origin_legacy"))
    check = _check(report, "origin.min_tls_version")

    assert check.status is Status.FAIL
    assert "accepts TLS 1.0, 1.1" in check.detail
    assert _check(report, "edge.min_tls_version").status is Status.PASS  # the edge's own floor is another matter


def test_origin_min_tls_version_fails_when_the_floor_itself_is_refused(peers: Peers) -> None:
    check = _check(_run(peers, peers.target(origin="origin_13")), "origin.min_tls_version")

    assert check.status is Status.FAIL
    assert "TLS 1.2" in check.detail


def test_origin_min_tls_version_is_skipped_without_an_origin(peers: Peers) -> None:
    check = _check(_run(peers, peers.target(origin=None)), "origin.min_tls_version")

    assert (check.status, check.detail) == (Status.SKIPPED, "no --origin given")


@pytest.mark.parametrize("with_client_cert", [True, False])
def test_a_python_origin_demanding_a_certificate_is_judged_on_its_versions(
    peers: Peers, with_client_cert: bool
) -> None:
    # Given an origin (Python ssl, CERT_REQUIRED, TLS 1.2 only) that aborts every handshake without a client
    # certificate, with or without --client-cert
    client = peers.pki.client()
    extra = {"client_cert_pem": client.cert_pem, "client_key_pem": client.key_pem} if with_client_cert else {}
    with client_auth_server(peers.pki.origin(HOSTNAME), peers.pki.client_ca.cert_path, version="1.2") as origin:
        target = Target(HOSTNAME, edge=peers.sites["edge"].endpoint, edge_http=peers.redirect, origin=origin.endpoint)
        report = _run(peers, target, **extra)

    # Then TLS 1.2 counts as accepted (by its handshake, or by the ServerHello that selected it) and 1.0/1.1 refused
    check = _check(report, "origin.min_tls_version")
    assert check.status is Status.PASS, check
    assert _check(report, "origin.aop").status is Status.PASS


def test_a_python_origin_refusing_the_floor_fails_even_when_it_demands_a_certificate(peers: Peers) -> None:
    # Twin: TLS 1.3 only. Without --client-cert the 1.2 attempt gets protocol_version, not a ServerHello.
    with client_auth_server(peers.pki.origin(HOSTNAME), peers.pki.client_ca.cert_path, version="1.3") as origin:
        target = Target(HOSTNAME, edge=peers.sites["edge"].endpoint, edge_http=peers.redirect, origin=origin.endpoint)
        report = _run(peers, target)

    assert _check(report, "origin.min_tls_version").status is Status.FAIL


@pytest.mark.parametrize(("hello_evidence", "outcome"), [(True, TlsOutcome.ACCEPTED), (False, TlsOutcome.REFUSED)])
def test_server_hello_evidence_tells_a_refused_certificate_from_a_refused_version(
    peers: Peers, hello_evidence: bool, outcome: TlsOutcome
) -> None:
    with client_auth_server(peers.pki.origin(HOSTNAME), peers.pki.client_ca.cert_path, version="1.2") as origin:
        result = probe_tls_version(
            origin.endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=3, hello_evidence=hello_evidence
        )
        refused = probe_tls_version(origin.endpoint, HOSTNAME, TlsVersion.TLS_1_1, timeout=3, hello_evidence=True)

    assert result.outcome is outcome, result.detail
    if hello_evidence:  # the ServerHello that selected TLS 1.2 is the evidence; the probe stops there
        assert "ServerHello selected it" in result.detail
    else:  # the same server, judged by the alert that followed: the edge's reading, a refusal
        assert "handshake_failure" in result.detail
    assert refused.outcome is TlsOutcome.REFUSED  # no ServerHello for TLS 1.1: a refused version stays refused


# --------------------------------------------------------------------------------------------------------------
# --min-days on the AOP client certificate


def test_a_client_certificate_about_to_expire_fails_origin_aop_client(peers: Peers) -> None:
    lasting = peers.pki.client()
    expiring = peers.pki.client_ca.issue_client("expiring-edge", not_after=utc_now() + dt.timedelta(days=5))

    ok = _run(peers, peers.target(), client_cert_pem=lasting.cert_pem, client_key_pem=lasting.key_pem)
    short = _run(peers, peers.target(), client_cert_pem=expiring.cert_pem, client_key_pem=expiring.key_pem)
    lenient = _run(
        peers,
        peers.target(),
        Baseline(min_days_remaining=3),
        client_cert_pem=expiring.cert_pem,
        client_key_pem=expiring.key_pem,
    )

    assert _check(ok, "origin.aop_client").status is Status.PASS
    failing = _check(short, "origin.aop_client")
    assert failing.status is Status.FAIL
    assert "fewer than --min-days 30" in failing.detail
    assert "accepted" in failing.observed  # the origin took it: the problem is its remaining life
    assert _check(lenient, "origin.aop_client").status is Status.PASS


# --------------------------------------------------------------------------------------------------------------
# SAN only (RFC 6125 section 6.4.4)


def _cn_only(pki: TestPki, hostname: str) -> IssuedCert:
    """Trusted, CN = hostname, and no subjectAltName at all."""
    return pki.ca._issue(
        f"cn-only-{hostname}",
        sans=[],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        subject=_name(common_name=hostname, organization=None, unit=None),
        not_before=None,
        not_after=None,
    )


def test_a_certificate_naming_the_host_only_in_its_cn_does_not_cover_it(peers: Peers) -> None:
    leaf = _cn_only(peers.pki, HOSTNAME)
    with pytest.raises(x509.ExtensionNotFound):
        leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    with HttpAnswerServer(cert=leaf, header_lines=[f"Strict-Transport-Security: {STS}"]) as edge:
        cn_only = probe_https(edge.endpoint, HOSTNAME, ca_pem=peers.pki.ca.cert_pem, timeout=3)
        report = _run(peers, Target(HOSTNAME, edge=edge.endpoint, edge_http=peers.redirect))
    with HttpAnswerServer(cert=peers.pki.good(HOSTNAME)) as twin:
        san = probe_https(twin.endpoint, HOSTNAME, ca_pem=peers.pki.ca.cert_pem, timeout=3)

    assert cn_only.verified is False
    assert "Hostname mismatch" in cn_only.verify_error
    assert _check(report, "edge.certificate").status is Status.FAIL
    assert san.verified is True


# --------------------------------------------------------------------------------------------------------------
# Merged probes: one connection per piece of evidence, the verdicts of before


class _Counting(HttpAnswerServer):
    pass


def _counted_run(peers: Peers, baseline: Baseline) -> tuple[tuple[int, int, int], TargetReport]:
    """verify() against an edge, its plain-HTTP listener and an origin that count their connections (TLS 1.2-1.3,
    trusted certificates): (edge, plain, origin) connections and the report."""
    pki = peers.pki
    with (
        _Counting(cert=pki.good(HOSTNAME), header_lines=[f"Strict-Transport-Security: {STS}"]) as edge,
        _Counting(status=301, header_lines=[f"Location: https://{HOSTNAME}/"]) as plain,
        _Counting(cert=pki.origin(HOSTNAME), status=496) as origin,
    ):
        report = verify(
            [Target(HOSTNAME, edge=edge.endpoint, edge_http=plain.endpoint, origin=origin.endpoint)],
            baseline,
            peers.options(),
        ).targets[0]
        return (edge.connections_seen, plain.connections_seen, origin.connections_seen), report


def test_connections_per_target(peers: Peers) -> None:
    # Given an edge and an origin that count their connections, TLS 1.2-1.3, trusted certificates
    counts, report = _counted_run(peers, Baseline())

    # Then the edge sees TLS 1.0, 1.1, 1.2 and one HTTPS request that is also the TLS 1.3 evidence (5 before);
    # the origin one pull that is also the certificate fetch, and its own TLS 1.0, 1.1, 1.2 (origin.min_tls_version)
    assert counts == (4, 1, 4)
    statuses = {c.id: c.status for c in report.checks if not c.id.startswith("zone.")}
    assert statuses == {
        "edge.min_tls_version": Status.PASS,
        "edge.tls_1_3": Status.PASS,
        "edge.certificate": Status.PASS,
        "edge.hsts": Status.PASS,
        "edge.https_redirect": Status.PASS,
        "edge.origin_pull": Status.PASS,
        "origin.certificate": Status.PASS,
        "origin.aop": Status.PASS,
        "origin.aop_client": Status.SKIPPED,
        "origin.min_tls_version": Status.PASS,
        "origin.pq_key_agreement": Status.SKIPPED,  # no --require-pq: no connection for it
    }


def test_require_pq_costs_one_connection_to_the_origin_and_nothing_else(peers: Peers) -> None:
    # The twin of the count above: with --require-pq the origin sees one connection more (the post-quantum probe),
    # the edge none; this origin (Python's ssl on Debian's OpenSSL 3.0) has no ML-KEM, so the check fails.
    counts, report = _counted_run(peers, Baseline(require_pq=True))
    assert counts == (4, 1, 5)
    check = next(c for c in report.checks if c.id == "origin.pq_key_agreement")
    assert check.status is Status.FAIL
    assert check.observed == "refused: TLS alert handshake_failure"


def test_tls_1_3_verdict_and_text_unchanged_when_https_negotiates_lower(peers: Peers) -> None:
    # Twin of the merged case: an HTTPS answer over TLS 1.2 is no TLS 1.3 evidence; the pinned probe decides.
    with HttpAnswerServer(cert=peers.pki.good(HOSTNAME), versions=("1.2", "1.2")) as edge:
        report = _run(peers, Target(HOSTNAME, edge=edge.endpoint, edge_http=peers.redirect))
        seen = edge.connections_seen

    check = _check(report, "edge.tls_1_3")
    assert check.status is Status.FAIL
    assert check.observed == "1.3 refused"
    assert "protocol_version" in check.detail
    assert seen == 5  # 1.0, 1.1, 1.2, HTTPS, and the pinned 1.3


def test_concurrency_one_gives_the_same_report(peers: Peers) -> None:
    targets = [peers.target(), peers.target("edge_526", "origin_legacy")]
    wide = verify(targets, Baseline(), peers.options())
    narrow = verify(targets, Baseline(), peers.options(concurrency=1))

    assert [[(c.id, c.status) for c in t.checks] for t in narrow.targets] == [
        [(c.id, c.status) for c in t.checks] for t in wide.targets
    ]
