"""Network probes: connect, handshake, ask, and record what happened. Judge nothing.

Every probe connects to an :class:`~origin_tls.baseline.Endpoint` while sending SNI (and ``Host``) for a hostname,
bounds each operation (connect, handshake, each read) by ``timeout``, and never raises for a network condition:
the outcome comes back as a frozen dataclass. Deciding whether an outcome passes a check is ``verify``'s job.

The standard library (``ssl``, ``socket``, ``http.client``) is used rather than an HTTP client because the probes
need what HTTP clients hide: every raw header value in order, the exact TLS alert, a client that offers exactly one
protocol version, and the server certificate of a handshake that the server then aborts.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import http.client
import os
import socket
import ssl
import struct
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .baseline import Endpoint, TlsVersion
from .errors import InvalidInput

__all__ = [
    "DEFAULT_CONCURRENCY",
    "LEGACY_CIPHERS",
    "AopOutcome",
    "CertificateFetch",
    "HttpsResult",
    "PullResult",
    "RedirectResult",
    "TlsOutcome",
    "VersionResult",
    "can_offer",
    "fetch_certificate",
    "probe_http_redirect",
    "probe_https",
    "probe_origin_pull",
    "probe_tls_version",
    "probe_tls_versions",
    "run_concurrently",
]

T = TypeVar("T")

#: Threads for many targets x probes at once: probes wait on the network, not the CPU.
DEFAULT_CONCURRENCY = 16
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
_LEGACY = frozenset({TlsVersion.TLS_1_0, TlsVersion.TLS_1_1})
_NEGOTIATED_NAMES = {"TLSv1": TlsVersion.TLS_1_0, "TLSv1.1": TlsVersion.TLS_1_1, "TLSv1.2": TlsVersion.TLS_1_2,
                     "TLSv1.3": TlsVersion.TLS_1_3}  # fmt: skip

# nginx turns its internal 495/496 into "400 Bad Request" with these texts (ngx_http_special_response.c).
_NGINX_NO_CERT = "No required SSL certificate was sent"
_NGINX_CERT_ERROR = "The SSL certificate error"
_HTTP_CERT_ERROR = 495  # nginx: SSL Certificate Error
_HTTP_NO_CERT = 496  # nginx: SSL Certificate Required

# Python warns when a context is pinned to TLS 1.0/1.1; saying so is the point of the probe. catch_warnings() is
# process-global, so contexts are built under one lock.
_CONTEXT_LOCK = threading.Lock()


class TlsOutcome(str, enum.Enum):
    """What happened when a client offered exactly one TLS version."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # the server answered with an alert, or closed the connection during the handshake
    CLIENT_CANNOT_OFFER = "client-cannot-offer"  # the local OpenSSL would not even send the ClientHello
    UNREACHABLE = "unreachable"  # DNS failure, refused TCP connection, or no answer within the timeout
    ERROR = "error"  # anything else (e.g. the peer does not speak TLS)

    def __str__(self) -> str:
        return self.value


class AopOutcome(str, enum.Enum):
    """Whether an origin served a pull (a request for ``/``) over the TLS connection."""

    REFUSED = "refused"
    ACCEPTED = "accepted"
    UNREACHABLE = "unreachable"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class VersionResult:
    version: TlsVersion
    outcome: TlsOutcome
    negotiated: str | None  # e.g. "TLSv1.2", as ssl.SSLSocket.version() names it
    detail: str


@dataclass(frozen=True)
class HttpsResult:
    reached: bool  # TLS handshake done and an HTTP status line read
    status: int | None
    sts_headers: tuple[str, ...]  # every Strict-Transport-Security value, raw, in order received
    certificate_der: bytes | None  # the leaf the server presented
    verified: bool | None  # chain trusted AND hostname matched; None when verification could not be tried
    verify_error: str  # "certificate verify failed: <OpenSSL's reason>" when verified is False, else ""
    negotiated: str | None
    detail: str


@dataclass(frozen=True)
class RedirectResult:
    reached: bool  # an HTTP status line was read
    status: int | None
    location: str | None  # the Location header, raw; None when absent
    detail: str


