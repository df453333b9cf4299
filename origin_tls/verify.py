"""Targets + baseline -> a :class:`~origin_tls.report.Report` of checks.

Analysis is kept apart from I/O: ``probes`` and the zone reads gather facts, the pure judges
(``origin_tls.checks_judges``) turn facts into :class:`Check` results, the table in ``origin_tls.checks`` says
which probe feeds which judge, and :func:`verify` runs every wanted probe of every target at once: threads, at most
``concurrency`` in flight (OpenSSL releases the GIL during handshakes; a blocked thread costs a small stack, not
the 256 KiB buffer an asyncio SSL transport keeps), each probe bounded as a whole by ``timeout``, and the whole run
by ``deadline`` when given.

Honesty rules (DESIGN.md): a check that could not be carried out is ``inconclusive``, never ``pass``; a check the
user did not ask for is ``skipped`` and says why; only a server's refusal counts as "refused".

Import cost (issues 12 and 17): httpx and the API client are imported only when a zone is read. A run's first
connection waits only for the probe side (``plans``, ``probes``, ``tls_*``); the judges and the report (``checks``),
the result types and ``cryptography`` load, and the pinned certificates are parsed, once the probes have started
(:func:`_load_while_probing`), while they wait on the network.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from . import probes
from .baseline import DEFAULT_API_URL, Baseline, Endpoint, TlsVersion, parse_deadline, parse_timeout
from .errors import InvalidInput
from .jobs import Failure, Job, describe, run_all  # run_all: tests and bench.startup hook it here
from .pem import is_certificate_pem
from .plans import PROBES, Plan
from .targets import MAX_WORKERS, Target, VerifyOptions  # their own module (issue 17); users import them from here
from .tls_client import ClientContexts
from .tls_io import DEADLINE_REACHED, Deadline

if TYPE_CHECKING:
    import httpx

    from .checks import CheckSpec
    from .cloudflare import CloudflareClient
    from .report import Check, Report, TargetReport

__all__ = [
    "DEFAULT_API_URL",
    "MAX_WORKERS",
    "NO_TOKEN",
    "Target",
    "VerifyOptions",
    "verify",
]

#: Why the zone checks are inconclusive when --zone-id comes without a token.
NO_TOKEN = "no API token: set CLOUDFLARE_API_TOKEN (needs Zone Settings Read, SSL and Certificates Read)"  # noqa: S105


def _validate_options(options: VerifyOptions) -> None:
    """Bad input before any I/O. OpenSSL's word on the PEMs (issue 17: no cryptography import before the first
    connection); where OpenSSL does not take one, cryptography's check raises the message it always raised."""
    for pem, name in (
        (options.origin_ca_pem, "origin_ca"),
        (options.origin_cert_pem, "origin_cert"),
        (options.edge_ca_pem, "edge_ca"),
    ):
        if pem is not None and not is_certificate_pem(pem):
            from . import certs

            certs.load_pem_certificates(pem, field_name=name)
    if (options.client_cert_pem is None) != (options.client_key_pem is None):
        raise InvalidInput("client_cert", "<one of certificate/key>", "given together with client_key")


def _parsed_certificates(options: VerifyOptions) -> tuple[Any, Any]:
    """(trusted CAs, expected certificate) for the origin.certificate judge, parsed by cryptography (imported while
    the probes waited); a :class:`Failure` in place of one OpenSSL took but cryptography cannot parse: the check
    is then inconclusive, not judged against the default roots."""
    from . import certs

    parsed: list[Any] = []
    for pem, name in ((options.origin_ca_pem, "origin_ca"), (options.origin_cert_pem, "origin_cert")):
        try:
            parsed.append(None if pem is None else certs.load_pem_certificates(pem, field_name=name))
        except InvalidInput:
            why = f"{name}: OpenSSL loads it, but cryptography cannot parse it to judge the certificate with"
            parsed.append(Failure(why, observed=f"unparseable {name}"))
    trusted, expected = parsed
    return trusted, expected[0] if isinstance(expected, tuple) else expected


def _check_target(index: int, target: Target) -> None:
    """A Target built by hand (the Python API) checked before any I/O: a "host:port" string where an Endpoint goes
    would otherwise reach a probe and come back as our bug ("unexpected AttributeError")."""
    if not isinstance(target, Target):
        raise InvalidInput(f"targets[{index}]", type(target).__name__, "a Target")
    if not isinstance(target.hostname, str) or not target.hostname:
        raise InvalidInput(f"targets[{index}].hostname", target.hostname, "a hostname (text)")
    for name in ("edge", "edge_http", "origin"):
        value = getattr(target, name)
        if value is not None and not isinstance(value, Endpoint):
            allowed = "an Endpoint (origin_tls.baseline.Endpoint, e.g. parse_endpoint('host:443')) or None"
            raise InvalidInput(f"targets[{index}].{name}", value, allowed)


