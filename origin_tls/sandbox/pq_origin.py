"""A post-quantum-capable origin for the sandbox: a real TLS server on pyOpenSSL and ``cryptography``'s bundled
OpenSSL, which negotiates X25519MLKEM768 (Debian 12's nginx, on OpenSSL 3.0, cannot).

It behaves like the sandbox's nginx origin running :func:`origin_tls.origin_config.build_nginx_config`'s
configuration: TLS 1.2+ (or the configured floor), the same certificate and key, and with a pull CA the same
``ssl_verify_client on`` answers: the handshake completes whatever the client presents, then ``400 No required SSL
certificate was sent`` without a certificate and ``400 The SSL certificate error`` for one the CA did not issue (nginx
checks after the handshake, ngx_http_request.c); ``200 origin ok`` otherwise. A plain-HTTP listener serves Flexible
pulls.

:meth:`PqOrigin.set_post_quantum` switches its groups between X25519MLKEM768 + classical (a server on OpenSSL 3.5+)
and classical only (the same server rebuilt on OpenSSL 3.0): the demo's "origin loses post-quantum support".
"""

from __future__ import annotations

import socketserver
from collections.abc import Sequence
from typing import Any

from OpenSSL import SSL

from ..baseline import TlsVersion
from .origin import InProcessOrigin, OriginConfig
from .pq_tls import CLASSICAL_GROUPS, HYBRID_GROUP, TlsStream, load_identity, load_trust, set_groups
from .servers import LoopbackHandler, LoopbackServer

__all__ = ["PQ_GROUPS", "PqOrigin"]

#: What the origin accepts with post-quantum support on (server preference: the hybrid first).
PQ_GROUPS = ":".join([HYBRID_GROUP, *CLASSICAL_GROUPS])
_TIMEOUT = 5.0
_BODY = b"origin ok\n"
_MIN_VERSION = {
    TlsVersion.TLS_1_0: SSL.TLS1_2_VERSION,  # the floor never goes below TLS 1.2, as in the nginx origin
    TlsVersion.TLS_1_1: SSL.TLS1_2_VERSION,
    TlsVersion.TLS_1_2: SSL.TLS1_2_VERSION,
    TlsVersion.TLS_1_3: SSL.TLS1_3_VERSION,
}


def _nginx_error_page(reason: str) -> bytes:
    """nginx's built-in 400 page for a client-certificate refusal (ngx_http_special_response.c)."""
    return (
        "<html>\r\n"
        f"<head><title>400 {reason}</title></head>\r\n"
        "<body>\r\n"
        "<center><h1>400 Bad Request</h1></center>\r\n"
        f"<center>{reason}</center>\r\n"
        "<hr><center>nginx</center>\r\n"
        "</body>\r\n"
        "</html>\r\n"
    ).encode("ascii")


def _accept_and_remember(connection: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    # nginx's ssl_verify_client: never fail the handshake; the HTTP layer answers 400 afterwards.
    if not ok:
        connection.get_app_data()["verify_error"] = errno
    return True


class _Server(LoopbackServer):
    def __init__(self, address: tuple[str, int], origin: PqOrigin, *, tls: bool) -> None:
        self.origin = origin
        super().__init__(address, _Handler, tls=tls)

    def socket_timeout(self) -> float:
        return _TIMEOUT


class _Handler(LoopbackHandler):
    server: _Server
    server_version = "nginx"

    def setup(self) -> None:
        self.tls_state: dict[str, Any] | None = None
        if not self.server.tls:
            super().setup()
            return
        raw = self.request
        stream = TlsStream(SSL.Connection(self.server.origin.context(), raw), raw)
        stream.settimeout(_TIMEOUT)
        self.tls_state = {"verify_error": None}
        stream.connection.set_app_data(self.tls_state)
        stream.connection.set_accept_state()
        # Raises on a failed handshake (no group in common under pqh, a TLS 1.2-only client...): socketserver closes
        # the connection and stays silent (LoopbackServer.handle_error).
        stream.connection.do_handshake()
        self.tls_state["group"] = stream.group
        self.tls_state["peer"] = stream.connection.get_peer_certificate() is not None
        self.request = stream
        socketserver.StreamRequestHandler.setup(self)

    def do_GET(self) -> None:
        status, body, content_type = 200, _BODY, "text/plain"
        config = self.server.origin.config
        state = self.tls_state
        if state is not None and config.client_ca_pem is not None:
            if not state["peer"]:
                status, body = 400, _nginx_error_page("No required SSL certificate was sent")
                content_type = "text/html"
            elif state["verify_error"] is not None:
                status, body = 400, _nginx_error_page("The SSL certificate error")
                content_type = "text/html"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.end_closing(body)

    do_HEAD = do_GET
    do_POST = do_GET

    def finish(self) -> None:
        super().finish()
        if isinstance(self.request, TlsStream):
            self.request.close()


class PqOrigin(InProcessOrigin[SSL.Context]):
    """The post-quantum origin on loopback (``kind = "pyopenssl"``); the :class:`~.origin.Origin` interface plus
    :attr:`post_quantum`/:meth:`set_post_quantum`. A reconfiguration applies to the next connection."""

    kind = "pyopenssl"
    server_class = _Server

    def __init__(
        self, config: OriginConfig, *, hostnames: Sequence[str], host: str = "127.0.0.1", post_quantum: bool = True
    ) -> None:
        self._post_quantum = post_quantum  # before the context, which offers the groups it says
        super().__init__(config, hostnames=hostnames, host=host, name="pq-origin")

    def __repr__(self) -> str:
        return f"PqOrigin(post_quantum={self.post_quantum!r})"

    @staticmethod
    def _build(config: OriginConfig, post_quantum: bool) -> SSL.Context:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(_MIN_VERSION[config.min_tls])
        load_identity(context, config.certificate_pem, config.private_key_pem)
        set_groups(context, PQ_GROUPS if post_quantum else ":".join(CLASSICAL_GROUPS))
        context.set_session_id(b"origin-tls-pq-origin")
        if config.client_ca_pem is not None:
            load_trust(context, config.client_ca_pem)
            context.set_verify(SSL.VERIFY_PEER, _accept_and_remember)
        else:
            context.set_verify(SSL.VERIFY_NONE)
        return context

    @property
    def post_quantum(self) -> bool:
        with self._lock:
            return self._post_quantum

    def _context_for(self, config: OriginConfig) -> SSL.Context:
        return self._build(config, self.post_quantum)

    def set_post_quantum(self, enabled: bool) -> None:
        """Offer X25519MLKEM768 (``True``) or classical groups only (``False``) from the next connection on."""
        with self._lock:
            config = self._config
        context = self._build(config, enabled)
        with self._lock:
            self._post_quantum, self._context = enabled, context
