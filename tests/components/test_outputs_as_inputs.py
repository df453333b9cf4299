"""``OriginProtection`` wired from other resources: ``origin`` and ``hostnames`` as Outputs, known and unknown.

A known Output flows into every child that needs it (the key's CSR names, the certificate, the proof, the
verification, the per-hostname AOP configs, the nginx configuration, ``inventory_target``); an unknown one (preview)
neither crashes the program nor passes as valid; a bad value known only at deploy time is refused by the
providers' ``check`` with the same message, naming the same field, as at construction.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from origin_tls.components import OriginProtection, OriginProtectionArgs
from origin_tls.errors import InvalidInput
from origin_tls.providers.keys import OriginKeyProvider
from origin_tls.providers.pull_proof import OriginPullProofProvider
from origin_tls.providers.verification import HandshakeVerificationProvider, parse_verification_inputs
from tests.components.conftest import FAKE_CLIENT_CERT, FAKE_CLIENT_KEY, HOSTCERT_ID, SecretAwareMonitor, unwrap
from tests.components.test_origin_protection import ZONE, _children, _name, run

HOSTS = ["app.example.com", "*.example.com", "api.example.com"]
PROBED = ["app.example.com", "api.example.com"]
ORIGIN = "origin.example.com:8443"


def _unknown() -> pulumi.Output[Any]:
    """An Output whose value is not known (what another resource's output is during preview)."""
    loop = asyncio.get_event_loop()
    value: asyncio.Future[Any] = loop.create_future()
    value.set_result(None)
    known: asyncio.Future[bool] = loop.create_future()
    known.set_result(False)
    secret: asyncio.Future[bool] = loop.create_future()
    secret.set_result(False)
    return pulumi.Output(set(), value, known, secret)


def _build(unknown: bool, aop: str) -> tuple[str, dict[str, Any]]:
    name = _name()
    result: dict[str, Any] = {}

    async def body() -> None:
        hostnames = _unknown() if unknown else pulumi.Output.from_input(HOSTS)
        origin = _unknown() if unknown else pulumi.Output.from_input(ORIGIN)
        component = OriginProtection(
            name, OriginProtectionArgs(zone_id=ZONE, hostnames=hostnames, origin=origin, aop=aop)
        )
        result["ok"] = await component.verification_ok.future()
        for attr in ("nginx_config", "inventory_target"):
            output: pulumi.Output[Any] = getattr(component, attr)
            result[attr] = (await output.future(), await output.is_known())

    run(body)
    return name, result


@pytest.mark.parametrize("aop", ["zone", "hostname"])
def test_known_outputs_flow_into_every_child(monitor: SecretAwareMonitor, aop: str) -> None:
    name, result = _build(unknown=False, aop=aop)
    children = _children(monitor, name)
    assert unwrap(children["origin-key"].inputs)["hostnames"] == HOSTS
    assert unwrap(children["origin-certificate"].inputs)["hostnames"] == HOSTS
    verification = unwrap(children["verification"].inputs)
    assert (verification["hostnames"], verification["origin"]) == (PROBED, ORIGIN)
    proof = unwrap(children["pull-proof"].inputs)
    assert (proof["hostnames"], proof["origin"], proof["client_cert_pem"]) == (PROBED, ORIGIN, FAKE_CLIENT_CERT)
    if aop == "hostname":
        configs = unwrap(children["aop-hostnames"].inputs)["configs"]
        assert configs == [{"certId": HOSTCERT_ID, "enabled": True, "hostname": h} for h in PROBED]
    nginx, known = result["nginx_config"]
    assert known
    assert "server_name app.example.com *.example.com api.example.com;" in nginx
    targets, known = result["inventory_target"]
    assert known
    assert [t["hostname"] for t in targets] == PROBED
    assert all(t["origin"] == ORIGIN and t["zone_id"] == ZONE and t["aop"] == aop for t in targets)


def test_inventory_target_carries_no_secret(monitor: SecretAwareMonitor) -> None:
    _, result = _build(unknown=False, aop="zone")
    text = repr(result["inventory_target"][0])
    assert "PRIVATE KEY" not in text
    assert FAKE_CLIENT_KEY not in text
    assert "CERTIFICATE" not in text


def test_unknown_outputs_neither_crash_nor_pass(monitor: SecretAwareMonitor) -> None:
    name, result = _build(unknown=True, aop="zone")
    children = _children(monitor, name)
    # Registered without a value (the mock monitor drops the unknown sentinel; the engine keeps it and hands
    # check/diff an Unknown, tested below): the program did not guess one.
    verification = children["verification"].inputs
    assert verification.get("hostnames") in (None, rpc.UNKNOWN)
    assert verification.get("origin") in (None, rpc.UNKNOWN)
    assert children["origin-key"].inputs.get("hostnames") in (None, rpc.UNKNOWN)
    assert result["nginx_config"][1] is False
    assert result["inventory_target"][1] is False


def _construction_error(**overrides: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as excinfo:
        OriginProtection(_name(), OriginProtectionArgs(**{"zone_id": ZONE, "hostnames": PROBED, **overrides}))
    return excinfo.value


def test_a_bad_deploy_time_hostname_is_refused_in_check_with_the_construction_message(
    monitor: SecretAwareMonitor,
) -> None:
    expected = _construction_error(hostnames=["app.example.com", "bad host"])
    key = OriginKeyProvider().check({}, {"hostnames": ["app.example.com", "bad host"]})
    verification = HandshakeVerificationProvider().check({}, {"hostnames": ["app.example.com", "bad host"]})
    for result in (key, verification):
        assert [(f.property, f.reason) for f in result.failures] == [("hostnames", str(expected))]


def test_a_bad_deploy_time_origin_is_refused_in_check_with_the_construction_message(
    monitor: SecretAwareMonitor,
) -> None:
    expected = _construction_error(origin="origin.example.com:70000")
    bad = {"hostnames": PROBED, "origin": "origin.example.com:70000"}
    verification = HandshakeVerificationProvider().check({}, bad)
    proof = OriginPullProofProvider().check(
        {}, {**bad, "client_cert_pem": FAKE_CLIENT_CERT, "client_key_pem": FAKE_CLIENT_KEY}
    )
    for result in (verification, proof):
        assert [(f.property, f.reason) for f in result.failures] == [("origin", str(expected))]


def test_the_good_twin_passes_check() -> None:
    good = {"hostnames": PROBED, "origin": ORIGIN}
    assert HandshakeVerificationProvider().check({}, good).failures == []
    assert OriginKeyProvider().check({}, {"hostnames": HOSTS}).failures == []


def test_an_unknown_value_is_not_judged_in_check_and_never_verified() -> None:
    provider = HandshakeVerificationProvider()
    news = {"hostnames": Unknown(), "origin": Unknown()}
    assert provider.check({}, news).failures == []
    # Never a pass: there is nothing to verify until it is known, and the diff shows a change.
    with pytest.raises(InvalidInput):
        parse_verification_inputs(news)
    olds = {"hostnames": PROBED, "origin": ORIGIN, "ok": True, "drift": []}
    assert provider.diff("id", olds, {**news, "drift": []}).changes is True
    assert OriginKeyProvider().diff("id", {"hostnames": HOSTS}, {"hostnames": Unknown()}).replaces == ["hostnames"]
