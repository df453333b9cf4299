"""The edge obeys the zone's two key-exchange settings on the next pull, against real servers on both sides of the
line: the post-quantum origin (pyOpenSSL on cryptography's bundled OpenSSL) and the Debian nginx and Python origins
(OpenSSL 3.0: no ML-KEM). What the origin selected is read from the edge's own record of each pull."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from origin_tls import certs
from origin_tls.baseline import KeyType
from origin_tls.demo import build_self_signed
from origin_tls.sandbox import ZoneState
from origin_tls.sandbox.edge import Edge, PullRecord, build_edge_pki
from origin_tls.sandbox.origin import NginxOrigin, PythonOrigin, find_nginx, start_origin
from origin_tls.sandbox.pq_origin import PqOrigin
from origin_tls.sandbox.pq_tls import PullGroups, pull_groups
from tests.sandbox.test_edge import HOST, TOKEN, ZONE, Zone, _origin_config, https

HYBRID = "X25519MLKEM768"


@pytest.fixture(params=["pq", "nginx", "python"])
def zone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Zone]:
    if request.param == "nginx" and find_nginx() is None:
        pytest.skip("nginx not installed")
    state = ZoneState(zone_id=ZONE, hostnames=[HOST], account_token=TOKEN)
    good = _origin_config(state)
    origin: NginxOrigin | PythonOrigin | PqOrigin
    if request.param == "pq":
        origin = PqOrigin(good, hostnames=[HOST]).start()
    else:
        origin = start_origin(tmp_path / "origin", good, hostnames=[HOST], use_nginx=request.param == "nginx")
    pki = build_edge_pki([HOST])
    edge = Edge(
        state, pki, origin_https=origin.https, origin_http=origin.http, origin_trust_pem=state.origin_ca.trust_pem
    )
    # Full (Strict) with the global AOP certificate the origins trust: every pull is the hardened one.
    state.set_setting("ssl", "strict")
    state.set_setting("tls_client_auth", "on")
    try:
        edge.start()
        yield Zone(state, pki, edge, origin, good)  # type: ignore[arg-type]
    finally:
        edge.stop()
        origin.stop()


def last_pull(zone: Zone) -> PullRecord:
    pulls = zone.edge.pulls
    assert pulls, "the edge recorded no pull over TLS"
    return pulls[-1]


def is_pq(zone: Zone) -> bool:
    return zone.origin.kind == "pyopenssl"


# -- what the edge offers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auto", "modes", "expected"),
    [
        (True, (), PullGroups("*X25519MLKEM768:*X25519:P-256:P-384", False, False)),
        (False, (), PullGroups("*X25519:P-256:P-384", False, False)),
        (True, ("pqh",), PullGroups("*X25519MLKEM768", True, True)),
        (False, ("pqh",), PullGroups("*X25519MLKEM768", True, True)),
        (True, ("fips",), PullGroups("*SecP256r1MLKEM768:*P-256:P-384", False, False)),
        (False, ("fips",), PullGroups("*P-256:P-384", False, False)),
        (True, ("fips", "pqh"), PullGroups("*SecP256r1MLKEM768", True, True)),
    ],
)
def test_the_groups_offered_follow_the_two_settings(auto: bool, modes: tuple[str, ...], expected: PullGroups) -> None:
    assert pull_groups(auto, modes) == expected


# -- automatic origin key exchange ----------------------------------------------------------------------------


def test_with_automatic_key_exchange_a_pq_origin_gets_the_hybrid_and_others_a_classical_group(zone: Zone) -> None:
    assert zone.state.origin_key_exchange() == (True, ())
    assert https(zone).status == 200
    pull = last_pull(zone)
    assert pull.offered[0] == HYBRID
    assert "X25519" in pull.offered
    assert pull.version == "TLSv1.3"
    assert pull.group == (HYBRID if is_pq(zone) else "x25519")


def test_with_automatic_key_exchange_off_only_classical_groups_are_offered(zone: Zone) -> None:
    zone.state.set_auto_origin_tls_kex({"enabled": False})
    assert https(zone).status == 200
    pull = last_pull(zone)
    assert HYBRID not in pull.offered
    assert pull.group == "x25519"  # the post-quantum origin too: it was not offered the hybrid


# -- pqh --------------------------------------------------------------------------------------------------------


def test_under_pqh_only_an_origin_with_ml_kem_is_reached(zone: Zone) -> None:
    zone.state.set_origin_tls_compliance_modes(["pqh"])
    answer = https(zone)
    pull = last_pull(zone)
    assert pull.offered == (HYBRID,)
    if is_pq(zone):
        assert answer.status == 200
        assert answer.body == b"origin ok\n"
        assert (pull.version, pull.group) == ("TLSv1.3", HYBRID)
    else:
        # Debian 12's OpenSSL 3.0 has no group in common with an X25519MLKEM768-only ClientHello: handshake_failure.
        assert answer.status == 525
        assert answer.body == b"error code: 525 (SSL handshake failed)\n"
        assert pull.group is None


def test_clearing_pqh_restores_the_pull_of_a_classical_origin(zone: Zone) -> None:
    zone.state.set_origin_tls_compliance_modes(["pqh"])
    https(zone)
    zone.state.set_origin_tls_compliance_modes([])
    assert https(zone).status == 200


def test_pqh_with_automatic_key_exchange_off_still_requires_the_hybrid(zone: Zone) -> None:
    zone.state.set_auto_origin_tls_kex({"enabled": False})
    zone.state.set_origin_tls_compliance_modes(["pqh"])
    assert https(zone).status == (200 if is_pq(zone) else 525)


def test_an_origin_that_loses_ml_kem_under_pqh_is_525_and_back_200(tmp_path: Path) -> None:
    state = ZoneState(zone_id=ZONE, hostnames=[HOST], account_token=TOKEN)
    good = _origin_config(state)
    origin = PqOrigin(good, hostnames=[HOST]).start()
    pki = build_edge_pki([HOST])
    edge = Edge(
        state, pki, origin_https=origin.https, origin_http=origin.http, origin_trust_pem=state.origin_ca.trust_pem
    ).start()
    zone = Zone(state, pki, edge, origin, good)  # type: ignore[arg-type]
    try:
        state.set_setting("ssl", "strict")
        state.set_setting("tls_client_auth", "on")
        state.set_origin_tls_compliance_modes(["pqh"])
        assert https(zone).status == 200
        origin.set_post_quantum(False)
        assert https(zone).status == 525
        state.set_origin_tls_compliance_modes([])
        assert https(zone).status == 200  # the same origin, classical, once the zone stops requiring the hybrid
        assert last_pull(zone).group == "x25519"
        origin.set_post_quantum(True)
        state.set_origin_tls_compliance_modes(["pqh"])
        assert https(zone).status == 200
    finally:
        edge.stop()
        origin.stop()


# -- the post-quantum origin answers like the nginx origin --------------------------------------------------------


@pytest.fixture
def pq_zone(tmp_path: Path) -> Iterator[Zone]:
    state = ZoneState(zone_id=ZONE, hostnames=[HOST], account_token=TOKEN)
    good = _origin_config(state)
    origin = PqOrigin(good, hostnames=[HOST]).start()
    pki = build_edge_pki([HOST])
    edge = Edge(
        state, pki, origin_https=origin.https, origin_http=origin.http, origin_trust_pem=state.origin_ca.trust_pem
    ).start()
    try:
        yield Zone(state, pki, edge, origin, good)  # type: ignore[arg-type]
    finally:
        edge.stop()
        origin.stop()


def test_the_pq_origin_answers_400_to_a_pull_without_a_client_certificate(pq_zone: Zone) -> None:
    pq_zone.state.set_setting("ssl", "full")
    answer = https(pq_zone)
    assert answer.status == 400
    assert b"No required SSL certificate was sent" in answer.body
    pq_zone.state.set_setting("tls_client_auth", "on")  # twin
    assert https(pq_zone).status == 200


def test_the_pq_origin_answers_400_to_a_client_certificate_of_another_ca(pq_zone: Zone) -> None:
    pq_zone.state.set_setting("ssl", "full")
    pq_zone.state.set_setting("tls_client_auth", "on")
    assert https(pq_zone).status == 200
    rogue = certs.build_client_ca("rogue pull CA")
    pq_zone.origin.reconfigure(replace(pq_zone.good, client_ca_pem=rogue.certificate_pem))
    answer = https(pq_zone)
    assert answer.status == 400
    assert b"The SSL certificate error" in answer.body


def test_a_self_signed_pq_origin_is_526_under_strict_and_200_under_full(pq_zone: Zone) -> None:
    pq_zone.state.set_setting("tls_client_auth", "on")
    cert, key = build_self_signed(HOST)
    pq_zone.origin.reconfigure(replace(pq_zone.good, certificate_pem=cert, private_key_pem=key))
    pq_zone.state.set_setting("ssl", "strict")
    assert https(pq_zone).status == 526
    pq_zone.state.set_setting("ssl", "full")
    assert https(pq_zone).status == 200


def test_a_pq_origin_certificate_for_another_name_is_526(pq_zone: Zone) -> None:
    pq_zone.state.set_setting("tls_client_auth", "on")
    pq_zone.state.set_setting("ssl", "strict")
    key = certs.generate_private_key(KeyType.ECDSA_P256)
    other = "other.sandbox.test"
    signed = pq_zone.state.origin_ca.sign_csr(certs.build_csr(key, [other]), [other], "origin-ecc", 365)
    pq_zone.origin.reconfigure(
        replace(pq_zone.good, certificate_pem=signed.certificate_pem, private_key_pem=certs.private_key_to_pem(key))
    )
    assert https(pq_zone).status == 526
    pq_zone.origin.reconfigure(pq_zone.good)  # twin: the certificate for the hostname
    assert https(pq_zone).status == 200
