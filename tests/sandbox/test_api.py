"""The sandbox's Cloudflare API emulator, driven over real HTTP: shapes, refusals, faults, AOP, what the edge reads.

Every route answers with Cloudflare's envelope; each accepted request has a refused twin with the code Cloudflare
uses. Fixtures and builders here are also imported by ``test_sdk_conformance``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from origin_tls.baseline import AopMode
from origin_tls.sandbox import ApiServer, SettingError, ZoneState
from origin_tls.sandbox.origin_ca import ECC_ROOT_UNIT, LEAF_COMMON_NAME, RSA_ROOT_UNIT
from origin_tls.sandbox.state import DEFAULT_SETTINGS, SETTING_IDS
from tests.peers.pki import TestPki

ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "sandbox-token-Qm9vdGg"
HOSTNAME = "app.example.test"
ZONE_NAME = "example.test"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def csr_pem(key: PrivateKey, *names: str) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "csr")])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")


def self_signed_client(common_name: str = "team edge") -> tuple[str, str]:
    """A self-signed client certificate and its key (PEM): its own issuer, so its own pull CA."""
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), key_pem(key)


@pytest.fixture
def zone() -> ZoneState:
    # A short activation delay: uploads are seen "initializing", then "active" well within a test's patience.
    return ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME], account_token=TOKEN, activation_delay=0.1)


@pytest.fixture
def api(zone: ZoneState) -> Iterator[ApiServer]:
    with ApiServer(zone) as server:
        yield server


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
        yield http


def error_codes(response: httpx.Response) -> list[int]:
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    return [error["code"] for error in body["errors"]]


def ok_result(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == []
    return body["result"]


def wait_until(predicate: Any, *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
SETTINGS = f"/zones/{ZONE_ID}/settings"
AOP = f"/zones/{ZONE_ID}/origin_tls_client_auth"


# -- zone settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting_id", SETTING_IDS)
def test_a_fresh_zone_answers_each_setting_with_cloudflares_shape_and_default(
    client: httpx.Client, setting_id: str
) -> None:
    result = ok_result(client.get(f"{SETTINGS}/{setting_id}"))
    assert result["id"] == setting_id
    assert result["value"] == DEFAULT_SETTINGS[setting_id]
    assert result["editable"] is True
    assert result["modified_on"] is None


def test_a_fresh_zone_is_flexible_and_not_hardened(zone: ZoneState) -> None:
    settings = zone.settings()
    assert settings["ssl"] == "flexible"
    assert settings["min_tls_version"] == "1.0"
    assert settings["always_use_https"] == "off"
    assert settings["tls_client_auth"] == "off"
    assert settings["security_header"]["strict_transport_security"]["enabled"] is False


def test_the_bulk_settings_list_has_every_setting(client: httpx.Client) -> None:
    result = ok_result(client.get(SETTINGS))
    assert sorted(item["id"] for item in result) == sorted(SETTING_IDS)


@pytest.mark.parametrize(
    ("setting_id", "value"),
    [
        ("ssl", "strict"),
        ("ssl", "full"),
        ("ssl_automatic_mode", "custom"),
        ("min_tls_version", "1.2"),
        ("tls_1_3", "zrt"),
        ("always_use_https", "on"),
        ("automatic_https_rewrites", "off"),
        ("tls_client_auth", "on"),
    ],
)
def test_a_valid_value_is_stored_and_read_back(
    client: httpx.Client, zone: ZoneState, setting_id: str, value: str
) -> None:
    before = zone.version
    result = ok_result(client.patch(f"{SETTINGS}/{setting_id}", json={"value": value}))
    assert result["value"] == value
    assert RFC3339.fullmatch(result["modified_on"])
    assert ok_result(client.get(f"{SETTINGS}/{setting_id}"))["value"] == value
    assert zone.get_setting(setting_id) == value
    assert zone.version > before


@pytest.mark.parametrize(
    ("setting_id", "value"),
    [
        ("ssl", "Full (strict)"),
        ("ssl", "STRICT"),
        ("ssl", None),
        ("ssl_automatic_mode", "manual"),
        ("min_tls_version", 1.2),
        ("min_tls_version", "1.4"),
        ("tls_1_3", True),
        ("always_use_https", "yes"),
        ("automatic_https_rewrites", 1),
        ("tls_client_auth", "enabled"),
    ],
)
def test_an_invalid_value_is_refused_with_1007_and_nothing_changes(
    client: httpx.Client, zone: ZoneState, setting_id: str, value: object
) -> None:
    before = zone.get_setting(setting_id)
    response = client.patch(f"{SETTINGS}/{setting_id}", json={"value": value})
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert response.json()["errors"][0]["message"] == f"Invalid value for zone setting {setting_id}"
    assert zone.get_setting(setting_id) == before


def test_a_patch_without_value_is_refused_like_an_invalid_value(client: httpx.Client) -> None:
    response = client.patch(f"{SETTINGS}/ssl", json={})
    assert response.status_code == 400
    assert error_codes(response) == [1007]


def test_ssl_automatic_mode_shows_the_next_scan_only_in_auto(client: httpx.Client) -> None:
    auto = ok_result(client.get(f"{SETTINGS}/ssl_automatic_mode"))
    assert RFC3339.fullmatch(auto["next_scheduled_scan"])
    custom = ok_result(client.patch(f"{SETTINGS}/ssl_automatic_mode", json={"value": "custom"}))
    assert "next_scheduled_scan" not in custom


HSTS_ON = {"enabled": True, "max_age": 31536000, "include_subdomains": True, "preload": False, "nosniff": True}


def test_hsts_snake_case_value_is_stored(client: httpx.Client, zone: ZoneState) -> None:
    result = ok_result(
        client.patch(f"{SETTINGS}/security_header", json={"value": {"strict_transport_security": HSTS_ON}})
    )
    assert result["value"] == {"strict_transport_security": HSTS_ON}
    assert zone.settings()["security_header"]["strict_transport_security"]["max_age"] == 31536000


def test_hsts_partial_value_keeps_the_other_fields(client: httpx.Client) -> None:
    client.patch(f"{SETTINGS}/security_header", json={"value": {"strict_transport_security": HSTS_ON}})
    result = ok_result(
        client.patch(f"{SETTINGS}/security_header", json={"value": {"strict_transport_security": {"max_age": 600}}})
    )
    assert result["value"]["strict_transport_security"] == {**HSTS_ON, "max_age": 600}


@pytest.mark.parametrize(
    "value",
    [
        {"strictTransportSecurity": HSTS_ON},  # camelCase wrapper (pulumi-cloudflare#1579)
        {"strict_transport_security": {**HSTS_ON, "maxAge": 31536000}},  # camelCase field
        {"strict_transport_security": {"enabled": True, "includeSubdomains": True}},
        HSTS_ON,  # flat value without the wrapper (TF#6436)
        {"strict_transport_security": {**HSTS_ON, "max_age": -1}},
        {"strict_transport_security": {**HSTS_ON, "max_age": "31536000"}},
        {"strict_transport_security": {**HSTS_ON, "max_age": True}},
        {"strict_transport_security": {**HSTS_ON, "enabled": "true"}},
        {"strict_transport_security": {}},
        "max-age=31536000",
    ],
)
def test_hsts_values_in_other_shapes_are_refused(client: httpx.Client, zone: ZoneState, value: object) -> None:
    before = zone.get_setting("security_header")
    response = client.patch(f"{SETTINGS}/security_header", json={"value": value})
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert zone.get_setting("security_header") == before


def test_an_unknown_setting_is_refused_with_1006(client: httpx.Client) -> None:
    for response in (client.get(f"{SETTINGS}/origin_max_http_version"), client.patch(f"{SETTINGS}/sssl", json={})):
        assert response.status_code == 400
        assert error_codes(response) == [1006]


def test_a_body_that_is_not_json_is_refused_with_6007(client: httpx.Client) -> None:
    response = client.patch(f"{SETTINGS}/ssl", content=b"value=strict", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert error_codes(response) == [6007]


def test_set_setting_validates_like_the_api(zone: ZoneState) -> None:
    assert zone.set_setting("min_tls_version", "1.2") == "1.2"
    with pytest.raises(SettingError) as caught:
        zone.set_setting("min_tls_version", "1.5")
    assert (caught.value.status, caught.value.code) == (400, 1007)
    assert zone.get_setting("min_tls_version") == "1.2"


# -- authentication and routing ---------------------------------------------------------------------------------


def test_the_right_bearer_token_is_accepted(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}{SETTINGS}/ssl", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_no_credentials_are_refused_with_9106(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}{SETTINGS}/ssl")
    assert response.status_code == 400
    assert error_codes(response) == [9106]
    assert response.json()["errors"][0]["message"] == "Missing X-Auth-Key, X-Auth-Email or Authorization headers"


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer wrong-token"}, {"X-Auth-Key": "k", "X-Auth-Email": "a@example.test"}],
)
def test_a_wrong_credential_is_refused_with_10000(api: ApiServer, headers: dict[str, str]) -> None:
    response = httpx.patch(f"{api.url}{SETTINGS}/ssl", json={"value": "off"}, headers=headers)
    assert response.status_code == 403
    assert error_codes(response) == [10000]
    assert response.json()["errors"][0]["message"] == "Authentication error"


def test_a_malformed_authorization_header_is_refused_with_6003(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}{SETTINGS}/ssl", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 400
    assert error_codes(response) == [6003]
    assert response.json()["errors"][0]["error_chain"][0]["code"] == 6111


def test_an_unknown_zone_is_404_with_1001(client: httpx.Client) -> None:
    response = client.get(f"/zones/{'f' * 32}/settings/ssl")
    assert response.status_code == 404
    assert error_codes(response) == [1001]


def test_a_malformed_zone_id_cannot_be_routed(client: httpx.Client) -> None:
    response = client.get("/zones/example.test/settings/ssl")
    assert response.status_code == 404
    assert error_codes(response) == [7003, 7000]


@pytest.mark.parametrize("path", ["/zones", f"/zones/{ZONE_ID}/dns_records", "/certificates/1/extra"])
def test_an_unknown_route_is_404_with_7000(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert error_codes(response) == [7000]


def test_a_path_outside_the_api_prefix_is_404(api: ApiServer) -> None:
    response = httpx.get(api.url.replace("/client/v4", "/client/v3") + f"{SETTINGS}/ssl")
    assert response.status_code == 404
    assert error_codes(response) == [7000]


def test_a_known_route_with_another_method_is_405(client: httpx.Client) -> None:
    response = client.delete(f"{SETTINGS}/ssl")
    assert response.status_code == 405
    assert error_codes(response) == [7001]


def test_the_token_is_in_no_repr_and_no_request_record(client: httpx.Client, api: ApiServer, zone: ZoneState) -> None:
    client.get(f"{SETTINGS}/ssl")
    assert TOKEN not in repr(zone)
    assert TOKEN not in repr(api)
    assert TOKEN not in repr(api.requests)
    assert api.requests[-1].status == 200
    assert zone.is_account_token(TOKEN)
    assert not zone.is_account_token(TOKEN + "x")


# -- Origin CA ----------------------------------------------------------------------------------------------------


def create_origin(client: httpx.Client, **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "csr": csr_pem(ec_key(), HOSTNAME),
        "hostnames": [HOSTNAME, f"*.{ZONE_NAME}"],
        "request_type": "origin-ecc",
        "requested_validity": 90,
    }
    body.update(overrides)
    return client.post("/certificates", json=body)


def parse_go_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S +0000 UTC").replace(tzinfo=dt.timezone.utc)


def test_an_ecc_csr_is_signed_by_the_sandbox_ecc_root(client: httpx.Client, zone: ZoneState) -> None:
    result = ok_result(create_origin(client))
    assert set(result) == {"id", "certificate", "csr", "hostnames", "expires_on", "request_type", "requested_validity"}
    assert result["id"].isdigit()
    assert len(result["id"]) >= 40
    assert result["hostnames"] == [HOSTNAME, f"*.{ZONE_NAME}"]
    assert result["request_type"] == "origin-ecc"
    assert result["requested_validity"] == 90
    leaf = x509.load_pem_x509_certificate(result["certificate"].encode())
    root = x509.load_pem_x509_certificate(zone.origin_ca.ecc_root_pem.encode())
    leaf.verify_directly_issued_by(root)
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == ECC_ROOT_UNIT
    assert not root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == LEAF_COMMON_NAME
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [HOSTNAME, f"*.{ZONE_NAME}"]
    assert str(leaf.serial_number) == result["id"]
    assert parse_go_time(result["expires_on"]) == leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=90)


def test_the_ecc_leaf_does_not_chain_to_another_sandbox(client: httpx.Client) -> None:
    result = ok_result(create_origin(client))
    leaf = x509.load_pem_x509_certificate(result["certificate"].encode())
    other = ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME], account_token=TOKEN)
    with pytest.raises(Exception):
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(other.origin_ca.ecc_root_pem.encode()))


def test_an_rsa_csr_is_signed_by_the_rsa_root_and_validity_defaults_to_5475(
    client: httpx.Client, zone: ZoneState
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = {"csr": csr_pem(key, HOSTNAME), "hostnames": [HOSTNAME], "request_type": "origin-rsa"}
    result = ok_result(client.post("/certificates", json=body))
    assert result["requested_validity"] == 5475
    leaf = x509.load_pem_x509_certificate(result["certificate"].encode())
    root = x509.load_pem_x509_certificate(zone.origin_ca.rsa_root_pem.encode())
    leaf.verify_directly_issued_by(root)
    assert leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == RSA_ROOT_UNIT
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=5475)


def _der_base64_csr() -> str:
    csr = x509.load_pem_x509_csr(csr_pem(ec_key(), HOSTNAME).encode())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"csr": "DER"}, "CSR parsed as empty"),
        ({"csr": None}, "CSR parsed as empty"),
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----"}, "CSR"),
        ({"request_type": "origin-rsa"}, "request_type origin-rsa"),
        ({"request_type": "origin-dsa"}, "request_type"),
        ({"requested_validity": 42}, "requested_validity"),
        ({"requested_validity": "365"}, "requested_validity"),
        ({"hostnames": ["app.other.test"]}, "does not belong"),
        ({"hostnames": ["example.test.evil.test"]}, "does not belong"),
        ({"hostnames": ["127.0.0.1"]}, "IP addresses"),
        ({"hostnames": ["*.*.example.test"]}, "wildcards"),
        ({"hostnames": ["app.*.example.test"]}, "wildcards"),
        ({"hostnames": []}, "hostnames"),
        ({"hostnames": "app.example.test"}, "hostnames"),
        ({"hostnames": [f"h{i}.example.test" for i in range(201)]}, "200"),
    ],
)
def test_bad_certificate_requests_are_refused_with_1007(
    client: httpx.Client, zone: ZoneState, overrides: dict[str, Any], message: str
) -> None:
    if overrides.get("csr") == "DER":
        overrides = {"csr": _der_base64_csr()}
    response = create_origin(client, **overrides)
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert message in response.json()["errors"][0]["message"]
    assert zone.list_origin_certificates() == []


def test_two_hundred_hostnames_are_accepted(client: httpx.Client) -> None:
    names = [f"h{i}.example.test" for i in range(200)]
    assert len(ok_result(create_origin(client, hostnames=names))["hostnames"]) == 200


def test_list_get_and_revoke_an_origin_certificate(client: httpx.Client) -> None:
    created = ok_result(create_origin(client))
    listed = client.get("/certificates", params={"zone_id": ZONE_ID})
    assert [item["id"] for item in ok_result(listed)] == [created["id"]]
    assert listed.json()["result_info"] == {"page": 1, "per_page": 20, "count": 1, "total_count": 1}
    assert ok_result(client.get("/certificates", params={"zone_id": ZONE_ID, "page": 2})) == []
    fetched = ok_result(client.get(f"/certificates/{created['id']}"))
    # GET does not echo csr or requested_validity (TF#5392).
    assert "csr" not in fetched
    assert "requested_validity" not in fetched
    assert fetched["certificate"] == created["certificate"]
    assert fetched["expires_on"] == created["expires_on"]
    revoked = ok_result(client.delete(f"/certificates/{created['id']}"))
    assert revoked["id"] == created["id"]
    assert RFC3339.fullmatch(revoked["revoked_at"])
    gone = client.get(f"/certificates/{created['id']}")
    assert gone.status_code == 404
    assert error_codes(gone) == [1101]
    assert ok_result(client.get("/certificates", params={"zone_id": ZONE_ID})) == []
    again = client.delete(f"/certificates/{created['id']}")
    assert again.status_code == 404


def test_listing_without_zone_id_is_refused_with_1012(client: httpx.Client) -> None:
    response = client.get("/certificates")
    assert response.status_code == 400
    assert error_codes(response) == [1012]


def test_a_truncated_certificate_id_is_not_found(client: httpx.Client) -> None:
    created = ok_result(create_origin(client))
    response = client.get(f"/certificates/{created['id'][:-3]}")
    assert response.status_code == 404
    assert error_codes(response) == [1101]


# -- fault knobs --------------------------------------------------------------------------------------------------


def test_an_injected_429_carries_retry_after_once(client: httpx.Client, api: ApiServer) -> None:
    api.faults.queue(status=429, retry_after=1)
    limited = client.get(f"{SETTINGS}/ssl")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert error_codes(limited) == [971]
    assert client.get(f"{SETTINGS}/ssl").status_code == 200
    assert api.faults.pending == 0


def test_no_fault_is_active_unless_queued(client: httpx.Client, api: ApiServer) -> None:
    assert api.faults.pending == 0
    assert [client.get(f"{SETTINGS}/ssl").status_code for _ in range(3)] == [200, 200, 200]


def test_injected_503_for_the_next_n_matching_requests(client: httpx.Client, api: ApiServer) -> None:
    api.faults.queue(status=503, count=2, path_prefix="/certificates")
    assert client.get(f"{SETTINGS}/ssl").status_code == 200  # does not match the prefix
    statuses = [client.get("/certificates", params={"zone_id": ZONE_ID}).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_an_injected_delay_slows_one_answer(api: ApiServer) -> None:
    api.faults.queue(delay=1.0, method="GET")
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get(f"{SETTINGS}/ssl", timeout=0.3)
        started = time.monotonic()
        assert http.get(f"{SETTINGS}/ssl", timeout=10).status_code == 200
        assert time.monotonic() - started < 5


def test_a_delayed_answer_arrives_after_the_delay(client: httpx.Client, api: ApiServer) -> None:
    api.faults.queue(delay=0.5)
    started = time.monotonic()
    assert client.get(f"{SETTINGS}/ssl").status_code == 200
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("kwargs", [{}, {"status": 200}, {"status": 503, "count": 0}, {"delay": -1.0, "status": 500}])
def test_meaningless_faults_are_refused(api: ApiServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        api.faults.queue(**kwargs)


# -- Authenticated Origin Pulls -------------------------------------------------------------------------------------


def test_a_zone_certificate_upload_moves_from_initializing_to_active(client: httpx.Client) -> None:
    cert, key = self_signed_client()
    uploaded = ok_result(client.post(AOP, json={"certificate": cert, "private_key": key}))
    assert uploaded["status"] == "initializing"
    assert "private_key" not in uploaded
    assert RFC3339.fullmatch(uploaded["uploaded_on"])
    assert RFC3339.fullmatch(uploaded["expires_on"])
    assert uploaded["issuer"] == "CN=team edge"
    assert uploaded["signature"] == "ECDSAWithSHA256"

    def status() -> str:
        return str(ok_result(client.get(f"{AOP}/{uploaded['id']}"))["status"])

    assert wait_until(lambda: status() == "active")
    assert [item["id"] for item in ok_result(client.get(AOP))] == [uploaded["id"]]


def test_a_zone_certificate_delete_goes_pending_then_away(client: httpx.Client) -> None:
    cert, key = self_signed_client()
    uploaded = ok_result(client.post(AOP, json={"certificate": cert, "private_key": key}))
    deleted = ok_result(client.delete(f"{AOP}/{uploaded['id']}"))
    assert deleted["status"] == "pending_deletion"
    assert wait_until(lambda: client.get(f"{AOP}/{uploaded['id']}").status_code == 404)
    assert error_codes(client.get(f"{AOP}/{uploaded['id']}")) == [1404]


@pytest.mark.parametrize("case", ["mismatched key", "der certificate", "no key", "encrypted-looking junk"])
def test_bad_client_certificate_uploads_are_refused(client: httpx.Client, zone: ZoneState, case: str) -> None:
    cert, key = self_signed_client()
    _, other_key = self_signed_client()
    body = {
        "mismatched key": {"certificate": cert, "private_key": other_key},
        "der certificate": {"certificate": base64.b64encode(b"\x30\x82").decode(), "private_key": key},
        "no key": {"certificate": cert},
        "encrypted-looking junk": {"certificate": cert, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"},
    }[case]
    for path in (AOP, f"{AOP}/hostnames/certificates"):
        response = client.post(path, json=body)
        assert response.status_code == 400
        assert error_codes(response) == [1007]
    assert zone.list_zone_certificates() == []
    assert zone.list_hostname_certificates() == []


def test_zone_level_enablement_defaults_false_and_toggles(client: httpx.Client, zone: ZoneState) -> None:
    assert ok_result(client.get(f"{AOP}/settings")) == {"enabled": False}
    assert ok_result(client.put(f"{AOP}/settings", json={"enabled": True})) == {"enabled": True}
    assert ok_result(client.get(f"{AOP}/settings")) == {"enabled": True}
    assert zone.zone_aop_enabled is True
    refused = client.put(f"{AOP}/settings", json={"enabled": "yes"})
    assert refused.status_code == 400
    assert error_codes(refused) == [1007]
    assert zone.zone_aop_enabled is True


def test_per_hostname_certificate_and_association(client: httpx.Client) -> None:
    cert, key = self_signed_client("hostname edge")
    uploaded = ok_result(client.post(f"{AOP}/hostnames/certificates", json={"certificate": cert, "private_key": key}))
    assert uploaded["status"] == "initializing"
    assert [item["id"] for item in ok_result(client.get(f"{AOP}/hostnames/certificates"))] == [uploaded["id"]]
    assert ok_result(client.get(f"{AOP}/hostnames/certificates/{uploaded['id']}"))["certificate"] == cert
    config = [{"hostname": HOSTNAME, "cert_id": uploaded["id"], "enabled": True}]
    associations = ok_result(client.put(f"{AOP}/hostnames", json={"config": config}))
    assert [(a["hostname"], a["cert_id"], a["enabled"]) for a in associations] == [(HOSTNAME, uploaded["id"], True)]
    assert wait_until(lambda: ok_result(client.get(f"{AOP}/hostnames/{HOSTNAME}"))["cert_status"] == "active")
    status = ok_result(client.get(f"{AOP}/hostnames/{HOSTNAME}"))
    assert status["serial_number"] == uploaded["serial_number"]
    assert RFC3339.fullmatch(status["expires_on"])
    assert RFC3339.fullmatch(status["created_at"])
    # enabled: null voids the association (openapi).
    voided = ok_result(client.put(f"{AOP}/hostnames", json={"config": [{**config[0], "enabled": None}]}))
    assert voided == []
    assert client.get(f"{AOP}/hostnames/{HOSTNAME}").status_code == 404
    deleted = ok_result(client.delete(f"{AOP}/hostnames/certificates/{uploaded['id']}"))
    assert deleted["status"] == "pending_deletion"


@pytest.mark.parametrize(
    "entry",
    [
        {"hostname": "app.other.test", "enabled": True},
        {"hostname": "*.example.test", "enabled": True},
        {"hostname": HOSTNAME, "cert_id": "0" * 32, "enabled": True},
        {"hostname": HOSTNAME, "enabled": "on"},
        {"cert_id": "x", "enabled": True},
    ],
)
def test_bad_hostname_associations_are_refused_and_none_applied(
    client: httpx.Client, zone: ZoneState, entry: dict[str, Any]
) -> None:
    cert, key = self_signed_client()
    cert_id = ok_result(client.post(f"{AOP}/hostnames/certificates", json={"certificate": cert, "private_key": key}))
    good = {"hostname": HOSTNAME, "cert_id": cert_id["id"], "enabled": True}
    entry = {"cert_id": cert_id["id"], **entry}
    response = client.put(f"{AOP}/hostnames", json={"config": [good, entry]})
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert client.get(f"{AOP}/hostnames/{HOSTNAME}").status_code == 404


# -- what the edge reads ---------------------------------------------------------------------------------------------


@pytest.fixture
def instant_zone() -> ZoneState:
    return ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME, "www.example.test"], account_token=TOKEN, activation_delay=0)


def test_client_identity_precedence_hostname_over_zone_over_global(instant_zone: ZoneState) -> None:
    zone = instant_zone
    assert zone.active_client_identity(HOSTNAME) is None
    zone.set_setting("tls_client_auth", "on")
    assert zone.active_client_identity(HOSTNAME) == zone.global_aop
    zone_cert, zone_key = self_signed_client("zone edge")
    zone.upload_zone_certificate(zone_cert, zone_key)
    assert zone.active_client_identity(HOSTNAME) == zone.global_aop  # uploaded but zone-level not enabled
    zone.set_zone_aop_enabled(True)
    identity = zone.active_client_identity(HOSTNAME)
    assert identity is not None
    assert identity.certificate_pem == zone_cert
    host_cert, host_key = self_signed_client("host edge")
    uploaded = zone.upload_hostname_certificate(host_cert, host_key)
    zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": uploaded.id, "enabled": True}])
    identity = zone.active_client_identity(HOSTNAME)
    assert identity is not None
    assert identity.certificate_pem == host_cert
    assert identity.ca_pem == host_cert  # self-signed: its own pull CA
    other = zone.active_client_identity("www.example.test")
    assert other is not None
    assert other.certificate_pem == zone_cert
    zone.set_zone_aop_enabled(False)
    assert zone.active_client_identity("www.example.test") == zone.global_aop
    zone.set_setting("tls_client_auth", "off")
    assert zone.active_client_identity("www.example.test") is None


def test_a_disabled_hostname_association_sends_no_certificate(instant_zone: ZoneState) -> None:
    zone = instant_zone
    zone.set_setting("tls_client_auth", "on")
    cert, key = self_signed_client()
    uploaded = zone.upload_hostname_certificate(cert, key)
    zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": uploaded.id, "enabled": False}])
    assert zone.active_client_identity(HOSTNAME) is None
    assert zone.active_client_identity("www.example.test") == zone.global_aop


def test_an_initializing_certificate_is_not_presented_yet(zone: ZoneState) -> None:
    zone.set_setting("tls_client_auth", "on")
    zone.set_zone_aop_enabled(True)
    cert, key = self_signed_client()
    zone.upload_zone_certificate(cert, key)
    assert zone.active_client_identity(HOSTNAME) == zone.global_aop
    assert wait_until(lambda: zone.active_client_identity(HOSTNAME) != zone.global_aop)


def test_pull_ca_pem_per_level(instant_zone: ZoneState, tmp_path: Any) -> None:
    zone = instant_zone
    pki = TestPki(tmp_path)
    assert zone.pull_ca_pem(AopMode.GLOBAL) == zone.global_aop.ca_pem
    assert zone.pull_ca_pem(AopMode.OFF) is None
    assert zone.pull_ca_pem(AopMode.ZONE) is None
    issued = pki.client("zone edge")
    zone.upload_zone_certificate(issued.cert_pem, issued.key_pem)
    assert zone.pull_ca_pem(AopMode.ZONE) is None  # issuer not in the upload: unknown
    zone.upload_zone_certificate(issued.cert_pem + pki.client_ca.cert_pem, issued.key_pem)
    assert zone.pull_ca_pem(AopMode.ZONE) == pki.client_ca.cert_pem
    cert, key = self_signed_client()
    uploaded = zone.upload_hostname_certificate(cert, key)
    assert zone.pull_ca_pem(AopMode.HOSTNAME) is None
    zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": uploaded.id, "enabled": True}])
    assert zone.pull_ca_pem(AopMode.HOSTNAME, hostname=HOSTNAME) == cert
    assert zone.pull_ca_pem(AopMode.HOSTNAME, hostname="www.example.test") is None


def test_the_global_identity_is_issued_by_its_ca_and_hides_its_key(zone: ZoneState) -> None:
    leaf = x509.load_pem_x509_certificate(zone.global_aop.certificate_pem.encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(zone.global_aop.ca_pem.encode()))
    assert "PRIVATE KEY" not in repr(zone.global_aop)


def test_wait_for_change_wakes_on_an_api_change(client: httpx.Client, zone: ZoneState) -> None:
    version = zone.version
    assert zone.wait_for_change(version, 0.05) == version  # nothing changed: times out with the same version
    timer = threading.Timer(0.1, lambda: client.patch(f"{SETTINGS}/ssl", json={"value": "strict"}))
    timer.start()
    try:
        assert zone.wait_for_change(version, 10) > version
    finally:
        timer.join()
    assert zone.get_setting("ssl") == "strict"


def test_settings_hands_out_copies(zone: ZoneState) -> None:
    zone.settings()["security_header"]["strict_transport_security"]["enabled"] = True
    assert zone.get_setting("security_header")["strict_transport_security"]["enabled"] is False


def test_an_oversized_body_is_refused_unread(client: httpx.Client, zone: ZoneState) -> None:
    response = client.patch(f"{SETTINGS}/ssl", json={"value": "strict", "padding": "x" * (2 << 20)})
    assert response.status_code == 413
    assert error_codes(response) == [1007]
    assert zone.get_setting("ssl") == "flexible"


def test_the_emulator_also_serves_on_ipv6_loopback(zone: ZoneState) -> None:
    try:
        server = ApiServer(zone, host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert server.url.startswith("http://[::1]:")
        response = httpx.get(f"{server.url}{SETTINGS}/ssl", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok_result(response)["value"] == "flexible"
    finally:
        server.stop()
