"""The judges of verify.py on hand-made facts: every status each check can take, and why.

These are the unit tests; tests/test_verify.py proves the same checks against real servers.
"""

from __future__ import annotations

import pytest

from origin_tls.baseline import AopMode, Baseline, HstsPolicy, TlsVersion
from origin_tls.checks_judges import (
    judge_edge_certificate,
    judge_edge_hsts,
    judge_https_redirect,
    judge_min_tls_version,
    judge_origin_aop,
    judge_origin_aop_client,
    judge_tls_1_3,
)
from origin_tls.probes import AopOutcome, HttpsResult, PullResult, RedirectResult, TlsOutcome, VersionResult
from origin_tls.report import Status
from origin_tls.zone import ZoneFacts, judge_zone, judge_zone_setting

A, R, C, U = TlsOutcome.ACCEPTED, TlsOutcome.REFUSED, TlsOutcome.CLIENT_CANNOT_OFFER, TlsOutcome.UNREACHABLE


def _versions(*outcomes: TlsOutcome) -> dict[TlsVersion, VersionResult]:
    return {v: VersionResult(v, o, None, f"{o.value} detail") for v, o in zip(TlsVersion, outcomes, strict=True)}


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ((R, R, A, A), Status.PASS),
        ((A, R, A, A), Status.FAIL),  # TLS 1.0 accepted below the floor
        ((R, A, A, A), Status.FAIL),
        ((R, R, R, A), Status.FAIL),  # the floor itself refused
        ((C, R, A, A), Status.INCONCLUSIVE),  # our client could not offer 1.0: proves nothing
        ((U, R, A, A), Status.INCONCLUSIVE),
        ((R, R, U, A), Status.INCONCLUSIVE),
    ],
)
def test_min_tls_version(outcomes: tuple[TlsOutcome, ...], status: Status) -> None:
    check = judge_min_tls_version(_versions(*outcomes), TlsVersion.TLS_1_2)
    assert check.status is status
    assert check.expected == "1.0 refused, 1.1 refused, 1.2 accepted"


def test_min_tls_version_a_lower_floor_ignores_nothing_it_asked_for() -> None:
    check = judge_min_tls_version(_versions(A, A, A, A), TlsVersion.TLS_1_0)
    assert check.status is Status.PASS
    assert check.expected == "1.0 accepted"


@pytest.mark.parametrize(("outcome", "status"), [(A, Status.PASS), (R, Status.FAIL), (U, Status.INCONCLUSIVE)])
def test_tls_1_3(outcome: TlsOutcome, status: Status) -> None:
    assert judge_tls_1_3(VersionResult(TlsVersion.TLS_1_3, outcome, None, "")).status is status


def _https(*, reached: bool = True, sts: tuple[str, ...] = (), verified: bool | None = True) -> HttpsResult:
    return HttpsResult(reached, 200 if reached else None, sts, None, verified, "", "TLSv1.3", "")


def test_edge_certificate() -> None:
    assert judge_edge_certificate(_https(), "a.example.com", custom_ca=False).status is Status.PASS
    assert judge_edge_certificate(_https(verified=False), "a.example.com", custom_ca=False).status is Status.FAIL
    unreached = _https(reached=False, verified=None)
    assert judge_edge_certificate(unreached, "a.example.com", custom_ca=False).status is Status.INCONCLUSIVE


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (("max-age=31536000; includeSubDomains",), Status.PASS),
        (("MAX-AGE=63072000; INCLUDESUBDOMAINS",), Status.PASS),
        ((), Status.FAIL),
        (("max-age=300; includeSubDomains",), Status.FAIL),
        (("max-age=31536000",), Status.FAIL),
        (("max-age=31536000; includeSubDomains", "max-age=31536000; includeSubDomains"), Status.FAIL),
        (("max-age=31536000; max-age=31536000; includeSubDomains",), Status.FAIL),
    ],
)
def test_edge_hsts(headers: tuple[str, ...], status: Status) -> None:
    assert judge_edge_hsts(_https(sts=headers), Baseline()).status is status


def test_edge_hsts_preload_and_quoted_max_age() -> None:
    preload = Baseline(hsts=HstsPolicy(preload=True))
    assert judge_edge_hsts(_https(sts=('max-age="31536000"; includeSubDomains',)), Baseline()).status is Status.PASS
    quoted = _https(sts=('max-age="31536000"; includeSubDomains; preload',))
    assert judge_edge_hsts(quoted, preload).status is Status.FAIL  # valid RFC 6797, not preload-eligible
    plain = _https(sts=("max-age=31536000; includeSubDomains; preload",))
    assert judge_edge_hsts(plain, preload).status is Status.PASS
    assert judge_edge_hsts(_https(reached=False), Baseline()).status is Status.INCONCLUSIVE


