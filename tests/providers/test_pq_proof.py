"""``OriginPqProofProvider`` called directly, as the engine calls it, against real servers: an OpenSSL 4 origin that
negotiates X25519MLKEM768 (proven), its classical-only twin and the Debian nginx (refused, with words to act on and
nothing changed), a closed port (no evidence: not proven either); ``check`` and ``diff`` as the engine sees them."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from pulumi.output import Unknown

from origin_tls import certs
from origin_tls.baseline import KeyType
from origin_tls.errors import InvalidInput
from origin_tls.providers import verification
from origin_tls.providers.pq_proof import OriginPqProofProvider, PqNotProven
from origin_tls.sandbox import ZoneState
from origin_tls.sandbox.origin import OriginConfig, find_nginx, start_origin
from origin_tls.sandbox.pq_origin import PqOrigin
from tests.peers import HOSTNAME
from tests.peers.pki import TestPki
from tests.peers.pq_servers import OpenSslPqServer
from tests.peers.tls_servers import closed_port

TIMEOUT = 2.0


def props(origin: str, **overrides: Any) -> dict[str, Any]:
    return {"hostnames": [HOSTNAME], "origin": origin, "timeout": TIMEOUT, "settle_seconds": 0, **overrides}


def test_an_origin_with_ml_kem_is_proven_with_the_stacks_client_certificate(pki: TestPki) -> None:
    client = pki.client()
    with OpenSslPqServer(pki.origin(HOSTNAME)) as server:
        extra = {"client_cert_pem": client.cert_pem, "client_key_pem": client.key_pem}
        created = OriginPqProofProvider().create(props(str(server.endpoint), **extra))
    assert created.outs["proven"] is True
    assert created.outs["groups"] == {HOSTNAME: "X25519MLKEM768"}
    assert "X25519MLKEM768" in created.outs["detail"]
    assert "client_key_pem" not in created.outs  # the key is not echoed; the certificate's fingerprint is
    assert created.outs["certificate_sha256"] is not None


def test_a_classical_only_twin_is_refused_and_nothing_is_set(pki: TestPki) -> None:
    with OpenSslPqServer(pki.origin(HOSTNAME), groups="X25519:P-256") as server, pytest.raises(PqNotProven) as caught:
        OriginPqProofProvider().create(props(str(server.endpoint)))
    message = str(caught.value)
    assert "does not negotiate X25519MLKEM768" in message
    assert HOSTNAME in message
    assert "was not set to pqh" in message


def test_the_debian_nginx_is_refused(tmp_path: Path) -> None:
    # A function-scoped nginx (the sandbox's origin configuration): the session's nginx_sites would outlive the test
    # and count as a leftover child in the sandbox runner's process checks.
    if find_nginx() is None:
        pytest.skip("nginx not installed")
    origin = start_origin(tmp_path / "nginx", _origin_config(), hostnames=[HOSTNAME], use_nginx=True)
    try:
        with pytest.raises(PqNotProven) as caught:
            OriginPqProofProvider().create(props(str(origin.https)))
    finally:
        origin.stop()
    assert "OpenSSL 3.5+" in str(caught.value)


def test_a_closed_port_is_no_evidence_and_not_proven() -> None:
    with pytest.raises(PqNotProven) as caught:
        OriginPqProofProvider().create(props(str(closed_port())))
    assert "error" in str(caught.value)


def test_the_proof_waits_within_the_settle_time_for_the_origin_to_gain_ml_kem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An origin upgraded while the deployment waits (the sandbox's post-quantum origin, switched from classical
    # groups to X25519MLKEM768): proven, without a failure in between.
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.1)
    origin = PqOrigin(_origin_config(), hostnames=[HOSTNAME], post_quantum=False).start()
    timer = threading.Timer(0.5, origin.set_post_quantum, args=(True,))
    try:
        timer.start()
        outs = OriginPqProofProvider().create(props(str(origin.https), settle_seconds=60)).outs
    finally:
        timer.cancel()
        origin.stop()
    assert outs["proven"] is True


def _origin_config() -> OriginConfig:
    zone = ZoneState(zone_id="0" * 32, hostnames=[HOSTNAME], account_token="t")
    key = certs.generate_private_key(KeyType.ECDSA_P256)
    signed = zone.origin_ca.sign_csr(certs.build_csr(key, [HOSTNAME]), [HOSTNAME], "origin-ecc", 365)
    return OriginConfig(signed.certificate_pem, certs.private_key_to_pem(key))


def test_check_refuses_a_missing_origin_and_names_the_field() -> None:
    result = OriginPqProofProvider().check({}, {"hostnames": [HOSTNAME], "origin": None})
    assert [failure.property for failure in result.failures] == ["origin"]
    with pytest.raises(InvalidInput) as caught:
        OriginPqProofProvider().create({"hostnames": [HOSTNAME], "origin": None})
    assert caught.value.field == "origin"


def test_check_accepts_the_twin_and_skips_unknowns() -> None:
    assert OriginPqProofProvider().check({}, props("127.0.0.1:8443")).failures == []
    assert OriginPqProofProvider().check({}, props(Unknown())).failures == []  # type: ignore[arg-type]


def test_diff_reproves_only_when_the_origin_hostnames_or_certificate_change() -> None:
    provider = OriginPqProofProvider()
    olds = {**props("127.0.0.1:8443"), "certificate_sha256": None}
    assert provider.diff("id", olds, props("127.0.0.1:8443")).changes is False
    assert provider.diff("id", olds, props("127.0.0.1:9443")).changes is True
    assert provider.diff("id", olds, props("127.0.0.1:8443", hostnames=["other.example.com"])).changes is True
    cert = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
    assert provider.diff("id", olds, props("127.0.0.1:8443", client_cert_pem=cert)).changes is True
    assert provider.diff("id", olds, props(Unknown())).changes is True  # type: ignore[arg-type]


def test_the_provider_pickles_by_reference_with_no_state() -> None:
    data = pickle.dumps(OriginPqProofProvider())
    assert len(data) < 200
    assert isinstance(pickle.loads(data), OriginPqProofProvider)  # noqa: S301 (our own bytes)
