"""The providers behind the SDK's own provider server, driven the way the Pulumi engine drives them.

Configure (before anything: the server configures a provider once, when it first builds it), then Check, Create,
Diff, Read, Update and Delete over gRPC against a sandbox zone:

- a clean zone gives no diff;
- drift made through the sandbox API shows in Check (the ``drift`` input), Diff, and Read (refresh), and makes
  Update fail with the report; restoring the zone makes Update pass again;
- the serialized provider and every output of state carry no token; private keys appear only in outputs listed
  as secret.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import grpc
import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime.proto import provider_pb2

from origin_tls.providers import keys, verification
from origin_tls.providers._common import TOKEN_ENV
from origin_tls.providers.keys import OriginKeyProvider
from origin_tls.providers.verification import HandshakeVerificationProvider
from origin_tls.providers.zone_setting import ZoneSettingPinProvider
from origin_tls.sandbox.runner import Sandbox
from tests.providers.conftest import verification_props
from tests.providers.engine import ProviderServer, secret, serialized_provider

VERIFY_URN = (
    "urn:pulumi:dev::origin-tls::origin-tls:index:OriginProtection"
    "$pulumi-python:dynamic/origin-tls:HandshakeVerification::web-verification"
)
PIN_URN = "urn:pulumi:dev::origin-tls::pulumi-python:dynamic/origin-tls:ZoneSettingPin::web-ssl-automatic-mode"
KEY_URN = "urn:pulumi:dev::origin-tls::pulumi-python:dynamic/origin-tls:OriginKey::web-origin-key"
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


def _env_without_token() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != TOKEN_ENV}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ProviderServer]:
    with ProviderServer(env=_env_without_token(), log_path=tmp_path / "provider.log") as srv:
        yield srv


def _configure(server: ProviderServer, sandbox: Sandbox) -> None:
    response = server.configure(
        {"cloudflare:apiToken": secret(sandbox.token), "cloudflare:baseUrl": sandbox.info.api_url}
    )
    assert response.acceptSecrets is False  # so the engine strips secrets before calling the provider


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _assert_state_is_clean(outs: dict[str, Any], token: str, secret_outputs: tuple[str, ...]) -> None:
    """No token anywhere in state; a private key only under an output the resource lists as secret."""
    assert not any(token in s for s in _strings(outs))
    provider = base64.b64decode(outs["__provider"])
    assert token.encode() not in provider
    holding_keys = {key for key, value in outs.items() if any("PRIVATE KEY" in s for s in _strings(value))}
    assert holding_keys <= set(secret_outputs), holding_keys - set(secret_outputs)


@pytest.mark.parametrize(
    "provider",
    [
        HandshakeVerificationProvider(),
        ZoneSettingPinProvider(),
        OriginKeyProvider(),
        keys.OriginPullCertificateProvider(),
    ],
    ids=type,
)
def test_serialized_providers_are_small_references_without_state(provider: Any) -> None:
    serialized = serialized_provider(provider)
    assert len(serialized) < 200
    raw = base64.b64decode(serialized)
    assert b"origin_tls.providers" in raw
    assert type(provider).__name__.encode() in raw


def test_a_configured_provider_still_pickles_without_its_token() -> None:
    """Twin: even an instance that went through configure() (never the case in a program) drops the token."""
    provider = HandshakeVerificationProvider()
    provider.configure(ConfigureRequest(Config({"cloudflare:apiToken": "tok-abcdef-123456"}, "origin-tls")))
    assert provider.optional_api_token() == "tok-abcdef-123456"
    assert b"tok-abcdef-123456" not in base64.b64decode(serialized_provider(provider))


def test_verification_lifecycle_clean_drift_restore(hardened: Sandbox, server: ProviderServer) -> None:
    # Given a configured server and the serialized provider as the program would store it
    _configure(server, hardened)
    provider = serialized_provider(HandshakeVerificationProvider())
    props = {**verification_props(hardened), "__provider": provider}

    # Create on a hardened zone: passes, state is clean.
    inputs, failures = server.check(VERIFY_URN, {}, props)
    assert failures == []
    assert inputs["drift"] == []
    assert inputs["__provider"] == provider
    id_, outs = server.create(VERIFY_URN, inputs)
    assert outs["ok"] is True
    _assert_state_is_clean(outs, hardened.token, verification.SECRET_OUTPUTS)

    # A preview on the clean zone: no diff.
    news, failures = server.check(VERIFY_URN, inputs, props)
    assert failures == []
    assert server.diff(id_, VERIFY_URN, outs, news).changes == DIFF_NONE

    # Drift through the API: Check names it, Diff is a change, Read reports it, Update fails with the report.
    with hardened.client() as client:
        client.edit_setting(hardened.zone_id, "ssl", "full")
    news, failures = server.check(VERIFY_URN, inputs, props)
    assert failures == []
    assert news["drift"] == ["app.sandbox.test zone.ssl: fail (expected strict, observed full)"]
    assert server.diff(id_, VERIFY_URN, outs, news).changes == DIFF_SOME
    read_id, refreshed = server.read(id_, VERIFY_URN, outs, inputs)
    assert read_id == id_
    assert refreshed["ok"] is False
    assert refreshed["drift"] == news["drift"]
    _assert_state_is_clean(refreshed, hardened.token, verification.SECRET_OUTPUTS)
    with pytest.raises(grpc.RpcError) as excinfo:
        server.update(id_, VERIFY_URN, outs, news)
    details = excinfo.value.details()
    assert "origin TLS verification failed" in details
    assert "app.sandbox.test: zone.ssl fail: expected strict, observed full" in details
    assert hardened.token not in details

    # Restore the zone: no drift, no diff, and the update passes again.
    with hardened.client() as client:
        client.edit_setting(hardened.zone_id, "ssl", "strict")
    news, failures = server.check(VERIFY_URN, inputs, props)
    assert news["drift"] == []
    assert server.diff(id_, VERIFY_URN, outs, news).changes == DIFF_NONE
    updated = server.update(id_, VERIFY_URN, outs, news)
    assert updated["ok"] is True
    _assert_state_is_clean(updated, hardened.token, verification.SECRET_OUTPUTS)
    server.delete(id_, VERIFY_URN, updated)


def test_strict_mode_fails_the_preview_on_drift(hardened: Sandbox, server: ProviderServer) -> None:
    _configure(server, hardened)
    props = {
        **verification_props(hardened, strict=True),
        "__provider": serialized_provider(HandshakeVerificationProvider()),
    }
    inputs, _ = server.check(VERIFY_URN, {}, props)
    _id, _outs = server.create(VERIFY_URN, inputs)
    assert server.check(VERIFY_URN, inputs, props)[1] == []
    with hardened.client() as client:
        client.edit_setting(hardened.zone_id, "min_tls_version", "1.0")
    _, failures = server.check(VERIFY_URN, inputs, props)
    assert [prop for prop, _reason in failures] == ["strict"]
    assert "zone.min_tls_version" in failures[0][1]


def test_a_new_provider_string_alone_is_no_change(hardened: Sandbox, server: ProviderServer) -> None:
    """Upgrading origin-tls changes ``__provider``; with the default diff that would update every resource."""
    _configure(server, hardened)
    old = {**verification_props(hardened), "__provider": serialized_provider(HandshakeVerificationProvider())}
    inputs, _ = server.check(VERIFY_URN, {}, old)
    id_, outs = server.create(VERIFY_URN, inputs)
    # The same class pickled differently (protocol 2) stands in for a new release's provider string.
    new_provider = base64.b64encode(dill.dumps(HandshakeVerificationProvider(), protocol=2)).decode()
    assert new_provider != old["__provider"]
    news, _ = server.check(VERIFY_URN, inputs, {**old, "__provider": new_provider})
    assert server.diff(id_, VERIFY_URN, outs, news).changes == DIFF_NONE
    changed, _ = server.check(VERIFY_URN, inputs, {**old, "hsts_max_age": 63072000.0})
    assert server.diff(id_, VERIFY_URN, outs, changed).changes == DIFF_SOME


def test_configure_after_first_use_is_never_seen(hardened: Sandbox, tmp_path: Path) -> None:
    """The server's cache trap: a provider built before the Configure RPC never gets config. Without a token in the
    environment the call fails naming where the token goes; with ``CLOUDFLARE_API_TOKEN`` it falls back to it."""
    props = {
        **verification_props(hardened, api_url=hardened.info.api_url),
        "__provider": serialized_provider(HandshakeVerificationProvider()),
    }
    with ProviderServer(env=_env_without_token(), log_path=tmp_path / "a.log") as server:
        server.check(VERIFY_URN, {}, props)  # builds and caches the provider, unconfigured
        _configure(server, hardened)
        with pytest.raises(grpc.RpcError) as excinfo:
            server.create(VERIFY_URN, props)
        assert "cloudflare:apiToken" in excinfo.value.details()
        assert TOKEN_ENV in excinfo.value.details()
    with ProviderServer(env={**_env_without_token(), TOKEN_ENV: hardened.token}, log_path=tmp_path / "b.log") as server:
        server.check(VERIFY_URN, {}, props)
        _id, outs = server.create(VERIFY_URN, props)
        assert outs["ok"] is True
        _assert_state_is_clean(outs, hardened.token, verification.SECRET_OUTPUTS)


def test_ssl_automatic_mode_pin_over_grpc(sandbox: Sandbox, server: ProviderServer) -> None:
    _configure(server, sandbox)
    props = {
        "zone_id": sandbox.zone_id,
        "setting_id": "ssl_automatic_mode",
        "value": "custom",
        "api_url": None,
        "__provider": serialized_provider(ZoneSettingPinProvider()),
    }
    inputs, failures = server.check(PIN_URN, {}, props)
    assert failures == []
    id_, outs = server.create(PIN_URN, inputs)
    assert outs["value"] == "custom"
    _assert_state_is_clean(outs, sandbox.token, ())
    assert server.diff(id_, PIN_URN, outs, inputs).changes == DIFF_NONE
    with sandbox.client() as client:
        client.edit_setting(sandbox.zone_id, "ssl_automatic_mode", "auto")
    _, refreshed = server.read(id_, PIN_URN, outs, inputs)
    assert refreshed["value"] == "auto"
    assert server.diff(id_, PIN_URN, refreshed, inputs).changes == DIFF_SOME
    assert server.update(id_, PIN_URN, refreshed, inputs)["value"] == "custom"
    server.delete(id_, PIN_URN, outs)


def test_origin_key_over_grpc_keeps_the_key_only_in_a_secret_output(server: ProviderServer, tmp_path: Path) -> None:
    token = "tok-not-configured-here"
    server.configure({"cloudflare:apiToken": secret(token)})
    props = {
        "key_type": "ecdsa-p256",
        "hostnames": ["app.example.com"],
        "rotation": "",
        "__provider": serialized_provider(OriginKeyProvider()),
    }
    inputs, failures = server.check(KEY_URN, {}, props)
    assert failures == []
    id_, outs = server.create(KEY_URN, inputs)
    assert "BEGIN PRIVATE KEY" in outs["private_key_pem"]
    assert "BEGIN CERTIFICATE REQUEST" in outs["csr_pem"]
    _assert_state_is_clean(outs, token, keys.KEY_SECRET_OUTPUTS)
    assert server.diff(id_, KEY_URN, outs, inputs).changes == DIFF_NONE
    rotated = server.diff(id_, KEY_URN, outs, {**inputs, "rotation": "2027"})
    assert rotated.changes == DIFF_SOME
    assert list(rotated.replaces) == ["rotation"]
    _, bad = server.check(KEY_URN, {}, {**props, "key_type": "dsa"})
    assert [prop for prop, _ in bad] == ["key_type"]


def test_state_check_catches_an_unlisted_private_key() -> None:
    """Twin of the secrecy assertion: a key under an output not listed as secret is caught."""
    outs = {"__provider": base64.b64encode(b"x").decode(), "csr_pem": "-----BEGIN PRIVATE KEY-----"}
    with pytest.raises(AssertionError):
        _assert_state_is_clean(outs, "tok", keys.KEY_SECRET_OUTPUTS)
    with pytest.raises(AssertionError):
        _assert_state_is_clean({"__provider": "", "note": "tok"}, "tok", ())
