"""Requiring post-quantum key agreement through the package's own API calls (``harden.require_post_quantum`` and
the client's two setters), against the sandbox: proven on the post-quantum origin, refused with nothing changed on
nginx (Debian 12's OpenSSL 3.0), bad input refused before anything is sent."""

from __future__ import annotations

import pytest

from origin_tls.cloudflare import CloudflareClient
from origin_tls.errors import InvalidInput
from origin_tls.harden import PostQuantumNotProven, require_post_quantum
from origin_tls.pq import PqOutcome
from origin_tls.sandbox.runner import Sandbox


def test_the_pq_origin_is_proven_and_then_pqh_is_required(sandbox: Sandbox, sandbox_client: CloudflareClient) -> None:
    assert sandbox.origin is not None
    sandbox_client.set_auto_origin_tls_kex(sandbox.zone_id, False)
    results = require_post_quantum(
        sandbox_client, sandbox.zone_id, origin=sandbox.origin.https, hostnames=[sandbox.hostname]
    )
    assert results[sandbox.hostname].outcome is PqOutcome.NEGOTIATED
    assert sandbox_client.get_origin_tls_compliance_modes(sandbox.zone_id) == ["pqh"]
    assert sandbox_client.get_auto_origin_tls_kex(sandbox.zone_id) is True


def test_nginx_is_refused_and_nothing_is_required(sandbox: Sandbox, sandbox_client: CloudflareClient) -> None:
    nginx = sandbox.classic_origin
    assert nginx is not None
    with pytest.raises(PostQuantumNotProven) as caught:
        require_post_quantum(sandbox_client, sandbox.zone_id, origin=nginx.https, hostnames=[sandbox.hostname])
    assert caught.value.results[sandbox.hostname].outcome is PqOutcome.REFUSED
    assert "pqh was not set" in str(caught.value)
    assert sandbox_client.get_origin_tls_compliance_modes(sandbox.zone_id) == []


def test_the_setters_write_and_clear(sandbox: Sandbox, sandbox_client: CloudflareClient) -> None:
    zone = sandbox.zone_id
    assert sandbox_client.set_origin_tls_compliance_modes(zone, ["fips", "pqh"]) == ["fips", "pqh"]
    assert sandbox_client.set_origin_tls_compliance_modes(zone, []) == []
    assert sandbox_client.set_auto_origin_tls_kex(zone, False) is False
    assert sandbox_client.get_auto_origin_tls_kex(zone) is False


@pytest.mark.parametrize("modes", [["cnsa2"], "pqh", ["PQH"]])
def test_bad_modes_are_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_client: CloudflareClient, modes: object
) -> None:
    assert sandbox.api is not None
    before = len(sandbox.api.requests)
    with pytest.raises(InvalidInput) as caught:
        sandbox_client.set_origin_tls_compliance_modes(sandbox.zone_id, modes)  # type: ignore[arg-type]
    assert caught.value.field == "origin_tls_compliance_modes"
    assert "fips, pqh" in str(caught.value)
    assert len(sandbox.api.requests) == before


def test_a_non_boolean_enabled_is_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_client: CloudflareClient
) -> None:
    assert sandbox.api is not None
    before = len(sandbox.api.requests)
    with pytest.raises(InvalidInput) as caught:
        sandbox_client.set_auto_origin_tls_kex(sandbox.zone_id, "off")  # type: ignore[arg-type]
    assert caught.value.field == "enabled"
    assert len(sandbox.api.requests) == before
