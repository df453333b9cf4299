"""origin_tls.pem: OpenSSL's word on PEM inputs, one-sided (True only for what cryptography's check also takes)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from origin_tls import certs
from origin_tls.errors import InvalidInput
from origin_tls.pem import is_certificate_pem, is_key_pair, is_private_key_pem
from tests.peers.pki import TestPki


def _pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()  # type: ignore[attr-defined]


def test_certificates_openssl_reads_are_taken(pki: TestPki) -> None:
    assert is_certificate_pem(pki.ca.cert_pem)
    assert is_certificate_pem(pki.ca.cert_pem + pki.origin_ca.cert_pem)  # a bundle
    assert is_certificate_pem(pki.client().cert_pem + pki.client().key_pem)  # a key beside it is not a certificate


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a PEM at all",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIBCgKCAQEA\n-----END CERTIFICATE-----\n",  # base64, not a certificate
    ],
)
def test_what_openssl_does_not_read_is_left_to_cryptography_which_refuses_it_too(text: str) -> None:
    assert not is_certificate_pem(text)
    with pytest.raises(InvalidInput):
        certs.load_pem_certificates(text, field_name="origin_ca")


def test_a_key_alone_is_not_a_certificate(pki: TestPki) -> None:
    assert not is_certificate_pem(pki.client().key_pem)


def test_unencrypted_ecdsa_and_rsa_keys_are_taken_in_every_encoding() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for key in (ec_key, rsa_key):
        for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            text = _pem(key, fmt)
            assert is_private_key_pem(text), fmt
            certs.load_private_key_pem(text)  # and cryptography's rule agrees


def test_keys_cryptography_s_rule_refuses_are_not_taken() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    refused = {
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8),
        "encrypted pkcs8": _pem(ec_key, serialization.PrivateFormat.PKCS8, b"secret"),
        "encrypted traditional": _pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL, b"secret"),
        "two keys": _pem(ec_key, serialization.PrivateFormat.PKCS8) * 2,
        "no key": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    }
    for name, text in refused.items():
        assert not is_private_key_pem(text), name
    for name in ("ed25519", "encrypted pkcs8", "encrypted traditional", "no key"):
        with pytest.raises(InvalidInput):
            certs.load_private_key_pem(refused[name])


def test_a_certificate_and_its_key_are_a_pair_and_another_key_is_not(pki: TestPki) -> None:
    client, rogue = pki.client(), pki.rogue_client()
    assert is_key_pair(client.cert_pem, client.key_pem)
    assert not is_key_pair(client.cert_pem, rogue.key_pem)
    with pytest.raises(InvalidInput):
        certs.check_key_pair(client.cert_pem, rogue.key_pem, cert_field="c", key_field="k")


def test_a_certificate_file_that_also_holds_its_key_is_checked_but_never_kept(pki: TestPki) -> None:
    from origin_tls import pem

    client = pki.client()
    combined = client.cert_pem + client.key_pem
    before = pem._parses_cached.cache_info().currsize
    assert is_certificate_pem(combined)
    assert pem._parses_cached.cache_info().currsize == before  # the key is not in the cache
    # The twin: a certificate alone is cached (checked once per run for the inventory and verify both).
    assert is_certificate_pem(client.cert_pem)
    assert is_certificate_pem(client.cert_pem)
    assert pem._parses_cached.cache_info().hits >= 1
