"""Post-quantum test peers: origins that do and do not negotiate X25519MLKEM768, from two implementations.

- :class:`OpenSslPqServer` - pyOpenSSL on ``cryptography``'s bundled OpenSSL (4.0 in cryptography 50, which has
  ML-KEM): its default groups negotiate X25519MLKEM768; ``groups`` narrows them (``"X25519"``: a classical-only
  origin; ``"X25519:X25519MLKEM768"`` with ``server_preference``: an origin that prefers the classical group when
  a client offers both); ``max_version="1.2"``: a TLS 1.2-only origin; ``client_ca``: requires a client certificate.
  Each handshake's group (or its error) is recorded in :attr:`groups_seen`.
- :class:`GoPqServer` - Go's crypto/tls (Go 1.24+ offers X25519MLKEM768 by default), built from
  ``tests/peers/go/`` (``pq_server.go``, ``go.mod``) with ``go build`` once per machine (cached by the source's
  hash), run as a process. :func:`go_available` says whether ``go`` is on PATH.
- :class:`ScriptedServer` - answers any ClientHello with fixed bytes (a HelloRetryRequest naming another group, a
  TLS 1.2 ServerHello, garbage, a trickle): what real servers do not do on demand.

Loopback only; every server is a context manager and is stopped with everything it started.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from OpenSSL import SSL
from OpenSSL._util import lib as _openssl  # group lists: pyOpenSSL has no public call for them (tests only)

from origin_tls.baseline import Endpoint

from .pki import IssuedCert
from .tls_servers import PeerServer

__all__ = [
    "GoPqServer",
    "OpenSslPqServer",
    "ScriptedServer",
    "go_available",
    "hello_retry_request",
    "server_hello",
]

_GO_DIR = Path(__file__).with_name("go")
# go.mod says "go 1.24": without a module, Go builds with Go 1.20's GODEBUG defaults, and those turn
# X25519MLKEM768 off (tlsmlkem=0).
_GO_FILES = ("go.mod", "pq_server.go")
_GO_START_TIMEOUT = 20.0  # a correctness bound: the built server is up in milliseconds
_BUILD_TIMEOUT = 900.0  # a first build on a loaded 2-core machine takes about a minute


def _read_http_request(conn: SSL.Connection) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        try:
            chunk = conn.recv(4096)
        except (SSL.ZeroReturnError, SSL.SysCallError):
            break
        if not chunk:
            break
        data += chunk
    return data


class OpenSslPqServer(PeerServer):
    """A TLS origin on OpenSSL 4 (pyOpenSSL), answering each request ``200 group <name>``."""

    def __init__(
        self,
        cert: IssuedCert,
        *,
        groups: str | None = None,
        server_preference: bool = False,
        max_version: str = "1.3",
        client_ca: Path | None = None,
    ) -> None:
        super().__init__()
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_max_proto_version(SSL.TLS1_3_VERSION if max_version == "1.3" else SSL.TLS1_2_VERSION)
        context.use_certificate_chain_file(str(cert.chain_path))
        context.use_privatekey_file(str(cert.key_path))
        if groups is not None and _openssl.SSL_CTX_set1_curves_list(context._context, groups.encode()) != 1:
            raise ValueError(f"OpenSSL refused the group list {groups!r}")
        if server_preference:
            context.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE)  # also the server's order of groups (OpenSSL 3+)
        if client_ca is not None:
            context.load_verify_locations(str(client_ca))
            context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        self.context = context
        self.groups_seen: list[str] = []

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(None)  # pyOpenSSL on a socket with a timeout raises WantReadError; stop() shuts it down
        tls = SSL.Connection(self.context, conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
        except SSL.Error as exc:
            self.groups_seen.append(f"error: {exc}")
            raise
        group = tls.get_group_name() or "none"
        self.groups_seen.append(group)
        _read_http_request(tls)
        body = f"group {group}\n".encode()
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        with contextlib.suppress(SSL.Error):
            tls.shutdown()


def openssl_client_group(endpoint: Endpoint, hostname: str, *, groups: str | None = None) -> str:
    """The group an OpenSSL 4 client (pyOpenSSL, its default groups unless ``groups``) negotiates with a server:
    how a test shows what a peer prefers when a client offers both a hybrid and a classical group."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    if groups is not None:
        _openssl.SSL_CTX_set1_curves_list(context._context, groups.encode())
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.settimeout(None)  # pyOpenSSL needs a blocking socket; the server answers at once
        tls = SSL.Connection(context, sock)
        tls.set_tlsext_host_name(hostname.encode())
        tls.set_connect_state()
        tls.do_handshake()
        return tls.get_group_name() or "none"


