"""The hardened baseline, and the validation of every user input that describes it.

One source of truth for the component (``components``), the verifier (``verify``/``cli``) and the policy pack
(``policy``): each of them turns user input into these types through the ``parse_*`` functions below, so a bad value
is refused the same way, with the field, the value and what is allowed, before anything is sent or changed.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import idna

from .errors import InvalidInput

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_HSTS_MAX_AGE",
    "DEFAULT_MIN_DAYS_REMAINING",
    "DEFAULT_TIMEOUT",
    "ORIGIN_CA_VALIDITY_DAYS",
    "AopMode",
    "Baseline",
    "Endpoint",
    "HstsPolicy",
    "KeyType",
    "SslMode",
    "TlsVersion",
    "parse_aop_mode",
    "parse_api_url",
    "parse_baseline",
    "parse_deadline",
    "parse_endpoint",
    "parse_hostname",
    "parse_hostnames",
    "parse_hsts_max_age",
    "parse_key_type",
    "parse_readable_file",
    "parse_ssl_mode",
    "parse_timeout",
    "parse_tls_version",
    "parse_validity_days",
    "parse_zone_id",
]

#: Cloudflare's v4 API base (the default ``--api-url``); here so that naming it needs neither httpx nor the client.
DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
#: One year: the HSTS preload list's minimum (hstspreload ``Bulk1Year``) and the value Cloudflare recommends.
DEFAULT_HSTS_MAX_AGE = 31_536_000
#: Seconds per network operation. Long enough for a slow edge, short enough that a preview stays fast.
DEFAULT_TIMEOUT = 5.0
#: An origin certificate must stay valid this many more days: Cloudflare's own expiry alerts start at 30 days.
DEFAULT_MIN_DAYS_REMAINING = 30
#: ``requested_validity`` values the Origin CA accepts (Cloudflare API, ``POST /certificates``).
ORIGIN_CA_VALIDITY_DAYS: tuple[int, ...] = (7, 30, 90, 365, 730, 1095, 5475)
#: Ten years: hstspreload warns above this (``header.preloadable.max_age.over_10_years``); we refuse beyond it.
MAX_HSTS_MAX_AGE = 10 * 365 * 86_400 + 3 * 86_400


class TlsVersion(str, enum.Enum):
    """A TLS protocol version as Cloudflare's ``min_tls_version`` spells it."""

    TLS_1_0 = "1.0"
    TLS_1_1 = "1.1"
    TLS_1_2 = "1.2"
    TLS_1_3 = "1.3"

    @property
    def rank(self) -> int:
        return _TLS_ORDER.index(self)

    def __str__(self) -> str:
        return self.value

    def below(self) -> tuple[TlsVersion, ...]:
        """Every version older than this one (they must all be refused when this is the floor)."""
        return _TLS_ORDER[: self.rank]


_TLS_ORDER: tuple[TlsVersion, ...] = tuple(TlsVersion)


class SslMode(str, enum.Enum):
    """Cloudflare's zone ``ssl`` setting. Only ``strict`` (Full (Strict)) authenticates the origin."""

    OFF = "off"
    FLEXIBLE = "flexible"
    FULL = "full"
    STRICT = "strict"

    def __str__(self) -> str:
        return self.value


class AopMode(str, enum.Enum):
    """Authenticated Origin Pulls level.

    ``global`` uses Cloudflare's client certificate shared by every customer; ``zone`` and ``hostname`` use the
    team's own client certificate and are account-exclusive, so they are preferred (``reference/pems/README.md``).
    """

    OFF = "off"
    GLOBAL = "global"
    ZONE = "zone"
    HOSTNAME = "hostname"

    def __str__(self) -> str:
        return self.value


