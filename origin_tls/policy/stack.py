"""Stack rules: every resource of a stack (with its outputs) in, violations attributed to resources out.

Like the resource rules, these read only what they judge and never catch the SDK's unknown-value error, so a zone
id that is unknown during preview makes the SDK report "can't run policy during preview" instead of a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..baseline import AopMode, PostQuantum, SslMode, parse_aop_mode
from ..errors import InvalidInput
from .config import PolicyConfig
from .model import (
    BASELINE_SETTING_IDS,
    TYPE_AOP_CERTIFICATE,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_HOSTNAME_CERTIFICATE,
    TYPE_AOP_SETTINGS,
    TYPE_ORIGIN_TLS_COMPLIANCE_MODES,
    Rule,
    StackResource,
    Violation,
    is_handshake_verification,
    zone_setting_props,
)

__all__ = ["AOP_RESOURCES", "WEAK_SSL_MODES", "check_stack", "pq_required_zones", "verified_zones"]

#: Modes in which the edge-to-origin hop is plain HTTP (``off``, ``flexible``).
WEAK_SSL_MODES = (SslMode.OFF.value, SslMode.FLEXIBLE.value)


def _zone_id(props: Mapping[str, Any]) -> str | None:
    # pulumi-cloudflare resources use schema names (zoneId); dynamic resources keep their raw names (zone_id).
    for key in ("zoneId", "zone_id"):
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def verified_zones(resources: Iterable[StackResource]) -> frozenset[str]:
    """Zone ids covered by a ``HandshakeVerification`` resource."""
    zones = set()
    for resource in resources:
        if is_handshake_verification(resource.type):
            zone = _zone_id(resource.props)
            if zone is not None:
                zones.add(zone)
    return frozenset(zones)


def _zones_with_baseline_settings(
    resources: list[StackResource], skip: frozenset[str]
) -> tuple[dict[str, StackResource], dict[str, list[str]]]:
    """Per zone (other than ``skip``): its first resource setting a baseline zone setting, and those settings' ids."""
    first_setting: dict[str, StackResource] = {}
    settings_per_zone: dict[str, list[str]] = {}
    for resource in resources:
        setting = zone_setting_props(resource.type, resource.props)
        if setting is None:
            continue
        setting_id = setting.get("settingId")
        if not isinstance(setting_id, str) or setting_id not in BASELINE_SETTING_IDS:
            continue
        zone = _zone_id(setting)
        if zone is None or zone in skip:
            continue
        first_setting.setdefault(zone, resource)
        settings_per_zone.setdefault(zone, []).append(str(setting_id))
    return first_setting, settings_per_zone


def _unverified_zones(resources: list[StackResource]) -> list[Violation]:
    first_setting, settings_per_zone = _zones_with_baseline_settings(resources, verified_zones(resources))
    return [
        Violation(
            Rule.ZONE_VERIFIED,
            f"zone {zone} has TLS settings ({', '.join(sorted(settings_per_zone[zone]))}) but no "
            "HandshakeVerification resource proving them on every deploy",
            urn=resource.urn,
        )
        for zone, resource in first_setting.items()
    ]


def _weak_ssl(resources: list[StackResource]) -> list[Violation]:
    violations = []
    for resource in resources:
        setting = zone_setting_props(resource.type, resource.props)
        if setting is None or setting.get("settingId") != "ssl":
            continue
        value = setting.get("value")
        if value in WEAK_SSL_MODES:
            zone = _zone_id(setting) or "(unknown zone)"
            violations.append(
                Violation(
                    Rule.ZONE_SSL_NOT_WEAK,
                    f"zone {zone} has SSL mode {value!r}: the hop from Cloudflare to the origin is not encrypted",
                    urn=resource.urn,
                )
            )
    return violations


