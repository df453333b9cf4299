"""The routes of the sandbox API: Cloudflare's result shapes, and one handler per (path, method).

Each handler takes the zone and the parsed request and returns ``(result, extra envelope fields)``; refusals are
raised as :class:`~.state.SandboxApiError` and turned into the envelope by :mod:`.api`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import (
    AopCertificate,
    HostnameAssociation,
    OriginCertificate,
    SandboxApiError,
    SettingEntry,
    ZoneState,
)

__all__ = ["ROUTES", "ApiRequest", "Handler", "Result", "format_expires_on", "format_timestamp"]

#: What a handler returns: the ``result`` and any extra envelope fields (``result_info`` for lists).
Result = tuple[Any, dict[str, Any] | None]


def format_timestamp(value: dt.datetime | None) -> str | None:
    """RFC 3339 with microseconds and ``Z``, as Cloudflare's ``modified_on``/``uploaded_on``."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_expires_on(value: dt.datetime) -> str:
    """The Origin CA's ``expires_on``: Go's time format, ``2041-11-23 16:30:00 +0000 UTC`` (TF#5392), not RFC 3339.

    The official SDK types the field as ``str``, so it parses; clients must parse it defensively.
    """
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


# ---------------------------------------------------------------------------------------------------------------
# Result shapes


def _setting_result(entry: SettingEntry) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": entry.id,
        "value": entry.value,
        "editable": True,
        "modified_on": format_timestamp(entry.modified_on),
    }
    if entry.id == "ssl_automatic_mode" and entry.value == "auto":
        # Automatic SSL/TLS scans periodically while in auto mode; the next scan is a day away in the sandbox.
        scan = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        result["next_scheduled_scan"] = format_timestamp(scan)
    return result


def _auto_kex_result(entry: SettingEntry) -> dict[str, Any]:
    # The value is under ``enabled`` (SDK ``AutoOriginTLSKexGetResponse``: id, enabled, modified_on, all required).
    return {"id": entry.id, "enabled": entry.value, "modified_on": format_timestamp(entry.modified_on)}


def _compliance_result(entry: SettingEntry, *, with_value: bool = True) -> dict[str, Any]:
    # SDK ``OriginTLSComplianceMode*Response``: id, editable, value, modified_on; the DELETE answer has no value.
    result: dict[str, Any] = {"id": entry.id, "editable": True}
    if with_value:
        result["value"] = list(entry.value)
    result["modified_on"] = format_timestamp(entry.modified_on)
    return result


def _origin_result(cert: OriginCertificate, *, echo_request: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": cert.id,
        "certificate": cert.certificate_pem,
        "hostnames": list(cert.hostnames),
        "expires_on": format_expires_on(cert.expires_on),
        "request_type": cert.request_type,
    }
    # Only the creating POST echoes csr and requested_validity; GET and list do not (TF#5392).
    if echo_request:
        result["csr"] = cert.csr
        result["requested_validity"] = cert.requested_validity
    return result


def _aop_result(cert: AopCertificate, *, zone_enabled: bool | None = None) -> dict[str, Any]:
    # The private key is never returned (TF PR #6791 removed it from the GET models). Zone-level certificates also
    # carry the zone-level setting's ``enabled`` (openapi, zone-level list items); hostname certificates do not.
    extra = {} if zone_enabled is None else {"enabled": zone_enabled}
    return {
        **extra,
        "id": cert.id,
        "certificate": cert.certificate_pem,
        "issuer": cert.issuer,
        "signature": cert.signature,
        "serial_number": cert.serial_number,
        "expires_on": format_timestamp(cert.expires_on),
        "status": cert.status,
        "uploaded_on": format_timestamp(cert.uploaded_on),
    }


def _association_result(association: HostnameAssociation, cert: AopCertificate | None) -> dict[str, Any]:
    cert_status = cert.status if cert else "deleted"
    result: dict[str, Any] = {
        "hostname": association.hostname,
        "cert_id": association.cert_id,
        "enabled": association.enabled,
        "status": cert_status,
        "cert_status": cert_status,
        "created_at": format_timestamp(association.created_at),
        "updated_at": format_timestamp(association.updated_at),
    }
    if cert is not None:
        result.update(
            certificate=cert.certificate_pem,
            issuer=cert.issuer,
            serial_number=cert.serial_number,
            signature=cert.signature,
            expires_on=format_timestamp(cert.expires_on),
            cert_uploaded_on=format_timestamp(cert.uploaded_on),
            cert_updated_at=format_timestamp(cert.uploaded_on),
        )
    return result


