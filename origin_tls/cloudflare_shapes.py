"""The shapes of the Cloudflare API calls origin-tls makes: argument validation before a request is sent, and the
parsing of answers (the v4 envelope, results, ``Retry-After``, ``expires_on``). Pure; the client is
:mod:`origin_tls.cloudflare`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .baseline import parse_api_url, parse_hostname
from .errors import InvalidInput, ResponseError

__all__ = [
    "MAX_RETRY_AFTER",
    "ORIGIN_CA_REQUEST_TYPES",
    "REDACTED",
    "SETTING_IDS",
    "as_certificate_object",
    "as_enabled",
    "as_object",
    "as_object_list",
    "as_setting_value",
    "describe_api_errors",
    "is_last_page",
    "parse_api_errors",
    "parse_base_url",
    "parse_certificate_pem",
    "parse_csr_pem",
    "parse_expires_on",
    "parse_hostname_configs",
    "parse_object_id",
    "parse_private_key_pem",
    "parse_retry_after",
    "parse_setting_id",
    "parse_setting_value",
    "parse_token",
]

#: What stands in for a secret in every message and repr.
REDACTED = "<redacted>"

ORIGIN_CA_REQUEST_TYPES: tuple[str, ...] = ("origin-rsa", "origin-ecc", "keyless-certificate")

_ON_OFF = ("on", "off")
#: Zone settings this client reads and writes, with the values ``PATCH`` accepts (reference §2.1). ``None`` marks
#: ``security_header``, whose object value is checked by :func:`_check_security_header`. ``ssl_recommender`` is left
#: out on purpose: it carries ``enabled`` instead of ``value``.
SETTING_IDS: dict[str, tuple[str, ...] | None] = {
    "ssl": ("off", "flexible", "full", "strict"),
    "ssl_automatic_mode": ("auto", "custom"),
    "min_tls_version": ("1.0", "1.1", "1.2", "1.3"),
    "tls_1_3": ("on", "off", "zrt"),
    "always_use_https": _ON_OFF,
    "automatic_https_rewrites": _ON_OFF,
    "tls_client_auth": _ON_OFF,
    "security_header": None,
}
#: The longest ``Retry-After`` read, in seconds (a day): what the header may ask beyond it is the same long wait.
MAX_RETRY_AFTER = 86_400.0
_HSTS_KEYS = frozenset({"enabled", "max_age", "include_subdomains", "preload", "nosniff"})
_HOSTNAME_CONFIG_KEYS = frozenset({"hostname", "cert_id", "enabled"})

_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_CERT_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")
_CSR_PEM_RE = re.compile(
    r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----[A-Za-z0-9+/=\s]+-----END (NEW )?CERTIFICATE REQUEST-----"
)
# Encrypted keys are refused: Cloudflare cannot use a key it cannot decrypt.
_KEY_PEM_RE = re.compile(r"-----BEGIN (RSA |EC )?PRIVATE KEY-----[A-Za-z0-9+/=\s]+-----END (RSA |EC )?PRIVATE KEY-----")


# --------------------------------------------------------------------------------------------------------------
# Pure helpers: argument validation and result shapes.


def parse_token(token: object) -> str:
    # The value is never echoed: InvalidInput puts it in its message, so a placeholder goes there instead.
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput("api token", REDACTED, "a non-empty string")
    text = token.strip()
    if not _TOKEN_RE.fullmatch(text):
        # A newline or other control character would make httpx raise with the header value in its message.
        raise InvalidInput("api token", REDACTED, "printable ASCII without spaces")
    return text


def parse_base_url(value: object) -> str:
    """The client's base URL by :func:`~origin_tls.baseline.parse_api_url` (defence in depth: the CLI and the
    component check it too), and httpx must read the same scheme and host from it as that check did."""
    text = parse_api_url(value, field_name="base_url")
    checked = urlsplit(text)
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise InvalidInput("base_url", value, "a URL httpx can parse") from None
    if url.scheme != checked.scheme.lower() or url.host != (checked.hostname or ""):
        raise InvalidInput("base_url", value, "a URL every parser reads the same host from")
    return text


def parse_setting_id(value: object) -> str:
    if not isinstance(value, str) or value not in SETTING_IDS:
        raise InvalidInput("setting_id", value, sorted(SETTING_IDS))
    return value


def parse_setting_value(setting: str, value: object) -> Any:
    choices = SETTING_IDS[setting]
    if choices is None:
        return _check_security_header(value)
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"{setting} value", value, choices)
    return choices[choices.index(value)]  # the plain string, also when given a str enum member (SslMode.STRICT)


def _check_security_header(value: object) -> dict[str, Any]:
    # snake_case only: camelCase keys are accepted by some tools but never converge (pulumi-cloudflare#1579).
    allowed = (
        '{"strict_transport_security": {...}} with keys among enabled, max_age, include_subdomains, preload, nosniff'
    )
    if not isinstance(value, Mapping) or set(value) != {"strict_transport_security"}:
        raise InvalidInput("security_header value", value, allowed)
    hsts = value["strict_transport_security"]
    if not isinstance(hsts, Mapping) or not set(hsts) <= _HSTS_KEYS:
        raise InvalidInput("security_header value", value, allowed)
    for key, item in hsts.items():
        ok = (
            (isinstance(item, int) and not isinstance(item, bool) and item >= 0)
            if key == "max_age"
            else (isinstance(item, bool))
        )
        if not ok:
            raise InvalidInput(f"security_header.strict_transport_security.{key}", item, allowed)
    return {"strict_transport_security": dict(hsts)}


def parse_object_id(value: object, field_name: str) -> str:
    # Certificate ids go into the URL path: only letters, digits, '-' and '_' (hex ids, UUIDs, decimal serials).
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidInput(field_name, value, "a Cloudflare identifier (letters, digits, '-' or '_')")
    return value


def _pem_preview(value: object) -> object:
    if isinstance(value, str) and len(value) > 40:
        return value[:40] + "..."
    return value


def parse_certificate_pem(value: object) -> str:
    if not isinstance(value, str) or not _CERT_PEM_RE.fullmatch(value.strip()):
        raise InvalidInput("certificate", _pem_preview(value), "a PEM certificate (-----BEGIN CERTIFICATE-----)")
    return value.strip() + "\n"


def parse_private_key_pem(value: object) -> str:
    if not isinstance(value, str) or not _KEY_PEM_RE.fullmatch(value.strip()):
        raise InvalidInput("private_key", REDACTED, "an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)")
    return value.strip() + "\n"


def parse_csr_pem(value: object) -> str:
    # PEM text, not base64 DER: Cloudflare answers 1007 "CSR parsed as empty" otherwise (reference §2.2).
    if not isinstance(value, str) or not _CSR_PEM_RE.fullmatch(value.strip()):
        raise InvalidInput(
            "csr", _pem_preview(value), "a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)"
        )
    return value.strip() + "\n"


def parse_hostname_configs(configs: object) -> list[dict[str, Any]]:
    allowed = 'a non-empty list of {"hostname", "cert_id", "enabled": true|false|null}'
    if isinstance(configs, (str, bytes, Mapping)) or not isinstance(configs, Sequence) or not configs:
        raise InvalidInput("configs", configs, allowed)
    parsed: list[dict[str, Any]] = []
    for index, item in enumerate(configs):
        if not isinstance(item, Mapping) or set(item) != _HOSTNAME_CONFIG_KEYS:
            raise InvalidInput(f"configs[{index}]", item, allowed)
        enabled = item["enabled"]
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidInput(f"configs[{index}].enabled", enabled, "true, false or null")
        parsed.append(
            {
                "hostname": parse_hostname(item["hostname"], field_name=f"configs[{index}].hostname"),
                "cert_id": parse_object_id(item["cert_id"], f"configs[{index}].cert_id"),
                "enabled": enabled,
            }
        )
    return parsed


def parse_api_errors(body: object) -> tuple[tuple[int, str], ...]:
    """``(code, message)`` pairs from an envelope's ``errors``; tolerant of anything else."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return ()
    found: list[tuple[int, str]] = []
    for item in body["errors"]:
        if not isinstance(item, dict):
            continue
        code = item.get("code")
        if isinstance(code, bool) or not isinstance(code, int):
            continue
        message = item.get("message")
        found.append((code, message if isinstance(message, str) else ""))
    return tuple(found)


