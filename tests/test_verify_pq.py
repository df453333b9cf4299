"""``origin.pq_key_agreement`` and ``zone.origin_pq`` end to end: the command line against post-quantum and
classical origins, the zone's two settings through the sandbox API emulator, every format, and the judges alone.

Each passing case has a failing twin: the hybrid-capable origin and the classical one; the zone with automatic
origin key exchange on and off; with ``pqh`` and without.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from junitparser import JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from origin_tls.baseline import Baseline
from origin_tls.checks_judges import judge_origin_pq_key_agreement
from origin_tls.cli import main
from origin_tls.cloudflare import CloudflareClient
from origin_tls.errors import ResponseError
from origin_tls.pq import PqOutcome, PqResult
from origin_tls.report import Status
from origin_tls.sandbox.api import ApiServer
from origin_tls.sandbox.state import ZoneState
from origin_tls.zone import ZoneFacts, judge_zone_origin_pq, zone_fact_keys
from tests.peers import HOSTNAME
from tests.peers.pki import IssuedCert, TestPki
from tests.peers.pq_servers import OpenSslPqServer
from tests.peers.tls_servers import closed_port

ZONE = "5a3e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "sandbox-token-for-pq-tests"
PQ_IDS = ("origin.pq_key_agreement", "zone.origin_pq")


@pytest.fixture(scope="module")
def cert(pki: TestPki) -> IssuedCert:
    return pki.origin(HOSTNAME)


@pytest.fixture(scope="module")
def pq_origin(cert: IssuedCert) -> Iterator[OpenSslPqServer]:
    with OpenSslPqServer(cert) as server:
        yield server


@pytest.fixture(scope="module")
def classical_origin(cert: IssuedCert) -> Iterator[OpenSslPqServer]:
    with OpenSslPqServer(cert, groups="X25519:P-256") as server:
        yield server


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    with ApiServer(ZoneState(zone_id=ZONE, hostnames=[HOSTNAME], account_token=TOKEN)) as server:
        yield server


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _verify(origin: OpenSslPqServer | None, *extra: str, zone: ApiServer | None = None) -> dict[str, dict[str, Any]]:
    edge = str(closed_port())  # the edge checks are not the subject: inconclusive at once
    argv = ["verify", HOSTNAME, "--edge", edge, "--edge-http", edge, "--timeout", "3", "--json", *extra]
    if origin is not None:
        argv += ["--origin", str(origin.endpoint)]
    if zone is not None:
        argv += ["--zone-id", ZONE, "--api-url", zone.url]
    _, out, _ = run(*argv)
    (target,) = json.loads(out)["targets"]
    return {check["id"]: check for check in target["checks"]}


# ----------------------------------------------------------------------------------------------------------------
# origin.pq_key_agreement from the command line


def test_a_post_quantum_origin_passes_with_require_pq(pq_origin: OpenSslPqServer) -> None:
    check = _verify(pq_origin, "--require-pq")["origin.pq_key_agreement"]
    assert check["status"] == "pass", check
    assert check["observed"] == "X25519MLKEM768 over TLS 1.3"


def test_a_classical_origin_fails_with_require_pq_in_words_to_act_on(classical_origin: OpenSslPqServer) -> None:
    check = _verify(classical_origin, "--require-pq")["origin.pq_key_agreement"]
    assert check["status"] == "fail"
    assert check["observed"] == "refused: TLS alert handshake_failure"
    assert "no ML-KEM (OpenSSL 3.5+" in check["detail"]
    assert "525" in check["detail"]


def test_without_require_pq_the_check_is_skipped_and_the_origin_sees_no_pq_handshake(
    pq_origin: OpenSslPqServer,
) -> None:
    before = len(pq_origin.groups_seen)
    checks = _verify(pq_origin)
    assert checks["origin.pq_key_agreement"]["status"] == "skipped"
    assert checks["origin.pq_key_agreement"]["detail"] == "--require-pq not given"
    # The other origin probes (Python's ssl, OpenSSL 3.0) never negotiate the hybrid: none was made.
    assert "X25519MLKEM768" not in pq_origin.groups_seen[before:]


def test_require_pq_without_an_origin_is_skipped() -> None:
    check = _verify(None, "--require-pq")["origin.pq_key_agreement"]
    assert check["status"] == "skipped"
    assert check["detail"] == "no --origin given"


def test_an_unreachable_origin_is_inconclusive_never_a_pass() -> None:
    edge = str(closed_port())
    _, out, _ = run(
        "verify", HOSTNAME, "--edge", edge, "--origin", str(closed_port()), "--require-pq", "--no-aop", "--json"
    )
    check = next(c for c in json.loads(out)["targets"][0]["checks"] if c["id"] == "origin.pq_key_agreement")
    assert check["status"] == "inconclusive"
    assert "connection refused" in check["detail"]


def test_the_table_says_why_a_classical_origin_fails(classical_origin: OpenSslPqServer) -> None:
    edge = str(closed_port())
    code, out, _ = run(
        "verify", HOSTNAME, "--edge", edge, "--origin", str(classical_origin.endpoint), "--require-pq", "--timeout", "3"
    )
    assert code == 1
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "origin.pq_key_agreement" in line)
    assert lines[at].split()[0] == "FAIL"
    assert "expected: X25519MLKEM768 selected over TLS 1.3" in lines[at + 1]
    assert "its TLS library has no ML-KEM" in lines[at + 2]


def test_inventory_require_pq_per_target(
    pq_origin: OpenSslPqServer, classical_origin: OpenSslPqServer, tmp_path: Path
) -> None:
    edge = str(closed_port())
    targets = [
        {"hostname": HOSTNAME, "edge": edge, "origin": str(pq_origin.endpoint)},
        {"hostname": HOSTNAME, "edge": edge, "origin": str(classical_origin.endpoint)},
        {"hostname": HOSTNAME, "edge": edge, "origin": str(classical_origin.endpoint), "require_pq": False},
    ]
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"defaults": {"require_pq": True, "aop": False}, "targets": targets}))
    _, out, _ = run("verify", "--inventory", str(path), "--json", "--timeout", "3")
    statuses = [
        next(c["status"] for c in t["checks"] if c["id"] == "origin.pq_key_agreement")
        for t in json.loads(out)["targets"]
    ]
    assert statuses == ["pass", "fail", "skipped"]


def test_a_bad_require_pq_in_the_inventory_exits_2_naming_file_target_and_key(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"targets": [{"hostname": HOSTNAME, "require_pq": "yes"}]}))
    code, _, err = run("verify", "--inventory", str(path))
    assert code == 2
    assert "fleet.json: targets[0] (app.example.com): require_pq must be true or false" in err


# ----------------------------------------------------------------------------------------------------------------
# zone.origin_pq through the sandbox API


def test_the_zone_default_passes_without_require_pq(zone: ApiServer) -> None:
    check = _verify(None, zone=zone)["zone.origin_pq"]
    assert check["status"] == "pass", check
    assert check["observed"] == "auto_origin_tls_kex enabled"
    assert not any(r.path.endswith("/origin_tls_compliance_modes") for r in zone.requests)  # read only if required


def test_automatic_key_exchange_off_fails(zone: ApiServer) -> None:
    zone.state.set_auto_origin_tls_kex({"enabled": False})
    check = _verify(None, zone=zone)["zone.origin_pq"]
    assert check["status"] == "fail"
    assert "auto_origin_tls_kex disabled" in check["observed"]
    assert "no origin of this zone post-quantum key agreement" in check["detail"]


def test_require_pq_without_pqh_fails(zone: ApiServer) -> None:
    check = _verify(None, "--require-pq", zone=zone)["zone.origin_pq"]
    assert check["status"] == "fail"
    assert check["observed"] == "auto_origin_tls_kex enabled, compliance modes []"
    assert "pqh" in check["detail"]


def test_require_pq_with_pqh_passes(zone: ApiServer) -> None:
    zone.state.set_origin_tls_compliance_modes(["pqh"])
    check = _verify(None, "--require-pq", zone=zone)["zone.origin_pq"]
    assert check["status"] == "pass", check
    assert check["observed"] == "auto_origin_tls_kex enabled, compliance modes [pqh]"


def test_pqh_with_automatic_key_exchange_off_still_fails(zone: ApiServer) -> None:
    zone.state.set_origin_tls_compliance_modes(["pqh"])
    zone.state.set_auto_origin_tls_kex({"enabled": False})
    assert _verify(None, "--require-pq", zone=zone)["zone.origin_pq"]["status"] == "fail"


def test_a_wrong_token_is_inconclusive(zone: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-the-token")
    check = _verify(None, "--require-pq", zone=zone)["zone.origin_pq"]
    assert check["status"] == "inconclusive"
    assert "not-the-token" not in json.dumps(check)


def test_without_a_zone_id_it_is_skipped() -> None:
    assert _verify(None, "--require-pq")["zone.origin_pq"]["status"] == "skipped"


# ----------------------------------------------------------------------------------------------------------------
# Formats carry both checks


def test_junit_and_prometheus_carry_both_checks(pq_origin: OpenSslPqServer, zone: ApiServer, tmp_path: Path) -> None:
    edge = str(closed_port())
    common = ["verify", HOSTNAME, "--edge", edge, "--origin", str(pq_origin.endpoint), "--require-pq"]
    common += ["--zone-id", ZONE, "--api-url", zone.url, "--timeout", "3"]
    junit_file, prom_file = tmp_path / "report.xml", tmp_path / "report.prom"
    run(*common, "--format", "junit", "--output", str(junit_file))
    run(*common, "--format", "prometheus", "--output", str(prom_file))
    cases = {case.name: case for suite in JUnitXml.fromfile(str(junit_file)) for case in suite}
    assert cases["origin.pq_key_agreement"].is_passed
    assert not cases["zone.origin_pq"].is_passed  # no pqh in the zone: a failure element
    samples = [
        s
        for family in text_string_to_metric_families(prom_file.read_text())
        for s in family.samples
        if s.name == "origin_tls_check_status" and s.value == 1
    ]
    shown = {s.labels["check"]: s.labels["status"] for s in samples}
    assert shown["origin.pq_key_agreement"] == "pass"
    assert shown["zone.origin_pq"] == "fail"


# ----------------------------------------------------------------------------------------------------------------
# The API client: the two settings' own shapes


def _client_answering(result: object) -> CloudflareClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": result})

    return CloudflareClient("test-token", base_url="https://api.test/client/v4", transport=httpx.MockTransport(handler))


def test_auto_origin_tls_kex_is_read_from_enabled_not_value() -> None:
    with _client_answering({"id": "auto_origin_tls_kex", "enabled": True}) as client:
        assert client.get_auto_origin_tls_kex(ZONE) is True
    with _client_answering({"id": "auto_origin_tls_kex", "value": "on"}) as client, pytest.raises(ResponseError):
        client.get_auto_origin_tls_kex(ZONE)


def test_compliance_modes_are_a_list_of_strings_kept_as_read() -> None:
    with _client_answering({"id": "origin_tls_compliance_modes", "value": ["pqh", "future"]}) as client:
        assert client.get_origin_tls_compliance_modes(ZONE) == ["pqh", "future"]
    not_a_list = {"id": "origin_tls_compliance_modes", "value": "pqh"}
    with _client_answering(not_a_list) as client, pytest.raises(ResponseError):
        client.get_origin_tls_compliance_modes(ZONE)
    with _client_answering({"id": "ssl", "value": ["pqh"]}) as client, pytest.raises(ResponseError):
        client.get_origin_tls_compliance_modes(ZONE)


# ----------------------------------------------------------------------------------------------------------------
# The judges alone


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (PqResult(PqOutcome.NEGOTIATED, "X25519MLKEM768", "ok"), Status.PASS),
        (PqResult(PqOutcome.CLASSICAL, "x25519", "hrr"), Status.FAIL),
        (PqResult(PqOutcome.REFUSED, None, "alert", alert="handshake_failure"), Status.FAIL),
        (PqResult(PqOutcome.TLS12_ONLY, None, "1.2"), Status.FAIL),
        (PqResult(PqOutcome.ERROR, None, "timeout"), Status.INCONCLUSIVE),
    ],
)
def test_only_a_negotiated_hybrid_passes_and_only_no_evidence_is_inconclusive(result: PqResult, status: Status) -> None:
    check = judge_origin_pq_key_agreement(result)
    assert check.status is status
    assert check.detail == result.detail


def _facts(values: dict[str, Any], errors: dict[str, str] | None = None) -> ZoneFacts:
    return ZoneFacts(values, errors or {})


def test_zone_origin_pq_judge() -> None:
    required = Baseline(require_pq=True)
    on, off = {"auto_origin_tls_kex": True}, {"auto_origin_tls_kex": False}
    assert judge_zone_origin_pq(_facts(on), Baseline()).status is Status.PASS
    assert judge_zone_origin_pq(_facts(off), Baseline()).status is Status.FAIL
    assert judge_zone_origin_pq(_facts({**on, "origin_tls_compliance_modes": ["pqh"]}), required).status is Status.PASS
    assert judge_zone_origin_pq(_facts({**on, "origin_tls_compliance_modes": ["fips"]}), required).status is Status.FAIL
    unread = _facts({}, {"auto_origin_tls_kex": "HTTP 403: no permission"})
    assert judge_zone_origin_pq(unread, Baseline()).status is Status.INCONCLUSIVE
    # A failure already seen stands even when the other setting could not be read.
    half = _facts(off, {"origin_tls_compliance_modes": "HTTP 500"})
    assert judge_zone_origin_pq(half, required).status is Status.FAIL
    half_on = _facts(on, {"origin_tls_compliance_modes": "HTTP 500"})
    assert judge_zone_origin_pq(half_on, required).status is Status.INCONCLUSIVE


def test_the_compliance_modes_are_read_only_when_required() -> None:
    assert "origin_tls_compliance_modes" not in zone_fact_keys(Baseline(), [HOSTNAME])
    assert "origin_tls_compliance_modes" in zone_fact_keys(Baseline(require_pq=True), [HOSTNAME])
    assert "auto_origin_tls_kex" in zone_fact_keys(Baseline(), [HOSTNAME])
