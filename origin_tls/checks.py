"""The checks as a table: which probes gather which evidence, and which judge turns which evidence into a check.

Two registries, in the manner of sslyze's scan commands:

- :data:`PROBES`: one row per connection's worth of work (a probe plus, where the merged probe cannot tell, its
  fallback): its name, the evidence names it yields, whether a target wants it, and how to run it;
- :data:`CHECKS`: one row per check id, in report order (= :data:`origin_tls.report.CHECK_IDS`): the evidence it
  needs, its pure judge (``origin_tls.checks_judges``), and why it is skipped when the user did not ask for it.

Adding a check is one judge plus one :class:`CheckSpec` line here (and its id in ``report.py``); new evidence is one
:class:`Probe` line. ``verify`` runs what the table says and nothing else.

One connection per piece of evidence (issue 12): the HTTPS probe offers TLS 1.2-1.3, so a TLS 1.3 answer is also
the ``edge.tls_1_3`` evidence (the pinned 1.3 probe runs only when it is not); the unauthenticated pull keeps the
origin certificate of its own handshake (a separate fetch only when that handshake showed none, e.g. a TLS
1.0-only origin); ``edge.origin_pull`` reads the HTTPS probe's answer.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import probes
from .baseline import Baseline, TlsVersion
from .checks_judges import (
    judge_edge_certificate,
    judge_edge_hsts,
    judge_edge_origin_pull,
    judge_https_redirect,
    judge_min_tls_version,
    judge_origin_aop,
    judge_origin_aop_client,
    judge_origin_certificate,
    judge_origin_min_tls_version,
    judge_origin_pq_key_agreement,
    judge_tls_1_3,
)
from .report import CHECK_IDS, ZONE_CHECK_IDS, Check
from .targets import Target, VerifyOptions
from .tls_io import Deadline

__all__ = ["CHECKS", "PROBES", "CheckSpec", "Evidence", "Plan", "Probe"]

#: Evidence by name: what a probe returned (or the zone facts, under "zone").
Evidence = Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """One target with everything resolved: its baseline and options, parsed CA/pin certificates, the run's
    client-certificate contexts for it, the probe timeout and the run's deadline."""

    key: str  # by position, not hostname: one hostname may be verified at two edges in one run
    target: Target
    baseline: Baseline
    options: VerifyOptions
    trusted: Sequence[Any] | None
    expected_cert: Any | None
    timeout: float
    run_deadline: Deadline | None = None
    #: The client identity loaded once per run (tls_client.build_client_contexts): never shown, never cached.
    client: Mapping[TlsVersion | str, ssl.SSLContext] | None = field(default=None, repr=False)

    @property
    def hostname(self) -> str:
        return self.target.hostname


# --------------------------------------------------------------------------------------------------------------
# Probes: evidence name(s) <- one connection (plus a fallback where the merged probe cannot tell)


@dataclass(frozen=True)
class Probe:
    name: str
    yields: tuple[str, ...]
    wanted: Callable[[Plan], bool]
    run: Callable[[Plan], Evidence]


def _floor_versions(plan: Plan) -> tuple[TlsVersion, ...]:
    floor = plan.baseline.min_tls
    return (*floor.below(), floor)


def _edge_version(version: TlsVersion) -> Probe:
    def run(plan: Plan) -> Evidence:
        edge = plan.target.edge_endpoint
        result = probes.probe_tls_version(
            edge, plan.hostname, version, timeout=plan.timeout, deadline=plan.run_deadline
        )
        return {f"edge.tls{version.value}": result}

    # TLS 1.3 comes with the HTTPS probe.
    return Probe(
        f"edge.tls{version.value}",
        (f"edge.tls{version.value}",),
        lambda plan: version is not TlsVersion.TLS_1_3 and version in _floor_versions(plan),
        run,
    )


def _origin_version(version: TlsVersion) -> Probe:
    def run(plan: Plan) -> Evidence:
        assert plan.target.origin is not None
        result = probes.probe_tls_version(
            plan.target.origin,
            plan.hostname,
            version,
            timeout=plan.timeout,
            deadline=plan.run_deadline,
            context=plan.client[version] if plan.client is not None else None,
            hello_evidence=True,
        )
        return {f"origin.tls{version.value}": result}

    return Probe(
        f"origin.tls{version.value}",
        (f"origin.tls{version.value}",),
        lambda plan: plan.target.origin is not None and version in _floor_versions(plan),
        run,
    )


