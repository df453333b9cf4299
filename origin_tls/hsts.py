"""Strict-Transport-Security: parsing (RFC 6797), preload eligibility (chromium/hstspreload), and the policy check.

Two readings of one header, because browsers and the preload list disagree:

* :func:`parse_hsts_header` reads it as a browser does (RFC 6797 §6.1, and Chromium's reading where the RFC leaves
  room): directive names are case-insensitive (§6.1 (3)), the ``max-age`` value may be a token or a quoted-string
  (§6.1), a header that breaks the grammar is invalid (§6.1 (4) and §8.1: the UA ignores it), and so is one that
  repeats ``max-age`` or ``includeSubDomains`` (§6.1 (2) "MUST appear only once"; Chromium refuses exactly those
  two). Any other directive is one the UA does not recognise and ignores (§6.1 (5)), repeated or not: ``preload``
  is not an RFC 6797 directive, so a repeated one is a warning, as hstspreload also says. A ``max-age`` past any
  integer a browser keeps is still valid (§6.1.1 sets no upper bound; browsers cap it).
* :func:`preload_problems` reads it as the preload list does (hstspreload ``ParseHeaderString`` + ``EligibleHeader``,
  policy ``Bulk1Year``): quotes and spaces around ``max-age`` are refused there, so a browser-valid header can still
  be ineligible.

Issue codes are hstspreload's (``reference/hsts-preload.md``). Where browsers are stricter than hstspreload the same
code is promoted from warning to error (a repeated ``max-age`` or ``includeSubDomains``, ``includeSubDomains`` with a
value); the few codes hstspreload has no name for are ``header.parse.invalid.syntax`` and
``header.parse.repeated.directive``, and the policy codes of :func:`judge_hsts` start with ``header.policy.``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .baseline import DEFAULT_HSTS_MAX_AGE, HstsPolicy

__all__ = [
    "MAX_AGE_CAP",
    "PRELOAD_MIN_MAX_AGE",
    "HstsHeader",
    "HstsVerdict",
    "is_preload_eligible",
    "judge_hsts",
    "parse_hsts_header",
    "preload_problems",
]

#: hstspreload ``Bulk1Year``: 86400 * 365 seconds.
PRELOAD_MIN_MAX_AGE = DEFAULT_HSTS_MAX_AGE
#: The largest max-age kept: hstspreload reads max-age with ``strconv.ParseUint(s, 10, 64)`` (header.go
#: ``parseMaxAge``), so a larger value is a parse error there; browsers take it and cap it (Chromium at one year).
MAX_AGE_CAP = 2**64 - 1
# Significant digits of MAX_AGE_CAP: a longer run of digits (leading zeros aside) is larger. Checked before int(),
# whose digit limit (sys.get_int_max_str_digits) a header of thousands of digits would hit.
_MAX_AGE_DIGITS = len(str(MAX_AGE_CAP))
_ASCII_DIGITS = frozenset("0123456789")
# RFC 7230 §3.2.6 tchar.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"
_OBSERVED_LIMIT = 200


@dataclass(frozen=True)
class HstsHeader:
    """One Strict-Transport-Security header value as a browser reads it.

    ``valid`` is false when a browser ignores the header (it breaks RFC 6797 §6.1's grammar, lacks max-age, or
    repeats max-age or includeSubDomains); ``errors`` then says why. ``warnings`` are things a browser tolerates.
    ``max_age`` is capped at :data:`MAX_AGE_CAP`. ``max_age_quoted`` records ``max-age="..."``: valid, but not
    preload-eligible.
    """

    raw: str
    valid: bool
    max_age: int | None
    include_subdomains: bool
    preload: bool
    max_age_quoted: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class HstsVerdict:
    """Whether the response's HSTS meets an :class:`HstsPolicy`. ``observed`` is short text for a report."""

    ok: bool
    observed: str
    problems: tuple[str, ...]


def _split_directives(value: str) -> tuple[list[str], bool]:
    """Split on ``;`` outside quoted-strings. Returns the pieces and whether every quote was closed."""
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for ch in value:
        if in_quotes:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == ";":
            pieces.append("".join(current))
            current = []
            continue
        current.append(ch)
    pieces.append("".join(current))
    return pieces, not in_quotes


