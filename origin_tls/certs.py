"""Certificates: inspection and the pinned Cloudflare Origin CA identity. (Keys, CSRs and our own CAs live in
:mod:`origin_tls.keys` and are re-exported here.)

Trust in the Origin CA is a *pinned key*, not a certificate chain (``reference/pems/README.md``): every rotation of
the Origin CA roots re-issued the same key, and Origin CA leaves (up to 15 years) outlive the 2019-2029 roots, so a
date-based chain validation would start failing on 2029-08-15 for certificates that are perfectly good. A leaf is
trusted when its signature verifies with a pinned SubjectPublicKeyInfo; the root's expiry is reported apart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from .cert_reading import UnreadableCertificate, is_readable, load_peer_certificate
from .errors import InvalidInput
from .keys import (
    ClientCa,
    PrivateKey,
    build_ca,
    build_client_ca,
    build_csr,
    csr_hostnames,
    generate_private_key,
    issue_certificate,
    issue_client_certificate,
    load_private_key_pem,
    private_key_to_pem,
)
from .pem import MAX_PEM_FILE_BYTES

__all__ = [
    "GLOBAL_AOP_CA_SPKI_SHA256",
    "GLOBAL_AOP_CA_URL",
    "MAX_CA_FILE_BYTES",
    "ORIGIN_CA_ROOTS",
    "CertificateInfo",
    "CertificateJudgement",
    "ClientCa",
    "IssuerMatch",
    "PinnedRoot",
    "PrivateKey",
    "UnreadableCertificate",
    "build_ca",
    "build_client_ca",
    "build_csr",
    "certificate_to_pem",
    "check_key_pair",
    "csr_hostnames",
    "find_issuer",
    "generate_private_key",
    "inspect_certificate",
    "is_hostname_covered",
    "is_readable",
    "is_signed_by",
    "issue_certificate",
    "issue_client_certificate",
    "judge_origin_certificate",
    "load_certificate_der",
    "load_peer_certificate",
    "load_pem_certificates",
    "load_private_key_pem",
    "private_key_to_pem",
    "read_ca_file",
    "spki_sha256",
    "warm_up",
]


#: A CA bundle larger than this is not a CA bundle; refusing it keeps a mistaken path from being read into memory.
MAX_CA_FILE_BYTES = MAX_PEM_FILE_BYTES


# --------------------------------------------------------------------------------------------------------------
# The pinned identities. SPKI DER extracted from Cloudflare's published roots (reference/pems/); tests re-derive
# the hashes from the PEM files so a typo here cannot go unnoticed.


@dataclass(frozen=True)
class PinnedRoot:
    """An Origin CA root, identified by its key. ``organizational_unit`` is how leaf issuer DNs name it."""

    name: str
    organizational_unit: str
    spki_der: bytes = field(repr=False)
    spki_sha256: str
    not_after: dt.datetime


_ECC_ROOT_SPKI = base64.b64decode(
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkfrBgC7mhrIZ1G3MSq8vtCxF2eDWOiVALUngOoPOyt42gMaSIPRudD6JKX1pIW2q"
    "y36XGbtFAKGMtrLtBITe8A=="
)
_RSA_ROOT_SPKI = base64.b64decode(
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwEiVZ/UoQpHmFsHvk5isBxRehukP8DG9JhFev3WZtG76WoTthvLJFRKF"
    "CHXmV6Z5/66Z4S09mgsUuFwvJzMnE6Ej6yIsYNCb9r9QORa8BdhrkNn6kdTly3mdnykbOomnwbUfLlExVgNdlP0XoRoeMwbQ4598"
    "foiHblO2B/LKuNfJzAMfS7oZe34b+vLByrP/1bgCSLdc1AxQc1AC0EsQQhgcyTJNgnG4va1c7ogPlwKyhbDyZ4e59N5lbYPJSmXI"
    "/cAe3jXj1FBLJZkwnoDKe0v13xeF+nF32smSH0qB7aJX2tBMW4TWtFPmzs5IlwrFSySWAdwYdgxw180yKU0dvwIDAQAB"
)

#: The Cloudflare Origin CA roots (2019-2029), ECC first: ECDSA P-256 is the default key type.
ORIGIN_CA_ROOTS: tuple[PinnedRoot, ...] = (
    PinnedRoot(
        name="Cloudflare Origin CA (ECC)",
        organizational_unit="CloudFlare Origin SSL ECC Certificate Authority",
        spki_der=_ECC_ROOT_SPKI,
        spki_sha256="9114b3916b6457dbf19b6fc04ea6b61aa33a98668e71a01ba60c08f8a5167d5e",
        not_after=dt.datetime(2029, 8, 15, 17, 0, tzinfo=dt.timezone.utc),
    ),
    PinnedRoot(
        name="Cloudflare Origin CA (RSA)",
        organizational_unit="CloudFlare Origin SSL Certificate Authority",
        spki_der=_RSA_ROOT_SPKI,
        spki_sha256="b6e8c8ca4c7ca5e6934efea031364927bbfedf086229499a60d83b5d587222b7",
        not_after=dt.datetime(2029, 8, 15, 17, 0, tzinfo=dt.timezone.utc),
    ),
)

#: The global Authenticated Origin Pulls CA (``CN=origin-pull.cloudflare.net``), shared by every Cloudflare customer.
GLOBAL_AOP_CA_SPKI_SHA256 = "e2ef9fe85ac39f522dc773505f399875aa75ac10c49766ca899f8f99b07da34c"
GLOBAL_AOP_CA_URL = "https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem"


# --------------------------------------------------------------------------------------------------------------
# Loading and serialising.


def load_pem_certificates(data: bytes | str, *, field_name: str) -> tuple[x509.Certificate, ...]:
    """Every CERTIFICATE block in ``data``. InvalidInput when there is none or one is malformed."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        certs = []
    if not certs:
        # The value shown is a description: the data may hold a private key.
        raise InvalidInput(field_name, f"<{len(raw)} bytes without a certificate>", "PEM text with a CERTIFICATE")
    return tuple(certs)