def _page(items: list[Any], query: dict[str, list[str]]) -> Result:
    def number(name: str, default: int, maximum: int) -> int:
        raw = query.get(name, [str(default)])[0]
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise SandboxApiError(1007, f"{name} must be a whole number from 1 to {maximum}")
        return int(raw)

    page, per_page = number("page", 1, 10_000), number("per_page", 20, 1000)
    chunk = items[(page - 1) * per_page : page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items)}
    return chunk, {"result_info": info}


# ---------------------------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class ApiRequest:
    """A request as a handler sees it: path ``params`` (``zone``, ``setting``, ``cert``, ``hostname``), the query
    and the decoded JSON body (``None`` for GET and DELETE)."""

    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any


Handler = Callable[[ZoneState, ApiRequest], Result]


def _body_object(request: ApiRequest) -> dict[str, Any]:
    if not isinstance(request.body, dict):
        raise SandboxApiError(6007, "Malformed JSON in request body")
    return request.body


def _get_setting(state: ZoneState, request: ApiRequest) -> Result:
    return _setting_result(state.setting_entry(request.params["setting"])), None


def _patch_setting(state: ZoneState, request: ApiRequest) -> Result:
    setting_id = request.params["setting"]
    state.setting_entry(setting_id)  # unknown ids answer 1006 before the value is looked at
    body = _body_object(request)
    if "value" not in body:
        # An empty PATCH is refused as an invalid value (pulumi-cloudflare#1319).
        raise SandboxApiError(1007, f"Invalid value for zone setting {setting_id}")
    state.set_setting(setting_id, body["value"])
    return _setting_result(state.setting_entry(setting_id)), None


def _get_auto_kex(state: ZoneState, request: ApiRequest) -> Result:
    return _auto_kex_result(state.auto_origin_tls_kex_entry()), None


def _patch_auto_kex(state: ZoneState, request: ApiRequest) -> Result:
    state.set_auto_origin_tls_kex(_body_object(request))
    return _auto_kex_result(state.auto_origin_tls_kex_entry()), None


def _get_compliance(state: ZoneState, request: ApiRequest) -> Result:
    return _compliance_result(state.compliance_modes_entry()), None


def _set_compliance(state: ZoneState, request: ApiRequest) -> Result:
    body = _body_object(request)
    if "value" not in body:
        raise SandboxApiError(1007, "Invalid value for zone setting origin_tls_compliance_modes: value is required")
    state.set_origin_tls_compliance_modes(body["value"])
    return _compliance_result(state.compliance_modes_entry()), None


def _delete_compliance(state: ZoneState, request: ApiRequest) -> Result:
    # Deleting removes the constraint: the setting reads as [] afterwards.
    state.set_origin_tls_compliance_modes([])
    return _compliance_result(state.compliance_modes_entry(), with_value=False), None


def _list_settings(state: ZoneState, request: ApiRequest) -> Result:
    return [_setting_result(state.setting_entry(key)) for key in state.settings()], None


def _create_origin(state: ZoneState, request: ApiRequest) -> Result:
    body = _body_object(request)
    cert = state.create_origin_certificate(
        csr=body.get("csr"),
        hostnames=body.get("hostnames"),
        request_type=body.get("request_type"),
        requested_validity=body.get("requested_validity"),
    )
    return _origin_result(cert, echo_request=True), None


def _list_origin(state: ZoneState, request: ApiRequest) -> Result:
    zone_id = request.query.get("zone_id", [""])[0]
    if not zone_id:
        raise SandboxApiError(
            1012, "Please provide a zone id when requesting a stored certificate, or fetch by serial number"
        )
    if zone_id != state.zone_id:
        raise SandboxApiError(1001, "Invalid zone identifier", status=404)
    return _page([_origin_result(c, echo_request=False) for c in state.list_origin_certificates()], request.query)


def _get_origin(state: ZoneState, request: ApiRequest) -> Result:
    return _origin_result(state.get_origin_certificate(request.params["cert"]), echo_request=False), None


def _revoke_origin(state: ZoneState, request: ApiRequest) -> Result:
    cert = state.revoke_origin_certificate(request.params["cert"])
    return {"id": cert.id, "revoked_at": format_timestamp(cert.revoked_at)}, None


