"""The hardened baseline, and the validation of every user input that describes it.

One source of truth for the component (``origin_tls.components``), the verifier (``verify``/``cli``) and the policy pack
(``policy``): each of them turns user input into these types through the ``parse_*`` functions below, so a bad value
is refused the same way, with the field, the value and what is allowed, before anything is sent or changed.
Hostnames, endpoints and the API URL are parsed in :mod:`origin_tls.addresses` and re-exported here.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .addresses import (
    DEFAULT_API_URL,
    Endpoint,
    parse_api_url,
    parse_endpoint,
    parse_hostname,
    parse_hostnames,
)
from .errors import InvalidInput
from .numbers import ascii_decimal, ascii_int

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
    "PostQuantum",
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
    "parse_post_quantum",
    "parse_readable_file",
    "parse_ssl_mode",
    "parse_timeout",
    "parse_tls_version",
    "parse_validity_days",
    "parse_zone_id",
]

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


class PostQuantum(str, enum.Enum):
    """Post-quantum key agreement on the second hop (DESIGN.md, "Post-quantum key agreement on the second hop").

    ``auto``: automatic origin key exchange on (Cloudflare offers X25519MLKEM768 to an origin that supports it),
    nothing required. ``required``: also ``origin_tls_compliance_modes = ["pqh"]``, set only after the origin proved
    it negotiates X25519MLKEM768.
    """

    AUTO = "auto"
    REQUIRED = "required"

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
    #: The second hop must be post-quantum (--require-pq): the origin negotiates X25519MLKEM768 and the zone
    #: enforces it (origin_tls_compliance_modes contains pqh).
    require_pq: bool = False

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


def parse_post_quantum(value: object, *, field_name: str = "post_quantum") -> PostQuantum:
    result: PostQuantum = _choice(value, PostQuantum, field_name)
    return result


def _whole_number(value: object, field_name: str, allowed: str) -> int:
    # Pulumi hands numbers over as floats (protobuf Struct): accept 31536000.0, refuse 1.5, True and "abc".
    if isinstance(value, bool):
        raise InvalidInput(field_name, value, allowed)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and (number := ascii_int(value.strip())) is not None:
        return number  # ASCII digits only: "²" and Arabic-Indic digits are refused, not read (issue 18)
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
    if isinstance(value, str):
        # ASCII only: float() would also read Arabic-Indic, full-width digits and "1_0" (issue 18).
        number = ascii_decimal(value.strip())
        if number is None:
            raise InvalidInput(field_name, value, allowed)
        value = number
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(field_name, value, allowed) from None
    if not (math.isfinite(seconds) and 0 < seconds <= most):
        raise InvalidInput(field_name, value, allowed)
    return seconds


def parse_zone_id(value: object, *, field_name: str = "zone_id") -> str:
    """Cloudflare identifiers are 32 lower-case hex characters."""
    allowed = "a Cloudflare zone id (32 hexadecimal characters)"
    if not isinstance(value, str):
        raise InvalidInput(field_name, value, allowed)
    zone = value.strip().lower()
    if len(zone) != 32 or any(ch not in "0123456789abcdef" for ch in zone):
        raise InvalidInput(field_name, value, allowed)
    return zone


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
