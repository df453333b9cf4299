"""Structure-aware hypothesis strategies for the bytes a peer sends (issue 18's fuzzing of peer parsers), and the
budget every ``test_fuzz_peer_*`` target runs under.

Each strategy builds inputs the way the protocol shapes them (HTTP heads and chunked bodies, TLS records and
handshake messages, X.509 certificates, HSTS headers, Location URLs) and then breaks them where a hostile peer would:
lying lengths, numbers that are not ASCII digits, fields cut short, duplicated, or replaced by anything.

Budget: brief by default (the whole ``test_fuzz_peer_*`` set in well under 20 s); when ``HYPOTHESIS_PROFILE`` names
a profile (``tests/fuzz/conftest.py`` registers them: "long" for a run of minutes), that profile decides.
"""

from __future__ import annotations

import itertools
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.peers.der import CertParts, extension, integer, name, oid, san, sequence, tlv

__all__ = [
    "bounded",
    "budget",
    "certificates",
    "chunked_bodies",
    "cuts",
    "handshake_bytes",
    "hsts_headers",
    "http_answers",
    "locations",
]


def budget(brief: int) -> Any:
    """``@settings`` for one target: ``brief`` examples unless a profile was asked for by ``HYPOTHESIS_PROFILE``."""
    common: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    if os.environ.get("HYPOTHESIS_PROFILE"):
        return settings(**common)
    return settings(max_examples=brief, **common)


T = TypeVar("T")


