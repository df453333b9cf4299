"""``HandshakeVerificationProvider`` called directly, against a running sandbox zone (API, edge, nginx origin).

Each "passes" case has a twin on a drifted or unhardened zone that must fail, naming the check ids.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.output import Unknown

from origin_tls.harden import harden_zone
from origin_tls.providers import verification
from origin_tls.providers._common import TOKEN_ENV, MissingCredentials
from origin_tls.providers.verification import HandshakeVerificationProvider, VerificationFailed
from origin_tls.sandbox.runner import Sandbox
from tests.providers.conftest import BASELINE, configured, verification_props


def _provider(sandbox: Sandbox) -> HandshakeVerificationProvider:
    provider: HandshakeVerificationProvider = configured(HandshakeVerificationProvider(), sandbox)
    return provider


def _drift(sandbox: Sandbox, setting: str = "ssl", value: Any = "full") -> None:
    with sandbox.client() as client:
        client.edit_setting(sandbox.zone_id, setting, value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


# -- create / update -------------------------------------------------------------------------------------------


def test_create_on_a_hardened_zone_records_the_passing_report(hardened: Sandbox) -> None:
    result = _provider(hardened).create(verification_props(hardened))
    outs = result.outs
    assert outs["ok"] is True
    assert outs["drift"] == []
    assert outs["report"]["ok"] is True
    statuses = {c["id"]: c["status"] for c in outs["report"]["targets"][0]["checks"]}
    assert statuses["zone.ssl"] == "pass"
    assert statuses["origin.aop"] == "pass"
    assert statuses["origin.aop_client"] == "pass"
    # Inputs are echoed (read and diff only get old outputs); the token is nowhere.
    assert outs["zone_id"] == hardened.zone_id
    assert outs["hsts_max_age"] == 31536000
    assert isinstance(outs["hsts_max_age"], int)
    assert not any(hardened.token in s for s in _strings(outs))
    assert "client_key_pem" in verification.SECRET_OUTPUTS


def test_create_on_an_unhardened_zone_fails_with_every_finding(sandbox: Sandbox) -> None:
    with pytest.raises(VerificationFailed) as excinfo:
        _provider(sandbox).create(verification_props(sandbox))
    message = str(excinfo.value)
    for check_id in ("zone.ssl", "zone.ssl_automatic_mode", "zone.min_tls_version", "zone.security_header"):
        assert f"app.sandbox.test: {check_id} fail" in message
    assert excinfo.value.report.summary() in message
    assert "pulumi up --refresh" in message
    assert sandbox.token not in message


def test_update_fails_on_drift_and_passes_once_restored(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    props = verification_props(hardened)
    olds = provider.create(props).outs
    _drift(hardened, "min_tls_version", "1.0")
    with pytest.raises(VerificationFailed, match=r"zone\.min_tls_version fail"):
        provider.update("id", olds, props)
    _drift(hardened, "min_tls_version", "1.2")
    assert provider.update("id", olds, props).outs["ok"] is True


def test_create_waits_for_settings_to_settle(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings applied while ``create`` is retrying: it passes within ``settle_seconds``."""
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)

    def harden_later() -> None:
        with sandbox.client() as client:
            harden_zone(client, sandbox.zone_id, BASELINE)

    timer = threading.Timer(0.5, harden_later)
    timer.start()
    try:
        outs = _provider(sandbox).create(verification_props(sandbox, settle_seconds=30.0)).outs
    finally:
        timer.cancel()
        timer.join()
    assert outs["ok"] is True