@dataclass(frozen=True)
class CertificateFetch:
    reached: bool
    certificate_der: bytes | None
    negotiated: str | None
    detail: str


@dataclass(frozen=True)
class PullResult:
    outcome: AopOutcome
    how: str  # which evidence: "tls-alert-handshake", "tls-alert-after-handshake", "http-400-no-cert", "http-200"...
    status: int | None
    negotiated: str | None
    detail: str


# --------------------------------------------------------------------------------------------------------------
# Concurrency


def run_concurrently(fns: Sequence[Callable[[], T]], *, max_workers: int = DEFAULT_CONCURRENCY) -> list[T]:
    """Call every function in threads; results in the order of ``fns``. Exceptions propagate (probes raise none)."""
    if not fns:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(fns))), thread_name_prefix="probe") as pool:
        futures = [pool.submit(fn) for fn in fns]
        return [future.result() for future in futures]


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


class _Kind(enum.Enum):
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
_CLIENT_AUTH_ALERTS = frozenset(
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


def _alert_name(reason: str) -> str:
    """``SSLV3_ALERT_HANDSHAKE_FAILURE`` -> ``handshake_failure`` (the RFC 8446 section 6 name)."""
    for prefix in _ALERT_PREFIXES:
        if reason.startswith(prefix):
            return reason[len(prefix) :].lower() or reason.lower()
    return reason.lower()


def _classify(exc: BaseException) -> tuple[_Kind, str]:
    """The kind of a handshake or I/O failure and a one-line description (never a traceback)."""
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
            return _Kind.CLOSED, "the server closed the connection during the TLS exchange"
        if reason.startswith(_ALERT_PREFIXES):
            kind = _Kind.OTHER_VERSION if reason == "TLSV1_ALERT_PROTOCOL_VERSION" else _Kind.ALERT
            return kind, f"the server sent TLS alert {_alert_name(reason)} ({reason})"
        if reason in _OTHER_VERSION_REASONS:
            return _Kind.OTHER_VERSION, f"the server answered with a protocol version that was not offered ({reason})"
        if reason in _CLIENT_REASONS:
            return _Kind.CLIENT, f"the local OpenSSL cannot offer this ({reason})"
        return _Kind.ERROR, f"TLS error: {reason or exc.__class__.__name__}: {_short(exc)}"
    if isinstance(exc, TimeoutError):
        return _Kind.UNREACHABLE, "no answer within the timeout"
    if isinstance(exc, socket.gaierror):
        return _Kind.UNREACHABLE, f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return _Kind.UNREACHABLE, "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return _Kind.CLOSED, "the server reset the connection"
    if isinstance(exc, http.client.HTTPException):
        return _Kind.ERROR, f"not an HTTP answer: {exc.__class__.__name__}: {_short(exc)}"
    if isinstance(exc, OSError):
        return _Kind.UNREACHABLE, f"network error: {exc.strerror or exc.__class__.__name__}"
    return _Kind.ERROR, f"{exc.__class__.__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------------------------------------------
# Contexts and connections


def _unverified_context(
    *, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
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


def _version_context(version: TlsVersion) -> ssl.SSLContext:
    """A client that offers exactly ``version`` (legacy versions at security level 0, so they are really sent)."""
    pinned = _SSL_VERSIONS[version]
    return _unverified_context(minimum=pinned, maximum=pinned)


@functools.cache
def can_offer(version: TlsVersion) -> tuple[bool, str]:
    """Whether this Python/OpenSSL can send a ClientHello offering ``version``, and why not. Offline: the
    handshake runs into memory buffers, so nothing is sent anywhere."""
    if not _HAS_VERSION[version]:
        return False, f"this Python's OpenSSL ({ssl.OPENSSL_VERSION}) was built without TLS {version}"
    try:
        context = _version_context(version)
        obj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="offer.invalid")
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return True, ""  # the ClientHello is written and the client waits for the server: it can offer
    except (ssl.SSLError, ValueError) as exc:
        return False, f"the local OpenSSL ({ssl.OPENSSL_VERSION}) refuses to offer TLS {version}: {_short(exc)}"
    return False, "unexpected: a handshake completed without a peer"


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)