def _https(plan: Plan) -> Evidence:
    edge = plan.target.edge_endpoint
    https = probes.probe_https(
        edge, plan.hostname, ca_pem=plan.options.edge_ca_pem, timeout=plan.timeout, deadline=plan.run_deadline
    )
    tls13 = probes.tls_1_3_from_https(https, edge) or probes.probe_tls_version(
        edge, plan.hostname, TlsVersion.TLS_1_3, timeout=plan.timeout, deadline=plan.run_deadline
    )
    return {"edge.https": https, "edge.tls1.3": tls13}


def _redirect(plan: Plan) -> Evidence:
    result = probes.probe_http_redirect(
        plan.target.edge_http_endpoint, plan.hostname, timeout=plan.timeout, deadline=plan.run_deadline
    )
    return {"edge.redirect": result}


def _pull(plan: Plan) -> Evidence:
    origin = plan.target.origin
    assert origin is not None
    pull = probes.probe_origin_pull(
        origin, plan.hostname, timeout=plan.timeout, deadline=plan.run_deadline, record_certificate=True
    )
    certificate = pull.certificate
    if certificate is None or certificate.certificate_der is None:
        # The pull offers TLS 1.2-1.3 like the edge; an origin that refused it before sending a certificate (a
        # TLS 1.0-only one) still gets its certificate read by a probe that offers every version.
        certificate = probes.fetch_certificate(origin, plan.hostname, timeout=plan.timeout, deadline=plan.run_deadline)
    return {"origin.pull": pull, "origin.certificate": certificate}


def _pull_client(plan: Plan) -> Evidence:
    assert plan.target.origin is not None
    assert plan.client is not None
    from .tls_client import PULL

    result = probes.probe_origin_pull(
        plan.target.origin, plan.hostname, timeout=plan.timeout, deadline=plan.run_deadline, context=plan.client[PULL]
    )
    return {"origin.pull_client": result}


def _has_origin(plan: Plan) -> bool:
    return plan.target.origin is not None


def _pq(plan: Plan) -> Evidence:
    assert plan.target.origin is not None
    from .pq import probe_pq_key_agreement

    result = probe_pq_key_agreement(
        plan.target.origin,
        plan.hostname,
        timeout=plan.timeout,
        deadline=plan.run_deadline,
        client_cert_pem=plan.options.client_cert_pem,
        client_key_pem=plan.options.client_key_pem,
    )
    return {"origin.pq": result}


#: In the order a target's probes start: the longest first (issue 17). The HTTPS probe and the two pulls take a
#: handshake and a request (3 round trips with the TCP handshake), a version probe or the redirect 2; workers start
#: one after another (5-50 ms for a target's ten under load), so the long ones starting first keeps the last
#: answer at the floor: a short probe started late still finishes before them.
PROBES: tuple[Probe, ...] = (
    Probe("edge.https", ("edge.https", "edge.tls1.3"), lambda plan: True, _https),
    Probe("origin.pull", ("origin.pull", "origin.certificate"), _has_origin, _pull),
    Probe(
        "origin.pull_client", ("origin.pull_client",), lambda p: _has_origin(p) and p.client is not None, _pull_client
    ),
    *(_edge_version(v) for v in TlsVersion),
    Probe("edge.redirect", ("edge.redirect",), lambda plan: True, _redirect),
    *(_origin_version(v) for v in TlsVersion),
    # One connection more per target, and only with --require-pq.
    Probe("origin.pq", ("origin.pq",), lambda p: _has_origin(p) and p.baseline.require_pq, _pq),
)


# --------------------------------------------------------------------------------------------------------------
# Checks: id <- judge(evidence), in report order


@dataclass(frozen=True)
class CheckSpec:
    id: str
    needs: Callable[[Plan], tuple[str, ...]]
    judge: Callable[[Plan, Evidence], Check]
    #: Why the check is skipped for this target (the user did not ask for it), or None.
    skip: Callable[[Plan], str | None] = lambda plan: None


def _needs(*names: str) -> Callable[[Plan], tuple[str, ...]]:
    return lambda plan: names


def _versions(prefix: str) -> Callable[[Plan], tuple[str, ...]]:
    return lambda plan: tuple(f"{prefix}.tls{v.value}" for v in _floor_versions(plan))


def _by_version(prefix: str, plan: Plan, evidence: Evidence) -> dict[TlsVersion, probes.VersionResult]:
    return {v: evidence[f"{prefix}.tls{v.value}"] for v in _floor_versions(plan)}


def _pull_result(evidence: object) -> probes.PullResult | None:
    """A pull's evidence; None when the probe was not wanted; a probe that did not finish as its ERROR."""
    if evidence is None or isinstance(evidence, probes.PullResult):
        return evidence
    reason = str(getattr(evidence, "message", "the probe did not finish"))
    return probes.PullResult(probes.AopOutcome.ERROR, "no-answer", None, None, reason)