def read_ca_file(path: str, *, field_name: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM file. InvalidInput, naming the field and the path, for an unreadable, oversized,
    not-PEM or certificate-less file; the message never contains the file's contents."""
    allowed = "a readable PEM file with at least one CERTIFICATE"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CA_FILE_BYTES + 1)
    except (OSError, TypeError, ValueError):
        raise InvalidInput(field_name, path, allowed) from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise InvalidInput(field_name, path, f"{allowed} of at most {MAX_CA_FILE_BYTES} bytes")
    try:
        return load_pem_certificates(data, field_name=field_name)
    except InvalidInput:
        pass
    raise InvalidInput(field_name, path, allowed)


def certificate_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate_der(der: bytes) -> x509.Certificate:
    """A DER certificate (as ``SSLSocket.getpeercert(binary_form=True)`` gives it), every part of it readable
    (:func:`load_peer_certificate`); InvalidInput otherwise."""
    try:
        return load_peer_certificate(der)
    except UnreadableCertificate:
        pass
    raise InvalidInput("certificate", f"<{len(der)} bytes>", "a DER-encoded X.509 certificate")


def spki_sha256(public_key: object) -> str:
    """Lower-hex SHA-256 of a public key's SubjectPublicKeyInfo DER (what HPKP and our pins hash)."""
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def check_key_pair(cert_pem: str, key_pem: str, *, cert_field: str, key_field: str) -> None:
    """Refuse a private key that does not belong to the first certificate of ``cert_pem``.

    The first certificate is the one a TLS stack presents (OpenSSL ``SSL_CTX_use_certificate_chain_file``: the leaf
    first, then its issuers). The two belong together when their SubjectPublicKeyInfo DER is the same. Raises
    :class:`InvalidInput` naming ``key_field`` (and ``cert_field``) for a mismatch, an unloadable key or a
    certificate-less ``cert_pem``; no message ever quotes the key.
    """
    leaf = load_pem_certificates(cert_pem, field_name=cert_field)[0]
    key = load_private_key_pem(key_pem, field_name=key_field)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    try:
        theirs = leaf.public_key().public_bytes(serialization.Encoding.DER, spki)
    except Exception:  # parsed lazily (origin_tls.cert_reading): UnsupportedAlgorithm, ValueError, ...
        raise InvalidInput(cert_field, "<certificate>", "a certificate whose public key can be read") from None
    if not hmac.compare_digest(ours, theirs):
        raise InvalidInput(
            key_field,
            "<private key, not shown>",
            f"the private key of the {cert_field} certificate (its public key is not the certificate's:"
            f" key SPKI sha256 {hashlib.sha256(ours).hexdigest()[:16]}..., certificate"
            f" {hashlib.sha256(theirs).hexdigest()[:16]}...)",
        )


