"""Fuzz target: the fields of API answers read one by one (``Retry-After``, ``expires_on``, ``errors``, paging).

Contracts, within the contract's CPU and memory bounds:

- :func:`~origin_tls.cloudflare_shapes.parse_retry_after` never raises and gives ``None`` or a wait from 0 to
  :data:`~origin_tls.cloudflare_shapes.MAX_RETRY_AFTER` (finding 5: ``²`` and dates past datetime's range raised);
  a number it reads was written in ASCII digits.
- :func:`~origin_tls.cloudflare_shapes.parse_expires_on` gives an aware datetime or raises ``ResponseError``.
- ``parse_api_errors``/``describe_api_errors`` and ``is_last_page`` never raise on any JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from origin_tls.cloudflare_shapes import (
    MAX_RETRY_AFTER,
    describe_api_errors,
    is_last_page,
    parse_api_errors,
    parse_expires_on,
    parse_retry_after,
)
from origin_tls.errors import ResponseError
from tests.fuzz.contract import holds
from tests.fuzz.grammar import digit_chars, http_dates, json_values, number_texts

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.timezone.utc)


@given(st.one_of(number_texts, http_dates, st.text(max_size=60)))
@example("\u00b2")
@example("Fri, 31 Dec 99999999999999999999 23:59:59 GMT")
def test_retry_after_is_none_or_a_bounded_wait(value: str) -> None:
    wait = holds(lambda: parse_retry_after(value, now=NOW))
    assert wait is None or (isinstance(wait, float) and 0 <= wait <= MAX_RETRY_AFTER), wait
    text = value.strip()
    if text.isdigit() and not text.isascii():
        assert wait is None  # digits that are not ASCII are no delay-seconds


_rfc3339 = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
    st.text(digit_chars, min_size=4, max_size=4),
    *[st.text(digit_chars, min_size=2, max_size=2) for _ in range(5)],
    st.one_of(st.just(""), st.text(digit_chars, min_size=1, max_size=30).map(lambda f: "." + f)),
    st.sampled_from(["Z", "z", "+00:00", "-23:59", "+24:00", "+99:99", ""]),
)


@given(st.one_of(_rfc3339, _rfc3339.map(lambda t: t.replace("T", " ")), st.text(max_size=40), json_values))
@example("\u0662\u0660\u0662\u0665-04-01T10:11:00Z")
@example("9999-12-31T23:59:59-23:59")
def test_expires_on_is_a_utc_datetime_or_a_response_error(value: Any) -> None:
    when = holds(lambda: parse_expires_on(value), allowed=(ResponseError,))
    if isinstance(when, dt.datetime):
        assert when.tzinfo is dt.timezone.utc
        assert value.isascii()  # only ASCII digits are read as a date


@given(json_values, st.integers(min_value=-5, max_value=10**6))
def test_errors_and_paging_never_raise(body: Any, page: int) -> None:
    errors = holds(lambda: parse_api_errors(body))
    assert isinstance(errors, tuple)
    said = holds(lambda: describe_api_errors(errors))  # type: ignore[arg-type]
    assert isinstance(said, str)
    assert len(said) <= 5 * 202
    assert holds(lambda: is_last_page(body, page)) in (True, False)
