"""The API calls that harden a zone, as plain Python: the same requests the Pulumi layer makes, in the same order.

Used by the ``demo`` against the sandbox, and by anyone scripting a zone without Pulumi:

- :func:`harden_zone`: PATCH every zone setting of the baseline (``ssl_automatic_mode`` first, so Automatic SSL/TLS
  cannot move ``ssl`` back while we set it).
- :func:`issue_origin_certificate`: key and CSR made locally, only the CSR is sent (``POST /certificates``).
- :func:`enable_zone_aop` / :func:`enable_hostname_aop`: upload a client certificate issued by the team's own CA,
  wait until Cloudflare reports it ``active``, then switch the level on (reference §2.3: "upload, wait active").
- :func:`require_post_quantum`: prove the origin negotiates X25519MLKEM768 when offered only it, and only then set
  ``origin_tls_compliance_modes = ["pqh"]`` (automatic origin key exchange on first): no 525 on the way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .addresses import Endpoint
from .baseline import (
    DEFAULT_TIMEOUT,
    ORIGIN_CA_VALIDITY_DAYS,
    Baseline,
    KeyType,
    parse_hostnames,
    parse_key_type,
    parse_validity_days,
)
from .certs import ClientCa, build_csr, generate_private_key, issue_client_certificate, private_key_to_pem
from .cloudflare import CloudflareClient, parse_expires_on
from .errors import CloudflareError, OriginTlsError
from .pq import PqOutcome, PqResult, probe_pq_key_agreement

__all__ = [
    "AOP_ACTIVATION_TIMEOUT",
    "AopCertificate",
    "IssuedCertificate",
    "PostQuantumNotProven",
    "enable_hostname_aop",
    "enable_zone_aop",
    "harden_zone",
    "issue_origin_certificate",
    "require_post_quantum",
]

#: How long to wait for an uploaded AOP certificate to become ``active`` (Cloudflare: usually seconds).
AOP_ACTIVATION_TIMEOUT = 60.0
_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class IssuedCertificate:
    """An Origin CA certificate and the private key made for it here (the key never left this process)."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    certificate_id: str = ""
    expires_on: dt.datetime | None = None


@dataclass(frozen=True)
class AopCertificate:
    """An uploaded origin-pull client certificate: what the edge presents, and the CA the origin must trust."""

    certificate_id: str
    certificate_pem: str
    private_key_pem: str = field(repr=False)
    ca_pem: str = ""
    status: str = ""


def harden_zone(client: CloudflareClient, zone_id: str, baseline: Baseline) -> None:
    """PATCH every setting of ``baseline.zone_settings()``, ``ssl_automatic_mode`` first."""
    settings = baseline.zone_settings()
    order = sorted(settings, key=lambda setting: setting != "ssl_automatic_mode")
    for setting in order:
        client.edit_setting(zone_id, setting, settings[setting])


def issue_origin_certificate(
    client: CloudflareClient,
    *,
    hostnames: Sequence[str],
    key_type: KeyType | str = KeyType.ECDSA_P256,
    validity_days: int = ORIGIN_CA_VALIDITY_DAYS[-1],
) -> IssuedCertificate:
    """Make a key and CSR for ``hostnames`` locally and have the Origin CA sign it. Raises ``InvalidInput``
    before any request for bad input, ``CloudflareError`` when the API refuses."""
    names = parse_hostnames(hostnames, allow_wildcard=True)
    kind = parse_key_type(key_type)
    days = parse_validity_days(validity_days)
    key = generate_private_key(kind)
    result = client.create_origin_certificate(
        csr_pem=build_csr(key, names), hostnames=names, request_type=kind.request_type, requested_validity=days
    )
    expires = result.get("expires_on")
    return IssuedCertificate(
        certificate_pem=str(result["certificate"]),
        private_key_pem=private_key_to_pem(key),
        certificate_id=str(result.get("id", "")),
        expires_on=parse_expires_on(expires) if isinstance(expires, str) else None,
    )


