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
400    1007    invalid values (settings, CSR, hostnames, validity, AOP uploads, an ``auto_origin_tls_kex`` body
               without a boolean ``enabled``, an unknown compliance mode); "CSR parsed as empty" for non-PEM
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
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api_routes import ROUTES, ApiRequest, format_expires_on, format_timestamp
from .state import SandboxApiError, ZoneState

__all__ = ["API_PREFIX", "ApiServer", "Faults", "RequestRecord", "format_expires_on", "format_timestamp"]

API_PREFIX = "/client/v4"
#: An idle keep-alive connection is closed after this many seconds, so no handler thread lingers for long.
_IDLE_TIMEOUT = 10.0
#: Largest request body read: 200 hostnames and a CSR fit many times over; anything bigger is refused unread.
_MAX_BODY = 1 << 20
#: How often the accept loop checks for stop(): short enough that stopping a sandbox feels instant.
_POLL_INTERVAL = 0.05
_ZONE_ID = re.compile(r"[0-9a-f]{32}")


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
        for pattern, candidates in ROUTES:
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
        request = ApiRequest(self.command, params, parse_qs(query), body)
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
