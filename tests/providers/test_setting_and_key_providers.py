"""The ``ssl_automatic_mode`` pin against the sandbox's API, and the key-material providers (origin key + CSR, AOP
client CA + certificate) checked with ``cryptography`` and the sandbox's Origin CA."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.output import Unknown

from origin_tls import certs
from origin_tls.errors import AuthenticationError
from origin_tls.providers._common import MissingCredentials
from origin_tls.providers.keys import OriginKeyProvider, OriginPullCaProvider, OriginPullCertificateProvider
from origin_tls.providers.zone_setting import ZoneSettingPinProvider
from origin_tls.sandbox.runner import Sandbox
from tests.providers.conftest import configured

HOSTS = ["app.sandbox.test", "*.sandbox.test"]


def _pin_props(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    props = {"zone_id": sandbox.zone_id, "setting_id": "ssl_automatic_mode", "value": "custom", "api_url": None}
    props.update(overrides)
    return props


def _live(sandbox: Sandbox, setting: str) -> Any:
    with sandbox.client() as client:
        return client.get_setting(sandbox.zone_id, setting)


# -- ZoneSettingPin ---------------------------------------------------------------------------------------------


def test_pin_sets_the_value_and_refresh_sees_drift(sandbox: Sandbox) -> None:
    provider = configured(ZoneSettingPinProvider(), sandbox)
    assert _live(sandbox, "ssl_automatic_mode") == "auto"
    created = provider.create(_pin_props(sandbox))
    assert created.id == f"{sandbox.zone_id}/ssl_automatic_mode"
    assert created.outs["value"] == "custom"
    assert _live(sandbox, "ssl_automatic_mode") == "custom"

    # Refresh on an untouched zone: nothing to change.
    refreshed = provider.read(created.id, created.outs)
    assert provider.diff(created.id, refreshed.outs, _pin_props(sandbox)).changes is False

    # Someone turns Automatic SSL/TLS back on: refresh reports it, the next diff is a change, update restores it.
    with sandbox.client() as client:
        client.edit_setting(sandbox.zone_id, "ssl_automatic_mode", "auto")
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["value"] == "auto"
    diff = provider.diff(created.id, refreshed.outs, _pin_props(sandbox))
    assert diff.changes is True
    assert diff.replaces == []
    assert provider.update(created.id, refreshed.outs, _pin_props(sandbox)).outs["value"] == "custom"
    assert _live(sandbox, "ssl_automatic_mode") == "custom"


def test_pin_replaces_on_another_zone_or_setting(sandbox: Sandbox) -> None:
    provider = configured(ZoneSettingPinProvider(), sandbox)
    olds = {**_pin_props(sandbox), "__provider": "a"}
    assert provider.diff("id", olds, {**olds, "__provider": "b"}).changes is False
    other = provider.diff("id", olds, _pin_props(sandbox, zone_id="f" * 32))
    assert other.changes is True
    assert other.replaces == ["zone_id"]


def test_pin_delete_leaves_the_zone_as_it_is(sandbox: Sandbox) -> None:
    provider = configured(ZoneSettingPinProvider(), sandbox)
    created = provider.create(_pin_props(sandbox))
    provider.delete(created.id, created.outs)
    assert _live(sandbox, "ssl_automatic_mode") == "custom"


def test_pin_check_refuses_bad_fields_and_skips_unknowns(sandbox: Sandbox) -> None:
    provider = ZoneSettingPinProvider()
    bad = provider.check({}, _pin_props(sandbox, zone_id="zone", setting_id="SSL mode", value=""))
    assert {f.property for f in bad.failures} == {"zone_id", "setting_id", "value"}
    assert provider.check({}, _pin_props(sandbox, zone_id=Unknown())).failures == []


def test_pin_without_credentials_or_with_a_wrong_token_fails_clearly(sandbox: Sandbox) -> None:
    with pytest.raises(MissingCredentials, match=r"cloudflare:apiToken"):
        ZoneSettingPinProvider().create(_pin_props(sandbox, api_url=sandbox.info.api_url))
    wrong = ZoneSettingPinProvider()
    wrong.configure(ConfigureRequest(Config({"origin-tls:apiToken": "not-the-token"}, "origin-tls")))
    with pytest.raises(AuthenticationError):
        wrong.create(_pin_props(sandbox, api_url=sandbox.info.api_url))
    assert _live(sandbox, "ssl_automatic_mode") == "auto"


# -- OriginKey ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "key_class"), [("ecdsa-p256", ec.EllipticCurvePrivateKey), ("rsa-2048", rsa.RSAPrivateKey)]
)
def test_origin_key_csr_is_signed_by_the_sandbox_origin_ca(sandbox: Sandbox, key_type: str, key_class: type) -> None:
    outs = OriginKeyProvider().create({"key_type": key_type, "hostnames": HOSTS, "rotation": ""}).outs
    key = serialization.load_pem_private_key(outs["private_key_pem"].encode(), password=None)
    assert isinstance(key, key_class)
    assert certs.csr_hostnames(outs["csr_pem"]) == tuple(HOSTS)
    assert outs["request_type"] == ("origin-ecc" if key_type == "ecdsa-p256" else "origin-rsa")
    with sandbox.client() as client:
        issued = client.create_origin_certificate(
            csr_pem=outs["csr_pem"], hostnames=HOSTS, request_type=outs["request_type"], requested_validity=5475
        )
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    assert certs.spki_sha256(cert.public_key()) == certs.spki_sha256(key.public_key())
    assert outs["public_key_sha256"] == certs.spki_sha256(key.public_key())


def test_origin_key_is_made_once_and_replaced_only_by_its_triggers() -> None:
    provider = OriginKeyProvider()
    olds = provider.create({"key_type": "ecdsa-p256", "hostnames": HOSTS, "rotation": ""}).outs
    olds["__provider"] = "old"
    same = {"key_type": "ecdsa-p256", "hostnames": HOSTS, "rotation": "", "__provider": "new"}
    assert provider.diff("id", olds, same).changes is False
    assert provider.read("id", olds).outs["private_key_pem"] == olds["private_key_pem"]
    for field, value in (("key_type", "rsa-2048"), ("hostnames", ["app.sandbox.test"]), ("rotation", "2027")):
        diff = provider.diff("id", olds, {**same, field: value})
        assert diff.changes is True
        assert diff.replaces == [field]
    assert provider.diff("id", olds, {**same, "hostnames": Unknown()}).replaces == ["hostnames"]
    second = provider.create({"key_type": "ecdsa-p256", "hostnames": HOSTS, "rotation": ""}).outs
    assert second["private_key_pem"] != olds["private_key_pem"]


def test_origin_key_check_refuses_bad_fields() -> None:
    result = OriginKeyProvider().check({}, {"key_type": "dsa", "hostnames": ["bad host"], "rotation": 5.0})
    assert {f.property for f in result.failures} == {"key_type", "hostnames", "rotation"}
    assert OriginKeyProvider().check({}, {"key_type": "rsa-2048", "hostnames": HOSTS}).failures == []


# -- OriginPullCa + OriginPullCertificate ---------------------------------------------------------------------


def _ca(**overrides: Any) -> dict[str, Any]:
    outs: dict[str, Any] = OriginPullCaProvider().create({"common_name": "web origin pulls", **overrides}).outs
    return outs


def _leaf(ca: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    props = {
        "ca_certificate_pem": ca["certificate_pem"],
        "ca_private_key_pem": ca["private_key_pem"],
        "common_name": "web origin pulls",
        **overrides,
    }
    outs: dict[str, Any] = OriginPullCertificateProvider().create(props).outs
    return outs


def _verify_issued(ca_pem: str, leaf_pem: str) -> None:
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    assert leaf.issuer == ca.subject
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))


def test_pull_certificate_is_issued_by_the_ca_it_was_given() -> None:
    ca = _ca()
    outs = _leaf(ca, valid_days=730.0)
    _verify_issued(ca["certificate_pem"], outs["certificate_pem"])
    key = serialization.load_pem_private_key(outs["private_key_pem"].encode(), password=None)
    leaf = x509.load_pem_x509_certificate(outs["certificate_pem"].encode())
    assert certs.spki_sha256(key.public_key()) == certs.spki_sha256(leaf.public_key())
    # The CA key is an input (secret in state) and never echoed: the only key in the outputs is the client's.
    assert sum("PRIVATE KEY" in str(v) for v in outs.values()) == 1
    assert outs["valid_days"] == 730
    # A second certificate under the same CA verifies too: renewal does not need the origin to trust anything new.
    _verify_issued(ca["certificate_pem"], _leaf(ca)["certificate_pem"])


def test_pull_certificate_from_another_ca_does_not_verify() -> None:
    """Twin: a certificate issued by a second CA is not signed by the first."""
    first, second = _ca(), _ca()
    with pytest.raises(InvalidSignature):
        _verify_issued(first["certificate_pem"], _leaf(second)["certificate_pem"])


def test_pull_certificate_is_replaced_when_its_ca_changes() -> None:
    provider = OriginPullCertificateProvider()
    ca = _ca()
    olds = _leaf(ca)
    same = {"ca_certificate_pem": ca["certificate_pem"], "ca_private_key_pem": ca["private_key_pem"]}
    same.update(common_name="web origin pulls")
    assert provider.diff("id", olds, same).changes is False
    other = _ca()
    assert provider.diff("id", olds, {**same, "ca_certificate_pem": other["certificate_pem"]}).replaces == [
        "ca_certificate_pem"
    ]
    bad = provider.check({}, {"common_name": "", "valid_days": 0, "key_type": "dsa", "ca_certificate_pem": "x"})
    assert {f.property for f in bad.failures} == {
        "common_name",
        "valid_days",
        "key_type",
        "ca_certificate_pem",
        "ca_private_key_pem",
    }


def test_ca_rotation_is_an_update_that_keeps_the_previous_ca_in_the_bundle() -> None:
    provider = OriginPullCaProvider()
    olds = _ca(rotation="")
    inputs = {"common_name": "web origin pulls", "rotation": ""}
    assert olds["trust_bundle_pem"] == olds["certificate_pem"]
    assert provider.diff("id", olds, inputs).changes is False
    diff = provider.diff("id", olds, {**inputs, "rotation": "2027"})
    assert (diff.changes, diff.replaces) == (True, []), "a rotation must not replace: the old CA stays published"
    news = provider.update("id", olds, {**inputs, "rotation": "2027"}).outs
    assert news is not None
    assert news["certificate_pem"] != olds["certificate_pem"]
    assert news["previous_certificate_pem"] == olds["certificate_pem"]
    assert news["trust_bundle_pem"] == news["certificate_pem"] + olds["certificate_pem"]
    # The previous CA's key is gone: only the new CA's key is in state.
    assert olds["private_key_pem"] not in str(news)
    # The next rotation drops the oldest CA.
    third = provider.update("id", news, {**inputs, "rotation": "2028"}).outs
    assert third is not None
    assert olds["certificate_pem"] not in third["trust_bundle_pem"]
    assert news["certificate_pem"] in third["trust_bundle_pem"]


def test_also_trusted_cas_join_the_bundle_in_place() -> None:
    """Adopting the component's CA after another one: the old CA stays published until the team drops it."""
    provider = OriginPullCaProvider()
    legacy = _ca()["certificate_pem"]
    olds = _ca()
    inputs = {"common_name": "web origin pulls", "rotation": ""}
    diff = provider.diff("id", olds, {**inputs, "also_trust_pem": legacy})
    assert (diff.changes, diff.replaces) == (True, [])
    news = provider.update("id", olds, {**inputs, "also_trust_pem": legacy}).outs
    assert news is not None
    assert news["certificate_pem"] == olds["certificate_pem"], "publishing another CA is not a rotation"
    assert news["trust_bundle_pem"] == olds["certificate_pem"] + legacy
    bad = provider.check({}, {**inputs, "also_trust_pem": "not a pem"})
    assert [f.property for f in bad.failures] == ["also_trust_pem"]
