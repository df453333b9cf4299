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
- Bounds (DESIGN.md "Bounds and trust", issue 8): every call ends within ``call_budget`` seconds (default
  ``CALL_BUDGET_FACTOR`` x ``timeout``), tries, backoff and ``Retry-After`` waits included, measured on one monotonic
  deadline that also cuts off a peer trickling its answer (:mod:`origin_tls.cloudflare_limits`); a ``Retry-After``
  is capped by ``max_backoff``, and one that does not fit in what is left of the budget ends the call at once with
  ``RateLimitedError``. An answer longer than ``max_answer_bytes`` (1 MiB) is a ``ResponseError`` naming the bound.
- Trust: the base URL is ``https://`` or loopback ``http://`` (:func:`origin_tls.baseline.parse_api_url`); redirects
  are never followed (a 3xx is a ``ResponseError``), so the token goes to the host and port named and nowhere else.
- Rate: every try is admitted by the run's :class:`RateBudget` (1,200 requests per 300 s per token, shared by every
  client of the run); a 429 pauses the whole budget for its ``Retry-After``, so every caller waits, not only this one.
- The API token never appears in an exception message, a log line, ``repr()`` or a pickle: the client refuses to
  be pickled or copied, and every text taken from an answer has the token removed.
- Results are returned as plain ``dict``/``list`` values with any ``private_key`` field dropped, so a key uploaded
  here cannot travel on into Pulumi state or logs through a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .baseline import parse_hostname, parse_hostnames, parse_validity_days, parse_zone_id
from .cloudflare_http import (
    CALL_BUDGET_FACTOR,
    DEFAULT_API_TIMEOUT,
    DEFAULT_API_URL,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_RETRIES,
    ApiSession,
)
from .cloudflare_limits import DEFAULT_MAX_ANSWER_BYTES, RateBudget
from .cloudflare_shapes import (
    ORIGIN_CA_REQUEST_TYPES,
    SETTING_IDS,
    as_certificate_object,
    as_enabled,
    as_object,
    as_object_list,
    as_setting_value,
    is_last_page,
    parse_certificate_pem,
    parse_csr_pem,
    parse_expires_on,
    parse_hostname_configs,
    parse_object_id,
    parse_private_key_pem,
    parse_setting_id,
    parse_setting_value,
)
from .errors import InvalidInput, ResponseError

__all__ = [
    "AOP_PERMISSION_EDIT",
    "AOP_PERMISSION_READ",
    "CALL_BUDGET_FACTOR",
    "COMPLIANCE_MODES",
    "DEFAULT_API_TIMEOUT",
    "DEFAULT_API_URL",
    "DEFAULT_MAX_ANSWER_BYTES",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_RETRIES",
    "ORIGIN_CA_PERMISSION",
    "ORIGIN_CA_REQUEST_TYPES",
    "SETTING_IDS",
    "ZONE_SETTINGS_PERMISSION_EDIT",
    "ZONE_SETTINGS_PERMISSION_READ",
    "CloudflareClient",
    "RateBudget",
    "parse_expires_on",
]

#: Origin CA list pages are walked up to this many (at ``_PER_PAGE`` each); a loop guard, not an expected size.
_MAX_PAGES = 100
_PER_PAGE = 50

ZONE_SETTINGS_PERMISSION_READ = "Zone Settings Read"
ZONE_SETTINGS_PERMISSION_EDIT = "Zone Settings Edit"
#: Origin CA with an API token needs Zone - SSL and Certificates - Edit, even to read (reference §2.2).
ORIGIN_CA_PERMISSION = "SSL and Certificates Edit"
AOP_PERMISSION_READ = "SSL and Certificates Read"
AOP_PERMISSION_EDIT = "SSL and Certificates Edit"


_AUTO_KEX = "auto_origin_tls_kex"
_COMPLIANCE = "origin_tls_compliance_modes"
#: The compliance modes this client writes (Cloudflare: FIPS-approved groups, post-quantum hybrid groups).
COMPLIANCE_MODES: tuple[str, ...] = ("fips", "pqh")


