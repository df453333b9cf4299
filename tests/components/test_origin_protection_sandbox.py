"""``OriginProtection`` deployed against the sandbox zone: every child does its real work (API calls, key material,
the verification's handshakes), as in ``pulumi up``. The zone ends hardened and verified at each AOP level; an
origin that was not given the new certificate is caught by the verification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from origin_tls.components import OriginProtection, OriginProtectionArgs
from origin_tls.providers import verification
from origin_tls.providers._common import TOKEN_ENV
from origin_tls.providers.verification import VerificationFailed
from origin_tls.sandbox.runner import Sandbox
from tests.components.conftest import SecretAwareMonitor
from tests.components.sandbox_engine import SandboxEngine

_counter = iter(range(10_000))


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    # Settling retries every 0.2 s here instead of 5 s (the sandbox applies settings at once; AOP uploads take 0.2 s).
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)
    with Sandbox(follow_zone_aop=False) as sb:
        yield sb


def _deploy(
    sandbox: Sandbox, aop: str, settle_seconds: float = 30.0, *, name: str | None = None, **overrides: Any
) -> dict[str, Any]:
    info = sandbox.info
    name = name or f"sbx{next(_counter)}"
    result: dict[str, Any] = {}
    engine = _ENGINES.get(id(sandbox))

    async def body() -> None:
        component = OriginProtection(
            name,
            OriginProtectionArgs(
                zone_id=info.zone_id,
                hostnames=[info.hostname],
                aop=aop,
                origin=info.origin,
                edge=info.edge,
                edge_http=info.edge_http,
                origin_ca_pem=Path(info.origin_ca_file).read_text(encoding="ascii"),
                edge_ca_pem=Path(info.edge_ca_file).read_text(encoding="ascii"),
                settle_seconds=settle_seconds,
                **overrides,
            ),
        )
        result["ok"] = await component.verification_ok.future()
        result["report"] = await component.verification_report.future()
        result["private_key_secret"] = await component.private_key_pem.is_secret()

    @pulumi.runtime.test
    def harness() -> Any:
        return body()

    if engine is not None:
        engine.start_run()
    harness()
    if engine is not None:
        engine.finish()
    return result


#: The engine of each sandbox, so that _deploy can start and finish runs.
_ENGINES: dict[int, SandboxEngine] = {}


def _engine(monitor: SecretAwareMonitor, sandbox: Sandbox, **options: Any) -> SandboxEngine:
    engine = SandboxEngine(sandbox, **options)
    monitor.recorder.backend = engine
    _ENGINES[id(sandbox)] = engine
    return engine


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["targets"][0]["checks"]}


@pytest.mark.parametrize("aop", ["zone", "hostname", "global"])
def test_up_hardens_the_zone_and_the_verification_passes(
    monitor: SecretAwareMonitor, sandbox: Sandbox, aop: str
) -> None:
    engine = _engine(monitor, sandbox)
    result = _deploy(sandbox, aop)

    assert engine.errors == []
    assert result["ok"] is True
    assert result["private_key_secret"] is True
    statuses = _statuses(result["report"])
    assert statuses["origin.certificate"] == "pass"
    assert statuses["origin.aop"] == "pass"
    assert statuses["zone.aop"] == "pass"
    assert statuses["origin.aop_client"] == ("skipped" if aop == "global" else "pass")
    assert set(statuses.values()) <= {"pass", "skipped"}
    with sandbox.client() as client:
        assert client.get_setting(sandbox.zone_id, "ssl") == "strict"
        assert client.get_setting(sandbox.zone_id, "ssl_automatic_mode") == "custom"
        assert client.get_setting(sandbox.zone_id, "min_tls_version") == "1.2"


@pytest.mark.parametrize("aop", ["zone", "global"])
def test_up_fails_when_the_origin_still_serves_the_old_certificate(
    monitor: SecretAwareMonitor, sandbox: Sandbox, aop: str
) -> None:
    engine = _engine(monitor, sandbox, install_on_origin=False)
    result = _deploy(sandbox, aop, settle_seconds=1.0)
    assert result["ok"] is False

    failures = [e for e in engine.errors if isinstance(e, VerificationFailed)]
    assert len(failures) == 1
    message = str(failures[0])
    assert "origin.certificate fail" in message
    assert sandbox.token not in message


def test_up_stops_before_the_upload_when_the_origin_does_not_trust_the_pull_ca(
    monitor: SecretAwareMonitor, sandbox: Sandbox
) -> None:
    """The proof pull refuses to go on: Cloudflare is never given a certificate the origin would refuse."""
    engine = _engine(monitor, sandbox, install_bundle=False)
    result = _deploy(sandbox, "zone", settle_seconds=1.0)
    assert result["ok"] is not True  # never verified: the engine stopped at the proof
    assert [type(e).__name__ for e in engine.errors] == ["PullRefused"]
    assert "pull_ca_bundle_pem" in str(engine.errors[0])
    assert engine.log.steps[next(n for n in engine.log.steps if n.endswith("-aop-certificate"))] == "skipped"
    with sandbox.client() as client:
        assert client.list_zone_aop_certificates(sandbox.zone_id) == []
