"""The baseline's validators: what a user sees when a value is refused, and that good values come through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin_tls.baseline import (
    DEFAULT_HSTS_MAX_AGE,
    AopMode,
    Baseline,
    Endpoint,
    HstsPolicy,
    KeyType,
    SslMode,
    TlsVersion,
    parse_aop_mode,
    parse_baseline,
    parse_deadline,
    parse_endpoint,
    parse_hostname,
    parse_hostnames,
    parse_hsts_max_age,
    parse_key_type,
    parse_timeout,
    parse_tls_version,
    parse_validity_days,
    parse_zone_id,
)
from origin_tls.errors import InvalidInput


def test_the_default_baseline_is_the_hardened_one() -> None:
    baseline = Baseline()
    assert baseline.min_tls is TlsVersion.TLS_1_2
    assert baseline.ssl_mode is SslMode.STRICT
    assert baseline.hsts == HstsPolicy(max_age=31_536_000, include_subdomains=True, preload=False)
    assert baseline.aop_required
    assert baseline.zone_settings() == {
        "ssl": "strict",
        "ssl_automatic_mode": "custom",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "always_use_https": "on",
        "security_header": {
            "strict_transport_security": {
                "enabled": True,
                "max_age": 31_536_000,
                "include_subdomains": True,
                "preload": False,
                "nosniff": True,
            }
        },
    }


def test_global_aop_adds_tls_client_auth_and_off_is_not_required() -> None:
    assert Baseline(aop=AopMode.GLOBAL).zone_settings()["tls_client_auth"] == "on"
    assert "tls_client_auth" not in Baseline(aop=AopMode.ZONE).zone_settings()
    assert not Baseline(aop=AopMode.OFF).aop_required


def test_tls_versions_order_and_what_lies_below_a_floor() -> None:
    assert TlsVersion.TLS_1_2.below() == (TlsVersion.TLS_1_0, TlsVersion.TLS_1_1)
    assert TlsVersion.TLS_1_0.below() == ()
    assert [v.rank for v in TlsVersion] == [0, 1, 2, 3]


@pytest.mark.parametrize(("value", "expected"), [("1.2", TlsVersion.TLS_1_2), (" 1.3 ", TlsVersion.TLS_1_3)])
def test_tls_version_accepted(value: str, expected: TlsVersion) -> None:
    assert parse_tls_version(value) is expected


@pytest.mark.parametrize("value", ["0.9", "1.4", "", 1.2, None, "TLSv1.2"])
def test_tls_version_refused_with_field_value_and_allowed(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_tls_version(value, field_name="--min-tls")
    assert str(info.value) == f"--min-tls must be one of 1.0, 1.1, 1.2, 1.3, got {value!r}"


def test_enums_parse_by_value_and_refuse_others() -> None:
    assert parse_aop_mode("Zone") is AopMode.ZONE
    assert parse_key_type("rsa-2048") is KeyType.RSA_2048
    assert KeyType.ECDSA_P256.request_type == "origin-ecc"
    with pytest.raises(InvalidInput, match="aop must be one of off, global, zone, hostname, got 'account'"):
        parse_aop_mode("account")
    with pytest.raises(InvalidInput, match="key_type must be one of ecdsa-p256, rsa-2048"):
        parse_key_type("ed25519")


@pytest.mark.parametrize(("value", "seconds"), [(31536000, 31536000), (31536000.0, 31536000), ("0", 0)])
def test_max_age_accepts_whole_numbers_even_as_floats_from_pulumi(value: object, seconds: int) -> None:
    assert parse_hsts_max_age(value) == seconds


@pytest.mark.parametrize("value", [-1, 1.5, True, "1y", 10**12, float("nan")])
def test_max_age_refuses_the_rest(value: object) -> None:
    with pytest.raises(InvalidInput, match="hsts_max_age must be a whole number of seconds"):
        parse_hsts_max_age(value)


def test_preload_needs_a_preloadable_policy() -> None:
    assert HstsPolicy(preload=True).header_value() == "max-age=31536000; includeSubDomains; preload"
    with pytest.raises(InvalidInput, match=r"hsts\.preload"):
        HstsPolicy(preload=True, include_subdomains=False)
    with pytest.raises(InvalidInput, match=r"hsts\.preload"):
        HstsPolicy(preload=True, max_age=86400)


def test_validity_days_only_what_the_origin_ca_allows() -> None:
    assert parse_validity_days(5475.0) == 5475
    with pytest.raises(InvalidInput, match="validity_days must be one of 7, 30, 90, 365, 730, 1095, 5475, got 100"):
        parse_validity_days(100)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "301", "nan", "inf", True])
def test_timeout_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="timeout must be a number of seconds greater than 0"):
        parse_timeout(value)


def test_timeout_accepted() -> None:
    assert parse_timeout("0.5") == 0.5


def test_a_run_deadline_may_outlast_a_probe_timeout_but_not_a_day() -> None:
    # A fleet's run takes longer than one probe may: 3,600 s is no timeout but a fine deadline.
    assert parse_deadline("3600") == 3600.0
    with pytest.raises(InvalidInput, match="timeout must be a number of seconds greater than 0 and at most 300"):
        parse_timeout("3600")
    for value in ("0", "86401", "nan", True):
        with pytest.raises(InvalidInput, match="deadline must be a number of seconds greater than 0 and at most 86400"):
            parse_deadline(value)


def test_hostnames() -> None:
    assert parse_hostname("App.Example.COM.") == "app.example.com"
    assert parse_hostnames(["a.example.com", "A.example.com", "b.example.com"]) == ("a.example.com", "b.example.com")
    assert parse_hostname("*.example.com", allow_wildcard=True) == "*.example.com"
    for bad in ["localhost", "*.example.com", "exa mple.com", "-a.example.com", "1.2.3.4", "", "a..b.com"]:
        with pytest.raises(InvalidInput, match="hostname must be a DNS hostname"):
            parse_hostname(bad)
    with pytest.raises(InvalidInput, match="hostnames must be a non-empty list"):
        parse_hostnames([])
    with pytest.raises(InvalidInput, match=r"hostnames\[1\]"):
        parse_hostnames(["ok.example.com", "bad host"])


def test_zone_id() -> None:
    assert parse_zone_id("023E105F4ECEF8AD9CA31A8372D0C353") == "023e105f4ecef8ad9ca31a8372d0c353"
    with pytest.raises(InvalidInput, match="zone_id must be a Cloudflare zone id"):
        parse_zone_id("example.com")


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("edge.example.com", Endpoint("edge.example.com", 443)),
        ("127.0.0.1:8443", Endpoint("127.0.0.1", 8443)),
        ("[::1]:8443", Endpoint("::1", 8443)),
        ("::1", Endpoint("::1", 443)),
    ],
)
def test_endpoints_accepted(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text, field_name="--edge", default_port=443) == endpoint


@pytest.mark.parametrize("text", ["host:0", "host:65536", "host:", "host:http", "", "[::1", "a/b:1"])
def test_endpoints_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="--edge must be HOST or HOST:PORT with a port from 1 to 65535"):
        parse_endpoint(text, field_name="--edge", default_port=443)


def test_parse_baseline_from_loose_input() -> None:
    baseline = parse_baseline(min_tls="1.3", hsts_max_age="63072000", hsts_preload=True, aop="zone")
    assert baseline.min_tls is TlsVersion.TLS_1_3
    assert baseline.hsts.max_age == 63072000
    assert baseline.aop is AopMode.ZONE
    assert parse_baseline().hsts.max_age == DEFAULT_HSTS_MAX_AGE


@given(st.integers(min_value=0, max_value=315_619_200), st.booleans())
def test_any_valid_policy_renders_a_header_naming_its_max_age(max_age: int, subdomains: bool) -> None:
    header = HstsPolicy(max_age=max_age, include_subdomains=subdomains).header_value()
    assert header.startswith(f"max-age={max_age}")
    assert ("includeSubDomains" in header) is subdomains
