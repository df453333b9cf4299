"""Every byte of a probe under ONE monotonic deadline: connect, TLS through memory buffers, one HTTP request.

Socket timeouts are per operation (a peer trickling a byte per second never trips them), so:

- :class:`Deadline` is a point on the monotonic clock (a probe's ``timeout``, cut to the run's ``--deadline``);
- :func:`connect` resolves the name in a thread it waits for until the deadline, then connects with the time left;
- :class:`TlsStream` runs the TLS handshake and every record read through ``ssl.MemoryBIO``, giving the socket the
  time left before each ``recv``/``send`` (and keeping the server's handshake bytes when asked: RFC 5246 section
  7.4, RFC 8446 section 4.1.3 are what :mod:`origin_tls.tls_wire` parses from them); :class:`PlainStream` the same
  for plain TCP;
- :func:`http_get` sends one ``GET /`` and reads the answer with :func:`~origin_tls.tls_wire.read_http_answer`.

Past the deadline every operation raises :class:`~origin_tls.tls_wire.ProbeTimeout` naming it; past a byte bound,
:class:`~origin_tls.tls_wire.BoundExceeded`. Only :mod:`origin_tls.probes` uses this module.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .baseline import Endpoint
from .tls_client import _ALERT_PREFIXES
from .tls_wire import MAX_HANDSHAKE_BYTES, BoundExceeded, HttpAnswer, ProbeTimeout, read_http_answer

__all__ = [
    "DEADLINE_REACHED",
    "TIMEOUT_REACHED",
    "Deadline",
    "PlainStream",
    "ProbeTimeout",
    "TlsStream",
    "connect",
    "http_get",
]

#: What a probe cut by its own timeout reports.
TIMEOUT_REACHED = "no complete answer within the timeout (it bounds the whole probe)"
#: What a probe cut by the run's --deadline reports.
DEADLINE_REACHED = "deadline reached (--deadline bounds the whole run)"


class Deadline:
    """A point on the monotonic clock; :meth:`remaining` raises :class:`ProbeTimeout` once it has passed."""

    __slots__ = ("at", "reason")

    def __init__(self, at: float, reason: str = TIMEOUT_REACHED) -> None:
        self.at = at
        self.reason = reason

    @classmethod
    def within(cls, timeout: float | Deadline, run: Deadline | None = None) -> Deadline:
        """``timeout`` seconds from now (or that deadline), cut to the run's deadline when that comes first."""
        own = timeout if isinstance(timeout, Deadline) else cls(time.monotonic() + timeout)
        return run if run is not None and run.at < own.at else own

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise ProbeTimeout(self.reason)
        return left

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


# Name resolution is a blocking libc call no socket timeout reaches: it runs in a daemon thread, waited for until the
# deadline. Daemon, not a pool: a resolver stuck past the deadline must not hold up the process's exit (Ctrl-C
# ends verify within a second), and a pool's threads are joined at exit.
def _resolve(host: str, port: int, deadline: Deadline) -> list[tuple[Any, ...]]:
    answer: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting probe
            answer.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="resolve", daemon=True).start()
    if not done.wait(deadline.remaining()):
        raise ProbeTimeout(deadline.reason)
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return list(answer[0])


def _addresses(endpoint: Endpoint, deadline: Deadline) -> list[tuple[int, tuple[str, int]]]:
    host = endpoint.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return [(family, (host, endpoint.port))]
    infos = _resolve(host, endpoint.port, deadline)
    return [(family, sockaddr[:2]) for family, _, _, _, sockaddr in infos]


def connect(endpoint: Endpoint, deadline: Deadline | float) -> socket.socket:
    """A TCP connection (name resolution included) before ``deadline``; OSError otherwise."""
    deadline = Deadline.within(deadline)
    error: OSError | None = None
    for family, address in _addresses(endpoint, deadline):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            with _deadline_errors(deadline):
                sock.settimeout(deadline.remaining())
                sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            if isinstance(exc, ProbeTimeout):
                raise
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error if error is not None else OSError(f"no address for {endpoint.host}")


@contextlib.contextmanager
def _deadline_errors(deadline: Deadline) -> Iterator[None]:
    """A socket timeout here is the deadline's (the socket was given exactly the time left): say which one."""
    try:
        yield
    except ProbeTimeout:
        raise
    except TimeoutError:
        raise ProbeTimeout(deadline.reason) from None