@pytest.mark.parametrize(
    ("status_code", "location", "status"),
    [
        (301, "https://a.example.com/", Status.PASS),
        (308, "https://A.example.com", Status.PASS),
        (301, "https://a.example.com:443/", Status.PASS),
        (200, None, Status.FAIL),
        (301, "http://a.example.com/", Status.FAIL),
        (301, "https://www.a.example.com/", Status.FAIL),
        (301, "https://a.example.com:8443/", Status.FAIL),
        # A Location urllib cannot split (issue 18): a failed check, never an exception out of the judge.
        (301, "http://[", Status.FAIL),
        (301, "https://a.example.com:a/", Status.FAIL),
        (301, "https://a.example.com:99999/", Status.FAIL),
        (301, "https://a.example.com:\u00b2/", Status.FAIL),
        (301, "https://a.example.com:" + "4" * 5000 + "/", Status.FAIL),
        (301, "https://[::1/", Status.FAIL),
        (301, "https://a.example.com\uff03@b.example/", Status.FAIL),
    ],
)
def test_https_redirect(status_code: int, location: str | None, status: Status) -> None:
    result = RedirectResult(True, status_code, location, "")
    assert judge_https_redirect(result, "a.example.com").status is status


@pytest.mark.parametrize("location", ["http://[", "https://example.test:a", "https://a.example.com:70000/"])
def test_an_unsplittable_location_fails_saying_so(location: str) -> None:
    check = judge_https_redirect(RedirectResult(True, 301, location, ""), "a.example.com")

    assert check.status is Status.FAIL
    assert check.observed == f"HTTP 301 -> {location}"
    assert "not a URL" in check.detail


def test_its_twin_a_splittable_location_elsewhere_says_where() -> None:
    check = judge_https_redirect(RedirectResult(True, 301, "https://example.test:8/", ""), "a.example.com")

    assert check.status is Status.FAIL
    assert check.detail == "redirects somewhere other than the same host over HTTPS"


def test_https_redirect_unreachable_is_inconclusive() -> None:
    result = RedirectResult(False, None, None, "connection refused")
    check = judge_https_redirect(result, "a.example.com")
    assert check.status is Status.INCONCLUSIVE
    assert check.detail == "connection refused"


_DECODE_ERROR = "the server sent TLS alert decode_error (SSLV3_ALERT_DECODE_ERROR) during the handshake"


def _unexplained(*, alert: str | None = "decode_error", requested: bool | None = True) -> PullResult:
    """A pull without a certificate that ended with an alert outside the client-authentication ones (GnuTLS)."""
    return PullResult(
        AopOutcome.ERROR, "no-answer", None, None, _DECODE_ERROR, alert=alert, certificate_requested=requested
    )


_ACCEPTED = PullResult(AopOutcome.ACCEPTED, "http-200", 200, "TLSv1.2", "HTTP 200 served")


def test_an_unexplained_alert_after_a_certificate_request_is_a_refusal_when_the_certificate_is_accepted() -> None:
    check = judge_origin_aop(_unexplained(), _ACCEPTED)
    assert check.status is Status.PASS
    assert check.observed == (
        "refused (tls-alert decode_error after a CertificateRequest; the pull with --client-cert is accepted: http-200)"
    )


@pytest.mark.parametrize(
    ("pull", "authenticated", "why"),
    [
        (_unexplained(), None, "no --client-cert given"),
        (
            _unexplained(),
            PullResult(
                AopOutcome.REFUSED, "tls-alert-handshake", None, None, "bad_certificate", alert="bad_certificate"
            ),
            "the pull with --client-cert was not accepted either (refused: bad_certificate)",
        ),
        (
            _unexplained(),
            PullResult(AopOutcome.ERROR, "no-answer", None, None, "deadline reached"),
            "the pull with --client-cert was not accepted either (error: deadline reached)",
        ),
        (_unexplained(requested=False), _ACCEPTED, _DECODE_ERROR),  # no certificate was asked for
        (_unexplained(requested=None), _ACCEPTED, _DECODE_ERROR),  # TLS 1.3: the request cannot be seen
        (_unexplained(alert=None), _ACCEPTED, _DECODE_ERROR),  # a bare close, no alert
    ],
    ids=["no-client-cert", "client-cert-refused", "client-pull-unfinished", "not-asked", "tls13", "no-alert"],
)
def test_an_unexplained_alert_stays_inconclusive_without_the_evidence(
    pull: PullResult, authenticated: PullResult | None, why: str
) -> None:
    check = judge_origin_aop(pull, authenticated)
    assert check.status is Status.INCONCLUSIVE
    assert why in check.detail


