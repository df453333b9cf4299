"""``OriginProtection`` under Pulumi's mocks: the resource graph, every child's inputs, and which outputs are secret.

What a platform team would see in ``pulumi preview``: for each AOP level and key type, the children, their type
tokens and wire (camelCase) inputs, the order (``depends_on``), the secrets; and bad arguments refused before
anything is registered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pulumi
import pytest

from origin_tls.certs import GLOBAL_AOP_CA_URL
from origin_tls.components import OriginProtection, OriginProtectionArgs
from origin_tls.errors import InvalidInput
from tests.components.conftest import (
    FAKE_CA,
    FAKE_CERT,
    FAKE_CLIENT_CERT,
    FAKE_CSR,
    HOSTCERT_ID,
    TOKEN,
    SecretAwareMonitor,
    is_secret_wrapper,
    unwrap,
)

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
HOSTS = ["app.example.com", "api.example.com"]
VERIFICATION = "pulumi-python:dynamic/origin-tls:HandshakeVerification"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
HSTS_DEFAULT = {
    "strict_transport_security": {
        "enabled": True,
        "max_age": 31536000,
        "include_subdomains": True,
        "preload": False,
        "nosniff": True,
    }
}

_counter = iter(range(10_000))


def _name() -> str:
    # Mocks are process-global: a fresh component name per test keeps registrations apart.
    return f"web{next(_counter)}"


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``body`` inside Pulumi's test harness (``pulumi.runtime.test``), without ``asyncio.run``."""

    @pulumi.runtime.test
    def harness() -> Any:
        return body()

    return harness()


def _build(monitor: SecretAwareMonitor, **overrides: Any) -> tuple[str, dict[str, Any]]:
    name = _name()
    result: dict[str, Any] = {}

    async def body() -> None:
        component = OriginProtection(name, OriginProtectionArgs(zone_id=ZONE, hostnames=HOSTS, **overrides))
        # Awaiting the verification's outputs means every child it depends on has been registered.
        result["ok"] = await component.verification_ok.future()
        for attr in (
            "certificate_pem",
            "private_key_pem",
            "expires_on",
            "pull_ca_pem",
            "pull_ca_url",
            "client_certificate_pem",
            "nginx_config",
        ):
            output: pulumi.Output[Any] = getattr(component, attr)
            result[attr] = (await output.future(), await output.is_secret())
        result["urn"] = await component.urn.future()

    run(body)
    return name, result


def _children(monitor: SecretAwareMonitor, name: str) -> dict[str, Any]:
    return {reg.name[len(name) + 1 :]: reg for reg in monitor.registrations.values() if reg.name.startswith(name + "-")}


