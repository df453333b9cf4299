"""A loopback HTTP server speaking the slice of Cloudflare's v4 API that origin-tls uses, backed by a ZoneState.

Why the standard library (``http.server.ThreadingHTTPServer`` in a daemon thread) and not uvicorn/starlette: the
sandbox ships inside the package and runs for users (``python -m origin_tls demo``/``sandbox``), so a stdlib server
keeps an ASGI stack out of the runtime dependencies; a dozen JSON routes need no framework, and a thread per
connection is plenty for one local zone.

Shapes follow ``reference/cloudflare.md`` and ``reference/cloudflare-openapi/``: every answer is the envelope
``{"success", "errors": [{"code", "message"}], "messages": [], "result"}``. Error codes, with their sources:

=====  ======  ===================================================================================================
HTTP   code    when
=====  ======  ===================================================================================================
400    9106    no credentials: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" (cloudflare-python#2678)
400    6003    ``Authorization`` not ``Bearer <token>`` (chain 6111 "Invalid format for Authorization header")
403    10000   wrong token, or legacy key headers: "Authentication error" (the sandbox only issues API tokens)
404    7000    unknown route: "No route for that URI"
404    7003    zone id that is not 32 hex characters: "Could not route to ..., perhaps your object identifier is
               invalid?" plus 7000 (Cloudflare answers these with 400; the sandbox uses 404 so clients see "unknown")
404    1001    well-formed zone id of no zone here: "Invalid zone identifier" (status chosen as above)
405    7001    known route, other method
400    6007    body that is not a JSON object: "Malformed JSON in request body"
400    1006    unknown setting id: "Unrecognized zone setting name: <id>" (terraform-provider-cloudflare#1810)
400    1007    invalid values (settings, CSR, hostnames, validity, AOP uploads); "CSR parsed as empty" for non-PEM
400    1012    ``GET /certificates`` without ``zone_id`` (zingz0r/CloudFlare.Client#89)
404    1101    unknown Origin CA certificate id: "Failed to read certificate from Database"
404    1404    unknown AOP certificate or hostname association (sandbox choice)
429    971     injected rate limit, with ``Retry-After`` (sandbox fault knob)
5xx    10001   injected server error (sandbox fault knob)
=====  ======  ===================================================================================================

Nothing is logged: requests are recorded (method, path, status) in :attr:`ApiServer.requests` for tests, never their
headers, so the token cannot leak there.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .state import (
    AopCertificate,
    HostnameAssociation,
    OriginCertificate,
    SandboxApiError,
    SettingEntry,
    ZoneState,
)

__all__ = ["API_PREFIX", "ApiServer", "Faults", "RequestRecord", "format_expires_on", "format_timestamp"]

API_PREFIX = "/client/v4"
#: An idle keep-alive connection is closed after this many seconds, so no handler thread lingers for long.
_IDLE_TIMEOUT = 10.0
#: Largest request body read: 200 hostnames and a CSR fit many times over; anything bigger is refused unread.
_MAX_BODY = 1 << 20
#: How often the accept loop checks for stop(): short enough that stopping a sandbox feels instant.
_POLL_INTERVAL = 0.05
_ZONE_ID = re.compile(r"[0-9a-f]{32}")

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


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int


@dataclass
class _Fault:
    status: int | None
    retry_after: float | None
    delay: float
    remaining: int
    path_prefix: str | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


class Faults:
    """Injected failures for tests; none is active unless queued.

    ``queue(status=429, retry_after=1)`` answers the next matching request with 429 and ``Retry-After: 1``;
    ``queue(status=503, count=2)`` the next two with 503; ``queue(delay=2.0)`` answers normally after 2 seconds.
    ``path_prefix`` is relative to ``/client/v4`` (e.g. ``"/zones/"``) and ``method`` e.g. ``"PATCH"``.
    Faults are used in the order queued; each matching request consumes one use of the first matching fault.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []

    def queue(
        self,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        count: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if status is None and delay <= 0:
            raise ValueError("a fault needs a status or a delay")
        if count < 1 or delay < 0:
            raise ValueError("count must be at least 1 and delay not negative")
        fault = _Fault(status, retry_after, delay, count, path_prefix, method.upper() if method else None)
        with self._lock:
            self._queue.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        """Uses left across all queued faults."""
        with self._lock:
            return sum(fault.remaining for fault in self._queue)

    def take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return dataclasses.replace(fault)
        return None


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


def _aop_result(cert: AopCertificate) -> dict[str, Any]:
    # The private key is never returned (TF PR #6791 removed it from the GET models).
    return {
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
class _Request:
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any


Handler = Callable[[ZoneState, _Request], Result]


def _body_object(request: _Request) -> dict[str, Any]:
    if not isinstance(request.body, dict):
        raise SandboxApiError(6007, "Malformed JSON in request body")
    return request.body


def _get_setting(state: ZoneState, request: _Request) -> Result:
    return _setting_result(state.setting_entry(request.params["setting"])), None


def _patch_setting(state: ZoneState, request: _Request) -> Result:
    setting_id = request.params["setting"]
    state.setting_entry(setting_id)  # unknown ids answer 1006 before the value is looked at
    body = _body_object(request)
    if "value" not in body:
        # An empty PATCH is refused as an invalid value (pulumi-cloudflare#1319).
        raise SandboxApiError(1007, f"Invalid value for zone setting {setting_id}")
    state.set_setting(setting_id, body["value"])
    return _setting_result(state.setting_entry(setting_id)), None


def _list_settings(state: ZoneState, request: _Request) -> Result:
    return [_setting_result(state.setting_entry(key)) for key in state.settings()], None


def _create_origin(state: ZoneState, request: _Request) -> Result:
    body = _body_object(request)
    cert = state.create_origin_certificate(
        csr=body.get("csr"),
        hostnames=body.get("hostnames"),
        request_type=body.get("request_type"),
        requested_validity=body.get("requested_validity"),
    )
    return _origin_result(cert, echo_request=True), None


def _list_origin(state: ZoneState, request: _Request) -> Result:
    zone_id = request.query.get("zone_id", [""])[0]
    if not zone_id:
        raise SandboxApiError(
            1012, "Please provide a zone id when requesting a stored certificate, or fetch by serial number"
        )
    if zone_id != state.zone_id:
        raise SandboxApiError(1001, "Invalid zone identifier", status=404)
    return _page([_origin_result(c, echo_request=False) for c in state.list_origin_certificates()], request.query)


def _get_origin(state: ZoneState, request: _Request) -> Result:
    return _origin_result(state.get_origin_certificate(request.params["cert"]), echo_request=False), None


def _revoke_origin(state: ZoneState, request: _Request) -> Result:
    cert = state.revoke_origin_certificate(request.params["cert"])
    return {"id": cert.id, "revoked_at": format_timestamp(cert.revoked_at)}, None


def _list_zone_aop(state: ZoneState, request: _Request) -> Result:
    return _page([_aop_result(c) for c in state.list_zone_certificates()], request.query)


def _upload_zone_aop(state: ZoneState, request: _Request) -> Result:
    body = _body_object(request)
    return _aop_result(state.upload_zone_certificate(body.get("certificate"), body.get("private_key"))), None


def _get_zone_aop(state: ZoneState, request: _Request) -> Result:
    return _aop_result(state.get_zone_certificate(request.params["cert"])), None


def _delete_zone_aop(state: ZoneState, request: _Request) -> Result:
    return _aop_result(state.delete_zone_certificate(request.params["cert"])), None


def _get_aop_settings(state: ZoneState, request: _Request) -> Result:
    return {"enabled": state.zone_aop_enabled}, None


def _put_aop_settings(state: ZoneState, request: _Request) -> Result:
    body = _body_object(request)
    return {"enabled": state.set_zone_aop_enabled(body.get("enabled"))}, None


def _list_hostname_aop(state: ZoneState, request: _Request) -> Result:
    return _page([_aop_result(c) for c in state.list_hostname_certificates()], request.query)


def _upload_hostname_aop(state: ZoneState, request: _Request) -> Result:
    body = _body_object(request)
    return _aop_result(state.upload_hostname_certificate(body.get("certificate"), body.get("private_key"))), None


def _get_hostname_aop(state: ZoneState, request: _Request) -> Result:
    return _aop_result(state.get_hostname_certificate(request.params["cert"])), None


def _delete_hostname_aop(state: ZoneState, request: _Request) -> Result:
    return _aop_result(state.delete_hostname_certificate(request.params["cert"])), None


def _put_hostnames(state: ZoneState, request: _Request) -> Result:
    associations = state.set_hostname_associations(_body_object(request).get("config"))
    return [_association_result(a, state.association_certificate(a)) for a in associations], None


def _get_hostname(state: ZoneState, request: _Request) -> Result:
    association = state.get_hostname_association(request.params["hostname"])
    return _association_result(association, state.association_certificate(association)), None


_Z = r"/zones/(?P<zone>[^/]+)"
_AOP = _Z + "/origin_tls_client_auth"
_ROUTE_TABLE: tuple[tuple[str, dict[str, Handler]], ...] = (
    (_Z + "/settings", {"GET": _list_settings}),
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
_ROUTES = tuple((re.compile(pattern + "$"), handlers) for pattern, handlers in _ROUTE_TABLE)


class _Answer(Exception):
    """Short-circuits request handling with a complete error answer."""

    def __init__(self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    api: ApiServer


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes | None:
        """The request body; ``None`` when it is larger than any request this API takes."""
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        if size > _MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(size) if size else b""

    def _handle(self) -> None:
        api = self.server.api
        split = urlsplit(self.path)
        path = split.path[len(API_PREFIX) :] if split.path.startswith(API_PREFIX + "/") else None
        raw_body = self._read_body()
        try:
            status, payload = 200, self._dispatch(api, split.path, path, split.query, raw_body)
            headers: dict[str, str] = {}
        except _Answer as answer:
            status, headers = answer.status, answer.headers
            payload = {"success": False, "errors": answer.errors, "messages": [], "result": None}
        except SandboxApiError as exc:
            status, headers = exc.status, {}
            payload = {"success": False, "errors": [_error(exc.code, exc.message)], "messages": [], "result": None}
        except Exception:  # the sandbox must answer, never crash a client with a dropped connection
            status, headers = 500, {}
            payload = {"success": False, "errors": [_error(10001, "Internal error")], "messages": [], "result": None}
        api._record(RequestRecord(self.command, split.path, status))
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, api: ApiServer, full_path: str, path: str | None, query: str, raw_body: bytes | None) -> Any:
        if raw_body is None:
            raise _Answer(413, [_error(1007, f"Request body larger than {_MAX_BODY} bytes")])
        if path is not None:
            fault = api.faults.take(self.command, path)
            if fault is not None:
                api._sleep(fault.delay)
                if fault.status is not None:
                    retry = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                    if fault.status == 429:
                        throttled = _error(971, "Please wait and consider throttling your request speed")
                        raise _Answer(429, [throttled], retry)
                    raise _Answer(fault.status, [_error(10001, "Injected failure (sandbox fault)")], retry)
        no_route = _error(7000, "No route for that URI")
        if path is None:
            raise _Answer(404, [no_route])
        for pattern, candidates in _ROUTES:
            match = pattern.match(path)
            if match is not None:
                handlers = candidates
                break
        else:
            raise _Answer(404, [no_route])
        params = match.groupdict()
        zone = params.get("zone")
        if zone is not None and not _ZONE_ID.fullmatch(zone):
            message = f"Could not route to {full_path}, perhaps your object identifier is invalid?"
            raise _Answer(404, [_error(7003, message), no_route])
        handler = handlers.get(self.command)
        if handler is None:
            raise _Answer(405, [_error(7001, f"Method {self.command} not available for that URI.")])
        self._authenticate(api.state)
        if zone is not None and zone != api.state.zone_id:
            raise _Answer(404, [_error(1001, "Invalid zone identifier")])
        body: Any = None
        if self.command in ("POST", "PUT", "PATCH"):
            try:
                body = json.loads(raw_body or b"null")
            except (ValueError, UnicodeDecodeError):
                raise _Answer(400, [_error(6007, "Malformed JSON in request body")]) from None
        request = _Request(self.command, params, parse_qs(query), body)
        result, extra = handler(api.state, request)
        return {"success": True, "errors": [], "messages": [], "result": result, **(extra or {})}

    def _authenticate(self, state: ZoneState) -> None:
        authorization = self.headers.get("Authorization")
        if authorization is None:
            if any(self.headers.get(name) for name in ("X-Auth-Key", "X-Auth-Email", "X-Auth-User-Service-Key")):
                raise _Answer(403, [_error(10000, "Authentication error")])
            raise _Answer(400, [_error(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")])
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            chain = [_error(6111, "Invalid format for Authorization header")]
            raise _Answer(400, [{**_error(6003, "Invalid request headers"), "error_chain": chain}])
        if not state.is_account_token(token.strip()):
            raise _Answer(403, [_error(10000, "Authentication error")])


class ApiServer:
    """The emulator on ``host:port`` (port 0: a free port). Binds on construction; :meth:`start` serves.

    Use as a context manager (``with ApiServer(state) as api: ...``) or call :meth:`start`/:meth:`stop`.
    """

    def __init__(self, state: ZoneState, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.faults = Faults()
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=1000)
        self._records_lock = threading.Lock()
        self._stopping = threading.Event()
        server_class = _HttpServer6 if ":" in host else _HttpServer
        self._httpd = server_class((host, port), _RequestHandler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ApiServer(url={self.url!r}, zone_id={self.state.zone_id!r})"

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8123/client/v4`` (what ``base_url=`` takes)."""
        host, port = self.address
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}{API_PREFIX}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Method, path and status of the requests answered so far (the last 1000)."""
        with self._records_lock:
            return list(self._records)

    def _record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def start(self) -> ApiServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name="sandbox-api",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent. Injected delays end early."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