def _list_zone_aop(state: ZoneState, request: ApiRequest) -> Result:
    enabled = state.zone_aop_enabled
    return _page([_aop_result(c, zone_enabled=enabled) for c in state.list_zone_certificates()], request.query)


def _upload_zone_aop(state: ZoneState, request: ApiRequest) -> Result:
    body = _body_object(request)
    cert = state.upload_zone_certificate(body.get("certificate"), body.get("private_key"))
    return _aop_result(cert, zone_enabled=state.zone_aop_enabled), None


def _get_zone_aop(state: ZoneState, request: ApiRequest) -> Result:
    return _aop_result(state.get_zone_certificate(request.params["cert"]), zone_enabled=state.zone_aop_enabled), None


def _delete_zone_aop(state: ZoneState, request: ApiRequest) -> Result:
    cert = state.delete_zone_certificate(request.params["cert"])
    return _aop_result(cert, zone_enabled=state.zone_aop_enabled), None


def _get_aop_settings(state: ZoneState, request: ApiRequest) -> Result:
    return {"enabled": state.zone_aop_enabled}, None


def _put_aop_settings(state: ZoneState, request: ApiRequest) -> Result:
    body = _body_object(request)
    return {"enabled": state.set_zone_aop_enabled(body.get("enabled"))}, None


def _list_hostname_aop(state: ZoneState, request: ApiRequest) -> Result:
    return _page([_aop_result(c) for c in state.list_hostname_certificates()], request.query)


def _upload_hostname_aop(state: ZoneState, request: ApiRequest) -> Result:
    body = _body_object(request)
    return _aop_result(state.upload_hostname_certificate(body.get("certificate"), body.get("private_key"))), None


def _get_hostname_aop(state: ZoneState, request: ApiRequest) -> Result:
    return _aop_result(state.get_hostname_certificate(request.params["cert"])), None


def _delete_hostname_aop(state: ZoneState, request: ApiRequest) -> Result:
    return _aop_result(state.delete_hostname_certificate(request.params["cert"])), None


def _put_hostnames(state: ZoneState, request: ApiRequest) -> Result:
    associations = state.set_hostname_associations(_body_object(request).get("config"))
    return [_association_result(a, state.association_certificate(a)) for a in associations], None


def _get_hostname(state: ZoneState, request: ApiRequest) -> Result:
    association = state.get_hostname_association(request.params["hostname"])
    return _association_result(association, state.association_certificate(association)), None


_Z = r"/zones/(?P<zone>[^/]+)"
_AOP = _Z + "/origin_tls_client_auth"
_ROUTE_TABLE: tuple[tuple[str, dict[str, Handler]], ...] = (
    (_Z + "/settings", {"GET": _list_settings}),
    # The two key-exchange settings before the generic route: other shapes, other methods.
    (_Z + "/settings/auto_origin_tls_kex", {"GET": _get_auto_kex, "PATCH": _patch_auto_kex}),
    (
        _Z + "/settings/origin_tls_compliance_modes",
        {"GET": _get_compliance, "PUT": _set_compliance, "PATCH": _set_compliance, "DELETE": _delete_compliance},
    ),
    (_Z + "/settings/(?P<setting>[^/]+)", {"GET": _get_setting, "PATCH": _patch_setting}),
    ("/certificates", {"GET": _list_origin, "POST": _create_origin}),
    ("/certificates/(?P<cert>[^/]+)", {"GET": _get_origin, "DELETE": _revoke_origin}),
    (_AOP, {"GET": _list_zone_aop, "POST": _upload_zone_aop}),
    (_AOP + "/settings", {"GET": _get_aop_settings, "PUT": _put_aop_settings}),
    (_AOP + "/hostnames", {"PUT": _put_hostnames}),
    (_AOP + "/hostnames/certificates", {"GET": _list_hostname_aop, "POST": _upload_hostname_aop}),
    (
        _AOP + "/hostnames/certificates/(?P<cert>[^/]+)",
        {"GET": _get_hostname_aop, "DELETE": _delete_hostname_aop},
    ),
    (_AOP + "/hostnames/(?P<hostname>[^/]+)", {"GET": _get_hostname}),
    (_AOP + "/(?P<cert>[^/]+)", {"GET": _get_zone_aop, "DELETE": _delete_zone_aop}),
)
ROUTES = tuple((re.compile(pattern + "$"), handlers) for pattern, handlers in _ROUTE_TABLE)