def _resolve(
    targets: Sequence[Target], baseline: Baseline, options: VerifyOptions, run_deadline: Deadline | None
) -> list[Plan]:
    if not targets:
        raise InvalidInput("targets", [], "at least one hostname")
    parse_timeout(options.timeout)
    if options.deadline is not None:
        parse_deadline(options.deadline, field_name="deadline")
    if isinstance(options.concurrency, bool) or not isinstance(options.concurrency, int) or options.concurrency < 1:
        raise InvalidInput("concurrency", options.concurrency, "a whole number of at least 1")
    checked: set[int] = set()  # by identity: a fleet shares a few option sets between many targets
    # One client identity per distinct (certificate, key) for the whole run: loaded here, before any I/O, so a
    # certificate and key that do not belong together are bad input with nothing probed. Local to this run: the
    # contexts hold the key and are never cached beyond it.
    identities: dict[tuple[str, str], Mapping[TlsVersion | str, Any]] = {}
    plans = []
    for index, target in enumerate(targets):
        _check_target(index, target)
        own = target.options or options
        if id(own) not in checked:
            _validate_options(own)
            checked.add(id(own))
        client = None
        if own.client_cert_pem is not None and own.client_key_pem is not None and target.origin is not None:
            pair = (own.client_cert_pem, own.client_key_pem)
            if pair not in identities:
                identities[pair] = ClientContexts(*pair)
            client = identities[pair]
        plans.append(
            Plan(
                f"target{index}",
                target,
                target.baseline or baseline,
                own,
                None,  # trusted and expected_cert: parsed while the probes run (_with_certificates)
                None,
                timeout=options.timeout,
                run_deadline=run_deadline,
                client=client,
            )
        )
    return plans


def _load_while_probing(preparing: _Preparation | None, caller: Callable[[], None] | None) -> Callable[[], None]:
    """What the run needs only after its probes, done once they have started (issue 17), while they wait on the
    network: the certificate work in a thread of its own (:class:`_Preparation`); the judges and the report
    (``checks`` and what it imports, ~15 ms of CPU) in this thread, which has nothing else to do until the first
    answer; then the caller's own (``while_probing``). Before the first connection they would only have delayed it."""

    def load() -> None:
        if preparing is not None:
            preparing.start()
        from . import checks  # noqa: F401

        if caller is not None:
            caller()

    return load


