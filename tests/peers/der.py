"""Certificates built byte by byte, so that they can be wrong in ways no certificate library will produce.

:func:`tlv` is a minimal DER encoder; :class:`CertParts` the fields of an X.509 v3 certificate (RFC 5280 section
4.1) as DER, each replaceable; :func:`build_certificate` puts them together. The signature is never valid: a peer
needs no key to send a certificate (on TLS 1.2 it travels in clear before anything is signed), and the tests of
what a peer's certificate can do to the verifier start from exactly such bytes (issue 18).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "MALFORMED",
    "CertParts",
    "build_certificate",
    "extension",
    "integer",
    "name",
    "oid",
    "san",
    "sequence",
    "tlv",
]


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8) if value >= 0 else (value.bit_length() + 8) // 8
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def oid(dotted: str) -> bytes:
    numbers = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * numbers[0] + numbers[1]])
    for number in numbers[2:]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def name(*attributes: tuple[str, bytes]) -> bytes:
    """A Name of one RDN per (OID, already-encoded value)."""
    return sequence(*(tlv(0x31, sequence(oid(o), value)) for o, value in attributes))


def utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode())


def extension(dotted: str, value: bytes, *, critical: bool = False) -> bytes:
    return sequence(oid(dotted), *([tlv(0x01, b"\xff")] if critical else []), tlv(0x04, value))


def san(*dns_names: bytes) -> bytes:
    """A subjectAltName extension of dNSName entries (raw bytes: they may be anything)."""
    return extension("2.5.29.17", sequence(*(tlv(0x82, n) for n in dns_names)))


_ECDSA_SHA256 = sequence(oid("1.2.840.10045.4.3.2"))
_CN = "2.5.4.3"


def _spki() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


_SPKI = _spki()


@dataclass(frozen=True)
class CertParts:
    """The fields of a certificate, DER-encoded; the defaults make one that parses (signature aside)."""

    version: bytes = tlv(0xA0, integer(2))
    serial: bytes = integer(0x1234)
    signature_algorithm: bytes = _ECDSA_SHA256
    issuer: bytes = name((_CN, utf8("Hostile CA")))
    validity: bytes = sequence(tlv(0x17, b"250101000000Z"), tlv(0x17, b"491231235959Z"))
    subject: bytes = name((_CN, utf8("app.example.test")))
    spki: bytes = _SPKI
    extensions: tuple[bytes, ...] = field(default=(san(b"app.example.test"),))
    outer_algorithm: bytes | None = None  # the certificate's signatureAlgorithm; None: the same as the TBS one
    signature: bytes = tlv(0x03, b"\x00" + b"\x30\x06\x02\x01\x01\x02\x01\x01")

    def but(self, **changes: object) -> CertParts:
        return replace(self, **changes)  # type: ignore[arg-type]


def build_certificate(parts: CertParts = CertParts()) -> bytes:
    """The DER of a certificate made of ``parts`` (RFC 5280 section 4.1)."""
    extensions = tlv(0xA3, sequence(*parts.extensions)) if parts.extensions else b""
    tbs = sequence(
        parts.version,
        parts.serial,
        parts.signature_algorithm,
        parts.issuer,
        parts.validity,
        parts.subject,
        parts.spki,
        extensions,
    )
    outer = parts.outer_algorithm if parts.outer_algorithm is not None else parts.signature_algorithm
    return sequence(tbs, outer, parts.signature)


_BASE = CertParts()

#: Certificates each wrong in one way a peer can choose, by what is wrong (each was a crash of issue 18's kind, or
#: its sibling). ``build_certificate(_BASE)`` is their well-formed twin.
MALFORMED: dict[str, CertParts] = {
    "version 4 (x509.InvalidVersion at load)": _BASE.but(version=tlv(0xA0, integer(3))),
    "two subjectAltName extensions (DuplicateExtension)": _BASE.but(
        extensions=(san(b"app.example.test"), san(b"app.example.test"))
    ),
    "a subjectAltName that is not a SEQUENCE": _BASE.but(extensions=(extension("2.5.29.17", tlv(0x04, b"x")),)),
    "a dNSName that is not IA5": _BASE.but(extensions=(san(b"\xff\xfe.example.test"),)),
    "a basicConstraints that is not one": _BASE.but(extensions=(san(b"a"), extension("2.5.29.19", b"\x01\x01"))),
    "a subject CN that is not UTF-8": _BASE.but(subject=name((_CN, tlv(0x0C, b"\xff\xfe")))),
    "a subject CN that is a BIT STRING (TypeError)": _BASE.but(subject=name((_CN, tlv(0x03, b"\x00ab")))),
    "an issuer country of three letters": _BASE.but(issuer=name(("2.5.4.6", tlv(0x13, b"ABC")))),
    "an issuer CN that is a BMPString of odd length": _BASE.but(issuer=name((_CN, tlv(0x1E, b"\x00a\x00")))),
    "an unknown public key algorithm": _BASE.but(spki=sequence(sequence(oid("1.2.3.4.5")), tlv(0x03, b"\x00\x01\x02"))),
    "an EC key on an unknown curve": _BASE.but(
        spki=sequence(sequence(oid("1.2.840.10045.2.1"), oid("1.2.3.4")), tlv(0x03, b"\x00\x04" + b"\x01" * 64))
    ),
    "an EC point that is not on the curve": _BASE.but(
        spki=sequence(
            sequence(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")), tlv(0x03, b"\x00\x04" + b"\x01" * 64)
        )
    ),
    "an RSA key that is not an RSA key": _BASE.but(
        spki=sequence(sequence(oid("1.2.840.113549.1.1.1"), tlv(0x05, b"")), tlv(0x03, b"\x00\x30\x00"))
    ),
    "an unknown signature algorithm": _BASE.but(signature_algorithm=sequence(oid("1.2.3.4.6"))),
    "RSA-PSS without parameters": _BASE.but(signature_algorithm=sequence(oid("1.2.840.113549.1.1.10"))),
    "a validity of February 30th": _BASE.but(
        validity=sequence(tlv(0x17, b"250230000000Z"), tlv(0x17, b"491231235959Z"))
    ),
    "a serial number of 200 bytes": _BASE.but(serial=tlv(0x02, b"\x01" * 200)),
    "a negative serial number": _BASE.but(serial=integer(-5)),
    "a name of a thousand RDNs": _BASE.but(subject=name(*[(_CN, utf8("x"))] * 1000)),
}