def test_create_does_not_wait_beyond_the_settle_time(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an observation that fails (a real one, then replayed instantly: under load a real observation can take
    # the whole settle window by itself, and the property is about the retry loop, not the probes' speed)
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)
    provider = _provider(sandbox)
    props = verification_props(sandbox, settle_seconds=1.0)
    failing = provider.observe(verification.parse_verification_inputs(props))
    assert not failing.ok
    calls: list[float] = []

    def replay(spec: Any) -> Any:
        calls.append(time.monotonic())
        return failing

    monkeypatch.setattr(provider, "observe", replay)
    # When create settles
    started = time.monotonic()
    with pytest.raises(VerificationFailed, match=r"after waiting up to 1s"):
        provider.create(props)
    # Then it retried within the window (more than once, every RETRY_INTERVAL) and stopped at its end
    assert 2 <= len(calls) <= 10
    assert calls[-1] - started < 1.0 + 0.2 + 0.5  # the last try starts within the window (+ one interval, + slack)


# -- check -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "refused"),
    [("http://api.example.com/client/v4", True), ("ftp://127.0.0.1/", True), ("http://127.0.0.1:9/client/v4", False)],
)
def test_check_refuses_an_api_url_that_would_send_the_token_in_clear(
    sandbox: Sandbox, api_url: str, refused: bool
) -> None:
    result = _provider(sandbox).check({}, verification_props(sandbox, api_url=api_url))
    assert [f.property for f in result.failures] == (["api_url"] if refused else [])


def test_check_reports_one_failure_per_bad_field(sandbox: Sandbox) -> None:
    bad = verification_props(
        sandbox, min_tls="0.9", hostnames=[], timeout=-1.0, aop="sometimes", origin="host:0", strict="yes"
    )
    result = _provider(sandbox).check({}, bad)
    assert {f.property for f in result.failures} == {"min_tls", "hostnames", "timeout", "aop", "origin", "strict"}
    assert all("must be" in f.reason for f in result.failures)


def test_check_accepts_good_inputs_and_skips_unknown_ones(sandbox: Sandbox) -> None:
    provider = _provider(sandbox)
    assert provider.check({}, verification_props(sandbox)).failures == []
    # Preview: values only known after deployment are not validated (nor observed).
    unknown = verification_props(sandbox, origin_cert_pem=Unknown(), zone_id=Unknown())
    result = provider.check(verification_props(sandbox), unknown)
    assert result.failures == []
    assert result.inputs["drift"] == []


