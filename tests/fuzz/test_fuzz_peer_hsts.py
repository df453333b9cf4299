"""Fuzzing the Strict-Transport-Security reading (issue 18, finding 3 and the HSTS section): RFC 6797 directives
and beyond, repeated, cased oddly, valued or quoted, with max-age values of any size or script.

Contract: :func:`parse_hsts_header` and :func:`judge_hsts` never raise; ``valid`` is exactly "no errors"; a valid
header has a max-age in ``[0, MAX_AGE_CAP]``; only a repeated max-age or includeSubDomains is a repetition error;
preload eligibility implies validity; a passing verdict implies a valid header. Time and memory: a parse within
2 s of wall time and 256 KiB plus 16 times the header's length of allocation; 100 KB of header parse within 2 s of
wall time (generous: it is linear, milliseconds).
"""

from __future__ import annotations

import time

from hypothesis import given

from origin_tls.baseline import HstsPolicy
from origin_tls.hsts import MAX_AGE_CAP, is_preload_eligible, judge_hsts, parse_hsts_header

from .peer_strategies import bounded, budget, hsts_headers

POLICIES = (HstsPolicy(), HstsPolicy(preload=True), HstsPolicy(max_age=0, include_subdomains=False))
BROWSER_REPEATS = {"header.parse.repeated.max_age", "header.parse.repeated.include_sub_domains"}


@budget(400)
@given(hsts_headers())
def test_the_hsts_reading_keeps_its_contract(value: str) -> None:
    header = bounded(lambda: parse_hsts_header(value), seconds=2.0, peak_bytes=256 * 1024 + 16 * len(value))

    assert header.valid is (not header.errors)
    assert header.raw == value
    if header.valid:
        assert header.max_age is not None
        assert 0 <= header.max_age <= MAX_AGE_CAP
    assert not {code for code in header.errors if "repeated" in code} - BROWSER_REPEATS
    if is_preload_eligible(header):
        assert header.valid
        assert header.preload
        assert header.include_subdomains
    for policy in POLICIES:
        verdict = judge_hsts([value], policy)
        if verdict.ok:
            assert header.valid
        assert len(verdict.observed) <= 200


@budget(20)
@given(hsts_headers())
def test_a_long_header_is_read_in_linear_time(value: str) -> None:
    long = ";".join([value or "x"] * (100_000 // (len(value) + 1) + 1))[:100_000]
    started = time.monotonic()
    parse_hsts_header(long)
    judge_hsts([long], HstsPolicy(preload=True))
    assert time.monotonic() - started < 2.0
