"""A certificate a peer chooses (issue 18, finding 1): every failure to read it, at load or later, is one declared
error, :class:`~origin_tls.certs.UnreadableCertificate`, and ``origin.certificate`` says so instead of raising.

The certificates are built byte by byte (``tests/peers/der.py``): a peer needs no key to send one (on TLS 1.2 it
travels in clear). Each is wrong in one way; ``CertParts()`` is their well-formed twin.
"""

from __future__ import annotations

import base64
import warnings
from pathlib import Path

import pytest

from origin_tls import certs
from origin_tls.checks_judges import judge_origin_certificate
from origin_tls.errors import InvalidInput
from origin_tls.probe_results import CertificateFetch
from origin_tls.report import Status
from tests.peers.der import MALFORMED, CertParts, build_certificate
from tests.peers.pki import TestPki

HOST = "app.example.test"
#: The MALFORMED cases whose bytes cryptography reads in full (odd, not unreadable): judged like any certificate.
READABLE = {
    "an issuer country of three letters",
    "an unknown signature algorithm",
    "RSA-PSS without parameters",
    "a serial number of 200 bytes",
    "a negative serial number",
    "a name of a thousand RDNs",
}
#: Well-formed bytes, but an algorithm this cryptography does not know: nothing can be checked (inconclusive).
UNSUPPORTED = {"an unknown public key algorithm", "an EC key on an unknown curve"}


def _judge(der: bytes, **options: object) -> tuple[Status, str, str]:
    fetched = CertificateFetch(True, der, "TLSv1.2", "certificate read from the handshake")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about negative serials and odd country names
        check = judge_origin_certificate(
            fetched,
            HOST,
            trusted_cas=options.get("trusted_cas"),  # type: ignore[arg-type]
            expected_cert=None,
            min_days_remaining=30,
        )
    return check.status, check.observed, check.detail


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_hostile_certificate_is_a_verdict_never_an_exception(what: str) -> None:
    status, observed, detail = _judge(build_certificate(MALFORMED[what]))

    if what in READABLE:
        assert status is Status.FAIL
        assert "untrusted issuer" in detail
    else:
        assert status is (Status.INCONCLUSIVE if what in UNSUPPORTED else Status.FAIL)
        assert observed == "unparseable certificate"
        assert detail.startswith("the origin's certificate could not be parsed: ")
        assert len(detail) < 250


@pytest.mark.parametrize("what", sorted(set(MALFORMED) - READABLE))
def test_the_loader_raises_its_one_declared_error(what: str) -> None:
    with pytest.raises(certs.UnreadableCertificate) as caught:
        certs.load_peer_certificate(build_certificate(MALFORMED[what]), whose="edge's")

    assert str(caught.value).startswith("the edge's certificate could not be parsed: ")
    assert caught.value.unsupported is (what in UNSUPPORTED)
    assert isinstance(caught.value, ValueError)


def test_the_well_formed_twin_loads_and_is_judged_on_its_merits() -> None:
    der = build_certificate(CertParts())

    assert certs.load_peer_certificate(der).subject.rfc4514_string() == f"CN={HOST}"
    status, _, detail = _judge(der)
    assert status is Status.FAIL
    assert detail == "untrusted issuer: issued by Hostile CA, not by the Cloudflare Origin CA"


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"\x00" * 300, b"\x30\x82\xff\xff"])
def test_bytes_that_are_no_certificate_at_all_fail(der: bytes) -> None:
    status, observed, _ = _judge(der)

    assert (status, observed) == (Status.FAIL, "unparseable certificate")


def test_a_real_origin_certificate_still_passes(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    status, _, detail = _judge(pki.origin(HOST).cert_der, trusted_cas=(pki.origin_ca.certificate,))

    assert status is Status.PASS, detail


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def test_a_trusted_ca_that_cannot_be_read_signs_nothing(tmp_path: Path) -> None:
    # Given a user's --origin-ca holding, besides the real CA, one named like the leaf's issuer but unreadable
    pki = TestPki(tmp_path)
    leaf = pki.origin(HOST).certificate
    unreadable = certs.load_pem_certificates(
        _pem(build_certificate(MALFORMED["two subjectAltName extensions (DuplicateExtension)"])), field_name="ca"
    )[0]

    # Then it is passed over, and the readable CA is still found
    assert not certs.is_readable(unreadable)
    assert certs.find_issuer(leaf, trusted_cas=(unreadable,)).trusted is False
    assert certs.find_issuer(leaf, trusted_cas=(unreadable, pki.origin_ca.certificate)).trusted is True


def test_a_client_certificate_whose_key_cannot_be_read_is_bad_input(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    client = pki.client()
    odd = _pem(build_certificate(MALFORMED["an unknown public key algorithm"]))

    with pytest.raises(InvalidInput, match="client_cert must be a certificate whose public key can be read"):
        certs.check_key_pair(odd, client.key_pem, cert_field="client_cert", key_field="client_key")
    # The twin: the certificate of that key belongs with it.
    certs.check_key_pair(client.cert_pem, client.key_pem, cert_field="client_cert", key_field="client_key")
