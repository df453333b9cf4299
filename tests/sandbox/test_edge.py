"""The emulated edge obeys the zone's settings on the next connection: TLS floor and 1.3, HSTS, the HTTP redirect,
and how it pulls from the origin in each SSL mode (with the AOP client certificate of the active level)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from origin_tls import certs
from origin_tls.baseline import Endpoint, KeyType
from origin_tls.cloudflare import CloudflareClient
from origin_tls.demo import build_self_signed
from origin_tls.sandbox import ApiServer, ZoneState
from origin_tls.sandbox.edge import Edge, EdgePki, build_edge_pki, parse_edge_settings
from origin_tls.sandbox.origin import NginxOrigin, OriginConfig, PythonOrigin, find_nginx, start_origin

HOST = "app.sandbox.test"
ZONE = "0123456789abcdef0123456789abcdef"
TOKEN = "edge-test-token"


@dataclass
class Zone:
    state: ZoneState
    pki: EdgePki
    edge: Edge
    origin: NginxOrigin | PythonOrigin
    good: OriginConfig


def _origin_config(state: ZoneState) -> OriginConfig:
    key = certs.generate_private_key(KeyType.ECDSA_P256)
    signed = state.origin_ca.sign_csr(certs.build_csr(key, [HOST]), [HOST], "origin-ecc", 365)
    return OriginConfig(signed.certificate_pem, certs.private_key_to_pem(key), client_ca_pem=state.global_aop.ca_pem)


@pytest.fixture(params=["nginx", "python"])
def zone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Zone]:
    if request.param == "nginx" and find_nginx() is None:
        pytest.skip("nginx not installed")
    state = ZoneState(zone_id=ZONE, hostnames=[HOST], account_token=TOKEN)
    good = _origin_config(state)
    origin = start_origin(tmp_path / "origin", good, hostnames=[HOST], use_nginx=request.param == "nginx")
    pki = build_edge_pki([HOST])
    edge = Edge(
        state, pki, origin_https=origin.https, origin_http=origin.http, origin_trust_pem=state.origin_ca.trust_pem
    )
    try:
        edge.start()
        yield Zone(state, pki, edge, origin, good)
    finally:
        edge.stop()
        origin.stop()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    version: str | None


def _client_context(pki: EdgePki, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.ca_pem)
    if version is not None:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
    return context


def fetch(endpoint: Endpoint, *, context: ssl.SSLContext | None = None, host: str = HOST, path: str = "/") -> Answer:
    sock: socket.socket = socket.create_connection((endpoint.host, endpoint.port), timeout=5)
    try:
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        return Answer(response.status, response.headers, response.read(), version)
    finally:
        sock.close()


def https(zone: Zone, version: ssl.TLSVersion | None = None, **kwargs: str) -> Answer:
    return fetch(zone.edge.https, context=_client_context(zone.pki, version), **kwargs)


def handshake_refused(zone: Zone, version: ssl.TLSVersion) -> bool:
    try:
        https(zone, version)
    except ssl.SSLError:
        return True
    return False


def harden_pulls(zone: Zone, mode: str = "strict") -> None:
    zone.state.set_setting("ssl", mode)
    zone.state.set_setting("tls_client_auth", "on")


# -- the TLS listener


def test_edge_certificate_chains_to_the_edge_ca_for_the_hostname(zone: Zone) -> None:
    assert https(zone).status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(zone.edge.https, context=_client_context(build_edge_pki([HOST])))  # another sandbox's CA
    with pytest.raises(ssl.SSLCertVerificationError):
        https(zone, host="other.example.test")


def test_min_tls_version_applies_to_the_next_connection(zone: Zone) -> None:
    # Given the fresh zone's floor of 1.0, old versions are accepted
    assert not handshake_refused(zone, ssl.TLSVersion.TLSv1)
    assert not handshake_refused(zone, ssl.TLSVersion.TLSv1_1)
    # When the floor is raised, Then they are refused and 1.2 still works
    zone.state.set_setting("min_tls_version", "1.2")
    assert handshake_refused(zone, ssl.TLSVersion.TLSv1)
    assert handshake_refused(zone, ssl.TLSVersion.TLSv1_1)
    assert https(zone, ssl.TLSVersion.TLSv1_2).version == "TLSv1.2"
    zone.state.set_setting("min_tls_version", "1.3")
    assert handshake_refused(zone, ssl.TLSVersion.TLSv1_2)


def test_tls_1_3_setting(zone: Zone) -> None:
    assert https(zone).version == "TLSv1.3"
    zone.state.set_setting("tls_1_3", "off")
    assert https(zone).version == "TLSv1.2"
    assert handshake_refused(zone, ssl.TLSVersion.TLSv1_3)


def test_hsts_header_follows_security_header(zone: Zone) -> None:
    assert https(zone).headers.get_all("Strict-Transport-Security") is None
    value = {"enabled": True, "max_age": 31536000, "include_subdomains": True, "preload": False, "nosniff": True}
    zone.state.set_setting("security_header", {"strict_transport_security": value})
    answer = https(zone)
    assert answer.headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # Never over plain HTTP (RFC 6797 7.2)
    assert fetch(zone.edge.http).headers.get_all("Strict-Transport-Security") is None
    zone.state.set_setting("security_header", {"strict_transport_security": {**value, "preload": True}})
    assert https(zone).headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    zone.state.set_setting("security_header", {"strict_transport_security": {**value, "enabled": False}})
    assert https(zone).headers.get_all("Strict-Transport-Security") is None


def test_hsts_is_sent_on_error_answers_too(zone: Zone) -> None:
    value = {"enabled": True, "max_age": 600, "include_subdomains": False, "preload": False, "nosniff": False}
    zone.state.set_setting("security_header", {"strict_transport_security": value})
    harden_pulls(zone)
    cert, key = build_self_signed(HOST)
    zone.origin.reconfigure(replace(zone.good, certificate_pem=cert, private_key_pem=key))
    answer = https(zone)
    assert answer.status == 526
    assert answer.headers["Strict-Transport-Security"] == "max-age=600"


def test_unknown_host_is_refused_with_1003(zone: Zone) -> None:
    answer = fetch(zone.edge.http, host="127.0.0.1")
    assert answer.status == 403
    assert b"1003" in answer.body


# -- the HTTP listener


def test_always_use_https_redirects_same_host_and_path(zone: Zone) -> None:
    assert fetch(zone.edge.http).status == 200  # twin: off proxies
    zone.state.set_setting("always_use_https", "on")
    answer = fetch(zone.edge.http, path="/a/b?c=d")
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://{HOST}/a/b?c=d"


def test_ssl_off_sends_https_visitors_to_http(zone: Zone) -> None:
    zone.state.set_setting("ssl", "off")
    answer = https(zone)
    assert answer.status == 301
    assert answer.headers["Location"] == f"http://{HOST}/"


# -- pulls from the origin


@pytest.mark.parametrize(("mode", "status"), [("strict", 526), ("full", 200), ("flexible", 200)])
def test_self_signed_origin_only_fails_in_strict(zone: Zone, mode: str, status: int) -> None:
    harden_pulls(zone, mode)
    cert, key = build_self_signed(HOST)
    zone.origin.reconfigure(replace(zone.good, certificate_pem=cert, private_key_pem=key))
    assert https(zone).status == status


def test_strict_accepts_the_origin_ca_certificate(zone: Zone) -> None:
    harden_pulls(zone, "strict")
    answer = https(zone)
    assert answer.status == 200
    assert answer.body == b"origin ok\n"


def test_strict_checks_the_hostname(zone: Zone) -> None:
    harden_pulls(zone, "strict")
    key = certs.generate_private_key(KeyType.ECDSA_P256)
    other = "other.sandbox.test"
    signed = zone.state.origin_ca.sign_csr(certs.build_csr(key, [other]), [other], "origin-ecc", 365)
    zone.origin.reconfigure(
        replace(zone.good, certificate_pem=signed.certificate_pem, private_key_pem=certs.private_key_to_pem(key))
    )
    assert https(zone).status == 526


def test_flexible_pulls_plain_http_without_a_client_certificate(zone: Zone) -> None:
    zone.state.set_setting("ssl", "flexible")
    zone.state.set_setting("tls_client_auth", "off")
    assert https(zone).status == 200  # the origin's plain-HTTP port has no AOP


def test_aop_client_certificate_of_the_active_level_is_presented(zone: Zone) -> None:
    # The origin requires the global pull CA: without tls_client_auth the edge sends nothing and nginx answers 400
    zone.state.set_setting("ssl", "full")
    assert https(zone).status == 400
    zone.state.set_setting("tls_client_auth", "on")
    assert https(zone).status == 200


def test_an_origin_refusing_the_client_certificate_is_answered_as_cloudflare_would(zone: Zone) -> None:
    harden_pulls(zone, "full")
    assert https(zone).status == 200  # twin: the pull CA the origin trusts
    # An origin that trusts a different pull CA refuses the edge's certificate: the Python origin with an alert in
    # the handshake (Cloudflare: 525), nginx by completing it and answering 400 "The SSL certificate error", which
    # Cloudflare passes through as it passes every answer of the origin.
    rogue = certs.build_client_ca("rogue pull CA")
    zone.origin.reconfigure(replace(zone.good, client_ca_pem=rogue.certificate_pem))
    answer = https(zone)
    if zone.origin.kind == "nginx":
        assert answer.status == 400
        assert b"The SSL certificate error" in answer.body
    else:
        assert answer.status == 525
        assert answer.body == b"error code: 525 (SSL handshake failed)\n"


def test_an_origin_that_resets_after_the_handshake_is_520(zone: Zone, tmp_path: Path) -> None:
    # A TLS listener that completes the handshake and then resets the connection without an answer (no client
    # certificate offered: with one, under TLS 1.3 a reset before the answer is how a refused certificate looks).
    zone.state.set_setting("ssl", "full")
    listener = socket.create_server(("127.0.0.1", 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (tmp_path / "c.pem").write_text(zone.good.certificate_pem)
    (tmp_path / "k.pem").write_text(zone.good.private_key_pem)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError):
            tls = context.wrap_socket(conn, server_side=True)
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    edge = Edge(
        zone.state,
        zone.pki,
        origin_https=Endpoint("127.0.0.1", port),
        origin_http=Endpoint("127.0.0.1", port),
        origin_trust_pem=zone.state.origin_ca.trust_pem,
    ).start()
    try:
        assert fetch(edge.https, context=_client_context(zone.pki)).status == 520
    finally:
        edge.stop()
        listener.close()
        thread.join(timeout=5)


def test_origin_down_is_521(zone: Zone) -> None:
    harden_pulls(zone, "full")
    zone.origin.stop()
    assert https(zone).status == 521


def test_change_through_the_api_shows_within_a_second(zone: Zone) -> None:
    api = ApiServer(zone.state).start()
    try:
        with CloudflareClient(TOKEN, base_url=api.url) as client:
            client.edit_setting(ZONE, "always_use_https", "on")
            deadline = time.monotonic() + 1.0
            while fetch(zone.edge.http).status != 301:
                assert time.monotonic() < deadline, "the redirect did not appear within a second"
                time.sleep(0.05)
    finally:
        api.stop()


def test_parse_edge_settings_defaults_are_permissive() -> None:
    parsed = parse_edge_settings({})
    assert parsed.ssl_mode == "off"
    assert parsed.min_tls == "1.0"
    assert parsed.hsts is None
    parsed = parse_edge_settings({"security_header": {"strict_transport_security": {"enabled": True, "max_age": 5}}})
    assert parsed.hsts == "max-age=5"
