"""``OriginProtectionArgs.post_quantum`` under Pulumi's mocks: the children, their inputs and their order.

``"auto"``: ``ZoneAutoOriginTlsKex(enabled=True)`` and ``OriginTlsComplianceModes([])``; ``"required"``: also the
``pq-proof`` (after ``pull-proof``), and ``["pqh"]`` only after it; the verification after both, with
``require_pq``; ``inventory_target`` carries ``require_pq``. A bad value is refused at construction naming the field.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from origin_tls.components import OriginProtection, OriginProtectionArgs
from origin_tls.errors import InvalidInput
from tests.components.conftest import FAKE_CLIENT_CERT, SecretAwareMonitor, is_secret_wrapper, unwrap
from tests.components.test_origin_protection import HOSTS, ZONE, _children, _name, run

ORIGIN = "origin.example.com:443"
KEX = "cloudflare:index/zoneAutoOriginTlsKex:ZoneAutoOriginTlsKex"
MODES = "cloudflare:index/originTlsComplianceModes:OriginTlsComplianceModes"
PQ_PROOF = "pulumi-python:dynamic/origin-tls:OriginPqProof"


def build(**overrides: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = _name()
    targets: list[list[dict[str, Any]]] = []

    async def body() -> None:
        component = OriginProtection(name, OriginProtectionArgs(zone_id=ZONE, hostnames=HOSTS, **overrides))
        await component.verification_ok.future()
        targets.append(await component.inventory_target.future())

    run(body)
    return {"name": name}, targets[0]


def children_of(monitor: SecretAwareMonitor, **overrides: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    built, targets = build(**overrides)
    return _children(monitor, built["name"]), targets


@pytest.mark.parametrize("aop", ["zone", "off"])
def test_auto_keeps_automatic_key_exchange_on_and_requires_nothing(monitor: SecretAwareMonitor, aop: str) -> None:
    children, targets = children_of(monitor, aop=aop, origin=ORIGIN)
    assert "pq-proof" not in children
    kex, modes = children["auto-origin-tls-kex"], children["origin-tls-compliance-modes"]
    assert (kex.type, unwrap(kex.inputs)) == (KEX, {"zoneId": ZONE, "enabled": True})
    assert (modes.type, unwrap(modes.inputs)) == (MODES, {"zoneId": ZONE, "values": []})
    # The empty list depends on nothing: dropping "required" clears pqh first, and the verification waits for it.
    assert modes.dependencies == []
    verification = children["verification"]
    assert {kex.urn, modes.urn} <= set(verification.dependencies)
    assert unwrap(verification.inputs)["require_pq"] is False
    assert all(target["require_pq"] is False for target in targets)


def test_auto_is_the_default(monitor: SecretAwareMonitor) -> None:
    children, _ = children_of(monitor)
    assert "pq-proof" not in children
    assert unwrap(children["origin-tls-compliance-modes"].inputs)["values"] == []
    assert unwrap(children["verification"].inputs)["require_pq"] is False


def test_required_proves_the_origin_before_pqh_and_verifies_with_require_pq(monitor: SecretAwareMonitor) -> None:
    children, targets = children_of(monitor, aop="zone", origin=ORIGIN, post_quantum="required")
    proof, modes, kex = children["pq-proof"], children["origin-tls-compliance-modes"], children["auto-origin-tls-kex"]
    assert proof.type == PQ_PROOF
    inputs = unwrap(proof.inputs)
    assert (inputs["origin"], inputs["hostnames"], inputs["client_cert_pem"]) == (ORIGIN, HOSTS, FAKE_CLIENT_CERT)
    assert is_secret_wrapper(proof.inputs["client_key_pem"])  # the stack's client key stays a secret
    assert "client_key_pem" in proof.secret_outputs
    # The proof after the pull proof (the certificate is accepted), pqh after the proof: never set blind.
    assert children["pull-proof"].urn in proof.dependencies
    assert unwrap(modes.inputs) == {"zoneId": ZONE, "values": ["pqh"]}
    assert {proof.urn, kex.urn} <= set(modes.dependencies)
    verification = children["verification"]
    assert unwrap(verification.inputs)["require_pq"] is True
    assert {proof.urn, modes.urn, kex.urn} <= set(verification.dependencies)
    assert [t["require_pq"] for t in targets] == [True, True]
    assert all(t["origin"] == ORIGIN for t in targets)


@pytest.mark.parametrize("aop", ["off", "global"])
def test_required_without_a_client_certificate_of_the_stack_proves_without_one(
    monitor: SecretAwareMonitor, aop: str
) -> None:
    children, _ = children_of(monitor, aop=aop, origin=ORIGIN, post_quantum="required")
    proof = children["pq-proof"]
    assert unwrap(proof.inputs).get("client_cert_pem") is None
    assert proof.dependencies == []  # no pull proof to come after
    assert children["origin-tls-compliance-modes"].urn in children["verification"].dependencies


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ({"post_quantum": "always", "origin": ORIGIN}, "one of auto, required"),
        ({"post_quantum": True, "origin": ORIGIN}, "one of auto, required"),
        ({"post_quantum": "required"}, "origin"),  # nothing to prove it against: pqh would be set blind
    ],
)
def test_a_bad_post_quantum_fails_at_construction_naming_the_field(
    monitor: SecretAwareMonitor, overrides: dict[str, Any], wanted: str
) -> None:
    name = _name()
    with pytest.raises(InvalidInput) as caught:
        OriginProtection(name, OriginProtectionArgs(zone_id=ZONE, hostnames=HOSTS, **overrides))
    assert caught.value.field == "post_quantum"
    assert wanted in str(caught.value)
    assert not [r for r in monitor.registrations if r.startswith(name)]


def test_required_with_an_origin_from_an_output_constructs(monitor: SecretAwareMonitor) -> None:
    # Twin of the refusal above: an origin wired from another resource is known at deploy time; the proof's check
    # validates it then.
    children, _ = children_of(monitor, origin=pulumi.Output.from_input(ORIGIN), post_quantum="Required")
    assert unwrap(children["pq-proof"].inputs)["origin"] == ORIGIN
