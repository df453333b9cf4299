"""Small Python peers in threads, for what nginx will not do on demand.

- :func:`client_auth_server` - requires a client certificate on exactly TLS 1.2 (the alert ends the handshake) or
  exactly TLS 1.3 (the client finishes its handshake; the alert comes on its first read).
- :class:`HttpAnswerServer` - answers every request with a fixed status, raw header lines and body, over TLS or
  plain TCP (495/496, odd header spellings, broken values).
- :class:`AlertAfterServerFlight` - a real TLS 1.2 server flight (with or without a CertificateRequest), then an
  alert instead of the rest of the handshake: GnuTLS's ``decode_error``, from a server that did not ask for a
  certificate.
- :class:`Tarpit` - accepts TCP connections and never says a word.
- :func:`closed_port` - a loopback port where nothing listens.

Every server is a context manager; ``stop()`` closes the listener and every connection and joins the threads.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from origin_tls.baseline import Endpoint

from .pki import IssuedCert

__all__ = [
    "AlertAfterServerFlight",
    "HttpAnswerServer",
    "PeerServer",
    "Tarpit",
    "client_auth_server",
    "closed_port",
]

_S = TypeVar("_S", bound="PeerServer")
_POLL = 0.1
_IO_TIMEOUT = 5.0
_REQUEST_LIMIT = 64 * 1024
_REASONS = {200: "OK", 301: "Moved Permanently", 400: "Bad Request", 495: "SSL Certificate Error",
            496: "SSL Certificate Required"}  # fmt: skip
_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def closed_port(host: str = "127.0.0.1") -> Endpoint:
    """An endpoint that refuses connections: bind port 0, note it, close it (nothing else binds it right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return Endpoint(host, port)


class PeerServer:
    """A loopback TCP listener whose connections are handled in threads by :meth:`handle`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self.endpoint = Endpoint(host, self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.connections_seen = 0
        self.errors: list[str] = []  # what went wrong on the server side (handshake errors ...), for assertions
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"peer-{self.endpoint.port}", daemon=True)

    def start(self: _S) -> _S:
        """Start accepting (idempotent)."""
        if not self._acceptor.is_alive() and not self._stopping.is_set():
            self._acceptor.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections_seen += 1
                self._connections.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(_IO_TIMEOUT)
            self.handle(conn)
        except Exception as exc:
            self.errors.append(f"{exc.__class__.__name__}: {getattr(exc, 'reason', None) or exc}")
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _REQUEST_LIMIT:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class HttpAnswerServer(PeerServer):
    """Answers each request with ``status``, the raw ``header_lines`` (sent exactly as given) and ``body``.

    With ``cert`` it speaks TLS (``versions`` = (min, max), e.g. ("1.2", "1.3")); with ``client_ca`` it asks for
    a client certificate (CERT_OPTIONAL: the handshake succeeds without one, like nginx's ``optional``).
    """

    def __init__(
        self,
        *,
        status: int = 200,
        header_lines: Sequence[str] = (),
        body: bytes = b"ok\n",
        cert: IssuedCert | None = None,
        versions: tuple[str, str] = ("1.2", "1.3"),
        client_ca: Path | None = None,
    ) -> None:
        super().__init__()
        self.status = status
        self.header_lines = tuple(header_lines)
        self.body = body
        self.requests: list[bytes] = []
        self.context: ssl.SSLContext | None = None
        if cert is not None:
            self.context = _server_context(cert, versions, client_ca=client_ca, required=False)

    def handle(self, conn: socket.socket) -> None:
        stream: socket.socket = conn
        if self.context is not None:
            stream = self.context.wrap_socket(conn, server_side=True)
        request = _read_request(stream)
        self.requests.append(request)
        reason = _REASONS.get(self.status, "Status")
        head = [f"HTTP/1.1 {self.status} {reason}", *self.header_lines, f"Content-Length: {len(self.body)}",
                "Connection: close"]  # fmt: skip
        stream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body)
        if isinstance(stream, ssl.SSLSocket):
            with contextlib.suppress(OSError, ValueError):
                stream.unwrap()


class _ClientAuthServer(PeerServer):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def handle(self, conn: socket.socket) -> None:
        tls = self.context.wrap_socket(conn, server_side=True)  # raises (and alerts) without a valid client cert
        _read_request(tls)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\nclient cert seen\n")


def client_auth_server(cert: IssuedCert, client_ca: Path, *, version: str) -> PeerServer:
    """A server that requires a client certificate issued by ``client_ca``, speaking only TLS ``version``
    ("1.2" or "1.3"). Started; use as a context manager or call ``stop()``."""
    return _ClientAuthServer(_server_context(cert, (version, version), client_ca=client_ca, required=True)).start()


def _server_context(
    cert: IssuedCert, versions: tuple[str, str], *, client_ca: Path | None, required: bool
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[versions[0]]
    context.maximum_version = _TLS_VERSIONS[versions[1]]
    context.load_cert_chain(cert.chain_path, cert.key_path)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


class AlertAfterServerFlight(PeerServer):
    """Speaks TLS 1.2 up to the end of its first flight (ServerHello .. ServerHelloDone, made by OpenSSL; with
    ``client_ca`` a CertificateRequest among them), then answers the client's next flight with the fatal alert
    ``alert`` (RFC 5246 section 7.2; 50 is decode_error) and closes."""

    def __init__(self, cert: IssuedCert, *, alert: int = 50, client_ca: Path | None = None) -> None:
        super().__init__()
        self.alert = alert
        self.context = _server_context(cert, ("1.2", "1.2"), client_ca=client_ca, required=False)

    def handle(self, conn: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        flight = b""
        while not flight:  # the ClientHello may arrive in pieces
            data = conn.recv(65536)
            if not data:
                return
            incoming.write(data)
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.do_handshake()
            flight = outgoing.read()
        conn.sendall(flight)
        if conn.recv(65536):  # the client's key exchange (and certificate, when asked): refused, whatever it is
            conn.sendall(bytes([21, 3, 3, 0, 2, 2, self.alert]))


class Tarpit(PeerServer):
    """Accepts TCP connections, reads nothing, answers nothing, until stopped."""

    def handle(self, conn: socket.socket) -> None:
        self.stopping.wait()


def someone_connected(sock: socket.socket) -> bool:
    """Whether a connection is waiting on the listening ``sock`` (accepted and closed), within its timeout."""
    try:
        conn, _ = sock.accept()
    except TimeoutError:
        return False
    conn.close()
    return True
