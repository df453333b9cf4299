"""The two post-quantum rules, each with a compliant and a violating twin: ``ZoneAutoOriginTlsKex`` with
``enabled = false`` is a violation whatever the configuration; with ``postQuantum: "required"`` every zone with
baseline TLS settings needs an ``OriginTlsComplianceModes`` containing ``pqh``. Type tokens and property names are the
pulumi-cloudflare 6.23.1 wheel's (``enabled``; ``values``, ``zoneId``)."""

from __future__ import annotations

from typing import Any

import pulumi_cloudflare
import pytest

from origin_tls.baseline import PostQuantum
from origin_tls.errors import InvalidInput
from origin_tls.policy import (
    CONFIG_POST_QUANTUM,
    TYPE_HANDSHAKE_VERIFICATION,
    TYPE_ORIGIN_TLS_COMPLIANCE_MODES,
    TYPE_ZONE_AUTO_ORIGIN_TLS_KEX,
    TYPE_ZONE_SETTING,
    TYPE_ZONE_SETTING_PIN,
    PolicyConfig,
    Rule,
    StackResource,
    check_resource,
    check_stack,
    parse_policy_config,
)

ZONE = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
REQUIRED = PolicyConfig(post_quantum=PostQuantum.REQUIRED)


def test_the_type_tokens_and_property_names_are_the_providers() -> None:
    kex, modes = pulumi_cloudflare.ZoneAutoOriginTlsKex, pulumi_cloudflare.OriginTlsComplianceModes
    assert kex.pulumi_type == TYPE_ZONE_AUTO_ORIGIN_TLS_KEX
    assert modes.pulumi_type == TYPE_ORIGIN_TLS_COMPLIANCE_MODES
    assert {"enabled", "zone_id"} <= set(pulumi_cloudflare.ZoneAutoOriginTlsKexArgs.__init__.__code__.co_varnames)
    assert {"values", "zone_id"} <= set(pulumi_cloudflare.OriginTlsComplianceModesArgs.__init__.__code__.co_varnames)


# -- zone-auto-origin-tls-kex ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [PolicyConfig(), REQUIRED])
@pytest.mark.parametrize(("enabled", "ok"), [(True, True), (False, False), (None, False), ("false", False)])
def test_automatic_key_exchange_must_stay_enabled_whatever_the_config(
    config: PolicyConfig, enabled: Any, ok: bool
) -> None:
    props = {"zoneId": ZONE} if enabled is None else {"zoneId": ZONE, "enabled": enabled}
    found = check_resource(Rule.AUTO_ORIGIN_TLS_KEX, TYPE_ZONE_AUTO_ORIGIN_TLS_KEX, props, config)
    assert (found == []) is ok
    if not ok:
        assert "X25519MLKEM768" in found[0].message


def test_the_kex_rule_ignores_other_resources_and_other_rules_ignore_it() -> None:
    off = {"zoneId": ZONE, "enabled": False}
    assert check_resource(Rule.AUTO_ORIGIN_TLS_KEX, TYPE_ZONE_SETTING, off, PolicyConfig()) == []
    assert check_resource(Rule.AOP_ENABLED, TYPE_ZONE_AUTO_ORIGIN_TLS_KEX, off, PolicyConfig()) == []


# -- zone-origin-pq-required ----------------------------------------------------------------------------------------


def setting(name: str, setting_id: str, value: Any, zone: str = ZONE) -> StackResource:
    props = {"zoneId": zone, "settingId": setting_id, "value": value}
    return StackResource(TYPE_ZONE_SETTING, f"urn:pulumi:dev::site::{TYPE_ZONE_SETTING}::{name}", props)


def modes(values: Any, zone: str = ZONE) -> StackResource:
    kind = TYPE_ORIGIN_TLS_COMPLIANCE_MODES
    return StackResource(kind, f"urn:pulumi:dev::site::{kind}::modes-{zone[:4]}", {"zoneId": zone, "values": values})


@pytest.mark.parametrize(
    ("extra", "ok"),
    [
        ([modes(["pqh"])], True),
        ([modes(["fips", "pqh"])], True),
        ([], False),
        ([modes([])], False),
        ([modes(["fips"])], False),
        ([modes("pqh")], False),  # a string is not a list of modes
        ([modes(["pqh"], zone=OTHER)], False),  # another zone's requirement
    ],
)
def test_required_needs_pqh_for_each_zone_with_baseline_settings(extra: list[StackResource], ok: bool) -> None:
    ssl = setting("ssl", "ssl", "strict")
    found = check_stack(Rule.ORIGIN_PQ_REQUIRED, [ssl, setting("tls13", "tls_1_3", "on"), *extra], REQUIRED)
    assert (found == []) is ok
    if not ok:
        assert [v.urn for v in found] == [ssl.urn]
        assert "pqh" in found[0].message
        assert "ssl, tls_1_3" in found[0].message


def test_auto_requires_no_compliance_mode() -> None:
    assert check_stack(Rule.ORIGIN_PQ_REQUIRED, [setting("ssl", "ssl", "strict")], PolicyConfig()) == []


def test_required_judges_each_zone_and_the_components_pin_and_ignores_non_baseline_settings() -> None:
    pin = StackResource(
        TYPE_ZONE_SETTING_PIN, "urn:pin", {"zone_id": OTHER, "setting_id": "ssl_automatic_mode", "value": "custom"}
    )
    resources = [setting("ssl", "ssl", "strict"), modes(["pqh"]), pin, setting("0rtt", "0rtt", "on", zone=OTHER)]
    found = check_stack(Rule.ORIGIN_PQ_REQUIRED, resources, REQUIRED)
    assert [v.urn for v in found] == ["urn:pin"]
    assert OTHER in found[0].message
    # A verification alone does not make a zone "with baseline settings"
    verification = StackResource(TYPE_HANDSHAKE_VERIFICATION, "urn:v", {"zone_id": OTHER})
    assert check_stack(Rule.ORIGIN_PQ_REQUIRED, [verification], REQUIRED) == []


@pytest.mark.parametrize(
    ("given", "expected"), [({}, PostQuantum.AUTO), ({"postQuantum": "required"}, PostQuantum.REQUIRED)]
)
def test_the_config_key_parses(given: dict[str, Any], expected: PostQuantum) -> None:
    assert parse_policy_config(given, keys=(CONFIG_POST_QUANTUM,)).post_quantum is expected


@pytest.mark.parametrize("bad", ["always", True, ["required"]])
def test_a_bad_post_quantum_value_is_refused_naming_the_key(bad: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_config({"postQuantum": bad}, keys=(CONFIG_POST_QUANTUM,))
    assert "postQuantum" in str(caught.value)
    assert "required" in str(caught.value)