def describe_api_errors(errors: Sequence[tuple[int, str]]) -> str:
    printable = (" ".join(f"{code} {message}".split())[:200] for code, message in errors[:5])
    return "; ".join(printable)


def _scrub(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "private_key"}


def as_object(result: object) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise ResponseError(f"expected an object in 'result', got {type(result).__name__}")
    return _scrub(result)


def as_certificate_object(result: object) -> dict[str, Any]:
    item = as_object(result)
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise ResponseError("the certificate in 'result' has no 'id'")
    return item


def as_object_list(result: object) -> list[dict[str, Any]]:
    if result is None:  # the schema marks list results nullable
        return []
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise ResponseError(f"expected a list of objects in 'result', got {type(result).__name__}")
    return [_scrub(item) for item in result]


def as_setting_value(result: object, setting: str) -> Any:
    item = as_object(result)
    if "value" not in item:
        raise ResponseError(f"zone setting {setting}: 'result' has no 'value'")
    if "id" in item and item["id"] != setting:
        raise ResponseError(f"zone setting {setting}: the answer is for setting {item['id']!r}")
    return item["value"]


def as_enabled(result: object) -> bool:
    item = as_object(result)
    if not isinstance(item.get("enabled"), bool):
        raise ResponseError("'result' has no boolean 'enabled'")
    return bool(item["enabled"])


