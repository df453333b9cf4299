"""Threaded loopback listeners shared by the sandbox's emulated edge and its Python and post-quantum origins.

Both serve a TLS and a plain-HTTP listener side by side, one thread a connection, wrap the socket in TLS inside the
handler (so a refused handshake fails one connection, not the accept loop) and stay silent about peers that hang
up or fail the handshake, which the TLS-version probes and AOP refusals do on purpose.
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import Any, ClassVar, Self

from ..baseline import Endpoint

__all__ = ["ListenerPair", "LoopbackHandler", "LoopbackServer", "LoopbackService"]

#: How often ``serve_forever`` looks for ``shutdown()``: short, so that stopping a sandbox is quick.
_POLL_INTERVAL = 0.1
_JOIN_TIMEOUT = 5.0


class LoopbackServer(socketserver.ThreadingTCPServer):
    """A threaded TCP listener; ``tls`` says whether its handler wraps connections in TLS.

    Subclasses say how long a connection may idle (:meth:`socket_timeout`) and which server context it gets
    (:meth:`tls_context`, read per connection so that a reconfiguration applies to the next one).
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler], *, tls: bool) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def socket_timeout(self) -> float:
        raise NotImplementedError

    def tls_context(self) -> ssl.SSLContext:
        raise NotImplementedError

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that hangs up or fails the handshake (TLS-version probes, refused AOP pulls) is not an error.
        pass


class LoopbackHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 without logs, ``Server: <server_version>`` alone; TLS set up per connection by the server."""

    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self.request.settimeout(self.server.socket_timeout())
        if self.server.tls:
            # Raises on a refused handshake: socketserver then closes the connection (handle_error is silent).
            self.request = self.server.tls_context().wrap_socket(self.request, server_side=True)
        super().setup()

    def end_closing(self, body: bytes) -> None:
        """End an answer whose status and other headers are sent: ``Content-Length``, ``Connection: close``, the
        body (not for ``HEAD``); the connection is closed after it."""
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ListenerPair:
    """A TLS listener (:attr:`https`) and a plain-HTTP one (:attr:`http`), each served by a daemon thread named
    ``sandbox-<name>``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._servers: list[LoopbackServer] = []
        self._threads: list[threading.Thread] = []

    def start(self, make_server: Callable[[bool], LoopbackServer]) -> None:
        """Bind ``make_server(True)`` (TLS) then ``make_server(False)`` (plain HTTP) and serve both."""
        for tls in (True, False):
            server = make_server(tls)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"sandbox-{self._name}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)

    @property
    def https(self) -> Endpoint:
        return self._endpoint(0)

    @property
    def http(self) -> Endpoint:
        return self._endpoint(1)

    def _endpoint(self, index: int) -> Endpoint:
        if len(self._servers) <= index:
            raise RuntimeError(f"the {self._name} is not started")
        host, port = self._servers[index].server_address[:2]
        return Endpoint(str(host), int(port))

    def stop(self) -> None:
        """Close both listeners (idempotent); connections in flight end on their own timeouts."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=_JOIN_TIMEOUT)


class LoopbackService:
    """What the in-process services share: a :class:`ListenerPair` on ``_host`` served by :attr:`server_class`
    (built as ``server_class((host, 0), service, tls=...)``), its two endpoints, start and stop."""

    server_class: ClassVar[Callable[..., LoopbackServer]]
    _host: str
    _listeners: ListenerPair

    def start(self) -> Self:
        self._listeners.start(lambda tls: self.server_class((self._host, 0), self, tls=tls))
        return self

    @property
    def https(self) -> Endpoint:
        """Where clients connect with TLS."""
        return self._listeners.https

    @property
    def http(self) -> Endpoint:
        """Where clients connect with plain HTTP."""
        return self._listeners.http

    def stop(self) -> None:
        """Close both listeners (idempotent); connections in flight end on their own timeouts."""
        self._listeners.stop()
