"""The hardening API calls (what the Pulumi layer sends), against the sandbox's API emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509

from origin_tls.baseline import AopMode, Baseline, HstsPolicy, KeyType, TlsVersion
from origin_tls.certs import build_client_ca, load_private_key_pem
from origin_tls.cloudflare import CloudflareClient
from origin_tls.errors import AuthenticationError, InvalidInput
from origin_tls.harden import enable_hostname_aop, enable_zone_aop, harden_zone, issue_origin_certificate
from origin_tls.sandbox import ApiServer, ZoneState

ZONE = "0123456789abcdef0123456789abcdef"
TOKEN = "harden-test-token"
HOST = "app.sandbox.test"


@pytest.fixture
def zone() -> ZoneState:
    return ZoneState(zone_id=ZONE, hostnames=[HOST], account_token=TOKEN)


@pytest.fixture
def api(zone: ZoneState) -> Iterator[ApiServer]:
    with ApiServer(zone) as server:
        yield server


@pytest.fixture
def client(api: ApiServer) -> Iterator[CloudflareClient]:
    with CloudflareClient(TOKEN, base_url=api.url) as c:
        yield c


def _calls(api: ApiServer) -> list[tuple[str, str]]:
    prefix = "/client/v4"
    return [(r.method, r.path.removeprefix(prefix)) for r in api.requests]


def test_harden_zone_patches_every_baseline_setting_automatic_mode_first(
    zone: ZoneState, api: ApiServer, client: CloudflareClient
) -> None:
    baseline = Baseline(min_tls=TlsVersion.TLS_1_3, hsts=HstsPolicy(preload=True), aop=AopMode.GLOBAL)
    harden_zone(client, ZONE, baseline)
    calls = _calls(api)
    assert [method for method, _ in calls] == ["PATCH"] * len(baseline.zone_settings())
    assert calls[0] == ("PATCH", f"/zones/{ZONE}/settings/ssl_automatic_mode")
    assert {path.rsplit("/", 1)[1] for _, path in calls} == set(baseline.zone_settings())
    assert all(status == 200 for status in (r.status for r in api.requests))
    assert {key: zone.get_setting(key) for key in baseline.zone_settings()} == baseline.zone_settings()


def test_harden_zone_with_a_wrong_token_changes_nothing(zone: ZoneState, api: ApiServer) -> None:
    before = zone.settings()
    with CloudflareClient("not-the-token", base_url=api.url) as wrong, pytest.raises(AuthenticationError):
        harden_zone(wrong, ZONE, Baseline())
    assert zone.settings() == before


def test_issue_origin_certificate_sends_only_a_csr(zone: ZoneState, api: ApiServer, client: CloudflareClient) -> None:
    issued = issue_origin_certificate(client, hostnames=[HOST], key_type=KeyType.ECDSA_P256, validity_days=90)
    assert _calls(api) == [("POST", "/certificates")]
    cert = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    key = load_private_key_pem(issued.private_key_pem)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [HOST]
    assert issued.certificate_id in {c.id for c in zone.list_origin_certificates()}
    assert issued.expires_on is not None
    assert (issued.expires_on - cert.not_valid_before_utc).days == 90
    assert issued.private_key_pem not in repr(issued)


def test_issue_rsa_origin_certificate(client: CloudflareClient) -> None:
    issued = issue_origin_certificate(client, hostnames=[HOST], key_type="rsa-2048", validity_days=7)
    assert "BEGIN CERTIFICATE" in issued.certificate_pem


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hostnames": []},
        {"hostnames": ["bad host"]},
        {"hostnames": [HOST], "validity_days": 10},
        {"hostnames": [HOST], "key_type": "dsa"},
    ],
)
def test_bad_input_is_refused_before_any_request(api: ApiServer, client: CloudflareClient, kwargs: dict) -> None:
    with pytest.raises(InvalidInput):
        issue_origin_certificate(client, **kwargs)
    assert api.requests == []


def test_enable_zone_aop_uploads_waits_for_active_then_enables(
    zone: ZoneState, api: ApiServer, client: CloudflareClient
) -> None:
    ca = build_client_ca("team pull CA")
    uploaded = enable_zone_aop(client, ZONE, ca)
    calls = _calls(api)
    assert calls[0] == ("POST", f"/zones/{ZONE}/origin_tls_client_auth")
    assert calls[-1] == ("PUT", f"/zones/{ZONE}/origin_tls_client_auth/settings")
    assert set(calls[1:-1]) <= {("GET", f"/zones/{ZONE}/origin_tls_client_auth/{uploaded.certificate_id}")}
    assert uploaded.status == "active"
    assert uploaded.ca_pem == ca.certificate_pem
    identity = zone.active_client_identity(HOST)
    assert identity is not None
    assert identity.certificate_pem.strip() == uploaded.certificate_pem.strip()


def test_without_enable_zone_aop_the_edge_presents_nothing(zone: ZoneState) -> None:
    assert zone.active_client_identity(HOST) is None


def test_enable_hostname_aop_associates_every_hostname(
    zone: ZoneState, api: ApiServer, client: CloudflareClient
) -> None:
    uploaded = enable_hostname_aop(client, ZONE, [HOST], build_client_ca("team pull CA"))
    calls = _calls(api)
    assert calls[0] == ("POST", f"/zones/{ZONE}/origin_tls_client_auth/hostnames/certificates")
    assert calls[1] == ("PUT", f"/zones/{ZONE}/origin_tls_client_auth/hostnames")
    assert uploaded.status == "active"
    identity = zone.active_client_identity(HOST)
    assert identity is not None
    assert identity.certificate_pem.strip() == uploaded.certificate_pem.strip()
