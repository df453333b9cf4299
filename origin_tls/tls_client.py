"""The TLS and HTTP client under the probes: exact control where ordinary clients decide for you.

- contexts that really offer one protocol version (legacy ones at OpenSSL security level 0), or verify nothing;
- :func:`can_offer`: whether this OpenSSL would even send a ClientHello for a version (offline);
- :func:`classify_error`: what a failed handshake or read means (alert, close, unreachable, client-side, other);
- :func:`http_get`: one ``GET /`` on a connected socket, every raw header kept;
- :func:`record_handshake` + :func:`parse_handshake_certificate`: the server certificate of a handshake the server
  aborts (a TLS 1.2 server demanding a client certificate).

Only :mod:`origin_tls.probes` uses this module; it raises the standard library's errors for the probes to record.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import http.client
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from .baseline import Endpoint, TlsVersion

__all__ = [
    "CLIENT_AUTH_ALERTS",
    "LEGACY_CIPHERS",
    "ErrorKind",
    "HttpAnswer",
    "alert_name",
    "can_offer",
    "classify_error",
    "connect",
    "http_get",
    "parse_handshake_certificate",
    "record_handshake",
    "short_error",
    "tls_connection",
    "unverified_context",
    "verifying_context",
    "version_context",
]

#: OpenSSL 3 forbids TLS 1.0/1.1 at security level 1 and above (SHA-1 handshake signatures): a client that wants to
#: really offer them must drop to level 0 (OpenSSL 3.0 migration guide, "TLS 1.0 and 1.1 ... security level 0").
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
#: Bytes of an HTTP body kept for inspection: enough for nginx's error pages, bounded against a firehose.
_BODY_LIMIT = 64 * 1024

_SSL_VERSIONS: dict[TlsVersion, ssl.TLSVersion] = {
    TlsVersion.TLS_1_0: ssl.TLSVersion.TLSv1,
    TlsVersion.TLS_1_1: ssl.TLSVersion.TLSv1_1,
    TlsVersion.TLS_1_2: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS_1_3: ssl.TLSVersion.TLSv1_3,
}
_HAS_VERSION: dict[TlsVersion, bool] = {
    TlsVersion.TLS_1_0: ssl.HAS_TLSv1,
    TlsVersion.TLS_1_1: ssl.HAS_TLSv1_1,
    TlsVersion.TLS_1_2: ssl.HAS_TLSv1_2,
    TlsVersion.TLS_1_3: ssl.HAS_TLSv1_3,
}

# Python warns when a context is pinned to TLS 1.0/1.1; saying so is the point of the probe. catch_warnings() is
# process-global, so contexts are built under one lock.
_CONTEXT_LOCK = threading.Lock()

# --------------------------------------------------------------------------------------------------------------
# Errors -> outcomes
#
# How a failed handshake is told apart, as OpenSSL 3.0 reports it through ssl.SSLError.reason (checked against
# nginx 1.22 and Python ssl servers on loopback, tests/test_probes.py):
#
#   reason                               raised when                                       outcome
#   NO_PROTOCOLS_AVAILABLE,              the client has nothing to offer (version disabled    client-cannot-offer
#   NO_CIPHERS_AVAILABLE                 or security level too high); raised before any byte
#                                        is sent. can_offer() checks this up front, offline.
#   TLSV1_ALERT_*, SSLV3_ALERT_*,        the server sent this alert (protocol_version,        refused
#   TLSV13_ALERT_*                       handshake_failure, certificate_required, ...)
#   SSLEOFError, UNEXPECTED_EOF_WHILE_   the server closed or reset the connection mid-       refused (version)
#   READING, ConnectionResetError        handshake                                            error (pull)
#   UNSUPPORTED_PROTOCOL,                the server answered with a version that was not      refused
#   WRONG_SSL_VERSION                    offered (after the ClientHello went out)
#   WRONG_VERSION_NUMBER, HTTP_REQUEST,  the peer does not speak TLS (e.g. a plain-HTTP       error
#   RECORD_LAYER_FAILURE, other          port)
#   TimeoutError, ConnectionRefused,     nothing answered                                     unreachable
#   gaierror


class ErrorKind(enum.Enum):
    """What a failure says about the peer (see the table above); the probes map kinds to their outcomes."""

    ALERT = "alert"
    CLOSED = "closed"
    OTHER_VERSION = "other-version"
    CLIENT = "client"
    UNREACHABLE = "unreachable"
    ERROR = "error"


_CLIENT_REASONS = frozenset({"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"})
_OTHER_VERSION_REASONS = frozenset({"UNSUPPORTED_PROTOCOL", "WRONG_SSL_VERSION", "TLSV1_ALERT_PROTOCOL_VERSION"})
# Alerts that say "your certificate (or its absence) is not acceptable" (RFC 8446 section 6.2; OpenSSL sends
# handshake_failure on TLS 1.2 when a required client certificate is missing). Other alerts, protocol_version
# above all, are not evidence of client authentication and leave a pull probe at ERROR.
CLIENT_AUTH_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
_ALERT_PREFIXES = ("TLSV1_ALERT_", "SSLV3_ALERT_", "TLSV13_ALERT_", "TLSV1_UNRECOGNIZED_NAME")


def alert_name(reason: str) -> str:
    """``SSLV3_ALERT_HANDSHAKE_FAILURE`` -> ``handshake_failure`` (the RFC 8446 section 6 name)."""
    for prefix in _ALERT_PREFIXES:
        if reason.startswith(prefix):
            return reason[len(prefix) :].lower() or reason.lower()
    return reason.lower()


def classify_error(exc: BaseException) -> tuple[ErrorKind, str]:
    """The kind of a handshake or I/O failure and a one-line description (never a traceback)."""
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
            return ErrorKind.CLOSED, "the server closed the connection during the TLS exchange"
        if reason.startswith(_ALERT_PREFIXES):
            kind = ErrorKind.OTHER_VERSION if reason == "TLSV1_ALERT_PROTOCOL_VERSION" else ErrorKind.ALERT
            return kind, f"the server sent TLS alert {alert_name(reason)} ({reason})"
        if reason in _OTHER_VERSION_REASONS:
            return (
                ErrorKind.OTHER_VERSION,
                f"the server answered with a protocol version that was not offered ({reason})",
            )
        if reason in _CLIENT_REASONS:
            return ErrorKind.CLIENT, f"the local OpenSSL cannot offer this ({reason})"
        return ErrorKind.ERROR, f"TLS error: {reason or exc.__class__.__name__}: {short_error(exc)}"
    if isinstance(exc, TimeoutError):
        return ErrorKind.UNREACHABLE, "no answer within the timeout"
    if isinstance(exc, socket.gaierror):
        return ErrorKind.UNREACHABLE, f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.UNREACHABLE, "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return ErrorKind.CLOSED, "the server reset the connection"
    if isinstance(exc, http.client.HTTPException):
        return ErrorKind.ERROR, f"not an HTTP answer: {exc.__class__.__name__}: {short_error(exc)}"
    if isinstance(exc, OSError):
        return ErrorKind.UNREACHABLE, f"network error: {exc.strerror or exc.__class__.__name__}"
    return ErrorKind.ERROR, f"{exc.__class__.__name__}: {short_error(exc)}"


def short_error(exc: BaseException) -> str:
    """``str(exc)`` on one bounded line, for ``detail`` fields."""
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------------------------------------------
# Contexts and connections


def unverified_context(
    *, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context that checks nothing about the server (the probes report; ``verify`` judges)."""
    with _CONTEXT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        if minimum in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            context.set_ciphers(LEGACY_CIPHERS)
    return context


