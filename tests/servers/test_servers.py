"""verify() against Apache httpd, HAProxy, Caddy and lighttpd, as an edge and as an origin.

Every check id passes against the right variant of each server and fails against a variant that is wrong in
exactly the way the check claims to detect, through the real verifier (and once through the CLI). A variant a
server cannot express (TLS 1.0 on Caddy; a certificate asked for per request anywhere but Apache) skips, naming
the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

import pytest

from origin_tls.baseline import TlsVersion
from origin_tls.probes import AopOutcome
from origin_tls.report import Status
from tests.servers.observe import observe_pull
from tests.servers.world import ServerWorld

EDGE_IDS = (
    "edge.min_tls_version",
    "edge.tls_1_3",
    "edge.certificate",
    "edge.hsts",
    "edge.https_redirect",
    "edge.origin_pull",
)
ORIGIN_IDS = ("origin.certificate", "origin.aop", "origin.aop_client", "origin.min_tls_version")

PASS, FAIL, INCONCLUSIVE = Status.PASS, Status.FAIL, Status.INCONCLUSIVE


def _status(world: ServerWorld, check_id: str, *, origin: str, client: str | None = None) -> Status:
    return world.verify(client, origin=origin).check(check_id).status


# --------------------------------------------------------------------------------------------------------------
# The right server


@pytest.mark.parametrize("check_id", EDGE_IDS + ORIGIN_IDS)
def test_a_hardened_server_passes_each_check(server_world: ServerWorld, check_id: str) -> None:
    # Given the right edge (TLS 1.2 floor, 1.3, trusted certificate, HSTS, redirect) and the right origin
    # (Origin CA certificate, client certificate required), verified with an authorised client certificate
    report = server_world.verify("good")
    # Then the check passes
    check = report.check(check_id)
    assert check.status is PASS, check


# --------------------------------------------------------------------------------------------------------------
# The edge: each wrong variant fails its check and only its check


@pytest.mark.parametrize(
    ("edge", "http", "check_id", "expected"),
    [
        ("edge_legacy", "http_redirect", "edge.min_tls_version", FAIL),  # accepts TLS 1.0 and 1.1
        ("edge_tls12", "http_redirect", "edge.tls_1_3", FAIL),
        ("edge_wrong_host", "http_redirect", "edge.certificate", FAIL),
        ("edge_no_hsts", "http_redirect", "edge.hsts", FAIL),
        ("edge_weak_hsts", "http_redirect", "edge.hsts", FAIL),  # max-age=300
        ("edge_good", "http_plain", "edge.https_redirect", FAIL),  # plain HTTP answers 200
        ("edge_526", "http_redirect", "edge.origin_pull", FAIL),  # Cloudflare's "invalid origin certificate"
        ("edge_502", "http_redirect", "edge.origin_pull", PASS),  # the application's error: the hop worked
    ],
)
def test_an_edge_variant_is_judged_on_its_check(
    server_world: ServerWorld, edge: str, http: str, check_id: str, expected: Status
) -> None:
    report = server_world.verify(None, edge=edge, http=http, origin="origin_require")
    assert report.check(check_id).status is expected, report.check(check_id)
    others = {c.id: c.status for c in report.checks if c.id.startswith("edge.") and c.id != check_id}
    assert others == dict.fromkeys(others, PASS)


# --------------------------------------------------------------------------------------------------------------
# The origin


@pytest.mark.parametrize("origin", ["origin_self_signed", "origin_wrong_host"])
def test_an_origin_certificate_not_from_the_origin_ca_for_the_host_fails(
    server_world: ServerWorld, origin: str
) -> None:
    report = server_world.verify("good", origin=origin)
    assert report.check("origin.certificate").status is FAIL, report.check("origin.certificate")
    assert report.check("origin.aop").status is PASS


@pytest.mark.parametrize("origin", ["origin_require", "origin_require_12", "origin_require_13"])
def test_an_origin_that_requires_the_client_certificate(server_world: ServerWorld, origin: str) -> None:
    # Its certificate is read even though it refuses the handshake without a client certificate (TLS 1.2: from
    # the recorded handshake; TLS 1.3: before the alert); a pull without one is refused; ours is accepted.
    assert _status(server_world, "origin.certificate", origin=origin) is PASS
    assert _status(server_world, "origin.aop", origin=origin) is PASS
    assert _status(server_world, "origin.aop_client", client="good", origin=origin) is PASS


def test_an_origin_that_asks_for_the_certificate_by_renegotiation(server_world: ServerWorld) -> None:
    # Apache's per-directory SSLVerifyClient on TLS 1.2: the handshake completes, the request triggers a
    # renegotiation (HelloRequest) in which the certificate is asked for; refused without one, served with ours.
    origin = "origin_require_per_request_12"
    assert _status(server_world, "origin.aop", origin=origin) is PASS
    assert _status(server_world, "origin.aop_client", client="good", origin=origin) is PASS
    assert _status(server_world, "origin.aop_client", client="rogue", origin=origin) is FAIL


@pytest.mark.parametrize("origin", ["origin_require", "origin_require_12", "origin_require_13"])
def test_a_client_certificate_from_another_ca_is_refused(server_world: ServerWorld, origin: str) -> None:
    assert _status(server_world, "origin.aop_client", client="rogue", origin=origin) is FAIL


@pytest.mark.parametrize(
    "origin",
    ["origin_optional", "origin_optional_12", "origin_optional_13", "origin_off", "origin_off_12", "origin_off_13"],
)
def test_an_origin_that_serves_a_pull_without_a_client_certificate_fails_aop(
    server_world: ServerWorld, origin: str
) -> None:
    report = server_world.verify(None, origin=origin)
    assert report.check("origin.aop").status is FAIL, report.check("origin.aop")
    assert "accepted" in report.check("origin.aop").observed
    assert report.check("origin.certificate").status is PASS


# --------------------------------------------------------------------------------------------------------------
# origin.min_tls_version (DESIGN.md: refuses every version below the floor, accepts the floor; the version probes
# present --client-cert when given; without it, a refused certificate is not a refused version)


@pytest.mark.parametrize(
    ("origin", "client", "expected"),
    [
        ("origin_off", None, PASS),
        ("origin_optional", None, PASS),
        ("origin_legacy_off", None, FAIL),  # accepts TLS 1.0/1.1
        ("origin_require", "good", PASS),  # judged on its versions, not on the missing certificate
        ("origin_require_12", "good", PASS),
        ("origin_require_13", "good", FAIL),  # the floor (1.2) itself is refused
        ("origin_legacy_require", "good", FAIL),
    ],
)
def test_origin_min_tls_version(server_world: ServerWorld, origin: str, client: str | None, expected: Status) -> None:
    check = server_world.verify(client, origin=origin).check("origin.min_tls_version")
    assert check.status is expected, check


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("origin_require", (PASS, INCONCLUSIVE)),  # the right floor must not fail for the refused certificate
        ("origin_legacy_require", (FAIL, INCONCLUSIVE)),  # a TLS 1.0 floor must not pass for it
    ],
)
def test_origin_min_tls_version_without_a_client_certificate_does_not_mistake_the_refusal(
    server_world: ServerWorld, origin: str, allowed: tuple[Status, ...]
) -> None:
    # Without --client-cert the server refuses every TLS 1.2 (and older) handshake for the certificate
    # (tests/README.md): where the alert cannot tell a refused version from a refused certificate, inconclusive.
    check = server_world.verify(None, origin=origin).check("origin.min_tls_version")
    assert check.status in allowed, check


# --------------------------------------------------------------------------------------------------------------
# What the server sends without a client certificate (tests/README.md keeps the table)


@pytest.mark.parametrize(
    ("origin", "version"), [("origin_require_12", TlsVersion.TLS_1_2), ("origin_require_13", TlsVersion.TLS_1_3)]
)
def test_a_missing_client_certificate_is_read_as_a_refusal(
    server_world: ServerWorld, origin: str, version: TlsVersion
) -> None:
    observation = observe_pull(server_world.endpoint(origin), server_world.hostname, version)
    assert observation.judged is AopOutcome.REFUSED, observation
    assert observation.negotiated in (None, f"TLSv{version.value}"), observation


@pytest.mark.parametrize(
    ("origin", "version"), [("origin_optional_12", TlsVersion.TLS_1_2), ("origin_optional_13", TlsVersion.TLS_1_3)]
)
def test_an_optional_client_certificate_is_read_as_served(
    server_world: ServerWorld, origin: str, version: TlsVersion
) -> None:
    observation = observe_pull(server_world.endpoint(origin), server_world.hostname, version)
    assert observation.judged is AopOutcome.ACCEPTED, observation
    assert observation.wire.startswith("HTTP 200"), observation


# --------------------------------------------------------------------------------------------------------------
# Through the command line, as a user runs it


def _cli(world: ServerWorld, *, edge: str, origin: str, client: bool) -> tuple[int, Mapping[str, str]]:
    args = [
        sys.executable, "-m", "origin_tls", "verify", world.hostname,
        "--edge", str(world.endpoint(edge)), "--edge-http", str(world.endpoint("http_redirect")),
        "--origin", str(world.endpoint(origin)),
        "--edge-ca", str(world.pki.ca.cert_path), "--origin-ca", str(world.pki.origin_ca.cert_path),
        "--json",
    ]  # fmt: skip
    if client:
        good = world.pki.client()
        args += ["--client-cert", str(good.cert_path), "--client-key", str(good.key_path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    document = json.loads(proc.stdout)
    return proc.returncode, {c["id"]: c["status"] for c in document["targets"][0]["checks"]}


def test_the_cli_passes_the_right_server_and_fails_the_wrong_one(server_world: ServerWorld) -> None:
    code, statuses = _cli(server_world, edge="edge_good", origin="origin_require", client=True)
    assert code == 0, statuses
    assert statuses.pop("origin.pq_key_agreement") == "skipped"  # no --require-pq (tests/servers/test_pq_servers.py)
    assert {s for cid, s in statuses.items() if not cid.startswith("zone.")} == {"pass"}

    code, statuses = _cli(server_world, edge="edge_tls12", origin="origin_optional", client=False)
    assert code == 1, statuses
    assert statuses["edge.tls_1_3"] == "fail"
    assert statuses["origin.aop"] == "fail"
