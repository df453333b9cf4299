"""What the policy rules speak about: resource type tokens, the rules themselves, and a violation.

The type tokens and property names are the ones a policy pack receives from the Pulumi engine: schema (camelCase)
names for pulumi-cloudflare resources (``settingId``, ``zoneId``, ``requestType``), raw names for dynamic resources
(``zone_id``), per ``reference/pulumi-without-cli.md`` §4 and §5.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AOP_CERTIFICATE_TYPES",
    "BASELINE_SETTING_IDS",
    "TYPE_AOP_CERTIFICATE",
    "TYPE_AOP_HOSTNAME",
    "TYPE_AOP_HOSTNAME_CERTIFICATE",
    "TYPE_AOP_SETTINGS",
    "TYPE_HANDSHAKE_VERIFICATION",
    "TYPE_HOSTNAME_TLS_SETTING",
    "TYPE_ORIGIN_CA_CERTIFICATE",
    "TYPE_ORIGIN_TLS_COMPLIANCE_MODES",
    "TYPE_ZONE_AUTO_ORIGIN_TLS_KEX",
    "TYPE_ZONE_SETTING",
    "TYPE_ZONE_SETTING_PIN",
    "Rule",
    "StackResource",
    "Violation",
    "is_handshake_verification",
    "zone_setting_props",
]

TYPE_ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
TYPE_HOSTNAME_TLS_SETTING = "cloudflare:index/hostnameTlsSetting:HostnameTlsSetting"
TYPE_ORIGIN_CA_CERTIFICATE = "cloudflare:index/originCaCertificate:OriginCaCertificate"
TYPE_AOP_SETTINGS = "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings"
TYPE_AOP_HOSTNAME = "cloudflare:index/authenticatedOriginPulls:AuthenticatedOriginPulls"
TYPE_AOP_CERTIFICATE = "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate"
TYPE_AOP_HOSTNAME_CERTIFICATE = (
    "cloudflare:index/authenticatedOriginPullsHostnameCertificate:AuthenticatedOriginPullsHostnameCertificate"
)
#: Post-quantum key agreement to the origin (pulumi-cloudflare 6.23: ``enabled``; ``values``, a list of modes).
TYPE_ZONE_AUTO_ORIGIN_TLS_KEX = "cloudflare:index/zoneAutoOriginTlsKex:ZoneAutoOriginTlsKex"
TYPE_ORIGIN_TLS_COMPLIANCE_MODES = "cloudflare:index/originTlsComplianceModes:OriginTlsComplianceModes"
AOP_CERTIFICATE_TYPES = frozenset({TYPE_AOP_CERTIFICATE, TYPE_AOP_HOSTNAME_CERTIFICATE})
#: The component's own pin of ``ssl_automatic_mode`` (pulumi-cloudflare has no such setting): a zone setting too.
TYPE_ZONE_SETTING_PIN = "pulumi-python:dynamic/origin-tls:ZoneSettingPin"
#: ``class HandshakeVerification(pulumi.dynamic.Resource, module="origin-tls", name="HandshakeVerification")``.
TYPE_HANDSHAKE_VERIFICATION = "pulumi-python:dynamic/origin-tls:HandshakeVerification"

#: The zone settings the baseline governs (``Baseline.zone_settings``): a zone with any of them "has TLS settings".
BASELINE_SETTING_IDS = frozenset(
    {
        "ssl",
        "ssl_automatic_mode",
        "min_tls_version",
        "tls_1_3",
        "always_use_https",
        "security_header",
        "tls_client_auth",
    }
)


class Rule(str, enum.Enum):
    """One rule of the baseline; the value is the policy's name in the pack."""

    SSL_MODE = "zone-ssl-mode"
    MIN_TLS_VERSION = "zone-min-tls-version"
    TLS_1_3 = "zone-tls-1-3"
    HSTS = "zone-hsts"
    ALWAYS_USE_HTTPS = "zone-always-use-https"
    TLS_CLIENT_AUTH = "zone-tls-client-auth"
    ORIGIN_CA_CERTIFICATE = "origin-ca-certificate"
    ORIGIN_CA_ECDSA = "origin-ca-certificate-ecdsa"
    AOP_ENABLED = "authenticated-origin-pulls-enabled"
    ZONE_VERIFIED = "zone-handshake-verification"
    ZONE_SSL_NOT_WEAK = "zone-ssl-not-off-or-flexible"
    HOSTNAME_MIN_TLS_VERSION = "hostname-min-tls-version"
    ZONE_AOP_RESOURCES = "zone-aop-resources"
    AUTO_ORIGIN_TLS_KEX = "zone-auto-origin-tls-kex"
    ORIGIN_PQ_REQUIRED = "zone-origin-pq-required"

    def __str__(self) -> str:
        return self.value

    @property
    def is_stack_rule(self) -> bool:
        return self in (Rule.ZONE_VERIFIED, Rule.ZONE_SSL_NOT_WEAK, Rule.ZONE_AOP_RESOURCES, Rule.ORIGIN_PQ_REQUIRED)


@dataclass(frozen=True)
class Violation:
    """One finding. ``urn`` names the offending resource for stack rules (``None`` for resource rules)."""

    rule: Rule
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class StackResource:
    """A resource as a stack rule sees it: type token, URN and its (output) properties."""

    type: str
    urn: str
    props: Mapping[str, Any] = field(repr=False)


def is_handshake_verification(resource_type: str) -> bool:
    """The package's verification resource, under its dynamic type token or any ``…:HandshakeVerification``."""
    return resource_type == TYPE_HANDSHAKE_VERIFICATION or resource_type.endswith(":HandshakeVerification")


class _PinProps(Mapping[str, Any]):
    """A ``ZoneSettingPin``'s raw input names (dynamic resources keep them) seen under ``ZoneSetting``'s schema names.
    Lazy on purpose: a value is read only when a rule asks for it, since it may be unknown during preview."""

    _NAMES = {"zoneId": "zone_id", "settingId": "setting_id", "value": "value"}

    def __init__(self, props: Mapping[str, Any]) -> None:
        self._props = props

    def __getitem__(self, key: str) -> Any:
        return self._props[self._NAMES.get(key, key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


def zone_setting_props(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``props`` under ZoneSetting's names when the resource sets a zone setting (``ZoneSetting`` or the component's
    ``ZoneSettingPin``); ``None`` for any other resource."""
    if resource_type == TYPE_ZONE_SETTING:
        return props
    if resource_type == TYPE_ZONE_SETTING_PIN:
        return _PinProps(props)
    return None
