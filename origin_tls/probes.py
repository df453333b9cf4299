"""Network probes: connect, handshake, ask, and record what happened. Judge nothing.

Every probe connects to an :class:`~origin_tls.baseline.Endpoint` while sending SNI (and ``Host``) for a hostname,
ends within ``timeout`` AS A WHOLE (connect, handshake, request, the whole answer: one monotonic
:class:`~origin_tls.tls_client.Deadline`, cut to the run's ``deadline`` when that comes first), reads nothing past
the bounds of :mod:`origin_tls.tls_wire`, and never raises for a network condition: the outcome comes back as a
frozen dataclass. Deciding whether an outcome passes a check is ``verify``'s job.

The standard library (``ssl``, ``socket``) is used rather than an HTTP client because the probes need what HTTP
clients hide: every raw header value in order, the exact TLS alert, a client that offers exactly one protocol
version, the server certificate of a handshake that the server then aborts, and a bound on the whole exchange.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from .baseline import Endpoint, TlsVersion
from .errors import InvalidInput
from .tls_client import (
    CLIENT_AUTH_ALERTS,
    LEGACY_CIPHERS,
    PULL,
    ErrorKind,
    build_client_contexts,
    can_offer,
    classify_error,
    parse_handshake_certificate,
    server_alert,
    short_error,
    unverified_context,
    verifying_context,
    version_context,
)
from .tls_io import Deadline, PlainStream, TlsStream, connect, http_get
from .tls_wire import BoundExceeded, HttpAnswer, ServerHelloReader, parse_certificate_request

if TYPE_CHECKING:
    from .probe_results import (
        AopOutcome,
        CertificateFetch,
        HttpsResult,
        PullResult,
        RedirectResult,
        TlsOutcome,
        VersionResult,
    )

T = TypeVar("T")

# The results (probe_results.py) are made after an answer, so each probe imports them where it makes one, and the
# names re-exported here load on first use (__getattr__): a run starts its probes without them (issue 17).
_RESULTS = frozenset(
    ("AopOutcome", "CertificateFetch", "HttpsResult", "PullResult", "RedirectResult", "TlsOutcome", "VersionResult")
)


def __getattr__(name: str) -> object:
    if name in _RESULTS:
        from . import probe_results

        return getattr(probe_results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "client_certificate_refusal",
    "fetch_certificate",
    "probe_http_redirect",
    "probe_https",
    "probe_origin_pull",
    "probe_tls_version",
    "probe_tls_versions",
    "run_concurrently",
    "tls_1_3_from_https",
    "version_name",
]

#: Threads for many targets x probes at once: probes wait on the network, not the CPU.
DEFAULT_CONCURRENCY = 16

_NEGOTIATED_NAMES = {"TLSv1": TlsVersion.TLS_1_0, "TLSv1.1": TlsVersion.TLS_1_1, "TLSv1.2": TlsVersion.TLS_1_2,
                     "TLSv1.3": TlsVersion.TLS_1_3}  # fmt: skip

# nginx turns its internal 495/496 into "400 Bad Request" with these texts (ngx_http_special_response.c).
_NGINX_NO_CERT = "No required SSL certificate was sent"
_NGINX_CERT_ERROR = "The SSL certificate error"
_HTTP_CERT_ERROR = 495  # nginx: SSL Certificate Error
_HTTP_NO_CERT = 496  # nginx: SSL Certificate Required
#: Body bytes an HttpsResult keeps: Cloudflare's error pages name their 1xxx code near the top.
_BODY_KEPT = 4 * 1024


# --------------------------------------------------------------------------------------------------------------
# Concurrency


def run_concurrently(fns: Sequence[Callable[[], T]], *, max_workers: int = DEFAULT_CONCURRENCY) -> list[T]:
    """Call every function in threads; results in the order of ``fns``. Exceptions propagate (probes raise none)."""
    if not fns:
        return []
    from concurrent.futures import ThreadPoolExecutor  # here: verify has its own workers (issue 17)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(fns))), thread_name_prefix="probe") as pool:
        futures = [pool.submit(fn) for fn in fns]
        return [future.result() for future in futures]


@contextlib.contextmanager
def _tls(
    endpoint: Endpoint, server_name: str, context: ssl.SSLContext, deadline: Deadline, *, record: bool = False
) -> Iterator[TlsStream]:
    """A TLS stream whose handshake has been attempted. The stream is yielded even when the handshake failed
    (``handshake_error``) so that the recorded bytes can still be read; connect errors propagate."""
    sock = connect(endpoint, deadline)
    stream = TlsStream(sock, context, server_name, deadline, record=record)
    try:
        yield stream
    finally:
        stream.close()


def _handshake(stream: TlsStream) -> BaseException | None:
    try:
        stream.handshake()
    except (ssl.SSLError, OSError, BoundExceeded) as exc:
        return exc
    return None


# --------------------------------------------------------------------------------------------------------------
# TLS versions

#: TlsOutcome values by error kind.
_VERSION_OUTCOMES = {
    ErrorKind.ALERT: "refused",
    ErrorKind.OTHER_VERSION: "refused",
    ErrorKind.CLOSED: "refused",
    ErrorKind.CLIENT: "client-cannot-offer",
    ErrorKind.UNREACHABLE: "unreachable",
    ErrorKind.ERROR: "error",
}


def probe_tls_version(
    endpoint: Endpoint,
    server_name: str,
    version: TlsVersion,
    *,
    timeout: float,
    deadline: Deadline | None = None,
    context: ssl.SSLContext | None = None,
    hello_evidence: bool = False,
) -> VersionResult:
    """Offer exactly ``version`` (and nothing else) with SNI ``server_name``; report what the server did.

    ``context`` (pinned to ``version``) replaces the default one, e.g. to present a client certificate.
    ``hello_evidence``: when the handshake fails after a ServerHello that selected ``version`` (a server that then
    aborts for want of a client certificate: RFC 5246 section 7.4.1.3, RFC 8446 section 4.1.3), the version is
    ACCEPTED on that evidence rather than REFUSED, and the probe stops as soon as that ServerHello is in (the rest
    of the handshake would add nothing to the verdict). Without it, such a handshake ended by a bare close (no
    alert) is ERROR, not REFUSED: the server chose the version. The probe ends by ``timeout`` (whole) or
    ``deadline``.
    """
    offerable, why = can_offer(version)
    if not offerable:
        from .probe_results import TlsOutcome, VersionResult

        return VersionResult(version, TlsOutcome.CLIENT_CANNOT_OFFER, None, why)
    bound = Deadline.within(timeout, deadline)

    hello_reader = ServerHelloReader()  # keeps its place as the handshake's bytes come in (issue 18)

    def selected(received: bytes | bytearray) -> bool:
        hello = hello_reader.read(received)
        return hello is not None and _NEGOTIATED_NAMES.get(hello.version) is version

    completed = False
    error: BaseException | None
    try:
        with _tls(endpoint, server_name, context or version_context(version), bound, record=True) as tls:
            try:
                # With hello evidence the ServerHello is the answer: stop there (one round trip fewer on TLS 1.2).
                completed = tls.handshake(stop=selected if hello_evidence else None)
                error = None
            except (ssl.SSLError, OSError, BoundExceeded) as exc:
                error = exc
            negotiated = tls.version() if error is None and completed else None
            received = bytes(tls.received) if error is not None else b""
    except Exception as exc:
        error, negotiated, received = exc, None, b""
    from .probe_results import TlsOutcome, VersionResult  # after the network: the first result waits for it

    if error is None and not completed:
        return VersionResult(
            version,
            TlsOutcome.ACCEPTED,
            version_name(version),
            f"TLS {version} to {endpoint}: accepted (the server's ServerHello selected it)",
        )
    if error is not None:
        kind, detail = classify_error(error)
        chosen = selected(received)
        if chosen and hello_evidence and kind is not ErrorKind.CLIENT:
            return VersionResult(
                version,
                TlsOutcome.ACCEPTED,
                version_name(version),
                f"TLS {version} to {endpoint}: accepted (the server's ServerHello selected it), then {detail}",
            )
        if chosen and kind is ErrorKind.CLOSED:
            # The server chose this version, then hung up without an alert: that is no refusal of the version
            # ("refused means the server refused", DESIGN.md), and no completed handshake either.
            return VersionResult(
                version,
                TlsOutcome.ERROR,
                None,
                f"TLS {version} to {endpoint}: the server's ServerHello selected it, then {detail}",
            )
        return VersionResult(
            version, TlsOutcome(_VERSION_OUTCOMES[kind]), None, f"TLS {version} to {endpoint}: {detail}"
        )
    if _NEGOTIATED_NAMES.get(negotiated or "") is not version:
        return VersionResult(version, TlsOutcome.ERROR, negotiated, f"offered only TLS {version}, got {negotiated}")
    return VersionResult(version, TlsOutcome.ACCEPTED, negotiated, f"TLS {version} to {endpoint}: accepted")


def version_name(version: TlsVersion) -> str:
    """``TlsVersion.TLS_1_2`` -> ``"TLSv1.2"``, as ``ssl.SSLSocket.version()`` names it."""
    return next(name for name, known in _NEGOTIATED_NAMES.items() if known is version)


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


def tls_1_3_from_https(result: HttpsResult, endpoint: Endpoint) -> VersionResult | None:
    """TLS 1.3 evidence from an HTTPS probe (which offers 1.2-1.3): ACCEPTED when it negotiated TLS 1.3, else None
    (then only a probe offering TLS 1.3 alone can tell, and its verdict and text are the ones to report)."""
    from .probe_results import TlsOutcome, VersionResult

    if result.negotiated == "TLSv1.3":
        return VersionResult(TlsVersion.TLS_1_3, TlsOutcome.ACCEPTED, "TLSv1.3", f"TLS 1.3 to {endpoint}: accepted")
    return None


# --------------------------------------------------------------------------------------------------------------
# HTTPS and HTTP


def probe_https(
    endpoint: Endpoint, hostname: str, *, ca_pem: str | None, timeout: float, deadline: Deadline | None = None
) -> HttpsResult:
    """``GET /`` over TLS 1.2-1.3 with SNI and ``Host`` = ``hostname``, within ``timeout`` as a whole.

    First with verification (``ca_pem`` CAs, else the system store; hostname checked against the SANs). When the
    certificate does not verify, ``verified`` is False with OpenSSL's reason, and the request is repeated without
    verification (same deadline) so the headers and certificate are still reported.
    """
    bound = Deadline.within(timeout, deadline)
    verified: bool | None = None
    verify_error = ""
    try:
        context = verifying_context(ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        context = None
        verify_error = f"the CA certificates could not be loaded: {short_error(exc)}"
    if context is not None:
        try:
            with _tls(endpoint, hostname, context, bound) as tls:
                tls.handshake()
                return _https_answer(tls, hostname, verified=True, verify_error="")
        except ssl.SSLCertVerificationError as exc:
            verified = False
            verify_error = f"certificate verify failed: {exc.verify_message or exc.reason}"
        except Exception as exc:
            from .probe_results import HttpsResult

            _, detail = classify_error(exc)
            return HttpsResult(False, None, (), None, None, "", None, f"HTTPS to {endpoint}: {detail}")
    try:
        with _tls(endpoint, hostname, unverified_context(), bound) as tls:
            tls.handshake()
            return _https_answer(tls, hostname, verified=verified, verify_error=verify_error)
    except Exception as exc:
        from .probe_results import HttpsResult

        _, detail = classify_error(exc)
        return HttpsResult(False, None, (), None, verified, verify_error, None, f"HTTPS to {endpoint}: {detail}")


def _https_answer(tls: TlsStream, hostname: str, *, verified: bool | None, verify_error: str) -> HttpsResult:
    from .probe_results import HttpsResult

    certificate = tls.peer_certificate()
    negotiated = tls.version()
    try:
        answer = http_get(tls, hostname)
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
        body=answer.body[:_BODY_KEPT],
    )


def probe_http_redirect(
    endpoint: Endpoint, hostname: str, *, timeout: float, deadline: Deadline | None = None
) -> RedirectResult:
    """Plain-HTTP ``GET /`` with ``Host: hostname``; the status and ``Location``, without following anything."""
    bound = Deadline.within(timeout, deadline)
    try:
        stream = PlainStream(connect(endpoint, bound), bound)
        try:
            answer = http_get(stream, hostname)
        finally:
            stream.close()
    except Exception as exc:
        from .probe_results import RedirectResult

        _, detail = classify_error(exc)
        return RedirectResult(False, None, None, f"HTTP to {endpoint}: {detail}")
    from .probe_results import RedirectResult  # after the network: the first result waits for it

    locations = answer.all("Location")
    location = locations[0] if locations else None
    return RedirectResult(
        True, answer.status, location, f"HTTP {answer.status}" + (f" to {location}" if location else "")
    )


# --------------------------------------------------------------------------------------------------------------
# Certificate


def fetch_certificate(
    endpoint: Endpoint, server_name: str, *, timeout: float, deadline: Deadline | None = None
) -> CertificateFetch:
    """The leaf certificate the server presents for ``server_name``, without verifying anything.

    Works against servers that demand a client certificate: on TLS 1.3 the client's side of the handshake is
    complete before the server's alert; on TLS 1.2 the Certificate message travels in clear before the
    CertificateRequest, so it is read from the recorded handshake bytes when the handshake is aborted.
    """
    context = unverified_context(minimum=ssl.TLSVersion.TLSv1 if can_offer(TlsVersion.TLS_1_0)[0] else None)
    bound = Deadline.within(timeout, deadline)
    try:
        with _tls(endpoint, server_name, context, bound, record=True) as tls:
            error = _handshake(tls)
            fetched = _handshake_certificate(tls, error)
    except Exception as exc:
        from .probe_results import CertificateFetch

        _, detail = classify_error(exc)
        return CertificateFetch(False, None, None, f"{endpoint}: {detail}")
    if fetched is None:
        from .probe_results import CertificateFetch

        _, detail = classify_error(error) if error is not None else (None, "no certificate")
        return CertificateFetch(False, None, None, f"{endpoint}: {detail}")
    return fetched


def _handshake_certificate(tls: TlsStream, error: BaseException | None) -> CertificateFetch | None:
    """The server certificate of a (recorded) handshake, completed or not; None when none was seen."""
    from .probe_results import CertificateFetch

    if error is None:
        der = tls.peer_certificate()
        negotiated = tls.version()
        if der:
            return CertificateFetch(True, der, negotiated, f"certificate presented over {negotiated}")
        return CertificateFetch(True, None, negotiated, "the server presented no certificate")
    der = parse_handshake_certificate(bytes(tls.received))
    if der is None:
        return None
    _, detail = classify_error(error)
    return CertificateFetch(True, der, None, f"certificate read from the handshake before it ended: {detail}")


# --------------------------------------------------------------------------------------------------------------
# Authenticated Origin Pulls


def probe_origin_pull(
    endpoint: Endpoint,
    hostname: str,
    *,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    timeout: float,
    deadline: Deadline | None = None,
    context: ssl.SSLContext | None = None,
    record_certificate: bool = False,
) -> PullResult:
    """Ask the origin for ``/`` (SNI and ``Host`` = ``hostname``), with or without a client certificate.

    REFUSED when the server sends a TLS alert (during the handshake on TLS 1.2, or on the first read on TLS 1.3,
    where the client's handshake completes before the server checks the certificate), or answers nginx's
    "400 No required SSL certificate was sent" / "400 The SSL certificate error", or HTTP 495/496. Any other HTTP
    answer is ACCEPTED (``ssl_verify_client optional`` serves the request without a certificate). An abrupt close
    without an alert proves nothing and is ERROR.

    ``context`` (from :func:`~origin_tls.tls_client.build_client_contexts`) is the already-loaded client identity;
    else the PEMs are loaded here. ``record_certificate``: also keep the server certificate of this handshake in
    ``certificate`` (one connection for ``origin.certificate`` and ``origin.aop``). Either way the result says
    which TLS alert ended the pull (``alert``) and whether the server asked for a certificate in the handshake
    (``certificate_requested``): an alert outside the client-authentication ones is not a refusal by itself
    (GnuTLS answers a missing certificate with ``decode_error``), and the judge weighs it with that fact.

    Raises :class:`InvalidInput` (before connecting) when only one PEM is given or they do not load together.
    """
    if context is None:
        context = _client_context(client_cert_pem, client_key_pem)
    bound = Deadline.within(timeout, deadline)
    phase = "handshake"
    negotiated: str | None = None
    certificate: CertificateFetch | None = None
    requested: bool | None = None
    try:
        with _tls(endpoint, hostname, context, bound, record=True) as tls:
            error = _handshake(tls)
            requested = parse_certificate_request(bytes(tls.received))
            if record_certificate:
                certificate = _handshake_certificate(tls, error)
            if error is not None:
                raise error
            phase = "after-handshake"
            negotiated = tls.version()
            answer = http_get(tls, hostname)
    except Exception as exc:
        failure = _pull_failure(exc, phase, negotiated, endpoint)
        return replace(failure, certificate=certificate, certificate_requested=requested)
    return replace(_pull_answer(answer, negotiated), certificate=certificate, certificate_requested=requested)


def _client_context(cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext:
    if cert_pem is None and key_pem is None:
        return unverified_context()
    if not cert_pem or not key_pem:
        raise InvalidInput("client_cert", "(PEM not shown)", "a PEM certificate together with its private key")
    return build_client_contexts(cert_pem, key_pem, ())[PULL]


def _pull_failure(exc: BaseException, phase: str, negotiated: str | None, endpoint: Endpoint) -> PullResult:
    from .probe_results import AopOutcome, PullResult

    kind, detail = classify_error(exc)
    alert = server_alert(exc)
    if isinstance(exc, ssl.SSLError) and (exc.reason or "") in CLIENT_AUTH_ALERTS:
        how = "tls-alert-handshake" if phase == "handshake" else "tls-alert-after-handshake"
        when = "during the handshake" if phase == "handshake" else "on the first read after the handshake"
        return PullResult(AopOutcome.REFUSED, how, None, negotiated, f"{detail} {when}", alert=alert)
    if kind is ErrorKind.UNREACHABLE:
        return PullResult(AopOutcome.UNREACHABLE, "unreachable", None, negotiated, f"{endpoint}: {detail}")
    where = "during the handshake" if phase == "handshake" else "after the handshake, before an HTTP answer"
    return PullResult(AopOutcome.ERROR, "no-answer", None, negotiated, f"{endpoint}: {detail} {where}", alert=alert)


def client_certificate_refusal(status: int, body: bytes) -> tuple[str, str] | None:
    """(how, description) when an HTTP answer is a server's refusal of the client certificate (or of its
    absence), else None: nginx's "400 No required SSL certificate was sent" / "400 The SSL certificate error" (its
    internal 496/495, ngx_http_special_response.c), or HTTP 495/496 themselves."""
    text = body.decode("utf-8", "replace")
    if status == 400 and _NGINX_NO_CERT in text:
        return "http-400-no-cert", f"HTTP 400 {_NGINX_NO_CERT}"
    if status == 400 and _NGINX_CERT_ERROR in text:
        return "http-400-cert-error", f"HTTP 400 {_NGINX_CERT_ERROR}"
    if status == _HTTP_NO_CERT:
        return "http-496", "HTTP 496 SSL Certificate Required"
    if status == _HTTP_CERT_ERROR:
        return "http-495", "HTTP 495 SSL Certificate Error"
    return None


def _pull_answer(answer: HttpAnswer, negotiated: str | None) -> PullResult:
    from .probe_results import AopOutcome, PullResult

    refusal = client_certificate_refusal(answer.status, answer.body)
    if refusal is not None:
        return PullResult(AopOutcome.REFUSED, refusal[0], answer.status, negotiated, refusal[1])
    if answer.status == 400 and not answer.body_complete:
        # nginx's refusal is told by its 400 page: a page cut short (closed, out of time) proves neither way.
        return PullResult(
            AopOutcome.ERROR, "http-400-torn", 400, negotiated, "HTTP 400, but its page did not arrive whole"
        )
    return PullResult(
        AopOutcome.ACCEPTED, f"http-{answer.status}", answer.status, negotiated, f"HTTP {answer.status} served"
    )
