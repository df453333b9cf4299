"""Fixtures for the provider tests: a running sandbox zone, hardened or not, and verification inputs for it.

The sandbox (``origin_tls.sandbox.Sandbox``) is a Cloudflare API emulator, an emulated edge that obeys the zone's
settings, and a real nginx origin with the global AOP certificate: it starts fresh (Flexible SSL, TLS 1.0 floor, no
HSTS, Automatic SSL/TLS on). ``hardened`` applies the baseline through the API, as the component would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from origin_tls.baseline import AopMode, Baseline
from origin_tls.harden import harden_zone
from origin_tls.providers._common import TOKEN_ENV
from origin_tls.sandbox.runner import Sandbox

__all__ = ["BASELINE", "configured", "verification_props"]

#: The sandbox's origin uses the global AOP certificate, so "global" is the level it can pass.
BASELINE = Baseline(aop=AopMode.GLOBAL)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A fresh, unhardened sandbox zone; stopped (nginx included) when the test ends."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def hardened(sandbox: Sandbox) -> Sandbox:
    """The sandbox with every baseline zone setting applied through its API."""
    with sandbox.client() as client:
        harden_zone(client, sandbox.zone_id, BASELINE)
    return sandbox


def configured(provider: Any, sandbox: Sandbox, *, project: str = "origin-tls") -> Any:
    """``provider.configure()`` with the stack config the engine would send: the token and the sandbox's API."""
    config = {"cloudflare:apiToken": sandbox.token, "cloudflare:baseUrl": sandbox.info.api_url}
    provider.configure(ConfigureRequest(Config(config, project)))
    return provider


def verification_props(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """HandshakeVerification inputs for the sandbox, as the engine delivers them (numbers as floats)."""
    info = sandbox.info
    props: dict[str, Any] = {
        "hostnames": [info.hostname],
        "zone_id": info.zone_id,
        "edge": info.edge,
        "edge_http": info.edge_http,
        "origin": info.origin,
        "min_tls": "1.2",
        "hsts_max_age": 31536000.0,
        "hsts_include_subdomains": True,
        "hsts_preload": False,
        "aop": "global",
        "origin_ca_pem": Path(info.origin_ca_file).read_text(encoding="ascii"),
        "origin_cert_pem": None,
        "edge_ca_pem": Path(info.edge_ca_file).read_text(encoding="ascii"),
        "client_cert_pem": Path(info.client_cert_file).read_text(encoding="ascii"),
        "client_key_pem": Path(info.client_key_file).read_text(encoding="ascii"),
        "api_url": None,
        "timeout": 5.0,
        "settle_seconds": 0.0,
        "strict": False,
        "ok": None,
        "report": None,
        "summary": None,
        "drift": None,
    }
    props.update(overrides)
    return props
