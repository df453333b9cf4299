"""Renewal before expiry: at 29 days left (``renew_before_days`` = 30) ``diff`` replaces the origin key (hence its
certificate) and the AOP client certificate; at 31 days left it does not.

Twice: the providers' ``diff`` with a fake clock (``renewal.clock``), and the SDK's own provider server as the engine
drives it (``replaces`` in the ``DiffResponse``). The server runs in another process, where the test cannot move
the clock; it moves the *state* instead, which is what time does to it: the old outputs say the material was made
``lifetime - N`` days ago.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.proto import provider_pb2

from origin_tls.providers import renewal
from origin_tls.providers.keys import (
    RENEWAL_KEY,
    OriginKeyProvider,
    OriginPullCaProvider,
    OriginPullCertificateProvider,
)
from tests.providers.engine import ProviderServer, serialized_provider

DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME
KEY_URN = "urn:pulumi:dev::origin-tls::pulumi-python:dynamic/origin-tls:OriginKey::web-origin-key"
PULL_URN = "urn:pulumi:dev::origin-tls::pulumi-python:dynamic/origin-tls:OriginPullCertificate::web-pull-certificate"
KEY_INPUTS: dict[str, Any] = {"key_type": "ecdsa-p256", "hostnames": ["app.example.com"], "validity_days": 365}


def _leaf_inputs() -> dict[str, Any]:
    ca = OriginPullCaProvider().create({"common_name": "web origin pulls"}).outs
    assert ca is not None
    return {
        "ca_certificate_pem": ca["certificate_pem"],
        "ca_private_key_pem": ca["private_key_pem"],
        "common_name": "web origin pulls",
        "valid_days": 730,
    }


def _at_days_left(monkeypatch: pytest.MonkeyPatch, outs: dict[str, Any], days_left: float) -> None:
    not_after = renewal.parse_instant(outs["not_after"])
    assert not_after is not None
    moment = not_after - dt.timedelta(days=days_left)
    monkeypatch.setattr(renewal, "clock", lambda: moment)


@pytest.mark.parametrize(("days_left", "replaced"), [(29, True), (31, False), (30.001, False), (0, True)])
def test_origin_key_diff_replaces_in_the_last_30_days(
    monkeypatch: pytest.MonkeyPatch, days_left: float, replaced: bool
) -> None:
    provider = OriginKeyProvider()
    outs = provider.create(dict(KEY_INPUTS)).outs
    assert outs is not None
    _at_days_left(monkeypatch, outs, days_left)
    diff = provider.diff("id", outs, dict(KEY_INPUTS))
    assert (diff.changes, diff.replaces) == ((True, [RENEWAL_KEY]) if replaced else (False, []))


@pytest.mark.parametrize(("days_left", "replaced"), [(29, True), (31, False)])
def test_client_certificate_diff_replaces_in_the_last_30_days(
    monkeypatch: pytest.MonkeyPatch, days_left: int, replaced: bool
) -> None:
    provider = OriginPullCertificateProvider()
    inputs = _leaf_inputs()
    outs = provider.create(dict(inputs)).outs
    assert outs is not None
    _at_days_left(monkeypatch, outs, days_left)
    diff = provider.diff("id", outs, inputs)
    assert diff.replaces == ([RENEWAL_KEY] if replaced else [])


def test_a_wider_window_is_an_update_or_a_replacement_when_it_makes_the_material_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = OriginKeyProvider()
    outs = provider.create(dict(KEY_INPUTS)).outs
    assert outs is not None
    _at_days_left(monkeypatch, outs, 45)
    assert provider.diff("id", outs, {**KEY_INPUTS, "renew_before_days": 40}).replaces == []
    assert provider.diff("id", outs, {**KEY_INPUTS, "renew_before_days": 40}).changes is True
    updated = provider.update("id", outs, {**KEY_INPUTS, "renew_before_days": 40}).outs
    assert updated is not None
    assert updated["private_key_pem"] == outs["private_key_pem"], "a new window keeps the key"
    assert provider.diff("id", outs, {**KEY_INPUTS, "renew_before_days": 60}).replaces == [RENEWAL_KEY]


def test_a_short_lifetime_renews_at_two_thirds_not_on_every_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = OriginKeyProvider()
    inputs = {**KEY_INPUTS, "validity_days": 7}
    outs = provider.create(dict(inputs)).outs
    assert outs is not None
    _at_days_left(monkeypatch, outs, 3)  # 7-day certificate: due from 7/3 = 2.33 days left, not 30
    assert provider.diff("id", outs, inputs).replaces == []
    _at_days_left(monkeypatch, outs, 2)
    assert provider.diff("id", outs, inputs).replaces == [RENEWAL_KEY]


def test_state_without_renewal_fields_is_never_due() -> None:
    """State written before renewal existed does not say when it expires: never replaced by guesswork."""
    provider = OriginKeyProvider()
    outs = provider.create(dict(KEY_INPUTS)).outs
    assert outs is not None
    legacy = {k: v for k, v in outs.items() if k not in ("not_before", "not_after", "renew_at")}
    assert provider.diff("id", legacy, dict(KEY_INPUTS)).replaces == []


def test_renew_before_days_is_checked() -> None:
    failures = OriginKeyProvider().check({}, {**KEY_INPUTS, "renew_before_days": -1}).failures
    assert [(f.property, "renew_before_days must be" in f.reason) for f in failures] == [("renew_before_days", True)]


# -- through the SDK's provider server -----------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ProviderServer]:
    with ProviderServer(log_path=tmp_path / "provider.log") as srv:
        srv.configure({})
        yield srv


def _aged(outs: dict[str, Any], days_left: float) -> dict[str, Any]:
    """The state as it reads ``days_left`` days before its ``not_after``, today."""
    not_before = renewal.parse_instant(outs["not_before"])
    not_after = renewal.parse_instant(outs["not_after"])
    assert not_before is not None
    assert not_after is not None
    shift = not_after - (renewal.utc_now() + dt.timedelta(days=days_left))
    return {
        **outs,
        "not_before": (not_before - shift).isoformat(),
        "not_after": (not_after - shift).isoformat(),
    }


@pytest.mark.parametrize(("days_left", "replaced"), [(29, True), (31, False)])
def test_engine_diff_of_the_origin_key_replaces_at_29_days_not_31(
    server: ProviderServer, days_left: int, replaced: bool
) -> None:
    props = {**KEY_INPUTS, "__provider": serialized_provider(OriginKeyProvider())}
    inputs, failures = server.check(KEY_URN, {}, props)
    assert failures == []
    id_, outs = server.create(KEY_URN, inputs)
    response = server.diff(id_, KEY_URN, _aged(outs, days_left), inputs)
    assert response.changes == (DIFF_SOME if replaced else DIFF_NONE)
    assert list(response.replaces) == ([RENEWAL_KEY] if replaced else [])
    assert response.deleteBeforeReplace is False, "the new certificate must exist before the old one goes"


@pytest.mark.parametrize(("days_left", "replaced"), [(29, True), (31, False)])
def test_engine_diff_of_the_client_certificate_replaces_at_29_days_not_31(
    server: ProviderServer, days_left: int, replaced: bool
) -> None:
    props = {**_leaf_inputs(), "__provider": serialized_provider(OriginPullCertificateProvider())}
    inputs, failures = server.check(PULL_URN, {}, props)
    assert failures == []
    id_, outs = server.create(PULL_URN, inputs)
    response = server.diff(id_, PULL_URN, _aged(outs, days_left), inputs)
    assert list(response.replaces) == ([RENEWAL_KEY] if replaced else [])


# -- issue 9's checks reach the preview's drift list ----------------------------------------------------------


@pytest.mark.parametrize("check_id", ["edge.origin_pull", "origin.min_tls_version", "zone.aop_certificate"])
def test_drift_lists_any_check_id_the_verifier_reports(check_id: str) -> None:
    """No fixed list of ids between the report and the drift: a check added to the verifier shows up in preview."""
    from origin_tls.providers.verification import build_drift
    from origin_tls.report import Check, Report, Status, TargetReport

    failing = Check(check_id, Status.FAIL, expected="pulls accepted", observed="526")
    passing = Check("zone.ssl", Status.PASS, expected="strict", observed="strict")
    report = Report((TargetReport("app.example.com", (passing, failing)),))
    assert build_drift(report) == [f"app.example.com {check_id}: fail (expected pulls accepted, observed 526)"]
    # Twin: the same check passing is no drift.
    assert build_drift(Report((TargetReport("app.example.com", (passing,)),))) == []


CA_URN = "urn:pulumi:dev::origin-tls::pulumi-python:dynamic/origin-tls:OriginPullCa::web-pull-ca"


def test_engine_ca_rotation_is_an_update_keeping_the_previous_ca(server: ProviderServer) -> None:
    props = {
        "common_name": "web origin pulls",
        "rotation": "",
        "__provider": serialized_provider(OriginPullCaProvider()),
    }
    inputs, failures = server.check(CA_URN, {}, props)
    assert failures == []
    id_, outs = server.create(CA_URN, inputs)
    rotated_inputs, _ = server.check(CA_URN, inputs, {**props, "rotation": "2027"})
    response = server.diff(id_, CA_URN, outs, rotated_inputs)
    assert (response.changes, list(response.replaces)) == (DIFF_SOME, [])
    new = server.update(id_, CA_URN, outs, rotated_inputs)
    assert new["previous_certificate_pem"] == outs["certificate_pem"]
    assert new["trust_bundle_pem"] == new["certificate_pem"] + outs["certificate_pem"]
    assert outs["private_key_pem"] not in str(new), "the previous CA's key is not kept"
