"""Numbers written as text (users' flags and files, API headers): ASCII digits only, of bounded length.

Python's ``str.isdigit`` is true for ``²`` (which ``int`` then refuses with a ``ValueError``), and ``int`` and
``float`` read Arabic-Indic and full-width digits and ``1_000``: a value that only looks like a number, or one read
as a number nobody wrote. These readers accept what RFC 9110 §5.6.1's ``DIGIT`` (RFC 5234: %x30-39) and a person
typing a number mean, and nothing else; a number longer than ``max_digits`` is refused before ``int`` sees it
(Python refuses more than 4,300 digits with a ``ValueError``). They return ``None`` for anything else and never
raise: the caller says what is allowed in its own message.
"""

from __future__ import annotations

import math
import re

__all__ = ["ascii_decimal", "ascii_int"]

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# 12, 12., .5, 1.5, with an optional exponent (1e3): what float() reads from ASCII, without "_", "inf" or "nan".
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)


def ascii_int(text: str, *, max_digits: int = 18) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits (no sign, no spaces), else ``None``."""
    if not isinstance(text, str) or len(text) > max_digits or not _DIGITS.fullmatch(text):
        return None
    return int(text)


def ascii_decimal(text: str, *, max_chars: int = 32) -> float | None:
    """``text`` as a finite non-negative number written in ASCII (``5``, ``0.5``, ``2.``, ``1e3``), else ``None``."""
    if not isinstance(text, str) or len(text) > max_chars or not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None