#: What a zone at each level needs in the stack: the client certificate upload and the switch that enables it.
AOP_RESOURCES: dict[AopMode, tuple[str, ...]] = {
    AopMode.ZONE: (TYPE_AOP_CERTIFICATE, TYPE_AOP_SETTINGS),
    AopMode.HOSTNAME: (TYPE_AOP_HOSTNAME_CERTIFICATE, TYPE_AOP_HOSTNAME),
}
_SHORT = {
    TYPE_AOP_CERTIFICATE: "AuthenticatedOriginPullsCertificate",
    TYPE_AOP_SETTINGS: "AuthenticatedOriginPullsSettings",
    TYPE_AOP_HOSTNAME_CERTIFICATE: "AuthenticatedOriginPullsHostnameCertificate",
    TYPE_AOP_HOSTNAME: "AuthenticatedOriginPulls",
}


def _aop_level(resource: StackResource, config: PolicyConfig) -> AopMode | None:
    """The zone's level: the verification's own ``aop`` (what the stack declares for it), else the policy's."""
    raw = resource.props.get("aop")
    if isinstance(raw, str):
        try:
            return parse_aop_mode(raw)
        except InvalidInput:
            return None
    return config.baseline.aop


def _missing_aop_resources(resources: list[StackResource], config: PolicyConfig) -> list[Violation]:
    present: dict[str, set[str]] = {}
    for resource in resources:
        if resource.type in _SHORT:
            zone = _zone_id(resource.props)
            if zone is not None:
                present.setdefault(zone, set()).add(resource.type)
    violations: list[Violation] = []
    for resource in resources:
        if not is_handshake_verification(resource.type):
            continue
        zone = _zone_id(resource.props)
        level = _aop_level(resource, config)
        if zone is None or level not in AOP_RESOURCES:
            continue
        missing = [_SHORT[t] for t in AOP_RESOURCES[level] if t not in present.get(zone, set())]
        if missing:
            violations.append(
                Violation(
                    Rule.ZONE_AOP_RESOURCES,
                    f"zone {zone} is declared with {level.value}-level Authenticated Origin Pulls but the stack has no "
                    f"{' and no '.join(missing)} for it: Cloudflare would pull without the team's client certificate",
                    urn=resource.urn,
                )
            )
    return violations


def pq_required_zones(resources: Iterable[StackResource]) -> frozenset[str]:
    """Zone ids with an ``OriginTlsComplianceModes`` whose ``values`` contain ``pqh``."""
    zones = set()
    for resource in resources:
        if resource.type != TYPE_ORIGIN_TLS_COMPLIANCE_MODES:
            continue
        zone = _zone_id(resource.props)
        values = resource.props.get("values")
        if zone is not None and not isinstance(values, str) and isinstance(values, Iterable) and "pqh" in values:
            zones.add(zone)
    return frozenset(zones)


def _zones_without_pq(resources: list[StackResource], config: PolicyConfig) -> list[Violation]:
    if config.post_quantum is not PostQuantum.REQUIRED:
        return []
    first_setting, settings_per_zone = _zones_with_baseline_settings(resources, pq_required_zones(resources))
    return [
        Violation(
            Rule.ORIGIN_PQ_REQUIRED,
            f"zone {zone} has TLS settings ({', '.join(sorted(settings_per_zone[zone]))}) but no "
            "OriginTlsComplianceModes with 'pqh': postQuantum is 'required', so the edge must reach the origin with "
            "X25519MLKEM768 only (set it after the origin proved it can, as OriginProtection(post_quantum='required')"
            " does)",
            urn=resource.urn,
        )
        for zone, resource in first_setting.items()
    ]


def check_stack(rule: Rule, resources: Iterable[StackResource], config: PolicyConfig) -> list[Violation]:
    """The violations of a stack rule; ``[]`` for a compliant stack or a resource rule."""
    listed = list(resources)
    if rule is Rule.ZONE_VERIFIED:
        return _unverified_zones(listed)
    if rule is Rule.ZONE_SSL_NOT_WEAK:
        return _weak_ssl(listed)
    if rule is Rule.ZONE_AOP_RESOURCES:
        return _missing_aop_resources(listed, config)
    if rule is Rule.ORIGIN_PQ_REQUIRED:
        return _zones_without_pq(listed, config)
    return []
