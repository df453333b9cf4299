"""verify() against real servers: nginx as edge and origin, Python peers for the odd cases.

Every check id passes against a well-configured peer and fails against a peer that is wrong in exactly the way the
check claims to detect; unreachable peers come out inconclusive within a bounded time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from origin_tls.baseline import AopMode, Baseline, Endpoint, HstsPolicy, TlsVersion
from origin_tls.report import ZONE_CHECK_IDS, Status, TargetReport
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers.nginx import NginxServer, TlsSite
from tests.peers.pki import TestPki
from tests.peers.tls_servers import Tarpit, closed_port

HOST = "app.example.test"
GOOD_STS = "max-age=31536000; includeSubDomains"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
#: The zone.* checks read from zone settings (zone.aop_certificate also needs --client-cert).
ZONE_SETTING_CHECKS = frozenset(cid for cid in ZONE_CHECK_IDS if cid != "zone.aop_certificate")


@dataclass
class World:
    pki: TestPki
    edges: dict[str, TlsSite]
    origins: dict[str, TlsSite]
    http_redirect: Endpoint
    http_plain: Endpoint

    def options(self, **overrides: object) -> VerifyOptions:
        values: dict[str, object] = {
            "origin_ca_pem": self.pki.origin_ca.cert_pem,
            "edge_ca_pem": self.pki.ca.cert_pem,
            "timeout": 3.0,
        }
        values.update(overrides)
        return VerifyOptions(**values)  # type: ignore[arg-type]

    def target(self, edge: str = "good", origin: str | None = "on", *, redirect: bool = True) -> Target:
        return Target(
            HOST,
            edge=self.edges[edge].endpoint,
            edge_http=self.http_redirect if redirect else self.http_plain,
            origin=self.origins[origin].endpoint if origin else None,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    server = NginxServer(tmp_path_factory.mktemp("nginx"))
    good = pki.good(HOST)
    edges = {
        "good": server.add_tls_site(HOST, cert=good, sts=[GOOD_STS]),
        "legacy": server.add_tls_site(
            HOST, cert=good, sts=[GOOD_STS], protocols=["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
        ),
        "no13": server.add_tls_site(HOST, cert=good, sts=[GOOD_STS], protocols=["TLSv1.2"]),
        "wrong_host": server.add_tls_site(HOST, cert=pki.wrong_host(HOST), sts=[GOOD_STS]),
        "no_hsts": server.add_tls_site(HOST, cert=good),
        "short_hsts": server.add_tls_site(HOST, cert=good, sts=["max-age=300; includeSubDomains"]),
        "no_subdomains": server.add_tls_site(HOST, cert=good, sts=["max-age=31536000"]),
        "upper_hsts": server.add_tls_site(HOST, cert=good, sts=["MAX-AGE=31536000; INCLUDESUBDOMAINS"]),
        "quoted_hsts": server.add_tls_site(HOST, cert=good, sts=['max-age="31536000"; includeSubDomains; preload']),
        "preload_hsts": server.add_tls_site(HOST, cert=good, sts=["max-age=31536000; includeSubDomains; preload"]),
        "twice_hsts": server.add_tls_site(HOST, cert=good, sts=[GOOD_STS, GOOD_STS]),
        "repeated_hsts": server.add_tls_site(HOST, cert=good, sts=["max-age=31536000; max-age=1; includeSubDomains"]),
    }
    ca = pki.client_ca.cert_path
    origin = pki.origin(HOST)
    origins = {
        "on": server.add_tls_site(HOST, cert=origin, verify_client="on", client_ca=ca),
        "optional": server.add_tls_site(HOST, cert=origin, verify_client="optional", client_ca=ca),
        "off": server.add_tls_site(HOST, cert=origin),
        "self_signed": server.add_tls_site(HOST, cert=pki.self_signed(HOST), verify_client="on", client_ca=ca),
        "wrong_host": server.add_tls_site(HOST, cert=pki.origin("other.test"), verify_client="on", client_ca=ca),
        "expiring": server.add_tls_site(HOST, cert=pki.origin(HOST, days=5), verify_client="on", client_ca=ca),
        "expired": server.add_tls_site(HOST, cert=pki.expired(HOST), verify_client="on", client_ca=ca),
    }
    redirect = server.add_http_site(redirect=True)
    plain = server.add_http_site(redirect=False)
    with server:
        yield World(pki, edges, origins, redirect.endpoint, plain.endpoint)


def _statuses(report: TargetReport) -> dict[str, Status]:
    return {check.id: check.status for check in report.checks}


def _only_failures(world: World, target: Target, **options: object) -> dict[str, Status]:
    report = verify([target], Baseline(), world.options(**options)).targets[0]
    return {cid: s for cid, s in _statuses(report).items() if s not in (Status.PASS, Status.SKIPPED)}


def test_a_hardened_edge_and_origin_pass_every_probe_check(world: World) -> None:
    client = world.pki.client()
    report = verify(
        [world.target()],
        Baseline(),
        world.options(client_cert_pem=client.cert_pem, client_key_pem=client.key_pem),
    )
    statuses = _statuses(report.targets[0])
    # origin.pq_key_agreement runs only with --require-pq (tests/test_verify_pq.py): one connection less without it.
    assert statuses.pop("origin.pq_key_agreement") is Status.SKIPPED
    probe_ids = [cid for cid in statuses if not cid.startswith("zone.")]
    assert {cid: statuses[cid] for cid in probe_ids} == dict.fromkeys(probe_ids, Status.PASS)
    assert {statuses[cid] for cid in statuses if cid.startswith("zone.")} == {Status.SKIPPED}
    assert report.exit_code == 0


@pytest.mark.parametrize(
    ("edge", "failing"),
    [
        ("legacy", "edge.min_tls_version"),
        ("no13", "edge.tls_1_3"),
        ("wrong_host", "edge.certificate"),
        ("no_hsts", "edge.hsts"),
        ("short_hsts", "edge.hsts"),
        ("no_subdomains", "edge.hsts"),
        ("twice_hsts", "edge.hsts"),
        ("repeated_hsts", "edge.hsts"),
    ],
)
def test_each_wrong_edge_fails_exactly_its_check(world: World, edge: str, failing: str) -> None:
    assert _only_failures(world, world.target(edge)) == {failing: Status.FAIL}


def test_edge_certificate_from_an_untrusted_ca_fails(world: World) -> None:
    failures = _only_failures(world, world.target(), edge_ca_pem=world.pki.other_ca.cert_pem)
    assert failures == {"edge.certificate": Status.FAIL}


@pytest.mark.parametrize("edge", ["upper_hsts", "quoted_hsts", "preload_hsts"])
def test_valid_hsts_spellings_pass(world: World, edge: str) -> None:
    assert _only_failures(world, world.target(edge)) == {}


def test_preload_required_refuses_a_quoted_max_age(world: World) -> None:
    preload = Baseline(hsts=HstsPolicy(preload=True))
    passing = verify([world.target("preload_hsts")], preload, world.options()).targets[0]
    quoted = verify([world.target("quoted_hsts")], preload, world.options()).targets[0]
    assert passing.check("edge.hsts").status is Status.PASS
    assert quoted.check("edge.hsts").status is Status.FAIL
    assert "non_digit" in quoted.check("edge.hsts").detail


def test_plain_http_without_redirect_fails(world: World) -> None:
    assert _only_failures(world, world.target(redirect=False)) == {"edge.https_redirect": Status.FAIL}


def test_a_legacy_floor_accepts_what_the_strict_one_refuses(world: World) -> None:
    lenient = Baseline(min_tls=TlsVersion.TLS_1_0)
    report = verify([world.target("legacy")], lenient, world.options()).targets[0]
    assert report.check("edge.min_tls_version").status is Status.PASS


@pytest.mark.parametrize(
    ("origin", "failing", "reason"),
    [
        ("optional", "origin.aop", "accepted"),
        ("off", "origin.aop", "accepted"),
        ("self_signed", "origin.certificate", ""),
        ("wrong_host", "origin.certificate", HOST),
        ("expiring", "origin.certificate", ""),
        ("expired", "origin.certificate", ""),
    ],
)
def test_each_wrong_origin_fails_exactly_its_check(world: World, origin: str, failing: str, reason: str) -> None:
    report = verify([world.target(origin=origin)], Baseline(), world.options()).targets[0]
    failures = {c.id: c for c in report.checks if c.status is not Status.PASS and c.status is not Status.SKIPPED}
    assert set(failures) == {failing}
    assert failures[failing].status is Status.FAIL
    assert reason in failures[failing].observed + failures[failing].detail


def test_origin_certificate_pin(world: World) -> None:
    served = world.pki.origin(HOST)  # same names, another certificate: drift
    pinned_elsewhere = _only_failures(world, world.target(), origin_cert_pem=served.cert_pem)
    assert pinned_elsewhere == {"origin.certificate": Status.FAIL}


def test_origin_from_a_real_cloudflare_pinned_root_is_required_by_default(world: World) -> None:
    # Without --origin-ca the pinned Cloudflare Origin CA keys decide: our look-alike CA has the names, not the key.
    failures = _only_failures(world, world.target(), origin_ca_pem=None)
    assert failures == {"origin.certificate": Status.FAIL}


def test_authorised_client_accepted_rogue_client_refused(world: World) -> None:
    good, rogue = world.pki.client(), world.pki.rogue_client()
    accepted = _only_failures(world, world.target(), client_cert_pem=good.cert_pem, client_key_pem=good.key_pem)
    refused = _only_failures(world, world.target(), client_cert_pem=rogue.cert_pem, client_key_pem=rogue.key_pem)
    assert accepted == {}
    assert refused == {"origin.aop_client": Status.FAIL}


def test_the_report_keeps_when_the_served_and_the_client_certificates_expire(world: World) -> None:
    # Given an origin serving a 5-day certificate and a client certificate
    client = world.pki.client()
    options = world.options(client_cert_pem=client.cert_pem, client_key_pem=client.key_pem)
    (seen,) = verify([world.target(origin="expiring")], Baseline(), options).targets
    pem = world.origins["expiring"].cert_path.read_bytes()
    served = x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
    # Then both dates are the real ones (for --format prometheus), whatever the verdict (origin.certificate fails)
    assert dict(seen.certificate_expiry) == {
        "origin": served,
        "client": client.certificate.not_valid_after_utc.timestamp(),
    }
    assert seen.check("origin.certificate").status is Status.FAIL
    # The twin: an unreachable origin served nothing, so no origin date is claimed
    (unseen,) = verify(
        [Target(HOST, edge=world.edges["good"].endpoint, origin=closed_port())], Baseline(), options
    ).targets
    assert dict(unseen.certificate_expiry).keys() == {"client"}


def test_no_aop_skips_the_origin_pull_check(world: World) -> None:
    report = verify([world.target(origin="off")], Baseline(aop=AopMode.OFF), world.options()).targets[0]
    assert report.check("origin.aop").status is Status.SKIPPED
    assert report.ok


def test_unreachable_peers_are_inconclusive_within_bounded_time(world: World) -> None:
    closed = closed_port()
    with Tarpit() as tarpit:
        target = Target(HOST, edge=tarpit.endpoint, edge_http=closed, origin=closed)
        started = time.monotonic()
        report = verify([target], Baseline(), world.options(timeout=1.0))
        elapsed = time.monotonic() - started
    statuses = _statuses(report.targets[0])
    for cid in ("edge.min_tls_version", "edge.tls_1_3", "edge.certificate", "edge.hsts", "edge.https_redirect"):
        assert statuses[cid] is Status.INCONCLUSIVE, cid
    assert statuses["origin.certificate"] is Status.INCONCLUSIVE
    assert statuses["origin.aop"] is Status.INCONCLUSIVE
    assert report.exit_code == 3
    assert elapsed < 20  # one timeout per probe, all at once: far below the sum of the timeouts


def test_many_targets_at_once_each_judged_on_its_own(world: World) -> None:
    targets = [world.target("good"), world.target("no13")]
    other = Target("other.example.test", edge=world.edges["good"].endpoint, edge_http=world.http_redirect)
    report = verify([*targets, other], Baseline(), world.options())
    assert [t.hostname for t in report.targets] == [HOST, HOST, "other.example.test"]
    assert report.targets[0].ok
    assert report.targets[1].check("edge.tls_1_3").status is Status.FAIL
    assert report.targets[2].check("edge.certificate").status is Status.FAIL  # cert does not cover it


# -- zone.* against a mock API (the API client's own tests cover its fault paths)


def _zone_api(settings: dict[str, object], *, status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer test-token"
        if status != 200:
            body = {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}], "result": None}
            return httpx.Response(status, json=body)
        path = request.url.path
        if path.endswith("/origin_tls_client_auth/settings"):
            return httpx.Response(200, json={"success": True, "errors": [], "result": {"enabled": True}})
        if "/origin_tls_client_auth/hostnames/" in path:
            return httpx.Response(404, json={"success": False, "errors": [{"code": 1400, "message": "not found"}]})
        setting = path.rsplit("/", 1)[1]
        result = {"id": setting, "value": settings.get(setting), "editable": True, "modified_on": None}
        if setting == "auto_origin_tls_kex":  # its value is under "enabled" (reference/cloudflare.md section 6)
            result = {"id": setting, "enabled": settings.get(setting, True), "modified_on": None}
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": result})

    return httpx.MockTransport(handler)


HARDENED: dict[str, object] = {**Baseline().zone_settings(), "tls_client_auth": "off"}


def test_zone_checks_read_the_api(world: World) -> None:
    target = Target(HOST, edge=world.edges["good"].endpoint, edge_http=world.http_redirect)
    options = world.options(zone_id=ZONE, api_url="https://api.test/client/v4")
    good = verify([target], Baseline(), options, api_token="test-token", api_transport=_zone_api(HARDENED))
    drifted = verify(
        [target], Baseline(), options, api_token="test-token", api_transport=_zone_api({**HARDENED, "ssl": "flexible"})
    )
    # zone.aop_certificate needs --client-cert (skipped here); the zone settings pass
    assert {s for cid, s in _statuses(good.targets[0]).items() if cid in ZONE_SETTING_CHECKS} == {Status.PASS}
    assert good.targets[0].check("zone.aop_certificate").status is Status.SKIPPED
    assert drifted.targets[0].check("zone.ssl").status is Status.FAIL
    assert drifted.targets[0].check("zone.ssl").observed == "flexible"


def test_zone_checks_with_a_bad_token_are_inconclusive_and_never_show_it(world: World) -> None:
    target = Target(HOST, edge=world.edges["good"].endpoint, edge_http=world.http_redirect)
    options = world.options(zone_id=ZONE, api_url="https://api.test/client/v4")
    report = verify([target], Baseline(), options, api_token="test-token", api_transport=_zone_api({}, status=403))
    zone = [c for c in report.targets[0].checks if c.id in ZONE_SETTING_CHECKS]
    assert {c.status for c in zone} == {Status.INCONCLUSIVE}
    assert all("permission" in c.detail for c in zone)
    assert "test-token" not in json.dumps(report.to_dict())
    no_token = verify([target], Baseline(), options, api_token=None)
    assert "CLOUDFLARE_API_TOKEN" in no_token.targets[0].check("zone.ssl").detail


def test_input_is_refused_before_anything_is_probed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="origin_ca"):
        verify([Target(HOST, edge=closed_port())], Baseline(), VerifyOptions(origin_ca_pem="not a pem"))
    with pytest.raises(ValueError, match="targets"):
        verify([], Baseline(), VerifyOptions())
