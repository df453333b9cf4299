"""A tiny test PKI: certificate authorities and the certificates the tests hand to real TLS peers.

Built on ``cryptography`` directly (not trustme) because some tests need subjects trustme cannot make: an
"Origin-CA-like" root with Cloudflare's names and no common name, a self-signed leaf, client certificates.
Every certificate is written to PEM files under one directory and also kept as PEM text and DER bytes.

Usage::

    pki = TestPki(tmp_path)
    leaf = pki.ca.issue("app.example.com")            # server certificate, valid now for a year
    nginx_cert, nginx_key = leaf.cert_path, leaf.key_path
    ssl_ctx.load_verify_locations(cadata=pki.ca.cert_pem)
    client = pki.client_ca.issue_client("cloudflare-edge")
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CLOUDFLARE_ORGANIZATION",
    "CLOUDFLARE_ORIGIN_CA_UNIT",
    "CertAuthority",
    "IssuedCert",
    "TestPki",
    "utc_now",
]

#: Subject of Cloudflare's Origin CA ECC root (reference/pems/cloudflare_origin_ca_ecc_root_2019-2029.pem):
#: O and OU only, no CN; the Origin CA issues leaves under the same names.
CLOUDFLARE_ORGANIZATION = "CloudFlare, Inc."
CLOUDFLARE_ORIGIN_CA_UNIT = "CloudFlare Origin SSL ECC Certificate Authority"

#: Leaves start a little in the past so a peer whose clock is a few seconds behind still accepts them.
_BACKDATE = dt.timedelta(minutes=5)
_DEFAULT_VALIDITY = dt.timedelta(days=365)

_counter = itertools.count(1)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "cert"


def _write(path: Path, data: str, *, private: bool = False) -> Path:
    path.write_text(data, encoding="ascii")
    if private:
        os.chmod(path, 0o600)
    return path


def _name(*, common_name: str | None, organization: str | None, unit: str | None) -> x509.Name:
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its key, as files and as text. ``chain_path`` holds the leaf followed by its issuer."""

    label: str
    certificate: x509.Certificate
    cert_pem: str
    cert_path: Path
    key_path: Path
    chain_path: Path
    key_pem: str = field(repr=False)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


