"""The checks as a table: which judge turns which evidence into a check.

Two registries, in the manner of sslyze's scan commands:

- :data:`~origin_tls.plans.PROBES` (``plans.py``, re-exported here): one row per connection's worth of work, the
  evidence names it yields, whether a target wants it, and how to run it;
- :data:`CHECKS`: one row per check id, in report order (= :data:`origin_tls.report.CHECK_IDS`): the evidence it
  needs, its pure judge (``origin_tls.checks_judges``), and why it is skipped when the user did not ask for it.

Adding a check is one judge plus one :class:`CheckSpec` line here (and its id in ``report.py``); new evidence is one
:class:`~origin_tls.plans.Probe` line in ``plans.py``. ``verify`` runs what the tables say and nothing else. This
side (the judges, the report, what they import) is loaded while the probes wait on the network (issue 17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import probes
from .baseline import TlsVersion
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
from .plans import PROBES, Evidence, Plan, Probe, floor_versions
from .report import CHECK_IDS, ZONE_CHECK_IDS, Check

__all__ = ["CHECKS", "PROBES", "CheckSpec", "Evidence", "Plan", "Probe"]

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
    return lambda plan: tuple(f"{prefix}.tls{v.value}" for v in floor_versions(plan))


def _by_version(prefix: str, plan: Plan, evidence: Evidence) -> dict[TlsVersion, probes.VersionResult]:
    return {v: evidence[f"{prefix}.tls{v.value}"] for v in floor_versions(plan)}


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