class _Preparation:
    """The judges' work that does not wait for the evidence, in a thread of its own while the probes wait: import
    ``cryptography`` (25-40 ms of CPU) and what its first signature check loads, parse each option set's
    --origin-ca/--origin-cert, read each client certificate's notAfter. :meth:`parsed` joins it before judging;
    whatever it did not get to, or raised on, is done there as before (the same error where it always was)."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self._plans = plans
        self._parsed: dict[int, tuple[Any, Any]] = {}  # by option set's identity, as in _resolve
        self._thread = threading.Thread(target=self._run, name="prepare-certificates", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from . import certs

        with contextlib.suppress(Exception):
            certs.warm_up()
            for plan in self._plans:
                options = plan.options
                has_pins = options.origin_ca_pem is not None or options.origin_cert_pem is not None
                if has_pins and id(options) not in self._parsed:
                    self._parsed[id(options)] = _parsed_certificates(options)
                if options.client_cert_pem is not None:
                    _client_not_after(options.client_cert_pem)

    def parsed(self) -> dict[int, tuple[Any, Any]]:
        if self._thread.ident is not None:  # started: the probes did
            self._thread.join()
        return self._parsed


def verify(
    targets: Sequence[Target],
    baseline: Baseline,
    options: VerifyOptions,
    *,
    api_token: str | None = None,
    api_transport: httpx.BaseTransport | None = None,
    progress: Callable[[int, int], None] | None = None,
    while_probing: Callable[[], None] | None = None,
) -> Report:
    """Probe every target and read every zone, all at once; return every check of every target.

    ``baseline`` and ``options`` are the run's; a target's own (``Target.baseline``/``Target.options``) win. The
    run-level fields of ``options`` (timeout, deadline, concurrency) are the run's alone. Each probe ends within
    ``timeout`` and by the run's ``deadline``; what has not finished by the deadline is ``inconclusive`` ("deadline
    reached") and the report is complete all the same. Each distinct ``(api_url, zone_id)`` is read once, whatever
    the number of its targets. ``progress(done, total)`` is called (in this thread) as targets' probes finish;
    ``while_probing()`` once, in this thread, when every probe has started: work of the caller's own for the time
    they wait on the network (the command line loads what writes its report).

    Raises :class:`InvalidInput` (before any I/O) for unusable options; never raises for what it observes.
    """
    started = time.monotonic()
    run_deadline = Deadline(started + options.deadline, DEADLINE_REACHED) if options.deadline is not None else None
    plans = _resolve(targets, baseline, options, run_deadline)
    needs_certs = any(p.target.origin is not None or p.options.client_cert_pem is not None for p in plans)
    preparing = _Preparation(plans) if needs_certs else None
    jobs: dict[tuple[str, str], Job] = {}
    for plan in plans:
        for probe in PROBES:
            if probe.wanted(plan):
                jobs[plan.key, probe.name] = Job(probe.yields, partial(probe.run, plan), plan.key)

    zone_jobs, finish_zones = _zone_reads(plans, options, api_token, api_transport)
    jobs.update(zone_jobs)
    per_target: dict[str, int] = dict.fromkeys((plan.key for plan in plans), 0)
    for job in jobs.values():
        if job.target is not None:
            per_target[job.target] += 1
    done_targets = 0

    def finished(job: Job) -> None:
        nonlocal done_targets
        if job.target is None or progress is None:
            return
        per_target[job.target] -= 1
        if per_target[job.target] == 0:
            done_targets += 1
            progress(done_targets, len(plans))

    outcomes: dict[tuple[str, str], Any] = {}
    try:
        outcomes = run_all(
            jobs,
            max_workers=options.concurrency,
            run_deadline=run_deadline,
            finished=finished,
            started=_load_while_probing(preparing, while_probing),
        )
    finally:
        zone_facts = finish_zones(outcomes)  # also closes the API clients
    if progress is not None and done_targets < len(plans):
        progress(len(plans), len(plans))  # the run's deadline overtook some: they are done, as inconclusive
    by_target: dict[str, dict[str, Any]] = {plan.key: {} for plan in plans}
    for (key, name), value in outcomes.items():
        if key in by_target:
            by_target[key][name] = value
    reports = []
    certificates = preparing.parsed() if preparing is not None else {}
    for plan in plans:
        evidence = by_target[plan.key]
        zone = zone_facts.get((plan.options.api_url, plan.options.zone_id or ""))
        if zone is not None:
            evidence["zone"] = zone
        reports.append(_judge_target(*_with_certificates(plan, evidence, certificates)))
    from .report import Report

    return Report(tuple(reports))


def _with_certificates(
    plan: Plan, evidence: dict[str, Any], parsed: dict[int, tuple[Any, Any]]
) -> tuple[Plan, dict[str, Any]]:
    """The plan with its --origin-ca/--origin-cert parsed for the judge (once per option set); one cryptography
    cannot parse makes origin.certificate inconclusive rather than judged against the default roots."""
    options = plan.options
    if options.origin_ca_pem is None and options.origin_cert_pem is None:
        return plan, evidence
    if id(options) not in parsed:
        parsed[id(options)] = _parsed_certificates(options)
    trusted, expected = parsed[id(options)]
    unparsed = next((v for v in (trusted, expected) if isinstance(v, Failure)), None)
    if unparsed is not None:
        return plan, {**evidence, "origin.certificate": unparsed}
    return plan.with_certificates(trusted, expected), evidence


def _zone_reads(
    plans: Sequence[Plan],
    options: VerifyOptions,
    api_token: str | None,
    api_transport: httpx.BaseTransport | None,
) -> tuple[dict[tuple[str, str], Job], Callable[[Mapping[tuple[str, str], Any]], dict[tuple[str, str], Any]]]:
    """The zone-read jobs (one per distinct (api_url, zone_id) and fact key: the union of what the zone's targets
    need) and the function that turns their outcomes into ZoneFacts per zone, closing the API clients."""
    zones: dict[tuple[str, str], list[Plan]] = {}
    for plan in plans:
        if plan.options.zone_id is not None:
            zones.setdefault((plan.options.api_url, plan.options.zone_id), []).append(plan)
    if not zones:
        return {}, lambda outcomes: {}
    from .cloudflare import CloudflareClient, RateBudget
    from .zone import ZoneFacts, read_zone_fact, zone_fact_keys

    zone_keys: dict[tuple[str, str], list[str]] = {}
    for zone, members in zones.items():
        keys: dict[str, None] = {}
        for plan in members:
            certificate = plan.options.client_cert_pem is not None  # zone.aop_certificate reads every AOP level
            keys.update(dict.fromkeys(zone_fact_keys(plan.baseline, [plan.hostname], aop_certificate=certificate)))
        zone_keys[zone] = list(keys)
    clients: dict[str, CloudflareClient] = {}
    jobs: dict[tuple[str, str], Job] = {}
    budget = RateBudget()  # one per run, shared by every client: Cloudflare limits the token (issue 10)
    if api_token:
        for api_url, zone_id in zone_keys:
            if api_url not in clients:
                clients[api_url] = CloudflareClient(
                    api_token,
                    base_url=api_url,
                    timeout=options.timeout,
                    transport=api_transport,
                    max_retries=2,
                    rate_budget=budget,
                )
            for fact in zone_keys[api_url, zone_id]:
                read = partial(read_zone_fact, clients[api_url], zone_id, fact)
                jobs[f"zone:{api_url}:{zone_id}", fact] = Job((fact,), _as_evidence(fact, read), None)

    def facts(outcomes: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
        for client in clients.values():
            client.close()
        # Without a token every read "failed" the same way: the zone judges turn that into inconclusive checks.
        found = {}
        for (api_url, zone_id), keys_of_zone in zone_keys.items():
            read = {k: outcomes.get((f"zone:{api_url}:{zone_id}", k), Failure(NO_TOKEN)) for k in keys_of_zone}
            found[api_url, zone_id] = ZoneFacts(
                values={k: v for k, v in read.items() if not isinstance(v, Failure)},
                errors={k: v.message for k, v in read.items() if isinstance(v, Failure)},
            )
        return found

    return jobs, facts


def _as_evidence(name: str, read: Callable[[], Any]) -> Callable[[], Mapping[str, Any]]:
    return lambda: {name: read()}


def _judge_target(plan: Plan, evidence: Mapping[str, Any]) -> TargetReport:
    from .checks import CHECKS  # loaded while the probes waited (_load_while_probing)
    from .report import Check, Status, TargetReport

    checks = []
    for spec in CHECKS:
        why = spec.skip(plan)
        if why is not None:
            checks.append(Check(spec.id, Status.SKIPPED, detail=why))
            continue
        failure = next((evidence[n] for n in spec.needs(plan) if isinstance(evidence.get(n), Failure)), None)
        if failure is not None:
            checks.append(Check(spec.id, Status.INCONCLUSIVE, observed=failure.observed, detail=failure.message))
            continue
        checks.append(_judged(spec, plan, evidence))
    target = plan.target
    origin = str(target.origin) if target.origin is not None else None
    return TargetReport(
        target.hostname,
        tuple(checks),
        zone_id=plan.options.zone_id,
        origin=origin,
        certificate_expiry=_certificate_expiry(plan, evidence),
    )


def _judged(spec: CheckSpec, plan: Plan, evidence: Mapping[str, Any]) -> Check:
    """The judge's verdict; a judge that raises (our bug: judges record failures as data) costs its own check, as
    ``inconclusive`` naming it, never the run or the other checks."""
    try:
        return spec.judge(plan, evidence)
    except Exception as exc:
        from .report import Check, Status

        return Check(spec.id, Status.INCONCLUSIVE, observed="judge error", detail=f"{spec.id}: {describe(exc)}")


def _certificate_expiry(plan: Plan, evidence: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """When the certificates seen expire: the one the origin served (from the pull's handshake) and the client's."""
    served = evidence.get("origin.certificate")
    der = served.certificate_der if isinstance(served, probes.CertificateFetch) else None
    expiry = []
    if der is not None:
        from . import certs  # already imported by the origin.certificate judge

        # Unparseable: origin.certificate says so; there is no date to monitor.
        with contextlib.suppress(certs.UnreadableCertificate):
            expiry.append(("origin", certs.load_peer_certificate(der).not_valid_after_utc.timestamp()))
    if plan.options.client_cert_pem is not None:
        expiry.append(("client", _client_not_after(plan.options.client_cert_pem)))
    return tuple(expiry)


@functools.lru_cache(maxsize=64)
def _client_not_after(cert_pem: str) -> float:
    """The client certificate's notAfter, parsed once per certificate (a fleet shares a few). Certificate text
    only, never the key."""
    from . import certs

    return certs.load_pem_certificates(cert_pem, field_name="client_cert")[0].not_valid_after_utc.timestamp()