def bounded(call: Callable[[], T], *, seconds: float, peak_bytes: int) -> T:
    """``call()``, held to a generous wall-clock bound and to a bound on the memory it allocates at its peak
    (``tracemalloc``): the time and memory part of a target's contract."""
    started = time.monotonic()
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.2f} s, more than {seconds} s"
    assert peak <= peak_bytes, f"allocated {peak} bytes at the peak, more than {peak_bytes}"
    return result


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into pieces as a peer chooses: whole, one byte per read, or at random places."""
    how = draw(st.sampled_from(["whole", "bytes", "random"]))
    if how == "whole" or not data:
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=30))))
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


# --------------------------------------------------------------------------------------------------------------
# HTTP (RFC 9112)

_TEXT = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_DIGITS = st.sampled_from(
    ["0", "3", "007", "18446744073709551616", "9" * 60, "\u00b2", "\u0663", "\uff13", "-1", "+3", "3_0", "0x10", " 4 "]
)


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace")


@st.composite
def _header(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["length", "te", "sts", "location", "plain", "odd", "fold"]))
    if kind == "length":
        return b"Content-Length: " + _latin1(draw(_DIGITS))
    if kind == "te":
        return b"Transfer-Encoding: " + draw(st.sampled_from([b"chunked", b"gzip, chunked", b"identity", b"CHUNKED"]))
    if kind == "sts":
        return b"Strict-Transport-Security: " + _latin1(draw(hsts_headers()))
    if kind == "location":
        return b"Location: " + _latin1(draw(locations()))
    if kind == "fold":
        return b" " + draw(_TEXT)
    if kind == "odd":
        return draw(_TEXT)  # maybe not a header line at all
    return draw(st.sampled_from([b"X-A", b"Server", b"a"])) + b":" + draw(_TEXT)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A chunked body: size lines right or wrong (sign, prefix, Unicode digits, extensions), data shorter or longer
    than said, CRLFs present or not, a last chunk or none."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 12))):
        data = draw(st.binary(max_size=40))
        size = draw(
            st.one_of(
                st.just(f"{len(data):x}".encode()),
                st.just(f"{len(data):X}".encode()),
                st.sampled_from([b"-6", b"-1", b"+3", b"0x3", b"1_0", b"\xef\xbc\x93", b"", b"zz", b"f" * 20]),
                st.integers(0, 2**70).map(lambda n: f"{n:x}".encode()),
            )
        )
        extension_part = draw(st.sampled_from([b"", b";a=1", b" ;x", b"\t"]))
        out += size + extension_part + b"\r\n" + data + draw(st.sampled_from([b"\r\n", b"", b"\n", b"xx"]))
    if draw(st.booleans()):
        out += b"0\r\n" + draw(st.sampled_from([b"\r\n", b"Trailer: 1\r\n\r\n", b""]))
    return bytes(out)


@st.composite
def http_answers(draw: st.DrawFn) -> bytes:
    """A whole HTTP/1.x answer as sent: maybe an interim 1xx first, a status line (or not one), header lines, the
    blank line (or not), and a body: by length, chunked, or to the close."""
    out = bytearray()
    if draw(st.integers(0, 4)) == 0:
        out += b"HTTP/1.1 100 Continue\r\n\r\n"
    status = draw(
        st.one_of(
            st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 301 Moved", b"HTTP/1.1 204 No", b"HTTP/1.1 304 Not"]),
            st.integers(100, 999).map(lambda n: b"HTTP/1.1 %d X" % n),
            _TEXT,
        )
    )
    headers = draw(st.lists(_header(), max_size=12))
    out += b"\r\n".join([status, *headers]) + b"\r\n"
    if draw(st.integers(0, 9)):
        out += b"\r\n"
    chunked = any(h.lower().startswith(b"transfer-encoding") and b"chunked" in h.lower() for h in headers)
    out += draw(chunked_bodies()) if chunked and draw(st.booleans()) else draw(st.binary(max_size=200))
    return bytes(out)


# --------------------------------------------------------------------------------------------------------------
# TLS records and handshake messages (RFC 5246 sections 6.2, 7.4; RFC 8446 section 4)


def _u(n: int, size: int) -> bytes:
    return (n % (1 << (8 * size))).to_bytes(size, "big")


@st.composite
def _length(draw: st.DrawFn, true: int, size: int) -> bytes:
    """A length field: the true length, or a lie."""
    lie = draw(st.sampled_from(["true", "true", "true", "short", "long", "max", "zero"]))
    value = {"true": true, "short": max(0, true - 1), "long": true + 1, "max": (1 << (8 * size)) - 1, "zero": 0}[lie]
    return _u(value, size)


@st.composite
def _server_hello(draw: st.DrawFn) -> bytes:
    extensions = bytearray()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from([43, 0xFF01, 51, 0xFEFE, draw(st.integers(0, 0xFFFF))]))
        data = draw(st.sampled_from([b"\x03\x04", b"\x03\x03", b"\x7f\x1c", b""]) | st.binary(max_size=8))
        extensions += _u(kind, 2) + draw(_length(len(data), 2)) + data
    session = draw(st.binary(max_size=32))
    body = (
        draw(st.sampled_from([b"\x03\x03", b"\x03\x01", b"\x03\x04", b"\x7f\x1c"]))
        + draw(st.binary(min_size=32, max_size=32))
        + draw(_length(len(session), 1))
        + session
        + b"\xc0\x2f\x00"
        + (draw(_length(len(extensions), 2)) + bytes(extensions) if draw(st.booleans()) else b"")
    )
    return body[: draw(st.integers(0, len(body)))] if draw(st.integers(0, 5)) == 0 else body


@st.composite
def _certificate_message(draw: st.DrawFn) -> bytes:
    certificates = bytearray()
    for _ in range(draw(st.integers(0, 3))):
        der = draw(st.binary(max_size=60))
        certificates += draw(_length(len(der), 3)) + der
    return draw(_length(len(certificates), 3)) + bytes(certificates)


@st.composite
def handshake_bytes(draw: st.DrawFn) -> bytes:
    """What a server sends during a handshake: handshake messages (ServerHello, Certificate, others) with true or
    lying lengths, cut into records of any size, with alerts, a ChangeCipherSpec or garbage among them."""
    stream = bytearray()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from([2, 11, 14, 12, draw(st.integers(0, 255))]))
        body = draw(_server_hello()) if kind == 2 else draw(_certificate_message()) if kind == 11 else b""
        stream += bytes([kind]) + draw(_length(len(body), 3)) + body
    out = bytearray()
    position = 0
    while position < len(stream) or (not stream and not out):
        size = draw(st.integers(1, 64))
        fragment = bytes(stream[position : position + size])
        position += size
        out += bytes([22]) + b"\x03\x03" + draw(_length(len(fragment), 2)) + fragment
        if draw(st.integers(0, 9)) == 0:
            out += draw(st.sampled_from([b"\x15\x03\x03\x00\x02\x01\x00", b"\x14\x03\x03\x00\x01\x01", b"\x17"]))
        if not stream:
            break
    if draw(st.integers(0, 5)) == 0:
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


# --------------------------------------------------------------------------------------------------------------
# Certificates (RFC 5280 section 4.1), built from tests/peers/der.py's parts

_STRING_TAGS = [0x0C, 0x13, 0x16, 0x1E, 0x1C, 0x14, 0x03, 0x04, 0x02, 0x05, 0x30]
_NAME_OIDS = ["2.5.4.3", "2.5.4.6", "2.5.4.10", "2.5.4.11", "0.9.2342.19200300.100.1.25", "2.5.4.45", "1.2.3"]
_EXT_OIDS = ["2.5.29.17", "2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.14", "2.5.29.35", "1.3.6.1.5.5.7.1.1", "1.2"]
_KEY_OIDS = ["1.2.840.10045.2.1", "1.2.840.113549.1.1.1", "1.3.101.112", "1.3.101.113", "1.2.3.4"]
_CURVES = ["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.2.3"]
_SIG_OIDS = ["1.2.840.10045.4.3.2", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.10", "1.3.101.112", "1.2.3.4"]


def _tlv_any() -> st.SearchStrategy[bytes]:
    return st.builds(tlv, st.sampled_from(_STRING_TAGS), st.binary(max_size=24))


@st.composite
def _name(draw: st.DrawFn) -> bytes:
    attributes = draw(st.lists(st.tuples(st.sampled_from(_NAME_OIDS), _tlv_any()), max_size=4))
    return name(*attributes)


@st.composite
def _extensions(draw: st.DrawFn) -> tuple[bytes, ...]:
    items = []
    for _ in range(draw(st.integers(0, 4))):
        which = draw(st.sampled_from(["san", "san-odd", "any"]))
        if which == "san":
            items.append(san(*draw(st.lists(st.binary(max_size=20), max_size=3))))
        elif which == "san-odd":
            items.append(extension("2.5.29.17", sequence(*draw(st.lists(_tlv_any(), max_size=3)))))
        else:
            value = draw(st.one_of(_tlv_any(), st.binary(max_size=10), st.just(sequence(tlv(0x01, b"\xff")))))
            items.append(extension(draw(st.sampled_from(_EXT_OIDS)), value, critical=draw(st.booleans())))
    return tuple(items)


@st.composite
def _spki(draw: st.DrawFn) -> bytes:
    algorithm = draw(st.sampled_from(_KEY_OIDS))
    parameters = [oid(draw(st.sampled_from(_CURVES)))] if draw(st.booleans()) else []
    key = draw(st.one_of(st.just(b"\x04" + b"\x01" * 64), st.binary(max_size=70)))
    return sequence(sequence(oid(algorithm), *parameters), tlv(0x03, b"\x00" + key))


@st.composite
def certificates(draw: st.DrawFn) -> bytes:
    """A certificate: the well-formed parts with any of them replaced by a hostile one, then maybe a few bytes of
    the whole flipped, cut or inserted."""
    from tests.peers.der import build_certificate

    parts = CertParts()
    changes: dict[str, Any] = {}
    if draw(st.booleans()):
        changes["version"] = tlv(0xA0, integer(draw(st.integers(-2, 5))))
    if draw(st.booleans()):
        changes["serial"] = draw(st.one_of(st.integers(-(2**70), 2**170).map(integer), _tlv_any()))
    if draw(st.booleans()):
        changes["signature_algorithm"] = sequence(
            oid(draw(st.sampled_from(_SIG_OIDS))), *draw(st.lists(_tlv_any(), max_size=1))
        )
    for field in ("issuer", "subject"):
        if draw(st.booleans()):
            changes[field] = draw(_name())
    if draw(st.booleans()):
        times = st.sampled_from([b"250101000000Z", b"250230000000Z", b"991399999999Z", b"", b"20250101000000Z"])
        changes["validity"] = sequence(tlv(draw(st.sampled_from([0x17, 0x18])), draw(times)), tlv(0x17, draw(times)))
    if draw(st.booleans()):
        changes["spki"] = draw(_spki())
    if draw(st.booleans()):
        changes["extensions"] = draw(_extensions())
    der = bytearray(build_certificate(parts.but(**changes)))
    for _ in range(draw(st.integers(0, 3)) if draw(st.integers(0, 3)) == 0 else 0):
        at = draw(st.integers(0, len(der) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            der[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del der[at : at + draw(st.integers(1, 8))]
        else:
            der[at:at] = draw(st.binary(min_size=1, max_size=8))
        if not der:
            break
    return bytes(der)


# --------------------------------------------------------------------------------------------------------------
# HSTS headers (RFC 6797 section 6.1) and Location URLs (RFC 3986)

_MAX_AGE_VALUES = st.one_of(
    st.integers(0, 2**66).map(str),
    st.sampled_from(["", "0" * 50 + "1", "9" * 5000, "\u00b2", "\u0663\u0660", "-1", "+3", "3e5", "1_0", " 3"]),
    st.integers(0, 2**64).map(lambda n: f'"{n}"'),
)


@st.composite
def hsts_headers(draw: st.DrawFn) -> str:
    """A Strict-Transport-Security value: directives from RFC 6797 and beyond (repeated, cased oddly, valued or
    not, quoted, broken), with optional whitespace and empty directives; sometimes plain text instead."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.text(max_size=60))
    directives = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["max-age", "include", "preload", "unknown", "empty", "broken"]))
        if kind == "max-age":
            name_text = draw(st.sampled_from(["max-age", "MAX-AGE", "Max-Age"]))
            equals = draw(st.sampled_from(["=", " = ", "= ", ""]))
            directives.append(name_text + equals + draw(_MAX_AGE_VALUES))
        elif kind == "include":
            directives.append(draw(st.sampled_from(["includeSubDomains", "INCLUDESUBDOMAINS", "includeSubDomains=1"])))
        elif kind == "preload":
            directives.append(draw(st.sampled_from(["preload", "PRELOAD", "preload=yes", "preloadx"])))
        elif kind == "unknown":
            directives.append(draw(st.sampled_from(["foo", "foo=bar", 'report-uri="https://r/;x"', 'x="\\"'])))
        elif kind == "empty":
            directives.append("")
        else:
            directives.append(draw(st.sampled_from(["a b", '"', 'x="open', "\u00e9=1", "=3"])))
    spaces = draw(st.sampled_from(["", " ", "\t", "  "]))
    return (";" + spaces).join(directives)


_HOSTS = st.sampled_from(
    ["a.example.com", "A.EXAMPLE.COM.", "b.example.com", "[::1]", "[", "[::1", "::1]", "a.example.com\uff03", "", "@"]
)
_PORTS = st.sampled_from(["", ":", ":443", ":8443", ":a", ":\u00b2", ":99999", ":-1", ":" + "4" * 5000, ": 443"])


@st.composite
def locations(draw: st.DrawFn) -> str:
    """A Location value: scheme, authority (userinfo, host, port) and path each right or broken; sometimes text."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.text(max_size=40))
    scheme = draw(st.sampled_from(["https://", "HTTPS://", "http://", "//", "https:", "ftp://", ""]))
    userinfo = draw(st.sampled_from(["", "", "user@", ":pw@", "@"]))
    path = draw(st.sampled_from(["", "/", "/x", "?q", "#f", "/%2e%2e/"]))
    space = draw(st.sampled_from(["", " ", "\t"]))
    return space + scheme + userinfo + draw(_HOSTS) + draw(_PORTS) + path + space
