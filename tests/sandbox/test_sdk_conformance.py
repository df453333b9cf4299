"""Conformance against a client no one here wrote: the official Cloudflare Python SDK, pointed at the emulator.

The SDK parses answers into typed models generated from Cloudflare's OpenAPI schema; every test asserts on those
typed attributes (a wrong shape shows up as a missing attribute, a wrong type or the wrong model), and errors as the
SDK's typed exceptions with Cloudflare's error codes.
The SDK (``cloudflare`` 5.x) is a test-only dependency; without it these tests fail to import, on purpose.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import cloudflare
import pytest
from cloudflare import Cloudflare
from cloudflare.types.origin_ca_certificates import OriginCACertificate
from cloudflare.types.origin_tls_client_auth import AuthenticatedOriginPull
from cloudflare.types.origin_tls_compliance_modes import (
    OriginTLSComplianceModeDeleteResponse,
    OriginTLSComplianceModeEditResponse,
    OriginTLSComplianceModeGetResponse,
    OriginTLSComplianceModeUpdateResponse,
)
from cloudflare.types.ssl import AutoOriginTLSKexEditResponse, AutoOriginTLSKexGetResponse
from cloudflare.types.zones import SecurityHeaders
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from origin_tls.sandbox import ApiServer, ZoneState
from tests.sandbox.test_api import (
    HOSTNAME,
    TOKEN,
    ZONE_ID,
    ZONE_NAME,
    csr_pem,
    ec_key,
    self_signed_client,
    wait_until,
)


@pytest.fixture
def zone() -> ZoneState:
    return ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME], account_token=TOKEN, activation_delay=0.1)


@pytest.fixture
def api(zone: ZoneState) -> Iterator[ApiServer]:
    with ApiServer(zone) as server:
        yield server


@pytest.fixture
def sdk(api: ApiServer) -> Iterator[Cloudflare]:
    # max_retries=0: a refusal must reach the test as the SDK's exception, not be retried away.
    client = Cloudflare(api_token=TOKEN, base_url=api.url, max_retries=0, timeout=10)
    try:
        yield client
    finally:
        client.close()


# -- zone settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting_id", "model", "value"),
    [
        ("ssl", "ZonesSSL2", "strict"),
        ("min_tls_version", "MinTLSVersion", "1.2"),
        ("tls_1_3", "TLS1_3", "zrt"),
        ("always_use_https", "ZonesAlwaysUseHTTPS2", "on"),
        ("automatic_https_rewrites", "ZonesAutomaticHTTPSRewrites2", "off"),
        ("tls_client_auth", "TLSClientAuth", "on"),
    ],
)
def test_the_sdk_reads_and_edits_each_setting_into_its_typed_model(
    sdk: Cloudflare, zone: ZoneState, setting_id: str, model: str, value: str
) -> None:
    # The SDK's get and edit unions hold distinct classes of the same name (setting_get_response/_edit_response):
    # the class name is what says the answer was recognised as this setting's model.
    before = sdk.zones.settings.get(setting_id=setting_id, zone_id=ZONE_ID)
    assert type(before).__name__ == model
    assert before.id == setting_id
    assert before.value == zone.get_setting(setting_id) != value
    assert before.editable is True
    assert before.modified_on is None
    edited = sdk.zones.settings.edit(setting_id=setting_id, zone_id=ZONE_ID, value=value)
    assert type(edited).__name__ == model
    assert edited.value == value
    assert isinstance(edited.modified_on, dt.datetime)
    assert edited.modified_on.tzinfo is not None
    assert zone.get_setting(setting_id) == value


def test_the_sdk_edits_hsts_with_the_nested_snake_case_value(sdk: Cloudflare, zone: ZoneState) -> None:
    hsts = {"enabled": True, "max_age": 31536000, "include_subdomains": True, "preload": False, "nosniff": True}
    edited = sdk.zones.settings.edit(
        setting_id="security_header", zone_id=ZONE_ID, value={"strict_transport_security": hsts}
    )
    assert isinstance(edited, SecurityHeaders)
    assert edited.value.strict_transport_security is not None
    assert edited.value.strict_transport_security.enabled is True
    assert edited.value.strict_transport_security.max_age == 31536000
    assert edited.value.strict_transport_security.include_subdomains is True
    read = sdk.zones.settings.get(setting_id="security_header", zone_id=ZONE_ID)
    assert isinstance(read, SecurityHeaders)
    assert read.value.strict_transport_security is not None
    assert read.value.strict_transport_security.nosniff is True
    assert zone.settings()["security_header"] == {"strict_transport_security": hsts}


def test_the_sdk_reads_automatic_ssl_tls_mode(sdk: Cloudflare) -> None:
    # The SDK has no model of its own for ssl_automatic_mode (newer than its schema): its union parses the answer
    # into a generic id/value setting model, which must still carry the id and value.
    auto = sdk.zones.settings.get(setting_id="ssl_automatic_mode", zone_id=ZONE_ID)
    assert auto is not None
    assert (auto.id, auto.value) == ("ssl_automatic_mode", "auto")
    custom = sdk.zones.settings.edit(setting_id="ssl_automatic_mode", zone_id=ZONE_ID, value="custom")
    assert custom is not None
    assert custom.value == "custom"


@pytest.mark.parametrize(
    ("setting_id", "value"),
    [
        ("ssl", "Full (strict)"),
        ("min_tls_version", "1.4"),
        ("security_header", {"strictTransportSecurity": {"enabled": True, "maxAge": 31536000}}),
    ],
)
def test_the_sdk_sees_an_invalid_value_as_bad_request_1007(
    sdk: Cloudflare, zone: ZoneState, setting_id: str, value: Any
) -> None:
    before = zone.get_setting(setting_id)
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.zones.settings.edit(setting_id=setting_id, zone_id=ZONE_ID, value=value)
    assert caught.value.status_code == 400
    assert [error.code for error in caught.value.errors] == [1007]
    assert zone.get_setting(setting_id) == before


def test_the_sdk_sees_a_wrong_token_as_permission_denied(api: ApiServer) -> None:
    wrong = Cloudflare(api_token="not-the-token", base_url=api.url, max_retries=0)
    with wrong, pytest.raises(cloudflare.PermissionDeniedError) as caught:
        wrong.zones.settings.get(setting_id="ssl", zone_id=ZONE_ID)
    assert [error.code for error in caught.value.errors] == [10000]


def test_the_sdk_sees_an_unknown_zone_as_not_found(sdk: Cloudflare) -> None:
    with pytest.raises(cloudflare.NotFoundError):
        sdk.zones.settings.get(setting_id="ssl", zone_id="f" * 32)


def test_the_sdk_retries_an_injected_429_after_retry_after(api: ApiServer) -> None:
    api.faults.queue(status=429, retry_after=0.2)
    with Cloudflare(api_token=TOKEN, base_url=api.url, max_retries=1) as retrying:
        setting = retrying.zones.settings.get(setting_id="ssl", zone_id=ZONE_ID)
    assert type(setting).__name__ == "ZonesSSL2"
    assert [record.status for record in api.requests] == [429, 200]


def test_without_retries_the_sdk_surfaces_the_injected_429(sdk: Cloudflare, api: ApiServer) -> None:
    api.faults.queue(status=429, retry_after=0.2)
    with pytest.raises(cloudflare.RateLimitError) as caught:
        sdk.zones.settings.get(setting_id="ssl", zone_id=ZONE_ID)
    assert caught.value.response.headers["Retry-After"] == "0.2"


# -- origin key exchange (reference/cloudflare.md section 6) --------------------------------------------------------


def test_the_sdk_reads_and_switches_automatic_origin_key_exchange(sdk: Cloudflare, zone: ZoneState) -> None:
    # The SDK's models require modified_on even for a setting never changed: the sandbox dates it at zone creation.
    read = sdk.ssl.auto_origin_tls_kex.get(zone_id=ZONE_ID)
    assert isinstance(read, AutoOriginTLSKexGetResponse)
    assert (read.id, read.enabled) == ("auto_origin_tls_kex", True)
    assert read.modified_on.tzinfo is not None
    edited = sdk.ssl.auto_origin_tls_kex.edit(zone_id=ZONE_ID, enabled=False)
    assert isinstance(edited, AutoOriginTLSKexEditResponse)
    assert edited.enabled is False
    assert edited.modified_on >= read.modified_on
    assert zone.origin_key_exchange()[0] is False


def test_the_sdk_sees_a_value_body_for_automatic_key_exchange_refused(sdk: Cloudflare, zone: ZoneState) -> None:
    # The shape every other setting takes ({"value": ...}) is refused here: the value lives under "enabled".
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.ssl.auto_origin_tls_kex.edit(zone_id=ZONE_ID, enabled=False, extra_body={"enabled": None, "value": "off"})
    assert [error.code for error in caught.value.errors] == [1007]
    assert zone.origin_key_exchange()[0] is True


def test_the_sdk_puts_patches_reads_and_deletes_compliance_modes(sdk: Cloudflare, zone: ZoneState) -> None:
    fresh = sdk.origin_tls_compliance_modes.get(zone_id=ZONE_ID)
    assert isinstance(fresh, OriginTLSComplianceModeGetResponse)
    assert (fresh.id, fresh.value, fresh.editable, fresh.modified_on) == ("origin_tls_compliance_modes", [], True, None)
    put = sdk.origin_tls_compliance_modes.update(zone_id=ZONE_ID, value=["pqh"])
    assert isinstance(put, OriginTLSComplianceModeUpdateResponse)
    assert put.value == ["pqh"]
    assert isinstance(put.modified_on, dt.datetime)
    patched = sdk.origin_tls_compliance_modes.edit(zone_id=ZONE_ID, value=["fips", "pqh"])
    assert isinstance(patched, OriginTLSComplianceModeEditResponse)
    assert patched.value == ["fips", "pqh"]
    assert zone.origin_key_exchange()[1] == ("fips", "pqh")
    deleted = sdk.origin_tls_compliance_modes.delete(zone_id=ZONE_ID)
    assert isinstance(deleted, OriginTLSComplianceModeDeleteResponse)
    assert deleted.id == "origin_tls_compliance_modes"
    read = sdk.origin_tls_compliance_modes.get(zone_id=ZONE_ID)
    assert read is not None
    assert read.value == []


def test_the_sdk_sees_an_unknown_compliance_mode_as_bad_request(sdk: Cloudflare, zone: ZoneState) -> None:
    sdk.origin_tls_compliance_modes.update(zone_id=ZONE_ID, value=["pqh"])
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.origin_tls_compliance_modes.update(zone_id=ZONE_ID, value=["cnsa2"])
    assert caught.value.status_code == 400
    assert [error.code for error in caught.value.errors] == [1007]
    assert zone.origin_key_exchange()[1] == ("pqh",)


# -- Origin CA ------------------------------------------------------------------------------------------------------


def test_the_sdk_creates_lists_gets_and_revokes_an_origin_certificate(sdk: Cloudflare) -> None:
    created = sdk.origin_ca_certificates.create(
        csr=csr_pem(ec_key(), HOSTNAME),
        hostnames=[HOSTNAME, f"*.{ZONE_NAME}"],
        request_type="origin-ecc",
        requested_validity=365,
    )
    assert isinstance(created, OriginCACertificate)
    assert created.id is not None
    assert created.id.isdigit()
    assert created.certificate is not None
    assert created.certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert created.hostnames == [HOSTNAME, f"*.{ZONE_NAME}"]
    assert created.request_type == "origin-ecc"
    assert created.requested_validity == 365
    assert created.csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    # expires_on is typed str in the SDK: Cloudflare's Go-format timestamp passes through untouched.
    assert isinstance(created.expires_on, str)
    assert created.expires_on.endswith("+0000 UTC")

    listed = list(sdk.origin_ca_certificates.list(zone_id=ZONE_ID))
    assert [type(item) for item in listed] == [OriginCACertificate]
    assert listed[0].id == created.id

    fetched = sdk.origin_ca_certificates.get(created.id)
    assert isinstance(fetched, OriginCACertificate)
    assert fetched.certificate == created.certificate
    assert fetched.expires_on == created.expires_on
    assert fetched.csr is None  # GET does not echo the CSR (TF#5392); the SDK tolerates its absence

    revoked = sdk.origin_ca_certificates.delete(created.id)
    assert revoked is not None
    assert revoked.id == created.id
    assert isinstance(revoked.revoked_at, dt.datetime)
    with pytest.raises(cloudflare.NotFoundError) as caught:
        sdk.origin_ca_certificates.get(created.id)
    assert [error.code for error in caught.value.errors] == [1101]
    assert list(sdk.origin_ca_certificates.list(zone_id=ZONE_ID)) == []


def test_the_sdk_origin_ca_create_signs_rsa_with_the_default_validity(sdk: Cloudflare) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    created = sdk.origin_ca_certificates.create(
        csr=csr_pem(key, HOSTNAME), hostnames=[HOSTNAME], request_type="origin-rsa"
    )
    assert isinstance(created, OriginCACertificate)
    assert created.requested_validity == 5475


@pytest.mark.parametrize(
    "overrides",
    [{"hostnames": ["app.other.test"]}, {"requested_validity": 42}, {"request_type": "origin-rsa"}],
)
def test_the_sdk_sees_a_refused_certificate_request_as_bad_request(sdk: Cloudflare, overrides: dict[str, Any]) -> None:
    params: dict[str, Any] = {
        "csr": csr_pem(ec_key(), HOSTNAME),
        "hostnames": [HOSTNAME],
        "request_type": "origin-ecc",
        "requested_validity": 90,
        **overrides,
    }
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.origin_ca_certificates.create(**params)
    assert [error.code for error in caught.value.errors] == [1007]


def test_the_sdk_lists_origin_certificates_only_for_this_zone(sdk: Cloudflare) -> None:
    # The SDK makes zone_id a required argument of list(): the real API refuses a list without it (1012), as the
    # emulator does (test_api). Another zone's id is not this account's zone.
    with pytest.raises(cloudflare.NotFoundError) as caught:
        list(sdk.origin_ca_certificates.list(zone_id="f" * 32))
    assert [error.code for error in caught.value.errors] == [1001]
    assert list(sdk.origin_ca_certificates.list(zone_id=ZONE_ID)) == []


# -- Authenticated Origin Pulls --------------------------------------------------------------------------------------


def test_the_sdk_drives_zone_level_aop(sdk: Cloudflare, zone: ZoneState) -> None:
    cert, key = self_signed_client("zone edge")
    uploaded = sdk.origin_tls_client_auth.zone_certificates.create(zone_id=ZONE_ID, certificate=cert, private_key=key)
    assert uploaded is not None
    assert uploaded.status == "initializing"
    assert isinstance(uploaded.uploaded_on, dt.datetime)
    assert isinstance(uploaded.expires_on, dt.datetime)
    assert uploaded.private_key is None
    assert uploaded.id is not None
    cert_id = uploaded.id

    def status() -> str | None:
        got = sdk.origin_tls_client_auth.zone_certificates.get(cert_id, zone_id=ZONE_ID)
        return got.status if got is not None else None

    assert wait_until(lambda: status() == "active")
    listed = list(sdk.origin_tls_client_auth.zone_certificates.list(zone_id=ZONE_ID))
    assert [item.id for item in listed] == [cert_id]
    assert listed[0].issuer == "CN=zone edge"

    setting = sdk.origin_tls_client_auth.settings.get(zone_id=ZONE_ID)
    assert setting is not None
    assert setting.enabled is False
    enabled = sdk.origin_tls_client_auth.settings.update(zone_id=ZONE_ID, enabled=True)
    assert enabled is not None
    assert enabled.enabled is True
    identity = zone.active_client_identity(HOSTNAME)
    assert identity is not None
    assert identity.certificate_pem == cert

    deleted = sdk.origin_tls_client_auth.zone_certificates.delete(cert_id, zone_id=ZONE_ID)
    assert deleted is not None
    assert deleted.status == "pending_deletion"
    assert zone.active_client_identity(HOSTNAME) is None


def test_the_sdk_sees_a_mismatched_client_key_as_bad_request(sdk: Cloudflare) -> None:
    cert, _ = self_signed_client()
    _, other_key = self_signed_client()
    with pytest.raises(cloudflare.BadRequestError) as caught:
        sdk.origin_tls_client_auth.zone_certificates.create(zone_id=ZONE_ID, certificate=cert, private_key=other_key)
    assert [error.code for error in caught.value.errors] == [1007]


def test_the_sdk_drives_per_hostname_aop(sdk: Cloudflare, zone: ZoneState) -> None:
    cert, key = self_signed_client("hostname edge")
    uploaded = sdk.origin_tls_client_auth.hostname_certificates.create(
        zone_id=ZONE_ID, certificate=cert, private_key=key
    )
    assert uploaded is not None
    assert uploaded.id is not None
    assert uploaded.serial_number is not None
    assert uploaded.status == "initializing"
    cert_id = uploaded.id
    listed = list(sdk.origin_tls_client_auth.hostname_certificates.list(zone_id=ZONE_ID))
    assert [item.id for item in listed] == [cert_id]

    page = sdk.origin_tls_client_auth.hostnames.update(
        zone_id=ZONE_ID, config=[{"hostname": HOSTNAME, "cert_id": cert_id, "enabled": True}]
    )
    associations = list(page)
    assert [(a.hostname, a.cert_id, a.enabled) for a in associations] == [(HOSTNAME, cert_id, True)]

    def association() -> AuthenticatedOriginPull | None:
        return sdk.origin_tls_client_auth.hostnames.get(HOSTNAME, zone_id=ZONE_ID)

    assert wait_until(lambda: (got := association()) is not None and got.cert_status == "active")
    status = association()
    assert isinstance(status, AuthenticatedOriginPull)
    assert status.enabled is True
    assert status.serial_number == uploaded.serial_number
    assert isinstance(status.expires_on, dt.datetime)
    assert isinstance(status.created_at, dt.datetime)
    identity = zone.active_client_identity(HOSTNAME)
    assert identity is not None
    assert identity.certificate_pem == cert

    # enabled: null voids the association; the hostname then has no per-hostname status.
    sdk.origin_tls_client_auth.hostnames.update(
        zone_id=ZONE_ID, config=[{"hostname": HOSTNAME, "cert_id": cert_id, "enabled": None}]
    )
    with pytest.raises(cloudflare.NotFoundError):
        association()
    started = time.monotonic()
    deleted = sdk.origin_tls_client_auth.hostname_certificates.delete(cert_id, zone_id=ZONE_ID)
    assert deleted is not None
    assert deleted.status == "pending_deletion"
    assert time.monotonic() - started < 10


def test_the_sdk_sees_a_foreign_hostname_association_as_bad_request(sdk: Cloudflare) -> None:
    cert, key = self_signed_client()
    uploaded = sdk.origin_tls_client_auth.hostname_certificates.create(
        zone_id=ZONE_ID, certificate=cert, private_key=key
    )
    assert uploaded is not None
    with pytest.raises(cloudflare.BadRequestError):
        sdk.origin_tls_client_auth.hostnames.update(
            zone_id=ZONE_ID, config=[{"hostname": "app.other.test", "cert_id": str(uploaded.id), "enabled": True}]
        )


def test_the_sdk_reads_status_and_expiry_from_every_aop_listing(sdk: Cloudflare, zone: ZoneState) -> None:
    # zone.aop_certificate reads these fields (status, expires_on, uploaded_on, certificate): each must parse into
    # the SDK's typed models from the official schema, on the list, the get and the hostname association alike.
    zone_cert, zone_key = self_signed_client("zone edge")
    host_cert, host_key = self_signed_client("hostname edge")
    uploaded = sdk.origin_tls_client_auth.zone_certificates.create(
        zone_id=ZONE_ID, certificate=zone_cert, private_key=zone_key
    )
    assert uploaded is not None
    host = sdk.origin_tls_client_auth.hostname_certificates.create(
        zone_id=ZONE_ID, certificate=host_cert, private_key=host_key
    )
    assert host is not None
    sdk.origin_tls_client_auth.hostnames.update(
        zone_id=ZONE_ID, config=[{"hostname": HOSTNAME, "cert_id": str(host.id), "enabled": True}]
    )
    sdk.origin_tls_client_auth.settings.update(zone_id=ZONE_ID, enabled=True)
    assert wait_until(
        lambda: all(c.status == "active" for c in sdk.origin_tls_client_auth.zone_certificates.list(zone_id=ZONE_ID))
    )

    listed = list(sdk.origin_tls_client_auth.zone_certificates.list(zone_id=ZONE_ID))
    assert len(listed) == 1
    item = listed[0]
    assert item.status == "active"
    assert item.enabled is True
    assert item.certificate == zone_cert
    assert isinstance(item.expires_on, dt.datetime)
    assert isinstance(item.uploaded_on, dt.datetime)
    assert item.expires_on.tzinfo is not None
    assert item.private_key is None

    hostname_certs = list(sdk.origin_tls_client_auth.hostname_certificates.list(zone_id=ZONE_ID))
    assert [c.status for c in hostname_certs] == ["active"]
    assert isinstance(hostname_certs[0].expires_on, dt.datetime)
    assert isinstance(hostname_certs[0].uploaded_on, dt.datetime)

    association = sdk.origin_tls_client_auth.hostnames.get(HOSTNAME, zone_id=ZONE_ID)
    assert isinstance(association, AuthenticatedOriginPull)
    assert (association.status, association.cert_status) == ("active", "active")
    assert association.cert_id == host.id
    assert association.certificate == host_cert
    assert isinstance(association.expires_on, dt.datetime)
    # The expiry the API states is the certificate's own notAfter.
    leaf = x509.load_pem_x509_certificate(host_cert.encode())
    assert association.expires_on == leaf.not_valid_after_utc

    # And a deleted zone certificate is listed as pending_deletion, never as active.
    sdk.origin_tls_client_auth.zone_certificates.delete(str(uploaded.id), zone_id=ZONE_ID)
    statuses = [c.status for c in sdk.origin_tls_client_auth.zone_certificates.list(zone_id=ZONE_ID)]
    assert statuses in (["pending_deletion"], [])
