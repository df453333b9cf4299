"""Reading a certificate a peer sent, all of it, once: where its bytes are parsed, so that nothing read later raises.

``cryptography`` parses a certificate lazily: a load that succeeds can still raise later, from the subject, the
issuer, the extensions (``DuplicateExtension``, ``ValueError``), a name's attribute (``TypeError``) or the public key
(``UnsupportedAlgorithm``, ``ValueError``), and a version it does not know raises ``x509.InvalidVersion`` (not a
ValueError) at load. A peer chooses those bytes (on TLS 1.2 an origin's certificate is read from the handshake's
cleartext, no key needed: issue 18), so :func:`load_peer_certificate` reads every part this package reads and turns
any failure into one declared error, :class:`UnreadableCertificate`. :mod:`origin_tls.certs` re-exports it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

__all__ = ["UnreadableCertificate", "is_readable", "load_peer_certificate"]

#: Characters of the parser's own message kept in UnreadableCertificate (cryptography's ASN.1 errors are long).
_REASON_LIMIT = 160
_NAME_OIDS = (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME)


class UnreadableCertificate(ValueError):
    """A certificate a peer sent that cannot be read in full: ``str()`` is "the origin's certificate could not be
    parsed: ..." (``whose`` names the peer). ``unsupported`` is True when the bytes may be well-formed but use an
    algorithm this build of ``cryptography`` does not know (a key type, a curve): then nothing can be said of the
    certificate, which is not the same as a malformed one."""

    def __init__(self, whose: str, reason: str, *, unsupported: bool) -> None:
        self.unsupported = unsupported
        super().__init__(f"the {whose} certificate could not be parsed: {reason}")


def load_peer_certificate(der: bytes, *, whose: str = "origin's") -> x509.Certificate:
    """The certificate in ``der``, every part this package reads already read once; else
    :class:`UnreadableCertificate`. Never raises anything else.

    The signature is not read here: :func:`origin_tls.certs.is_signed_by` says False for one it cannot check, and a
    signature algorithm unknown to ``cryptography`` does not make the rest of the certificate unreadable.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        _read_all(cert)
    except UnsupportedAlgorithm as exc:
        raise UnreadableCertificate(whose, _reason(exc), unsupported=True) from None
    except Exception as exc:  # the parser's many error types (module docstring) are one fact: the bytes are bad
        raise UnreadableCertificate(whose, _reason(exc), unsupported=False) from None
    return cert


def is_readable(cert: x509.Certificate) -> bool:
    """Whether every part of ``cert`` this package reads can be read (a certificate from a user's file, say)."""
    try:
        _read_all(cert)
    except Exception:  # as in load_peer_certificate
        return False
    return True


def _reason(exc: Exception) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


def _read_all(cert: x509.Certificate) -> None:
    """Read every part of ``cert`` that :mod:`origin_tls.certs` reads, so that a lazy parse error surfaces now."""
    for name in (cert.subject, cert.issuer):
        name.rfc4514_string()
        for oid in _NAME_OIDS:
            for attribute in name.get_attributes_for_oid(oid):
                str(attribute.value)
    _ = cert.version, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
    extensions = cert.extensions
    for extension in extensions:
        _ = extension.value
    for extension in extensions:
        if isinstance(extension.value, x509.SubjectAlternativeName):
            [value.lower() for value in extension.value.get_values_for_type(x509.DNSName)]
        elif isinstance(extension.value, x509.BasicConstraints):
            _ = extension.value.ca
    cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    cert.fingerprint(hashes.SHA256())
