"""Sandbox fixtures: a running :class:`Sandbox` (fresh zone) and one already hardened the way the demo does it.

Both are function-scoped (a sandbox starts in a fraction of a second) so every test gets a zone nobody drifted.
Without nginx the sandbox falls back to the Python origin; ``nginx_required`` asserts the real one ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from origin_tls.cloudflare import CloudflareClient
from origin_tls.demo import DemoZone
from origin_tls.sandbox.origin import find_nginx
from origin_tls.sandbox.runner import Sandbox


def _use_nginx() -> bool | None:
    if os.environ.get("ORIGIN_TLS_SKIP_NGINX") == "1":
        return None
    if find_nginx() is None:
        pytest.fail("nginx is required (apt-get install nginx) or set ORIGIN_TLS_SKIP_NGINX=1", pytrace=False)
    return True


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox zone (not hardened), stopped when the test ends; like the demo's, it pulls from the
    post-quantum origin, with nginx beside it."""
    box = Sandbox(use_nginx=_use_nginx(), follow_zone_aop=False, pq_origin=True)
    with box:
        yield box


@pytest.fixture
def sandbox_client(sandbox: Sandbox) -> Iterator[CloudflareClient]:
    with sandbox.client() as client:
        yield client


@pytest.fixture
def hardened(sandbox: Sandbox, sandbox_client: CloudflareClient) -> DemoZone:
    """The sandbox after the demo's hardening (``zone.options`` are the verify options that pin it)."""
    zone = DemoZone(sandbox, sandbox_client)
    zone.harden()
    return zone
