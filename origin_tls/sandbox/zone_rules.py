"""The rules and records of a sandbox zone: defaults, Cloudflare's validation, the refusals it answers with.

Pure functions and frozen records; :mod:`.state` holds them under a lock. Defaults are a new zone's
(``reference/cloudflare.md`` §2.1), with ``ssl`` = ``flexible``: the SSL mode default is plan dependent and Flexible is
what new zones commonly get; it is also the story the demo fixes. Where Cloudflare's own error code for a refusal is
not in the reference, the sandbox answers 1007 (Cloudflare's "invalid value" code) with a specific message.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..baseline import parse_hostnames
from .origin_ca import ClientIdentity, is_signed_by

__all__ = [
    "AOP_STATUSES",
    "AUTO_ORIGIN_TLS_KEX",
    "COMPLIANCE_MODES",
    "DEFAULT_ACTIVATION_DELAY",
    "DEFAULT_REQUESTED_VALIDITY",
    "DEFAULT_SETTINGS",
    "MAX_HOSTNAME_CERTIFICATES",
    "MAX_ORIGIN_CA_HOSTNAMES",
    "ORIGIN_TLS_COMPLIANCE_MODES",
    "SETTING_IDS",
    "AopCertificate",
    "HostnameAssociation",
    "OriginCertificate",
    "SandboxApiError",
    "SettingEntry",
    "SettingError",
    "invalid",
    "is_zone_hostname",
    "parse_client_certificate",
    "parse_origin_hostnames",
    "signature_name",
    "utc_now",
    "validate_auto_origin_tls_kex",
    "validate_compliance_modes",
    "validate_setting_value",
    "zone_name_of",
]

#: Seconds an uploaded AOP certificate stays ``initializing`` before ``active``: long enough to be seen.
DEFAULT_ACTIVATION_DELAY = 0.2
AOP_STATUSES = ("initializing", "pending_deployment", "pending_deletion", "active", "deleted")
#: Cloudflare allows 10 hostname client certificates per zone (openapi, per-hostname upload).
MAX_HOSTNAME_CERTIFICATES = 10
MAX_ORIGIN_CA_HOSTNAMES = 200
DEFAULT_REQUESTED_VALIDITY = 5475

_ON_OFF = ("on", "off")
_ENUMS: dict[str, tuple[str, ...]] = {
    "ssl": ("off", "flexible", "full", "strict"),
    "ssl_automatic_mode": ("auto", "custom"),
    "min_tls_version": ("1.0", "1.1", "1.2", "1.3"),
    "tls_1_3": ("on", "off", "zrt"),
    "always_use_https": _ON_OFF,
    "automatic_https_rewrites": _ON_OFF,
    "tls_client_auth": _ON_OFF,
}
_HSTS_BOOLEANS = ("enabled", "include_subdomains", "preload", "nosniff")
DEFAULT_SETTINGS: Mapping[str, Any] = {
    "ssl": "flexible",
    "ssl_automatic_mode": "auto",
    "min_tls_version": "1.0",
    "tls_1_3": "on",
    "security_header": {
        "strict_transport_security": {
            "enabled": False,
            "max_age": 0,
            "include_subdomains": False,
            "preload": False,
            "nosniff": False,
        }
    },
    "always_use_https": "off",
    "automatic_https_rewrites": "on",
    "tls_client_auth": "off",
}
SETTING_IDS: tuple[str, ...] = tuple(DEFAULT_SETTINGS)

# The two origin key-exchange settings (``reference/cloudflare.md`` section 6). They live under ``/settings/`` but are
# not ``{"value"}`` settings of the list: ``auto_origin_tls_kex`` holds its value under ``enabled`` (on by default
# since 2026-07-21), ``origin_tls_compliance_modes`` a list of modes (none by default) and can be deleted.
AUTO_ORIGIN_TLS_KEX = "auto_origin_tls_kex"
ORIGIN_TLS_COMPLIANCE_MODES = "origin_tls_compliance_modes"
#: The modes Cloudflare accepts today: FIPS-approved groups, post-quantum hybrid groups. Their intersection
#: (SecP256r1MLKEM768) is not empty, so both together are accepted too.
COMPLIANCE_MODES: tuple[str, ...] = ("fips", "pqh")


class SandboxApiError(Exception):
    """A refusal as the API answers it: HTTP ``status``, Cloudflare error ``code`` and ``message``."""

    def __init__(self, code: int, message: str, *, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")


class SettingError(SandboxApiError):
    """A zone setting id or value refused (1006 unknown setting, 1007 invalid value)."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class SettingEntry:
    id: str
    value: Any
    modified_on: dt.datetime | None


