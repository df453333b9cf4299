"""Misbehaving peers on loopback: each a real listening socket whose connections a *behaviour* handles.

A behaviour is a function ``(conn, peer) -> None`` run in a thread per connection. ``peer`` gives it the TLS
context, the stop event and the pacing helpers; every wait goes through :meth:`HostilePeer.pause`, so
:meth:`HostilePeer.stop` ends every connection within one pacing step, and a connection lives at most
``MAX_CONNECTION_SECONDS`` even if nobody stops it (a peer must never outlive the test that hangs on it).

The behaviours (issue 8, "Tests"): a trickle at each phase (:func:`trickle_handshake`, :func:`trickle_answer` over
TLS or plain TCP, pointed at the edge or the origin), :func:`endless_headers`, :func:`endless_header_line`,
:func:`endless_body`, :func:`plaintext_answer` on a TLS port, :func:`reset_at_accept`,
:func:`reset_after_client_hello`, :func:`reset_after_handshake`, :func:`close_after_server_hello`,
:func:`alert_mid_answer`, :func:`corrupt_record_mid_answer`, :func:`tarpit_after_handshake`, and
:func:`good_answer` (the well-behaved twin). A very long certificate chain is a :func:`good_answer` peer whose
context serves a huge chain (see ``test_hostile_peers``); IPv6 is ``host="::1"``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from origin_tls.baseline import Endpoint
from tests.peers.pki import IssuedCert

__all__ = [
    "MAX_CONNECTION_SECONDS",
    "Behaviour",
    "HostilePeer",
    "alert_mid_answer",
    "close_after_server_hello",
    "corrupt_record_mid_answer",
    "endless_body",
    "endless_header_line",
    "endless_headers",
    "good_answer",
    "plaintext_answer",
    "reset_after_client_hello",
    "reset_after_handshake",
    "reset_at_accept",
    "server_context",
    "tarpit_after_handshake",
    "trickle_answer",
    "trickle_handshake",
    "trickle_pull_answer",
]

#: No connection of a hostile peer lives longer than this, whatever the client does (a hung client then fails its
#: test on the elapsed-time bound instead of hanging the suite).
MAX_CONNECTION_SECONDS = 30.0
#: Seconds between two trickled bytes: well under any probe timeout, so a per-operation timeout never fires.
TRICKLE_EVERY = 0.2
_POLL = 0.1
_CHUNK = 16 * 1024

Behaviour = Callable[[socket.socket, "HostilePeer"], None]


def server_context(cert: IssuedCert, chain: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2-1.3 server context serving ``cert`` (with ``chain`` instead of its own chain file when given)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain or cert.chain_path, cert.key_path)
    return context


class HostilePeer:
    """A listener on ``host`` (``127.0.0.1`` or ``::1``) whose every connection runs ``behaviour``.

    ``context`` is the server TLS context the behaviours that speak TLS use (None for plain-TCP behaviours).
    ``connections`` counts accepted connections; ``bytes_sent`` what the behaviours wrote (how hard it flooded).
    """

    def __init__(self, behaviour: Behaviour, *, context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.context = context
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(128)
        self._listener.settimeout(_POLL)
        self.endpoint = Endpoint(host, self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._local = threading.local()  # per connection: its deadline
        self.connections = 0
        self.bytes_sent = 0
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"hostile-{self.endpoint.port}", daemon=True)

    def __repr__(self) -> str:
        return f"HostilePeer({self.behaviour.__name__}, {self.endpoint})"

    # -- lifecycle

    def start(self) -> HostilePeer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every connection, join the threads (each within one pacing step)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns, threads = list(self._open), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> HostilePeer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._open.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL * 5)
        self._local.deadline = time.monotonic() + MAX_CONNECTION_SECONDS
        with contextlib.suppress(OSError, ssl.SSLError, ValueError, _Done):
            self.behaviour(conn, self)
        with contextlib.suppress(OSError):
            conn.close()

    # -- helpers for behaviours

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``; raise (ending the behaviour) once the peer stops or the connection is too old."""
        if self._stopping.wait(seconds) or time.monotonic() > getattr(self._local, "deadline", 0.0):
            raise _Done

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def trickle(self, conn: socket.socket, data: bytes, *, every: float = TRICKLE_EVERY) -> None:
        """Send ``data`` one byte at a time, ``every`` seconds apart."""
        for index in range(len(data)):
            self.pause(every)
            self.send(conn, data[index : index + 1])

    def read_request(self, conn: socket.socket) -> bytes:
        """Read until the end of the request head (or 64 KiB, or the client closes)."""
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                self.pause(0)
                continue
            if not chunk:
                break
            data += chunk
        return data

    def wrap(self, conn: socket.socket) -> ssl.SSLSocket:
        """The server side of a normal, complete TLS handshake."""
        if self.context is None:
            raise RuntimeError(f"{self!r} needs a TLS context")
        conn.settimeout(5)
        tls = self.context.wrap_socket(conn, server_side=True)  # takes over conn's descriptor
        tls.settimeout(_POLL * 5)
        with self._lock:
            self._open.append(tls)  # so that stop() can end it; the caller must also keep it referenced
        return tls


