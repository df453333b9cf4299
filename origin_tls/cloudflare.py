"""The httpx client for every Cloudflare API call origin-tls makes itself, and the one place that maps HTTP,
transport and API-envelope failures onto :mod:`origin_tls.errors`.

Contract:

- Arguments are validated before anything is sent; a bad one raises :class:`~origin_tls.errors.InvalidInput`.
- Every answer must be the v4 envelope ``{"success", "errors": [{"code", "message"}], "messages", "result"}``
  (``reference/cloudflare.md`` §2.1); anything else is a :class:`~origin_tls.errors.ResponseError`.
- 401/403 -> ``AuthenticationError`` naming the token permission the call needs; 404 -> ``NotFoundError``;
  429 -> retried after ``Retry-After`` (capped by ``max_backoff``) up to ``max_retries`` times, then
  ``RateLimitedError``; 5xx and transport failures -> retried with capped exponential backoff and jitter, then
  ``ServerError`` / ``TransportError``.
- Retry safety: GET, PUT, PATCH (zone settings are set to a value) and DELETE are retried on 5xx and transport
  failures. POST (upload a client certificate, mint an Origin CA certificate) is retried only when the request is
  known not to have been processed: a 429, or a failure to connect. A POST that timed out after it was sent, or
  got a 5xx, may have minted a certificate, so it is never repeated: the caller gets the error and decides.
- The API token never appears in an exception message, a log line, ``repr()`` or a pickle: the client refuses to
  be pickled or copied, and every text taken from an answer has the token removed.
- Results are returned as plain ``dict``/``list`` values with any ``private_key`` field dropped, so a key uploaded
  here cannot travel on into Pulumi state or logs through a result.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn

import httpx

from .baseline import parse_hostname, parse_hostnames, parse_timeout, parse_validity_days, parse_zone_id
from .cloudflare_shapes import (
    ORIGIN_CA_REQUEST_TYPES,
    REDACTED,
    SETTING_IDS,
    as_certificate_object,
    as_enabled,
    as_object,
    as_object_list,
    as_setting_value,
    describe_api_errors,
    is_last_page,
    parse_api_errors,
    parse_base_url,
    parse_certificate_pem,
    parse_csr_pem,
    parse_expires_on,
    parse_hostname_configs,
    parse_object_id,
    parse_private_key_pem,
    parse_retry_after,
    parse_setting_id,
    parse_setting_value,
    parse_token,
)
from .errors import (
    AuthenticationError,
    InvalidInput,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)

__all__ = [
    "AOP_PERMISSION_EDIT",
    "AOP_PERMISSION_READ",
    "DEFAULT_API_TIMEOUT",
    "DEFAULT_API_URL",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_RETRIES",
    "ORIGIN_CA_PERMISSION",
    "ORIGIN_CA_REQUEST_TYPES",
    "SETTING_IDS",
    "ZONE_SETTINGS_PERMISSION_EDIT",
    "ZONE_SETTINGS_PERMISSION_READ",
    "CloudflareClient",
    "parse_expires_on",
]

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
#: Seconds per HTTP request (connect, write, read each). The API answers in well under a second when healthy.
DEFAULT_API_TIMEOUT = 10.0
#: Retries after the first try. Four tries ride out a short 5xx burst without stalling a deploy for minutes.
DEFAULT_MAX_RETRIES = 3
#: Longest single wait between tries, whatever ``Retry-After`` asks for: a preview must not sleep for an hour.
DEFAULT_MAX_BACKOFF = 30.0
_BACKOFF_BASE = 0.5
_MAX_RETRIES_LIMIT = 10
#: Origin CA list pages are walked up to this many (at ``_PER_PAGE`` each); a loop guard, not an expected size.
_MAX_PAGES = 100
_PER_PAGE = 50

ZONE_SETTINGS_PERMISSION_READ = "Zone Settings Read"
ZONE_SETTINGS_PERMISSION_EDIT = "Zone Settings Edit"
#: Origin CA with an API token needs Zone - SSL and Certificates - Edit, even to read (reference §2.2).
ORIGIN_CA_PERMISSION = "SSL and Certificates Edit"
AOP_PERMISSION_READ = "SSL and Certificates Read"
AOP_PERMISSION_EDIT = "SSL and Certificates Edit"


_NO_PICKLE = "CloudflareClient holds an API token and cannot be pickled or copied; build one where it is used"

_log = logging.getLogger(__name__)


class CloudflareClient:
    """A small synchronous client for the zone-settings, Authenticated Origin Pulls and Origin CA endpoints.

    ``token`` is a Cloudflare API token (sent as ``Authorization: Bearer``). ``transport`` is the seam for tests
    (``httpx.MockTransport``) and ``sleep`` the seam for the waits between tries. Use as a context manager, or call
    :meth:`close`. Instances are not picklable: they hold the token.

    Time bound of one call: ``timeout`` applies to each phase of each try (connect, send, each read), and at most
    ``max_retries`` waits of at most ``max_backoff`` seconds separate the ``max_retries + 1`` tries.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_API_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
    ) -> None:
        self._token = parse_token(token)
        self._base_url = parse_base_url(base_url)
        timeout = parse_timeout(timeout)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise InvalidInput("max_retries", max_retries, f"a whole number from 0 to {_MAX_RETRIES_LIMIT}")
        if not 0 <= max_retries <= _MAX_RETRIES_LIMIT:
            raise InvalidInput("max_retries", max_retries, f"a whole number from 0 to {_MAX_RETRIES_LIMIT}")
        if (
            isinstance(max_backoff, bool)
            or not isinstance(max_backoff, (int, float))
            or not (math.isfinite(max_backoff) and 0 <= max_backoff <= 300)
        ):
            raise InvalidInput("max_backoff", max_backoff, "a number of seconds from 0 to 300")
        if not callable(sleep):
            raise InvalidInput("sleep", sleep, "a callable taking a number of seconds")
        self._max_retries = max_retries
        self._max_backoff = float(max_backoff)
        self._sleep = sleep
        self._random = random.Random()
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                "User-Agent": "origin-tls",
            },
        )

    # ----------------------------------------------------------------------------------------------------------
    # Lifecycle and secrecy

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudflareClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CloudflareClient(base_url={self._base_url!r}, token={REDACTED})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(_NO_PICKLE)

    def __reduce__(self) -> NoReturn:
        raise TypeError(_NO_PICKLE)

    def __getstate__(self) -> NoReturn:
        raise TypeError(_NO_PICKLE)

    # ----------------------------------------------------------------------------------------------------------
    # Zone settings

    def get_setting(self, zone_id: str, setting_id: str) -> Any:
        """The ``value`` of one zone setting (``GET /zones/{zone_id}/settings/{setting_id}``)."""
        zone, setting = parse_zone_id(zone_id), parse_setting_id(setting_id)
        result = self._call(
            "GET", f"/zones/{zone}/settings/{setting}", permission=ZONE_SETTINGS_PERMISSION_READ, zone=zone
        )
        return as_setting_value(result, setting)

    def edit_setting(self, zone_id: str, setting_id: str, value: Any) -> Any:
        """Set one zone setting (``PATCH`` with ``{"value": value}``) and return the value Cloudflare now holds."""
        zone, setting = parse_zone_id(zone_id), parse_setting_id(setting_id)
        checked = parse_setting_value(setting, value)
        result = self._call(
            "PATCH",
            f"/zones/{zone}/settings/{setting}",
            json={"value": checked},
            permission=ZONE_SETTINGS_PERMISSION_EDIT,
            zone=zone,
        )
        return as_setting_value(result, setting)

    # ----------------------------------------------------------------------------------------------------------
    # Zone-level Authenticated Origin Pulls (reference §2.3)

    def get_zone_aop_enabled(self, zone_id: str) -> bool:
        zone = parse_zone_id(zone_id)
        result = self._call(
            "GET", f"/zones/{zone}/origin_tls_client_auth/settings", permission=AOP_PERMISSION_READ, zone=zone
        )
        return as_enabled(result)

    def set_zone_aop_enabled(self, zone_id: str, enabled: bool) -> bool:
        """``PUT .../origin_tls_client_auth/settings {"enabled": enabled}``; returns the state Cloudflare reports."""
        zone = parse_zone_id(zone_id)
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled", enabled, "true or false")
        result = self._call(
            "PUT",
            f"/zones/{zone}/origin_tls_client_auth/settings",
            json={"enabled": enabled},
            permission=AOP_PERMISSION_EDIT,
            zone=zone,
        )
        return as_enabled(result)

    def list_zone_aop_certificates(self, zone_id: str) -> list[dict[str, Any]]:
        zone = parse_zone_id(zone_id)
        result = self._call("GET", f"/zones/{zone}/origin_tls_client_auth", permission=AOP_PERMISSION_READ, zone=zone)
        return as_object_list(result)

    def upload_zone_aop_certificate(self, zone_id: str, certificate_pem: str, private_key_pem: str) -> dict[str, Any]:
        """Upload the zone's own origin-pull client certificate. Not retried on 5xx/timeout (see module doc)."""
        zone = parse_zone_id(zone_id)
        body = {
            "certificate": parse_certificate_pem(certificate_pem),
            "private_key": parse_private_key_pem(private_key_pem),
        }
        result = self._call(
            "POST", f"/zones/{zone}/origin_tls_client_auth", json=body, permission=AOP_PERMISSION_EDIT, zone=zone
        )
        return as_certificate_object(result)

    def get_zone_aop_certificate(self, zone_id: str, certificate_id: str) -> dict[str, Any]:
        zone, cert = parse_zone_id(zone_id), parse_object_id(certificate_id, "certificate_id")
        result = self._call(
            "GET",
            f"/zones/{zone}/origin_tls_client_auth/{cert}",
            permission=AOP_PERMISSION_READ,
            zone=zone,
            what=f"AOP certificate {cert}",
        )
        return as_certificate_object(result)

    def delete_zone_aop_certificate(self, zone_id: str, certificate_id: str) -> None:
        zone, cert = parse_zone_id(zone_id), parse_object_id(certificate_id, "certificate_id")
        self._call(
            "DELETE",
            f"/zones/{zone}/origin_tls_client_auth/{cert}",
            permission=AOP_PERMISSION_EDIT,
            zone=zone,
            what=f"AOP certificate {cert}",
        )

    # ----------------------------------------------------------------------------------------------------------
    # Per-hostname Authenticated Origin Pulls

    def upload_hostname_aop_certificate(
        self, zone_id: str, certificate_pem: str, private_key_pem: str
    ) -> dict[str, Any]:
        """Upload a per-hostname client certificate (at most 10 per zone). Not retried on 5xx/timeout."""
        zone = parse_zone_id(zone_id)
        body = {
            "certificate": parse_certificate_pem(certificate_pem),
            "private_key": parse_private_key_pem(private_key_pem),
        }
        result = self._call(
            "POST",
            f"/zones/{zone}/origin_tls_client_auth/hostnames/certificates",
            json=body,
            permission=AOP_PERMISSION_EDIT,
            zone=zone,
        )
        return as_certificate_object(result)

    def delete_hostname_aop_certificate(self, zone_id: str, certificate_id: str) -> None:
        zone, cert = parse_zone_id(zone_id), parse_object_id(certificate_id, "certificate_id")
        self._call(
            "DELETE",
            f"/zones/{zone}/origin_tls_client_auth/hostnames/certificates/{cert}",
            permission=AOP_PERMISSION_EDIT,
            zone=zone,
            what=f"hostname AOP certificate {cert}",
        )

    def set_hostname_aop(self, zone_id: str, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``PUT .../origin_tls_client_auth/hostnames {"config": [...]}``.

        Each config is ``{"hostname", "cert_id", "enabled"}``; ``enabled`` is true, false, or ``None`` to void the
        association (reference §2.3).
        """
        zone = parse_zone_id(zone_id)
        config = parse_hostname_configs(configs)
        result = self._call(
            "PUT",
            f"/zones/{zone}/origin_tls_client_auth/hostnames",
            json={"config": config},
            permission=AOP_PERMISSION_EDIT,
            zone=zone,
        )
        return as_object_list(result)

    def get_hostname_aop(self, zone_id: str, hostname: str) -> dict[str, Any]:
        zone, host = parse_zone_id(zone_id), parse_hostname(hostname)
        result = self._call(
            "GET",
            f"/zones/{zone}/origin_tls_client_auth/hostnames/{host}",
            permission=AOP_PERMISSION_READ,
            zone=zone,
            what=f"hostname {host}",
        )
        return as_object(result)

    # ----------------------------------------------------------------------------------------------------------
    # Origin CA (reference §2.2)

    def create_origin_certificate(
        self, *, csr_pem: str, hostnames: Sequence[str], request_type: str, requested_validity: int
    ) -> dict[str, Any]:
        """Mint an Origin CA certificate for ``csr_pem``. Never retried on 5xx/timeout: that could mint two."""
        csr = parse_csr_pem(csr_pem)
        names = list(parse_hostnames(hostnames, allow_wildcard=True))
        if not isinstance(request_type, str) or request_type not in ORIGIN_CA_REQUEST_TYPES:
            raise InvalidInput("request_type", request_type, ORIGIN_CA_REQUEST_TYPES)
        days = parse_validity_days(requested_validity, field_name="requested_validity")
        body = {"csr": csr, "hostnames": names, "request_type": request_type, "requested_validity": days}
        result = self._call("POST", "/certificates", json=body, permission=ORIGIN_CA_PERMISSION)
        return as_certificate_object(result)

    def get_origin_certificate(self, certificate_id: str) -> dict[str, Any]:
        """One certificate. Cloudflare's GET omits ``csr`` and ``requested_validity`` (TF#5392)."""
        cert = parse_object_id(certificate_id, "certificate_id")
        result = self._call(
            "GET", f"/certificates/{cert}", permission=ORIGIN_CA_PERMISSION, what=f"Origin CA certificate {cert}"
        )
        return as_certificate_object(result)

    def list_origin_certificates(self, zone_id: str) -> list[dict[str, Any]]:
        """Every Origin CA certificate of the zone, all pages (``GET /certificates?zone_id=``)."""
        zone = parse_zone_id(zone_id)
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in range(1, _MAX_PAGES + 1):
            params = {"zone_id": zone, "page": page, "per_page": _PER_PAGE}
            envelope = self._call(
                "GET", "/certificates", params=params, permission=ORIGIN_CA_PERMISSION, zone=zone, envelope=True
            )
            items = as_object_list(envelope["result"])
            fresh = [item for item in items if str(item.get("id")) not in seen]
            seen.update(str(item.get("id")) for item in fresh)
            found.extend(fresh)
            # Stop on a short or repeated page; servers that ignore `page` answer the same list each time.
            if len(items) < _PER_PAGE or not fresh or is_last_page(envelope.get("result_info"), page):
                break
        return found

    def revoke_origin_certificate(self, certificate_id: str) -> None:
        """Revoke (irreversible). Retried on 5xx like every DELETE: a repeat finds it gone (``NotFoundError``)."""
        cert = parse_object_id(certificate_id, "certificate_id")
        self._call(
            "DELETE", f"/certificates/{cert}", permission=ORIGIN_CA_PERMISSION, what=f"Origin CA certificate {cert}"
        )

    # ----------------------------------------------------------------------------------------------------------
    # The error boundary

    def _call(
        self,
        method: str,
        path: str,
        *,
        permission: str,
        zone: str | None = None,
        what: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        envelope: bool = False,
    ) -> Any:
        """Send one request with the retry policy of the module doc; return ``result`` (or the whole envelope)."""
        label = f"{method} {path}"
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.RequestError as exc:
                # A failure to connect means the request was never sent, so even a POST may be repeated.
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if not last and (method != "POST" or never_sent):
                    self._wait(self._backoff(attempt), label, type(exc).__name__, attempt, attempts)
                    continue
                tries = f" after {attempt + 1} tries" if attempt else ""
                raise TransportError(
                    self._redact(f"{label}: no answer from the Cloudflare API{tries} ({type(exc).__name__}: {exc})")
                ) from exc
            status = response.status_code
            if status == 429 and not last:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = self._backoff(attempt) if retry_after is None else min(retry_after, self._max_backoff)
                self._wait(delay, label, "HTTP 429", attempt, attempts)
                continue
            if status >= 500 and not last and method != "POST":
                self._wait(self._backoff(attempt), label, f"HTTP {status}", attempt, attempts)
                continue
            return self._parse(response, label, permission=permission, zone=zone, what=what, envelope=envelope)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(
        self,
        response: httpx.Response,
        label: str,
        *,
        permission: str,
        zone: str | None,
        what: str | None,
        envelope: bool,
    ) -> Any:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:  # also UnicodeDecodeError
            body = None
        errors = parse_api_errors(body)
        codes = tuple(code for code, _ in errors)
        said = self._redact(describe_api_errors(errors))
        suffix = f" (Cloudflare: {said})" if said else ""
        if status in (401, 403):
            scope = f" on zone {zone}" if zone else ""
            raise AuthenticationError(
                f"{label}: Cloudflare refused the API token (HTTP {status}); the token needs the "
                f"'{permission}' permission{scope}{suffix}",
                status=status,
                codes=codes,
            )
        if status == 404:
            if what and zone:
                subject = f"{what} or zone {zone} is unknown to this token's account"
            elif what:
                subject = f"{what} is unknown to this token's account"
            elif zone:
                subject = f"zone {zone} is unknown to this token's account"
            else:
                subject = "not found"
            raise NotFoundError(f"{label}: {subject}{suffix}", status=status, codes=codes)
        if status == 429:
            raise RateLimitedError(
                f"{label}: rate limited by Cloudflare (HTTP 429) on every try{suffix}", status=status, codes=codes
            )
        if status >= 500:
            raise ServerError(f"{label}: Cloudflare answered HTTP {status}{suffix}", status=status, codes=codes)
        if not 200 <= status < 300:
            raise ResponseError(f"{label}: Cloudflare answered HTTP {status}{suffix}", status=status, codes=codes)
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise ResponseError(
                f"{label}: the answer is not a Cloudflare API envelope (JSON with 'success')", status=status
            )
        if body["success"] is not True:
            raise ResponseError(f"{label}: Cloudflare answered success=false{suffix}", status=status, codes=codes)
        if "result" not in body:
            raise ResponseError(f"{label}: the answer has no 'result'", status=status)
        return body if envelope else body["result"]

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter: half to all of ``0.5 * 2**attempt`` seconds."""
        ceiling = min(self._max_backoff, _BACKOFF_BASE * 2.0**attempt)
        return ceiling * (0.5 + 0.5 * self._random.random())

    def _wait(self, delay: float, label: str, reason: str, attempt: int, attempts: int) -> None:
        _log.info("%s: %s; try %d of %d in %.1f s", label, reason, attempt + 2, attempts, delay)
        self._sleep(delay)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED)
