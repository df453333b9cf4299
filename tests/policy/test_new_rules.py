"""The two rules issue 11 added, each with a compliant and a violating twin: the per-hostname minimum TLS version
(``HostnameTlsSetting``), and a stack rule that a zone declared with zone- or hostname-level AOP has its AOP
resources."""

from __future__ import annotations

from typing import Any

import pytest

from origin_tls.baseline import AopMode, Baseline, TlsVersion
from origin_tls.policy import (
    TYPE_AOP_CERTIFICATE,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_HOSTNAME_CERTIFICATE,
    TYPE_AOP_SETTINGS,
    TYPE_HANDSHAKE_VERIFICATION,
    TYPE_HOSTNAME_TLS_SETTING,
    PolicyConfig,
    Rule,
    StackResource,
    check_resource,
    check_stack,
)

ZONE = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def hostname_setting(value: Any, setting_id: str = "min_tls_version") -> dict[str, Any]:
    return {"zoneId": ZONE, "hostname": "app.example.com", "settingId": setting_id, "value": value}


@pytest.mark.parametrize(
    ("value", "floor", "ok"),
    [
        ("1.2", "1.2", True),
        ("1.3", "1.2", True),
        ("1.0", "1.2", False),
        ("1.2", "1.3", False),
        ("tls1.2", "1.2", False),
    ],
)
def test_hostname_min_tls_version_twins(value: str, floor: str, ok: bool) -> None:
    config = PolicyConfig(baseline=Baseline(min_tls=TlsVersion(floor)))
    found = check_resource(Rule.HOSTNAME_MIN_TLS_VERSION, TYPE_HOSTNAME_TLS_SETTING, hostname_setting(value), config)
    assert (found == []) is ok
    if not ok:
        assert "app.example.com" in found[0].message


def test_hostname_rule_ignores_other_settings_and_types() -> None:
    config = PolicyConfig()
    ciphers = hostname_setting(["ECDHE-RSA-AES128-GCM-SHA256"], setting_id="ciphers")
    assert check_resource(Rule.HOSTNAME_MIN_TLS_VERSION, TYPE_HOSTNAME_TLS_SETTING, ciphers, config) == []
    zone_setting = {"zoneId": ZONE, "settingId": "min_tls_version", "value": "1.0"}
    assert (
        check_resource(Rule.HOSTNAME_MIN_TLS_VERSION, "cloudflare:index/zoneSetting:ZoneSetting", zone_setting, config)
        == []
    )


def resource(typ: str, zone: str = ZONE, **props: Any) -> StackResource:
    key = "zone_id" if typ == TYPE_HANDSHAKE_VERIFICATION else "zoneId"
    return StackResource(typ, f"urn:pulumi:dev::p::{typ}::{typ.rsplit(':', 1)[-1]}-{zone[:4]}", {key: zone, **props})


@pytest.mark.parametrize(
    ("level", "needed"),
    [
        ("zone", [TYPE_AOP_CERTIFICATE, TYPE_AOP_SETTINGS]),
        ("hostname", [TYPE_AOP_HOSTNAME_CERTIFICATE, TYPE_AOP_HOSTNAME]),
    ],
)
def test_zone_aop_resources_twins(level: str, needed: list[str]) -> None:
    verification = resource(TYPE_HANDSHAKE_VERIFICATION, aop=level)
    compliant = [verification, *(resource(t) for t in needed)]
    assert check_stack(Rule.ZONE_AOP_RESOURCES, compliant, PolicyConfig()) == []
    for missing in needed:
        partial = [r for r in compliant if r.type != missing]
        found = check_stack(Rule.ZONE_AOP_RESOURCES, partial, PolicyConfig())
        assert [v.urn for v in found] == [verification.urn]
        assert missing.rsplit(":", 1)[-1] in found[0].message
    # The resources of another zone do not count.
    elsewhere = [verification, *(resource(t, zone=OTHER) for t in needed)]
    assert len(check_stack(Rule.ZONE_AOP_RESOURCES, elsewhere, PolicyConfig())) == 1


@pytest.mark.parametrize("level", ["global", "off"])
def test_zone_aop_resources_not_required_for_global_or_off(level: str) -> None:
    assert (
        check_stack(Rule.ZONE_AOP_RESOURCES, [resource(TYPE_HANDSHAKE_VERIFICATION, aop=level)], PolicyConfig()) == []
    )


def test_zone_aop_level_from_the_policy_config_when_the_stack_does_not_say() -> None:
    verification = resource(TYPE_HANDSHAKE_VERIFICATION)
    zone_level = PolicyConfig(baseline=Baseline(aop=AopMode.ZONE))
    assert len(check_stack(Rule.ZONE_AOP_RESOURCES, [verification], zone_level)) == 1
    assert check_stack(Rule.ZONE_AOP_RESOURCES, [verification], PolicyConfig()) == []
