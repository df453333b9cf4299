"""Keys, CSRs and certificate authorities of our own: the origin key and CSR sent to the Origin CA, the team's own
AOP client CA (zone-level / per-hostname Authenticated Origin Pulls), and the sandbox's stand-in Origin CA.

Private keys leave this module only as PEM text; no function here puts key material into an exception message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .baseline import KeyType, parse_hostnames, parse_key_type
from .errors import InvalidInput

__all__ = [
    "ClientCa",
    "PrivateKey",
    "PublicKey",
    "build_ca",
    "build_ca_certificate",
    "build_client_ca",
    "build_csr",
    "build_leaf_certificate",
    "csr_hostnames",
    "generate_private_key",
    "issue_certificate",
    "issue_client_certificate",
    "load_private_key_pem",
    "private_key_to_pem",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: Issued certificates start this far in the past so that a peer whose clock is a little behind still accepts them.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_MAX_VALID_DAYS = 36_500


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --------------------------------------------------------------------------------------------------------------
# Keys and CSRs.


def generate_private_key(key_type: KeyType) -> PrivateKey:
    """A fresh ECDSA P-256 or RSA-2048 key."""
    if parse_key_type(key_type) is KeyType.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def private_key_to_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted (it goes into a Pulumi secret output or a 0600 file)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_key_pem(pem: str, *, field_name: str = "private_key") -> PrivateKey:
    """An unencrypted PEM ECDSA or RSA key. InvalidInput otherwise; the message never contains ``pem``."""
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8", "replace"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, AttributeError):
        key = None
    if isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        return key
    raise InvalidInput(field_name, "<redacted>", "an unencrypted PEM ECDSA or RSA private key")


def _common_name(hostnames: Sequence[str]) -> list[x509.NameAttribute[str]]:
    # X.520 ub-common-name is 64; the SANs carry the names that matter, so a longer first name only loses the CN.
    return [x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])] if len(hostnames[0]) <= 64 else []


def build_csr(key: PrivateKey, hostnames: Sequence[str]) -> str:
    """A PEM CSR: CN = the first hostname, every hostname as a DNS SAN, signed with SHA-256."""
    names = parse_hostnames(hostnames, allow_wildcard=True)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(_common_name(names)))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def csr_hostnames(csr_pem: str, *, field_name: str = "csr") -> tuple[str, ...]:
    """The DNS SANs of a PEM CSR (its CN if it has none). InvalidInput for garbage or a bad self-signature."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8", "replace"))
        signed = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        raise InvalidInput(field_name, "<CSR>", "a PEM certificate signing request with a valid signature")
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = ext.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(n.lower() for n in names)


# --------------------------------------------------------------------------------------------------------------
# A CA of our own: AOP client certificates (zone-level / per-hostname AOP) and the sandbox's stand-in Origin CA.


