"""The TLS and HTTP client under the probes: exact control where ordinary clients decide for you.

- contexts that really offer one protocol version (legacy ones at OpenSSL security level 0), or verify nothing,
  each built once per configuration; :func:`build_client_contexts` loads a client certificate without a file;
- :func:`can_offer`: whether this OpenSSL would even send a ClientHello for a version (offline);
- :func:`classify_error`: what a failed handshake or read means (alert, close, unreachable, client-side, other).

The I/O under one deadline is :mod:`origin_tls.tls_io`; :mod:`origin_tls.probes` uses both.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence

from .baseline import TlsVersion
from .errors import InvalidInput
from .tls_wire import BoundExceeded, NotHttp, ProbeTimeout, parse_handshake_certificate

__all__ = [
    "CLIENT_AUTH_ALERTS",
    "LEGACY_CIPHERS",
    "PULL",
    "ClientContexts",
    "ErrorKind",
    "alert_name",
    "build_client_contexts",
    "can_offer",
    "classify_error",
    "parse_handshake_certificate",
    "server_alert",
    "short_error",
    "unverified_context",
    "verifying_context",
    "version_context",
]

#: OpenSSL 3 forbids TLS 1.0/1.1 at security level 1 and above (SHA-1 handshake signatures): a client that wants to
#: really offer them must drop to level 0 (OpenSSL 3.0 migration guide, "TLS 1.0 and 1.1 ... security level 0").
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"

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


def server_alert(exc: BaseException) -> str | None:
    """The name of the TLS alert the server sent (``decode_error``) when ``exc`` reports one, else None."""
    reason = (exc.reason or "") if isinstance(exc, ssl.SSLError) else ""
    return alert_name(reason) if reason.startswith(_ALERT_PREFIXES) else None


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
    if isinstance(exc, BoundExceeded):
        return ErrorKind.ERROR, f"inconclusive, a bound was reached: {exc}"
    if isinstance(exc, ProbeTimeout):
        return ErrorKind.UNREACHABLE, str(exc)
    if isinstance(exc, TimeoutError):
        return ErrorKind.UNREACHABLE, "no answer within the timeout"
    if isinstance(exc, socket.gaierror):
        return ErrorKind.UNREACHABLE, f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.UNREACHABLE, "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return ErrorKind.CLOSED, "the server reset the connection"
    if isinstance(exc, NotHttp):
        return ErrorKind.ERROR, f"not an HTTP answer: {short_error(exc)}"
    if isinstance(exc, OSError):
        return ErrorKind.UNREACHABLE, f"network error: {exc.strerror or exc.__class__.__name__}"
    return ErrorKind.ERROR, f"{exc.__class__.__name__}: {short_error(exc)}"


def short_error(exc: BaseException) -> str:
    """``str(exc)`` on one bounded line, for ``detail`` fields."""
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------------------------------------------
# Contexts, built once per configuration


def _new_context(minimum: ssl.TLSVersion | None, maximum: ssl.TLSVersion | None) -> ssl.SSLContext:
    with _CONTEXT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        # Offer TLS 1.3 post-handshake authentication (RFC 8446 section 4.6.2): a server that asks for the client
        # certificate per request (Apache's SSLVerifyClient in <Location>) can then ask, and refuses a pull
        # without one by an alert; a client that does not offer it gets Apache's 403 whatever it holds, which
        # would read as "accepted" (observed by tests/servers on Apache 2.4). OpenSSL answers the request itself.
        context.post_handshake_auth = True
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        if minimum in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            context.set_ciphers(LEGACY_CIPHERS)
    return context


@functools.lru_cache(maxsize=16)
def unverified_context(
    *, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context that checks nothing about the server (the probes report; ``verify`` judges).

    Cached per (minimum, maximum): a configured SSL_CTX is safe to share between threads, nothing changes it
    after creation, and it holds no secret. Never load a certificate into it (:func:`build_client_contexts`).
    """
    return _new_context(minimum, maximum)


def version_context(version: TlsVersion) -> ssl.SSLContext:
    """A client that offers exactly ``version`` (legacy versions at security level 0, so they are really sent)."""
    pinned = _SSL_VERSIONS[version]
    return unverified_context(minimum=pinned, maximum=pinned)


