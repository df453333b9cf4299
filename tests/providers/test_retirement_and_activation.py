"""The two providers that order the Cloudflare side of a rotation, against the sandbox's API.

- ``OriginCertificateRetirement``: revokes the certificate it saw replaced only in ``update`` (which the component
  runs after the verification), never the current one; ``delete`` (destroy) revokes the current one.
- ``AopActivation``: returns once the uploaded AOP certificate is ``active``; fails, naming it, when it is not.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from origin_tls import certs
from origin_tls.baseline import KeyType
from origin_tls.providers import verification
from origin_tls.providers.activation import AopActivationProvider, NotActivated
from origin_tls.providers.retirement import OriginCertificateRetirementProvider
from origin_tls.sandbox.runner import Sandbox
from tests.providers.conftest import configured


def _issue(sandbox: Sandbox) -> str:
    key = certs.generate_private_key(KeyType.ECDSA_P256)
    with sandbox.client() as client:
        issued = client.create_origin_certificate(
            csr_pem=certs.build_csr(key, [sandbox.info.hostname]),
            hostnames=[sandbox.info.hostname],
            request_type="origin-ecc",
            requested_validity=365,
        )
    return str(issued["id"])


def _live_ids(sandbox: Sandbox) -> set[str]:
    assert sandbox.state is not None
    return {cert.id for cert in sandbox.state.list_origin_certificates()}


def test_retirement_revokes_the_replaced_certificate_only_on_update(sandbox: Sandbox) -> None:
    provider = configured(OriginCertificateRetirementProvider(), sandbox)
    old, new = _issue(sandbox), _issue(sandbox)
    created = provider.create({"certificate_id": old, "api_url": None})
    assert {old, new} <= _live_ids(sandbox), "create revokes nothing"
    olds: dict[str, Any] = dict(created.outs or {})
    news = {"certificate_id": new, "api_url": None}
    assert provider.diff(created.id, olds, news).changes is True
    assert provider.diff(created.id, olds, {"certificate_id": old, "api_url": None}).changes is False
    updated = provider.update(created.id, olds, news).outs
    assert updated is not None
    assert old not in _live_ids(sandbox)
    assert new in _live_ids(sandbox), "the certificate the origin serves now is never revoked"
    assert updated["revoked"] == [old]
    # A retried deployment (the old one is gone already) is not an error.
    provider.update(created.id, olds, news)
    provider.delete(created.id, updated)
    assert new not in _live_ids(sandbox), "destroy revokes the current certificate"


def _upload(sandbox: Sandbox) -> str:
    ca = certs.build_client_ca("act CA")
    cert_pem, key_pem = certs.issue_client_certificate(ca, common_name="act")
    with sandbox.client() as client:
        return str(client.upload_zone_aop_certificate(sandbox.zone_id, cert_pem, key_pem)["id"])


def test_activation_waits_until_the_upload_is_active(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.05)
    assert sandbox.state is not None
    sandbox.state.activation_delay = 0.5
    provider = configured(AopActivationProvider(), sandbox)
    cert_id = _upload(sandbox)
    start = time.monotonic()
    outs = provider.create({"zone_id": sandbox.zone_id, "certificate_id": cert_id, "settle_seconds": 10.0}).outs
    assert outs is not None
    assert outs["status"] == "active"
    assert time.monotonic() - start >= 0.3, "it returned before the certificate was active"


def test_activation_fails_when_the_upload_never_becomes_active(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.05)
    assert sandbox.state is not None
    sandbox.state.activation_delay = 60.0
    provider = configured(AopActivationProvider(), sandbox)
    cert_id = _upload(sandbox)
    with pytest.raises(NotActivated, match=cert_id):
        provider.create({"zone_id": sandbox.zone_id, "certificate_id": cert_id, "settle_seconds": 0.5})
