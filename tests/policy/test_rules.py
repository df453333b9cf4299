"""The baseline's policy rules, called directly: compliant resources pass, each deviation fails, gaps are safe."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

import origin_tls.policy as rules
from origin_tls.baseline import AopMode, Baseline, HstsPolicy, TlsVersion
from origin_tls.errors import InvalidInput
from origin_tls.policy import (
    TYPE_AOP_CERTIFICATE,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_HOSTNAME_CERTIFICATE,
    TYPE_AOP_SETTINGS,
    TYPE_HANDSHAKE_VERIFICATION,
    TYPE_ORIGIN_CA_CERTIFICATE,
    TYPE_ZONE_SETTING,
    TYPE_ZONE_SETTING_PIN,
    PolicyConfig,
    Rule,
    StackResource,
    check_resource,
    check_stack,
    parse_policy_config,
    remediate_resource,
)

ZONE = "0123456789abcdef0123456789abcdef"
OTHER_ZONE = "fedcba9876543210fedcba9876543210"
DEFAULT = PolicyConfig()
RESOURCE_RULES = [rule for rule in Rule if not rule.is_stack_rule]
ALL_TYPES = [
    TYPE_ZONE_SETTING,
    TYPE_ORIGIN_CA_CERTIFICATE,
    TYPE_AOP_SETTINGS,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_CERTIFICATE,
    TYPE_AOP_HOSTNAME_CERTIFICATE,
    "aws:s3/bucket:Bucket",
]


def setting(setting_id: str, value: Any) -> dict[str, Any]:
    return {"zoneId": ZONE, "settingId": setting_id, "value": value}


def hsts(**overrides: Any) -> dict[str, Any]:
    value = HstsPolicy().zone_value()
    value["strict_transport_security"].update(overrides)
    return setting("security_header", value)


def config(**baseline: Any) -> PolicyConfig:
    return PolicyConfig(baseline=Baseline(**baseline))


def messages(rule: Rule, props: Mapping[str, Any], cfg: PolicyConfig = DEFAULT, kind: str = TYPE_ZONE_SETTING) -> str:
    found = check_resource(rule, kind, props, cfg)
    assert all(v.rule is rule for v in found)
    return "\n".join(v.message for v in found)


# -- config -------------------------------------------------------------------------------------------------------


def test_empty_config_is_the_hardened_baseline() -> None:
    # Given no config at all (what the SDK hands over when the CLI sent none)
    empties: tuple[dict[str, object] | None, ...] = (None, {})
    for empty in empties:
        cfg = parse_policy_config(empty)
        # Then the defaults are restated in code
        assert cfg.baseline.min_tls is TlsVersion.TLS_1_2
        assert cfg.baseline.hsts == HstsPolicy(max_age=31_536_000, include_subdomains=True, preload=False)
        assert cfg.baseline.aop is None
        assert cfg.max_validity_days == 5475


def test_config_values_are_parsed_with_the_baseline_parsers() -> None:
    cfg = parse_policy_config(
        {
            "minTlsVersion": "1.3",
            "hstsMinMaxAge": 63_072_000.0,  # protobuf Struct numbers arrive as floats
            "hstsPreload": True,
            "aopLevel": "global",
            "maxValidityDays": 365.0,
        }
    )
    assert cfg.baseline.min_tls is TlsVersion.TLS_1_3
    assert cfg.baseline.hsts.max_age == 63_072_000
    assert cfg.baseline.hsts.preload is True
    assert cfg.baseline.aop is AopMode.GLOBAL
    assert cfg.max_validity_days == 365
    assert parse_policy_config({"aopLevel": "any"}).baseline.aop is None
    assert parse_policy_config({"aopLevel": "off"}).baseline.aop is AopMode.OFF


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"minTlsVersion": "0.9"}, "minTlsVersion"),
        ({"minTlsVersion": 1.2}, "minTlsVersion"),
        ({"hstsMinMaxAge": -1}, "hstsMinMaxAge"),
        ({"hstsMinMaxAge": 1.5}, "hstsMinMaxAge"),
        ({"hstsPreload": "true"}, "hstsPreload"),
        ({"hstsPreload": True, "hstsMinMaxAge": 86_400}, "hstsMinMaxAge"),
        ({"aopLevel": "sometimes"}, "aopLevel"),
        ({"maxValidityDays": 100}, "maxValidityDays"),
        ({"minTLSVersion": "1.2"}, "policy config key"),
    ],
)
def test_bad_config_is_refused_naming_the_key(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy_config(bad)
    assert caught.value.field == field


def test_a_key_of_another_policy_is_refused() -> None:
    with pytest.raises(InvalidInput, match="policy config key"):
        parse_policy_config({"hstsPreload": True}, keys=("minTlsVersion",))
    assert parse_policy_config({"minTlsVersion": "1.3"}, keys=("minTlsVersion",)).baseline.min_tls.value == "1.3"


def test_schemas_restate_the_same_defaults() -> None:
    schema = rules.config_schema(*rules.CONFIG_KEYS)
    assert schema["minTlsVersion"]["default"] == "1.2"
    assert schema["minTlsVersion"]["enum"] == ["1.0", "1.1", "1.2", "1.3"]
    assert schema["hstsMinMaxAge"]["default"] == 31_536_000
    assert schema["hstsPreload"]["default"] is False
    assert schema["aopLevel"]["default"] == "any"
    assert schema["maxValidityDays"]["default"] == 5475
    defaults = {key: spec["default"] for key, spec in schema.items()}
    assert parse_policy_config(defaults) == parse_policy_config({})


# -- zone settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RESOURCE_RULES)
def test_the_baselines_own_zone_settings_comply(rule: Rule) -> None:
    # Given the settings the component declares (Baseline.zone_settings, with global AOP so tls_client_auth is in)
    baseline = Baseline(aop=AopMode.GLOBAL)
    cfg = PolicyConfig(baseline=baseline)
    for setting_id, value in baseline.zone_settings().items():
        # Then no rule finds anything, and no remediation is offered
        assert check_resource(rule, TYPE_ZONE_SETTING, setting(setting_id, value), cfg) == []
        assert remediate_resource(rule, TYPE_ZONE_SETTING, setting(setting_id, value), cfg) is None


@pytest.mark.parametrize("mode", ["off", "flexible", "full", "Strict", None])
def test_ssl_other_than_strict_fails(mode: str | None) -> None:
    assert "the baseline requires 'strict'" in messages(Rule.SSL_MODE, setting("ssl", mode))
    assert messages(Rule.SSL_MODE, setting("ssl", "strict")) == ""


def test_ssl_automatic_mode_must_be_custom() -> None:
    assert "'custom'" in messages(Rule.SSL_MODE, setting("ssl_automatic_mode", "auto"))
    assert messages(Rule.SSL_MODE, setting("ssl_automatic_mode", "custom")) == ""


@pytest.mark.parametrize(("value", "floor", "ok"), [
    ("1.0", "1.2", False), ("1.1", "1.2", False), ("1.2", "1.2", True), ("1.3", "1.2", True),
    ("1.2", "1.3", False), ("1.3", "1.3", True), ("TLSv1.2", "1.2", False), (1.2, "1.2", False), (None, "1.2", False),
])  # fmt: skip
def test_min_tls_version_is_compared_by_rank(value: object, floor: str, ok: bool) -> None:
    found = messages(Rule.MIN_TLS_VERSION, setting("min_tls_version", value), config(min_tls=TlsVersion(floor)))
    assert (found == "") is ok
    if not ok:
        assert ("no value" if value is None else repr(value)) in found


@pytest.mark.parametrize(("value", "ok"), [("on", True), ("zrt", True), ("off", False), (None, False)])
def test_tls_1_3_on_or_zrt(value: str | None, ok: bool) -> None:
    assert (messages(Rule.TLS_1_3, setting("tls_1_3", value)) == "") is ok


@pytest.mark.parametrize(("value", "ok"), [("on", True), ("off", False), (True, False)])
def test_always_use_https_on(value: object, ok: bool) -> None:
    assert (messages(Rule.ALWAYS_USE_HTTPS, setting("always_use_https", value)) == "") is ok


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"enabled": False}, "enabled is False"),
        ({"max_age": 86_400}, "max_age is 86400"),
        ({"max_age": "a year"}, "max_age is 'a year'"),
        ({"include_subdomains": False}, "include_subdomains is False"),
    ],
)
def test_hsts_deviations_fail(overrides: dict[str, Any], expected: str) -> None:
    assert messages(Rule.HSTS, hsts()) == ""
    assert expected in messages(Rule.HSTS, hsts(**overrides))


def test_hsts_max_age_and_preload_follow_config() -> None:
    two_years = PolicyConfig(baseline=Baseline(hsts=HstsPolicy(max_age=63_072_000, preload=True)))
    found = messages(Rule.HSTS, hsts(), two_years)
    assert "expected at least 63072000" in found
    assert "preload is False" in found
    assert messages(Rule.HSTS, hsts(max_age=63_072_000, preload=True), two_years) == ""


def test_hsts_camel_case_keys_are_reported_as_never_converging() -> None:
    # Given the pulumi-cloudflare docstring's shape (camelCase), which diffs forever (pulumi-cloudflare#1579)
    camel = {"strictTransportSecurity": {"enabled": True, "maxAge": 31_536_000, "includeSubdomains": True}}
    found = messages(Rule.HSTS, setting("security_header", camel))
    assert "pulumi-cloudflare/issues/1579" in found
    assert "strictTransportSecurity -> strict_transport_security" in found
    # Nested camelCase under the right top-level key is caught too
    nested = {"strict_transport_security": {"enabled": True, "maxAge": 31_536_000, "include_subdomains": True}}
    assert "maxAge -> max_age" in messages(Rule.HSTS, setting("security_header", nested))


@pytest.mark.parametrize("value", [None, "on", {}, {"strict_transport_security": "on"}])
def test_hsts_without_the_object_fails(value: object) -> None:
    assert messages(Rule.HSTS, setting("security_header", value)) != ""


@pytest.mark.parametrize(("aop", "violates"), [
    (AopMode.GLOBAL, True), (AopMode.ZONE, False), (AopMode.HOSTNAME, False), (AopMode.OFF, False), (None, False),
])  # fmt: skip
def test_tls_client_auth_off_only_matters_for_global_aop(aop: AopMode | None, violates: bool) -> None:
    assert (messages(Rule.TLS_CLIENT_AUTH, setting("tls_client_auth", "off"), config(aop=aop)) != "") is violates
    assert messages(Rule.TLS_CLIENT_AUTH, setting("tls_client_auth", "on"), config(aop=aop)) == ""


def test_a_setting_judges_only_its_own_rule() -> None:
    flexible = setting("ssl", "flexible")
    assert [rule for rule in RESOURCE_RULES if check_resource(rule, TYPE_ZONE_SETTING, flexible, DEFAULT)] == [
        Rule.SSL_MODE
    ]
    assert all(check_resource(r, TYPE_ZONE_SETTING, setting("brotli", "off"), DEFAULT) == [] for r in RESOURCE_RULES)


# -- Origin CA certificates ---------------------------------------------------------------------------------------


def cert(request_type: object = "origin-ecc", validity: object = 5475.0) -> dict[str, Any]:
    props: dict[str, Any] = {"csr": "-----BEGIN CERTIFICATE REQUEST-----", "hostnames": ["app.example.com"]}
    if request_type is not None:
        props["requestType"] = request_type
    if validity is not None:
        props["requestedValidity"] = validity
    return props


def test_origin_ca_ecdsa_certificate_complies() -> None:
    for rule in (Rule.ORIGIN_CA_CERTIFICATE, Rule.ORIGIN_CA_ECDSA):
        assert messages(rule, cert(), kind=TYPE_ORIGIN_CA_CERTIFICATE) == ""
        assert messages(rule, cert(validity=None), kind=TYPE_ORIGIN_CA_CERTIFICATE) == ""


def test_origin_ca_rsa_is_allowed_but_ecdsa_is_recommended() -> None:
    assert messages(Rule.ORIGIN_CA_CERTIFICATE, cert("origin-rsa"), kind=TYPE_ORIGIN_CA_CERTIFICATE) == ""
    assert "ECDSA" in messages(Rule.ORIGIN_CA_ECDSA, cert("origin-rsa"), kind=TYPE_ORIGIN_CA_CERTIFICATE)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (cert("keyless-certificate"), "requestType is 'keyless-certificate'"),
        (cert(None), "requestType is no value"),
        (cert(validity=100), "requestedValidity must be one of"),
        (cert(validity="forever"), "requestedValidity must be"),
    ],
)
def test_origin_ca_deviations_fail(props: dict[str, Any], expected: str) -> None:
    assert expected in messages(Rule.ORIGIN_CA_CERTIFICATE, props, kind=TYPE_ORIGIN_CA_CERTIFICATE)


def test_origin_ca_validity_is_capped_by_config() -> None:
    one_year = PolicyConfig(max_validity_days=365)
    assert messages(Rule.ORIGIN_CA_CERTIFICATE, cert(validity=365), one_year, TYPE_ORIGIN_CA_CERTIFICATE) == ""
    found = messages(Rule.ORIGIN_CA_CERTIFICATE, cert(validity=730), one_year, TYPE_ORIGIN_CA_CERTIFICATE)
    assert "at most 365" in found


# -- Authenticated Origin Pulls -----------------------------------------------------------------------------------


def aop(kind: str, props: dict[str, Any], cfg: PolicyConfig = DEFAULT) -> str:
    return messages(Rule.AOP_ENABLED, {"zoneId": ZONE, **props}, cfg, kind)


def test_zone_level_aop_must_be_enabled() -> None:
    assert aop(TYPE_AOP_SETTINGS, {"enabled": True}) == ""
    assert "enabled is False" in aop(TYPE_AOP_SETTINGS, {"enabled": False})
    assert "enabled is None" in aop(TYPE_AOP_SETTINGS, {})


def test_per_hostname_aop_configs_must_all_be_enabled() -> None:
    good = {"certId": "c1", "hostname": "app.example.com", "enabled": True}
    assert aop(TYPE_AOP_HOSTNAME, {"configs": [good]}) == ""
    # A missing flag voids the association (Cloudflare: "a null value voids the association")
    found = aop(TYPE_AOP_HOSTNAME, {"configs": [good, {"certId": "c2", "hostname": "api.example.com"}]})
    assert "configs[1] ('api.example.com') enabled is None" in found
    assert "no configs" in aop(TYPE_AOP_HOSTNAME, {"configs": []})
    assert "no configs" in aop(TYPE_AOP_HOSTNAME, {})


@pytest.mark.parametrize("kind", [TYPE_AOP_CERTIFICATE, TYPE_AOP_HOSTNAME_CERTIFICATE])
def test_aop_certificates_fail_only_when_disabled(kind: str) -> None:
    assert aop(kind, {"certificate": "PEM"}) == ""
    assert aop(kind, {"enabled": True}) == ""
    assert "disabled" in aop(kind, {"enabled": False})


def test_aop_level_off_means_not_required() -> None:
    off = config(aop=AopMode.OFF)
    assert aop(TYPE_AOP_SETTINGS, {"enabled": False}, off) == ""
    assert aop(TYPE_AOP_SETTINGS, {"enabled": False}, config(aop=AopMode.ZONE)) != ""


# -- missing and unknown properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RESOURCE_RULES)
@pytest.mark.parametrize("kind", ALL_TYPES)
def test_missing_properties_never_raise(rule: Rule, kind: str) -> None:
    for props in ({}, {"settingId": None}, {"settingId": ["ssl"]}, {"value": "strict"}, {"configs": "x"}):
        check_resource(rule, kind, props, DEFAULT)
        remediate_resource(rule, kind, props, DEFAULT)


def test_unknown_values_propagate_instead_of_passing() -> None:
    # Given the SDK's proxy around a resource whose value is known only after deployment
    props = unknown_checking_proxy(setting("ssl", UNKNOWN_STRING_VALUE))
    # Then the rule neither passes nor guesses: the SDK's error reaches the SDK (which reports it as advisory)
    with pytest.raises(UnknownValueError):
        check_resource(Rule.SSL_MODE, TYPE_ZONE_SETTING, props, DEFAULT)
    # And a rule that does not need the unknown value still works
    assert check_resource(Rule.TLS_1_3, TYPE_ZONE_SETTING, props, DEFAULT) == []


# -- remediation --------------------------------------------------------------------------------------------------


def test_remediation_fixes_ssl_mode_and_raises_the_floor() -> None:
    assert remediate_resource(Rule.SSL_MODE, TYPE_ZONE_SETTING, setting("ssl", "flexible"), DEFAULT) == {
        "value": "strict"
    }
    auto = setting("ssl_automatic_mode", "auto")
    assert remediate_resource(Rule.SSL_MODE, TYPE_ZONE_SETTING, auto, DEFAULT) == {"value": "custom"}
    floor_1_3 = config(min_tls=TlsVersion.TLS_1_3)
    old = setting("min_tls_version", "1.0")
    assert remediate_resource(Rule.MIN_TLS_VERSION, TYPE_ZONE_SETTING, old, floor_1_3) == {"value": "1.3"}


def test_no_remediation_where_no_safe_fix_exists() -> None:
    assert remediate_resource(Rule.TLS_1_3, TYPE_ZONE_SETTING, setting("tls_1_3", "off"), DEFAULT) is None
    assert remediate_resource(Rule.HSTS, TYPE_ZONE_SETTING, hsts(enabled=False), DEFAULT) is None
    assert remediate_resource(Rule.SSL_MODE, TYPE_ORIGIN_CA_CERTIFICATE, cert(), DEFAULT) is None
    assert (
        remediate_resource(Rule.MIN_TLS_VERSION, TYPE_ZONE_SETTING, setting("min_tls_version", "1.3"), DEFAULT) is None
    )


# -- stack rules --------------------------------------------------------------------------------------------------


def zone_setting(name: str, setting_id: str, value: Any, zone: str = ZONE) -> StackResource:
    urn = f"urn:pulumi:dev::site::cloudflare:index/zoneSetting:ZoneSetting::{name}"
    return StackResource(TYPE_ZONE_SETTING, urn, setting(setting_id, value) | {"zoneId": zone})


def verification(props: dict[str, Any], kind: str = TYPE_HANDSHAKE_VERIFICATION) -> StackResource:
    return StackResource(kind, f"urn:pulumi:dev::site::{kind}::verify", props)


def test_zone_with_tls_settings_needs_a_verification() -> None:
    stack = [zone_setting("ssl", "ssl", "strict"), zone_setting("tls13", "tls_1_3", "on")]
    # Without a verification: one violation for the zone, attributed to its first TLS setting
    found = check_stack(Rule.ZONE_VERIFIED, stack, DEFAULT)
    assert [(v.rule, v.urn) for v in found] == [(Rule.ZONE_VERIFIED, stack[0].urn)]
    assert ZONE in found[0].message
    assert "ssl, tls_1_3" in found[0].message
    # With one (raw dynamic-resource name zone_id, or schema name zoneId, any case): none
    assert check_stack(Rule.ZONE_VERIFIED, [*stack, verification({"zone_id": ZONE})], DEFAULT) == []
    assert check_stack(Rule.ZONE_VERIFIED, [*stack, verification({"zoneId": ZONE.upper()})], DEFAULT) == []
    other_token = verification({"zone_id": ZONE}, "origin-tls:index:HandshakeVerification")
    assert check_stack(Rule.ZONE_VERIFIED, [*stack, other_token], DEFAULT) == []


def test_a_verification_of_another_zone_does_not_count() -> None:
    stack = [zone_setting("ssl", "ssl", "strict"), verification({"zone_id": OTHER_ZONE})]
    assert len(check_stack(Rule.ZONE_VERIFIED, stack, DEFAULT)) == 1
    no_zone = [zone_setting("ssl", "ssl", "strict"), verification({})]
    assert len(check_stack(Rule.ZONE_VERIFIED, no_zone, DEFAULT)) == 1


def test_zones_without_tls_settings_need_no_verification() -> None:
    assert check_stack(Rule.ZONE_VERIFIED, [zone_setting("brotli", "brotli", "on")], DEFAULT) == []
    assert check_stack(Rule.ZONE_VERIFIED, [], DEFAULT) == []


@pytest.mark.parametrize(("mode", "violates"), [("off", True), ("flexible", True), ("full", False), ("strict", False)])
def test_no_zone_may_have_ssl_off_or_flexible(mode: str, violates: bool) -> None:
    stack = [zone_setting("ssl", "ssl", mode), zone_setting("other", "ssl", "strict", OTHER_ZONE)]
    found = check_stack(Rule.ZONE_SSL_NOT_WEAK, stack, DEFAULT)
    assert [v.urn for v in found] == ([stack[0].urn] if violates else [])


def test_stack_rules_tolerate_missing_properties() -> None:
    odd = [StackResource(TYPE_ZONE_SETTING, "urn:x", {}), StackResource(TYPE_ZONE_SETTING, "urn:y", {"settingId": {}})]
    for rule in Rule:
        assert check_stack(rule, odd, DEFAULT) == []


# -- packaging ----------------------------------------------------------------------------------------------------


def test_rules_import_no_pulumi() -> None:
    code = (
        "import sys, origin_tls.policy; print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_all_is_honest() -> None:
    for name in rules.__all__:
        assert hasattr(rules, name), name
    assert {rule.value for rule in Rule} >= {"zone-ssl-mode", "zone-handshake-verification"}


# -- the component's ssl_automatic_mode pin is a zone setting too ------------------------------------------------


def pin(value: Any, zone: str = ZONE) -> dict[str, Any]:
    # A dynamic resource's inputs keep their raw names.
    return {"zone_id": zone, "setting_id": "ssl_automatic_mode", "value": value}


def test_the_ssl_automatic_mode_pin_is_judged_like_a_zone_setting() -> None:
    assert check_resource(Rule.SSL_MODE, TYPE_ZONE_SETTING_PIN, pin("custom"), DEFAULT) == []
    (violation,) = check_resource(Rule.SSL_MODE, TYPE_ZONE_SETTING_PIN, pin("auto"), DEFAULT)
    assert "'custom'" in violation.message


def test_a_zone_with_only_the_pin_still_needs_a_verification() -> None:
    urn = f"urn:pulumi:dev::site::{TYPE_ZONE_SETTING_PIN}::web-ssl-automatic-mode"
    stack = [StackResource(TYPE_ZONE_SETTING_PIN, urn, pin("custom"))]
    (violation,) = check_stack(Rule.ZONE_VERIFIED, stack, DEFAULT)
    assert violation.urn == urn
    assert check_stack(Rule.ZONE_VERIFIED, [*stack, verification({"zone_id": ZONE})], DEFAULT) == []