def _unquote(text: str) -> str | None:
    """The content of an RFC 7230 quoted-string, or None if ``text`` is not exactly one."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    out: list[str] = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return None
        if ch == "\\":
            i += 1
            if i == len(body):
                return None
            ch = body[i]
        out.append(ch)
        i += 1
    return "".join(out)


def _is_token(text: str) -> bool:
    return bool(text) and all(ch in _TCHAR for ch in text)


def _read_delta_seconds(digits: str) -> tuple[int, bool] | None:
    """RFC 2616 §3.3.2 ``delta-seconds`` (1*DIGIT, ASCII digits only) -> (value capped at :data:`MAX_AGE_CAP`,
    whether it was capped); None when ``digits`` is not one. Linear in ``len(digits)`` and never raises."""
    if not digits or not _ASCII_DIGITS.issuperset(digits):
        return None
    significant = digits.lstrip("0")
    if len(significant) > _MAX_AGE_DIGITS:
        return MAX_AGE_CAP, True
    value = int(significant or "0")
    return (MAX_AGE_CAP, True) if value > MAX_AGE_CAP else (value, False)


def _add(issues: list[str], code: str) -> None:
    if code not in issues:
        issues.append(code)


# The directives whose repetition makes a browser (Chromium) refuse the header, and their codes.
_BROWSER_DIRECTIVES = {
    "max-age": "header.parse.repeated.max_age",
    "includesubdomains": "header.parse.repeated.include_sub_domains",
}
_REPEATED = {"preload": "header.parse.repeated.preload"}


def parse_hsts_header(value: str) -> HstsHeader:
    """Parse one header value as a browser does (RFC 6797 §6.1; module docstring). Never raises, linear in
    ``len(value)``; problems are reported in the result. ``max_age`` is capped at :data:`MAX_AGE_CAP`."""
    errors: list[str] = []
    warnings: list[str] = []
    max_age: int | None = None
    max_age_quoted = include_subdomains = preload = False
    seen: set[str] = set()

    pieces, quotes_closed = _split_directives(value)
    if not quotes_closed:
        _add(errors, "header.parse.invalid.syntax")
    if len(pieces) == 1 and not pieces[0].strip(_OWS):
        _add(warnings, "header.parse.empty")
        pieces = []

    for piece in pieces:
        directive = piece.strip(_OWS)
        if not directive:
            # Leading, trailing or doubled ";": RFC 6797 §6.1's grammar allows it ("[ directive ] *( ";" [ directive
            # ] )"); hstspreload warns.
            _add(warnings, "header.parse.empty_directive")
            continue
        name, has_equals, rest = directive.partition("=")
        space_before_equals = has_equals and name != name.rstrip(_OWS)
        # RFC 6797 §6.1 uses RFC 2616 implied *LWS: whitespace around "=" is allowed.
        name = name.rstrip(_OWS).lower()
        raw_value = rest.strip(_OWS)
        if not _is_token(name):
            _add(errors, "header.parse.invalid.syntax")
            continue
        if name in seen:
            # RFC 6797 §6.1 (2) "All directives MUST appear only once" binds the sender; a UA ignores directives it
            # does not recognise (§6.1 (5)). Chromium refuses the header for a repeated max-age or includeSubDomains
            # only; any other repeat is a warning (hstspreload's own code for preload).
            if name in _BROWSER_DIRECTIVES:
                _add(errors, _BROWSER_DIRECTIVES[name])
            else:
                _add(warnings, _REPEATED.get(name, "header.parse.repeated.directive"))
            continue
        seen.add(name)

        if name == "max-age":
            if not has_equals:
                _add(errors, "header.parse.invalid.max_age.no_value")
                continue
            quoted = _unquote(raw_value) if raw_value.startswith('"') else None
            digits = quoted if quoted is not None else raw_value
            if not digits:
                _add(
                    errors,
                    "header.parse.invalid.max_age.no_value"
                    if space_before_equals
                    else "header.parse.max_age.parse_int_error",
                )
            elif (read := _read_delta_seconds(digits)) is None:
                _add(errors, "header.parse.max_age.non_digit_characters")
            else:
                if len(digits) > 1 and digits.startswith("0"):
                    _add(warnings, "header.parse.max_age.leading_zero")
                max_age = read[0]
                max_age_quoted = quoted is not None
        elif name == "includesubdomains":
            if has_equals:
                # §6.1.2 defines it without a value; a value breaks the grammar (hstspreload only warns).
                _add(errors, "header.parse.invalid.include_sub_domains")
            else:
                include_subdomains = True
        elif name == "preload":
            # Not an RFC 6797 directive: browsers ignore it either way; only the preload list reads it.
            if has_equals:
                _add(warnings, "header.parse.invalid.preload")
            else:
                preload = True
        else:
            if has_equals and not (_is_token(raw_value) or _unquote(raw_value) is not None):
                _add(errors, "header.parse.invalid.syntax")
            else:
                _add(warnings, "header.parse.unknown_directive")

    if max_age is None and not any(code.startswith("header.parse.") and "max_age" in code for code in errors):
        # §6.1.1: max-age is REQUIRED.
        _add(errors, "header.preloadable.max_age.missing")
    return HstsHeader(
        raw=value,
        valid=not errors,
        max_age=max_age,
        include_subdomains=include_subdomains,
        preload=preload,
        max_age_quoted=max_age_quoted,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _hstspreload_parse_errors(value: str) -> list[str]:
    """The errors of hstspreload ``ParseHeaderString`` (header.go), which is stricter than browsers on max-age."""
    errors: list[str] = []
    for piece in value.split(";"):
        # Go's strings.TrimSpace trims all Unicode whitespace.
        directive = piece.strip().lower()
        if directive.startswith("max-age="):
            digits = directive[len("max-age=") :]
            if any(not "0" <= ch <= "9" for ch in digits):
                _add(errors, "header.parse.max_age.non_digit_characters")
            elif (read := _read_delta_seconds(digits)) is None or read[1]:
                # ParseUint(s, 10, 64): empty, or past 2^64 - 1.
                _add(errors, "header.parse.max_age.parse_int_error")
        elif directive.startswith("max-age"):
            _add(errors, "header.parse.invalid.max_age.no_value")
    return errors


def preload_problems(header: HstsHeader) -> tuple[str, ...]:
    """Why the preload list would refuse this header (empty when eligible).

    The header's own errors (a header browsers ignore is not preloadable), hstspreload's parse errors of
    ``header.raw`` (quoted or spaced max-age), then ``EligibleHeader`` with policy ``Bulk1Year``.
    """
    problems = list(header.errors)
    for code in _hstspreload_parse_errors(header.raw):
        _add(problems, code)
    if not header.include_subdomains:
        _add(problems, "header.preloadable.include_sub_domains.missing")
    if not header.preload:
        _add(problems, "header.preloadable.preload.missing")
    if header.max_age is None:
        _add(problems, "header.preloadable.max_age.missing")
    elif header.max_age == 0:
        _add(problems, "header.preloadable.max_age.zero")
    elif header.max_age < PRELOAD_MIN_MAX_AGE:
        _add(problems, "header.preloadable.max_age.below_1_year")
    return tuple(problems)


def is_preload_eligible(header: HstsHeader) -> bool:
    """True when :func:`preload_problems` finds nothing."""
    return not preload_problems(header)


def _observed(headers: Sequence[str]) -> str:
    if not headers:
        return "none"
    if len(headers) > 1:
        return f"{len(headers)} headers"
    text = " ".join(headers[0].split()) or "(empty)"
    return text if len(text) <= _OBSERVED_LIMIT else text[: _OBSERVED_LIMIT - 3] + "..."


def judge_hsts(headers: Sequence[str], policy: HstsPolicy) -> HstsVerdict:
    """Judge the Strict-Transport-Security values of one HTTPS response against ``policy``.

    Exactly one header is required (hstspreload ``response.go``; Cloudflare's ``security_header`` replaces the
    origin's, so two headers mean something else is adding one). It must be valid by RFC 6797, carry at least
    ``policy.max_age``, ``includeSubDomains`` when the policy asks, and when ``policy.preload`` the preload
    directive and preload eligibility.
    """
    observed = _observed(headers)
    if not headers:
        return HstsVerdict(ok=False, observed=observed, problems=("response.no_header",))
    if len(headers) > 1:
        return HstsVerdict(ok=False, observed=observed, problems=("response.multiple_headers",))
    header = parse_hsts_header(headers[0])
    # Every problem, not only the first: an invalid header is also judged on what it does say (an empty one under
    # a preload policy lacks max-age, includeSubDomains and preload, and the user fixes all three at once).
    problems = list(header.errors)
    if header.max_age is not None and header.max_age < policy.max_age:
        _add(problems, "header.policy.max_age.below_minimum")
    if policy.preload:
        # Preload eligibility includes includeSubDomains (header.preloadable.include_sub_domains.missing).
        for code in preload_problems(header):
            _add(problems, code)
    elif policy.include_subdomains and not header.include_subdomains:
        _add(problems, "header.policy.include_sub_domains.missing")
    return HstsVerdict(ok=not problems, observed=observed, problems=tuple(problems))