def _wait_active(
    fetch: Callable[[], dict[str, object]], first: dict[str, object], *, timeout: float, sleep: Callable[[float], None]
) -> str:
    status = str(first.get("status", ""))
    deadline = time.monotonic() + timeout
    while status != "active":
        if status in ("deleted", "deployment_timed_out", "pending_deletion", "deletion_timed_out"):
            raise CloudflareError(f"the origin-pull certificate did not deploy: status {status}")
        if time.monotonic() >= deadline:
            raise CloudflareError(f"the origin-pull certificate is still {status or 'not active'} after {timeout:g} s")
        sleep(_POLL_INTERVAL)
        status = str(fetch().get("status", ""))
    return status


def enable_zone_aop(
    client: CloudflareClient,
    zone_id: str,
    ca: ClientCa,
    *,
    common_name: str = "origin-tls zone origin pull",
    timeout: float = AOP_ACTIVATION_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> AopCertificate:
    """Zone-level AOP with the team's own CA: issue a client certificate from ``ca``, upload it, wait until it is
    ``active``, then ``PUT .../origin_tls_client_auth/settings {"enabled": true}``. The origin must trust
    ``ca.certificate_pem`` (``ssl_client_certificate``)."""
    cert_pem, key_pem = issue_client_certificate(ca, common_name=common_name)
    uploaded = client.upload_zone_aop_certificate(zone_id, cert_pem, key_pem)
    cert_id = str(uploaded["id"])
    status = _wait_active(
        lambda: client.get_zone_aop_certificate(zone_id, cert_id), uploaded, timeout=timeout, sleep=sleep
    )
    client.set_zone_aop_enabled(zone_id, True)
    return AopCertificate(cert_id, cert_pem, key_pem, ca.certificate_pem, status)


def enable_hostname_aop(
    client: CloudflareClient,
    zone_id: str,
    hostnames: Sequence[str],
    ca: ClientCa,
    *,
    common_name: str = "origin-tls hostname origin pull",
    timeout: float = AOP_ACTIVATION_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> AopCertificate:
    """Per-hostname AOP: upload a client certificate from ``ca``, wait until ``active``, then associate it with
    every hostname (``PUT .../origin_tls_client_auth/hostnames``, ``enabled: true``)."""
    names = parse_hostnames(hostnames)
    cert_pem, key_pem = issue_client_certificate(ca, common_name=common_name)
    uploaded = client.upload_hostname_aop_certificate(zone_id, cert_pem, key_pem)
    cert_id = str(uploaded["id"])
    client.set_hostname_aop(zone_id, [{"hostname": name, "cert_id": cert_id, "enabled": True} for name in names])

    def fetch() -> dict[str, object]:
        association = client.get_hostname_aop(zone_id, names[0])
        return {"status": association.get("cert_status", association.get("status", ""))}

    status = _wait_active(fetch, fetch(), timeout=timeout, sleep=sleep)
    return AopCertificate(cert_id, cert_pem, key_pem, ca.certificate_pem, status)


class PostQuantumNotProven(OriginTlsError):
    """The origin did not negotiate X25519MLKEM768: ``pqh`` was not set (``results`` says what each name answered)."""

    def __init__(self, message: str, results: dict[str, PqResult]) -> None:
        super().__init__(message)
        self.results = results


def require_post_quantum(
    client: CloudflareClient,
    zone_id: str,
    *,
    origin: Endpoint,
    hostnames: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, PqResult]:
    """Automatic origin key exchange on; then Cloudflare's ``pqh`` handshake to ``origin`` for every hostname
    (:func:`origin_tls.pq.probe_pq_key_agreement`), and ``origin_tls_compliance_modes = ["pqh"]`` only when each
    negotiated X25519MLKEM768. Raises :class:`PostQuantumNotProven` otherwise, with nothing required."""
    names = parse_hostnames(hostnames)
    client.set_auto_origin_tls_kex(zone_id, True)
    results = {name: probe_pq_key_agreement(origin, name, timeout=timeout) for name in names}
    missing = {name: result for name, result in results.items() if result.outcome is not PqOutcome.NEGOTIATED}
    if missing:
        words = "; ".join(f"{name}: {result.outcome.value} ({result.detail})" for name, result in missing.items())
        raise PostQuantumNotProven(
            f"the origin {origin} does not negotiate X25519MLKEM768 ({words}): pqh was not set", results
        )
    client.set_origin_tls_compliance_modes(zone_id, ["pqh"])
    return results
