"""What the probes found: frozen results and their outcome enums (:mod:`origin_tls.probes` re-exports them).

Facts only, failure recorded as data: the judges (:mod:`origin_tls.checks_judges`) decide what they mean.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .baseline import TlsVersion

__all__ = [
    "AopOutcome",
    "CertificateFetch",
    "HttpsResult",
    "PullResult",
    "RedirectResult",
    "TlsOutcome",
    "VersionResult",
]


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
    body: bytes = b""  # the first bytes of the body (edge.origin_pull reads Cloudflare's "error code: 1xxx")


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
    #: The server certificate seen in this pull's handshake, when the probe was asked to keep it.
    certificate: CertificateFetch | None = None
    #: The TLS alert the server ended the pull with ("decode_error", RFC 8446 section 6 names), else None.
    alert: str | None = None
    #: Whether the server sent a CertificateRequest in this connection's (cleartext, TLS 1.0-1.2) handshake; None
    #: when that cannot be seen (TLS 1.3 encrypts it; a handshake cut short before the server's flight ended).
    certificate_requested: bool | None = None