# --------------------------------------------------------------------------------------------------------------
# Inspection.


@dataclass(frozen=True)
class CertificateInfo:
    """What a report says about a certificate. Dates are aware UTC; hashes are lower hex without colons."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    spki_sha256: str
    serial: int
    key_type: str


_CURVES = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}


def _key_type(public_key: object) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ecdsa-" + _CURVES.get(public_key.curve.name, public_key.curve.name)
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448"
    return "unknown"


def _dns_sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(name.lower() for name in ext.value.get_values_for_type(x509.DNSName))


def inspect_certificate(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=_dns_sans(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        spki_sha256=spki_sha256(cert.public_key()),
        serial=cert.serial_number,
        key_type=_key_type(cert.public_key()),
    )


def _normalise_name(name: str) -> str:
    return name.strip().lower().rstrip(".")


def is_hostname_covered(hostname: str, names: Iterable[str]) -> bool:
    """Whether a certificate listing DNS ``names`` (its SANs) covers ``hostname`` (RFC 6125 §6.4).

    Only these names count: the subject CN is never consulted, even when there are no SANs (RFC 6125 section
    6.4.4; browsers ignore it). Exact match, case-insensitive, trailing dot ignored; or a wildcard as the whole
    left-most label, matching exactly one label (``*.example.com`` covers ``a.example.com``, not ``example.com``
    nor ``a.b.example.com``). Partial-label wildcards (``a*.example.com``) and wildcards directly over a single
    label (``*.com``) never match.
    """
    host = _normalise_name(hostname)
    if not host:
        return False
    first, _, parent = host.partition(".")
    is_ip = ":" in host or host.rsplit(".", 1)[-1].isdigit()  # RFC 6125 §6.4.3: wildcards are for DNS names only
    for candidate in names:
        name = _normalise_name(candidate)
        if not name:
            continue
        if name == host:
            return True
        wildcard_ok = name.startswith("*.") and "*" not in name[2:] and "." in name[2:] and not is_ip
        if wildcard_ok and first and first != "*" and parent == name[2:]:
            return True
    return False


def _human_name(name: x509.Name) -> str:
    # Origin CA DNs carry no CN: fall back to the OU, which is what Cloudflare's docs call the CA.
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return name.rfc4514_string() or "(empty name)"


# --------------------------------------------------------------------------------------------------------------
# Signatures and trust.


def is_signed_by(cert: x509.Certificate, public_key: object) -> bool:
    """Whether ``cert``'s signature verifies with ``public_key`` (ECDSA, RSA PKCS#1 v1.5 or PSS, Ed25519, Ed448).

    Names are not compared: this is the check against a bare pinned key, with no issuer certificate.
    """
    try:
        params = cert.signature_algorithm_parameters
        tbs, signature = cert.tbs_certificate_bytes, cert.signature
        if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            public_key.verify(signature, tbs, params)
        elif isinstance(public_key, rsa.RSAPublicKey) and isinstance(params, (padding.PKCS1v15, padding.PSS)):
            algorithm = cert.signature_hash_algorithm
            if algorithm is None:
                return False
            public_key.verify(signature, tbs, params, algorithm)
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)) and params is None:
            public_key.verify(signature, tbs)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def warm_up() -> None:
    """Load now what the first ECDSA signature check loads lazily (cryptography's OpenSSL backend, ~3 ms of CPU):
    for a caller with time to spare before it judges (``verify``, while its probes wait on the network)."""
    ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class IssuerMatch:
    """Who signed a leaf. ``root_not_after`` is the trusted issuer's expiry, reported but not used for trust."""

    trusted: bool
    issuer: str
    root_not_after: dt.datetime | None
    detail: str


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return True  # v1 roots carry no extensions; the user chose to trust this file


def _names_equal(a: x509.Name, b: x509.Name) -> bool:
    # RFC 5280 §7.1 compares case-insensitively after normalisation; casefolding the RFC 4514 form is close enough.
    return a == b or a.rfc4514_string().casefold() == b.rfc4514_string().casefold()


def find_issuer(leaf: x509.Certificate, *, trusted_cas: Sequence[x509.Certificate] | None = None) -> IssuerMatch:
    """Find the trusted key that signed ``leaf``.

    With ``trusted_cas=None`` the leaf must verify with one of :data:`ORIGIN_CA_ROOTS`' pinned keys; the issuer name
    alone proves nothing (anyone can make a CA with Cloudflare's name). Otherwise the leaf must name one of the given
    CAs as issuer and verify with its key (direct issuance only; no intermediates). Dates never decide trust.
    """
    claimed = _human_name(leaf.issuer)
    if trusted_cas is None:
        for root in ORIGIN_CA_ROOTS:
            key = serialization.load_der_public_key(root.spki_der)
            if is_signed_by(leaf, key):
                detail = f"signature verifies with the pinned key of {root.name} (SPKI sha256 {root.spki_sha256})"
                return IssuerMatch(True, root.name, root.not_after, detail)
        ous = {a.value for a in leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}
        if any(str(ou).casefold() == root.organizational_unit.casefold() for ou in ous for root in ORIGIN_CA_ROOTS):
            detail = f"issuer claims to be {claimed} but the signature does not verify with Cloudflare's pinned key"
        else:
            detail = f"issued by {claimed}, not by the Cloudflare Origin CA"
        return IssuerMatch(False, claimed, None, detail)

    # A trusted CA that cannot be read (a user's file may hold anything) cannot have signed anything we can check.
    named = [ca for ca in trusted_cas if is_readable(ca) and _names_equal(ca.subject, leaf.issuer)]
    for ca in named:
        if _is_ca(ca) and is_signed_by(leaf, ca.public_key()):
            detail = f"signed by the trusted CA {_human_name(ca.subject)} (SPKI sha256 {spki_sha256(ca.public_key())})"
            return IssuerMatch(True, _human_name(ca.subject), ca.not_valid_after_utc, detail)
    if named:
        detail = f"issuer {claimed} is named in the trusted CAs but none of them signed this certificate"
    else:
        detail = f"issued by {claimed}, which is not among the {len(trusted_cas)} trusted CA certificate(s)"
    return IssuerMatch(False, claimed, None, detail)


@dataclass(frozen=True)
class CertificateJudgement:
    ok: bool
    info: CertificateInfo
    issuer: IssuerMatch
    problems: tuple[str, ...]
    notes: tuple[str, ...]


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def judge_origin_certificate(
    leaf: x509.Certificate,
    *,
    hostname: str,
    trusted_cas: Sequence[x509.Certificate] | None = None,
    expected: x509.Certificate | None = None,
    now: dt.datetime | None = None,
    min_days_remaining: int = 30,
) -> CertificateJudgement:
    """Judge the certificate an origin serves: trusted issuer, covers ``hostname``, valid now and for
    ``min_days_remaining`` more days, and equal to ``expected`` when given. ``now`` defaults to the current time;
    a naive ``now`` is taken as UTC."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    info = inspect_certificate(leaf)
    issuer = find_issuer(leaf, trusted_cas=trusted_cas)
    problems: list[str] = []
    notes: list[str] = []
    if not issuer.trusted:
        problems.append(f"untrusted issuer: {issuer.detail}")
    if not is_hostname_covered(hostname, info.sans):
        problems.append(f"does not cover {hostname} (DNS names: {', '.join(info.sans) or 'none'})")
    if moment < info.not_before:
        problems.append(f"not valid before {info.not_before.isoformat()}")
    elif moment >= info.not_after:
        problems.append(f"expired on {info.not_after.isoformat()}")
    elif info.not_after - moment < dt.timedelta(days=min_days_remaining):
        days = (info.not_after - moment).days
        problems.append(f"expires {_day(info.not_after)}, in {days} day(s): fewer than {min_days_remaining}")
    if expected is not None:
        actual_fp = leaf.fingerprint(hashes.SHA256())
        expected_fp = expected.fingerprint(hashes.SHA256())
        if not hmac.compare_digest(actual_fp, expected_fp):
            problems.append(f"not the expected certificate (sha256 {actual_fp.hex()}, expected {expected_fp.hex()})")
    if issuer.root_not_after is not None:
        verb = "expired" if issuer.root_not_after <= moment else "expires"
        notes.append(f"issuing root {verb} {_day(issuer.root_not_after)}")
    return CertificateJudgement(not problems, info, issuer, tuple(problems), tuple(notes))