class PlainStream:
    """A TCP connection whose every ``send``/``recv`` is bounded by the deadline left."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline

    def send(self, data: bytes) -> None:
        with _deadline_errors(self.deadline):
            self.sock.settimeout(self.deadline.remaining())
            self.sock.sendall(data)  # Python 3.5+: the timeout bounds the whole sendall

    def recv(self, size: int) -> bytes:
        with _deadline_errors(self.deadline):
            self.sock.settimeout(self.deadline.remaining())
            return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()


class TlsStream:
    """A TLS client over a connected socket, driven through ``ssl.MemoryBIO`` so that the handshake and every
    record read are bounded by one deadline.

    With ``record=True`` every byte the server sent during the handshake is kept in :attr:`received` (the
    ServerHello and, on TLS 1.2, the Certificate are in clear: RFC 5246 section 7.4, RFC 8446 section 4.1.3).
    At most :data:`~origin_tls.tls_wire.MAX_HANDSHAKE_BYTES` are accepted during a handshake.
    """

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext, server_name: str, deadline: Deadline, *, record: bool
    ) -> None:
        self.sock = sock
        self.deadline = deadline
        self.received = bytearray()
        self._record = record
        self._handshake_bytes = 0
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        self.handshake_done = False

    def handshake(self, *, stop: Callable[[bytearray], bool] | None = None) -> bool:
        """Run the client handshake to its end (True); the SSLError/OSError that ended it propagates.

        ``stop`` (with ``record=True``): called with the buffer of bytes received so far (it only grows; read only
        what is new: :class:`~origin_tls.tls_wire.ServerHelloReader`) after each read; when it says so the
        handshake is left unfinished and False is returned (e.g. once a ServerHello is the evidence wanted).
        """
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill(handshake=True)
                if stop is not None and stop(self.received):  # not a copy: a trickle must cost linear work
                    return False
            except ssl.SSLError:
                with contextlib.suppress(OSError):
                    self._flush()  # our own alert, politely
                raise
        self.handshake_done = True
        with contextlib.suppress(OSError):
            # The client's last flight (Finished, its certificate). A server that refuses it may already have
            # closed: the reason comes with the next read.
            self._flush()
        return True

    def version(self) -> str | None:
        return self.obj.version()

    def peer_certificate(self) -> bytes | None:
        return self.obj.getpeercert(binary_form=True)

    def send(self, data: bytes) -> None:
        self.obj.write(data)
        try:
            self._flush()
        except OSError:
            self._raise_pending_alert()
            raise

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of application data; ``b""`` at the end (close_notify or a bare close, as an
        ``ssl.SSLSocket`` with ``suppress_ragged_eofs`` reports it). A TLS alert raises its SSLError."""
        while True:
            try:
                data = self.obj.read(size)
            except ssl.SSLWantReadError:
                # What OpenSSL answered to post-handshake messages (a CertificateRequest: RFC 8446 section 4.6.2;
                # a KeyUpdate: 4.6.3) is waiting in the outgoing buffer: send it, or the server waits for it.
                self._flush()
                self._fill(handshake=False)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            self._flush()
            return data

    def close(self) -> None:
        self.sock.close()

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            with _deadline_errors(self.deadline):
                self.sock.settimeout(self.deadline.remaining())
                self.sock.sendall(pending)

    def _fill(self, *, handshake: bool) -> None:
        with _deadline_errors(self.deadline):
            self.sock.settimeout(self.deadline.remaining())
            data = self.sock.recv(16 * 1024)
        if not data:
            self._incoming.write_eof()
            return
        if handshake:
            self._handshake_bytes += len(data)
            if self._handshake_bytes > MAX_HANDSHAKE_BYTES:
                raise BoundExceeded(f"the server sent more than {MAX_HANDSHAKE_BYTES // 1024} KiB during the handshake")
            if self._record:
                self.received.extend(data)
        self._incoming.write(data)

    def _raise_pending_alert(self) -> None:
        """After a failed write, raise the TLS alert that may be waiting in the receive buffer.

        A TLS 1.3 server that refuses the client certificate sends its alert and closes right after the client's
        Finished (RFC 8446 section 4.4.2.4); a request written at that moment fails (EOF/EPIPE) while the alert is
        already here. Seen in about one connection in five against a Python server on loopback.
        """
        try:
            self.sock.settimeout(min(self.deadline.remaining(), 0.5))
            data = self.sock.recv(16 * 1024)
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
            self.obj.read(1)
        except ssl.SSLError as alert:
            if (alert.reason or "").startswith(_ALERT_PREFIXES):
                raise alert from None
        except OSError:
            return


def http_get(stream: TlsStream | PlainStream, hostname: str) -> HttpAnswer:
    """``GET / HTTP/1.1`` with ``Host: hostname``; the answer's status, raw headers and first body bytes, read
    under the stream's deadline (:func:`~origin_tls.tls_wire.read_http_answer` bounds its size)."""
    request = (
        f"GET / HTTP/1.1\r\nHost: {hostname}\r\nUser-Agent: origin-tls-probe\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n"
    )
    stream.send(request.encode("ascii"))
    return read_http_answer(stream.recv)