@contextlib.contextmanager
def _tls(endpoint: Endpoint, server_name: str, context: ssl.SSLContext, timeout: float) -> Iterator[ssl.SSLSocket]:
    """A TLS connection with the handshake done; OSError/SSLError propagate for the caller to classify."""
    raw = _connect(endpoint, timeout)
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
class _HttpAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)


def _http_get(sock: socket.socket, hostname: str, timeout: float) -> _HttpAnswer:
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
        return _HttpAnswer(response.status, headers, body)
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


# --------------------------------------------------------------------------------------------------------------
# TLS versions


def probe_tls_version(endpoint: Endpoint, server_name: str, version: TlsVersion, *, timeout: float) -> VersionResult:
    """Offer exactly ``version`` (and nothing else) with SNI ``server_name``; report what the server did."""
    offerable, why = can_offer(version)
    if not offerable:
        return VersionResult(version, TlsOutcome.CLIENT_CANNOT_OFFER, None, why)
    try:
        with _tls(endpoint, server_name, _version_context(version), timeout) as tls:
            negotiated = tls.version()
    except Exception as exc:
        kind, detail = _classify(exc)
        outcome = {
            _Kind.ALERT: TlsOutcome.REFUSED,
            _Kind.OTHER_VERSION: TlsOutcome.REFUSED,
            _Kind.CLOSED: TlsOutcome.REFUSED,
            _Kind.CLIENT: TlsOutcome.CLIENT_CANNOT_OFFER,
            _Kind.UNREACHABLE: TlsOutcome.UNREACHABLE,
            _Kind.ERROR: TlsOutcome.ERROR,
        }[kind]
        return VersionResult(version, outcome, None, f"TLS {version} to {endpoint}: {detail}")
    if _NEGOTIATED_NAMES.get(negotiated or "") is not version:
        return VersionResult(version, TlsOutcome.ERROR, negotiated, f"offered only TLS {version}, got {negotiated}")
    return VersionResult(version, TlsOutcome.ACCEPTED, negotiated, f"TLS {version} to {endpoint}: accepted")


def probe_tls_versions(
    endpoint: Endpoint, server_name: str, versions: Iterable[TlsVersion], *, timeout: float
) -> dict[TlsVersion, VersionResult]:
    """:func:`probe_tls_version` for each version, concurrently; keys in the order given."""
    wanted = list(dict.fromkeys(versions))
    results = run_concurrently(
        [functools.partial(probe_tls_version, endpoint, server_name, v, timeout=timeout) for v in wanted],
        max_workers=len(wanted) or 1,
    )
    return dict(zip(wanted, results, strict=True))


# --------------------------------------------------------------------------------------------------------------
# HTTPS and HTTP


def _verifying_context(ca_pem: str | None) -> ssl.SSLContext:
    # create_default_context: TLS 1.2+, check_hostname on, CERT_REQUIRED; with cadata only those CAs are trusted.
    return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()


def probe_https(endpoint: Endpoint, hostname: str, *, ca_pem: str | None, timeout: float) -> HttpsResult:
    """``GET /`` over TLS with SNI and ``Host`` = ``hostname``.

    First with verification (``ca_pem`` CAs, else the system store; hostname checked). When the certificate does
    not verify, ``verified`` is False with OpenSSL's reason, and the request is repeated without verification so
    the headers and certificate are still reported.
    """
    verified: bool | None = None
    verify_error = ""
    try:
        context = _verifying_context(ca_pem)
    except ssl.SSLError as exc:
        context = None
        verify_error = f"the CA certificates could not be loaded: {_short(exc)}"
    if context is not None:
        try:
            with _tls(endpoint, hostname, context, timeout) as tls:
                return _https_answer(tls, hostname, timeout, verified=True, verify_error="")
        except ssl.SSLCertVerificationError as exc:
            verified = False
            verify_error = f"certificate verify failed: {exc.verify_message or exc.reason}"
        except Exception as exc:
            _, detail = _classify(exc)
            return HttpsResult(False, None, (), None, None, "", None, f"HTTPS to {endpoint}: {detail}")
    try:
        with _tls(endpoint, hostname, _unverified_context(), timeout) as tls:
            return _https_answer(tls, hostname, timeout, verified=verified, verify_error=verify_error)
    except Exception as exc:
        _, detail = _classify(exc)
        return HttpsResult(False, None, (), None, verified, verify_error, None, f"HTTPS to {endpoint}: {detail}")