SETTING_ROLES = {"ssl", "min-tls-version", "tls-1-3", "always-use-https", "security-header"}
COMMON_ROLES = SETTING_ROLES | {
    "ssl-automatic-mode",
    "origin-key",
    "origin-certificate",
    "verification",
    "origin-certificate-retirement",
    "auto-origin-tls-kex",
    "origin-tls-compliance-modes",
}
PULL_ROLES = {"pull-ca", "pull-certificate", "pull-proof"}
ROLES_BY_AOP = {
    "off": COMMON_ROLES,
    "global": COMMON_ROLES | {"tls-client-auth"},
    "zone": COMMON_ROLES | PULL_ROLES | {"aop-certificate", "aop-activation", "aop-settings"},
    "hostname": COMMON_ROLES | PULL_ROLES | {"aop-hostname-certificate", "aop-hostnames", "aop-activation"},
}
#: Children that come after the verification (they act on what it proved).
AFTER_VERIFICATION = {"verification", "origin-certificate-retirement"}


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048"])
@pytest.mark.parametrize("aop", ["zone", "hostname", "global", "off"])
def test_graph_for_each_aop_level_and_key_type(monitor: SecretAwareMonitor, aop: str, key_type: str) -> None:
    name, result = _build(monitor, aop=aop, key_type=key_type)
    children = _children(monitor, name)
    component = monitor.registrations[name]

    # The component and exactly the children this level needs, all parented to it.
    assert component.type == "origin-tls:index:OriginProtection"
    assert not component.custom
    assert set(children) == ROLES_BY_AOP[aop]
    assert all(child.parent == component.urn for child in children.values())

    # One ZoneSetting per setting, wire names, the HSTS value in snake_case keys (pulumi-cloudflare#1579).
    settings = {r.inputs["settingId"]: unwrap(r.inputs) for r in children.values() if r.type == ZONE_SETTING}
    expected_settings = {
        "ssl": "strict",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "always_use_https": "on",
        "security_header": HSTS_DEFAULT,
    }
    if aop == "global":
        expected_settings["tls_client_auth"] = "on"
    assert {k: v["value"] for k, v in settings.items()} == expected_settings
    assert all(v["zoneId"] == ZONE for v in settings.values())

    # ssl_automatic_mode pinned by the dynamic provider, and ssl set only after it.
    pin = children["ssl-automatic-mode"]
    assert pin.type == "pulumi-python:dynamic/origin-tls:ZoneSettingPin"
    assert {k: pin.inputs[k] for k in ("zone_id", "setting_id", "value")} == {
        "zone_id": ZONE,
        "setting_id": "ssl_automatic_mode",
        "value": "custom",
    }
    assert pin.urn in children["ssl"].dependencies

    # The key and CSR come from the dynamic resource; the certificate request matches the key type.
    key = children["origin-key"]
    assert key.type == "pulumi-python:dynamic/origin-tls:OriginKey"
    assert unwrap(key.inputs)["key_type"] == key_type
    assert unwrap(key.inputs)["hostnames"] == HOSTS
    assert key.secret_outputs == ["private_key_pem"]
    cert = unwrap(children["origin-certificate"].inputs)
    assert cert["csr"] == FAKE_CSR
    assert cert["hostnames"] == HOSTS
    assert cert["requestType"] == ("origin-ecc" if key_type == "ecdsa-p256" else "origin-rsa")
    assert cert["requestedValidity"] == 5475

    verification = children["verification"]
    v_inputs = verification.inputs
    assert verification.type == VERIFICATION
    assert v_inputs["zone_id"] == ZONE
    assert v_inputs["aop"] == aop
    assert v_inputs["hostnames"] == HOSTS
    assert v_inputs["origin_cert_pem"] == FAKE_CERT
    assert v_inputs["min_tls"] == "1.2"
    assert verification.secret_outputs == ["client_key_pem"]
    others = {child.urn for role, child in children.items() if role not in AFTER_VERIFICATION}
    assert others <= set(verification.dependencies), "the verification must run after every other child"

    # The origin certificate is revoked by the retirement, after the verification, never by the engine's delete.
    assert children["origin-certificate"].retain_on_delete is True
    assert verification.urn in children["origin-certificate-retirement"].dependencies
    assert unwrap(children["origin-certificate-retirement"].inputs)["certificate_id"] == f"{name}-origin-certificate-id"

    if aop in ("zone", "hostname"):
        ca = children["pull-ca"]
        assert ca.type == "pulumi-python:dynamic/origin-tls:OriginPullCa"
        assert ca.secret_outputs == ["private_key_pem"], "the CA key is kept, as a secret"
        pull = children["pull-certificate"]
        assert pull.type == "pulumi-python:dynamic/origin-tls:OriginPullCertificate"
        assert pull.secret_outputs == ["private_key_pem"]
        assert is_secret_wrapper(pull.inputs["ca_private_key_pem"])
        assert pull.inputs["ca_certificate_pem"] == FAKE_CA
        proof = children["pull-proof"]
        assert proof.inputs["client_cert_pem"] == FAKE_CLIENT_CERT
        assert is_secret_wrapper(proof.inputs["client_key_pem"])
        upload_role = "aop-certificate" if aop == "zone" else "aop-hostname-certificate"
        assert proof.urn in children[upload_role].dependencies, "nothing is uploaded before the proof pull"
        assert v_inputs["client_cert_pem"] == FAKE_CLIENT_CERT
        assert is_secret_wrapper(v_inputs["client_key_pem"]), "the client key must reach the verification as a secret"
    else:
        assert v_inputs.get("client_cert_pem") is None
    if aop == "zone":
        upload = children["aop-certificate"]
        assert upload.type.endswith("authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate")
        assert upload.inputs["zoneId"] == ZONE
        assert upload.inputs["certificate"] == FAKE_CLIENT_CERT
        assert is_secret_wrapper(upload.inputs["privateKey"])
        enable = children["aop-settings"]
        assert unwrap(enable.inputs) == {"zoneId": ZONE, "enabled": True}
        assert upload.urn in enable.dependencies, "AOP is switched on only after the certificate is uploaded"
        activation = children["aop-activation"]
        assert unwrap(activation.inputs)["certificate_id"] == f"{name}-aop-certificate-id"
        assert activation.urn in enable.dependencies
        assert activation.urn in verification.dependencies, "the old upload goes only after the new one is active"
    if aop == "hostname":
        upload = children["aop-hostname-certificate"]
        assert is_secret_wrapper(upload.inputs["privateKey"])
        configs = unwrap(children["aop-hostnames"].inputs)["configs"]
        assert configs == [{"certId": HOSTCERT_ID, "enabled": True, "hostname": h} for h in HOSTS]

    # Outputs: the certificate in clear, the key only as a secret, the pull CA for the level.
    assert result["certificate_pem"] == (FAKE_CERT, False)
    assert result["private_key_pem"][1] is True
    assert result["expires_on"][0] == "2041-01-01 00:00:00 +0000 UTC"
    if aop in ("zone", "hostname"):
        assert result["pull_ca_pem"][0] == FAKE_CA
        assert result["client_certificate_pem"][0] == FAKE_CLIENT_CERT
        assert result["pull_ca_url"][0] is None
    else:
        assert result["pull_ca_pem"][0] is None
        assert result["pull_ca_url"][0] == (GLOBAL_AOP_CA_URL if aop == "global" else None)
    nginx = result["nginx_config"][0]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in nginx
    assert "server_name app.example.com api.example.com;" in nginx
    assert ("ssl_verify_client on;" in nginx) is (aop != "off")