class _Done(Exception):
    """The peer is stopping or the connection has lived long enough."""


def _endless(unit: bytes) -> Iterator[bytes]:
    block = unit * max(1, _CHUNK // len(unit))
    while True:
        yield block


def _flood(conn: socket.socket, peer: HostilePeer, chunks: Iterator[bytes]) -> None:
    for chunk in chunks:
        peer.pause(0)
        peer.send(conn, chunk)


def _reset(conn: socket.socket) -> None:
    # SO_LINGER on with a zero timeout: close() sends RST instead of FIN (socket(7), tcp(7)).
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _read_client_hello(conn: socket.socket, peer: HostilePeer) -> bytes:
    """The first TLS record(s) the client sends: at least one whole record (RFC 8446 section 5.1 header)."""
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        try:
            chunk = conn.recv(_CHUNK)
        except TimeoutError:
            peer.pause(0)
            continue
        if not chunk:
            raise _Done
        data += chunk
    return data


def _memory_server(peer: HostilePeer) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    if peer.context is None:
        raise RuntimeError(f"{peer!r} needs a TLS context")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    return peer.context.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing


STS = b"Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"


# -- the well-behaved twin


def good_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """A complete TLS handshake and a complete answer: 200 with a valid HSTS header (or the plain twin: 301)."""
    stream: socket.socket = peer.wrap(conn) if peer.context is not None else conn
    peer.read_request(stream)
    head = b"HTTP/1.1 200 OK\r\n" + STS if peer.context is not None else b"HTTP/1.1 301 Moved\r\n"
    peer.send(
        stream, head + b"Location: https://app.example.test/\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
    )


# -- trickles


def trickle_handshake(conn: socket.socket, peer: HostilePeer) -> None:
    """A real TLS server whose every handshake byte comes ``TRICKLE_EVERY`` seconds after the previous one."""
    obj, incoming, outgoing = _memory_server(peer)
    while True:
        incoming.write(_read_client_hello(conn, peer))
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            peer.trickle(conn, outgoing.read())  # the alert, trickled too
            return
        peer.trickle(conn, outgoing.read())


def trickle_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """Handshake (when TLS) and request as usual, then an answer one byte at a time whose head never ends:
    a status line, an HSTS header (over TLS) or a redirect (plain), then ``X-Slow`` headers for ever."""
    stream: socket.socket = peer.wrap(conn) if peer.context is not None else conn
    peer.read_request(stream)
    head = b"HTTP/1.1 200 OK\r\n" + STS if peer.context is not None else b"HTTP/1.1 301 Moved\r\n"
    peer.trickle(stream, head + b"Location: https://app.example.test/\r\n")
    while True:
        peer.trickle(stream, b"X-Slow: 1\r\n")


def trickle_pull_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """An origin that trickles nginx's refusal ("400 No required SSL certificate was sent") and never ends it."""
    tls = peer.wrap(conn)
    peer.read_request(tls)
    peer.trickle(tls, b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n")
    while True:
        peer.trickle(tls, b"X-Slow: 1\r\n")


# -- floods


def endless_headers(conn: socket.socket, peer: HostilePeer) -> None:
    """A status line, then header lines as fast as the client reads them, for ever."""
    tls = peer.wrap(conn)
    peer.read_request(tls)
    peer.send(tls, b"HTTP/1.1 200 OK\r\n" + STS)
    _flood(tls, peer, _endless(b"X-Flood: 0123456789abcdef0123456789abcdef\r\n"))


def endless_header_line(conn: socket.socket, peer: HostilePeer) -> None:
    """A status line, then one header line that never ends."""
    tls = peer.wrap(conn)
    peer.read_request(tls)
    peer.send(tls, b"HTTP/1.1 200 OK\r\n" + STS + b"X-Long: ")
    _flood(tls, peer, _endless(b"a"))


def endless_body(conn: socket.socket, peer: HostilePeer) -> None:
    """A complete head WITHOUT an HSTS header, then a body that never ends (no length, no chunking)."""
    tls = peer.wrap(conn)
    peer.read_request(tls)
    peer.send(tls, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    _flood(tls, peer, _endless(b"0123456789abcdef"))


# -- protocol violations


def plaintext_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """A plain-HTTP server on a port the client takes for TLS: it answers the ClientHello with HTTP text."""
    _read_client_hello(conn, peer)
    peer.send(conn, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def reset_at_accept(conn: socket.socket, peer: HostilePeer) -> None:
    _reset(conn)


def reset_after_client_hello(conn: socket.socket, peer: HostilePeer) -> None:
    _read_client_hello(conn, peer)
    _reset(conn)


def reset_after_handshake(conn: socket.socket, peer: HostilePeer) -> None:
    tls = peer.wrap(conn)
    peer.read_request(tls)
    _reset(tls)


def close_after_server_hello(conn: socket.socket, peer: HostilePeer) -> None:
    """The first record of the server's flight (the ServerHello), then a clean TCP close."""
    obj, incoming, outgoing = _memory_server(peer)
    incoming.write(_read_client_hello(conn, peer))
    with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
        obj.do_handshake()
    flight = outgoing.read()
    if len(flight) >= 5:
        first = 5 + int.from_bytes(flight[3:5], "big")
        peer.send(conn, flight[:first])
    conn.shutdown(socket.SHUT_WR)
    peer.pause(0.5)


def _read_app_request(conn: socket.socket, peer: HostilePeer, obj: ssl.SSLObject, incoming: ssl.MemoryBIO) -> None:
    while True:
        try:
            if b"\r\n\r\n" in obj.read(65536):
                return
        except ssl.SSLWantReadError:
            pass
        incoming.write(_read_client_hello(conn, peer))


def alert_mid_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """Half an answer head, then a close_notify alert (RFC 8446 section 6.1) and a TCP close: a torn answer."""
    tls = peer.wrap(conn)
    peer.read_request(tls)
    peer.send(tls, b"HTTP/1.1 200 OK\r\n" + STS)
    tls.settimeout(1)
    with contextlib.suppress(OSError, ssl.SSLError):
        tls.unwrap()


def corrupt_record_mid_answer(conn: socket.socket, peer: HostilePeer) -> None:
    """Half an answer head, then a record whose ciphertext is damaged: the client's decryption must fail
    (bad_record_mac, RFC 8446 section 5.2) and say so, not wait."""
    obj, incoming, outgoing = _memory_server(peer)
    while True:
        incoming.write(_read_client_hello(conn, peer))
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            peer.send(conn, outgoing.read())
    peer.send(conn, outgoing.read())
    _read_app_request(conn, peer, obj, incoming)
    obj.write(b"HTTP/1.1 200 OK\r\n" + STS)
    peer.send(conn, outgoing.read())
    obj.write(b"X-Torn: this record is damaged on the wire\r\n")
    record = bytearray(outgoing.read())
    record[-1] ^= 0xFF  # the last byte is the AEAD tag's: authentication fails
    peer.send(conn, bytes(record))
    peer.pause(MAX_CONNECTION_SECONDS)


def tarpit_after_handshake(conn: socket.socket, peer: HostilePeer) -> None:
    """A complete handshake, then silence until stopped."""
    tls = peer.wrap(conn)  # referenced until the end: a collected SSLSocket closes (and, unread, resets)
    peer.pause(MAX_CONNECTION_SECONDS)
    tls.close()