def _https_answer(
    tls: ssl.SSLSocket, hostname: str, timeout: float, *, verified: bool | None, verify_error: str
) -> HttpsResult:
    certificate = tls.getpeercert(binary_form=True)
    negotiated = tls.version()
    try:
        answer = _http_get(tls, hostname, timeout)
    except Exception as exc:
        _, detail = _classify(exc)
        return HttpsResult(
            False, None, (), certificate, verified, verify_error, negotiated, f"after the handshake: {detail}"
        )
    return HttpsResult(
        reached=True,
        status=answer.status,
        sts_headers=answer.all("Strict-Transport-Security"),
        certificate_der=certificate,
        verified=verified,
        verify_error=verify_error,
        negotiated=negotiated,
        detail=f"HTTP {answer.status} over {negotiated}",
    )


def probe_http_redirect(endpoint: Endpoint, hostname: str, *, timeout: float) -> RedirectResult:
    """Plain-HTTP ``GET /`` with ``Host: hostname``; the status and ``Location``, without following anything."""
    try:
        with _connect(endpoint, timeout) as sock:
            answer = _http_get(sock, hostname, timeout)
    except Exception as exc:
        _, detail = _classify(exc)
        return RedirectResult(False, None, None, f"HTTP to {endpoint}: {detail}")
    locations = answer.all("Location")
    location = locations[0] if locations else None
    return RedirectResult(
        True, answer.status, location, f"HTTP {answer.status}" + (f" to {location}" if location else "")
    )


# --------------------------------------------------------------------------------------------------------------
# Certificate


def fetch_certificate(endpoint: Endpoint, server_name: str, *, timeout: float) -> CertificateFetch:
    """The leaf certificate the server presents for ``server_name``, without verifying anything.

    Works against servers that demand a client certificate: on TLS 1.3 the client's side of the handshake is
    complete before the server's alert; on TLS 1.2 the Certificate message travels in clear before the
    CertificateRequest, so it is read from the recorded handshake bytes when the handshake is aborted.
    """
    context = _unverified_context(minimum=ssl.TLSVersion.TLSv1 if can_offer(TlsVersion.TLS_1_0)[0] else None)
    received = bytearray()
    try:
        with _connect(endpoint, timeout) as sock:
            obj, error = _pump_handshake(sock, context, server_name, timeout, received)
    except Exception as exc:
        _, detail = _classify(exc)
        return CertificateFetch(False, None, None, f"{endpoint}: {detail}")
    if error is None:
        der = obj.getpeercert(binary_form=True)
        negotiated = obj.version()
        if der:
            return CertificateFetch(True, der, negotiated, f"certificate presented over {negotiated}")
        return CertificateFetch(True, None, negotiated, "the server presented no certificate")
    der = _certificate_from_records(bytes(received))
    _, detail = _classify(error)
    if der is not None:
        return CertificateFetch(True, der, None, f"certificate read from the handshake before it ended: {detail}")
    return CertificateFetch(False, None, None, f"{endpoint}: {detail}")