def _check_setting_id(result: object, setting: str) -> None:
    item = as_object(result)
    if "id" in item and item["id"] != setting:
        raise ResponseError(f"zone setting {setting}: the answer is for setting {item['id']!r}")


class CloudflareClient(ApiSession):
    """A small synchronous client for the zone-settings, Authenticated Origin Pulls and Origin CA endpoints.

    ``token`` is a Cloudflare API token (sent as ``Authorization: Bearer``). ``transport`` is the seam for tests
    (``httpx.MockTransport``) and ``sleep`` the seam for the waits between tries. Use as a context manager, or call
    :meth:`close`. Instances are not picklable: they hold the token.

    Time bound of one call: ``call_budget`` seconds in all (default ``CALL_BUDGET_FACTOR * timeout``), whatever the
    peer does; within it ``timeout`` also bounds each socket operation, and at most ``max_retries`` waits of at most
    ``max_backoff`` seconds separate the ``max_retries + 1`` tries. ``rate_budget`` is the run's shared
    :class:`RateBudget` (``None``: a private one); deadlines are measured on its clock.
    """

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
    # Post-quantum key agreement to the origin (reference §6): two settings with their own shapes

    def get_auto_origin_tls_kex(self, zone_id: str) -> bool:
        """Automatic origin key exchange (``GET .../settings/auto_origin_tls_kex``): its ``enabled`` boolean (this
        setting's value is under ``enabled``, not ``value``)."""
        zone = parse_zone_id(zone_id)
        result = self._call(
            "GET", f"/zones/{zone}/settings/{_AUTO_KEX}", permission=ZONE_SETTINGS_PERMISSION_READ, zone=zone
        )
        _check_setting_id(result, _AUTO_KEX)
        return as_enabled(result)

    def get_origin_tls_compliance_modes(self, zone_id: str) -> list[str]:
        """The origin TLS compliance modes (``GET .../settings/origin_tls_compliance_modes``): the ``value`` list,
        unknown modes kept as the opaque strings they are (``[]``, or ``null``, is no constraint)."""
        zone = parse_zone_id(zone_id)
        result = self._call(
            "GET", f"/zones/{zone}/settings/{_COMPLIANCE}", permission=ZONE_SETTINGS_PERMISSION_READ, zone=zone
        )
        _check_setting_id(result, _COMPLIANCE)
        value = as_setting_value(result, _COMPLIANCE)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(mode, str) for mode in value):
            raise ResponseError(f"zone setting {_COMPLIANCE}: 'value' is not a list of strings")
        return list(value)

    def set_auto_origin_tls_kex(self, zone_id: str, enabled: bool) -> bool:
        """Switch automatic origin key exchange (``PATCH`` with ``{"enabled": bool}``); the value Cloudflare holds."""
        zone = parse_zone_id(zone_id)
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled", enabled, "true or false")
        result = self._call(
            "PATCH",
            f"/zones/{zone}/settings/{_AUTO_KEX}",
            json={"enabled": enabled},
            permission=ZONE_SETTINGS_PERMISSION_EDIT,
            zone=zone,
        )
        _check_setting_id(result, _AUTO_KEX)
        return as_enabled(result)

    def set_origin_tls_compliance_modes(self, zone_id: str, modes: Sequence[str]) -> list[str]:
        """Set the origin TLS compliance modes (``PUT`` with ``{"value": [...]}``; ``[]`` clears the constraint)."""
        zone = parse_zone_id(zone_id)
        if isinstance(modes, str) or not all(mode in COMPLIANCE_MODES for mode in modes):
            raise InvalidInput(_COMPLIANCE, modes, f"a list of {', '.join(COMPLIANCE_MODES)}")
        self._call(
            "PUT",
            f"/zones/{zone}/settings/{_COMPLIANCE}",
            json={"value": list(modes)},
            permission=ZONE_SETTINGS_PERMISSION_EDIT,
            zone=zone,
        )
        return self.get_origin_tls_compliance_modes(zone)

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
