"""What the Debian 12 servers answer to Cloudflare's post-quantum handshake (only X25519MLKEM768, TLS 1.3).

Apache httpd, HAProxy and lighttpd link Debian 12's OpenSSL 3.0, which has no ML-KEM; Caddy 2.6.2 is built with a
Go older than 1.24: none of them can negotiate the hybrid, so ``origin.pq_key_agreement`` fails against each, with
the alert each one really sends (recorded in tests/README.md). The twins that pass are the OpenSSL 4 and Go 1.24+
peers of tests/test_pq_probe.py, where nginx's answer is tested too.
"""

from __future__ import annotations

import pytest

from origin_tls.baseline import Baseline
from origin_tls.pq import PqOutcome, probe_pq_key_agreement
from origin_tls.report import Status
from tests.servers.world import ServerWorld


@pytest.mark.parametrize("variant", ["origin_require", "origin_off", "origin_require_12"])
def test_a_debian_12_server_cannot_negotiate_the_hybrid(server_world: ServerWorld, variant: str) -> None:
    endpoint = server_world.endpoint(variant)
    result = probe_pq_key_agreement(endpoint, server_world.hostname, timeout=5)
    print(f"PQ-ANSWER {server_world.kind} {variant}: {result.outcome.value} alert={result.alert} {result.detail}")
    assert result.outcome is PqOutcome.REFUSED, result.detail
    expected = "protocol_version" if variant.endswith("_12") else "handshake_failure"
    assert result.alert == expected


def test_through_verify_the_check_fails_and_says_why(server_world: ServerWorld) -> None:
    report = server_world.verify("good", origin="origin_require", baseline=Baseline(require_pq=True))
    check = report.check("origin.pq_key_agreement")
    assert check.status is Status.FAIL
    # The twin within the same report: this origin passes the classical checks it always passed.
    assert report.check("origin.aop_client").status is Status.PASS
    assert "no ML-KEM" in check.detail
