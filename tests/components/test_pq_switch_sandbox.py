"""Requiring post-quantum key agreement never breaks a pull: ``post_quantum`` goes ``"auto"`` -> ``"required"`` ->
``"auto"`` while the rotation test's prober pulls through the sandbox edge.

The sandbox runs its post-quantum origin (``Sandbox(pq_origin=True)``: pyOpenSSL on OpenSSL 4, X25519MLKEM768) and the
edge obeys the zone: under ``pqh`` it reaches the origin only with X25519MLKEM768 and answers 525 when the origin
cannot. The designed order proves the origin (``pq-proof``) before ``pqh`` is written, and clears ``pqh`` before the
verification when the requirement is dropped.

Twins, which must see what the design prevents:

- the same switch in the naive order (``pqh`` written without the proof) on an origin that lost ML-KEM: 525s;
- the designed order on that origin: the deployment stops at ``pq-proof``, ``pqh`` is never written, no pull refused;
- dropping the requirement while the origin already cannot: the clearing comes first, so the deployment succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from origin_tls.providers import verification
from origin_tls.providers._common import TOKEN_ENV
from origin_tls.providers.pq_proof import PqNotProven
from origin_tls.sandbox.pq_origin import PqOrigin
from origin_tls.sandbox.runner import Sandbox
from tests.components.conftest import SecretAwareMonitor
from tests.components.test_origin_protection_sandbox import _deploy, _engine
from tests.components.test_rotation_sandbox import Prober

HYBRID = "X25519MLKEM768"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)
    with Sandbox(follow_zone_aop=False, pq_origin=True) as sb:
        yield sb


def pq_origin(sandbox: Sandbox) -> PqOrigin:
    origin = sandbox.origin
    assert isinstance(origin, PqOrigin)
    return origin


def modes(sandbox: Sandbox) -> tuple[bool, tuple[str, ...]]:
    assert sandbox.state is not None
    return sandbox.state.origin_key_exchange()


def pulled_groups(sandbox: Sandbox, since: int) -> set[str | None]:
    assert sandbox.edge is not None
    return {pull.group for pull in sandbox.edge.pulls[since:]}


def test_auto_required_auto_never_refuses_a_pull(monitor: SecretAwareMonitor, sandbox: Sandbox) -> None:
    # Given a stack deployed with "auto" and a prober pulling through the edge
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="pq")["ok"] is True, engine.errors
    assert modes(sandbox) == (True, ())
    prober = Prober(sandbox)
    engine.on_event = prober.mark
    prober.start()
    try:
        prober.wait_for(5)
        assert prober.pulls
        assert not prober.refused(), "the prober must see a working zone first"
        assert sandbox.edge is not None
        before = len(sandbox.edge.pulls)
        assert pulled_groups(sandbox, 0) == {HYBRID}  # automatic key exchange already reaches it post-quantum

        # When the stack requires post-quantum key agreement
        prober.phase = "required"
        result = _deploy(sandbox, "zone", name="pq", post_quantum="required")
        assert result["ok"] is True, engine.errors
        steps = engine.log.steps
        assert (steps["pq-pq-proof"], steps["pq-origin-tls-compliance-modes"], steps["pq-verification"]) == (
            "create",
            "update",
            "update",
        )
        assert modes(sandbox) == (True, ("pqh",))
        checks = {c["id"]: c["status"] for c in result["report"]["targets"][0]["checks"]}
        assert checks["origin.pq_key_agreement"] == "pass"
        assert checks["zone.origin_pq"] == "pass"
        prober.wait_for(5)
        edge = sandbox.edge
        assert edge.pulls[-1].offered == (HYBRID,)  # the edge offers nothing else now
        assert pulled_groups(sandbox, before) == {HYBRID}

        # And when the requirement is dropped again
        prober.phase = "auto-again"
        assert _deploy(sandbox, "zone", name="pq")["ok"] is True, engine.errors
        assert engine.log.steps["pq-origin-tls-compliance-modes"] == "update"
        assert modes(sandbox) == (True, ())
        prober.wait_for(5)
    finally:
        prober.stop()

    # Then no pull was refused, and every step of the switch was probed
    refused = prober.refused()
    print(f"\npost-quantum switch: {len(prober.pulls)} pulls, {len(refused)} refused")
    assert {"pq-proof", "pqh-set", "pqh-cleared"} <= {p.phase for p in prober.pulls}
    assert refused == [], " ".join(f"{p.phase}:{p.status}" for p in prober.pulls)


def test_naive_switch_before_the_origin_can_refuses_pulls(monitor: SecretAwareMonitor, sandbox: Sandbox) -> None:
    """Twin: the origin lost ML-KEM and pqh is written without the proof: the prober sees the edge's 525s."""
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="naivepq")["ok"] is True, engine.errors
    pq_origin(sandbox).set_post_quantum(False)  # e.g. rebuilt on Debian 12's OpenSSL 3.0
    prober = Prober(sandbox)
    prober.start()
    try:
        prober.wait_for(3)
        assert not prober.refused(), "a classical origin is fine as long as the zone does not require pqh"
        engine.naive = True
        engine.on_event = lambda event: prober.mark("naive-pq-switch")
        prober.phase = "naive-pq-switch"
        result = _deploy(sandbox, "zone", name="naivepq", settle_seconds=2.0, post_quantum="required")
        prober.wait_for(3)
    finally:
        prober.stop()
    refused = prober.refused()
    print(f"\nnaive post-quantum switch: {len(prober.pulls)} pulls, {len(refused)} refused")
    assert refused, "switching before the origin can must break pulls, or the designed test proves nothing"
    assert {p.status for p in refused} == {525}
    assert {p.phase for p in refused} == {"naive-pq-switch"}
    assert modes(sandbox) == (True, ("pqh",))
    assert result["ok"] is False  # and the verification (require_pq) caught it