def test_minimal_args_give_the_hardened_baseline(monitor: SecretAwareMonitor) -> None:
    name, _ = _build(monitor)
    children = _children(monitor, name)
    verification = unwrap(children["verification"].inputs)
    assert verification["aop"] == "zone", "zone-level AOP with the team's own certificate is the default"
    assert (verification["min_tls"], verification["hsts_max_age"]) == ("1.2", 31536000)
    assert (verification["hsts_include_subdomains"], verification["hsts_preload"]) == (True, False)
    assert unwrap(children["origin-key"].inputs)["key_type"] == "ecdsa-p256"
    assert unwrap(children["security-header"].inputs)["value"] == HSTS_DEFAULT


def test_preload_and_floor_are_carried_to_the_zone_and_the_verification(monitor: SecretAwareMonitor) -> None:
    name, result = _build(monitor, hsts_preload=True, min_tls="1.3", hsts_max_age=63072000)
    children = _children(monitor, name)
    hsts = unwrap(children["security-header"].inputs)["value"]["strict_transport_security"]
    assert (hsts["preload"], hsts["max_age"]) == (True, 63072000)
    assert unwrap(children["min-tls-version"].inputs)["value"] == "1.3"
    assert unwrap(children["verification"].inputs)["hsts_preload"] is True
    assert "ssl_protocols TLSv1.3;" in result["nginx_config"][0]