@dataclass(frozen=True)
class ClientCa:
    """A CA certificate and its key. Named for its main use, the AOP client CA; the key never shows in a repr."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))


def _validity(valid_days: int, field_name: str) -> dt.timedelta:
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or not 1 <= valid_days <= _MAX_VALID_DAYS:
        raise InvalidInput(field_name, valid_days, f"a whole number of days from 1 to {_MAX_VALID_DAYS}")
    return dt.timedelta(days=valid_days)


def _name(common_name: str | None, organization: str | None, organizational_unit: str | None) -> x509.Name:
    attrs: list[x509.NameAttribute[str]] = []
    for oid, value, label in (
        (NameOID.ORGANIZATION_NAME, organization, "organization"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit, "organizational_unit"),
        (NameOID.COMMON_NAME, common_name, "common_name"),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            raise InvalidInput(label, value, "text of 1 to 64 characters")
        attrs.append(x509.NameAttribute(oid, value))
    if not attrs:
        raise InvalidInput("common_name", common_name, "a name (common_name, organization or organizational_unit)")
    return x509.Name(attrs)


def _key_usage(*, cert_sign: bool, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_ca_certificate(
    *,
    subject: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None = 0,
) -> x509.Certificate:
    """A self-signed CA certificate for ``key``: BasicConstraints CA (critical, ``path_length``), KeyUsage
    digitalSignature + keyCertSign + cRLSign (critical), SKI; SHA-256. No input checks: callers validate."""
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True, key_encipherment=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def build_leaf_certificate(
    *,
    subject: x509.Name,
    issuer_certificate: x509.Certificate,
    issuer_key: PrivateKey,
    public_key: PublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    eku: Sequence[x509.ObjectIdentifier],
    dns_names: Sequence[str] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """An end-entity certificate for ``public_key`` signed by ``issuer_key`` (SHA-256).

    Extensions: BasicConstraints CA=false and KeyUsage digitalSignature (+ keyEncipherment for an RSA key), both
    critical; ExtendedKeyUsage ``eku``, SKI, AKI from the issuer's key; DNS SANs when ``dns_names`` is not empty.
    ``serial`` defaults to a random one. No input checks: callers validate names and times.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(cert_sign=False, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def build_ca(
    *,
    common_name: str | None = None,
    organization: str | None = None,
    organizational_unit: str | None = None,
    valid_days: int = 3650,
    key_type: KeyType = KeyType.ECDSA_P256,
) -> ClientCa:
    """A self-signed CA (pathlen 0). With ``organization="CloudFlare, Inc."`` and an Origin CA OU it looks like the
    Origin CA by name, which is what the sandbox and the look-alike tests need."""
    subject = _name(common_name, organization, organizational_unit)
    lifetime = _validity(valid_days, "valid_days")
    key = generate_private_key(key_type)
    now = dt.datetime.now(dt.timezone.utc)
    cert = build_ca_certificate(subject=subject, key=key, not_before=now - _CLOCK_SKEW, not_after=now + lifetime)
    return ClientCa(_pem(cert), private_key_to_pem(key))


def build_client_ca(common_name: str, *, valid_days: int = 3650, key_type: KeyType = KeyType.ECDSA_P256) -> ClientCa:
    """The team's own CA for zone-level or per-hostname Authenticated Origin Pulls."""
    return build_ca(common_name=common_name, valid_days=valid_days, key_type=key_type)


def _issue(
    ca: ClientCa,
    *,
    subject: x509.Name,
    sans: Sequence[str],
    eku: x509.ObjectIdentifier,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType,
) -> tuple[str, str]:
    ca_key = load_private_key_pem(ca.private_key_pem, field_name="ca.private_key_pem")
    key = generate_private_key(key_type)
    cert = build_leaf_certificate(
        subject=subject,
        issuer_certificate=ca.certificate,
        issuer_key=ca_key,
        public_key=key.public_key(),
        not_before=not_before,
        not_after=not_after,
        eku=(eku,),
        dns_names=sans,
    )
    return _pem(cert), private_key_to_pem(key)


def issue_client_certificate(
    ca: ClientCa, *, common_name: str, valid_days: int = 365, key_type: KeyType = KeyType.ECDSA_P256
) -> tuple[str, str]:
    """A client certificate (clientAuth, digitalSignature) signed by ``ca``: ``(certificate PEM, key PEM)``."""
    now = dt.datetime.now(dt.timezone.utc)
    return _issue(
        ca,
        subject=_name(common_name, None, None),
        sans=(),
        eku=ExtendedKeyUsageOID.CLIENT_AUTH,
        not_before=now - _CLOCK_SKEW,
        not_after=now + _validity(valid_days, "valid_days"),
        key_type=key_type,
    )


def issue_certificate(
    ca: ClientCa,
    *,
    hostnames: Sequence[str],
    valid_days: int = 365,
    key_type: KeyType = KeyType.ECDSA_P256,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    common_name: str | None = None,
    organization: str | None = None,
    organizational_unit: str | None = None,
) -> tuple[str, str]:
    """A server certificate (serverAuth) for ``hostnames`` signed by ``ca``: ``(certificate PEM, key PEM)``.

    ``not_before``/``not_after`` override ``valid_days`` (tests mint expired or not-yet-valid certificates). The
    subject defaults to CN = first hostname; Origin CA leaves use ``O=CloudFlare, Inc., OU=CloudFlare Origin CA,
    CN=CloudFlare Origin Certificate``.
    """
    names = parse_hostnames(hostnames, allow_wildcard=True)
    now = dt.datetime.now(dt.timezone.utc)
    start = not_before or now - _CLOCK_SKEW
    end = not_after or start + _CLOCK_SKEW + _validity(valid_days, "valid_days")
    if end <= start:
        raise InvalidInput("not_after", end.isoformat(), f"a time after not_before ({start.isoformat()})")
    if common_name is None and organization is None and organizational_unit is None:
        subject = x509.Name(_common_name(names) or [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "origin-tls")])
    else:
        subject = _name(common_name, organization, organizational_unit)
    return _issue(
        ca,
        subject=subject,
        sans=names,
        eku=ExtendedKeyUsageOID.SERVER_AUTH,
        not_before=start,
        not_after=end,
        key_type=key_type,
    )
