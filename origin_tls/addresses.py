"""Where to connect and whom to trust with the token: hostnames, endpoints and the API URL, validated.

Part of the input validation of :mod:`origin_tls.baseline` (which re-exports everything here): the same rules for the
CLI, the inventory, the component and the providers, each refusal naming the field, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import InvalidInput
from .numbers import ascii_int

__all__ = [
    "DEFAULT_API_URL",
    "MAX_HOSTNAME_LENGTH",
    "MAX_LABEL_LENGTH",
    "Endpoint",
    "parse_api_url",
    "parse_endpoint",
    "parse_hostname",
    "parse_hostnames",
]

#: Cloudflare's v4 API base (the default ``--api-url``); here so that naming it needs neither httpx nor the client.
DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: a host name or IP literal and a TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
#: RFC 1035 section 2.3.4: 63 octets a label, 255 a name on the wire, i.e. 253 characters in text without the dot.
MAX_LABEL_LENGTH = 63
MAX_HOSTNAME_LENGTH = 253


def _is_ip_literal(text: str) -> bool:
    if ":" in text or text.startswith("["):
        return True  # no DNS name holds a colon: an IPv6 literal, bracketed or not, or HOST:PORT
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _a_label(label: str) -> str | None:
    """The ASCII form of one (already UTS 46 mapped) label; None when it is not a valid LDH or IDNA label."""
    if label.isascii():
        if set(label) - _HOST_LABEL_CHARS or label.startswith("-") or label.endswith("-"):
            return None
        if label.startswith("xn--"):
            import idna  # only for IDNA names (issue 17: ~2 ms before the first connection otherwise)

            try:  # an A-label must decode to a valid U-label (RFC 5891 section 5.4)
                idna.ulabel(label)
            except (idna.IDNAError, UnicodeError):
                return None
        return label
    punycode = "xn--" + label.encode("punycode").decode("ascii")  # RFC 3492; idna refuses long ones without saying
    if len(punycode) > MAX_LABEL_LENGTH:
        return punycode  # the caller refuses it for its length, the more useful message
    import idna

    try:
        return idna.alabel(label).decode("ascii")  # IDNA 2008 (RFC 5891 section 4): validity checks, Punycode
    except (idna.IDNAError, UnicodeError):
        return None


def parse_hostname(value: object, *, field_name: str = "hostname", allow_wildcard: bool = False) -> str:
    """A DNS hostname in its ASCII form: lower-cased, the trailing dot dropped, a Unicode name as its A-labels.

    Unicode names are mapped by UTS 46 (non-transitional, STD3 rules) and encoded by IDNA 2008 with the ``idna``
    package, so ``Bücher.example`` becomes ``xn--bcher-kva.example`` and the report shows what DNS and SNI carry.
    Refused with :class:`InvalidInput` naming the value and the rule: anything not a string, an IP address, a
    wildcard (``*.example.com`` is allowed with ``allow_wildcard``, as the whole first label only), an empty label,
    a single label, a label over 63 or a name over 253 characters (RFC 1035 section 2.3.4), characters other than
    letters, digits and hyphens, and an all-digit last label (which reads as an IPv4 address).
    """
    base = "a DNS hostname such as app.example.com" + (" or *.example.com" if allow_wildcard else "")

    def refused(why: str) -> InvalidInput:
        return InvalidInput(field_name, value, f"{base}, {why}")

    if not isinstance(value, str):
        raise InvalidInput(field_name, value, base)
    text = value.strip()
    text = text[:-1] if text.endswith(".") else text  # the root label of an absolute name (RFC 1034 section 3.1)
    if not text:
        raise refused("not empty")
    if _is_ip_literal(text):
        raise refused("not an IP address")
    prefix = ""
    if text.startswith("*."):
        if not allow_wildcard:
            raise refused("not a wildcard")
        prefix, text = "*.", text[2:]
    if "*" in text:
        raise refused("with a wildcard only as the whole first label" if allow_wildcard else "not a wildcard")
    if not text.isascii():
        import idna

        try:
            text = idna.uts46_remap(text, std3_rules=True, transitional=False)
        except (idna.IDNAError, UnicodeError):
            raise refused("a valid internationalised name (IDNA 2008, UTS 46)") from None
    labels = text.lower().split(".")
    if any(not label for label in labels):
        raise refused("without empty labels")
    if len(labels) < 2:
        raise refused("with at least two labels")
    ascii_labels: list[str] = []
    for label in labels:
        converted = _a_label(label)
        if converted is None:
            raise refused(f"with labels of letters, digits and hyphens or valid IDNA, not {label!r}")
        if len(converted) > MAX_LABEL_LENGTH:
            raise refused(f"with labels of at most {MAX_LABEL_LENGTH} characters ({len(converted)} in {label!r})")
        ascii_labels.append(converted)
    if ascii_labels[-1].isdigit():
        raise refused("not an IP address (its last label is all digits)")
    name = prefix + ".".join(ascii_labels)
    if len(name) > MAX_HOSTNAME_LENGTH:
        raise refused(f"of at most {MAX_HOSTNAME_LENGTH} characters ({len(name)})")
    return name


def parse_hostnames(
    values: Iterable[object] | object, *, field_name: str = "hostnames", allow_wildcard: bool = False
) -> tuple[str, ...]:
    """A non-empty list of distinct hostnames, order kept."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidInput(field_name, values, "a non-empty list of hostnames")
    names: list[str] = []
    for index, item in enumerate(values):
        name = parse_hostname(item, field_name=f"{field_name}[{index}]", allow_wildcard=allow_wildcard)
        if name not in names:
            names.append(name)
    if not names:
        raise InvalidInput(field_name, [], "a non-empty list of hostnames")
    return tuple(names)