@dataclass(frozen=True)
class OriginCertificate:
    """An Origin CA certificate as the sandbox stores it (``revoked_at`` set once revoked)."""

    id: str
    certificate_pem: str
    csr: str
    hostnames: tuple[str, ...]
    request_type: str
    requested_validity: int
    expires_on: dt.datetime
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True)
class AopCertificate:
    """An uploaded client certificate (zone-level or per-hostname). ``ca_pem`` is its issuer when known."""

    id: str
    certificate_pem: str
    private_key_pem: str = field(repr=False)
    issuer: str
    signature: str
    serial_number: str
    expires_on: dt.datetime
    uploaded_on: dt.datetime
    status: str
    ca_pem: str | None

    def identity(self) -> ClientIdentity:
        return ClientIdentity(self.certificate_pem, self.private_key_pem, self.ca_pem or "")


@dataclass(frozen=True)
class HostnameAssociation:
    hostname: str
    cert_id: str
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


def invalid(message: str) -> SandboxApiError:
    return SandboxApiError(1007, message)


def signature_name(cert: x509.Certificate) -> str:
    # Named the way Cloudflare's certificate objects spell them ("SHA256WithRSA", "ECDSAWithSHA256").
    algorithm = cert.signature_hash_algorithm.name.upper() if cert.signature_hash_algorithm else "UNKNOWN"
    if isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        return f"ECDSAWith{algorithm}"
    return f"{algorithm}WithRSA"


