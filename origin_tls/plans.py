"""The probe side of the checks table: one target's resolved plan, and which probes gather which evidence.

:data:`PROBES`: one row per connection's worth of work (a probe plus, where the merged probe cannot tell, its
fallback): its name, the evidence names it yields, whether a target wants it, and how to run it. The judge side
(:data:`origin_tls.checks.CHECKS`) says which judge turns which evidence into a check.

A module of its own so that ``verify`` starts its probes with only what they need loaded: the judges, the report
and what they import load while the probes wait on the network (issue 17).

One connection per piece of evidence (issue 12): the HTTPS probe offers TLS 1.2-1.3, so a TLS 1.3 answer is also
the ``edge.tls_1_3`` evidence (the pinned 1.3 probe runs only when it is not); the unauthenticated pull keeps the
origin certificate of its own handshake (a separate fetch only when that handshake showed none, e.g. a TLS
1.0-only origin); ``edge.origin_pull`` reads the HTTPS probe's answer.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import probes
from .baseline import Baseline, TlsVersion
from .targets import Target, VerifyOptions
from .tls_io import Deadline

__all__ = ["PROBES", "Evidence", "Plan", "Probe", "floor_versions"]

#: Evidence by name: what a probe returned (or the zone facts, under "zone").
Evidence = Mapping[str, Any]


class Plan:
    """One target with everything resolved: its baseline and options, parsed CA/pin certificates, the run's
    client-certificate contexts for it, the probe timeout and the run's deadline.

    A plain class, as :class:`Probe` is (a dataclass costs ~1 ms of CPU to make, before a run's first connection:
    issue 17); treat it as frozen: :meth:`with_certificates` makes the judged copy."""

    __slots__ = (
        "baseline",
        "client",
        "expected_cert",
        "key",
        "options",
        "run_deadline",
        "target",
        "timeout",
        "trusted",
    )

    def __init__(
        self,
        key: str,
        target: Target,
        baseline: Baseline,
        options: VerifyOptions,
        trusted: Sequence[Any] | None,
        expected_cert: Any | None,
        *,
        timeout: float,
        run_deadline: Deadline | None = None,
        client: Mapping[TlsVersion | str, ssl.SSLContext] | None = None,
    ) -> None:
        self.key = key  # by position, not hostname: one hostname may be verified at two edges in one run
        self.target = target
        self.baseline = baseline
        self.options = options
        self.trusted = trusted
        self.expected_cert = expected_cert
        self.timeout = timeout
        self.run_deadline = run_deadline
        #: The client identity loaded once per run (tls_client.build_client_contexts): never shown, never cached.
        self.client = client

    def with_certificates(self, trusted: Sequence[Any] | None, expected_cert: Any | None) -> Plan:
        """This plan with the parsed --origin-ca/--origin-cert the origin.certificate judge needs."""
        return Plan(
            self.key,
            self.target,
            self.baseline,
            self.options,
            trusted,
            expected_cert,
            timeout=self.timeout,
            run_deadline=self.run_deadline,
            client=self.client,
        )

    def __repr__(self) -> str:  # never the client identity
        return f"Plan({self.key!r}, {self.target!r}, timeout={self.timeout!r})"

    @property
    def hostname(self) -> str:
        return self.target.hostname


# --------------------------------------------------------------------------------------------------------------
# Probes: evidence name(s) <- one connection (plus a fallback where the merged probe cannot tell)


class Probe:
    """One row of :data:`PROBES`: its name, the evidence it yields, whether a plan wants it, how to run it. A plain
    class: a dataclass costs ~0.6 ms of CPU to make, and this one is made before the first connection (issue 17)."""

    __slots__ = ("name", "run", "wanted", "yields")

    def __init__(
        self, name: str, yields: tuple[str, ...], wanted: Callable[[Plan], bool], run: Callable[[Plan], Evidence]
    ) -> None:
        self.name = name
        self.yields = yields
        self.wanted = wanted
        self.run = run

    def __repr__(self) -> str:
        return f"Probe({self.name!r}, yields={self.yields!r})"


def floor_versions(plan: Plan) -> tuple[TlsVersion, ...]:
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
        lambda plan: version is not TlsVersion.TLS_1_3 and version in floor_versions(plan),
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
        lambda plan: plan.target.origin is not None and version in floor_versions(plan),
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
