"""GnuTLS's refusal of a missing client certificate, read right (issue 17), against a real ``gnutls-serv``.

On TLS 1.2, ``gnutls-serv --require-client-cert`` answers the pull without a certificate with the alert
``decode_error``, not one of the alerts that name the certificate. ``origin.aop`` reads it as the refusal only with
the evidence that it is one: the server sent a CertificateRequest in that handshake, and the same server accepts the
pull that presents the authorised certificate. The twins: no ``--client-cert`` to compare with, a certificate the
server refuses too, a ``decode_error`` from a server that never asked for a certificate (a Python peer: no real
server does that on demand).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.probes import AopOutcome, probe_origin_pull
from origin_tls.report import Check, Status
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers import HOSTNAME
from tests.peers.gnutls import GnutlsServer
from tests.peers.listeners import ClientAuth, TlsListener
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.tls_servers import AlertAfterServerFlight, closed_port

_V12, _V13 = TlsVersion.TLS_1_2, TlsVersion.TLS_1_3
VARIANTS = {
    "require_12": (ClientAuth.REQUIRE, (_V12, _V12)),
    "require_13": (ClientAuth.REQUIRE, (_V13, _V13)),
    "optional_12": (ClientAuth.OPTIONAL, (_V12, _V12)),
}


@pytest.fixture(scope="module")
def gnutls(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> Iterator[dict[str, Endpoint]]:
    why = GnutlsServer.unavailable()
    if why is not None:
        pytest.skip(why)
    endpoints = {}
    servers = []
    try:
        for name, (auth, versions) in VARIANTS.items():
            listener = TlsListener(
                name, pki.origin(HOSTNAME), versions=versions, client_auth=auth, client_ca=pki.client_ca.cert_path
            )
            servers.append(GnutlsServer(tmp_path_factory.mktemp(f"gnutls-{name}"), HOSTNAME, [listener]).start())
            endpoints[name] = listener.endpoint
        yield endpoints
    finally:
        for server in servers:
            server.stop()


def _origin_checks(pki: TestPki, origin: Endpoint, client: IssuedCert | None) -> dict[str, Check]:
    """verify() against ``origin`` alone (the edge is a closed port: its checks are not the question here)."""
    options = VerifyOptions(
        origin_ca_pem=pki.origin_ca.cert_pem,
        client_cert_pem=client.cert_pem if client else None,
        client_key_pem=client.key_pem if client else None,
        timeout=5.0,
    )
    target = Target(HOSTNAME, edge=closed_port(), edge_http=closed_port(), origin=origin)
    report = verify([target], Baseline(), options)
    return {check.id: check for check in report.targets[0].checks}


# --------------------------------------------------------------------------------------------------------------
# What gnutls-serv sends (tests/README.md's table)


def test_gnutls_answers_a_pull_without_a_certificate_on_tls12_with_decode_error_after_asking_for_one(
    gnutls: dict[str, Endpoint],
) -> None:
    result = probe_origin_pull(gnutls["require_12"], HOSTNAME, timeout=5.0)
    assert (result.outcome, result.alert, result.certificate_requested) == (AopOutcome.ERROR, "decode_error", True)
    assert "during the handshake" in result.detail


def test_gnutls_on_tls13_sends_certificate_required_on_the_first_read(gnutls: dict[str, Endpoint]) -> None:
    result = probe_origin_pull(gnutls["require_13"], HOSTNAME, timeout=5.0)
    assert (result.outcome, result.how, result.alert) == (
        AopOutcome.REFUSED,
        "tls-alert-after-handshake",
        "certificate_required",
    )
    assert result.certificate_requested is None  # encrypted on TLS 1.3: not seen, not needed


@pytest.mark.parametrize(
    ("variant", "how"), [("require_12", "tls-alert-handshake"), ("require_13", "tls-alert-after-handshake")]
)
def test_gnutls_refuses_an_untrusted_certificate_with_access_denied(
    gnutls: dict[str, Endpoint], pki: TestPki, variant: str, how: str
) -> None:
    client = pki.rogue_client()
    result = probe_origin_pull(
        gnutls[variant], HOSTNAME, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem, timeout=5.0
    )
    assert (result.outcome, result.how, result.alert) == (AopOutcome.REFUSED, how, "access_denied")


# --------------------------------------------------------------------------------------------------------------
# origin.aop on real gnutls-serv


def test_gnutls_decode_error_is_a_refusal_when_the_same_server_accepts_the_client_certificate(
    gnutls: dict[str, Endpoint], pki: TestPki
) -> None:
    checks = _origin_checks(pki, gnutls["require_12"], pki.client())
    assert checks["origin.aop_client"].status is Status.PASS
    assert checks["origin.aop"].status is Status.PASS
    assert "decode_error after a CertificateRequest" in checks["origin.aop"].observed
    assert checks["origin.min_tls_version"].status is Status.PASS  # the version probes present the certificate


def test_twin_without_a_client_certificate_to_compare_the_decode_error_stays_inconclusive(
    gnutls: dict[str, Endpoint], pki: TestPki
) -> None:
    check = _origin_checks(pki, gnutls["require_12"], None)["origin.aop"]
    assert check.status is Status.INCONCLUSIVE
    assert "decode_error" in check.detail
    assert "no --client-cert given" in check.detail


def test_twin_a_server_that_also_refuses_the_client_certificate_stays_inconclusive(
    gnutls: dict[str, Endpoint], pki: TestPki
) -> None:
    checks = _origin_checks(pki, gnutls["require_12"], pki.rogue_client())
    assert checks["origin.aop_client"].status is Status.FAIL
    assert checks["origin.aop"].status is Status.INCONCLUSIVE
    assert "the pull with --client-cert was not accepted either (refused" in checks["origin.aop"].detail


def test_tls13_gnutls_refusal_needs_no_comparison(gnutls: dict[str, Endpoint], pki: TestPki) -> None:
    assert _origin_checks(pki, gnutls["require_13"], None)["origin.aop"].status is Status.PASS


def test_gnutls_that_only_asks_for_the_certificate_fails_origin_aop(gnutls: dict[str, Endpoint], pki: TestPki) -> None:
    result = probe_origin_pull(gnutls["optional_12"], HOSTNAME, timeout=5.0)
    assert (result.outcome, result.certificate_requested) == (AopOutcome.ACCEPTED, True)
    check = _origin_checks(pki, gnutls["optional_12"], pki.client())["origin.aop"]
    assert check.status is Status.FAIL


# --------------------------------------------------------------------------------------------------------------
# The twin no real server gives on demand: decode_error, no certificate asked for


def test_twin_decode_error_from_a_server_that_did_not_ask_for_a_certificate_stays_inconclusive(pki: TestPki) -> None:
    with AlertAfterServerFlight(pki.origin(HOSTNAME)).start() as server:
        result = probe_origin_pull(server.endpoint, HOSTNAME, timeout=5.0)
        assert (result.outcome, result.alert, result.certificate_requested) == (AopOutcome.ERROR, "decode_error", False)
        check = _origin_checks(pki, server.endpoint, pki.client())["origin.aop"]
    assert check.status is Status.INCONCLUSIVE
    assert "decode_error" in check.detail


def test_the_twin_server_does_show_a_certificate_request_when_it_asks(pki: TestPki) -> None:
    # The twin above differs from gnutls-serv in the request alone: asked, the probe sees it.
    with AlertAfterServerFlight(pki.origin(HOSTNAME), client_ca=pki.client_ca.cert_path).start() as server:
        result = probe_origin_pull(server.endpoint, HOSTNAME, timeout=5.0)
    assert (result.alert, result.certificate_requested) == ("decode_error", True)