def _no_origin(plan: Plan) -> str | None:
    return "no --origin given" if plan.target.origin is None else None


def _no_aop(plan: Plan) -> str | None:
    return _no_origin(plan) or (None if plan.baseline.aop_required else "--no-aop given")


def _no_client(plan: Plan) -> str | None:
    return _no_origin(plan) or (None if plan.options.client_cert_pem is not None else "no --client-cert given")


def _no_pq(plan: Plan) -> str | None:
    return _no_origin(plan) or (None if plan.baseline.require_pq else "--require-pq not given")


def _no_zone(plan: Plan) -> str | None:
    return None if plan.options.zone_id is not None else "no --zone-id given"


def _zone_check(check_id: str) -> Callable[[Plan, Evidence], Check]:
    def judge(plan: Plan, evidence: Evidence) -> Check:
        from .zone import judge_zone_setting  # the API client (httpx) only when a zone is read

        return judge_zone_setting(check_id, evidence["zone"], plan.baseline, plan.hostname)

    return judge


def _zone_aop_certificate(plan: Plan, evidence: Evidence) -> Check:
    from .zone import judge_zone_aop_certificate

    return judge_zone_aop_certificate(
        evidence["zone"], plan.baseline, plan.hostname, client_cert_pem=plan.options.client_cert_pem
    )


def _zone_origin_pq(plan: Plan, evidence: Evidence) -> Check:
    from .zone import judge_zone_origin_pq

    return judge_zone_origin_pq(evidence["zone"], plan.baseline)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "edge.min_tls_version",
        _versions("edge"),
        lambda p, e: judge_min_tls_version(_by_version("edge", p, e), p.baseline.min_tls),
    ),
    CheckSpec("edge.tls_1_3", _needs("edge.tls1.3"), lambda p, e: judge_tls_1_3(e["edge.tls1.3"])),
    CheckSpec(
        "edge.certificate",
        _needs("edge.https"),
        lambda p, e: judge_edge_certificate(e["edge.https"], p.hostname, custom_ca=p.options.edge_ca_pem is not None),
    ),
    CheckSpec("edge.hsts", _needs("edge.https"), lambda p, e: judge_edge_hsts(e["edge.https"], p.baseline)),
    CheckSpec(
        "edge.https_redirect",
        _needs("edge.redirect"),
        lambda p, e: judge_https_redirect(e["edge.redirect"], p.hostname),
    ),
    CheckSpec("edge.origin_pull", _needs("edge.https"), lambda p, e: judge_edge_origin_pull(e["edge.https"])),
    CheckSpec(
        "origin.certificate",
        _needs("origin.certificate"),
        lambda p, e: judge_origin_certificate(
            e["origin.certificate"],
            p.hostname,
            trusted_cas=p.trusted,
            expected_cert=p.expected_cert,
            min_days_remaining=p.baseline.min_days_remaining,
        ),
        _no_origin,
    ),
    CheckSpec(
        "origin.aop",
        _needs("origin.pull"),
        # The pull with --client-cert, when there is one, tells an unexplained alert apart (judge_origin_aop).
        lambda p, e: judge_origin_aop(e["origin.pull"], _pull_result(e.get("origin.pull_client"))),
        _no_aop,
    ),
    CheckSpec(
        "origin.aop_client",
        _needs("origin.pull_client"),
        lambda p, e: judge_origin_aop_client(
            e["origin.pull_client"],
            client_cert_pem=p.options.client_cert_pem,
            min_days_remaining=p.baseline.min_days_remaining,
        ),
        _no_client,
    ),
    CheckSpec(
        "origin.min_tls_version",
        _versions("origin"),
        lambda p, e: judge_origin_min_tls_version(_by_version("origin", p, e), p.baseline.min_tls),
        _no_origin,
    ),
    CheckSpec(
        "origin.pq_key_agreement",
        _needs("origin.pq"),
        lambda p, e: judge_origin_pq_key_agreement(e["origin.pq"]),
        _no_pq,
    ),
    *(
        CheckSpec(cid, _needs("zone"), _zone_check(cid), _no_zone)
        for cid in ZONE_CHECK_IDS
        if cid not in ("zone.aop_certificate", "zone.origin_pq")  # their own judges, the next lines
    ),
    CheckSpec("zone.aop_certificate", _needs("zone"), _zone_aop_certificate, _no_zone),
    CheckSpec("zone.origin_pq", _needs("zone"), _zone_origin_pq, _no_zone),
)

if tuple(spec.id for spec in CHECKS) != CHECK_IDS:  # report order is table order: a new id goes in both
    raise AssertionError("origin_tls.checks.CHECKS and report.CHECK_IDS disagree")
