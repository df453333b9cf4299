"""Strict-Transport-Security parsing (RFC 6797), preload eligibility (hstspreload) and the policy verdict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin_tls import hsts
from origin_tls.baseline import DEFAULT_HSTS_MAX_AGE, MAX_HSTS_MAX_AGE, HstsPolicy
from origin_tls.hsts import (
    HstsHeader,
    is_preload_eligible,
    judge_hsts,
    parse_hsts_header,
    preload_problems,
)

YEAR = DEFAULT_HSTS_MAX_AGE
PRELOADABLE = f"max-age={YEAR}; includeSubDomains; preload"
NON_DIGIT = "header.parse.max_age.non_digit_characters"


# value, valid, max_age, includeSubDomains, preload, quoted, errors, warnings
PARSE_CASES = [
    ("max-age=31536000", True, YEAR, False, False, False, (), ()),
    ("max-age=31536000; includeSubDomains", True, YEAR, True, False, False, (), ()),
    (PRELOADABLE, True, YEAR, True, True, False, (), ()),
    # RFC 6797 §6.1: directive names are case-insensitive.
    ("MAX-AGE=300; INCLUDESUBDOMAINS; PRELOAD", True, 300, True, True, False, (), ()),
    ("Max-Age=300;includesubdomains", True, 300, True, False, False, (), ()),
    # §6.1.1: a quoted-string value is valid for browsers.
    ('max-age="31536000"; includeSubDomains', True, YEAR, True, False, True, (), ()),
    # Implied LWS around "=".
    ("max-age = 300", True, 300, False, False, False, (), ()),
    ("max-age=0", True, 0, False, False, False, (), ()),
    # Empty directives are tolerated with a warning.
    (";max-age=300;;includeSubDomains;", True, 300, True, False, False, (), ("header.parse.empty_directive",)),
    (
        'max-age=300; report-uri="https://r.example/;x"',
        True,
        300,
        False,
        False,
        False,
        (),
        ("header.parse.unknown_directive",),
    ),
    ("max-age=300; foo", True, 300, False, False, False, (), ("header.parse.unknown_directive",)),
    ("max-age=0300", True, 300, False, False, False, (), ("header.parse.max_age.leading_zero",)),
    ("max-age=300; preload=yes", True, 300, False, False, False, (), ("header.parse.invalid.preload",)),
    # Failing twins.
    ("max-age=300; max-age=300", False, 300, False, False, False, ("header.parse.repeated.max_age",), ()),
    (
        "max-age=1; includeSubDomains; INCLUDESUBDOMAINS",
        False,
        1,
        True,
        False,
        False,
        ("header.parse.repeated.include_sub_domains",),
        (),
    ),
    # Only a repeated max-age or includeSubDomains makes browsers refuse the header (Chromium); any other repeat is a
    # directive the UA does not recognise (RFC 6797 §6.1 (5)): valid, with a warning (hstspreload's for preload).
    ("max-age=1; preload; preload", True, 1, False, True, False, (), ("header.parse.repeated.preload",)),
    (
        "max-age=1; foo; FOO=2",
        True,
        1,
        False,
        False,
        False,
        (),
        ("header.parse.unknown_directive", "header.parse.repeated.directive"),
    ),
    ("includeSubDomains", False, None, True, False, False, ("header.preloadable.max_age.missing",), ()),
    ("", False, None, False, False, False, ("header.preloadable.max_age.missing",), ("header.parse.empty",)),
    ("max-age=", False, None, False, False, False, ("header.parse.max_age.parse_int_error",), ()),
    ("max-age", False, None, False, False, False, ("header.parse.invalid.max_age.no_value",), ()),
    ("max-age =", False, None, False, False, False, ("header.parse.invalid.max_age.no_value",), ()),
    ("max-age=-1", False, None, False, False, False, ("header.parse.max_age.non_digit_characters",), ()),
    ("max-age=+300", False, None, False, False, False, ("header.parse.max_age.non_digit_characters",), ()),
    ("max-age=3e5", False, None, False, False, False, ("header.parse.max_age.non_digit_characters",), ()),
    ('max-age="abc"', False, None, False, False, False, ("header.parse.max_age.non_digit_characters",), ()),
    # No upper bound in RFC 6797 §6.1.1: valid, capped at 2^64 - 1 (browsers cap lower).
    ("max-age=99999999999999999999", True, hsts.MAX_AGE_CAP, False, False, False, (), ()),
    ("max-age=" + "9" * 5000, True, hsts.MAX_AGE_CAP, False, False, False, (), ()),
    (f"max-age={2**63}", True, 2**63, False, False, False, (), ()),
    ("max-age=" + "0" * 5000 + "300", True, 300, False, False, False, (), ("header.parse.max_age.leading_zero",)),
    # ...but digits are ASCII digits: a Unicode digit is not one (str.isdigit() says it is).
    (
        "max-age=" + "9" * 5000 + "x",
        False,
        None,
        False,
        False,
        False,
        ("header.parse.max_age.non_digit_characters",),
        (),
    ),
    ("max-age=\u00b2", False, None, False, False, False, ("header.parse.max_age.non_digit_characters",), ()),
    (
        "max-age=\u0663\u0660\u0660",
        False,
        None,
        False,
        False,
        False,
        ("header.parse.max_age.non_digit_characters",),
        (),
    ),
    (
        "max-age=300; includeSubDomains=yes",
        False,
        300,
        False,
        False,
        False,
        ("header.parse.invalid.include_sub_domains",),
        (),
    ),
    ('max-age=300; foo="unterminated', False, 300, False, False, False, ("header.parse.invalid.syntax",), ()),
    ("max-age=300; foo bar", False, 300, False, False, False, ("header.parse.invalid.syntax",), ()),
]


@pytest.mark.parametrize(
    ("value", "valid", "max_age", "include_subdomains", "preload", "quoted", "errors", "warnings"), PARSE_CASES
)
def test_parse_hsts_header(
    value: str,
    valid: bool,
    max_age: int | None,
    include_subdomains: bool,
    preload: bool,
    quoted: bool,
    errors: tuple[str, ...],
    warnings: tuple[str, ...],
) -> None:
    header = parse_hsts_header(value)
    assert header == HstsHeader(
        raw=value,
        valid=valid,
        max_age=max_age,
        include_subdomains=include_subdomains,
        preload=preload,
        max_age_quoted=quoted,
        errors=errors,
        warnings=warnings,
    )


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        (PRELOADABLE, ()),
        ("max-age=63072000; preload; includeSubDomains", ()),
        # Failing twins: each breaks one hstspreload Bulk1Year rule.
        (f"max-age={YEAR}; preload", ("header.preloadable.include_sub_domains.missing",)),
        (f"max-age={YEAR}; includeSubDomains", ("header.preloadable.preload.missing",)),
        (f"max-age={YEAR - 1}; includeSubDomains; preload", ("header.preloadable.max_age.below_1_year",)),
        ("max-age=0; includeSubDomains; preload", ("header.preloadable.max_age.zero",)),
        ("includeSubDomains; preload", ("header.preloadable.max_age.missing",)),
        # Valid for browsers, refused by the preload checker.
        (f'max-age="{YEAR}"; includeSubDomains; preload', ("header.parse.max_age.non_digit_characters",)),
        (f"max-age= {YEAR}; includeSubDomains; preload", ("header.parse.max_age.non_digit_characters",)),
        (f"max-age ={YEAR}; includeSubDomains; preload", ("header.parse.invalid.max_age.no_value",)),
        # A repeated preload: hstspreload warns, browsers ignore it: eligible. A repeated includeSubDomains is its
        # failing twin: browsers ignore such a header, so it is not preloadable (hstspreload itself only warns).
        (f"{PRELOADABLE}; preload", ()),
        (f"{PRELOADABLE}; includeSubDomains", ("header.parse.repeated.include_sub_domains",)),
        # hstspreload reads max-age with ParseUint(s, 10, 64): up to 2^64 - 1 it is a number (over ten years: a
        # warning only), past it a parse error.
        (f"max-age={2**63}; includeSubDomains; preload", ()),
        (f"max-age={2**64 - 1}; includeSubDomains; preload", ()),
        (f"max-age={2**64}; includeSubDomains; preload", ("header.parse.max_age.parse_int_error",)),
        ("max-age=" + "9" * 5000 + "; includeSubDomains; preload", ("header.parse.max_age.parse_int_error",)),
        ("max-age=" + "0" * 40 + f"{YEAR}; includeSubDomains; preload", ()),
    ],
)
def test_preload_problems(value: str, problems: tuple[str, ...]) -> None:
    header = parse_hsts_header(value)
    assert preload_problems(header) == problems
    assert is_preload_eligible(header) is (not problems)


def test_quoted_max_age_is_valid_but_not_preload_eligible() -> None:
    header = parse_hsts_header(f'max-age="{YEAR}"; includeSubDomains; preload')
    assert header.valid
    assert header.max_age_quoted
    assert not is_preload_eligible(header)
    assert not parse_hsts_header(PRELOADABLE).max_age_quoted


DEFAULT = HstsPolicy()
PRELOAD_POLICY = HstsPolicy(preload=True)


@pytest.mark.parametrize(
    ("headers", "policy", "ok", "observed", "problems"),
    [
        ([f"max-age={YEAR}; includeSubDomains"], DEFAULT, True, f"max-age={YEAR}; includeSubDomains", ()),
        ([f"max-age={2 * YEAR}; includeSubDomains; preload"], DEFAULT, True, None, ()),
        ([f'max-age="{YEAR}"; includeSubDomains'], DEFAULT, True, None, ()),
        ([PRELOADABLE], PRELOAD_POLICY, True, PRELOADABLE, ()),
        (["max-age=300"], HstsPolicy(max_age=300, include_subdomains=False), True, "max-age=300", ()),
        # Failing twins.
        ([], DEFAULT, False, "none", ("response.no_header",)),
        ([f"max-age={YEAR}; includeSubDomains"] * 2, DEFAULT, False, "2 headers", ("response.multiple_headers",)),
        (
            ["max-age=300; includeSubDomains"],
            DEFAULT,
            False,
            "max-age=300; includeSubDomains",
            ("header.policy.max_age.below_minimum",),
        ),
        ([f"max-age={YEAR}"], DEFAULT, False, None, ("header.policy.include_sub_domains.missing",)),
        (
            ["max-age=0"],
            HstsPolicy(max_age=300, include_subdomains=False),
            False,
            None,
            ("header.policy.max_age.below_minimum",),
        ),
        ([f"max-age={YEAR}; includeSubDomains"], PRELOAD_POLICY, False, None, ("header.preloadable.preload.missing",)),
        (
            [f'max-age="{YEAR}"; includeSubDomains; preload'],
            PRELOAD_POLICY,
            False,
            None,
            ("header.parse.max_age.non_digit_characters",),
        ),
        (
            [f"max-age={YEAR}; max-age={YEAR}; includeSubDomains"],
            DEFAULT,
            False,
            None,
            ("header.parse.repeated.max_age",),
        ),
        (["includeSubDomains"], DEFAULT, False, "includeSubDomains", ("header.preloadable.max_age.missing",)),
        (
            [""],
            DEFAULT,
            False,
            "(empty)",
            ("header.preloadable.max_age.missing", "header.policy.include_sub_domains.missing"),
        ),
        # Several problems are all named, not only the first.
        (
            [""],
            PRELOAD_POLICY,
            False,
            "(empty)",
            (
                "header.preloadable.max_age.missing",
                "header.preloadable.include_sub_domains.missing",
                "header.preloadable.preload.missing",
            ),
        ),
        (
            ["max-age=300; max-age=300"],
            DEFAULT,
            False,
            None,
            (
                "header.parse.repeated.max_age",
                "header.policy.max_age.below_minimum",
                "header.policy.include_sub_domains.missing",
            ),
        ),
        # A repeated preload under a preload policy passes; its twin, a repeated includeSubDomains, does not.
        ([f"{PRELOADABLE}; preload"], PRELOAD_POLICY, True, None, ()),
        (
            [f"{PRELOADABLE}; includeSubDomains"],
            PRELOAD_POLICY,
            False,
            None,
            ("header.parse.repeated.include_sub_domains",),
        ),
        # A huge max-age meets any minimum; an eligible one up to 2^64 - 1, an ineligible one past it.
        ([f"max-age={2**63}; includeSubDomains; preload"], PRELOAD_POLICY, True, None, ()),
        (
            [f"max-age={2**64}; includeSubDomains; preload"],
            PRELOAD_POLICY,
            False,
            None,
            ("header.parse.max_age.parse_int_error",),
        ),
        (["max-age=" + "9" * 5000 + "; includeSubDomains"], DEFAULT, True, None, ()),
    ],
)
def test_judge_hsts(
    headers: list[str], policy: HstsPolicy, ok: bool, observed: str | None, problems: tuple[str, ...]
) -> None:
    verdict = judge_hsts(headers, policy)
    assert verdict.ok is ok
    assert verdict.problems == problems
    if observed is not None:
        assert verdict.observed == observed


def test_observed_is_short() -> None:
    verdict = judge_hsts(["max-age=1; " + "x" * 1000], HstsPolicy(max_age=1, include_subdomains=False))
    assert len(verdict.observed) <= 200
    assert verdict.ok


@st.composite
def policies(draw: st.DrawFn) -> HstsPolicy:
    preload = draw(st.booleans())
    if preload:
        return HstsPolicy(max_age=draw(st.integers(YEAR, MAX_HSTS_MAX_AGE)), include_subdomains=True, preload=True)
    return HstsPolicy(max_age=draw(st.integers(0, MAX_HSTS_MAX_AGE)), include_subdomains=draw(st.booleans()))


@given(policies())
def test_policy_header_value_round_trips(policy: HstsPolicy) -> None:
    header = parse_hsts_header(policy.header_value())
    assert header.valid
    assert (header.errors, header.warnings) == ((), ())
    assert (header.max_age, header.include_subdomains, header.preload) == (
        policy.max_age,
        policy.include_subdomains,
        policy.preload,
    )
    assert judge_hsts([policy.header_value()], policy).ok
    assert is_preload_eligible(header) is policy.preload


@given(policies())
def test_a_weaker_header_fails_the_policy(policy: HstsPolicy) -> None:
    # The failing twin of the round trip: one second less than the policy asks is never enough.
    if policy.max_age == 0:
        return
    weaker = HstsPolicy(max_age=policy.max_age - 1, include_subdomains=policy.include_subdomains)
    verdict = judge_hsts([weaker.header_value()], policy)
    assert not verdict.ok
    assert "header.policy.max_age.below_minimum" in verdict.problems


@given(st.text(max_size=80))
def test_parse_never_raises(value: str) -> None:
    header = parse_hsts_header(value)
    assert header.valid is (not header.errors)
    assert header.raw == value
    if header.valid:
        assert header.max_age is not None


def test_all_is_honest() -> None:
    assert all(hasattr(hsts, name) for name in hsts.__all__)
    assert len(set(hsts.__all__)) == len(hsts.__all__)