def test_check_records_drift_of_an_existing_resource(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    props = verification_props(hardened)
    assert provider.check(props, props).inputs["drift"] == []
    _drift(hardened)
    drift = provider.check(props, props).inputs["drift"]
    assert drift == ["app.sandbox.test zone.ssl: fail (expected strict, observed full)"]


def test_strict_check_fails_the_preview_on_drift(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    props = verification_props(hardened, strict=True)
    assert provider.check(props, props).failures == []
    _drift(hardened)
    failures = provider.check(props, props).failures
    assert [f.property for f in failures] == ["strict"]
    assert "zone.ssl" in failures[0].reason


def test_strict_check_does_not_block_creation_or_a_changed_baseline(sandbox: Sandbox) -> None:
    """A fresh zone is not drift (nothing was deployed yet), and neither is a baseline that is being changed."""
    provider = _provider(sandbox)
    props = verification_props(sandbox, strict=True)
    assert provider.check({}, props).failures == []
    changed = verification_props(sandbox, strict=True, min_tls="1.3")
    assert provider.check(props, changed).failures == []


def test_check_without_a_token_names_where_to_put_it(hardened: Sandbox) -> None:
    provider = HandshakeVerificationProvider()
    provider.configure(ConfigureRequest(Config({}, "origin-tls")))
    props = verification_props(hardened, api_url=hardened.info.api_url)
    failures = provider.check(props, props).failures
    assert [f.property for f in failures] == ["zone_id"]
    assert "cloudflare:apiToken" in failures[0].reason
    assert TOKEN_ENV in failures[0].reason


# -- diff ------------------------------------------------------------------------------------------------------


def test_diff_is_empty_on_a_clean_zone_and_ignores_the_provider(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    props = verification_props(hardened)
    olds = {**provider.create(props).outs, "__provider": "old"}
    news = {**provider.check(props, props).inputs, "__provider": "new"}
    result = provider.diff("id", olds, news)
    assert result.changes is False
    assert result.replaces == []


def test_diff_shows_drift_and_input_changes(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    props = verification_props(hardened)
    olds = provider.create(props).outs
    assert provider.diff("id", olds, verification_props(hardened, hsts_preload=True)).changes is True
    _drift(hardened)
    # Through check (what the engine does) ...
    assert provider.diff("id", olds, provider.check(props, props).inputs).changes is True
    # ... and without it: diff observes by itself.
    assert provider.diff("id", olds, props).changes is True
    _drift(hardened, "ssl", "strict")
    assert provider.diff("id", olds, props).changes is False


def test_diff_re_verifies_after_a_refresh_recorded_a_failure(hardened: Sandbox) -> None:
    """A refresh stored ``ok: false``; once the zone is fixed the next up must record the passing report again."""
    provider = _provider(hardened)
    props = verification_props(hardened)
    olds = provider.create(props).outs
    news = provider.check(props, props).inputs
    assert provider.diff("id", olds, news).changes is False
    _drift(hardened)
    refreshed = provider.read("id", olds).outs
    _drift(hardened, "ssl", "strict")
    news = provider.check(props, props).inputs
    assert news["drift"] == []
    assert provider.diff("id", refreshed, news).changes is True
    assert provider.update("id", refreshed, news).outs["ok"] is True


# -- read ------------------------------------------------------------------------------------------------------


def test_read_re_observes(hardened: Sandbox) -> None:
    provider = _provider(hardened)
    olds = provider.create(verification_props(hardened)).outs
    clean = provider.read("id", olds)
    assert clean.id == "id"
    assert clean.outs["ok"] is True
    _drift(hardened, "always_use_https", "off")
    drifted = provider.read("id", olds)
    assert drifted.outs["ok"] is False
    assert any("edge.https_redirect" in d or "zone.always_use_https" in d for d in drifted.outs["drift"])
    assert drifted.outs["zone_id"] == hardened.zone_id


# -- credentials -----------------------------------------------------------------------------------------------


def test_unconfigured_provider_falls_back_to_the_environment(
    hardened: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider server may build an instance before the Configure RPC arrives: the env token still works."""
    provider = HandshakeVerificationProvider()
    props = verification_props(hardened, api_url=hardened.info.api_url)
    with pytest.raises(MissingCredentials, match="cloudflare:apiToken"):
        provider.create(props)
    monkeypatch.setenv(TOKEN_ENV, hardened.token)
    assert provider.create(props).outs["ok"] is True


def test_a_verification_without_zone_id_needs_no_token(hardened: Sandbox) -> None:
    provider = HandshakeVerificationProvider()
    outs = provider.create(verification_props(hardened, zone_id=None)).outs
    statuses = {c["id"]: c["status"] for c in outs["report"]["targets"][0]["checks"]}
    assert statuses["zone.ssl"] == "skipped"
    assert statuses["edge.hsts"] == "pass"


# -- threads ---------------------------------------------------------------------------------------------------


def test_one_instance_serves_concurrent_calls(hardened: Sandbox) -> None:
    """The provider server shares one instance between 4 worker threads: calls must not see each other's state."""
    provider = _provider(hardened)
    clean = verification_props(hardened)
    drifted_floor = verification_props(hardened, min_tls="1.3")  # the zone's floor is 1.2: this one must fail
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: provider.read("id", p).outs, [clean, drifted_floor] * 4))
    assert [r["ok"] for r in results] == [True, False] * 4
    assert all(r["min_tls"] == ("1.2" if r["ok"] else "1.3") for r in results)


# -- require_pq (post_quantum = "required") ---------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [(True, True), (False, False), (None, False)])
def test_require_pq_reaches_the_baseline(given: bool | None, expected: bool) -> None:
    props = {"hostnames": ["app.example.com"], "require_pq": given}
    assert verification.parse_verification_inputs(props).baseline.require_pq is expected


def test_require_pq_must_be_a_boolean() -> None:
    failures = HandshakeVerificationProvider().check({}, {"hostnames": ["app.example.com"], "require_pq": "yes"})
    assert [failure.property for failure in failures.failures] == ["require_pq"]


def test_state_from_before_require_pq_is_not_a_change() -> None:
    # Outputs written before the field existed lack it (or echo None): the same inputs as require_pq = False.
    olds = {"hostnames": ["app.example.com"], "ok": True, "drift": []}
    news = {"hostnames": ["app.example.com"], "require_pq": False, "drift": []}
    provider = HandshakeVerificationProvider()
    assert provider.diff("id", olds, news).changes is False
    assert provider.diff("id", olds, {**news, "require_pq": True}).changes is True
