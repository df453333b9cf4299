"""Hostile bytes from the Cloudflare API (issue 18, findings 4 and 5): each a minimal reproducer the fuzz targets
(tests/fuzz/test_fuzz_api_*.py) found or were written for, kept as a regular test with its twin."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from origin_tls.baseline import Baseline
from origin_tls.cloudflare import CloudflareClient, RateBudget
from origin_tls.cloudflare_limits import MAX_ANSWER_DEPTH, is_nested_deeper
from origin_tls.cloudflare_shapes import MAX_RETRY_AFTER, parse_expires_on, parse_retry_after
from origin_tls.errors import RateLimitedError, ResponseError
from origin_tls.report import Status
from origin_tls.zone import ZoneFacts, judge_zone
from tests.test_cloudflare import TOKEN, ZONE, FakeApi, FakeClock, envelope

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_for(clock: FakeClock) -> Iterator[Any]:
    made: list[CloudflareClient] = []

    def build(*answers: httpx.Response, **options: Any) -> CloudflareClient:
        api = FakeApi(list(answers))
        cf = CloudflareClient(
            TOKEN, transport=httpx.MockTransport(api), sleep=clock.sleep, rate_budget=RateBudget(clock=clock), **options
        )
        made.append(cf)
        return cf

    yield build
    for cf in made:
        cf.close()


def nested(depth: int, leaf: Any = "on") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"v": value}
    return value


# -- Finding 4: a zone setting nested hundreds of levels deep ----------------------------------------------------


def test_an_answer_nested_hundreds_deep_is_a_response_error_not_a_recursion_error(client_for: Any) -> None:
    # Given valid JSON whose setting value nests 500 levels (json.loads reads it; showing it recursed 500 times)
    body = json.dumps(envelope({"id": "security_header", "value": nested(500)})).encode()
    cf = client_for(httpx.Response(200, content=body))
    # When the client reads it, then it refuses it where it is parsed, saying why
    with pytest.raises(ResponseError, match=f"nests deeper than {MAX_ANSWER_DEPTH} levels"):
        cf.get_setting(ZONE, "security_header")


def test_an_answer_at_the_depth_bound_is_read(client_for: Any) -> None:
    # The twin: the envelope (1) and 'result' (2) leave MAX_ANSWER_DEPTH - 2 levels for the value
    value = nested(MAX_ANSWER_DEPTH - 2)
    cf = client_for(httpx.Response(200, content=json.dumps(envelope({"id": "security_header", "value": value}))))
    assert cf.get_setting(ZONE, "security_header") == value
    assert is_nested_deeper(nested(MAX_ANSWER_DEPTH), MAX_ANSWER_DEPTH) is False
    assert is_nested_deeper(nested(MAX_ANSWER_DEPTH + 1), MAX_ANSWER_DEPTH) is True


def test_a_deep_or_long_setting_value_is_shown_bounded() -> None:
    # Whatever reached the judge (a ZoneFacts built by hand, not through the client), showing it does not recurse
    # without bound and a report line stays a line.
    facts = ZoneFacts({"ssl": nested(900), "min_tls_version": ["x" * 10_000] * 50, "tls_1_3": "on"}, {})
    checks = {c.id: c for c in judge_zone(facts, Baseline(), "app.example.com")}
    assert checks["zone.ssl"].status is Status.FAIL
    assert len(checks["zone.ssl"].observed) <= 300
    assert len(checks["zone.min_tls_version"].observed) <= 300
    assert checks["zone.tls_1_3"].observed == "on"  # the twin: a plain value is shown as it is


# -- Finding 5: Retry-After --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",  # superscript two: isdigit() is true, int() and float() refuse it
        "\u0661\u0662",  # Arabic-Indic 12: float() would read it
        "\uff11\uff12",  # full-width 12
        "1_0",  # float() reads underscores
        "Fri, 31 Dec 9999 23:59:59 -2359",
        "Fri, 31 Dec 99999999999999999999 23:59:59 GMT",  # a year past datetime's range
        "Mon, 01 Jan 0001 00:00:00 +2400",
    ],
)
def test_an_unreadable_retry_after_is_none_not_an_exception(value: str) -> None:
    found = parse_retry_after(value, now=NOW)
    assert found is None or 0 <= found <= MAX_RETRY_AFTER


def test_retry_after_is_read_and_capped() -> None:
    # The twins: ASCII delay-seconds and an HTTP date are read; any length of digits is the longest wait
    assert parse_retry_after("7", now=NOW) == 7.0
    assert parse_retry_after("Mon, 07 Dec 2026 12:01:00 GMT", now=NOW) == 60.0
    assert parse_retry_after("9" * 5000, now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == MAX_RETRY_AFTER


@pytest.mark.parametrize("value", ["\u00b2", "Fri, 31 Dec 99999999999999999999 23:59:59 GMT"])
def test_a_429_with_a_hostile_retry_after_is_rate_limited_not_a_traceback(
    client_for: Any, clock: FakeClock, value: str
) -> None:
    body = json.dumps(envelope(..., success=False, errors=[{"code": 10429, "message": "slow"}]))
    answer = httpx.Response(429, content=body, headers=[(b"Retry-After", value.encode())])  # as UTF-8 bytes
    cf = client_for(answer, max_retries=1)
    with pytest.raises(RateLimitedError, match="HTTP 429"):
        cf.get_setting(ZONE, "ssl")
    assert clock.sleeps
    assert all(0 < s <= 30.0 for s in clock.sleeps)


def test_content_length_in_unicode_digits_is_not_a_size(client_for: Any) -> None:
    # "²" passes isdigit(); the bound on the answer's size must not crash on it (the body is still bounded as read)
    body = json.dumps(envelope({"id": "ssl", "value": "strict"})).encode()
    odd = httpx.Response(200, headers=[(b"Content-Length", "\u00b2".encode())], content=body)
    assert client_for(odd).get_setting(ZONE, "ssl") == "strict"
    # The twin: an ASCII length past the bound is refused unread, however many digits it has
    huge = httpx.Response(200, headers=[(b"Content-Length", b"9" * 5000)], content=body)
    with pytest.raises(ResponseError, match="larger than"):
        client_for(huge).get_setting(ZONE, "ssl")


def test_expires_on_in_non_ascii_digits_is_refused() -> None:
    with pytest.raises(ResponseError):
        parse_expires_on("\u0662\u0660\u0662\u0665-04-01T10:11:00Z")
    assert parse_expires_on("2025-04-01T10:11:00Z").year == 2025


# -- The sandbox's stand-in for the API reads its requests' numbers the same way -------------------------------


def test_the_sandbox_api_refuses_unicode_digits_in_paging_and_length() -> None:
    from origin_tls.sandbox import ApiServer, ZoneState

    zone = ZoneState(zone_id=ZONE, hostnames=["app.example.com"], account_token=TOKEN)
    with (
        ApiServer(zone) as api,
        httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http,
    ):
        refused = http.get("/certificates", params={"zone_id": ZONE, "per_page": "\u00b2"})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["message"] == "per_page must be a whole number from 1 to 1000"
        listed = http.get("/certificates", params={"zone_id": ZONE, "per_page": "2"})  # the twin
        assert listed.status_code == 200
        # httpx will not send a Content-Length of "²": the bytes go by hand
        url = httpx.URL(api.url)
        with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:
            sock.sendall(
                f"GET {url.path.rstrip('/')}/zones/{ZONE}/settings/ssl HTTP/1.1\r\nHost: {url.host}\r\n"
                f"Authorization: Bearer {TOKEN}\r\nConnection: close\r\n".encode()
                + b"Content-Length: \xc2\xb2\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200"), answer[:200]