def test_the_designed_order_stops_at_the_proof_and_never_writes_pqh(
    monitor: SecretAwareMonitor, sandbox: Sandbox
) -> None:
    """Twin of the naive switch on the same origin: the proof fails, pqh is never written, no pull refused."""
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="provenpq")["ok"] is True, engine.errors
    pq_origin(sandbox).set_post_quantum(False)
    prober = Prober(sandbox)
    engine.on_event = prober.mark
    prober.start()
    try:
        prober.wait_for(3)
        prober.phase = "required"
        _deploy(sandbox, "zone", name="provenpq", settle_seconds=1.0, post_quantum="required")
        prober.wait_for(3)
    finally:
        prober.stop()
    assert [type(e) for e in engine.errors] == [PqNotProven]
    assert "does not negotiate X25519MLKEM768" in str(engine.errors[0])
    assert engine.log.steps["provenpq-pq-proof"] == "failed"
    assert engine.log.steps["provenpq-origin-tls-compliance-modes"] == "skipped"
    assert modes(sandbox) == (True, ())
    assert "pq-proof" in {p.phase for p in prober.pulls}
    assert prober.refused() == [], " ".join(f"{p.phase}:{p.status}" for p in prober.pulls)


def test_dropping_the_requirement_recovers_a_zone_whose_origin_already_cannot(
    monitor: SecretAwareMonitor, sandbox: Sandbox
) -> None:
    """The outage the requirement can cause (pqh on, the origin lost ML-KEM afterwards) is undone by "auto": the
    compliance modes are cleared before the verification, which then passes."""
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="recover", post_quantum="required")["ok"] is True, engine.errors
    pq_origin(sandbox).set_post_quantum(False)
    prober = Prober(sandbox)
    prober.mark("outage")
    assert [p.status for p in prober.refused()] == [525]
    result = _deploy(sandbox, "zone", name="recover", settle_seconds=10.0)
    assert result["ok"] is True, engine.errors
    assert modes(sandbox) == (True, ())
    prober.mark("recovered")
    assert prober.pulls[-1].status == 200
    assert Path(sandbox.info.edge_ca_file).is_file()