# ----------------------------------------------------------------------------------------------------------------
# Go crypto/tls


def go_available() -> bool:
    return shutil.which("go") is not None


def _go_binary() -> Path:
    """The built server, cached per machine under the source's hash (rebuilt only when the source changes)."""
    source = b"".join((_GO_DIR / name).read_bytes() for name in _GO_FILES)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "origin-tls-tests"
    binary = cache / f"pq_server-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}.partial")
    subprocess.run(
        ["go", "build", "-o", str(partial), "."],
        cwd=_GO_DIR,
        check=True,
        capture_output=True,
        timeout=_BUILD_TIMEOUT,
        env={**os.environ, "GO111MODULE": "on", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )
    partial.replace(binary)  # atomic: a concurrent build of the same source writes the same bytes
    return binary


class GoPqServer:
    """Go's crypto/tls as an origin (see tests/peers/go/pq_server.go for the flags)."""

    def __init__(
        self,
        cert: IssuedCert,
        *,
        groups: str | None = None,
        max_version: str = "1.3",
        client_ca: Path | None = None,
    ) -> None:
        self.args = ["-cert", str(cert.chain_path), "-key", str(cert.key_path), "-max-version", max_version]
        if groups is not None:
            self.args += ["-groups", groups]
        if client_ca is not None:
            self.args += ["-client-ca", str(client_ca)]
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = Endpoint("127.0.0.1", 0)

    def start(self) -> GoPqServer:
        binary = _go_binary()
        self.process = subprocess.Popen(
            [str(binary), *self.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + _GO_START_TIMEOUT
        line = b""
        while time.monotonic() < deadline and not line.startswith(b"listening "):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the Go TLS server did not start: {error}")
        self.endpoint = Endpoint("127.0.0.1", int(line.split()[1]))
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=5)
        if self.process is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()

    def __enter__(self) -> GoPqServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------------------------
# Scripted answers


def _record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def _server_hello_message(random: bytes, extensions: bytes, *, suite: int = 0x1301) -> bytes:
    body = b"\x03\x03" + random + b"\x20" + bytes(32) + struct.pack("!H", suite) + b"\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    return b"\x02" + len(body).to_bytes(3, "big") + body


def hello_retry_request(group: int) -> bytes:
    """A HelloRetryRequest record (RFC 8446 section 4.1.4) asking for ``group``."""
    random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    extensions = struct.pack("!HHH", 43, 2, 0x0304) + struct.pack("!HHH", 51, 2, group)
    return _record(22, _server_hello_message(random, extensions))


def server_hello(*, version: int, group: int | None = None, share: bytes = b"") -> bytes:
    """A ServerHello record selecting ``version`` (0x0303: a TLS 1.2 answer without supported_versions) and, for
    TLS 1.3, a key share of ``group``."""
    extensions = b""
    if version == 0x0304:
        extensions += struct.pack("!HHH", 43, 2, 0x0304)
        if group is not None:
            extensions += struct.pack("!HHHH", 51, 4 + len(share), group, len(share)) + share
    return _record(22, _server_hello_message(os.urandom(32), extensions))


class ScriptedServer(PeerServer):
    """Reads the ClientHello's first bytes, then sends ``answer`` (``pause`` seconds between ``chunk``-byte
    pieces: a trickle), then keeps the connection open until stopped (``close=False``) or closes it."""

    def __init__(self, answer: bytes, *, chunk: int = 0, pause: float = 0.0, close: bool = True) -> None:
        super().__init__()
        self.answer, self.chunk, self.pause, self.close = answer, chunk, pause, close

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        step = self.chunk or len(self.answer) or 1
        for start in range(0, len(self.answer), step):
            if self.stopping.wait(self.pause if start else 0):
                return
            conn.sendall(self.answer[start : start + step])
        if not self.close:
            self.stopping.wait()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
