"""The policy pack as the Pulumi CLI runs it: a separate process speaking the analyzer protocol over gRPC.

The CLI starts a Python pack with ``python -m pulumi.policy <engine address> <pack directory>`` (the SDK's shim runs
the directory's ``__main__.py``), reads the port from the first stdout line, then calls ``GetAnalyzerInfo``,
``Configure``, ``Analyze`` per resource, ``Remediate`` for policies at ``remediate`` level and ``AnalyzeStack`` at the
end. Enforcement levels are compared as proto enum values: ``MessageToDict`` omits ADVISORY, which is 0.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"
ZONE = "0123456789abcdef0123456789abcdef"
PACK = "origin-tls-baseline"
ADVISORY, MANDATORY, REMEDIATE, DISABLED = (
    analyzer_pb2.ADVISORY,
    analyzer_pb2.MANDATORY,
    analyzer_pb2.REMEDIATE,
    analyzer_pb2.DISABLED,
)
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
ORIGIN_CA = "cloudflare:index/originCaCertificate:OriginCaCertificate"
VERIFICATION = "pulumi-python:dynamic/origin-tls:HandshakeVerification"
STARTUP_LIMIT = 120.0  # generous: a loaded machine imports pulumi and grpc slowly


@pytest.fixture(scope="module")
def stub() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd=PACK_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    channel = None
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_LIMIT)
        line = process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            process.kill()
            _, err = process.communicate(timeout=30)
            pytest.fail(f"policy pack did not print its port: {line!r}\n{err.decode(errors='replace')}")
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        if channel is not None:
            channel.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(autouse=True)
def default_config(stub: analyzer_pb2_grpc.AnalyzerStub) -> Iterator[None]:
    # Configure replaces the whole pack config: every test starts from what the CLI sends with no user config.
    configure(stub, {})
    yield
    configure(stub, {})


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, given: Mapping[str, Mapping[str, Any]]) -> None:
    """Send ``Configure`` the way the CLI does (``ReconcilePolicyPackConfig`` in pulumi/pulumi
    ``pkg/resource/analyzer/config.go``): every policy, with its default level and its schema defaults, overlaid
    with the given ``{"policy": {"enforcementLevel": <proto level>, key: value}}``."""
    info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    policies = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema).get("properties", {})
        properties = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        override = dict(given.get(policy.name, {}))
        level = override.pop("enforcementLevel", policy.enforcementLevel)
        properties.update(override)
        policies[policy.name] = analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=struct(properties))
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policies), timeout=30)


def request(kind: str, name: str, props: Mapping[str, Any]) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=kind, urn=f"urn:pulumi:dev::site::{kind}::{name}", name=name, properties=struct(props)
    )


def setting(setting_id: str, value: Any, zone: str = ZONE) -> dict[str, Any]:
    return {"zoneId": zone, "settingId": setting_id, "value": value}


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, kind: str, props: Mapping[str, Any]) -> list[Any]:
    return list(stub.Analyze(request(kind, "r", props), timeout=30).diagnostics)


def found(diagnostics: list[Any]) -> list[tuple[str, int]]:
    return [(d.policyName, d.enforcementLevel) for d in diagnostics]


def stack_resource(kind: str, name: str, props: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=kind, urn=f"urn:pulumi:dev::site::{kind}::{name}", name=name, properties=struct(props)
    )


def analyze_stack(stub: analyzer_pb2_grpc.AnalyzerStub, *resources: analyzer_pb2.AnalyzerResource) -> list[Any]:
    return list(stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30).diagnostics)


def test_analyzer_info_lists_policies_levels_and_config(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK
    assert info.supportsConfig
    policies = {p.name: p for p in info.policies}
    assert set(policies) == {
        "zone-ssl-mode",
        "zone-min-tls-version",
        "hostname-min-tls-version",
        "zone-aop-resources",
        "zone-tls-1-3",
        "zone-hsts",
        "zone-always-use-https",
        "zone-tls-client-auth",
        "origin-ca-certificate",
        "origin-ca-certificate-ecdsa",
        "authenticated-origin-pulls-enabled",
        "zone-handshake-verification",
        "zone-ssl-not-off-or-flexible",
        "zone-auto-origin-tls-kex",
        "zone-origin-pq-required",
    }
    assert policies["zone-ssl-mode"].enforcementLevel == MANDATORY
    assert policies["origin-ca-certificate-ecdsa"].enforcementLevel == ADVISORY
    stack = {name for name, p in policies.items() if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK}
    assert stack == {
        "zone-handshake-verification",
        "zone-ssl-not-off-or-flexible",
        "zone-aop-resources",
        "zone-origin-pq-required",
    }
    pq = json_format.MessageToDict(policies["zone-origin-pq-required"].configSchema)["properties"]["postQuantum"]
    assert (pq["default"], pq["enum"]) == ("auto", ["auto", "required"])
    floor = json_format.MessageToDict(policies["zone-min-tls-version"].configSchema)["properties"]["minTlsVersion"]
    assert floor["default"] == "1.2"
    assert floor["enum"] == ["1.0", "1.1", "1.2", "1.3"]
    hsts = json_format.MessageToDict(policies["zone-hsts"].configSchema)["properties"]
    assert set(hsts) == {"hstsMinMaxAge", "hstsPreload"}
    assert policies["zone-ssl-mode"].remediation_steps


def test_compliant_zone_setting_has_no_diagnostics(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    for setting_id, value in (("ssl", "strict"), ("min_tls_version", "1.2"), ("tls_1_3", "zrt")):
        assert analyze(stub, ZONE_SETTING, setting(setting_id, value)) == []
    hsts = {"strict_transport_security": {"enabled": True, "max_age": 31536000, "include_subdomains": True}}
    assert analyze(stub, ZONE_SETTING, setting("security_header", hsts)) == []


def test_flexible_ssl_is_a_mandatory_violation(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    diagnostics = analyze(stub, ZONE_SETTING, setting("ssl", "flexible"))
    assert found(diagnostics) == [("zone-ssl-mode", MANDATORY)]
    assert "ssl is 'flexible'" in diagnostics[0].message
    assert diagnostics[0].policyPackName == PACK


def test_camel_case_hsts_is_reported_over_the_wire(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    camel = {"strictTransportSecurity": {"enabled": True, "maxAge": 31536000, "includeSubdomains": True}}
    diagnostics = analyze(stub, ZONE_SETTING, setting("security_header", camel))
    assert found(diagnostics) == [("zone-hsts", MANDATORY)]
    assert "1579" in diagnostics[0].message


def test_configured_floor_changes_the_verdict(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    tls_1_2 = setting("min_tls_version", "1.2")
    assert analyze(stub, ZONE_SETTING, tls_1_2) == []
    configure(stub, {"zone-min-tls-version": {"minTlsVersion": "1.3"}})
    diagnostics = analyze(stub, ZONE_SETTING, tls_1_2)
    assert found(diagnostics) == [("zone-min-tls-version", MANDATORY)]
    assert "below the floor '1.3'" in diagnostics[0].message
    assert analyze(stub, ZONE_SETTING, setting("min_tls_version", "1.3")) == []


def test_defaults_hold_when_no_config_is_sent_at_all(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    # Given a Configure with nothing in it (the SDK fills no schema defaults: the code must restate them)
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), timeout=30)
    # Then the floor is still 1.2 and the policies keep their own levels
    assert analyze(stub, ZONE_SETTING, setting("min_tls_version", "1.2")) == []
    assert found(analyze(stub, ZONE_SETTING, setting("min_tls_version", "1.1"))) == [
        ("zone-min-tls-version", MANDATORY)
    ]
    hsts = {"strict_transport_security": {"enabled": True, "max_age": 86400, "include_subdomains": True}}
    assert found(analyze(stub, ZONE_SETTING, setting("security_header", hsts))) == [("zone-hsts", MANDATORY)]


def test_invalid_config_fails_loudly_instead_of_passing(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(stub, {"zone-min-tls-version": {"minTlsVersion": "0.9"}})
    with pytest.raises(grpc.RpcError) as caught:
        analyze(stub, ZONE_SETTING, setting("min_tls_version", "1.2"))
    assert "minTlsVersion must be one of 1.0, 1.1, 1.2, 1.3" in str(caught.value.details())


def test_config_enforcement_levels_override_the_policy(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    flexible = setting("ssl", "flexible")
    configure(stub, {"zone-ssl-mode": {"enforcementLevel": ADVISORY}})
    assert found(analyze(stub, ZONE_SETTING, flexible)) == [("zone-ssl-mode", ADVISORY)]
    configure(stub, {"zone-ssl-mode": {"enforcementLevel": DISABLED}})
    assert analyze(stub, ZONE_SETTING, flexible) == []


def test_rsa_origin_certificate_is_only_advised_against(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {"csr": "CSR", "hostnames": ["app.example.com"], "requestType": "origin-rsa", "requestedValidity": 365}
    assert found(analyze(stub, ORIGIN_CA, props)) == [("origin-ca-certificate-ecdsa", ADVISORY)]
    assert analyze(stub, ORIGIN_CA, props | {"requestType": "origin-ecc"}) == []
    keyless = props | {"requestType": "keyless-certificate"}
    assert ("origin-ca-certificate", MANDATORY) in found(analyze(stub, ORIGIN_CA, keyless))


def test_unknown_value_during_preview_is_neither_a_crash_nor_a_pass(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    # Given an ssl setting whose value is known only after deployment (the engine's unknown sentinel)
    diagnostics = analyze(stub, ZONE_SETTING, setting("ssl", UNKNOWN_STRING_VALUE))
    # Then the SDK reports that the policy could not run, as an advisory, rather than passing or failing it
    assert found(diagnostics) == [("zone-ssl-mode", ADVISORY)]
    assert "can't run policy 'zone-ssl-mode'" in diagnostics[0].message
    assert "during preview" in diagnostics[0].message
    # And an unknown property the rules do not read disturbs nothing
    unknown_zone = setting("ssl", "strict", zone=UNKNOWN_STRING_VALUE)
    assert analyze(stub, ZONE_SETTING, unknown_zone) == []


def test_remediation_sets_strict_and_keeps_the_rest(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(stub, {"zone-ssl-mode": {"enforcementLevel": REMEDIATE}})
    # Given a flexible ssl setting whose zone id is still unknown
    props = setting("ssl", "flexible", zone=UNKNOWN_STRING_VALUE)
    response = stub.Remediate(request(ZONE_SETTING, "ssl", props), timeout=30)
    # Then the pack returns the fixed properties, the unknown zone id passed through untouched
    fixes = {r.policyName: json_format.MessageToDict(r.properties) for r in response.remediations}
    assert fixes == {"zone-ssl-mode": {"zoneId": UNKNOWN_STRING_VALUE, "settingId": "ssl", "value": "strict"}}
    # And a violation left behind at remediate level is reported as mandatory
    assert found(analyze(stub, ZONE_SETTING, setting("ssl", "flexible"))) == [("zone-ssl-mode", MANDATORY)]


def test_remediation_raises_the_floor_and_leaves_compliant_or_unknown_alone(
    stub: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    configure(stub, {"zone-min-tls-version": {"enforcementLevel": REMEDIATE, "minTlsVersion": "1.3"}})

    def remediate(value: Any) -> list[Any]:
        return list(
            stub.Remediate(request(ZONE_SETTING, "tls", setting("min_tls_version", value)), timeout=30).remediations
        )

    [fix] = remediate("1.0")
    assert json_format.MessageToDict(fix.properties)["value"] == "1.3"
    assert remediate("1.3") == []
    assert remediate(UNKNOWN_STRING_VALUE) == []


def test_zone_without_verification_is_a_stack_violation(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    ssl = stack_resource(ZONE_SETTING, "ssl", setting("ssl", "strict"))
    diagnostics = analyze_stack(stub, ssl, stack_resource(ZONE_SETTING, "tls13", setting("tls_1_3", "on")))
    assert found(diagnostics) == [("zone-handshake-verification", MANDATORY)]
    assert diagnostics[0].urn == ssl.urn
    verify = stack_resource(VERIFICATION, "verify", {"zone_id": ZONE, "hostnames": ["app.example.com"]})
    assert analyze_stack(stub, ssl, verify) == []


def test_flexible_zone_is_a_stack_violation(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    verify = stack_resource(VERIFICATION, "verify", {"zone_id": ZONE})
    flexible = stack_resource(ZONE_SETTING, "ssl", setting("ssl", "flexible"))
    diagnostics = analyze_stack(stub, flexible, verify)
    assert found(diagnostics) == [("zone-ssl-not-off-or-flexible", MANDATORY)]
    assert diagnostics[0].urn == flexible.urn
    strict = stack_resource(ZONE_SETTING, "ssl", setting("ssl", "strict"))
    assert analyze_stack(stub, strict, verify) == []


def test_unknown_zone_in_stack_is_neither_a_crash_nor_a_pass(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    ssl = stack_resource(ZONE_SETTING, "ssl", setting("ssl", "strict"))
    verify = stack_resource(VERIFICATION, "verify", {"zone_id": UNKNOWN_STRING_VALUE})
    diagnostics = analyze_stack(stub, ssl, verify)
    assert sorted(found(diagnostics)) == [("zone-aop-resources", ADVISORY), ("zone-handshake-verification", ADVISORY)]
    assert all("during preview" in d.message for d in diagnostics)


KEX = "cloudflare:index/zoneAutoOriginTlsKex:ZoneAutoOriginTlsKex"
MODES = "cloudflare:index/originTlsComplianceModes:OriginTlsComplianceModes"


def test_automatic_key_exchange_off_is_a_violation_over_the_wire(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert found(analyze(stub, KEX, {"zoneId": ZONE, "enabled": False})) == [("zone-auto-origin-tls-kex", MANDATORY)]
    assert analyze(stub, KEX, {"zoneId": ZONE, "enabled": True}) == []


def test_post_quantum_required_needs_pqh_for_the_zone_over_the_wire(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    ssl = stack_resource(ZONE_SETTING, "ssl", setting("ssl", "strict"))
    verify = stack_resource(VERIFICATION, "verify", {"zone_id": ZONE})
    assert analyze_stack(stub, ssl, verify) == []  # postQuantum defaults to auto: nothing more required
    configure(stub, {"zone-origin-pq-required": {"postQuantum": "required"}})
    diagnostics = analyze_stack(stub, ssl, verify)
    assert found(diagnostics) == [("zone-origin-pq-required", MANDATORY)]
    assert diagnostics[0].urn == ssl.urn
    modes = stack_resource(MODES, "pqh", {"zoneId": ZONE, "values": ["pqh"]})
    assert analyze_stack(stub, ssl, verify, modes) == []


def test_plugin_info_answers(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert isinstance(stub.GetPluginInfo(empty_pb2.Empty(), timeout=30), plugin_pb2.PluginInfo)