def test_monitor_marks_only_listed_outputs_secret(monitor: SecretAwareMonitor) -> None:
    """The negative twin of the secrecy assertions: unlisted outputs of the same resources stay in clear."""
    name, _ = _build(monitor, aop="zone")
    children = _children(monitor, name)
    captured: dict[str, Any] = {}

    async def body() -> None:
        from origin_tls.providers.keys import OriginKey

        key = OriginKey(f"{name}-probe-key", hostnames=HOSTS)
        captured["key"] = await key.private_key_pem.is_secret()
        captured["csr"] = await key.csr_pem.is_secret()

    run(body)
    assert captured == {"key": True, "csr": False}
    assert children["origin-key"].secret_outputs == ["private_key_pem"]


def _walk(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("aop", ["zone", "hostname", "global"])
def test_no_input_of_any_resource_carries_the_api_token(monitor: SecretAwareMonitor, aop: str) -> None:
    name, _ = _build(monitor, aop=aop)
    regs = [r for r in monitor.registrations.values() if r.name.startswith(name)]
    assert len(regs) >= 10
    for reg in regs:
        assert not any(TOKEN in s for s in _walk(reg.inputs)), reg.name
    # The serialized providers are by-reference pickles: short, and no token inside.
    providers = [unwrap(r.inputs["__provider"]) for r in regs if "__provider" in r.inputs]
    assert len(providers) >= 3
    assert all(len(p) < 200 for p in providers)


def test_token_walker_finds_a_planted_token(monitor: SecretAwareMonitor) -> None:
    """Twin of the above: had the token reached an input, the walk would have found it."""
    import pulumi_cloudflare as cloudflare

    name = _name()

    async def body() -> None:
        setting = cloudflare.ZoneSetting(name, zone_id=ZONE, setting_id="ssl", value=TOKEN)
        await setting.urn.future()

    run(body)
    assert any(TOKEN in s for s in _walk(monitor.registrations[name].inputs))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"min_tls": "0.9"}, "min_tls"),
        ({"aop": "sometimes"}, "aop"),
        ({"key_type": "dsa"}, "key_type"),
        ({"validity_days": 400}, "validity_days"),
        ({"hsts_max_age": -1}, "hsts_max_age"),
        ({"hsts_preload": True, "hsts_include_subdomains": False}, "hsts.preload"),
        ({"hostnames": []}, "hostnames"),
        ({"hostnames": ["*.example.com"]}, "hostnames"),
        ({"hostnames": ["bad host"]}, "hostnames[0]"),
        ({"zone_id": "not-a-zone"}, "zone_id"),
        ({"origin": "origin.example.com:70000"}, "origin"),
        ({"verify_timeout": 0}, "verify_timeout"),
        ({"nginx_certificate_path": "relative.pem"}, "certificate_path"),
        ({"api_url": "http://api.example.com/client/v4"}, "api_url"),  # the token would travel in clear
    ],
)
def test_invalid_args_fail_at_construction_and_register_nothing(
    monitor: SecretAwareMonitor, overrides: dict[str, Any], field: str
) -> None:
    name = _name()
    kwargs: dict[str, Any] = {"zone_id": ZONE, "hostnames": HOSTS, **overrides}
    with pytest.raises(InvalidInput) as excinfo:
        OriginProtection(name, OriginProtectionArgs(**kwargs))
    assert excinfo.value.field == field
    assert "must be" in str(excinfo.value)
    assert not [r for r in monitor.registrations if r.startswith(name)]


def test_valid_twin_of_the_refused_args_constructs(monitor: SecretAwareMonitor) -> None:
    name, result = _build(
        monitor,
        min_tls="1.3",
        aop="hostname",
        key_type="rsa-2048",
        validity_days=365,
        hsts_max_age=31536000,
        origin="origin.example.com:8443",
        verify_timeout=2,
        api_url="http://127.0.0.1:8080/client/v4",  # loopback (a sandbox): http:// is allowed there
    )
    assert result["ok"] is True
    assert unwrap(_children(monitor, name)["verification"].inputs)["origin"] == "origin.example.com:8443"
