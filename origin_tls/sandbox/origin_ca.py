"""The sandbox's Cloudflare PKI: an Origin CA that signs CSRs, and the stand-in for the global origin-pull identity.

The names mirror Cloudflare's (``reference/pems/README.md``): two roots without a CN, ``O=CloudFlare, Inc.`` and the
``OU`` of the ECC or RSA Origin CA, and leaves named ``CN=CloudFlare Origin Certificate``. The keys are generated
fresh for every sandbox, so nothing the sandbox issues chains to Cloudflare's real roots: ``verify`` only trusts it
with ``--origin-ca <sandbox CA file>``, which is exactly the honesty we want from a local stand-in.

Request validation that depends on the zone (hostnames belonging to it) lives in :mod:`.state`; this module checks
what the CA itself checks: the CSR is PEM, parses, is self-signed correctly, and its key matches ``request_type``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..keys import PrivateKey, build_ca_certificate, build_leaf_certificate, private_key_to_pem

__all__ = [
    "ECC_ROOT_UNIT",
    "LEAF_COMMON_NAME",
    "LEAF_UNIT",
    "ORGANIZATION",
    "REQUEST_TYPES",
    "RSA_ROOT_UNIT",
    "ClientIdentity",
    "CsrRefused",
    "SandboxOriginCa",
    "SignedCertificate",
    "build_global_aop_identity",
    "is_signed_by",
    "parse_csr_pem",
]

ORGANIZATION = "CloudFlare, Inc."
ECC_ROOT_UNIT = "CloudFlare Origin SSL ECC Certificate Authority"
RSA_ROOT_UNIT = "CloudFlare Origin SSL Certificate Authority"
LEAF_UNIT = "CloudFlare Origin CA"
LEAF_COMMON_NAME = "CloudFlare Origin Certificate"
#: ``request_type`` values the Origin CA accepts (openapi ``origin-ca-create-certificate``).
REQUEST_TYPES: tuple[str, ...] = ("origin-rsa", "origin-ecc", "keyless-certificate")

#: Roots get ten years, like Cloudflare's 2019-2029 issues; 15-year leaves outlive them, as the real ones do.
_ROOT_VALIDITY = dt.timedelta(days=3650)
_PEM_CSR_MARKER = "-----BEGIN CERTIFICATE REQUEST-----"


class CsrRefused(ValueError):
    """The CSR cannot be signed. ``message`` is what the API answers (Cloudflare error 1007 family)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate the edge presents to the origin, its key, and the CA an origin trusts for it."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    ca_pem: str


@dataclass(frozen=True)
class SignedCertificate:
    """One Origin CA issuance. ``id`` is the certificate serial in decimal, as Cloudflare's ids are."""

    id: str
    certificate_pem: str
    expires_on: dt.datetime
    hostnames: tuple[str, ...]
    request_type: str


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _root_name(unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        ]
    )


