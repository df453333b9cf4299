"""The sandbox's emulated Cloudflare edge: a TLS and a plain-HTTP listener that obey the zone's settings live.

Every new connection reads the zone (:class:`ZoneView`, the emulator's ``ZoneState``), so a change made through the
API applies to the next connection. What the edge does with each setting (Cloudflare docs, "Encryption modes",
"Minimum TLS Version", "HTTP Strict Transport Security", "Always Use HTTPS", "Authenticated Origin Pulls"):

- ``min_tls_version``/``tls_1_3``: the TLS listener's protocol range.
- ``security_header``: the Strict-Transport-Security header on HTTPS answers (never on plain HTTP, RFC 6797 7.2),
  ``X-Content-Type-Options: nosniff`` when ``nosniff`` is on.
- ``always_use_https``: the HTTP listener answers ``301`` to ``https://host/path``.
- ``ssl``: how the edge reaches the origin. ``strict`` validates the origin certificate against the Origin CA and the
  hostname, ``full`` encrypts without validating, ``flexible`` uses plain HTTP, ``off`` serves no HTTPS (HTTPS
  visitors are redirected to HTTP) and pulls over HTTP.
- AOP: pulls over TLS present the client certificate of the active level (hostname > zone > global).
- ``auto_origin_tls_kex``/``origin_tls_compliance_modes``: the key-exchange groups a pull offers (:mod:`.pq_tls`):
  X25519MLKEM768 first plus the classical groups when automatic key exchange is on, classical only when off, and
  under ``pqh`` TLS 1.3 with X25519MLKEM768 alone (an origin that cannot negotiate it: 525). Pulls over TLS use
  pyOpenSSL on ``cryptography``'s bundled OpenSSL, since the system OpenSSL behind ``ssl`` has no ML-KEM.

Upstream failures answer like Cloudflare's error pages (Cloudflare docs, "Cloudflare 5xx errors"): 521 connection
refused, 522 connection timed out, 524 no answer in time, 525 TLS handshake failed (also an origin that refuses the
client certificate with an alert: under TLS 1.3 that alert arrives after the handshake, on the first read), 526
invalid origin certificate (Full (Strict) only), 520 a reset, an empty or a malformed answer. An origin that
completes the handshake and answers HTTP itself (nginx's 400 "The SSL certificate error" for an untrusted client
certificate) is passed through, as Cloudflare passes it.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import http.client
import http.server
import os
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..baseline import Endpoint
from ..keys import build_ca_certificate, private_key_to_pem
from .pq_tls import PullCertificateError, Puller, PullHandshakeError, TlsAlert, TlsStream, pull_groups
from .servers import ListenerPair, LoopbackHandler, LoopbackServer, LoopbackService

__all__ = [
    "Edge",
    "EdgePki",
    "EdgeSettings",
    "PullIdentity",
    "PullRecord",
    "ZoneView",
    "build_edge_pki",
    "parse_edge_settings",
]

#: Socket timeout for a visitor connection and for each pull from the origin.
DEFAULT_TIMEOUT = 5.0
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
_TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class PullIdentity(Protocol):
    """The AOP client certificate the edge presents (the emulator's ``ClientIdentity``)."""

    @property
    def certificate_pem(self) -> str: ...

    @property
    def private_key_pem(self) -> str: ...


class ZoneView(Protocol):
    """What the edge reads from the zone (satisfied by ``origin_tls.sandbox.state.ZoneState``)."""

    @property
    def hostnames(self) -> Sequence[str]: ...

    @property
    def version(self) -> int: ...

    def settings(self) -> Mapping[str, Any]: ...

    def active_client_identity(self, hostname: str) -> PullIdentity | None: ...

    def origin_key_exchange(self) -> tuple[bool, tuple[str, ...]]: ...


@dataclass(frozen=True)
class PullRecord:
    """One pull from the origin over TLS as the edge saw it: the answer it gave and, when the handshake completed,
    the protocol version and the key-exchange group the origin selected (``X25519MLKEM768``, ``x25519``...)."""

    hostname: str
    status: int
    offered: tuple[str, ...]
    version: str | None
    group: str | None


@dataclass(frozen=True)
class EdgeSettings:
    """The zone settings the edge acts on, read once per connection."""

    ssl_mode: str = "off"
    min_tls: str = "1.0"
    tls_1_3: bool = False
    always_use_https: bool = False
    hsts: str | None = None
    nosniff: bool = False


def parse_edge_settings(settings: Mapping[str, Any]) -> EdgeSettings:
    """Turn the zone's settings (``{id: value}``) into what the edge does. Unknown shapes fall back to the
    permissive Cloudflare defaults rather than failing a visitor's connection."""
    header = settings.get("security_header")
    sts = header.get("strict_transport_security") if isinstance(header, Mapping) else None
    hsts: str | None = None
    nosniff = False
    if isinstance(sts, Mapping):
        nosniff = bool(sts.get("nosniff"))
        if sts.get("enabled"):
            parts = [f"max-age={int(sts.get('max_age') or 0)}"]
            if sts.get("include_subdomains"):
                parts.append("includeSubDomains")
            if sts.get("preload"):
                parts.append("preload")
            hsts = "; ".join(parts)
    return EdgeSettings(
        ssl_mode=str(settings.get("ssl", "off")),
        min_tls=str(settings.get("min_tls_version", "1.0")),
        tls_1_3=settings.get("tls_1_3") in ("on", "zrt"),
        always_use_https=settings.get("always_use_https") == "on",
        hsts=hsts,
        nosniff=nosniff,
    )


@dataclass(frozen=True)
class EdgePki:
    """The sandbox edge's own CA (what visitors trust, ``edge_ca_file``) and its certificate for the zone."""

    ca_pem: str
    certificate_pem: str
    private_key_pem: str = field(repr=False)


def build_edge_pki(hostnames: Sequence[str], *, valid_days: int = 30) -> EdgePki:
    """A fresh edge CA and a server certificate for ``hostnames`` (and their ``*.`` wildcards), like the
    Universal SSL certificate Cloudflare's edge serves for a zone."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "origin-tls sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "origin-tls sandbox edge CA"),
        ]
    )
    ca = build_ca_certificate(
        subject=ca_name,
        key=ca_key,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=valid_days + 1),
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in hostnames:
        names += [x509.DNSName(name), x509.DNSName(f"*.{name}")]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return EdgePki(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        certificate_pem=leaf.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        private_key_pem=private_key_to_pem(key),
    )


class _Server(LoopbackServer):
    def __init__(self, address: tuple[str, int], edge: Edge, *, tls: bool) -> None:
        self.edge = edge
        super().__init__(address, _Handler, tls=tls)

    def socket_timeout(self) -> float:
        return self.edge.timeout

    def tls_context(self) -> ssl.SSLContext:
        return self.edge.visitor_context()


class _Handler(LoopbackHandler):
    server: _Server
    server_version = "cloudflare"

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        edge = self.server.edge
        settings = parse_edge_settings(edge.state.settings())
        host = (self.headers.get("Host") or "").strip().lower()
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if host not in edge.state.hostnames:
            # Cloudflare's answer to a request for a host it does not serve (e.g. a bare IP): error 1003.
            self._answer(403, settings, b"error code: 1003\n")
            return
        if self.server.tls and settings.ssl_mode == "off":
            self._answer(301, settings, b"", location=f"http://{host}{self.path}")
            return
        if not self.server.tls and settings.always_use_https and settings.ssl_mode != "off":
            self._answer(301, settings, b"", location=f"https://{host}{self.path}")
            return
        status, headers, content = edge.pull(
            host, self.command, self.path, dict(self.headers.items()), body, settings, visitor_tls=self.server.tls
        )
        self._answer(status, settings, content, headers=headers)

    def _answer(
        self,
        status: int,
        settings: EdgeSettings,
        content: bytes,
        *,
        location: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("strict-transport-security", "server", "date"):
                self.send_header(name, value)
        if location is not None:
            self.send_header("Location", location)
        if not any(name.lower() == "content-type" for name, _ in headers):
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        # Cloudflare adds the header to every HTTPS answer, its own error pages included.
        if self.server.tls and settings.hsts is not None:
            self.send_header("Strict-Transport-Security", settings.hsts)
        if settings.nosniff:
            self.send_header("X-Content-Type-Options", "nosniff")
        self.end_closing(content)


class Edge(LoopbackService):
    """The edge for one zone: ``start()`` binds both listeners on loopback, ``stop()`` closes them.

    ``origin_https``/``origin_http`` are where the origin listens; ``origin_trust_pem`` is the Origin CA the edge
    validates the origin certificate against in strict mode.
    """

    server_class = _Server

    def __init__(
        self,
        state: ZoneView,
        pki: EdgePki,
        *,
        origin_https: Endpoint,
        origin_http: Endpoint,
        origin_trust_pem: str,
        host: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.state = state
        self.ca_pem = pki.ca_pem
        self.origin_https = origin_https
        self.origin_http = origin_http
        self.timeout = timeout
        self._origin_trust_pem = origin_trust_pem
        self._host = host
        self._lock = threading.Lock()
        self._visitor_cache: tuple[int, ssl.SSLContext] | None = None
        self._puller = Puller(origin_trust_pem)
        self._pulls: collections.deque[PullRecord] = collections.deque(maxlen=1000)
        self._dir = tempfile.TemporaryDirectory(prefix="origin-tls-edge-")
        self._cert_file = self._write("edge.pem", pki.certificate_pem)
        self._key_file = self._write("edge.key", pki.private_key_pem)
        self._listeners = ListenerPair("edge")

    def _write(self, name: str, text: str) -> str:
        path = Path(self._dir.name) / name
        path.write_text(text, encoding="ascii")
        os.chmod(path, 0o600)
        return str(path)

    # -- lifecycle

    def stop(self) -> None:
        """Close both listeners (idempotent) and remove the key files; connections in flight end on their own
        timeouts."""
        super().stop()
        self._dir.cleanup()

    def __enter__(self) -> Edge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- TLS contexts, rebuilt when the zone changes

    def visitor_context(self) -> ssl.SSLContext:
        """The server context for the zone's current settings (cached per ``state.version``)."""
        version = self.state.version
        with self._lock:
            if self._visitor_cache is not None and self._visitor_cache[0] == version:
                return self._visitor_cache[1]
        settings = parse_edge_settings(self.state.settings())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert_file, self._key_file)
        floor = _TLS_VERSIONS.get(settings.min_tls, ssl.TLSVersion.TLSv1_2)
        if floor < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 refuses TLS 1.0/1.1 above security level 0 (SHA-1 handshake signatures).
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0/1.1; emulating an edge that still accepts them is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = floor
        context.maximum_version = ssl.TLSVersion.TLSv1_3 if settings.tls_1_3 else ssl.TLSVersion.TLSv1_2
        if floor > context.maximum_version:  # min 1.3 with TLS 1.3 off: Cloudflare keeps 1.3 (the floor wins)
            context.maximum_version = floor
        with self._lock:
            self._visitor_cache = (version, context)
        return context

    # -- pulls from the origin

    @property
    def pulls(self) -> list[PullRecord]:
        """The last 1000 pulls over TLS, oldest first."""
        with self._lock:
            return list(self._pulls)

    def _record(self, record: PullRecord) -> None:
        with self._lock:
            self._pulls.append(record)

    def pull(
        self,
        hostname: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        settings: EdgeSettings,
        *,
        visitor_tls: bool,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Fetch ``path`` from the origin as the SSL mode says; Cloudflare-like error answers on failure."""
        tls = settings.ssl_mode in ("full", "strict")
        target = self.origin_https if tls else self.origin_http
        try:
            raw = socket.create_connection((target.host, target.port), timeout=self.timeout)
        except TimeoutError:
            return _error(522, "Connection timed out")
        except OSError:
            return _error(521, "Web server is down")
        sock: socket.socket | TlsStream = raw
        # TLS 1.3 with a client certificate offered: the origin judges the certificate after our handshake returned.
        # One that refuses it sends an alert and closes; when our request crosses that close, the kernel's reset can
        # discard the alert, so a connection lost before any answer is a failed handshake too, not a 520.
        late_refusal = False
        record: PullRecord | None = None
        answer: tuple[int, list[tuple[str, str]], bytes] | None = None
        try:
            if tls:
                identity = self.state.active_client_identity(hostname)
                groups = pull_groups(*self.state.origin_key_exchange())
                record = PullRecord(hostname, 0, groups.names, None, None)
                try:
                    sock = self._puller.connect(
                        raw,
                        hostname=hostname,
                        strict=settings.ssl_mode == "strict",
                        identity=None if identity is None else (identity.certificate_pem, identity.private_key_pem),
                        groups=groups,
                        timeout=self.timeout,
                    )
                except PullCertificateError:
                    answer = _error(526, "Invalid SSL certificate")
                    return answer
                except PullHandshakeError:
                    answer = _error(525, "SSL handshake failed")
                    return answer
                record = replace(record, version=sock.version, group=sock.group)
                late_refusal = identity is not None and sock.version == "TLSv1.3"
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
            lines = [f"{method} {path} HTTP/1.1", f"Host: {hostname}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in forwarded.items()]
            lines += [
                f"X-Forwarded-Proto: {'https' if visitor_tls else 'http'}",
                "CF-Visitor: " + ('{"scheme":"https"}' if visitor_tls else '{"scheme":"http"}'),
                f"Content-Length: {len(body)}",
            ]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            response = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
            response.begin()
            late_refusal = False  # the origin answered: whatever comes now is not about the handshake
            content = response.read()
            answer = response.status, list(response.getheaders()), content
            return answer
        except TimeoutError:
            answer = _error(524, "A timeout occurred")
            return answer
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError, http.client.RemoteDisconnected):
            # The connection ended without an answer (and without an alert we could read).
            answer = _error(525, "SSL handshake failed") if late_refusal else _error(520, _UNKNOWN)
            return answer
        except TlsAlert:
            # An alert: under TLS 1.3 a refused client certificate surfaces on the first read. To Cloudflare it is
            # still a failed handshake.
            answer = _error(525, "SSL handshake failed")
            return answer
        except (OSError, http.client.HTTPException):
            # An empty reply, a malformed status line or header.
            answer = _error(520, _UNKNOWN)
            return answer
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            if record is not None and answer is not None:
                self._record(replace(record, status=answer[0]))


_UNKNOWN = "Web server is returning an unknown error"


def _error(status: int, reason: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "text/plain; charset=utf-8")], f"error code: {status} ({reason})\n".encode()
