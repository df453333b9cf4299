"""Fuzz target: zone settings and AOP records as the API returns them, read and judged as ``verify`` does.

Contract: :func:`~origin_tls.zone.read_zone_fact` returns a value or raises a
:class:`~origin_tls.errors.CloudflareError` (which ``verify`` records as the read's failure); the judges
(:func:`~origin_tls.zone.judge_zone`, :func:`~origin_tls.zone.judge_zone_aop_certificate`) never raise, whatever
the values, and what they show is a bounded line. Within the contract's CPU and memory bounds.

Inputs: for each fact the zone checks need, a result of the shape the API documents (``{"id", "value"}``,
``{"enabled"}``, certificate records) with values of any type and nesting, including values nested hundreds deep
(finding 4: valid JSON that raised RecursionError while shown).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin_tls.baseline import AopMode, Baseline
from origin_tls.cloudflare import CloudflareClient, RateBudget
from origin_tls.errors import CloudflareError
from origin_tls.zone import ZoneFacts, judge_zone, judge_zone_aop_certificate, read_zone_fact, zone_fact_keys
from tests.fuzz.contract import holds
from tests.fuzz.grammar import json_values, nested
from tests.test_cloudflare import TOKEN, ZONE, FakeClock

HOSTNAME = "app.example.com"
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)


def _client_pem() -> str:
    import trustme

    return trustme.CA().issue_cert(HOSTNAME).cert_chain_pems[0].bytes().decode()


CLIENT_PEM = _client_pem()

_timestamps = st.one_of(
    st.sampled_from(["2030-01-01T00:00:00Z", "2025-04-01 10:11:00 +0000 UTC", "9999-12-31T23:59:59-23:59", ""]),
    st.text(max_size=30),
    json_values,
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "cert_id": json_values,
        "status": st.one_of(st.sampled_from(["active", "pending_deployment", "deleted"]), json_values),
        "cert_status": json_values,
        "enabled": st.one_of(st.booleans(), json_values),
        "certificate": st.one_of(st.just(CLIENT_PEM), st.text(max_size=60), json_values),
        "expires_on": _timestamps,
        "uploaded_on": _timestamps,
        "hostname": st.one_of(st.just(HOSTNAME), json_values),
    },
)
_hsts = st.fixed_dictionaries(
    {},
    optional={
        "strict_transport_security": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    k: st.one_of(st.booleans(), st.integers(), st.floats(), json_values)
                    for k in ("enabled", "max_age", "include_subdomains", "preload", "nosniff")
                },
            ),
            json_values,
        )
    },
)


@st.composite
def setting_values(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["plain", "hsts", "deep"]))
    if kind == "deep":
        return nested(draw(json_values), draw(st.integers(min_value=0, max_value=600)), as_list=draw(st.booleans()))
    if kind == "hsts":
        return draw(_hsts)
    return draw(st.one_of(st.sampled_from(["on", "off", "strict", "full", "1.2", "1.3", "zrt", "custom"]), json_values))


@st.composite
def results(draw: st.DrawFn, key: str) -> Any:
    """What the API's ``result`` holds for fact ``key`` (often the documented shape, sometimes anything)."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(json_values)
    if key == "origin_tls_client_auth/settings":
        return {"enabled": draw(st.one_of(st.booleans(), json_values))}
    if key == "origin_tls_client_auth":
        return draw(st.lists(_records, max_size=3))
    if key.startswith("origin_tls_client_auth/hostnames/"):
        return draw(_records)
    setting = key if draw(st.integers(min_value=0, max_value=9)) else draw(st.text(max_size=8))
    return {"id": setting, "value": draw(setting_values())}


_baselines = st.builds(
    Baseline,
    aop=st.sampled_from([None, AopMode.GLOBAL, AopMode.ZONE, AopMode.HOSTNAME, AopMode.OFF]),
)


def _api(answers: dict[str, Any]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split(f"/zones/{ZONE}/", 1)[-1].removeprefix("settings/")
        if path not in answers:
            return httpx.Response(404, json={"success": False, "errors": [], "messages": [], "result": None})
        body = json.dumps({"success": True, "errors": [], "messages": [], "result": answers[path]}, allow_nan=True)
        return httpx.Response(200, content=body.encode())

    return httpx.MockTransport(answer)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(baseline=_baselines, data=st.data())
def test_settings_are_read_or_refused_and_always_judged(baseline: Baseline, data: st.DataObject) -> None:
    keys = zone_fact_keys(baseline, [HOSTNAME], aop_certificate=True)
    answers = {key: data.draw(results(key), label=key) for key in keys}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    clock = FakeClock()
    with CloudflareClient(
        TOKEN, transport=_api(answers), sleep=clock.sleep, rate_budget=RateBudget(clock=clock), max_retries=0
    ) as cf:
        for key in keys:
            # The read's own bounds are test_fuzz_api_answers' contract; here: a value or a CloudflareError.
            try:
                values[key] = read_zone_fact(cf, ZONE, key)
            except CloudflareError as exc:
                errors[key] = str(exc)
    facts = ZoneFacts(values, errors)
    checks = holds(lambda: judge_zone(facts, baseline, HOSTNAME))
    certificate = holds(
        lambda: judge_zone_aop_certificate(facts, baseline, HOSTNAME, client_cert_pem=CLIENT_PEM, now=NOW)
    )
    for check in [*checks, certificate]:  # type: ignore[misc]
        assert len(check.observed) <= 1000, check
        assert len(check.detail) <= 2000, check


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    baseline=_baselines,
    values=st.dictionaries(
        st.sampled_from(list(zone_fact_keys(Baseline(), [HOSTNAME], aop_certificate=True))), setting_values()
    ),
)
def test_judges_never_raise_on_values_however_they_came(baseline: Baseline, values: dict[str, Any]) -> None:
    # Values that did not come through the client (a ZoneFacts built by another caller): the judges still hold.
    facts = ZoneFacts(values, {})
    for check in holds(lambda: judge_zone(facts, baseline, HOSTNAME)):  # type: ignore[union-attr]
        assert len(check.observed) <= 1000, check