def _pump_handshake(
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


def _certificate_from_records(data: bytes) -> bytes | None:
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


# --------------------------------------------------------------------------------------------------------------
# Authenticated Origin Pulls


@contextlib.contextmanager
def _client_context(cert_pem: str | None, key_pem: str | None) -> Iterator[ssl.SSLContext]:
    """An unverifying context that presents the client certificate, loaded from a private temp dir (0700/0600)
    that is removed as soon as OpenSSL has read it."""
    context = _unverified_context()
    if cert_pem is None and key_pem is None:
        yield context
        return
    if not cert_pem or not key_pem:
        raise InvalidInput("client_cert", "(PEM not shown)", "a PEM certificate together with its private key")
    with tempfile.TemporaryDirectory(prefix="origin-tls-") as directory:
        cert_file = os.path.join(directory, "client.pem")
        key_file = os.path.join(directory, "client.key")
        for path, text in ((cert_file, cert_pem), (key_file, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii", errors="strict") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError, ValueError):
            # Deliberately no detail and no chaining: OpenSSL's text might quote the PEM.
            raise InvalidInput(
                "client_cert", "(PEM not shown)", "a PEM certificate and the PEM private key that matches it"
            ) from None
    yield context


def probe_origin_pull(
    endpoint: Endpoint,
    hostname: str,
    *,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    timeout: float,
) -> PullResult:
    """Ask the origin for ``/`` (SNI and ``Host`` = ``hostname``), with or without a client certificate.

    REFUSED when the server sends a TLS alert (during the handshake on TLS 1.2, or on the first read on TLS 1.3,
    where the client's handshake completes before the server checks the certificate), or answers nginx's
    "400 No required SSL certificate was sent" / "400 The SSL certificate error", or HTTP 495/496. Any other HTTP
    answer is ACCEPTED (``ssl_verify_client optional`` serves the request without a certificate). An abrupt close
    without an alert proves nothing and is ERROR.

    Raises :class:`InvalidInput` (before connecting) when only one PEM is given or they do not load together.
    """
    with _client_context(client_cert_pem, client_key_pem) as context:
        phase = "handshake"
        negotiated: str | None = None
        try:
            with _tls(endpoint, hostname, context, timeout) as tls:
                phase = "after-handshake"
                negotiated = tls.version()
                answer = _http_get(tls, hostname, timeout)
        except Exception as exc:
            return _pull_failure(exc, phase, negotiated, endpoint)
    return _pull_answer(answer, negotiated)


def _pull_failure(exc: BaseException, phase: str, negotiated: str | None, endpoint: Endpoint) -> PullResult:
    kind, detail = _classify(exc)
    if isinstance(exc, ssl.SSLError) and (exc.reason or "") in _CLIENT_AUTH_ALERTS:
        how = "tls-alert-handshake" if phase == "handshake" else "tls-alert-after-handshake"
        when = "during the handshake" if phase == "handshake" else "on the first read after the handshake"
        return PullResult(AopOutcome.REFUSED, how, None, negotiated, f"{detail} {when}")
    if kind is _Kind.UNREACHABLE:
        return PullResult(AopOutcome.UNREACHABLE, "unreachable", None, negotiated, f"{endpoint}: {detail}")
    where = "during the handshake" if phase == "handshake" else "after the handshake, before an HTTP answer"
    return PullResult(AopOutcome.ERROR, "no-answer", None, negotiated, f"{endpoint}: {detail} {where}")


def _pull_answer(answer: _HttpAnswer, negotiated: str | None) -> PullResult:
    text = answer.body.decode("utf-8", "replace")
    if answer.status == 400 and _NGINX_NO_CERT in text:
        return PullResult(AopOutcome.REFUSED, "http-400-no-cert", 400, negotiated, f"HTTP 400 {_NGINX_NO_CERT}")
    if answer.status == 400 and _NGINX_CERT_ERROR in text:
        return PullResult(AopOutcome.REFUSED, "http-400-cert-error", 400, negotiated, f"HTTP 400 {_NGINX_CERT_ERROR}")
    if answer.status == _HTTP_NO_CERT:
        return PullResult(AopOutcome.REFUSED, "http-496", 496, negotiated, "HTTP 496 SSL Certificate Required")
    if answer.status == _HTTP_CERT_ERROR:
        return PullResult(AopOutcome.REFUSED, "http-495", 495, negotiated, "HTTP 495 SSL Certificate Error")
    return PullResult(
        AopOutcome.ACCEPTED, f"http-{answer.status}", answer.status, negotiated, f"HTTP {answer.status} served"
    )
