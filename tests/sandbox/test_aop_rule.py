"""One rule, two places: the client certificate the sandbox edge presents for a hostname is the one
``zone.aop_certificate`` judges from the API's answers (per-hostname association, else the newest active zone-level
certificate, else global). For each zone state, the judge passes exactly when the edge presents our key, and is
``skipped`` only when the edge presents Cloudflare's global certificate (which it also does, and the judge fails,
when zone-level AOP is on with no active certificate)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509

from origin_tls.baseline import Baseline
from origin_tls.cloudflare import CloudflareClient
from origin_tls.errors import CloudflareError
from origin_tls.report import Status
from origin_tls.sandbox import ApiServer, ZoneState
from origin_tls.zone import ZoneFacts, judge_zone_aop_certificate, read_zone_fact, zone_fact_keys

from .test_api import HOSTNAME, TOKEN, ZONE_ID, self_signed_client

OURS = self_signed_client("our pull CA")
THEIRS = self_signed_client("another CA")


@dataclass
class Setup:
    zone: ZoneState
    client: CloudflareClient


@pytest.fixture
def setup() -> Iterator[Setup]:
    zone = ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME, "www.example.test"], account_token=TOKEN, activation_delay=0)
    with ApiServer(zone) as api, CloudflareClient(TOKEN, base_url=api.url) as client:
        yield Setup(zone, client)


def global_only(s: Setup) -> None:
    s.zone.set_setting("tls_client_auth", "on")


def zone_level_ours(s: Setup) -> None:
    s.zone.set_zone_aop_enabled(True)
    s.zone.upload_zone_certificate(*OURS)


def zone_level_newer_foreign(s: Setup) -> None:
    zone_level_ours(s)
    s.zone.upload_zone_certificate(*THEIRS)


def zone_level_ours_after_foreign_deleted(s: Setup) -> None:
    s.zone.set_zone_aop_enabled(True)
    s.zone.upload_zone_certificate(*OURS)
    foreign = s.zone.upload_zone_certificate(*THEIRS)
    s.zone.delete_zone_certificate(foreign.id)


def zone_level_nothing_active_global_on(s: Setup) -> None:
    s.zone.set_setting("tls_client_auth", "on")
    s.zone.set_zone_aop_enabled(True)
    s.zone.delete_zone_certificate(s.zone.upload_zone_certificate(*OURS).id)


def hostname_ours_over_foreign_zone(s: Setup) -> None:
    zone_level_newer_foreign(s)
    cert = s.zone.upload_hostname_certificate(*OURS)
    s.zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": cert.id, "enabled": True}])


def hostname_foreign_over_our_zone(s: Setup) -> None:
    zone_level_ours(s)
    cert = s.zone.upload_hostname_certificate(*THEIRS)
    s.zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": cert.id, "enabled": True}])


def hostname_disabled_over_our_zone(s: Setup) -> None:
    zone_level_ours(s)
    cert = s.zone.upload_hostname_certificate(*OURS)
    s.zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": cert.id, "enabled": False}])


def hostname_certificate_not_active_yet(s: Setup) -> None:
    zone_level_ours(s)
    s.zone.activation_delay = 60  # stays initializing for the whole test
    cert = s.zone.upload_hostname_certificate(*OURS)
    s.zone.set_hostname_associations([{"hostname": HOSTNAME, "cert_id": cert.id, "enabled": True}])


def nothing(s: Setup) -> None:
    return None


SCENARIOS: dict[str, tuple[Callable[[Setup], None], Status]] = {
    "global only": (global_only, Status.SKIPPED),
    "zone-level, ours": (zone_level_ours, Status.PASS),
    "zone-level, a newer foreign one": (zone_level_newer_foreign, Status.FAIL),
    "zone-level, the foreign one deleted": (zone_level_ours_after_foreign_deleted, Status.PASS),
    "zone-level on, nothing active, falls back to global": (zone_level_nothing_active_global_on, Status.FAIL),
    "hostname ours over a foreign zone-level": (hostname_ours_over_foreign_zone, Status.PASS),
    "hostname foreign over our zone-level": (hostname_foreign_over_our_zone, Status.FAIL),
    "hostname disabled over our zone-level": (hostname_disabled_over_our_zone, Status.FAIL),
    "hostname certificate not active yet": (hostname_certificate_not_active_yet, Status.FAIL),
    "AOP off everywhere": (nothing, Status.FAIL),
}


def read_facts(client: CloudflareClient) -> ZoneFacts:
    values, errors = {}, {}
    for key in zone_fact_keys(Baseline(), [HOSTNAME], aop_certificate=True):
        try:
            values[key] = read_zone_fact(client, ZONE_ID, key)
        except CloudflareError as exc:
            errors[key] = str(exc)
    return ZoneFacts(values, errors)


def key_of(pem: str) -> object:
    return x509.load_pem_x509_certificate(pem.encode()).public_key()


@pytest.mark.parametrize(("arrange", "status"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_judge_and_the_edge_agree_on_the_certificate_presented(
    setup: Setup, arrange: Callable[[Setup], None], status: Status
) -> None:
    # Given a zone in this state, made through the sandbox's own state (as the API would)
    arrange(setup)
    # When the edge picks its pull certificate and the judge reads the zone through the API
    presented = setup.zone.active_client_identity(HOSTNAME)
    check = judge_zone_aop_certificate(read_facts(setup.client), Baseline(), HOSTNAME, client_cert_pem=OURS[0])
    # Then the judge says what the edge does
    assert check.status is status, check
    ours = presented is not None and key_of(presented.certificate_pem) == key_of(OURS[0])
    assert (check.status is Status.PASS) == ours
    if check.status is Status.SKIPPED:
        assert presented == setup.zone.global_aop
    if presented == setup.zone.global_aop:
        assert check.status is not Status.PASS