def parse_client_certificate(certificate: object, private_key: object) -> tuple[x509.Certificate, str, str | None]:
    """Validate an AOP upload: PEM certificate(s), a PEM key, and the key matching the first certificate.

    Returns the leaf, the private key PEM, and the issuer's PEM when it is in the upload (or the leaf itself when it
    is self-signed): that is the CA an origin must trust for it.
    """
    if not isinstance(certificate, str) or "-----BEGIN CERTIFICATE-----" not in certificate:
        raise invalid("certificate must be a PEM encoded X.509 certificate")
    if not isinstance(private_key, str) or "PRIVATE KEY-----" not in private_key:
        raise invalid("private_key must be a PEM encoded private key")
    try:
        chain = x509.load_pem_x509_certificates(certificate.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise invalid("certificate could not be parsed") from None
    try:
        key = serialization.load_pem_private_key(private_key.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise invalid("private_key could not be parsed (an unencrypted PEM key is required)") from None
    leaf = chain[0]
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise invalid("private_key must be an ECDSA or RSA key")
    if key.public_key().public_numbers() != leaf.public_key().public_numbers():  # type: ignore[union-attr]
        raise invalid("private_key does not match the certificate")
    issuer_pem: str | None = None
    for candidate in chain:
        if is_signed_by(leaf, candidate):
            issuer_pem = candidate.public_bytes(serialization.Encoding.PEM).decode("ascii")
            break
    return leaf, private_key, issuer_pem


def validate_setting_value(setting_id: str, value: Any, current: Any) -> Any:
    """The stored form of ``value`` for ``setting_id``, or :class:`SettingError` 1007."""
    error = SettingError(1007, f"Invalid value for zone setting {setting_id}")
    if setting_id in _ENUMS:
        if not isinstance(value, str) or value not in _ENUMS[setting_id]:
            raise error
        return value
    # security_header: {"strict_transport_security": {...}} with snake_case keys only; camelCase keys
    # (pulumi-cloudflare#1579) are unknown fields and refused. Given keys replace, absent keys keep their value.
    if not isinstance(value, dict) or set(value) != {"strict_transport_security"}:
        raise error
    hsts = value["strict_transport_security"]
    if not isinstance(hsts, dict) or not hsts or not set(hsts) <= {*_HSTS_BOOLEANS, "max_age"}:
        raise error
    merged = dict(current["strict_transport_security"])
    for key, item in hsts.items():
        if key == "max_age":
            if isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0 or item != int(item):
                raise error
            merged[key] = int(item)
        elif isinstance(item, bool):
            merged[key] = item
        else:
            raise error
    return {"strict_transport_security": merged}


def validate_auto_origin_tls_kex(body: Any) -> bool:
    """The ``enabled`` of a ``PATCH .../settings/auto_origin_tls_kex`` body, or :class:`SettingError` 1007.

    The value is under ``enabled``; the ``{"value": ...}`` every other setting takes is refused, not guessed at.
    """
    if not isinstance(body, dict) or "value" in body or not isinstance(body.get("enabled"), bool):
        raise SettingError(
            1007, f'Invalid value for zone setting {AUTO_ORIGIN_TLS_KEX}: send {{"enabled": true|false}}'
        )
    return bool(body["enabled"])


def validate_compliance_modes(value: Any) -> list[str]:
    """The stored form of ``origin_tls_compliance_modes``' ``value`` (a ``PUT``/``PATCH`` body's ``{"value": [...]}``).

    Each mode one of :data:`COMPLIANCE_MODES` (an unknown one is refused, 1007); duplicates dropped, order kept;
    ``[]`` clears the constraint.
    """
    if not isinstance(value, list) or not all(isinstance(mode, str) for mode in value):
        raise SettingError(1007, f"Invalid value for zone setting {ORIGIN_TLS_COMPLIANCE_MODES}: value must be a list")
    unknown = [mode for mode in value if mode not in COMPLIANCE_MODES]
    if unknown:
        allowed = ", ".join(COMPLIANCE_MODES)
        raise SettingError(
            1007,
            f"Invalid value for zone setting {ORIGIN_TLS_COMPLIANCE_MODES}: unknown mode {unknown[0]!r} ({allowed})",
        )
    return list(dict.fromkeys(value))


def zone_name_of(hostnames: Sequence[str]) -> str:
    """The zone apex when none is given: the common suffix of several names; for one name of three or more labels
    its parent (``app.example.test`` -> ``example.test``, a zone with one record), otherwise the name itself."""
    if len(hostnames) == 1:
        name = hostnames[0]
        return name.split(".", 1)[1] if name.count(".") >= 2 else name
    labels = [name.split(".") for name in hostnames]
    common: list[str] = []
    for parts in zip(*(reversed(item) for item in labels), strict=False):
        if len(set(parts)) != 1:
            break
        common.insert(0, parts[0])
    if len(common) < 2:
        raise ValueError("hostnames share no zone: pass zone_name")
    return ".".join(common)


def is_zone_hostname(name: str, zone_name: str) -> bool:
    """``name`` (or the name under a leading ``*.``) is the zone apex or below it."""
    bare = name[2:] if name.startswith("*.") else name
    return bare == zone_name or bare.endswith("." + zone_name)


def parse_origin_hostnames(hostnames: object, zone_name: str) -> tuple[str, ...]:
    """The SANs of an Origin CA request: at most 200, no IP addresses, one leading wildcard label, all in the zone
    (docs ``origin-ca/index.mdx``; the SDK's model docstring). Lower-cased, duplicates dropped, order kept."""
    if not isinstance(hostnames, list) or not hostnames:
        raise invalid("hostnames must be a non-empty list of hostnames")
    if len(hostnames) > MAX_ORIGIN_CA_HOSTNAMES:
        raise invalid(f"A certificate may cover at most {MAX_ORIGIN_CA_HOSTNAMES} hostnames")
    names: list[str] = []
    for item in hostnames:
        if not isinstance(item, str) or not item.strip():
            raise invalid("hostnames must be strings")
        name = item.strip().lower().rstrip(".")
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            raise invalid(f"IP addresses are not allowed as hostnames: {name}")
        try:
            parse_hostnames([name], allow_wildcard=True)
        except ValueError:
            raise invalid(
                f"Invalid hostname {name}: wildcards are allowed only as a single leading '*.' label"
            ) from None
        if not is_zone_hostname(name, zone_name):
            raise invalid(f"Hostname {name} does not belong to zone {zone_name}")
        if name not in names:
            names.append(name)
    return tuple(names)
