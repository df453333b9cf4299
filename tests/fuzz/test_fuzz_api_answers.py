"""Fuzz target: any answer the Cloudflare API (or what stands in its place) sends to the client.

Contract: every call of :class:`~origin_tls.cloudflare.CloudflareClient` ends in its result or a
:class:`~origin_tls.errors.CloudflareError`, whatever the status, headers (``Retry-After``, ``Content-Length``,
``Content-Encoding``) and body: any JSON, envelopes with wrong types, nesting of any depth, mutated and binary
bytes. Within the contract's CPU and memory bounds, and every wait the client asks for is capped.

Inputs are structure-aware: real envelopes (``success``/``errors``/``result`` of the right and wrong types)
and the results each call expects, then byte-level mutations of them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin_tls.cloudflare import CloudflareClient, RateBudget
from origin_tls.cloudflare_http import DEFAULT_MAX_BACKOFF
from origin_tls.errors import CloudflareError
from tests.fuzz.contract import holds
from tests.fuzz.grammar import http_dates, json_values, mutated, nested, number_texts
from tests.test_cloudflare import TOKEN, ZONE, FakeClock

_SETTINGS = ["ssl", "min_tls_version", "tls_1_3", "security_header", "always_use_https", "tls_client_auth"]

_errors = st.one_of(
    st.lists(
        st.fixed_dictionaries({"code": st.one_of(st.integers(), json_values), "message": json_values}), max_size=3
    ),
    json_values,
)
_results = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"id": st.one_of(st.sampled_from(_SETTINGS), json_values), "value": json_values},
        optional={"editable": st.booleans()},
    ),
    st.fixed_dictionaries({"enabled": st.one_of(st.booleans(), json_values)}),
    st.lists(st.fixed_dictionaries({"id": json_values, "status": json_values, "certificate": json_values}), max_size=3),
)
_envelopes = st.fixed_dictionaries(
    {},
    optional={
        "success": st.one_of(st.booleans(), json_values),
        "errors": _errors,
        "messages": json_values,
        "result": _results,
        "result_info": json_values,
    },
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["envelope", "deep", "mutated", "binary", "json"]))
    if kind == "binary":
        return draw(st.binary(max_size=256))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    envelope = draw(_envelopes)
    if kind == "deep":
        depth = draw(st.integers(min_value=0, max_value=3000))
        envelope = {"success": True, "result": {"id": "ssl", "value": nested("on", depth, as_list=draw(st.booleans()))}}
        return json.dumps(envelope).encode() if depth < 900 else _deep_text(envelope, depth)
    text = json.dumps(envelope).encode()
    return draw(mutated(text)) if kind == "mutated" else text


def _deep_text(envelope: dict[str, Any], depth: int) -> bytes:
    # json.dumps itself recurses: build text of any depth directly
    return b'{"success": true, "result": {"id": "ssl", "value": ' + b'{"v": ' * depth + b'"on"' + b"}" * depth + b"}}"


_headers = st.lists(
    st.one_of(
        st.tuples(st.just("Retry-After"), st.one_of(number_texts, http_dates)),
        st.tuples(st.just("Content-Length"), number_texts),
        st.tuples(st.just("Content-Encoding"), st.sampled_from(["identity", "gzip", "br", "", "IDENTITY ", "x"])),
        st.tuples(st.just("Location"), st.text(max_size=40)),
        st.tuples(st.just("Content-Type"), st.sampled_from(["application/json", "text/html", ""])),
    ),
    max_size=4,
)
_statuses = st.one_of(
    st.sampled_from([200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 429, 500, 503]), st.integers(100, 599)
)
_answers = st.tuples(_statuses, _headers, bodies())
_calls = st.sampled_from(
    [
        lambda cf: cf.get_setting(ZONE, "ssl"),
        lambda cf: cf.get_setting(ZONE, "security_header"),
        lambda cf: cf.get_zone_aop_enabled(ZONE),
        lambda cf: cf.list_zone_aop_certificates(ZONE),
        lambda cf: cf.get_hostname_aop(ZONE, "app.example.com"),
        lambda cf: cf.list_origin_certificates(ZONE),
        lambda cf: cf.edit_setting(ZONE, "ssl", "strict"),
    ]
)


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> httpx.Response:
    raw = [(name.encode(), value.encode("utf-8", "surrogateescape")) for name, value in headers]
    return httpx.Response(status, headers=raw, content=body)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answers=st.lists(_answers, min_size=1, max_size=3), call=_calls, retries=st.integers(0, 2))
def test_every_answer_is_a_result_or_a_cloudflare_error(answers: list[Any], call: Any, retries: int) -> None:
    queue = list(answers)

    def api(request: httpx.Request) -> httpx.Response:
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return _response(status, headers, body)

    clock = FakeClock()
    with CloudflareClient(
        TOKEN,
        transport=httpx.MockTransport(api),
        sleep=clock.sleep,
        rate_budget=RateBudget(clock=clock),
        max_retries=retries,
    ) as cf:
        outcome = holds(lambda: call(cf), allowed=(CloudflareError,))
    assert all(0 <= s <= DEFAULT_MAX_BACKOFF for s in clock.sleeps), clock.sleeps
    if isinstance(outcome, CloudflareError):
        assert TOKEN not in str(outcome)
        assert len(str(outcome)) < 2000  # a message, not the answer echoed back