@functools.lru_cache(maxsize=8)
def verifying_context(ca_pem: str | None) -> ssl.SSLContext:
    """TLS 1.2+, CERT_REQUIRED, hostname checked against the subjectAltName only; trusting only ``ca_pem`` when
    given, else the system store.

    ``hostname_checks_common_name`` is off: RFC 6125 section 6.4.4 (a client must not look at the subject CN when
    the certificate has DNS SANs) and browsers, which ignore the CN altogether; OpenSSL would otherwise fall back to
    the CN of a certificate without SANs. Cached: loading the system store costs ~30 ms of CPU; the key is CA text
    only, never a secret.
    """
    if ca_pem and not ca_pem.isascii():
        # OpenSSL's cadata takes ASCII only (TypeError otherwise); PEM blocks are ASCII, so what is not is text
        # around them (a bundle's UTF-8 comments) and goes (issue 18).
        ca_pem = ca_pem.encode("ascii", "ignore").decode("ascii")
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    context.hostname_checks_common_name = False
    return context


#: Key of the pull context (TLS 1.2-1.3, like the edge) in :func:`build_client_contexts`'s answer.
PULL = "pull"


def build_client_contexts(
    cert_pem: str, key_pem: str, versions: Sequence[TlsVersion], *, pull: bool = True
) -> Mapping[TlsVersion | str, ssl.SSLContext]:
    """Unverifying contexts presenting the client certificate: :data:`PULL` (default versions) and one pinned to
    each of ``versions``. Built per run and never cached module-wide: they hold the private key.

    The PEM is written once into an anonymous memory file (``os.memfd_create``) and OpenSSL reads it through
    ``/proc/self/fd/N``: the key never touches a disk. Where memfd is unavailable (not Linux, or no /proc), a file
    in a private temporary directory (0700, file 0600) is the only way to hand OpenSSL a key from memory through
    Python's ``ssl`` (``load_cert_chain`` takes paths only); it is removed as soon as the contexts are loaded.

    Raises :class:`InvalidInput` (never quoting the PEM) when they do not load together. ``pull=False``: the
    pinned ones only.
    """
    contexts: dict[TlsVersion | str, ssl.SSLContext] = {PULL: _new_context(None, None)} if pull else {}
    for version in versions:
        pinned = _SSL_VERSIONS[version]
        contexts[version] = _new_context(pinned, pinned)
    pem = (cert_pem.strip() + "\n" + key_pem.strip() + "\n").encode("ascii", "replace")
    try:
        with _pem_path(pem) as path:
            for context in contexts.values():
                context.load_cert_chain(path)
    except (ssl.SSLError, OSError, ValueError):
        # Deliberately no detail and no chaining: OpenSSL's text might quote the PEM.
        raise InvalidInput(
            "client_cert", "(PEM not shown)", "a PEM certificate and the PEM private key that matches it"
        ) from None
    return contexts


class ClientContexts(Mapping[TlsVersion | str, ssl.SSLContext]):
    """A run's client identity as :func:`build_client_contexts` gives it, the pinned contexts built on first use.

    The :data:`PULL` context is loaded at once (a certificate and key that do not belong together are bad input
    before any I/O); each version's (~1 ms of CPU: OpenSSL parses the key again) when a probe first asks for it, so
    that the main thread reaches the first connection sooner (issue 17). Holds the key: local to a run, never
    shown, never cached beyond it.
    """

    def __init__(self, cert_pem: str, key_pem: str) -> None:
        self._contexts = dict(build_client_contexts(cert_pem, key_pem, ()))
        self._build = functools.partial(build_client_contexts, cert_pem, key_pem, pull=False)
        self._lock = threading.Lock()

    def __getitem__(self, key: TlsVersion | str) -> ssl.SSLContext:
        with self._lock:
            if key not in self._contexts and isinstance(key, TlsVersion):
                self._contexts.update(self._build((key,)))
            return self._contexts[key]

    def __iter__(self) -> Iterator[TlsVersion | str]:
        return iter((PULL, *TlsVersion))

    def __len__(self) -> int:
        return 1 + len(TlsVersion)

    def __repr__(self) -> str:
        return "ClientContexts(<client certificate and key, not shown>)"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("ClientContexts holds a private key: it is never pickled")


@contextlib.contextmanager
def _pem_path(pem: bytes) -> Iterator[str]:
    memfd_create = getattr(os, "memfd_create", None)
    fd = -1
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fd = memfd_create("origin-tls-client", os.MFD_CLOEXEC)
    if fd >= 0:
        try:
            os.write(fd, pem)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    import tempfile  # the fallback only (issue 17: not imported before the first connection)

    with tempfile.TemporaryDirectory(prefix="origin-tls-") as directory:
        path = os.path.join(directory, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        yield path


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
