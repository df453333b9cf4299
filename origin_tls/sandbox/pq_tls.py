"""TLS with post-quantum key agreement for the sandbox: pyOpenSSL on the OpenSSL that ``cryptography`` bundles.

Python's ``ssl`` is linked against the system OpenSSL (Debian 12: 3.0, no ML-KEM), so it can neither offer nor serve
X25519MLKEM768. ``cryptography``'s wheels bundle a recent OpenSSL (cryptography 50: OpenSSL 4.0) and pyOpenSSL drives
it, which is what the sandbox's edge pulls and its post-quantum origin use. Group lists are OpenSSL's syntax (a ``*``
prefix: send a key share for that group in the first ClientHello).

What the edge offers the origin (``reference/cloudflare.md`` section 6), :func:`pull_groups`:

- ``pqh`` among the compliance modes: TLS 1.3 with X25519MLKEM768 only (with ``fips`` too: SecP256r1MLKEM768, the
  one hybrid both allow). An origin that cannot negotiate it gets no connection: the edge answers 525.
- automatic origin key exchange on: X25519MLKEM768 first, with its key share, then the classical groups (an origin
  without ML-KEM picks X25519 from the second key share; no extra round trip).
- off: the classical groups only.

The module also carries the small socket adapters ``http.client`` and ``http.server`` need around a pyOpenSSL
connection. Sockets stay blocking with kernel timeouts (``SO_RCVTIMEO``/``SO_SNDTIMEO``): a pyOpenSSL connection on
a Python "timeout" socket (non-blocking underneath) would raise ``WantReadError`` at once instead of waiting.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL, crypto

__all__ = [
    "CLASSICAL_GROUPS",
    "FIPS_HYBRID_GROUP",
    "HYBRID_GROUP",
    "PullCertificateError",
    "PullGroups",
    "PullHandshakeError",
    "Puller",
    "TlsAlert",
    "TlsStream",
    "hostname_matches",
    "load_identity",
    "load_trust",
    "pull_groups",
    "set_groups",
    "set_kernel_timeouts",
]

HYBRID_GROUP = "X25519MLKEM768"
FIPS_HYBRID_GROUP = "SecP256r1MLKEM768"
#: The classical groups Cloudflare's edge offers origins.
CLASSICAL_GROUPS: tuple[str, ...] = ("X25519", "P-256", "P-384")
_FIPS_CLASSICAL: tuple[str, ...] = ("P-256", "P-384")


class TlsAlert(OSError):
    """The peer sent a TLS alert (or OpenSSL refused the connection) after the handshake had returned."""


@dataclass(frozen=True)
class PullGroups:
    """The key-exchange groups the edge offers the origin (OpenSSL list, ``*`` = key share sent) and whether only
    TLS 1.3 is allowed."""

    groups: str
    tls13_only: bool
    post_quantum_only: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(group.lstrip("*") for group in self.groups.split(":"))


def pull_groups(auto_origin_tls_kex: bool, compliance_modes: Sequence[str]) -> PullGroups:
    """What the edge offers under the zone's two key-exchange settings (see the module docstring)."""
    fips = "fips" in compliance_modes
    if "pqh" in compliance_modes:
        hybrid = FIPS_HYBRID_GROUP if fips else HYBRID_GROUP
        return PullGroups(f"*{hybrid}", tls13_only=True, post_quantum_only=True)
    classical = _FIPS_CLASSICAL if fips else CLASSICAL_GROUPS
    if auto_origin_tls_kex:
        hybrid = FIPS_HYBRID_GROUP if fips else HYBRID_GROUP
        return PullGroups(":".join([f"*{hybrid}", f"*{classical[0]}", *classical[1:]]), False, False)
    return PullGroups(":".join([f"*{classical[0]}", *classical[1:]]), tls13_only=False, post_quantum_only=False)


def set_groups(context: SSL.Context, groups: str) -> None:
    """Restrict ``context`` to ``groups`` (OpenSSL's list syntax). Raises ``ValueError`` when this OpenSSL does not
    know one of them (an old ``cryptography`` wheel without ML-KEM)."""
    from OpenSSL._util import lib  # pyOpenSSL has no public call for groups; this is OpenSSL's own

    if lib.SSL_CTX_set1_curves_list(context._context, groups.encode("ascii")) != 1:
        raise ValueError(f"this OpenSSL ({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}) cannot use {groups}")


def set_kernel_timeouts(sock: socket.socket, timeout: float) -> None:
    """Make ``sock`` blocking with ``timeout`` seconds on each receive and send (see the module docstring)."""
    sock.settimeout(None)
    seconds = int(timeout)
    value = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def load_trust(context: SSL.Context, pem: str) -> None:
    """Add every certificate of ``pem`` to the context's trust store."""
    store = context.get_cert_store()
    if store is None:  # pragma: no cover - OpenSSL always has one
        raise RuntimeError("no certificate store")
    for cert in x509.load_pem_x509_certificates(pem.encode("ascii")):
        store.add_cert(crypto.X509.from_cryptography(cert))


