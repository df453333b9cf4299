"""origin_tls.probes against real peers on loopback: nginx (Debian package) and Python ssl servers.

Each "accepted"/"verified" case has a twin where the same probe must report the opposite.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509

from origin_tls.baseline import Endpoint, TlsVersion
from origin_tls.errors import InvalidInput
from origin_tls.probes import (
    AopOutcome,
    TlsOutcome,
    can_offer,
    fetch_certificate,
    probe_http_redirect,
    probe_https,
    probe_origin_pull,
    probe_tls_version,
    probe_tls_versions,
    run_concurrently,
)
from tests.peers import HOSTNAME
from tests.peers.nginx import CommonSites, NginxServer
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.tls_servers import HttpAnswerServer, PeerServer, Tarpit, client_auth_server, closed_port

T = TypeVar("T")
TIMEOUT = 5.0
ALL_VERSIONS = tuple(TlsVersion)
STS = "max-age=31536000; includeSubDomains"


def _cn(der: bytes | None) -> str:
    assert der is not None
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


# --------------------------------------------------------------------------------------------------------------
# TLS versions


def test_modern_nginx_refuses_legacy_versions_and_accepts_modern(nginx_sites: CommonSites) -> None:
    results = probe_tls_versions(nginx_sites.modern.endpoint, HOSTNAME, ALL_VERSIONS, timeout=TIMEOUT)

    assert list(results) == list(ALL_VERSIONS)
    outcomes = {version: result.outcome for version, result in results.items()}
    assert outcomes == {
        TlsVersion.TLS_1_0: TlsOutcome.REFUSED,
        TlsVersion.TLS_1_1: TlsOutcome.REFUSED,
        TlsVersion.TLS_1_2: TlsOutcome.ACCEPTED,
        TlsVersion.TLS_1_3: TlsOutcome.ACCEPTED,
    }
    assert "protocol_version" in results[TlsVersion.TLS_1_0].detail
    assert results[TlsVersion.TLS_1_2].negotiated == "TLSv1.2"
    assert results[TlsVersion.TLS_1_3].negotiated == "TLSv1.3"


def test_legacy_nginx_really_accepts_tls_1_0_and_1_1(nginx_sites: CommonSites) -> None:
    # The twin of the test above: the same probe, a server that does speak TLS 1.0/1.1 (seclevel 0).
    results = probe_tls_versions(nginx_sites.legacy.endpoint, HOSTNAME, ALL_VERSIONS, timeout=TIMEOUT)

    assert {v: r.outcome for v, r in results.items()} == dict.fromkeys(ALL_VERSIONS, TlsOutcome.ACCEPTED)
    assert results[TlsVersion.TLS_1_0].negotiated == "TLSv1"
    assert results[TlsVersion.TLS_1_1].negotiated == "TLSv1.1"


def test_nginx_without_tls_1_3_refuses_it(nginx_sites: CommonSites) -> None:
    refused = probe_tls_version(nginx_sites.tls12_only.endpoint, HOSTNAME, TlsVersion.TLS_1_3, timeout=TIMEOUT)
    accepted = probe_tls_version(nginx_sites.modern.endpoint, HOSTNAME, TlsVersion.TLS_1_3, timeout=TIMEOUT)

    assert refused.outcome is TlsOutcome.REFUSED, refused.detail
    assert refused.negotiated is None
    assert accepted.outcome is TlsOutcome.ACCEPTED


def test_nginx_listing_tls_1_0_without_seclevel_0_still_refuses_it(
    make_nginx: Callable[[], NginxServer], pki: TestPki
) -> None:
    # Debian's nginx 1.22 + OpenSSL 3: "ssl_protocols TLSv1" alone is not enough, the server's own security level
    # forbids TLS 1.0/1.1 and it answers internal_error. A server's refusal all the same: REFUSED, not ERROR.
    server = make_nginx()
    listed = server.add_tls_site(HOSTNAME, cert=pki.good(HOSTNAME), protocols=("TLSv1", "TLSv1.1", "TLSv1.2"),
                                 ciphers="DEFAULT")  # fmt: skip
    legacy_only = server.add_tls_site(HOSTNAME, cert=pki.good(HOSTNAME), protocols=("TLSv1", "TLSv1.1"))
    server.start()

    listed_results = probe_tls_versions(listed.endpoint, HOSTNAME, ALL_VERSIONS, timeout=TIMEOUT)
    legacy_results = probe_tls_versions(legacy_only.endpoint, HOSTNAME, ALL_VERSIONS, timeout=TIMEOUT)

    assert [r.outcome for r in listed_results.values()] == [
        TlsOutcome.REFUSED, TlsOutcome.REFUSED, TlsOutcome.ACCEPTED, TlsOutcome.REFUSED
    ]  # fmt: skip
    assert "internal_error" in listed_results[TlsVersion.TLS_1_0].detail
    assert [r.outcome for r in legacy_results.values()] == [
        TlsOutcome.ACCEPTED, TlsOutcome.ACCEPTED, TlsOutcome.REFUSED, TlsOutcome.REFUSED
    ]  # fmt: skip


def test_this_openssl_can_offer_every_version() -> None:
    # The honesty rule depends on it: if this fails, TLS 1.0 "refused" results would be the client's doing.
    for version in ALL_VERSIONS:
        offerable, why = can_offer(version)
        assert offerable, why


def test_client_that_cannot_offer_is_not_reported_as_refused(
    nginx_sites: CommonSites, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Python whose OpenSSL lacks TLS 1.0 (simulated: the ssl flag the probe reads is off)
    import origin_tls.tls_client as tls_client

    monkeypatch.setitem(tls_client._HAS_VERSION, TlsVersion.TLS_1_0, False)
    tls_client.can_offer.cache_clear()
    try:
        result = probe_tls_version(nginx_sites.modern.endpoint, HOSTNAME, TlsVersion.TLS_1_0, timeout=TIMEOUT)
    finally:
        monkeypatch.undo()
        tls_client.can_offer.cache_clear()

    assert result.outcome is TlsOutcome.CLIENT_CANNOT_OFFER
    assert "without TLS 1.0" in result.detail


def test_default_security_level_cannot_offer_tls_1_0() -> None:
    # What the probe guards against: OpenSSL 3 at the default security level sends nothing for TLS 1.0.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.warns(DeprecationWarning, match="TLSv1"):
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    obj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=HOSTNAME)
    with pytest.raises(ssl.SSLError) as raised:
        obj.do_handshake()
    assert raised.value.reason in {"NO_CIPHERS_AVAILABLE", "NO_PROTOCOLS_AVAILABLE"}


def test_plain_http_port_is_an_error_not_a_refusal(nginx_sites: CommonSites) -> None:
    result = probe_tls_version(nginx_sites.no_redirect.endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=TIMEOUT)

    assert result.outcome is TlsOutcome.ERROR, result.detail


# --------------------------------------------------------------------------------------------------------------
# Unreachable peers, bounded in time


@pytest.fixture
def tarpit() -> Iterator[PeerServer]:
    with Tarpit() as server:
        yield server


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_tarpit_is_unreachable_within_bounded_time(tarpit: PeerServer) -> None:
    endpoint = tarpit.endpoint
    with ThreadPoolExecutor(max_workers=5) as pool:
        version_f = pool.submit(_timed, lambda: probe_tls_version(endpoint, HOSTNAME, TlsVersion.TLS_1_2, timeout=1))
        https_f = pool.submit(_timed, lambda: probe_https(endpoint, HOSTNAME, ca_pem=None, timeout=1))
        redirect_f = pool.submit(_timed, lambda: probe_http_redirect(endpoint, HOSTNAME, timeout=1))
        fetched_f = pool.submit(_timed, lambda: fetch_certificate(endpoint, HOSTNAME, timeout=1))
        pull_f = pool.submit(_timed, lambda: probe_origin_pull(endpoint, HOSTNAME, timeout=1))
    (version, t1), (https, t2), (redirect, t3) = version_f.result(), https_f.result(), redirect_f.result()
    (fetched, t4), (pull, t5) = fetched_f.result(), pull_f.result()

    assert max(t1, t2, t3, t4, t5) < 10
    assert tarpit.connections_seen >= 5  # the TCP connections were made: it is the silence that is unreachable
    assert version.outcome is TlsOutcome.UNREACHABLE
    assert https.reached is False
    assert https.verified is None
    assert "timeout" in https.detail
    assert redirect.reached is False
    assert fetched.reached is False
    assert fetched.certificate_der is None
    assert pull.outcome is AopOutcome.UNREACHABLE


def test_closed_port_is_unreachable_quickly() -> None:
    endpoint = closed_port()

    version, elapsed = _timed(lambda: probe_tls_version(endpoint, HOSTNAME, TlsVersion.TLS_1_3, timeout=1))
    pull = probe_origin_pull(endpoint, HOSTNAME, timeout=1)
    https = probe_https(endpoint, HOSTNAME, ca_pem=None, timeout=1)
    redirect = probe_http_redirect(endpoint, HOSTNAME, timeout=1)
    fetched = fetch_certificate(endpoint, HOSTNAME, timeout=1)

    assert elapsed < 10
    assert version.outcome is TlsOutcome.UNREACHABLE
    assert "connection refused" in version.detail
    assert pull.outcome is AopOutcome.UNREACHABLE
    assert (https.reached, redirect.reached, fetched.reached) == (False, False, False)


def test_unresolvable_name_is_unreachable() -> None:
    result = probe_tls_version(Endpoint("does-not-exist.invalid", 443), HOSTNAME, TlsVersion.TLS_1_2, timeout=2)

    assert result.outcome is TlsOutcome.UNREACHABLE


# --------------------------------------------------------------------------------------------------------------
# HTTPS: certificate verification and Strict-Transport-Security headers


def test_https_verified_with_the_right_ca_and_one_sts_header(nginx_sites: CommonSites, pki: TestPki) -> None:
    result = probe_https(nginx_sites.modern.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.reached
    assert result.status == 200
    assert result.verified is True
    assert result.verify_error == ""
    assert result.sts_headers == (STS,)
    assert result.negotiated == "TLSv1.3"
    assert "app.example.com" not in _cn(result.certificate_der)  # good() leaves have no CN: SAN only
    assert x509.load_der_x509_certificate(result.certificate_der or b"").issuer == pki.ca.subject


def test_https_with_the_wrong_ca_is_unverified_but_still_read(nginx_sites: CommonSites, pki: TestPki) -> None:
    result = probe_https(nginx_sites.modern.endpoint, HOSTNAME, ca_pem=pki.other_ca.cert_pem, timeout=TIMEOUT)

    assert result.verified is False
    # nginx serves leaf + test root, so OpenSSL meets an untrusted self-signed root in the chain.
    assert result.verify_error == "certificate verify failed: self-signed certificate in certificate chain"
    assert result.reached
    assert result.status == 200
    assert result.sts_headers == (STS,)
    assert result.certificate_der is not None


def test_https_with_the_system_store_does_not_trust_the_test_ca(nginx_sites: CommonSites) -> None:
    result = probe_https(nginx_sites.modern.endpoint, HOSTNAME, ca_pem=None, timeout=TIMEOUT)

    assert result.verified is False
    assert result.reached


def test_https_certificate_for_another_host_is_unverified(nginx_sites: CommonSites, pki: TestPki) -> None:
    result = probe_https(nginx_sites.wrong_host.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.verified is False
    assert "Hostname mismatch" in result.verify_error
    assert result.sts_headers == (STS,)


def test_https_expired_certificate_is_unverified_with_the_reason(pki: TestPki) -> None:
    with HttpAnswerServer(cert=pki.expired(HOSTNAME)) as server:
        result = probe_https(server.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.verified is False
    assert result.verify_error == "certificate verify failed: certificate has expired"
    assert result.status == 200


def test_https_with_unloadable_ca_reports_verification_as_not_tried(nginx_sites: CommonSites) -> None:
    result = probe_https(nginx_sites.modern.endpoint, HOSTNAME, ca_pem="not a certificate", timeout=TIMEOUT)

    assert result.verified is None
    assert result.verify_error.startswith("the CA certificates could not be loaded")
    assert result.status == 200


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("no_sts", ()),
        ("modern", (STS,)),
        ("two_sts", (STS, "max-age=0")),
        ("upper_sts", (STS,)),
        ("quoted_sts", ('max-age="31536000"; includeSubDomains',)),
    ],
)
def test_https_collects_every_sts_header_raw(
    nginx_sites: CommonSites, pki: TestPki, site: str, expected: tuple[str, ...]
) -> None:
    endpoint = getattr(nginx_sites, site).endpoint

    result = probe_https(endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.verified is True
    assert result.sts_headers == expected


def test_https_keeps_odd_header_spellings_in_order(pki: TestPki) -> None:
    lines = ["strict-transport-security: max-age=1", "X-Other: 1", "Strict-Transport-Security:max-age=2;;preload"]
    with HttpAnswerServer(cert=pki.good(HOSTNAME), header_lines=lines) as server:
        result = probe_https(server.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.sts_headers == ("max-age=1", "max-age=2;;preload")


def test_https_sends_sni_and_host_for_the_hostname(pki: TestPki) -> None:
    with HttpAnswerServer(cert=pki.good(HOSTNAME)) as server:
        result = probe_https(server.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)
        (request,) = server.requests

    assert result.verified is True  # SNI/hostname check was against HOSTNAME, not 127.0.0.1
    assert request.startswith(b"GET / HTTP/1.1\r\n")
    assert f"Host: {HOSTNAME}\r\n".encode() in request


def test_https_to_a_plain_http_port_is_not_reached(nginx_sites: CommonSites, pki: TestPki) -> None:
    result = probe_https(nginx_sites.no_redirect.endpoint, HOSTNAME, ca_pem=pki.ca.cert_pem, timeout=TIMEOUT)

    assert result.reached is False
    assert result.verified is None
    assert "TLS error" in result.detail


# --------------------------------------------------------------------------------------------------------------
# Plain HTTP redirect


def test_http_redirects_to_https_on_the_same_host(nginx_sites: CommonSites) -> None:
    result = probe_http_redirect(nginx_sites.redirect.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.reached
    assert result.status == 301
    assert result.location == f"https://{HOSTNAME}/"


def test_http_without_redirect_is_reported_as_it_is(nginx_sites: CommonSites) -> None:
    result = probe_http_redirect(nginx_sites.no_redirect.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.reached
    assert result.status == 200
    assert result.location is None


# --------------------------------------------------------------------------------------------------------------
# Certificate fetch


def test_fetch_certificate_from_nginx_requiring_client_certs(nginx_sites: CommonSites, pki: TestPki) -> None:
    result = fetch_certificate(nginx_sites.aop_on.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.reached
    assert (
        _cn(result.certificate_der)
        == f"CN={HOSTNAME},OU=CloudFlare Origin SSL ECC Certificate Authority,O=CloudFlare\\, Inc."
    )
    assert x509.load_der_x509_certificate(result.certificate_der or b"").issuer == pki.origin_ca.subject


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_fetch_certificate_when_the_handshake_is_aborted_for_a_client_cert(pki: TestPki, version: str) -> None:
    leaf = pki.origin(HOSTNAME)
    with client_auth_server(leaf, pki.client_ca.cert_path, version=version) as server:
        result = fetch_certificate(server.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.reached, result.detail
    assert result.certificate_der == leaf.cert_der


def test_fetch_certificate_returns_the_certificate_actually_served(nginx_sites: CommonSites, pki: TestPki) -> None:
    # Twin: a different site returns a different certificate (no caching, no mix-up).
    origin = fetch_certificate(nginx_sites.origin.endpoint, HOSTNAME, timeout=TIMEOUT)
    good = fetch_certificate(nginx_sites.modern.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert origin.certificate_der is not None
    assert good.certificate_der is not None
    assert origin.certificate_der != good.certificate_der
    assert x509.load_der_x509_certificate(good.certificate_der).issuer == pki.ca.subject


def test_fetch_certificate_from_a_legacy_only_server(make_nginx: Callable[[], NginxServer], pki: TestPki) -> None:
    server = make_nginx()
    leaf = pki.good(HOSTNAME)
    site = server.add_tls_site(HOSTNAME, cert=leaf, protocols=("TLSv1",))
    server.start()

    result = fetch_certificate(site.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.certificate_der == leaf.cert_der
    assert result.negotiated == "TLSv1"


# --------------------------------------------------------------------------------------------------------------
# Authenticated Origin Pulls


def test_nginx_verify_client_on_refuses_with_http_400(nginx_sites: CommonSites) -> None:
    result = probe_origin_pull(nginx_sites.aop_on.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.outcome is AopOutcome.REFUSED
    assert result.how == "http-400-no-cert"
    assert result.status == 400


@pytest.mark.parametrize("site", ["aop_optional", "origin"])
def test_nginx_optional_or_absent_client_auth_accepts(nginx_sites: CommonSites, site: str) -> None:
    result = probe_origin_pull(getattr(nginx_sites, site).endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.outcome is AopOutcome.ACCEPTED
    assert (result.how, result.status) == ("http-200", 200)


def test_nginx_on_accepts_the_authorised_client_certificate(nginx_sites: CommonSites, pki: TestPki) -> None:
    client = pki.client()

    result = probe_origin_pull(
        nginx_sites.aop_on.endpoint, HOSTNAME, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem,
        timeout=TIMEOUT,
    )  # fmt: skip

    assert result.outcome is AopOutcome.ACCEPTED, result.detail
    assert result.status == 200


def test_nginx_on_refuses_a_client_certificate_from_another_ca(nginx_sites: CommonSites, pki: TestPki) -> None:
    rogue = pki.rogue_client()

    result = probe_origin_pull(
        nginx_sites.aop_on.endpoint, HOSTNAME, client_cert_pem=rogue.cert_pem, client_key_pem=rogue.key_pem,
        timeout=TIMEOUT,
    )  # fmt: skip

    assert result.outcome is AopOutcome.REFUSED, result.detail
    assert result.how in {"http-400-cert-error", "tls-alert-handshake", "tls-alert-after-handshake"}


@pytest.mark.parametrize(
    ("version", "how", "negotiated"),
    [("1.2", "tls-alert-handshake", None), ("1.3", "tls-alert-after-handshake", "TLSv1.3")],
)
def test_python_server_requiring_a_client_cert_refuses_by_alert(
    pki: TestPki, version: str, how: str, negotiated: str | None
) -> None:
    with client_auth_server(pki.origin(HOSTNAME), pki.client_ca.cert_path, version=version) as server:
        result = probe_origin_pull(server.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.outcome is AopOutcome.REFUSED, result.detail
    assert result.how == how
    assert result.negotiated == negotiated


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_python_server_requiring_a_client_cert_accepts_the_right_one(pki: TestPki, version: str) -> None:
    client = pki.client()
    with client_auth_server(pki.origin(HOSTNAME), pki.client_ca.cert_path, version=version) as server:
        accepted = probe_origin_pull(
            server.endpoint, HOSTNAME, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem, timeout=TIMEOUT
        )
        rogue = pki.rogue_client()
        refused = probe_origin_pull(
            server.endpoint, HOSTNAME, client_cert_pem=rogue.cert_pem, client_key_pem=rogue.key_pem, timeout=TIMEOUT
        )

    assert accepted.outcome is AopOutcome.ACCEPTED, accepted.detail
    assert refused.outcome is AopOutcome.REFUSED, refused.detail
    assert "unknown_ca" in refused.detail


@pytest.mark.parametrize(("status", "how"), [(495, "http-495"), (496, "http-496")])
def test_http_495_and_496_are_refusals(pki: TestPki, status: int, how: str) -> None:
    with HttpAnswerServer(status=status, cert=pki.origin(HOSTNAME)) as server:
        result = probe_origin_pull(server.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert (result.outcome, result.how, result.status) == (AopOutcome.REFUSED, how, status)


@pytest.mark.parametrize("body", [b"bad request\n", b"<center>No required SSL certificate</center>"])
def test_other_http_400_answers_are_not_refusals(pki: TestPki, body: bytes) -> None:
    # Twin of the nginx case: a 400 that is not nginx's client-certificate page proves nothing about AOP.
    with HttpAnswerServer(status=400, body=body, cert=pki.origin(HOSTNAME)) as server:
        result = probe_origin_pull(server.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.outcome is AopOutcome.ACCEPTED
    assert result.how == "http-400"


def test_a_protocol_version_alert_is_not_evidence_of_client_auth(
    make_nginx: Callable[[], NginxServer], pki: TestPki
) -> None:
    server = make_nginx()
    site = server.add_tls_site(HOSTNAME, cert=pki.origin(HOSTNAME), protocols=("TLSv1",))
    server.start()

    result = probe_origin_pull(site.endpoint, HOSTNAME, timeout=TIMEOUT)

    assert result.outcome is AopOutcome.ERROR
    assert "protocol_version" in result.detail


def test_client_key_never_appears_in_results_or_errors(nginx_sites: CommonSites, pki: TestPki) -> None:
    client = pki.client()
    secret = client.key_pem.splitlines()[1]

    result = probe_origin_pull(
        nginx_sites.aop_on.endpoint, HOSTNAME, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem,
        timeout=TIMEOUT,
    )  # fmt: skip
    with pytest.raises(InvalidInput) as mismatched:
        probe_origin_pull(
            nginx_sites.aop_on.endpoint, HOSTNAME, client_cert_pem=client.cert_pem,
            client_key_pem=pki.rogue_client().key_pem, timeout=TIMEOUT,
        )  # fmt: skip

    assert secret not in repr(result)
    assert secret not in str(mismatched.value)
    assert mismatched.value.__cause__ is None
    assert mismatched.value.__context__ is None or secret not in str(mismatched.value.__context__)


def test_client_cert_without_key_is_refused_before_connecting(pki: TestPki) -> None:
    with Tarpit() as tarpit:
        with pytest.raises(InvalidInput):
            probe_origin_pull(tarpit.endpoint, HOSTNAME, client_cert_pem=pki.client().cert_pem, timeout=1)
        seen = tarpit.connections_seen

    assert seen == 0


# --------------------------------------------------------------------------------------------------------------
# Concurrency


def test_run_concurrently_keeps_order() -> None:
    squares = [functools.partial(pow, i, 2) for i in range(20)]

    assert run_concurrently(squares, max_workers=4) == [i * i for i in range(20)]
    assert run_concurrently([], max_workers=4) == []


# --------------------------------------------------------------------------------------------------------------
# TLS 1.3 post-handshake authentication (Apache's SSLVerifyClient per <Location>)


class _PostHandshakeAuthServer(PeerServer):
    """TLS 1.3 only; asks for a client certificate after reading the request (RFC 8446 section 4.6.2), like
    Apache's per-<Location> SSLVerifyClient; answers 403 when the client did not offer post-handshake auth."""

    def __init__(self, cert: IssuedCert, client_ca: Path) -> None:
        super().__init__()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = self.context.maximum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(cert.chain_path, cert.key_path)
        self.context.load_verify_locations(cafile=str(client_ca))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.post_handshake_auth = True

    def handle(self, conn: socket.socket) -> None:
        tls = self.context.wrap_socket(conn, server_side=True)
        while b"\r\n\r\n" not in tls.recv(65536):
            pass
        try:
            tls.verify_client_post_handshake()
        except ssl.SSLError:  # the client did not offer it
            tls.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # carries the CertificateRequest out
        tls.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            tls.recv(1)  # processes the client's Certificate: raises (and alerts) without a valid one
        if not tls.getpeercert():
            return
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")


def test_post_handshake_auth_is_offered_so_a_per_request_check_refuses_or_accepts(pki: TestPki) -> None:
    client, rogue = pki.client(), pki.rogue_client()
    with _PostHandshakeAuthServer(pki.origin(HOSTNAME), pki.client_ca.cert_path) as server:
        without = probe_origin_pull(server.endpoint, HOSTNAME, timeout=TIMEOUT)
        authorised = probe_origin_pull(
            server.endpoint, HOSTNAME, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem, timeout=TIMEOUT
        )
        untrusted = probe_origin_pull(
            server.endpoint, HOSTNAME, client_cert_pem=rogue.cert_pem, client_key_pem=rogue.key_pem, timeout=TIMEOUT
        )

    assert without.outcome is AopOutcome.REFUSED, without.detail
    assert without.how == "tls-alert-after-handshake"
    assert authorised.outcome is AopOutcome.ACCEPTED, authorised.detail
    assert authorised.status == 200
    assert untrusted.outcome is AopOutcome.REFUSED, untrusted.detail
