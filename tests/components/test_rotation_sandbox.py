"""Rotations that never break a pull, proven against the sandbox while a prober pulls through its edge.

A prober asks the sandbox edge for ``https://HOSTNAME/`` every 150 ms from before the first rotation to after the
last; every answer is recorded. The edge, like Cloudflare, presents the newest *active* zone-level AOP certificate
to the origin (nginx, ``ssl_verify_client on``), so a pull is refused the moment Cloudflare presents a certificate
the origin does not trust (nginx 400 "The SSL certificate error", passed through by the edge; or a 52x).

- The design: a client certificate renewed under the same CA (the fake clock puts it at 29 days left), then a CA
  rotation (``client_rotation`` changed): the bundle first, the proof pull, the upload, the old upload deleted last,
  the final CA last of all. No pull may be refused from start to end.
- The twin: the same CA rotation in the naive order (new CA and certificate uploaded, the origin given the new CA
  afterwards) must show refused pulls; otherwise this test could not fail.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from origin_tls.providers import renewal, verification
from origin_tls.providers._common import TOKEN_ENV
from origin_tls.sandbox.runner import Sandbox
from tests.components.conftest import SecretAwareMonitor
from tests.components.test_origin_protection_sandbox import _deploy, _engine

INTERVAL = 0.15


@dataclass
class Pull:
    at: float
    status: int
    phase: str


@dataclass
class Prober:
    """Pulls ``/`` through the sandbox edge until stopped, recording every answer (0: no answer at all)."""

    sandbox: Sandbox
    pulls: list[Pull] = field(default_factory=list)
    phase: str = "start"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _pull(self) -> int:
        info = self.sandbox.info
        host, port = info.edge.rsplit(":", 1)
        context = ssl.create_default_context(cadata=Path(info.edge_ca_file).read_text(encoding="ascii"))
        try:
            with (
                socket.create_connection((host, int(port)), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=info.hostname) as tls,
            ):
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {info.hostname}\r\nConnection: close\r\n\r\n".encode())
                response = http.client.HTTPResponse(tls, method="GET")
                response.begin()
                response.read()
                return response.status
        except (OSError, http.client.HTTPException):
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            phase, at = self.phase, time.monotonic()  # the phase the pull started in
            self.pulls.append(Pull(at, self._pull(), phase))
            self._stop.wait(INTERVAL)

    def mark(self, phase: str) -> None:
        """Enter ``phase`` and pull once right now: every step of a rotation is probed, however fast it runs."""
        self.phase = phase
        at = time.monotonic()
        self.pulls.append(Pull(at, self._pull(), phase))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def refused(self) -> list[Pull]:
        return [p for p in self.pulls if not 200 <= p.status < 400]

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        start = len(self.pulls)
        while len(self.pulls) < start + count and time.monotonic() < deadline:
            time.sleep(INTERVAL)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)
    with Sandbox(follow_zone_aop=False) as sb:
        yield sb


def _zone_certificates(sandbox: Sandbox) -> list[str]:
    with sandbox.client() as client:
        return [str(c.get("status")) for c in client.list_zone_aop_certificates(sandbox.zone_id)]


def test_client_renewal_and_ca_rotation_never_refuse_a_pull(
    monitor: SecretAwareMonitor, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack deployed with zone-level AOP, and a prober pulling through the edge
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="rot")["ok"] is True
    prober = Prober(sandbox)
    engine.on_event = prober.mark
    prober.start()
    try:
        prober.wait_for(5)
        assert prober.pulls, "the prober must see the zone before any rotation"
        assert not prober.refused(), "the prober must see a working zone before any rotation"

        # When the client certificate enters its last 29 days (fake clock), `pulumi up` renews it under the same CA
        soon = renewal.utc_now() + dt.timedelta(days=730 - 29)
        monkeypatch.setattr(renewal, "clock", lambda: soon)
        prober.phase = "renewal"
        assert _deploy(sandbox, "zone", name="rot")["ok"] is True, engine.errors
        steps = engine.log.steps
        assert (steps["rot-pull-ca"], steps["rot-pull-certificate"], steps["rot-aop-certificate"]) == (
            "same",
            "replace",
            "replace",
        )
        assert steps["rot-origin-key"] == "same"
        assert engine.log.deleted == ["rot-pull-certificate", "rot-aop-certificate"]
        monkeypatch.setattr(renewal, "clock", renewal.utc_now)
        prober.wait_for(3)

        # And when the CA itself rotates
        prober.phase = "ca-rotation"
        assert _deploy(sandbox, "zone", name="rot", client_rotation="2027")["ok"] is True, engine.errors
        steps = engine.log.steps
        assert (steps["rot-pull-ca"], steps["rot-pull-proof"], steps["rot-aop-certificate"]) == (
            "update",
            "update",
            "replace",
        )
        prober.wait_for(5)
    finally:
        prober.stop()

    # Then no pull was refused from start to end, and one active zone certificate is left
    refused = prober.refused()
    print(f"\ndesigned order: {len(prober.pulls)} pulls, {len(refused)} refused")
    assert len(prober.pulls) >= 10
    phases = {p.phase for p in prober.pulls}
    assert {"installed-bundle", "uploaded", "deleted-old-upload", "installed-final-ca"} <= phases
    assert refused == [], " ".join(f"{p.phase}:{p.status}" for p in prober.pulls)
    assert _zone_certificates(sandbox) == ["active"]
    origin = sandbox.origin
    assert origin is not None
    assert origin.config.client_ca_pem == engine.outputs["OriginPullCa"]["certificate_pem"], "old CA removed last"


def test_naive_ca_rotation_refuses_pulls(monitor: SecretAwareMonitor, sandbox: Sandbox) -> None:
    """Twin: new CA and certificate uploaded before the origin trusts the CA: the prober sees refused pulls."""
    engine = _engine(monitor, sandbox)
    assert _deploy(sandbox, "zone", name="naive")["ok"] is True
    prober = Prober(sandbox)
    prober.start()
    try:
        prober.wait_for(5)
        assert prober.pulls
        assert not prober.refused()
        engine.naive = True
        engine.on_event = lambda event: prober.mark("naive-ca-rotation")
        prober.phase = "naive-ca-rotation"
        _deploy(sandbox, "zone", name="naive", settle_seconds=2.0, client_rotation="2027")
        # The team installs the new CA after the deploy, as the naive runbook says.
        origin = sandbox.origin
        assert origin is not None
        engine._set_client_ca(engine.outputs["OriginPullCa"]["certificate_pem"])
        prober.phase = "after"
        prober.wait_for(5)
    finally:
        prober.stop()
    refused = prober.refused()
    print(f"\nnaive order: {len(prober.pulls)} pulls, {len(refused)} refused")
    assert refused, "the naive order must break pulls, or this test proves nothing"
    assert {p.phase for p in refused} == {"naive-ca-rotation"}
    assert [p for p in prober.pulls if p.phase == "after"]
    assert all(200 <= p.status < 400 for p in prober.pulls[-3:]), "pulls work again once the origin trusts the new CA"