class KeyType(str, enum.Enum):
    """Key of the origin certificate. ECDSA P-256 by default: smaller, faster, and what Cloudflare recommends."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"

    @property
    def request_type(self) -> str:
        """The Origin CA ``request_type`` for this key."""
        return "origin-ecc" if self is KeyType.ECDSA_P256 else "origin-rsa"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class HstsPolicy:
    """What the Strict-Transport-Security header must say.

    ``preload`` is an explicit opt-in: the preload list is effectively permanent (hstspreload.org asks tools not to
    add it by default).
    """

    max_age: int = DEFAULT_HSTS_MAX_AGE
    include_subdomains: bool = True
    preload: bool = False

    def __post_init__(self) -> None:
        parse_hsts_max_age(self.max_age)
        if self.preload and (not self.include_subdomains or self.max_age < DEFAULT_HSTS_MAX_AGE):
            raise InvalidInput(
                "hsts.preload",
                self.preload,
                "false unless include_subdomains is true and max_age is at least 31536000 (preload list rules)",
            )

    def header_value(self) -> str:
        """The header an origin or edge should send, e.g. ``max-age=31536000; includeSubDomains``."""
        parts = [f"max-age={self.max_age}"]
        if self.include_subdomains:
            parts.append("includeSubDomains")
        if self.preload:
            parts.append("preload")
        return "; ".join(parts)

    def zone_value(self) -> dict[str, Any]:
        """The ``security_header`` zone-setting value, snake_case keys (pulumi-cloudflare#1579: camelCase diffs)."""
        return {
            "strict_transport_security": {
                "enabled": True,
                "max_age": self.max_age,
                "include_subdomains": self.include_subdomains,
                "preload": self.preload,
                "nosniff": True,
            }
        }


@dataclass(frozen=True)
class Baseline:
    """The posture a zone must have. Defaults are the hardened baseline."""

    min_tls: TlsVersion = TlsVersion.TLS_1_2
    hsts: HstsPolicy = field(default_factory=HstsPolicy)
    #: The AOP level the zone must have enabled. ``None`` means "at least one level"; ``OFF`` means "not required".
    aop: AopMode | None = None
    ssl_mode: SslMode = SslMode.STRICT
    min_days_remaining: int = DEFAULT_MIN_DAYS_REMAINING

    @property
    def aop_required(self) -> bool:
        return self.aop is not AopMode.OFF

    def zone_settings(self) -> dict[str, Any]:
        """The zone settings this baseline declares, by Cloudflare setting id (AOP levels other than global are
        separate API objects and are not listed here)."""
        settings: dict[str, Any] = {
            "ssl": self.ssl_mode.value,
            "ssl_automatic_mode": "custom",
            "min_tls_version": self.min_tls.value,
            "tls_1_3": "on",
            "always_use_https": "on",
            "security_header": self.hsts.zone_value(),
        }
        if self.aop is AopMode.GLOBAL:
            settings["tls_client_auth"] = "on"
        return settings


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: a host name or IP literal and a TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# --------------------------------------------------------------------------------------------------------------
# Parsers: user input in, typed values out, InvalidInput (field, value, allowed) on anything else.


def _choice(value: object, enum_type: type[enum.Enum], field_name: str) -> Any:
    if isinstance(value, enum_type):
        return value
    allowed = [str(member.value) for member in enum_type]
    if isinstance(value, str):
        for member in enum_type:
            if value.strip().lower() == str(member.value):
                return member
    raise InvalidInput(field_name, value, allowed)


def parse_tls_version(value: object, *, field_name: str = "min_tls") -> TlsVersion:
    """``"1.2"`` -> ``TlsVersion.TLS_1_2``. Floats are refused: ``1.10`` and ``1.1`` would be the same number."""
    result: TlsVersion = _choice(value, TlsVersion, field_name)
    return result


def parse_ssl_mode(value: object, *, field_name: str = "ssl_mode") -> SslMode:
    result: SslMode = _choice(value, SslMode, field_name)
    return result


def parse_aop_mode(value: object, *, field_name: str = "aop") -> AopMode:
    result: AopMode = _choice(value, AopMode, field_name)
    return result


def parse_key_type(value: object, *, field_name: str = "key_type") -> KeyType:
    result: KeyType = _choice(value, KeyType, field_name)
    return result


def _whole_number(value: object, field_name: str, allowed: str) -> int:
    # Pulumi hands numbers over as floats (protobuf Struct): accept 31536000.0, refuse 1.5, True and "abc".
    if isinstance(value, bool):
        raise InvalidInput(field_name, value, allowed)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise InvalidInput(field_name, value, allowed)


def parse_hsts_max_age(value: object, *, field_name: str = "hsts_max_age") -> int:
    allowed = f"a whole number of seconds from 0 to {MAX_HSTS_MAX_AGE}"
    seconds = _whole_number(value, field_name, allowed)
    if not 0 <= seconds <= MAX_HSTS_MAX_AGE:
        raise InvalidInput(field_name, value, allowed)
    return seconds


def parse_validity_days(value: object, *, field_name: str = "validity_days") -> int:
    allowed = [str(days) for days in ORIGIN_CA_VALIDITY_DAYS]
    days = _whole_number(value, field_name, "one of " + ", ".join(allowed))
    if days not in ORIGIN_CA_VALIDITY_DAYS:
        raise InvalidInput(field_name, value, allowed)
    return days


#: Longest --timeout: one probe (a handshake and one answer) that needs more is not an origin worth waiting for.
MAX_TIMEOUT = 300.0
#: Longest --deadline: a whole run, a large fleet included (1,000 targets take seconds; a day bounds a typo).
MAX_DEADLINE = 86_400.0


def parse_timeout(value: object, *, field_name: str = "timeout") -> float:
    """Seconds for one probe (or one API call): greater than 0, at most :data:`MAX_TIMEOUT`."""
    return _seconds(value, field_name, MAX_TIMEOUT)


def parse_deadline(value: object, *, field_name: str = "deadline") -> float:
    """Seconds for a whole run: greater than 0, at most :data:`MAX_DEADLINE`."""
    return _seconds(value, field_name, MAX_DEADLINE)


def _seconds(value: object, field_name: str, most: float) -> float:
    allowed = f"a number of seconds greater than 0 and at most {most:g}"
    if isinstance(value, bool):
        raise InvalidInput(field_name, value, allowed)
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(field_name, value, allowed) from None
    if not (math.isfinite(seconds) and 0 < seconds <= most):
        raise InvalidInput(field_name, value, allowed)
    return seconds


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
            try:  # an A-label must decode to a valid U-label (RFC 5891 section 5.4)
                idna.ulabel(label)
            except (idna.IDNAError, UnicodeError):
                return None
        return label
    punycode = "xn--" + label.encode("punycode").decode("ascii")  # RFC 3492; idna refuses long ones without saying
    if len(punycode) > MAX_LABEL_LENGTH:
        return punycode  # the caller refuses it for its length, the more useful message
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


def parse_zone_id(value: object, *, field_name: str = "zone_id") -> str:
    """Cloudflare identifiers are 32 lower-case hex characters."""
    allowed = "a Cloudflare zone id (32 hexadecimal characters)"
    if not isinstance(value, str):
        raise InvalidInput(field_name, value, allowed)
    zone = value.strip().lower()
    if len(zone) != 32 or any(ch not in "0123456789abcdef" for ch in zone):
        raise InvalidInput(field_name, value, allowed)
    return zone


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
        if not port_text.isdigit():
            raise InvalidInput(field_name, value, allowed)
        port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidInput(field_name, value, allowed)
    return Endpoint(host, port)


def parse_readable_file(value: object, *, field_name: str) -> str:
    """A path to a file this process can read."""
    if not isinstance(value, (str, os.PathLike)) or not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise InvalidInput(field_name, value, "a readable file")
    return os.fspath(value)


def parse_baseline(
    *,
    min_tls: object = TlsVersion.TLS_1_2,
    hsts_max_age: object = DEFAULT_HSTS_MAX_AGE,
    hsts_include_subdomains: bool = True,
    hsts_preload: bool = False,
    aop: object | None = None,
) -> Baseline:
    """Build a :class:`Baseline` from loose user input (CLI flags, Pulumi args, policy config)."""
    floor = parse_tls_version(min_tls)
    hsts = HstsPolicy(
        max_age=parse_hsts_max_age(hsts_max_age),
        include_subdomains=bool(hsts_include_subdomains),
        preload=bool(hsts_preload),
    )
    return Baseline(min_tls=floor, hsts=hsts, aop=None if aop is None else parse_aop_mode(aop))


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