def _self_signed_root(key: PrivateKey, name: x509.Name) -> x509.Certificate:
    now = _utc_now()
    return build_ca_certificate(
        subject=name, key=key, not_before=now - dt.timedelta(days=1), not_after=now + _ROOT_VALIDITY, path_length=None
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


class _Root:
    def __init__(self, key: PrivateKey, unit: str) -> None:
        self.key = key
        self.certificate = _self_signed_root(key, _root_name(unit))
        self.pem = _pem(self.certificate)


def parse_csr_pem(csr_pem: object) -> x509.CertificateSigningRequest:
    """The CSR in ``csr_pem``, or :class:`CsrRefused` with the API's message.

    Base64 DER without the PEM armour is what people paste by mistake; the Origin CA answers it with
    ``1007 CSR parsed as empty`` (``reference/cloudflare.md`` §2.2), because its PEM decoder finds no block.
    """
    if not isinstance(csr_pem, str) or _PEM_CSR_MARKER not in csr_pem:
        raise CsrRefused("CSR parsed as empty")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CsrRefused("CSR could not be parsed") from None
    if not csr.is_signature_valid:
        raise CsrRefused("CSR signature is invalid")
    return csr


class SandboxOriginCa:
    """A fresh Origin CA: an ECC root for ``origin-ecc``, an RSA root for ``origin-rsa``.

    The RSA key is made on first use: RSA-2048 generation costs a noticeable fraction of a second and most sandboxes
    only ever issue the default ECDSA certificate.
    """

    def __init__(self) -> None:
        self._ecc = _Root(ec.generate_private_key(ec.SECP256R1()), ECC_ROOT_UNIT)
        self._rsa: _Root | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SandboxOriginCa(ecc_root={self._ecc.certificate.subject.rfc4514_string()!r})"

    def _rsa_root(self) -> _Root:
        with self._lock:
            if self._rsa is None:
                self._rsa = _Root(rsa.generate_private_key(public_exponent=65537, key_size=2048), RSA_ROOT_UNIT)
            return self._rsa

    @property
    def ecc_root_pem(self) -> str:
        return self._ecc.pem

    @property
    def rsa_root_pem(self) -> str:
        return self._rsa_root().pem

    @property
    def trust_pem(self) -> str:
        """Both roots, for ``--origin-ca`` and for an edge in Full (strict) mode."""
        return self.ecc_root_pem + self.rsa_root_pem

    def sign_csr(
        self, csr_pem: str, hostnames: Sequence[str], request_type: str, validity_days: int
    ) -> SignedCertificate:
        """Sign ``csr_pem`` for ``hostnames`` (the SANs; the CSR's own names are ignored, as Cloudflare does).

        ``origin-ecc`` needs an EC key and is signed by the ECC root, ``origin-rsa`` an RSA key and the RSA root;
        ``keyless-certificate`` takes either key and the matching root. Raises :class:`CsrRefused`.
        """
        csr = parse_csr_pem(csr_pem)
        public_key = csr.public_key()
        if request_type == "origin-ecc" and not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CsrRefused("CSR key type does not match request_type origin-ecc (an ECDSA key is required)")
        if request_type == "origin-rsa" and not isinstance(public_key, rsa.RSAPublicKey):
            raise CsrRefused("CSR key type does not match request_type origin-rsa (an RSA key is required)")
        if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise CsrRefused("CSR key type is not supported (ECDSA or RSA is required)")
        root = self._ecc if isinstance(public_key, ec.EllipticCurvePublicKey) else self._rsa_root()
        # Cloudflare's expires_on has minute precision ("2032-01-29 22:36:00 +0000 UTC"): start on a whole minute.
        not_before = _utc_now().replace(second=0, microsecond=0)
        not_after = not_before + dt.timedelta(days=validity_days)
        # 159 random bits: ~48 decimal digits, the length of real Origin CA certificate ids.
        serial = secrets.randbits(159) | (1 << 158)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, LEAF_UNIT),
                x509.NameAttribute(NameOID.COMMON_NAME, LEAF_COMMON_NAME),
            ]
        )
        certificate = build_leaf_certificate(
            subject=subject,
            issuer_certificate=root.certificate,
            issuer_key=root.key,
            public_key=public_key,
            not_before=not_before,
            not_after=not_after,
            eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            dns_names=hostnames,
            serial=serial,
        )
        return SignedCertificate(
            id=str(serial),
            certificate_pem=_pem(certificate),
            expires_on=not_after,
            hostnames=tuple(hostnames),
            request_type=request_type,
        )


def is_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` (by name and key) signed ``certificate``."""
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def build_global_aop_identity() -> ClientIdentity:
    """The sandbox's stand-in for Cloudflare's shared origin-pull client certificate and its CA.

    The real CA is ``CN=origin-pull.cloudflare.net, OU=Origin Pull`` (RSA-4096); the sandbox keeps the names and uses
    ECDSA P-256 keys, fresh per sandbox, so that only this sandbox's edge is accepted by an origin trusting it.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Origin Pull"),
            x509.NameAttribute(NameOID.COMMON_NAME, "origin-pull.cloudflare.net"),
        ]
    )
    ca = _self_signed_root(ca_key, ca_name)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = _utc_now()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, "origin-pull.cloudflare.net"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ClientIdentity(certificate_pem=_pem(leaf), private_key_pem=private_key_to_pem(leaf_key), ca_pem=_pem(ca))