def version_context(version: TlsVersion) -> ssl.SSLContext:
    """A client that offers exactly ``version`` (legacy versions at security level 0, so they are really sent)."""
    pinned = _SSL_VERSIONS[version]
    return unverified_context(minimum=pinned, maximum=pinned)


@functools.lru_cache(maxsize=8)
def verifying_context(ca_pem: str | None) -> ssl.SSLContext:
    """TLS 1.2+, CERT_REQUIRED, hostname checked; trusting only ``ca_pem`` when given, else the system store.

    Cached: loading the system store costs ~30 ms of CPU, once per HTTPS probe before this cache, and a configured
    context is safe to share between threads (OpenSSL's SSL_CTX; nothing here changes it after creation). The key is
    CA text only, never a secret.
    """
    return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()


@functools.cache
def can_offer(version: TlsVersion) -> tuple[bool, str]:
    """Whether this Python/OpenSSL can send a ClientHello offering ``version``, and why not. Offline: the
    handshake runs into memory buffers, so nothing is sent anywhere."""
    if not _HAS_VERSION[version]:
        return False, f"this Python's OpenSSL ({ssl.OPENSSL_VERSION}) was built without TLS {version}"
    try:
        context = version_context(version)
        obj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="offer.invalid")
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return True, ""  # the ClientHello is written and the client waits for the server: it can offer
    except (ssl.SSLError, ValueError) as exc:
        return False, f"the local OpenSSL ({ssl.OPENSSL_VERSION}) refuses to offer TLS {version}: {short_error(exc)}"
    return False, "unexpected: a handshake completed without a peer"


def connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    """A TCP connection (name resolution included) within ``timeout``; OSError otherwise."""
    return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)


@contextlib.contextmanager
def tls_connection(
    endpoint: Endpoint, server_name: str, context: ssl.SSLContext, timeout: float
) -> Iterator[ssl.SSLSocket]:
    """A TLS connection with the handshake done; OSError/SSLError propagate for the caller to classify."""
    raw = connect(endpoint, timeout)
    try:
        raw.settimeout(timeout)
        tls = context.wrap_socket(raw, server_hostname=server_name, do_handshake_on_connect=False)
    except BaseException:
        raw.close()
        raise
    with tls:
        tls.do_handshake()
        yield tls


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP response as received: status, every header (name, value) in order, the first bytes of the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)


def http_get(sock: socket.socket, hostname: str, timeout: float) -> HttpAnswer:
    """``GET / HTTP/1.1`` with ``Host: hostname`` on a connected socket; the answer's status, raw headers, body."""
    sock.settimeout(timeout)
    request = (
        f"GET / HTTP/1.1\r\nHost: {hostname}\r\nUser-Agent: origin-tls-probe\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        sock.sendall(request.encode("ascii"))
    except OSError:
        _raise_pending_alert(sock)
        raise
    response = http.client.HTTPResponse(sock, method="GET")
    try:
        response.begin()
        headers = tuple(response.msg.items())
        try:
            body = response.read(_BODY_LIMIT)
        except (http.client.IncompleteRead, OSError):
            body = b""  # the status and headers are what the probes judge; a torn body is not worth failing for
        return HttpAnswer(response.status, headers, body)
    finally:
        response.close()


def _raise_pending_alert(sock: socket.socket) -> None:
    """After a failed write, raise the TLS alert that may be waiting in the receive buffer.

    A TLS 1.3 server that refuses the client certificate sends its alert and closes right after the client's
    Finished; a request written at that moment fails (EOF/EPIPE) while the alert is already here. Seen in about
    one connection in five against a Python server on loopback (tests/test_probes.py).
    """
    if not isinstance(sock, ssl.SSLSocket):
        return
    try:
        sock.recv(1)
    except ssl.SSLError as alert:
        if (alert.reason or "").startswith(_ALERT_PREFIXES):
            raise alert from None
    except OSError:
        return


def record_handshake(
    sock: socket.socket, context: ssl.SSLContext, server_name: str, timeout: float, received: bytearray
) -> tuple[ssl.SSLObject, BaseException | None]:
    """A client handshake through memory buffers, keeping every byte the server sent in ``received``.

    Returns the TLS object and the SSLError that ended the handshake (None when it completed). Socket errors
    other than a reset propagate.
    """
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    sock.settimeout(timeout)
    while True:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            _flush(sock, outgoing)
            data = sock.recv(65536)
            if not data:
                incoming.write_eof()
            received.extend(data)
            incoming.write(data)
            continue
        except ssl.SSLError as exc:
            with contextlib.suppress(OSError):
                _flush(sock, outgoing)  # our own alert, politely
            return obj, exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            return obj, exc
        with contextlib.suppress(OSError):
            _flush(sock, outgoing)
        return obj, None


def _flush(sock: socket.socket, outgoing: ssl.MemoryBIO) -> None:
    pending = outgoing.read()
    if pending:
        sock.sendall(pending)


def parse_handshake_certificate(data: bytes) -> bytes | None:
    """The first certificate of a cleartext (TLS 1.0-1.2) Certificate handshake message in raw records.

    RFC 5246 section 6.2 (records: type, version, length) and 7.4.2 (Certificate: 24-bit list length, then 24-bit
    length + DER for each certificate). Handshake records after ChangeCipherSpec are encrypted and ignored.
    """
    handshake = bytearray()
    offset = 0
    while offset + 5 <= len(data):
        content_type, _version, length = struct.unpack("!BHH", data[offset : offset + 5])
        fragment = data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if content_type == 20:  # change_cipher_spec: what follows is encrypted
            break
        if content_type == 22:
            handshake.extend(fragment)
    position = 0
    while position + 4 <= len(handshake):
        message_type = handshake[position]
        length = int.from_bytes(handshake[position + 1 : position + 4], "big")
        body = bytes(handshake[position + 4 : position + 4 + length])
        position += 4 + length
        if message_type == 11 and len(body) >= 6:
            first = int.from_bytes(body[3:6], "big")
            der = body[6 : 6 + first]
            return der if len(der) == first and first > 0 else None
    return None
