"""The post-quantum probe against real peers: OpenSSL 4 (pyOpenSSL) and Go crypto/tls on both sides of the line,
scripted answers real servers do not give on demand, and the bounds (closed port, tarpit, trickle, flood).

Each peer that negotiates X25519MLKEM768 has a twin from the same implementation that cannot, and must fail.
Time bounds are correctness bounds (a hang is caught, a slow machine is not failed): elapsed < 3 x timeout + 1 s.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Iterator

import pytest

from origin_tls import pq, pq_wire
from origin_tls.addresses import Endpoint
from origin_tls.pq import X25519MLKEM768, PqOutcome, probe_pq_key_agreement
from origin_tls.pq_wire import SERVER_SHARE_BYTES, build_client_hello
from origin_tls.tls_io import Deadline
from tests.peers import HOSTNAME
from tests.peers.nginx import CommonSites
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.pq_servers import (
    GoPqServer,
    OpenSslPqServer,
    ScriptedServer,
    go_available,
    hello_retry_request,
    openssl_client_group,
    server_hello,
)
from tests.peers.tls_servers import Tarpit, closed_port, someone_connected

TIMEOUT = 3.0
BOUND = 3 * TIMEOUT + 1
X25519 = 0x001D


@pytest.fixture(scope="module")
def cert(pki: TestPki) -> IssuedCert:
    return pki.origin(HOSTNAME)


@pytest.fixture(scope="module")
def go_server(cert: IssuedCert) -> Iterator[type[GoPqServer]]:
    if not go_available():
        pytest.skip("go is not on PATH: the Go crypto/tls peer is built with `go build` (Go 1.24+)")
    return GoPqServer


# ----------------------------------------------------------------------------------------------------------------
# OpenSSL 4 (pyOpenSSL on cryptography's bundled OpenSSL)


def test_openssl_4_with_its_default_groups_negotiates_x25519mlkem768(cert: IssuedCert) -> None:
    with OpenSslPqServer(cert) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.NEGOTIATED, result.detail
    assert result.group == "X25519MLKEM768"
    assert "Finished verified" in result.detail


@pytest.mark.parametrize(
    ("settings", "alert", "words"),
    [
        ({"groups": "X25519:P-256"}, "handshake_failure", "its TLS library has no ML-KEM (OpenSSL 3.5+"),
        ({"max_version": "1.2"}, "protocol_version", "it does not speak TLS 1.3"),
    ],
    ids=["classical groups only", "TLS 1.2 only"],
)
def test_openssl_4_without_the_hybrid_or_tls_1_3_is_refused(
    cert: IssuedCert, settings: dict[str, str], alert: str, words: str
) -> None:
    with OpenSslPqServer(cert, **settings) as server:  # type: ignore[arg-type]
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED
    assert result.alert == alert
    assert words in result.detail


def test_a_server_that_prefers_classical_still_selects_the_hybrid_when_offered_only_it(cert: IssuedCert) -> None:
    # Given an origin whose own preference is X25519 first (server preference on)
    with OpenSslPqServer(cert, groups="X25519:X25519MLKEM768", server_preference=True) as server:
        # Then a client offering both gets the classical group (the peer is what it claims) ...
        assert openssl_client_group(server.endpoint, HOSTNAME) == "x25519"
        # ... and Cloudflare's pqh handshake, offering only the hybrid, gets the hybrid: a pass, as at Cloudflare.
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.NEGOTIATED, result.detail


def test_a_server_without_the_hybrid_in_its_list_is_refused_even_when_it_prefers_classical(cert: IssuedCert) -> None:
    with OpenSslPqServer(cert, groups="X25519:X448", server_preference=True) as server:
        assert openssl_client_group(server.endpoint, HOSTNAME) == "x25519"
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED


def test_a_server_requiring_a_client_certificate_is_judged_on_its_group(pki: TestPki, cert: IssuedCert) -> None:
    # TLS 1.3: the server selects the group and sends its Finished before it sees a client certificate.
    client = pki.client_ca.issue_client("pull")
    with OpenSslPqServer(cert, client_ca=pki.client_ca.cert_path) as server:
        with_cert = probe_pq_key_agreement(
            server.endpoint, HOSTNAME, timeout=TIMEOUT, client_cert_pem=client.cert_pem, client_key_pem=client.key_pem
        )
        without = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert with_cert.outcome is PqOutcome.NEGOTIATED, with_cert.detail
    assert without.outcome is PqOutcome.NEGOTIATED, without.detail


# ----------------------------------------------------------------------------------------------------------------
# Go crypto/tls (built here)


def test_go_crypto_tls_by_default_negotiates_x25519mlkem768(go_server: type[GoPqServer], cert: IssuedCert) -> None:
    with go_server(cert) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.NEGOTIATED, result.detail
    assert result.group == "X25519MLKEM768"


@pytest.mark.parametrize(
    ("settings", "alert"),
    [({"groups": "X25519,P256"}, "handshake_failure"), ({"max_version": "1.2"}, "protocol_version")],
    ids=["classical groups only", "TLS 1.2 only"],
)
def test_go_crypto_tls_without_the_hybrid_or_tls_1_3_is_refused(
    go_server: type[GoPqServer], cert: IssuedCert, settings: dict[str, str], alert: str
) -> None:
    with go_server(cert, **settings) as server:  # type: ignore[arg-type]
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED
    assert result.alert == alert


def test_go_ignores_a_classical_first_preference_when_the_client_offers_the_hybrid(
    go_server: type[GoPqServer], cert: IssuedCert
) -> None:
    # What tests/README.md records: Go 1.24+ picks the hybrid whatever the server's order, so the
    # prefers-classical peer is OpenSSL's; Go's order still decides between classical groups.
    with go_server(cert, groups="X25519,X25519MLKEM768") as server:
        assert openssl_client_group(server.endpoint, HOSTNAME) == "X25519MLKEM768"
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.NEGOTIATED


# ----------------------------------------------------------------------------------------------------------------
# nginx (Debian 12: OpenSSL 3.0, no ML-KEM); the other Debian servers are in tests/servers/test_pq_servers.py


@pytest.mark.parametrize(
    ("site", "alert"),
    [("modern", "handshake_failure"), ("aop_on", "handshake_failure"), ("tls12_only", "protocol_version")],
)
def test_debian_nginx_cannot_negotiate_the_hybrid(nginx_sites: CommonSites, site: str, alert: str) -> None:
    result = probe_pq_key_agreement(getattr(nginx_sites, site).endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED, result.detail
    assert result.alert == alert


# ----------------------------------------------------------------------------------------------------------------
# Scripted answers: what the server selected, read from the bytes


def test_a_hello_retry_request_naming_a_classical_group_is_classical() -> None:
    with ScriptedServer(hello_retry_request(X25519)) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.CLASSICAL
    assert result.group == "x25519"
    assert "HelloRetryRequest" in result.detail


def test_a_hello_retry_request_for_the_share_already_sent_is_refused() -> None:
    with ScriptedServer(hello_retry_request(X25519MLKEM768)) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED


def test_a_server_hello_with_a_classical_share_is_classical() -> None:
    with ScriptedServer(server_hello(version=0x0304, group=X25519, share=os.urandom(32))) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.CLASSICAL
    assert result.group == "x25519"


def test_a_tls_1_2_server_hello_is_tls12_only() -> None:
    with ScriptedServer(server_hello(version=0x0303)) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.TLS12_ONLY
    assert "TLS 1.2" in result.detail


def test_a_server_that_claims_the_hybrid_without_agreeing_the_key_never_passes() -> None:
    # A ServerHello naming X25519MLKEM768 with a well-sized share of random bytes, then a "protected" record: it
    # cannot decrypt under the key the probe derives, so no pass (Cloudflare's handshake would fail there too).
    share = os.urandom(SERVER_SHARE_BYTES - 32) + bytes.fromhex("09" + "00" * 31)  # X25519 base point: valid
    record = b"\x17\x03\x03\x00\x20" + os.urandom(32)
    with ScriptedServer(server_hello(version=0x0304, group=X25519MLKEM768, share=share) + record) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED
    assert "key agreement is broken" in result.detail


def test_a_hybrid_share_of_the_wrong_size_is_refused() -> None:
    with ScriptedServer(server_hello(version=0x0304, group=X25519MLKEM768, share=os.urandom(64))) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.REFUSED
    assert "1120" in result.detail


def test_an_answer_that_is_not_tls_is_inconclusive() -> None:
    with ScriptedServer(b"HTTP/1.1 400 Bad Request\r\n\r\n") as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.ERROR


def test_a_server_that_closes_without_a_word_is_inconclusive() -> None:
    with ScriptedServer(b"") as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.ERROR
    assert "closed the connection" in result.detail


# ----------------------------------------------------------------------------------------------------------------
# Bounds: network errors are inconclusive, and every probe ends within its timeout


def test_a_closed_port_is_inconclusive() -> None:
    result = probe_pq_key_agreement(closed_port(), HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.ERROR
    assert "connection refused" in result.detail


@pytest.mark.parametrize(
    "server",
    [
        pytest.param(lambda: Tarpit(), id="tarpit"),
        # The first bytes of a ServerHello, one every 0.2 s: never whole.
        pytest.param(lambda: ScriptedServer(server_hello(version=0x0304) * 50, chunk=1, pause=0.2), id="trickle"),
    ],
)
def test_a_peer_that_never_finishes_is_inconclusive_within_the_timeout(server: object) -> None:
    timeout = 1.0
    with server() as peer:  # type: ignore[operator]
        started = time.monotonic()
        result = probe_pq_key_agreement(peer.endpoint, HOSTNAME, timeout=timeout)
        elapsed = time.monotonic() - started
    assert result.outcome is PqOutcome.ERROR
    assert "timeout" in result.detail
    assert elapsed < 3 * timeout + 1


def test_a_flood_stops_at_the_byte_bound() -> None:
    # Endless handshake records that never make a whole message: the probe stops reading at its bound.
    flood = b"\x16\x03\x03\x40\x00" + b"\x0b\xff\xff\xff" + bytes(0x4000 - 4)
    flood += (b"\x16\x03\x03\x40\x00" + bytes(0x4000)) * 40
    with ScriptedServer(flood, close=False) as server:
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.ERROR
    assert "KiB" in result.detail
    assert result.bytes_received <= 256 * 1024 + 16 * 1024


def test_the_run_deadline_cuts_the_probe() -> None:
    with Tarpit() as server:
        run = Deadline(time.monotonic() + 0.3, "deadline reached (--deadline bounds the whole run)")
        result = probe_pq_key_agreement(server.endpoint, HOSTNAME, timeout=30, deadline=run)
    assert result.outcome is PqOutcome.ERROR
    assert "deadline reached" in result.detail


# ----------------------------------------------------------------------------------------------------------------
# The ClientHello itself


def test_the_client_hello_offers_only_the_hybrid_with_a_full_share() -> None:
    hello = build_client_hello(HOSTNAME)
    # supported_groups = [0x11EC] and one key share of 1216 bytes for it (1184 ML-KEM-768 + 32 X25519).
    assert b"\x00\x0a\x00\x04\x00\x02\x11\xec" in hello.message
    assert b"\x11\xec\x04\xc0" in hello.message  # group 0x11EC, key_exchange length 0x04C0 = 1216
    assert b"\x00\x2b\x00\x03\x02\x03\x04" in hello.message  # supported_versions: TLS 1.3 only
    assert HOSTNAME.encode() in hello.message
    assert len(hello.record) < 1500


def test_the_ephemeral_keys_stay_out_of_reprs_and_pickles() -> None:
    hello = build_client_hello(HOSTNAME)
    assert "mlkem" not in repr(hello)
    assert "x25519" not in repr(hello)
    with pytest.raises((TypeError, pickle.PicklingError)):
        pickle.dumps(hello)


def test_an_installation_without_ml_kem_probes_nothing_and_is_inconclusive(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    # A cryptography older than 48 cannot make the key share: nothing is offered, so nothing is proven either way.
    def no_mlkem(server_name: str | None) -> None:
        raise pq_wire.NoMlKem("this installation's cryptography has no ML-KEM-768 (cryptography 48+ is needed)")

    monkeypatch.setattr(pq, "build_client_hello", no_mlkem)
    endpoint = Endpoint(*listener.getsockname()[:2])
    result = probe_pq_key_agreement(endpoint, HOSTNAME, timeout=TIMEOUT)
    assert result.outcome is PqOutcome.ERROR
    assert "cryptography 48+" in result.detail
    assert not someone_connected(listener)
    # The twin: with ML-KEM the same listener sees the probe.
    monkeypatch.undo()
    probe_pq_key_agreement(endpoint, HOSTNAME, timeout=0.5)
    assert someone_connected(listener)
