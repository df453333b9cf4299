"""``zone.aop_certificate`` as a pure judge over API facts (each passing row has failing twins), and the facts it
needs: which keys are read and how ``read_zone_fact`` reads them (against ``httpx.MockTransport``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from origin_tls.baseline import AopMode, Baseline
from origin_tls.cloudflare import CloudflareClient
from origin_tls.report import Status
from origin_tls.zone import ZoneFacts, judge_zone, judge_zone_aop_certificate, read_zone_fact, zone_fact_keys

HOST = "app.example.com"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
HOST_KEY = f"origin_tls_client_auth/hostnames/{HOST}"


def make_cert(issuer: str, *, key: ec.EllipticCurvePrivateKey | None = None, days: int = 365) -> tuple[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), key


OURS, OUR_KEY = make_cert("our pull CA")
# The same key in another certificate (a renewal): still the key Cloudflare must present.
RENEWED, _ = make_cert("our pull CA, renewed", key=OUR_KEY)
THEIRS, _ = make_cert("another CA")


def stamp(days: float) -> str:
    return (NOW + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def zone_cert(pem: str, *, status: str = "active", uploaded: float = -10, expires: float = 365) -> dict[str, Any]:
    return {
        "id": f"z{uploaded:g}",
        "certificate": pem,
        "status": status,
        "uploaded_on": stamp(uploaded),
        "expires_on": stamp(expires),
    }


def association(pem: str, *, enabled: bool = True, status: str = "active", expires: float = 365) -> dict[str, Any]:
    return {
        "hostname": HOST,
        "cert_id": "h1",
        "enabled": enabled,
        "status": status,
        "cert_status": status,
        "certificate": pem,
        "expires_on": stamp(expires),
    }


def facts(
    *,
    hostname: Any = None,
    zone_enabled: bool = False,
    zone_certs: list[dict[str, Any]] | None = None,
    global_aop: str = "off",
    errors: Mapping[str, str] | None = None,
) -> ZoneFacts:
    values = {
        "tls_client_auth": global_aop,
        "origin_tls_client_auth/settings": zone_enabled,
        "origin_tls_client_auth": zone_certs or [],
        HOST_KEY: hostname,
    }
    errors = dict(errors or {})
    return ZoneFacts({k: v for k, v in values.items() if k not in errors}, errors)


def judge(zone: ZoneFacts, *, client: str | None = OURS, baseline: Baseline | None = None) -> Any:
    return judge_zone_aop_certificate(zone, baseline or Baseline(), HOST, client_cert_pem=client, now=NOW)


PASSING = {
    "per-hostname association with our certificate": facts(hostname=association(OURS)),
    "per-hostname with our key in a renewed certificate": facts(hostname=association(RENEWED)),
    "per-hostname wins over a foreign zone-level certificate": facts(
        hostname=association(OURS), zone_enabled=True, zone_certs=[zone_cert(THEIRS, uploaded=-1)]
    ),
    "zone-level, ours the newest active": facts(
        zone_enabled=True, zone_certs=[zone_cert(THEIRS, uploaded=-20), zone_cert(OURS, uploaded=-5)]
    ),
    "zone-level, a newer foreign one still initializing": facts(
        zone_enabled=True,
        zone_certs=[zone_cert(OURS, uploaded=-5), zone_cert(THEIRS, uploaded=-1, status="initializing")],
    ),
    "zone-level wins over global": facts(zone_enabled=True, zone_certs=[zone_cert(OURS)], global_aop="on"),
    "zone read failed but the hostname association decides": facts(
        hostname=association(OURS), errors={"origin_tls_client_auth/settings": "HTTP 500"}
    ),
}

FAILING = {
    "per-hostname association with another key": (facts(hostname=association(THEIRS)), "another key"),
    "per-hostname certificate pending deployment": (
        facts(hostname=association(OURS, status="pending_deployment")),
        "not active",
    ),
    "per-hostname certificate expiring in 10 days": (
        facts(hostname=association(OURS, expires=10)),
        "expires in 10 days, under the 30",
    ),
    "per-hostname certificate expired": (facts(hostname=association(OURS, expires=-1)), "has expired"),
    "per-hostname association disabled": (
        facts(hostname=association(OURS, enabled=False), zone_enabled=True, zone_certs=[zone_cert(OURS)]),
        "no client certificate",
    ),
    "zone-level: a newer active certificate from another CA": (
        facts(zone_enabled=True, zone_certs=[zone_cert(OURS, uploaded=-20), zone_cert(THEIRS, uploaded=-1)]),
        "another key",
    ),
    "zone-level: ours pending deletion only": (
        facts(zone_enabled=True, zone_certs=[zone_cert(OURS, status="pending_deletion")]),
        "no active zone-level certificate",
    ),
    "zone-level: ours expiring": (facts(zone_enabled=True, zone_certs=[zone_cert(OURS, expires=29)]), "expires in"),
    "AOP off everywhere": (facts(), "no client certificate"),
}


@pytest.mark.parametrize("zone", PASSING.values(), ids=PASSING.keys())
def test_the_certificate_cloudflare_presents_is_ours_active_and_fresh(zone: ZoneFacts) -> None:
    check = judge(zone)
    assert check.status is Status.PASS, check
    assert "key matches --client-cert" in check.observed


@pytest.mark.parametrize(("zone", "why"), FAILING.values(), ids=FAILING.keys())
def test_any_other_certificate_or_none_fails_saying_why(zone: ZoneFacts, why: str) -> None:
    check = judge(zone)
    assert check.status is Status.FAIL, check
    assert why in check.detail + check.observed, check


def test_min_days_is_the_baselines() -> None:
    zone = facts(hostname=association(OURS, expires=60))
    assert judge(zone).status is Status.PASS
    assert judge(zone, baseline=Baseline(min_days_remaining=90)).status is Status.FAIL


def test_global_aop_is_skipped_and_names_cloudflares_own_certificate() -> None:
    check = judge(facts(global_aop="on"))
    assert check.status is Status.SKIPPED
    assert "Cloudflare presents its own shared certificate" in check.detail


@pytest.mark.parametrize(
    ("client", "baseline", "why"),
    [(None, Baseline(), "no --client-cert given"), (OURS, Baseline(aop=AopMode.OFF), "--no-aop")],
)
def test_skipped_without_a_client_certificate_or_without_aop(client: str | None, baseline: Baseline, why: str) -> None:
    check = judge(facts(hostname=association(OURS)), client=client, baseline=baseline)
    assert check.status is Status.SKIPPED
    assert why in check.detail


@pytest.mark.parametrize(
    ("zone", "why"),
    [
        (facts(errors={HOST_KEY: "HTTP 403: needs SSL and Certificates Read"}), "SSL and Certificates Read"),
        (facts(errors={"origin_tls_client_auth/settings": "timed out"}), "timed out"),
        (facts(zone_enabled=True, errors={"origin_tls_client_auth": "HTTP 502"}), "HTTP 502"),
        (facts(errors={"tls_client_auth": "no API token"}), "no API token"),
        (facts(hostname={**association(OURS), "certificate": None}), "no readable certificate"),
    ],
    ids=["hostname", "zone-setting", "zone-list", "global", "no-certificate-in-answer"],
)
def test_a_read_that_failed_is_inconclusive_with_its_reason(zone: ZoneFacts, why: str) -> None:
    check = judge(zone)
    assert check.status is Status.INCONCLUSIVE
    assert why in check.detail


def test_the_expiry_falls_back_to_the_certificate_when_the_api_does_not_say() -> None:
    record = {**association(OURS), "expires_on": None}
    assert judge(facts(hostname=record)).status is Status.PASS
    short, _ = make_cert("short", key=OUR_KEY, days=5)
    assert judge(facts(hostname={**association(short), "expires_on": None})).status is Status.FAIL


def test_zone_aop_reads_the_association_record_as_enabled() -> None:
    # zone.aop judges the same hostname fact (now the record, not a flag): enabled passes, disabled fails.
    on = {c.id: c for c in judge_zone(facts(hostname=association(OURS)), Baseline(aop=AopMode.HOSTNAME), HOST)}
    off = judge_zone(facts(hostname=association(OURS, enabled=False)), Baseline(aop=AopMode.HOSTNAME), HOST)
    assert on["zone.aop"].status is Status.PASS
    assert {c.id: c for c in off}["zone.aop"].status is Status.FAIL


# -- the facts -----------------------------------------------------------------------------------------------------


def test_the_certificate_check_reads_every_aop_level_once() -> None:
    keys = zone_fact_keys(Baseline(aop=AopMode.GLOBAL), [HOST, "www.example.com"], aop_certificate=True)
    assert len(keys) == len(set(keys))
    assert {
        "tls_client_auth",
        "origin_tls_client_auth/settings",
        "origin_tls_client_auth",
        HOST_KEY,
        "origin_tls_client_auth/hostnames/www.example.com",
    } <= set(keys)
    # Twin: without it, a global-only baseline reads no zone-level or hostname facts.
    plain = zone_fact_keys(Baseline(aop=AopMode.GLOBAL), [HOST])
    assert not any(key.startswith("origin_tls_client_auth") for key in plain)
    # And with --no-aop there is nothing to compare.
    assert "origin_tls_client_auth" not in zone_fact_keys(Baseline(aop=AopMode.OFF), [HOST], aop_certificate=True)


def answer(routes: Mapping[str, tuple[int, Any]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        status, result = routes[request.url.path.split(f"/zones/{ZONE}/", 1)[1]]
        body = {"success": status == 200, "errors": [] if status == 200 else [{"code": 1404, "message": "no"}]}
        return httpx.Response(status, content=json.dumps({**body, "messages": [], "result": result}).encode())

    return httpx.MockTransport(handler)


def test_read_zone_fact_reads_the_records_the_judge_needs() -> None:
    routes = {
        "origin_tls_client_auth": (200, [{**zone_cert(OURS), "private_key": "secret"}]),
        f"origin_tls_client_auth/hostnames/{HOST}": (200, association(OURS)),
        "origin_tls_client_auth/hostnames/www.example.com": (404, None),
    }
    with CloudflareClient("t0ken-for-tests", transport=answer(routes)) as client:
        listed = read_zone_fact(client, ZONE, "origin_tls_client_auth")
        assert [r["certificate"] for r in listed] == [OURS]
        assert "private_key" not in listed[0]
        assert read_zone_fact(client, ZONE, HOST_KEY)["cert_id"] == "h1"
        assert read_zone_fact(client, ZONE, "origin_tls_client_auth/hostnames/www.example.com") is None
