"""Shared fixtures: the test PKI and real nginx peers.

- ``pki`` (session): :class:`tests.peers.pki.TestPki` - CAs and certificates on disk.
- ``nginx_sites`` (session): one nginx serving :class:`tests.peers.nginx.CommonSites` for ``HOSTNAME``.
- ``make_nginx`` (function): ``make_nginx()`` -> a fresh, not yet started :class:`NginxServer`; add sites, call
  ``start()``; it is stopped when the test ends.

nginx missing is a failure with instructions, not a skip: CI installs it. ``ORIGIN_TLS_SKIP_NGINX=1`` lets a
developer without nginx skip those tests. Tests that use an nginx fixture get the ``nginx`` marker automatically.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers import HOSTNAME
from tests.peers.nginx import CommonSites, NginxServer, add_common_sites, find_nginx
from tests.peers.pki import TestPki

_NGINX_FIXTURES = frozenset({"nginx_sites", "make_nginx"})


def _require_nginx() -> None:
    if os.environ.get("ORIGIN_TLS_SKIP_NGINX") == "1":
        pytest.skip("ORIGIN_TLS_SKIP_NGINX=1: nginx tests skipped on request")
    if find_nginx() is None:
        pytest.fail(
            "nginx is required for these tests and was not found at /usr/sbin/nginx or on PATH. "
            "Install it (apt-get install nginx) or set ORIGIN_TLS_NGINX=/path/to/nginx; "
            "ORIGIN_TLS_SKIP_NGINX=1 skips these tests on a developer machine.",
            pytrace=False,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _NGINX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.nginx)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def nginx_sites(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> Iterator[CommonSites]:
    _require_nginx()
    server = NginxServer(tmp_path_factory.mktemp("nginx-common"))
    sites = add_common_sites(server, pki, HOSTNAME)
    server.start()
    try:
        yield sites
    finally:
        server.stop()


@pytest.fixture
def make_nginx(tmp_path: Path) -> Iterator[Callable[[], NginxServer]]:
    _require_nginx()
    servers: list[NginxServer] = []

    def make() -> NginxServer:
        server = NginxServer(tmp_path / f"nginx-{len(servers)}")
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that notices a probe: ``someone_connected(listener)`` (tests.peers.tls_servers) says whether
    anything connected, for the "bad input probes nothing" tests and their twins."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.3)
    yield sock
    sock.close()