def load_identity(context: SSL.Context, certificate_pem: str, private_key_pem: str) -> None:
    """Certificate (chain allowed: the first is the leaf) and key for ``context``."""
    chain = x509.load_pem_x509_certificates(certificate_pem.encode("ascii"))
    key = load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    context.use_certificate(chain[0])
    context.use_privatekey(key)  # type: ignore[arg-type]
    for extra in chain[1:]:
        context.add_extra_chain_cert(extra)
    context.check_privatekey()


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """RFC 6125 DNS-ID matching on the subjectAltName, as Python's ``ssl`` does: exact, or a ``*.`` wildcard for one
    leftmost label."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    wanted = hostname.lower().rstrip(".")
    for name in names.get_values_for_type(x509.DNSName):
        pattern = name.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False


class _RawReader(io.RawIOBase):
    def __init__(self, stream: TlsStream) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class TlsStream:
    """A pyOpenSSL connection with the socket surface ``http.client``/``http.server`` use: ``makefile("rb")``,
    ``sendall``, ``recv``, ``close``. Errors arrive as Python's: ``TimeoutError``, ``ConnectionResetError`` (the peer
    went away without close_notify), :class:`TlsAlert`; a close_notify reads as end of file."""

    def __init__(self, connection: SSL.Connection, sock: socket.socket) -> None:
        self.connection = connection
        self.sock = sock

    @property
    def version(self) -> str:
        return str(self.connection.get_protocol_version_name())

    @property
    def group(self) -> str | None:
        name = self.connection.get_group_name()
        return None if name is None else str(name)

    def _translate(self, exc: Exception) -> OSError:
        if isinstance(exc, (SSL.WantReadError, SSL.WantWriteError)):
            return TimeoutError("timed out")
        if isinstance(exc, SSL.SysCallError):
            return ConnectionResetError(f"connection lost: {exc.args[1] if len(exc.args) > 1 else exc}")
        return TlsAlert(str(exc))

    def recv(self, size: int) -> bytes:
        try:
            return bytes(self.connection.recv(size))
        except SSL.ZeroReturnError:
            return b""
        except SSL.Error as exc:
            raise self._translate(exc) from None

    def sendall(self, data: bytes) -> None:
        try:
            self.connection.sendall(data)
        except SSL.Error as exc:
            raise self._translate(exc) from None

    def makefile(self, mode: str = "rb", buffering: int = -1, **_: Any) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError("only 'rb' is supported")
        return io.BufferedReader(_RawReader(self), buffer_size=buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def settimeout(self, timeout: float | None) -> None:
        if timeout is not None:
            set_kernel_timeouts(self.sock, timeout)

    def setsockopt(self, *args: Any) -> None:
        self.sock.setsockopt(*args)

    def close(self) -> None:
        with contextlib.suppress(SSL.Error, OSError):
            self.connection.shutdown()
        self.sock.close()


class PullHandshakeError(Exception):
    """The handshake with the origin failed (Cloudflare: 525)."""


class PullCertificateError(PullHandshakeError):
    """The origin's certificate is not valid for the hostname under the Origin CA (Cloudflare: 526)."""


class Puller:
    """The edge's side of a pull over TLS: TLS 1.2+ (1.3 only under ``pqh``), the groups of :func:`pull_groups`, the
    AOP client certificate when there is one; in strict mode the origin certificate is validated against
    ``trust_pem`` and the hostname. Contexts are cached per configuration; connections are not reused."""

    def __init__(self, trust_pem: str) -> None:
        self._trust_pem = trust_pem
        self._lock = threading.Lock()
        self._contexts: dict[tuple[bool, str, str, bool], SSL.Context] = {}

    def _context(self, strict: bool, identity: tuple[str, str] | None, groups: PullGroups) -> SSL.Context:
        fingerprint = hashlib.sha256(identity[0].encode()).hexdigest() if identity is not None else "none"
        key = (strict, fingerprint, groups.groups, groups.tls13_only)
        with self._lock:
            cached = self._contexts.get(key)
        if cached is not None:
            return cached
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_3_VERSION if groups.tls13_only else SSL.TLS1_2_VERSION)
        set_groups(context, groups.groups)
        if strict:
            load_trust(context, self._trust_pem)
            context.set_verify(SSL.VERIFY_PEER, _remember_verification)
        else:
            context.set_verify(SSL.VERIFY_NONE)
        if identity is not None:
            load_identity(context, *identity)
        with self._lock:
            self._contexts[key] = context
        return context

    def connect(
        self,
        sock: socket.socket,
        *,
        hostname: str,
        strict: bool,
        identity: tuple[str, str] | None,
        groups: PullGroups,
        timeout: float,
    ) -> TlsStream:
        """Complete the handshake on ``sock`` (connected); raises :class:`PullCertificateError` or
        :class:`PullHandshakeError` (any failure: an alert, a reset, a timeout, a group outside ``groups``)."""
        set_kernel_timeouts(sock, timeout)
        connection = SSL.Connection(self._context(strict, identity, groups), sock)
        connection.set_app_data({"verify_error": None})
        connection.set_tlsext_host_name(hostname.encode("ascii"))
        connection.set_connect_state()
        try:
            connection.do_handshake()
        except (SSL.Error, OSError) as exc:
            verify_error = connection.get_app_data()["verify_error"]
            if verify_error is not None:
                raise PullCertificateError(f"certificate verify failed: {verify_error}") from None
            raise PullHandshakeError(str(exc) or type(exc).__name__) from None
        stream = TlsStream(connection, sock)
        if strict:
            leaf = connection.get_peer_certificate(as_cryptography=True)
            if leaf is None or not hostname_matches(leaf, hostname):
                stream.close()
                raise PullCertificateError(f"the certificate does not name {hostname}")
        if stream.group is not None and stream.group.lower() not in {name.lower() for name in groups.names}:
            stream.close()
            raise PullHandshakeError(f"the origin selected {stream.group}, which was not offered")
        return stream


def _remember_verification(connection: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    if not ok:
        connection.get_app_data()["verify_error"] = f"X509 error {errno} at depth {depth}"
    return bool(ok)