def test_origin_pulls() -> None:
    refused = PullResult(AopOutcome.REFUSED, "http-400-no-cert", 400, "TLSv1.3", "")
    accepted = PullResult(AopOutcome.ACCEPTED, "http-200", 200, "TLSv1.3", "")
    unreachable = PullResult(AopOutcome.UNREACHABLE, "timeout", None, None, "timed out")
    assert [judge_origin_aop(r).status for r in (refused, accepted, unreachable)] == [
        Status.PASS,
        Status.FAIL,
        Status.INCONCLUSIVE,
    ]
    assert [judge_origin_aop_client(r).status for r in (accepted, refused, unreachable)] == [
        Status.PASS,
        Status.FAIL,
        Status.INCONCLUSIVE,
    ]


HARDENED = {
    "ssl": "strict",
    "ssl_automatic_mode": "custom",
    "min_tls_version": "1.2",
    "tls_1_3": "zrt",
    "security_header": Baseline().hsts.zone_value(),
    "always_use_https": "on",
    "tls_client_auth": "off",
    "origin_tls_client_auth/settings": True,
}


def _zone(**changes: object) -> dict[str, Status]:
    facts = ZoneFacts({**HARDENED, **changes}, {})
    return {check.id: check.status for check in judge_zone(facts, Baseline(), "a.example.com")}


def test_zone_hardened_passes_every_check() -> None:
    assert set(_zone().values()) == {Status.PASS}


@pytest.mark.parametrize("changes", [{}, {"ssl": "flexible", "always_use_https": "off", "tls_client_auth": "off"}])
def test_each_zone_setting_judged_alone_is_the_same_check(changes: dict[str, object]) -> None:
    # The registry judges each zone.* id on its own (judge_zone_setting); judge_zone lists them all: same checks,
    # passing (hardened) and failing (drifted) alike.
    facts = ZoneFacts({**HARDENED, **changes}, {})
    listed = judge_zone(facts, Baseline(), "a.example.com")
    assert [judge_zone_setting(c.id, facts, Baseline(), "a.example.com") for c in listed] == listed
    assert (Status.FAIL in {c.status for c in listed}) is bool(changes)


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("ssl", "full", "zone.ssl"),
        ("ssl_automatic_mode", "auto", "zone.ssl_automatic_mode"),
        ("min_tls_version", "1.0", "zone.min_tls_version"),
        ("tls_1_3", "off", "zone.tls_1_3"),
        ("always_use_https", "off", "zone.always_use_https"),
        ("origin_tls_client_auth/settings", False, "zone.aop"),
        ("security_header", {"strict_transport_security": {"enabled": False}}, "zone.security_header"),
        (
            "security_header",
            {"strictTransportSecurity": {"enabled": True, "maxAge": 31536000, "includeSubdomains": True}},
            "zone.security_header",
        ),
    ],
)
def test_zone_each_drift_fails_its_own_check_only(setting: str, value: object, check_id: str) -> None:
    statuses = _zone(**{setting: value})
    assert statuses.pop(check_id) is Status.FAIL
    assert set(statuses.values()) == {Status.PASS}


def test_zone_security_header_is_shown_without_its_wrapper_key() -> None:
    off = {"strict_transport_security": {"enabled": False, "max_age": 0}}
    facts = ZoneFacts({**HARDENED, "security_header": off}, {})
    check = next(c for c in judge_zone(facts, Baseline(), "a.example.com") if c.id == "zone.security_header")
    assert check.observed == "enabled=false, max_age=0"


def test_zone_unreadable_setting_is_inconclusive_with_the_reason() -> None:
    facts = ZoneFacts({k: v for k, v in HARDENED.items() if k != "ssl"}, {"ssl": "HTTP 403: needs Zone Settings Read"})
    check = next(c for c in judge_zone(facts, Baseline(), "a.example.com") if c.id == "zone.ssl")
    assert check.status is Status.INCONCLUSIVE
    assert "Zone Settings Read" in check.detail


def test_zone_aop_levels() -> None:
    base = {**HARDENED, "origin_tls_client_auth/settings": False}
    hostname = {**base, "origin_tls_client_auth/hostnames/a.example.com": True}
    facts = ZoneFacts(hostname, {})
    by_level = {
        level: next(c for c in judge_zone(facts, Baseline(aop=level), "a.example.com") if c.id == "zone.aop").status
        for level in AopMode
    }
    assert by_level == {
        AopMode.OFF: Status.SKIPPED,
        AopMode.GLOBAL: Status.FAIL,
        AopMode.ZONE: Status.FAIL,
        AopMode.HOSTNAME: Status.PASS,
    }
