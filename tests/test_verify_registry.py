"""The check registry (origin_tls.checks), the run-wide client identity, and what importing verify costs.

No network here except where a test says so.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from origin_tls import checks, tls_client
from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.checks_judges import (
    CLOUDFLARE_ORIGIN_ERRORS,
    judge_edge_origin_pull,
    judge_origin_aop_client,
    judge_origin_min_tls_version,
)
from origin_tls.errors import InvalidInput
from origin_tls.probes import AopOutcome, HttpsResult, PullResult, TlsOutcome, VersionResult
from origin_tls.report import CHECK_IDS, Status
from origin_tls.verify import DEFAULT_API_URL, Target, VerifyOptions
from tests.peers.pki import TestPki, utc_now

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki-registry"))


# --------------------------------------------------------------------------------------------------------------
# The table


def test_report_order_is_table_order() -> None:
    assert tuple(spec.id for spec in checks.CHECKS) == CHECK_IDS


def _plan(**target: object) -> checks.Plan:
    values: dict[str, object] = {"edge": Endpoint("127.0.0.1", 1), "origin": Endpoint("127.0.0.1", 2)}
    values.update(target)
    return checks.Plan("t0", Target("a.example.com", **values), Baseline(), VerifyOptions(), None, None, timeout=1)  # type: ignore[arg-type]


def test_every_evidence_a_check_needs_is_yielded_by_a_wanted_probe() -> None:
    plan = _plan()
    yielded = {name for probe in checks.PROBES if probe.wanted(plan) for name in probe.yields} | {"zone"}
    for spec in checks.CHECKS:
        if spec.skip(plan) is None:
            assert set(spec.needs(plan)) <= yielded, spec.id


def test_without_an_origin_no_origin_probe_is_wanted_and_origin_checks_say_why() -> None:
    plan = _plan(origin=None)
    assert not [p.name for p in checks.PROBES if p.wanted(plan) and p.name.startswith("origin.")]
    reasons = {spec.id: spec.skip(plan) for spec in checks.CHECKS if spec.id.startswith("origin.")}
    assert set(reasons.values()) == {"no --origin given"}


def test_tls_1_3_is_not_probed_on_its_own_when_https_can_carry_it() -> None:
    wanted = [p.name for p in checks.PROBES if p.wanted(_plan())]
    assert "edge.tls1.3" not in wanted
    assert wanted.count("edge.https") == 1
    assert "origin.pull_client" not in wanted  # no client certificate given


def test_zone_aop_certificate_has_its_place() -> None:
    spec = next(s for s in checks.CHECKS if s.id == "zone.aop_certificate")
    assert spec.skip(_plan()) == "no --zone-id given"


def test_the_api_default_is_the_api_clients() -> None:
    from origin_tls.cloudflare import DEFAULT_API_URL as CLIENTS

    assert DEFAULT_API_URL == CLIENTS


@pytest.mark.parametrize(
    ("module", "heavy"),
    [
        ("origin_tls.verify", []),
        ("origin_tls.cli", []),  # `verify --help`, and any run without a zone or a PEM file
        ("origin_tls.cloudflare", ["httpx"]),  # the twin: the probe of sys.modules does see an import
        ("origin_tls.certs", ["cryptography"]),
    ],
)
def test_verify_and_its_command_line_import_neither_httpx_nor_cryptography_nor_pulumi(
    module: str, heavy: list[str]
) -> None:
    code = (
        f"import sys, {module};"
        "print(sorted(m for m in ('httpx', 'cryptography', 'pulumi', 'origin_tls.sandbox') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ}
    ).stdout
    assert out.strip() == repr(heavy)


# --------------------------------------------------------------------------------------------------------------
# New judges on hand-made facts


def _https(status: int | None, body: bytes = b"") -> HttpsResult:
    return HttpsResult(status is not None, status, (), None, True, "", "TLSv1.3", "detail", body)


@pytest.mark.parametrize("status", sorted(CLOUDFLARE_ORIGIN_ERRORS))
def test_each_cloudflare_origin_error_fails_edge_origin_pull_naming_its_meaning(status: int) -> None:
    check = judge_edge_origin_pull(_https(status))
    assert check.status is Status.FAIL
    assert check.detail.startswith(f"{status}: ")
    assert CLOUDFLARE_ORIGIN_ERRORS[status] in check.detail


@pytest.mark.parametrize("status", [200, 301, 403, 404, 500, 502, 503, 504, 527, 519])
def test_any_other_status_passes_edge_origin_pull(status: int) -> None:
    assert judge_edge_origin_pull(_https(status)).status is Status.PASS


def test_edge_origin_pull_shows_a_530s_1xxx_code_and_is_inconclusive_without_an_answer() -> None:
    assert judge_edge_origin_pull(_https(530, b"<h1>Error 1016</h1> error code: 1016")).observed == (
        "HTTP 530 (error 1016)"
    )
    assert judge_edge_origin_pull(_https(None)).status is Status.INCONCLUSIVE


def test_origin_min_tls_version_has_its_own_id() -> None:
    outcomes = (TlsOutcome.REFUSED, TlsOutcome.REFUSED, TlsOutcome.ACCEPTED, TlsOutcome.ACCEPTED)
    results = {v: VersionResult(v, o, None, "") for v, o in zip(TlsVersion, outcomes, strict=True)}
    check = judge_origin_min_tls_version(results, TlsVersion.TLS_1_2)
    assert (check.id, check.status) == ("origin.min_tls_version", Status.PASS)
    accepted_10 = {**results, TlsVersion.TLS_1_0: VersionResult(TlsVersion.TLS_1_0, TlsOutcome.ACCEPTED, None, "")}
    assert judge_origin_min_tls_version(accepted_10, TlsVersion.TLS_1_2).status is Status.FAIL


def test_origin_aop_client_counts_the_client_certificates_days(pki: TestPki) -> None:
    accepted = PullResult(AopOutcome.ACCEPTED, "http-200", 200, "TLSv1.3", "")
    expiring = pki.client_ca.issue_client("soon", not_after=utc_now() + dt.timedelta(days=10))

    assert judge_origin_aop_client(accepted).status is Status.PASS  # no certificate given: as before
    short = judge_origin_aop_client(accepted, client_cert_pem=expiring.cert_pem, min_days_remaining=30)
    enough = judge_origin_aop_client(accepted, client_cert_pem=expiring.cert_pem, min_days_remaining=7)
    assert short.status is Status.FAIL
    assert "fewer than --min-days 30" in short.detail
    assert enough.status is Status.PASS
    assert "expires" in enough.observed


# --------------------------------------------------------------------------------------------------------------
# The client identity: loaded once per run, never through a file on disk


def test_client_contexts_load_without_a_file(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no way to make a temporary file at all
    def no_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("a temporary file was made for the client key")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_files)
    client = pki.client()

    contexts = tls_client.build_client_contexts(client.cert_pem, client.key_pem, tuple(TlsVersion))

    assert set(contexts) == {tls_client.PULL, *TlsVersion}
    assert all(isinstance(context, ssl.SSLContext) for context in contexts.values())
    assert contexts[TlsVersion.TLS_1_2].maximum_version is ssl.TLSVersion.TLSv1_2


def test_without_memfd_a_private_file_is_used_and_removed(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Twin: the fallback where memfd is unavailable still loads, and leaves nothing behind.
    made: list[str] = []
    real = tempfile.TemporaryDirectory

    def recording(*args: object, **kwargs: object) -> tempfile.TemporaryDirectory[str]:
        directory = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(directory.name)
        return directory  # type: ignore[no-any-return]

    monkeypatch.delattr(os, "memfd_create")
    monkeypatch.setattr(tempfile, "TemporaryDirectory", recording)
    client = pki.client()

    contexts = tls_client.build_client_contexts(client.cert_pem, client.key_pem, ())

    assert set(contexts) == {tls_client.PULL}
    assert len(made) == 1
    assert not Path(made[0]).exists()


def test_a_key_that_is_not_the_certificates_is_bad_input_without_the_key(pki: TestPki) -> None:
    client, other = pki.client(), pki.rogue_client()
    secret = other.key_pem.splitlines()[1]

    with pytest.raises(InvalidInput) as raised:
        tls_client.build_client_contexts(client.cert_pem, other.key_pem, ())

    assert secret not in str(raised.value)
    assert raised.value.__cause__ is None


def test_verify_refuses_a_mismatched_pair_before_probing(pki: TestPki) -> None:
    from origin_tls.verify import verify
    from tests.peers.tls_servers import Tarpit

    client, other = pki.client(), pki.rogue_client()
    with Tarpit() as tarpit:
        target = Target("a.example.com", edge=tarpit.endpoint, edge_http=tarpit.endpoint, origin=tarpit.endpoint)
        with pytest.raises(InvalidInput):
            verify([target], Baseline(), VerifyOptions(client_cert_pem=client.cert_pem, client_key_pem=other.key_pem))
        seen = tarpit.connections_seen

    assert seen == 0


def test_a_target_with_a_string_where_an_endpoint_goes_is_bad_input_before_probing() -> None:
    from origin_tls.baseline import parse_endpoint
    from origin_tls.verify import verify
    from tests.peers.tls_servers import Tarpit

    with Tarpit() as tarpit:
        where = f"127.0.0.1:{tarpit.endpoint.port}"
        with pytest.raises(InvalidInput) as refused:
            verify([Target("a.example.com", edge=where, edge_http=tarpit.endpoint)], Baseline(), VerifyOptions())  # type: ignore[arg-type]
        with pytest.raises(InvalidInput) as unnamed:
            verify([Target("", edge=tarpit.endpoint)], Baseline(), VerifyOptions())
        seen = tarpit.connections_seen
        # The twin: the same place as an Endpoint is probed (the tarpit sees the connections; nothing answers)
        endpoint = parse_endpoint(where, field_name="edge", default_port=443)
        report = verify(
            [Target("a.example.com", edge=endpoint, edge_http=endpoint)], Baseline(), VerifyOptions(timeout=0.5)
        )
        probed = tarpit.connections_seen
    assert refused.value.field == "targets[0].edge"
    assert where in str(refused.value)
    assert unnamed.value.field == "targets[0].hostname"
    assert seen == 0
    assert probed > 0
    assert not report.ok


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, b"<center>The SSL certificate error</center>"), (400, b"No required SSL certificate was sent"),
     (495, b""), (496, b"")],
)  # fmt: skip
def test_the_origin_refusing_the_edges_client_certificate_fails_edge_origin_pull(status: int, body: bytes) -> None:
    # Cloudflare relays what nginx answers over a completed handshake: the pull was refused under AOP.
    check = judge_edge_origin_pull(_https(status, body))
    assert check.status is Status.FAIL
    assert "refused the edge's client certificate" in check.detail


def test_an_ordinary_400_still_passes_edge_origin_pull() -> None:
    assert judge_edge_origin_pull(_https(400, b"bad request")).status is Status.PASS
