"""The benchmark bed: one nginx edge and one nginx origin on loopback serving any number of hostnames.

- edge: ``*.bench.test`` over HTTPS (TLS 1.2 and 1.3, one HSTS header, a certificate from the test CA), and a
  plain-HTTP listener redirecting to ``https://$host/`` (its own nginx process, so its connections are counted
  apart from the TLS ones);
- origin: ``*.bench.test`` with an Origin-CA-like certificate (``TestPki.origin``: Cloudflare's O/OU, SANs
  ``bench.test`` and ``*.bench.test``), ``ssl_verify_client on`` against the client CA (Authenticated Origin Pulls);
  ``origins=N`` gives it N such listeners (one port each, one nginx process: :attr:`Bed.origins`), for fleets;
- every PEM a user would hand ``verify`` written to files (edge CA, origin CA, client certificate and key);
- optionally a :class:`~bench.latency_proxy.LatencyProxy` in front of each listener (``one_way_ms``).

Connections are counted twice: by nginx itself (``stub_status`` "accepts", one status listener per nginx process,
minus our own status requests) and, behind the relay, by the relay. The two must agree.
"""

from __future__ import annotations

import contextlib
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.latency_proxy import LatencyProxy, ProxyCounts
from origin_tls.baseline import Endpoint
from tests.peers.nginx import HttpSite, NginxServer, TlsSite, free_port
from tests.peers.pki import TestPki

__all__ = ["DOMAIN", "Bed", "Counts", "hostnames"]

DOMAIN = "bench.test"
STS = "max-age=31536000; includeSubDomains"


#: nginx's default here (tests/peers) is 512 connections per worker: a prober with more in flight would queue at
#: the bed, not at its own bound.
WORKER_CONNECTIONS = 4096


class _BedNginx(NginxServer):
    def render(self) -> str:
        text = super().render()
        if "worker_connections 512;" not in text:
            raise RuntimeError("tests/peers/nginx.py no longer renders 'worker_connections 512;': update bench/bed.py")
        return text.replace("worker_connections 512;", f"worker_connections {WORKER_CONNECTIONS};")


def hostnames(count: int) -> list[str]:
    return [f"h{i}.{DOMAIN}" for i in range(count)]


class _StatusSite(HttpSite):
    """``GET /status`` answers nginx's stub_status (connections accepted by this nginx process)."""

    def render(self) -> str:
        return (
            "    server {\n"
            f"        listen {self.host}:{self.port};\n"
            "        access_log off;\n"
            "        location = /status { stub_status; }\n"
            "    }\n"
        )


@dataclass
class _Role:
    name: str
    server: NginxServer
    status: _StatusSite
    listeners: list[TlsSite | HttpSite] = field(default_factory=list)  # what verify connects to; the first proxied
    endpoint: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 0))
    proxy: LatencyProxy | None = None
    status_reads: int = 0
    baseline_accepts: int = 0

    def _status(self) -> bytes:
        with socket.create_connection((self.status.host, self.status.port), timeout=5) as sock:
            sock.sendall(b"GET /status HTTP/1.0\r\nHost: status\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        self.status_reads += 1
        return answer

    def accepts(self) -> int:
        """Connections this nginx accepted since :meth:`reset`, our own status requests left out."""
        answer = self._status()
        match = re.search(rb"server accepts handled requests\s+(\d+)", answer)
        if match is None:
            raise RuntimeError(f"{self.name}: no stub_status in {answer[:200]!r}")
        return int(match.group(1)) - self.status_reads - self.baseline_accepts

    def active(self) -> int:
        """Connections open to this nginx right now, our own status request left out."""
        match = re.search(rb"Active connections:\s+(\d+)", self._status())
        if match is None:
            raise RuntimeError(f"{self.name}: no 'Active connections' in its stub_status")
        return int(match.group(1)) - 1

    def reset(self) -> None:
        self.baseline_accepts = 0
        self.baseline_accepts = self.accepts()
        if self.proxy is not None:
            self.proxy.reset()


@dataclass(frozen=True)
class Counts:
    """Connections since the last :meth:`Bed.reset`, per listener, as nginx counted them (and the relay, if any)."""

    edge_tls: int
    edge_http: int
    origin_tls: int
    relay: dict[str, ProxyCounts] | None

    @property
    def tls(self) -> int:
        return self.edge_tls + self.origin_tls

    def relay_agrees(self) -> bool:
        if self.relay is None:
            return True
        return (
            self.relay["edge"].accepted == self.edge_tls
            and self.relay["edge_http"].accepted == self.edge_http
            and self.relay["origin"].accepted == self.origin_tls
        )


@dataclass(frozen=True)
class Files:
    edge_ca: Path
    origin_ca: Path
    client_cert: Path
    client_key: Path


class Bed:
    """``with Bed(one_way_ms=25) as bed:`` then point ``verify`` at ``bed.edge``, ``bed.edge_http``, ``bed.origin``.

    ``origins``: how many origin listeners (:attr:`origins`; :attr:`origin` is the first), all in the one origin
    nginx process, so :meth:`counts` adds up their connections. Several origins go without the relay.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        one_way_ms: float = 0.0,
        tcp_handshake: bool = True,
        origins: int = 1,
    ) -> None:
        if origins < 1:
            raise ValueError("origins must be at least 1")
        if origins > 1 and one_way_ms > 0:
            raise ValueError("the relay goes in front of one origin only: several origins need one_way_ms=0")
        self._stack = contextlib.ExitStack()
        if directory is None:
            directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="origin-tls-bed-")))
        self.directory = Path(directory)
        self.one_way_ms = one_way_ms
        self.tcp_handshake = tcp_handshake
        pki = TestPki(self.directory / "pki")
        edge_cert = pki.ca.issue(f"*.{DOMAIN}", label="edge")
        origin_cert = pki.origin(DOMAIN)
        client = pki.client()
        self.files = Files(
            edge_ca=pki.ca.cert_path,
            origin_ca=pki.origin_ca.cert_path,
            client_cert=client.cert_path,
            client_key=client.key_path,
        )
        self._roles: dict[str, _Role] = {}
        edge = self._role("edge")
        edge.listeners.append(edge.server.add_tls_site(f"*.{DOMAIN}", cert=edge_cert, sts=[STS]))
        edge_http = self._role("edge_http")
        edge_http.listeners.append(edge_http.server.add_http_site(redirect=True))
        origin = self._role("origin")
        origin.listeners += [
            origin.server.add_tls_site(
                f"*.{DOMAIN}", cert=origin_cert, verify_client="on", client_ca=pki.client_ca.cert_path
            )
            for _ in range(origins)
        ]
        for role in self._roles.values():
            role.endpoint = role.listeners[0].endpoint

    def _role(self, name: str) -> _Role:
        server = _BedNginx(self.directory / f"nginx-{name}")
        status = _StatusSite(port=free_port())
        server.sites.append(status)
        role = _Role(name, server, status)
        self._roles[name] = role
        return role

    # -- lifecycle

    def __enter__(self) -> Bed:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Bed:
        try:
            for role in self._roles.values():
                self._stack.enter_context(role.server)
                # NginxServer may have picked new ports when one was taken: read them back.
                role.endpoint = role.listeners[0].endpoint
                if self.one_way_ms > 0:
                    role.proxy = self._stack.enter_context(
                        LatencyProxy(role.endpoint, one_way_ms=self.one_way_ms, tcp_handshake=self.tcp_handshake)
                    )
            self.reset()
        except BaseException:
            self._stack.close()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()

    # -- where to connect

    def _reached(self, name: str) -> Endpoint:
        role = self._roles[name]
        return role.proxy.endpoint if role.proxy is not None else role.endpoint

    @property
    def edge(self) -> Endpoint:
        return self._reached("edge")

    @property
    def edge_http(self) -> Endpoint:
        return self._reached("edge_http")

    @property
    def origin(self) -> Endpoint:
        return self._reached("origin")

    @property
    def origins(self) -> tuple[Endpoint, ...]:
        """Every origin listener (``origins=``), :attr:`origin` first."""
        return (self.origin, *(site.endpoint for site in self._roles["origin"].listeners[1:]))

    # -- counting

    def reset(self) -> None:
        for role in self._roles.values():
            role.reset()

    @contextlib.contextmanager
    def origin_peak(self, every: float = 0.005) -> Iterator[list[int]]:
        """``with bed.origin_peak() as peak:`` then ``peak[0]``: the most connections open at once to the origin
        while the block ran. Behind the relay, its exact count; on bare loopback, nginx's "Active connections"
        sampled every ``every`` seconds (a sample: it can miss a peak between two reads, never invent one)."""
        role = self._roles["origin"]
        peak = [0]
        if role.proxy is not None:
            yield peak
            role.proxy.wait_idle()
            peak[0] = role.proxy.counts().peak_active
            return
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(every):
                peak[0] = max(peak[0], role.active())

        sampler = threading.Thread(target=sample, name="origin-peak", daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            stop.set()
            sampler.join()

    def counts(self) -> Counts:
        roles = self._roles
        relay = None
        for role in roles.values():
            if role.proxy is not None and not role.proxy.wait_idle():
                raise RuntimeError(f"{role.name}: relayed connections still open 10 s after the run")
        if all(role.proxy is not None for role in roles.values()):
            relay = {name: role.proxy.counts() for name, role in roles.items() if role.proxy is not None}
        return Counts(
            edge_tls=roles["edge"].accepts(),
            edge_http=roles["edge_http"].accepts(),
            origin_tls=roles["origin"].accepts(),
            relay=relay,
        )
