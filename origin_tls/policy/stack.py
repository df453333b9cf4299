"""Stack rules: every resource of a stack (with its outputs) in, violations attributed to resources out.

Like the resource rules, these read only what they judge and never catch the SDK's unknown-value error, so a zone
id that is unknown during preview makes the SDK report "can't run policy during preview" instead of a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..baseline import SslMode
from .config import PolicyConfig
from .model import (
    BASELINE_SETTING_IDS,
    Rule,
    StackResource,
    Violation,
    is_handshake_verification,
    zone_setting_props,
)

__all__ = ["WEAK_SSL_MODES", "check_stack", "verified_zones"]

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


def _unverified_zones(resources: list[StackResource]) -> list[Violation]:
    verified = verified_zones(resources)
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
        if zone is None or zone in verified:
            continue
        first_setting.setdefault(zone, resource)
        settings_per_zone.setdefault(zone, []).append(str(setting_id))
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


def check_stack(rule: Rule, resources: Iterable[StackResource], config: PolicyConfig) -> list[Violation]:
    """The violations of a stack rule; ``[]`` for a compliant stack or a resource rule."""
    listed = list(resources)
    if rule is Rule.ZONE_VERIFIED:
        return _unverified_zones(listed)
    if rule is Rule.ZONE_SSL_NOT_WEAK:
        return _weak_ssl(listed)
    return []
