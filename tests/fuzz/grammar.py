"""Structure-aware strategies shared by the API and file fuzz targets: numbers as people and peers write them
(ASCII, Unicode digits, huge, signed, with underscores), HTTP dates with hostile fields, JSON of any depth, and
byte-level mutations of well-formed input (the way a coverage-guided fuzzer explores near valid input)."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "digit_chars",
    "http_dates",
    "json_values",
    "mutated",
    "nested",
    "number_texts",
]

#: Characters that are digits to Python (isdigit, int, float, \d) but not ASCII, and ASCII look-alikes.
UNICODE_DIGITS = "\u00b2\u00b3\u00b9\u0660\u0661\u0669\u06f1\u0967\u09e7\uff10\uff11\uff19\u2460\u2070\U0001d7cf"
digit_chars = st.sampled_from(string.digits + UNICODE_DIGITS)

number_texts: st.SearchStrategy[str] = st.one_of(
    st.integers(min_value=0, max_value=2**70).map(str),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.text(digit_chars, min_size=1, max_size=12),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),  # past int()'s 4,300-digit limit
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1_0", "0x10", "1e400", "-0", "+1", "1.", ".5", "nan", "inf", "\t7\n", "07", "1 2"]),
    st.text(string.digits + "._-+eE ", max_size=12),
)

_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz", ""]
_MONTHS = ["Jan", "Feb", "Mar", "Dec", "Foo", ""]
_ZONES = ["GMT", "UTC", "+0000", "-2359", "+2400", "+9999", "-0000", "EST", "Z", ""]

http_dates: st.SearchStrategy[str] = st.builds(
    lambda day, date, month, year, hh, mm, ss, zone: f"{day}, {date} {month} {year} {hh}:{mm}:{ss} {zone}".strip(),
    st.sampled_from(_DAYS),
    number_texts,
    st.sampled_from(_MONTHS),
    st.one_of(st.integers(min_value=0, max_value=10**25).map(str), number_texts),
    number_texts,
    number_texts,
    number_texts,
    st.sampled_from(_ZONES),
)

#: Words the API's answers use, so that generated objects often have the keys and values the client looks for.
_WORDS = [
    "id",
    "value",
    "enabled",
    "status",
    "result",
    "success",
    "errors",
    "code",
    "message",
    "certificate",
    "expires_on",
    "uploaded_on",
    "on",
    "off",
    "strict",
    "1.2",
    "active",
    "strict_transport_security",
    "max_age",
    "include_subdomains",
    "preload",
    "hostname",
    "cert_id",
    "cert_status",
    "total_pages",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_WORDS),
    st.text(max_size=16),
)
_keys = st.one_of(st.sampled_from(_WORDS), st.text(max_size=8))
json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=10,
)


def nested(value: Any, depth: int, *, as_list: bool = False) -> Any:
    """``value`` wrapped ``depth`` times in one-key objects (or lists)."""
    for _ in range(depth):
        value = [value] if as_list else {"v": value}
    return value


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, *, max_edits: int = 8) -> bytes:
    """``seed`` with a few edits: a byte flipped, inserted, removed, a run repeated or cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(min_value=0, max_value=max_edits))):
        where = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate", "interesting"]))
        if kind == "flip" and data:
            data[where] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[where : where + draw(st.integers(min_value=1, max_value=8))]
        elif kind == "repeat" and data:
            run = bytes(data[where : where + draw(st.integers(min_value=1, max_value=16))])
            data[where:where] = run * draw(st.integers(min_value=1, max_value=64))
        elif kind == "truncate":
            del data[where:]
        elif kind == "interesting" and data:
            data[where] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x30, 0x5B, 0x7B, 0x22, 0x5C]))
    return bytes(data)
