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
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .baseline import Endpoint, TlsVersion
from .errors import InvalidInput
from .tls_client import (
    CLIENT_AUTH_ALERTS,
    LEGACY_CIPHERS,
    ErrorKind,
    HttpAnswer,
    can_offer,
    classify_error,
    connect,
    http_get,
    parse_handshake_certificate,
    record_handshake,
    short_error,
    tls_connection,
    unverified_context,
    verifying_context,
    version_context,
)

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

_NEGOTIATED_NAMES = {"TLSv1": TlsVersion.TLS_1_0, "TLSv1.1": TlsVersion.TLS_1_1, "TLSv1.2": TlsVersion.TLS_1_2,
                     "TLSv1.3": TlsVersion.TLS_1_3}  # fmt: skip

# nginx turns its internal 495/496 into "400 Bad Request" with these texts (ngx_http_special_response.c).
_NGINX_NO_CERT = "No required SSL certificate was sent"
_NGINX_CERT_ERROR = "The SSL certificate error"
_HTTP_CERT_ERROR = 495  # nginx: SSL Certificate Error
_HTTP_NO_CERT = 496  # nginx: SSL Certificate Required


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
# TLS versions


def probe_tls_version(endpoint: Endpoint, server_name: str, version: TlsVersion, *, timeout: float) -> VersionResult:
    """Offer exactly ``version`` (and nothing else) with SNI ``server_name``; report what the server did."""
    offerable, why = can_offer(version)
    if not offerable:
        return VersionResult(version, TlsOutcome.CLIENT_CANNOT_OFFER, None, why)
    try:
        with tls_connection(endpoint, server_name, version_context(version), timeout) as tls:
            negotiated = tls.version()
    except Exception as exc:
        kind, detail = classify_error(exc)
        outcome = {
            ErrorKind.ALERT: TlsOutcome.REFUSED,
            ErrorKind.OTHER_VERSION: TlsOutcome.REFUSED,
            ErrorKind.CLOSED: TlsOutcome.REFUSED,
            ErrorKind.CLIENT: TlsOutcome.CLIENT_CANNOT_OFFER,
            ErrorKind.UNREACHABLE: TlsOutcome.UNREACHABLE,
            ErrorKind.ERROR: TlsOutcome.ERROR,
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


def probe_https(endpoint: Endpoint, hostname: str, *, ca_pem: str | None, timeout: float) -> HttpsResult:
    """``GET /`` over TLS with SNI and ``Host`` = ``hostname``.

    First with verification (``ca_pem`` CAs, else the system store; hostname checked). When the certificate does
    not verify, ``verified`` is False with OpenSSL's reason, and the request is repeated without verification so
    the headers and certificate are still reported.
    """
    verified: bool | None = None
    verify_error = ""
    try:
        context = verifying_context(ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        context = None
        verify_error = f"the CA certificates could not be loaded: {short_error(exc)}"
    if context is not None:
        try:
            with tls_connection(endpoint, hostname, context, timeout) as tls:
                return _https_answer(tls, hostname, timeout, verified=True, verify_error="")
        except ssl.SSLCertVerificationError as exc:
            verified = False
            verify_error = f"certificate verify failed: {exc.verify_message or exc.reason}"
        except Exception as exc:
            _, detail = classify_error(exc)
            return HttpsResult(False, None, (), None, None, "", None, f"HTTPS to {endpoint}: {detail}")
    try:
        with tls_connection(endpoint, hostname, unverified_context(), timeout) as tls:
            return _https_answer(tls, hostname, timeout, verified=verified, verify_error=verify_error)
    except Exception as exc:
        _, detail = classify_error(exc)
        return HttpsResult(False, None, (), None, verified, verify_error, None, f"HTTPS to {endpoint}: {detail}")


def _https_answer(
    tls: ssl.SSLSocket, hostname: str, timeout: float, *, verified: bool | None, verify_error: str
) -> HttpsResult:
    certificate = tls.getpeercert(binary_form=True)
    negotiated = tls.version()
    try:
        answer = http_get(tls, hostname, timeout)
    except Exception as exc:
        _, detail = classify_error(exc)
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
        with connect(endpoint, timeout) as sock:
            answer = http_get(sock, hostname, timeout)
    except Exception as exc:
        _, detail = classify_error(exc)
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
    context = unverified_context(minimum=ssl.TLSVersion.TLSv1 if can_offer(TlsVersion.TLS_1_0)[0] else None)
    received = bytearray()
    try:
        with connect(endpoint, timeout) as sock:
            obj, error = record_handshake(sock, context, server_name, timeout, received)
    except Exception as exc:
        _, detail = classify_error(exc)
        return CertificateFetch(False, None, None, f"{endpoint}: {detail}")
    if error is None:
        der = obj.getpeercert(binary_form=True)
        negotiated = obj.version()
        if der:
            return CertificateFetch(True, der, negotiated, f"certificate presented over {negotiated}")
        return CertificateFetch(True, None, negotiated, "the server presented no certificate")
    der = parse_handshake_certificate(bytes(received))
    _, detail = classify_error(error)
    if der is not None:
        return CertificateFetch(True, der, None, f"certificate read from the handshake before it ended: {detail}")
    return CertificateFetch(False, None, None, f"{endpoint}: {detail}")


# --------------------------------------------------------------------------------------------------------------
# Authenticated Origin Pulls


@contextlib.contextmanager
def _client_context(cert_pem: str | None, key_pem: str | None) -> Iterator[ssl.SSLContext]:
    """An unverifying context that presents the client certificate, loaded from a private temp dir (0700/0600)
    that is removed as soon as OpenSSL has read it."""
    context = unverified_context()
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
            with tls_connection(endpoint, hostname, context, timeout) as tls:
                phase = "after-handshake"
                negotiated = tls.version()
                answer = http_get(tls, hostname, timeout)
        except Exception as exc:
            return _pull_failure(exc, phase, negotiated, endpoint)
    return _pull_answer(answer, negotiated)


def _pull_failure(exc: BaseException, phase: str, negotiated: str | None, endpoint: Endpoint) -> PullResult:
    kind, detail = classify_error(exc)
    if isinstance(exc, ssl.SSLError) and (exc.reason or "") in CLIENT_AUTH_ALERTS:
        how = "tls-alert-handshake" if phase == "handshake" else "tls-alert-after-handshake"
        when = "during the handshake" if phase == "handshake" else "on the first read after the handshake"
        return PullResult(AopOutcome.REFUSED, how, None, negotiated, f"{detail} {when}")
    if kind is ErrorKind.UNREACHABLE:
        return PullResult(AopOutcome.UNREACHABLE, "unreachable", None, negotiated, f"{endpoint}: {detail}")
    where = "during the handshake" if phase == "handshake" else "after the handshake, before an HTTP answer"
    return PullResult(AopOutcome.ERROR, "no-answer", None, negotiated, f"{endpoint}: {detail} {where}")


def _pull_answer(answer: HttpAnswer, negotiated: str | None) -> PullResult:
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