def parse_endpoint(value: object, *, field_name: str, default_port: int) -> Endpoint:
    """``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` -> ``Endpoint``. Ports must be 1-65535."""
    allowed = "HOST or HOST:PORT with a port from 1 to 65535"
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, value, allowed)
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidInput(field_name, value, allowed)
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidInput(field_name, value, allowed)
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        host = text  # a bare IPv6 literal
    if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
        raise InvalidInput(field_name, value, allowed)
    if port_text == "" and text.endswith(":"):
        raise InvalidInput(field_name, value, allowed)
    port = default_port
    if port_text:
        number = ascii_int(port_text, max_digits=5)  # "²" passes isdigit() and fails int() (issue 18)
        if number is None:
            raise InvalidInput(field_name, value, allowed)
        port = number
    if not 1 <= port <= 65535:
        raise InvalidInput(field_name, value, allowed)
    return Endpoint(host, port)


_API_URL_ALLOWED = "an https:// URL, or http:// only with a loopback host (127.0.0.0/8, ::1, localhost)"


def parse_api_url(value: object, *, field_name: str = "api_url") -> str:
    """A Cloudflare API base URL, trailing slash dropped.

    ``https://``, or ``http://`` only for a loopback host (127.0.0.0/8, ``::1``, ``localhost``): the API token travels
    in a header and must never cross a network in clear text (DESIGN.md "Bounds and trust"; issue 8). No user info,
    query or fragment, and no backslash, whitespace or percent-escape in the host, so that every URL parser sees the
    same host as this check does (WHATWG parsers read ``\\`` as ``/``, RFC 3986 parsers do not).
    """
    if not isinstance(value, str):
        raise InvalidInput(field_name, value, _API_URL_ALLOWED)
    text = value.strip()
    # A password in the URL is not echoed in the message.
    shown = re.sub(r"//[^/@]*@", "//<redacted>@", text)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not 0-65535)
    except ValueError:
        raise InvalidInput(field_name, shown, _API_URL_ALLOWED) from None
    scheme = parts.scheme.lower()
    if (
        scheme not in ("https", "http")
        or not host
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or text.endswith(("?", "#"))
        or any(ch.isspace() or ch in "\\%" or not ch.isprintable() for ch in text)
    ):
        raise InvalidInput(field_name, shown, _API_URL_ALLOWED)
    if scheme == "http" and not _is_loopback(host):
        raise InvalidInput(field_name, shown, _API_URL_ALLOWED)
    return text.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
