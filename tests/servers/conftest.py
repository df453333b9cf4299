"""Fixtures: ``server_world`` (session, parametrised over Apache httpd, HAProxy, Caddy and lighttpd).

Each server starts once per test session with every variant it can express (``tests/servers/world.py``) and stops
when the session moves on to the next server. A server whose binary is missing skips its tests, naming the package
(``scripts/bootstrap`` installs all four, so CI runs them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers import HOSTNAME
from tests.peers.pki import TestPki
from tests.servers.world import SERVERS, ServerWorld, build_server


@pytest.fixture(scope="session", params=sorted(SERVERS))
def server_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: TestPki
) -> Iterator[ServerWorld]:
    kind: str = request.param
    server_class = SERVERS[kind]
    why = server_class.unavailable()
    if why is not None:
        pytest.skip(why)
    server, unsupported = build_server(kind, tmp_path_factory.mktemp(f"server-{kind}"), pki, HOSTNAME)
    with server:
        yield ServerWorld(kind, server, pki, HOSTNAME, unsupported)