def is_last_page(info: object, page: int) -> bool:
    if not isinstance(info, dict):
        return False
    total_pages = info.get("total_pages")
    if isinstance(total_pages, (int, float)) and not isinstance(total_pages, bool):
        return page >= total_pages
    total, per_page = info.get("total_count"), info.get("per_page")
    if all(isinstance(n, (int, float)) and not isinstance(n, bool) and n > 0 for n in (total, per_page)):
        return page * per_page >= total  # type: ignore[operator]
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date); ``None`` if absent
    or unreadable. Never raises: the header comes from the network. At most :data:`MAX_RETRY_AFTER` (the client
    caps every wait lower still), so a number of any length or a date in year 9999 is a long wait, not an error."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # delay-seconds = 1*DIGIT, ASCII (RFC 9110 §5.6.1): "²" is not a delay
        return MAX_RETRY_AFTER if len(text) > 9 else min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        delta = (when - (now or datetime.now(timezone.utc))).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year past datetime's range
        return None
    return min(max(0.0, delta), MAX_RETRY_AFTER)


# re.ASCII: without it \d also matches Arabic-Indic and full-width digits, which int() reads.
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))", re.ASCII
)
# Go's time.Time.String(): "2025-04-01 10:11:00 +0000 UTC", optionally with fractional seconds (TF#5392).
_GO_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))? ([+-])(\d{2})(\d{2}) [A-Z]{1,5}", re.ASCII
)


def parse_expires_on(value: str) -> datetime:
    """An ``expires_on`` from the API as an aware UTC datetime.

    Accepts RFC 3339 (``2014-01-01T05:20:00.12345Z``, ``...+02:00``) and Go's ``2025-04-01 10:11:00 +0000 UTC``,
    which the Origin CA GET has been seen to return (``reference/cloudflare.md`` §2.2). Anything else, including a
    time without an offset, raises :class:`ResponseError` (the text comes from the API).
    """
    if isinstance(value, str):
        text = value.strip()
        rfc = _RFC3339_RE.fullmatch(text)
        go = None if rfc else _GO_TIME_RE.fullmatch(text)
        try:
            if rfc:
                year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = rfc.groups()
                offset = timedelta(0) if zulu else _offset(sign, off_h, off_m)
            elif go:
                year, month, day, hour, minute, second, fraction, sign, off_h, off_m = go.groups()
                offset = _offset(sign, off_h, off_m)
            else:
                raise ValueError(text)
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
            return (local - offset).replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            pass
    raise ResponseError(f"expires_on is not an RFC 3339 or Go timestamp: {_pem_preview(value)!r}")


def _offset(sign: str, hours: str, minutes: str) -> timedelta:
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("offset")
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta
