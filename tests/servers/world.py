"""The variants every server under test serves, and a small world to verify against them.

One server process per server kind hosts every variant, each on its own loopback port (:func:`build_server`), so
the session starts four processes in all. A variant the server cannot express is recorded with the reason, and a
test that needs it skips saying so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.report import TargetReport
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers.apache import ApacheServer
from tests.peers.caddy import CaddyServer
from tests.peers.haproxy import HaproxyServer
from tests.peers.lighttpd import LighttpdServer
from tests.peers.listeners import ClientAuth, Listener, PlainListener, TlsListener, Unsupported
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.server_process import ServerProcess

__all__ = ["GOOD_STS", "SERVERS", "ServerWorld", "build_server"]

GOOD_STS = "max-age=31536000; includeSubDomains"
WEAK_STS = "max-age=300; includeSubDomains"

SERVERS: dict[str, type[ServerProcess]] = {
    "apache": ApacheServer,
    "haproxy": HaproxyServer,
    "caddy": CaddyServer,
    "lighttpd": LighttpdServer,
}

_V10, _V12, _V13 = TlsVersion.TLS_1_0, TlsVersion.TLS_1_2, TlsVersion.TLS_1_3
_ONLY_12 = (_V12, _V12)
_ONLY_13 = (_V13, _V13)
_LEGACY = (_V10, _V13)


def _variants(pki: TestPki, hostname: str) -> list[Listener]:
    """Edge variants (``edge_*``, ``http_*``) and origin variants (``origin_*``): one right, the rest wrong in
    exactly one way."""
    good = pki.good(hostname)
    origin = pki.origin(hostname)
    ca = pki.client_ca.cert_path

    right_edge = TlsListener("edge", good, sts=(GOOD_STS,))
    right_origin = TlsListener("origin", origin, client_auth=ClientAuth.REQUIRE, client_ca=ca)

    def edge(name: str, **changes: Any) -> TlsListener:
        return dataclasses.replace(right_edge, name=f"edge_{name}", **changes)

    def pull(name: str, auth: ClientAuth, **changes: Any) -> TlsListener:
        client_ca = None if auth is ClientAuth.OFF else ca
        named = dataclasses.replace(right_origin, name=f"origin_{name}", **changes)
        return dataclasses.replace(named, client_auth=auth, client_ca=client_ca)

    listeners: list[Listener] = [
        edge("good"),
        edge("legacy", versions=_LEGACY),  # accepts TLS 1.0/1.1
        edge("tls12", versions=_ONLY_12),  # no TLS 1.3
        edge("wrong_host", cert=pki.wrong_host(hostname)),
        edge("no_hsts", sts=()),
        edge("weak_hsts", sts=(WEAK_STS,)),
        edge("526", status=526),  # what Cloudflare answers when the origin certificate is invalid
        edge("502", status=502),  # an application error: the TLS hop to the origin worked
        PlainListener("http_redirect", redirect=True),
        PlainListener("http_plain", redirect=False),
        pull("self_signed", ClientAuth.REQUIRE, cert=pki.self_signed(hostname)),
        pull("wrong_host", ClientAuth.REQUIRE, cert=pki.origin(f"other-{hostname}")),
        pull("legacy_require", ClientAuth.REQUIRE, versions=_LEGACY),
        pull("legacy_off", ClientAuth.OFF, versions=_LEGACY),
        # Apache's per-directory SSLVerifyClient: on TLS 1.2 a renegotiation after the request (mod_ssl docs).
        pull("require_per_request_12", ClientAuth.REQUIRE, versions=_ONLY_12, per_request=True),
    ]
    for suffix, versions in (("", (_V12, _V13)), ("_12", _ONLY_12), ("_13", _ONLY_13)):
        for auth in ClientAuth:
            listeners.append(pull(f"{auth.value}{suffix}", auth, versions=versions))
    return listeners


def build_server(kind: str, directory: Path, pki: TestPki, hostname: str) -> tuple[ServerProcess, dict[str, str]]:
    """A (not started) server of ``kind`` with every variant it can express, and {variant: why not} for the rest."""
    server_class = SERVERS[kind]
    supported: list[Listener] = []
    unsupported: dict[str, str] = {}
    for listener in _variants(pki, hostname):
        try:
            server_class.check_supported(listener)
        except Unsupported as exc:
            unsupported[listener.name] = str(exc)
            continue
        supported.append(listener)
    return server_class(directory, hostname, supported), unsupported


@dataclass
class ServerWorld:
    """A started server and what the tests need to point the verifier at it."""

    kind: str
    server: ServerProcess
    pki: TestPki
    hostname: str
    unsupported: dict[str, str]
    _reports: dict[tuple[object, ...], TargetReport] = field(default_factory=dict, repr=False)
    _clients: dict[str, IssuedCert] = field(default_factory=dict, repr=False)

    def endpoint(self, variant: str) -> Endpoint:
        if variant in self.unsupported:
            pytest.skip(f"{self.server.label} cannot serve {variant}: {self.unsupported[variant]}")
        return self.server.listener(variant).endpoint

    def target(self, *, edge: str = "edge_good", http: str = "http_redirect", origin: str = "origin_require") -> Target:
        return Target(
            self.hostname,
            edge=self.endpoint(edge),
            edge_http=self.endpoint(http),
            origin=self.endpoint(origin),
        )

    def options(self, client: str | None = None, **overrides: object) -> VerifyOptions:
        """``client``: None (no --client-cert), "good" (issued by the client CA the origins trust) or "rogue"
        (another CA)."""
        values: dict[str, object] = {
            "origin_ca_pem": self.pki.origin_ca.cert_pem,
            "edge_ca_pem": self.pki.ca.cert_pem,
            "timeout": 5.0,
        }
        if client is not None:
            cert = self._client(client)
            values.update(client_cert_pem=cert.cert_pem, client_key_pem=cert.key_pem)
        values.update(overrides)
        return VerifyOptions(**values)  # type: ignore[arg-type]

    def verify(
        self,
        client: str | None = None,
        *,
        edge: str = "edge_good",
        http: str = "http_redirect",
        origin: str = "origin_require",
        baseline: Baseline | None = None,
    ) -> TargetReport:
        """verify() for one target made of these variants (see :meth:`target`); each question is asked once."""
        target = self.target(edge=edge, http=http, origin=origin)
        key = (target, client, baseline)
        if key not in self._reports:
            report = verify([target], baseline or Baseline(), self.options(client))
            self._reports[key] = report.targets[0]
        return self._reports[key]

    def _client(self, name: str) -> IssuedCert:
        if name not in self._clients:
            self._clients[name] = self.pki.client() if name == "good" else self.pki.rogue_client()
        return self._clients[name]
