"""What a test peer serves, independent of which server serves it: one listener per variant, one port each.

The four server harnesses (``apache``, ``haproxy``, ``caddy``, ``lighttpd``) each turn the same list of
:class:`TlsListener` / :class:`PlainListener` into their own configuration, so a variant means the same thing on
every server and the tests can be parametrised over servers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from origin_tls.baseline import Endpoint, TlsVersion

from .pki import IssuedCert

__all__ = [
    "LEGACY_CIPHERS",
    "MODERN",
    "ORIGIN_BODY",
    "PLAIN_BODY",
    "ClientAuth",
    "Listener",
    "PlainListener",
    "TlsListener",
    "Unsupported",
]

#: OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 handshake signatures) above security level 0, whatever the protocol
#: directives say (reference/servers.md, "Protocol versions").
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"

#: The hardened range: TLS 1.2 floor, TLS 1.3 on.
MODERN: tuple[TlsVersion, TlsVersion] = (TlsVersion.TLS_1_2, TlsVersion.TLS_1_3)

ORIGIN_BODY = "origin ok\n"
PLAIN_BODY = "plain http\n"


class Unsupported(ValueError):
    """The server cannot express this listener (e.g. Caddy and TLS 1.0); the message says why."""


class ClientAuth(str, enum.Enum):
    """Client-certificate policy of a TLS listener (Authenticated Origin Pulls)."""

    REQUIRE = "require"  # handshake refused (or request refused) without a certificate from the client CA
    OPTIONAL = "optional"  # asked for, verified when given, but a pull without one is served
    OFF = "off"  # never asked for

    def __str__(self) -> str:
        return self.value


@dataclass
class TlsListener:
    """One HTTPS listener: ``GET /`` answers ``status`` with ``sts`` as Strict-Transport-Security headers."""

    name: str
    cert: IssuedCert
    versions: tuple[TlsVersion, TlsVersion] = MODERN  # (lowest, highest) accepted, inclusive
    sts: tuple[str, ...] = ()
    client_auth: ClientAuth = ClientAuth.OFF
    client_ca: Path | None = None
    #: Ask for the certificate per request, after the handshake (Apache's per-directory SSLVerifyClient:
    #: renegotiation on TLS 1.2, post-handshake authentication on TLS 1.3), not in the handshake.
    per_request: bool = False
    status: int = 200
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.client_auth is not ClientAuth.OFF and self.client_ca is None:
            raise ValueError(f"{self.name}: client_auth {self.client_auth} needs client_ca")
        if self.per_request and self.client_auth is ClientAuth.OFF:
            raise ValueError(f"{self.name}: per_request needs client_auth")
        if self.versions[0].rank > self.versions[1].rank:
            raise ValueError(f"{self.name}: versions {self.versions} are not (lowest, highest)")

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port)

    @property
    def legacy(self) -> bool:
        """Accepts TLS 1.0 or 1.1: the server needs :data:`LEGACY_CIPHERS` to really do so."""
        return self.versions[0].rank < TlsVersion.TLS_1_2.rank

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class PlainListener:
    """One plain-HTTP listener: a 301 to ``https://HOST/`` when ``redirect``, else 200 with a body."""

    name: str
    redirect: bool = True
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


Listener = TlsListener | PlainListener