class CertAuthority:
    """A self-signed root CA that issues server and client certificates into ``directory``."""

    def __init__(
        self,
        directory: Path,
        label: str,
        *,
        common_name: str | None = None,
        organization: str | None = "origin-tls tests",
        unit: str | None = None,
    ) -> None:
        self.directory = directory
        self.label = label
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.subject = _name(common_name=common_name, organization=organization, unit=unit)
        now = utc_now()
        public_key = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.subject)
            .issuer_name(self.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self.cert_path = _write(directory / f"{_slug(label)}-ca.pem", self.cert_pem)

    def __repr__(self) -> str:
        return f"CertAuthority({self.label!r}, {self.subject.rfc4514_string()!r})"

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def issue(
        self,
        *hostnames: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        common_name: str | None = None,
        organization: str | None = None,
        unit: str | None = None,
        label: str | None = None,
    ) -> IssuedCert:
        """A server certificate for ``hostnames`` (subjectAltName DNS names, serverAuth)."""
        if not hostnames:
            raise ValueError("a server certificate needs at least one hostname")
        return self._issue(
            label or hostnames[0],
            sans=[x509.DNSName(name) for name in hostnames],
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            subject=_name(common_name=common_name, organization=organization, unit=unit),
            not_before=not_before,
            not_after=not_after,
        )

    def issue_client(
        self, common_name: str = "origin-pull client", *, not_after: dt.datetime | None = None, label: str | None = None
    ) -> IssuedCert:
        """A client certificate (clientAuth), like the one Cloudflare presents for Authenticated Origin Pulls."""
        return self._issue(
            label or f"client-{common_name}",
            sans=[],
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            subject=_name(common_name=common_name, organization="origin-tls tests", unit=None),
            not_before=None,
            not_after=not_after,
        )

    def _issue(
        self,
        label: str,
        *,
        sans: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        subject: x509.Name,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        now = utc_now()
        start = not_before if not_before is not None else now - _BACKDATE
        end = not_after if not_after is not None else now + _DEFAULT_VALIDITY
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return _store(self.directory, label, certificate, key, issuer_pem=self.cert_pem)


def _store(
    directory: Path,
    label: str,
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer_pem: str | None,
) -> IssuedCert:
    stem = f"{_slug(label)}-{next(_counter)}"
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    key_pem = _key_pem(key)
    return IssuedCert(
        label=label,
        certificate=certificate,
        cert_pem=cert_pem,
        cert_path=_write(directory / f"{stem}.pem", cert_pem),
        key_path=_write(directory / f"{stem}.key", key_pem, private=True),
        chain_path=_write(directory / f"{stem}-chain.pem", cert_pem + (issuer_pem or "")),
        key_pem=key_pem,
    )


def _self_signed(directory: Path, hostname: str) -> IssuedCert:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name=hostname, organization="origin-tls tests", unit=None)
    now = utc_now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _DEFAULT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _store(directory, f"self-signed-{hostname}", certificate, key, issuer_pem=None)


class TestPki:
    """The authorities every test needs, created once per directory.

    - ``ca``: the trusted CA for server certificates; ``other_ca``: a second, unrelated CA ("wrong CA").
    - ``origin_ca``: a stand-in for Cloudflare's Origin CA (same O/OU, no CN); its leaves carry the same names.
    - ``client_ca``: issues origin-pull client certificates; ``other_client_ca``: a client CA nobody trusts.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = CertAuthority(self.directory, "test-ca", common_name="origin-tls test CA")
        self.other_ca = CertAuthority(self.directory, "other-ca", common_name="origin-tls unrelated CA")
        self.origin_ca = CertAuthority(
            self.directory,
            "origin-ca-like",
            common_name=None,
            organization=CLOUDFLARE_ORGANIZATION,
            unit=CLOUDFLARE_ORIGIN_CA_UNIT,
        )
        self.client_ca = CertAuthority(self.directory, "client-ca", common_name="origin-tls origin-pull CA")
        self.other_client_ca = CertAuthority(self.directory, "other-client-ca", common_name="origin-tls rogue CA")

    # Server certificates in the shapes the checks must tell apart.

    def good(self, hostname: str) -> IssuedCert:
        return self.ca.issue(hostname, label=f"good-{hostname}")

    def wrong_host(self, hostname: str) -> IssuedCert:
        """Valid and trusted, but for ``other.<hostname>`` only."""
        return self.ca.issue(f"other.{hostname}", label=f"wrong-host-{hostname}")

    def self_signed(self, hostname: str) -> IssuedCert:
        return _self_signed(self.directory, hostname)

    def expiring(self, hostname: str, *, days: int = 5) -> IssuedCert:
        return self.ca.issue(hostname, not_after=utc_now() + dt.timedelta(days=days), label=f"expiring-{hostname}")

    def expired(self, hostname: str) -> IssuedCert:
        now = utc_now()
        return self.ca.issue(
            hostname,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
            label=f"expired-{hostname}",
        )

    def not_yet_valid(self, hostname: str) -> IssuedCert:
        now = utc_now()
        return self.ca.issue(
            hostname,
            not_before=now + dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=90),
            label=f"not-yet-valid-{hostname}",
        )

    def origin(
        self, hostname: str, *, days: int = 365, not_before: dt.datetime | None = None, expired: bool = False
    ) -> IssuedCert:
        """Like a Cloudflare Origin CA certificate: issued by ``origin_ca``, O/OU of Cloudflare, CN = hostname,
        SANs hostname and ``*.hostname``. Valid ``days`` more days (``expired=True``: ended yesterday)."""
        now = utc_now()
        if expired:
            not_before, end = now - dt.timedelta(days=90), now - dt.timedelta(days=1)
        else:
            end = now + dt.timedelta(days=days)
        return self.origin_ca.issue(
            hostname,
            f"*.{hostname}",
            not_before=not_before,
            not_after=end,
            common_name=hostname,
            organization=CLOUDFLARE_ORGANIZATION,
            unit=CLOUDFLARE_ORIGIN_CA_UNIT,
            label=f"origin-{hostname}",
        )

    def client(self, common_name: str = "cloudflare-edge") -> IssuedCert:
        return self.client_ca.issue_client(common_name)

    def rogue_client(self, common_name: str = "rogue-edge") -> IssuedCert:
        return self.other_client_ca.issue_client(common_name)
