"""Targets + baseline -> a :class:`~origin_tls.report.Report` of checks.

Analysis is kept apart from I/O: ``probes`` and ``cloudflare`` gather facts, the ``judge_*`` functions here turn
facts into :class:`Check` results, and :func:`verify` runs every probe of every target at once (threads: each probe
is a blocking socket with its own timeout, so the wall time of a run is about its slowest probe).

Honesty rules (DESIGN.md): a check that could not be carried out is ``inconclusive``, never ``pass``; a check the
user did not ask for is ``skipped`` and says why; only a server's refusal counts as "refused".
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import certs, probes
from .baseline import Baseline, Endpoint, TlsVersion, parse_timeout
from .cloudflare import DEFAULT_API_URL, CloudflareClient, RateBudget
from .errors import CloudflareError, InvalidInput
from .hsts import judge_hsts
from .report import ZONE_CHECK_IDS, Check, Report, Status, TargetReport
from .zone import ZoneFacts, judge_zone, judge_zone_aop_certificate, read_zone_fact, zone_fact_keys

__all__ = [
    "MAX_WORKERS",
    "NO_TOKEN",
    "Target",
    "VerifyOptions",
    "ZoneFacts",
    "judge_edge_certificate",
    "judge_edge_hsts",
    "judge_https_redirect",
    "judge_min_tls_version",
    "judge_origin_aop",
    "judge_origin_aop_client",
    "judge_origin_certificate",
    "judge_tls_1_3",
    "judge_zone",
    "verify",
]

#: Why the zone checks are inconclusive when --zone-id comes without a token.
NO_TOKEN = "no API token: set CLOUDFLARE_API_TOKEN (needs Zone Settings Read, SSL and Certificates Read)"  # noqa: S105
#: Upper bound on concurrent probes. Each is one socket waiting on a peer, so threads are cheap; the bound keeps
#: 50 targets (about 450 probes) from opening hundreds of sockets at once against one edge.
MAX_WORKERS = 64


@dataclass(frozen=True)
class Target:
    """One hostname to verify, and where to reach it (``None``: resolve the hostname, default ports)."""

    hostname: str
    edge: Endpoint | None = None
    edge_http: Endpoint | None = None
    origin: Endpoint | None = None
    #: This target's own baseline (an inventory's per-target keys); None: the run's.
    baseline: Baseline | None = None
    #: This target's own CAs, client certificate, zone and API (an inventory's per-target keys); None: the run's.
    #: Its run-level fields (timeout, deadline, concurrency) are ignored: those are the run's.
    options: VerifyOptions | None = None

    @property
    def edge_endpoint(self) -> Endpoint:
        return self.edge or Endpoint(self.hostname, 443)

    @property
    def edge_http_endpoint(self) -> Endpoint:
        return self.edge_http or Endpoint(self.edge_endpoint.host, 80)


@dataclass(frozen=True)
class VerifyOptions:
    """Everything besides the baseline that a verification needs. PEM text, not paths (the CLI reads the files)."""

    origin_ca_pem: str | None = None
    origin_cert_pem: str | None = None
    edge_ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = field(default=None, repr=False)
    zone_id: str | None = None
    api_url: str = DEFAULT_API_URL
    #: Run-level: bounds each probe as a whole (connect, handshake, request, the whole answer).
    timeout: float = 5.0
    #: Run-level: bounds the whole run; what has not finished by then is inconclusive ("deadline reached").
    deadline: float | None = None
    #: Run-level: probes in flight at once, across all targets.
    concurrency: int = MAX_WORKERS


# ---------------------------------------------------------------------------------------------------------------
# Judges: facts in, Check out. Pure.


def _versions(results: Mapping[TlsVersion, probes.VersionResult], versions: Sequence[TlsVersion]) -> str:
    return ", ".join(f"{v.value} {results[v].outcome.value}" for v in versions)


def judge_min_tls_version(results: Mapping[TlsVersion, probes.VersionResult], floor: TlsVersion) -> Check:
    """Every version below ``floor`` refused by the server, ``floor`` accepted."""
    below = floor.below()
    shown = (*below, floor)
    expected = ", ".join([f"{v.value} refused" for v in below] + [f"{floor.value} accepted"])
    observed = _versions(results, shown)
    accepted_below = [v.value for v in below if results[v].outcome is probes.TlsOutcome.ACCEPTED]
    if accepted_below:
        return Check(
            "edge.min_tls_version", Status.FAIL, expected, observed, f"accepts TLS {', '.join(accepted_below)}"
        )
    unproven = [results[v] for v in below if results[v].outcome is not probes.TlsOutcome.REFUSED]
    if unproven:
        # CLIENT_CANNOT_OFFER included: a client that cannot offer TLS 1.0 has proven nothing about the server.
        detail = "; ".join(f"TLS {r.version.value}: {r.outcome.value} ({r.detail})" for r in unproven)
        return Check("edge.min_tls_version", Status.INCONCLUSIVE, expected, observed, detail)
    at_floor = results[floor]
    if at_floor.outcome is probes.TlsOutcome.ACCEPTED:
        return Check("edge.min_tls_version", Status.PASS, expected, observed)
    status = Status.FAIL if at_floor.outcome is probes.TlsOutcome.REFUSED else Status.INCONCLUSIVE
    return Check("edge.min_tls_version", status, expected, observed, f"TLS {floor.value}: {at_floor.detail}")


def judge_tls_1_3(result: probes.VersionResult) -> Check:
    observed = f"1.3 {result.outcome.value}"
    if result.outcome is probes.TlsOutcome.ACCEPTED:
        return Check("edge.tls_1_3", Status.PASS, "1.3 accepted", observed)
    status = Status.FAIL if result.outcome is probes.TlsOutcome.REFUSED else Status.INCONCLUSIVE
    return Check("edge.tls_1_3", status, "1.3 accepted", observed, result.detail)


def judge_edge_certificate(result: probes.HttpsResult, hostname: str, *, custom_ca: bool) -> Check:
    expected = f"chains to {'--edge-ca' if custom_ca else 'the system trust store'} and covers {hostname}"
    if result.verified is True:
        return Check("edge.certificate", Status.PASS, expected, "valid for " + hostname)
    if result.verified is False:
        return Check("edge.certificate", Status.FAIL, expected, "not trusted", result.verify_error or result.detail)
    return Check("edge.certificate", Status.INCONCLUSIVE, expected, "no TLS connection", result.detail)


def judge_edge_hsts(result: probes.HttpsResult, baseline: Baseline) -> Check:
    expected = baseline.hsts.header_value() + (" (preload-eligible)" if baseline.hsts.preload else "")
    if not result.reached:
        return Check("edge.hsts", Status.INCONCLUSIVE, expected, "no HTTPS response", result.detail)
    verdict = judge_hsts(result.sts_headers, baseline.hsts)
    return Check(
        "edge.hsts",
        Status.PASS if verdict.ok else Status.FAIL,
        expected,
        verdict.observed,
        "; ".join(verdict.problems),
    )


def _is_https_root(location: str, hostname: str) -> bool:
    parts = urlsplit(location.strip())
    host = (parts.hostname or "").rstrip(".").lower()
    return (
        parts.scheme.lower() == "https"
        and host == hostname
        and parts.port in (None, 443)
        and parts.path in ("", "/")
        and not parts.username
    )


def judge_https_redirect(result: probes.RedirectResult, hostname: str) -> Check:
    expected = f"redirect to https://{hostname}/"
    if not result.reached:
        return Check("edge.https_redirect", Status.INCONCLUSIVE, expected, "no HTTP response", result.detail)
    observed = f"HTTP {result.status}" + (f" -> {result.location}" if result.location else "")
    redirect = result.status in (301, 302, 303, 307, 308)
    if redirect and result.location and _is_https_root(result.location, hostname):
        return Check("edge.https_redirect", Status.PASS, expected, observed)
    detail = "not a redirect" if not redirect else "redirects somewhere other than the same host over HTTPS"
    return Check("edge.https_redirect", Status.FAIL, expected, observed, detail)


def judge_origin_certificate(
    fetched: probes.CertificateFetch,
    hostname: str,
    *,
    trusted_cas: Sequence[Any] | None,
    expected_cert: Any | None,
    min_days_remaining: int,
) -> Check:
    issuer = "--origin-ca" if trusted_cas is not None else "the Cloudflare Origin CA"
    expected = f"issued by {issuer}, covers {hostname}, valid {min_days_remaining}+ days"
    if expected_cert is not None:
        expected += ", equals --origin-cert"
    if not fetched.reached or fetched.certificate_der is None:
        return Check("origin.certificate", Status.INCONCLUSIVE, expected, "no certificate", fetched.detail)
    try:
        leaf = certs.load_certificate_der(fetched.certificate_der)
    except ValueError as exc:
        return Check("origin.certificate", Status.FAIL, expected, "unparseable certificate", str(exc))
    verdict = certs.judge_origin_certificate(
        leaf,
        hostname=hostname,
        trusted_cas=trusted_cas,
        expected=expected_cert,
        min_days_remaining=min_days_remaining,
    )
    info = verdict.info
    observed = f"issuer {info.issuer}; SANs {', '.join(info.sans) or 'none'}; expires {info.not_after:%Y-%m-%d}"
    detail = "; ".join(verdict.problems if not verdict.ok else verdict.notes)
    return Check("origin.certificate", Status.PASS if verdict.ok else Status.FAIL, expected, observed, detail)


def judge_origin_aop(result: probes.PullResult) -> Check:
    expected = "a pull without a client certificate is refused"
    if result.outcome is probes.AopOutcome.REFUSED:
        return Check("origin.aop", Status.PASS, expected, f"refused ({result.how})")
    if result.outcome is probes.AopOutcome.ACCEPTED:
        return Check("origin.aop", Status.FAIL, expected, f"accepted ({result.how})", result.detail)
    return Check("origin.aop", Status.INCONCLUSIVE, expected, result.outcome.value, result.detail)


def judge_origin_aop_client(result: probes.PullResult) -> Check:
    expected = "a pull with the --client-cert is accepted"
    if result.outcome is probes.AopOutcome.ACCEPTED:
        return Check("origin.aop_client", Status.PASS, expected, f"accepted ({result.how})")
    if result.outcome is probes.AopOutcome.REFUSED:
        return Check("origin.aop_client", Status.FAIL, expected, f"refused ({result.how})", result.detail)
    return Check("origin.aop_client", Status.INCONCLUSIVE, expected, result.outcome.value, result.detail)


# ---------------------------------------------------------------------------------------------------------------


def _skipped(check_id: str, why: str) -> Check:
    return Check(check_id, Status.SKIPPED, detail=why)


def _validate_options(options: VerifyOptions) -> tuple[Any, Any]:
    trusted = None
    if options.origin_ca_pem is not None:
        trusted = certs.load_pem_certificates(options.origin_ca_pem, field_name="origin_ca")
    expected = None
    if options.origin_cert_pem is not None:
        expected = certs.load_pem_certificates(options.origin_cert_pem, field_name="origin_cert")[0]
    if options.edge_ca_pem is not None:
        certs.load_pem_certificates(options.edge_ca_pem, field_name="edge_ca")
    if (options.client_cert_pem is None) != (options.client_key_pem is None):
        raise InvalidInput("client_cert", "<one of certificate/key>", "given together with client_key")
    return trusted, expected


@dataclass(frozen=True)
class _Resolved:
    """One target with the run's baseline and options filled in where it has none of its own."""

    key: str  # by position, not hostname: one hostname may be verified at two edges in one run
    target: Target
    baseline: Baseline
    options: VerifyOptions
    trusted: Sequence[Any] | None
    expected_cert: Any | None


def _resolve(targets: Sequence[Target], baseline: Baseline, options: VerifyOptions) -> list[_Resolved]:
    if not targets:
        raise InvalidInput("targets", [], "at least one hostname")
    parse_timeout(options.timeout)
    if options.deadline is not None:
        parse_timeout(options.deadline, field_name="deadline")
    if isinstance(options.concurrency, bool) or not isinstance(options.concurrency, int) or options.concurrency < 1:
        raise InvalidInput("concurrency", options.concurrency, "a whole number of at least 1")
    checked: dict[int, tuple[Any, Any]] = {}  # by identity: a fleet shares a few option sets between many targets
    resolved = []
    for index, target in enumerate(targets):
        own = target.options or options
        if id(own) not in checked:
            checked[id(own)] = _validate_options(own)
        trusted, expected = checked[id(own)]
        resolved.append(_Resolved(f"target{index}", target, target.baseline or baseline, own, trusted, expected))
    return resolved


def verify(
    targets: Sequence[Target],
    baseline: Baseline,
    options: VerifyOptions,
    *,
    api_token: str | None = None,
    api_transport: httpx.BaseTransport | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Probe every target and read every zone, all at once; return every check of every target.

    ``baseline`` and ``options`` are the run's; a target's own (``Target.baseline``/``Target.options``) win. The
    run-level fields of ``options`` (timeout, deadline, concurrency) are the run's alone. Each distinct
    ``(api_url, zone_id)`` is read once, whatever the number of its targets. ``progress(done, total)`` is called as
    targets finish (counted by their probes; the zone reads are shared).

    Raises :class:`InvalidInput` (before any I/O) for unusable options; never raises for what it observes.
    """
    resolved = _resolve(targets, baseline, options)
    timeout = options.timeout
    jobs: dict[tuple[str, str], Callable[[], Any]] = {}
    for item in resolved:
        jobs.update(_probe_jobs(item.key, item.target, item.baseline, item.options, timeout))

    # One read per distinct (api_url, zone_id) and fact key: the union of what the zone's targets need.
    zones: dict[tuple[str, str], list[_Resolved]] = {}
    for item in resolved:
        if item.options.zone_id is not None:
            zones.setdefault((item.options.api_url, item.options.zone_id), []).append(item)
    zone_keys: dict[tuple[str, str], list[str]] = {}
    for zone, members in zones.items():
        keys: dict[str, None] = {}
        for item in members:
            certificate = item.options.client_cert_pem is not None  # zone.aop_certificate reads every AOP level
            keys.update(
                dict.fromkeys(zone_fact_keys(item.baseline, [item.target.hostname], aop_certificate=certificate))
            )
        zone_keys[zone] = list(keys)
    clients: dict[str, CloudflareClient] = {}
    budget = RateBudget()  # one per run, shared by every client: Cloudflare limits the token (issue 10)
    if api_token:
        for api_url, zone_id in zone_keys:
            if api_url not in clients:
                clients[api_url] = CloudflareClient(
                    api_token,
                    base_url=api_url,
                    timeout=timeout,
                    transport=api_transport,
                    max_retries=2,
                    rate_budget=budget,
                )
            for fact in zone_keys[api_url, zone_id]:
                jobs[f"zone:{api_url}:{zone_id}", fact] = partial(read_zone_fact, clients[api_url], zone_id, fact)

    try:
        outcomes = _run_all(jobs, max_workers=options.concurrency)
    finally:
        for client in clients.values():
            client.close()

    # Without a token every read "failed" the same way: the zone judges turn that into inconclusive checks.
    facts: dict[tuple[str, str], ZoneFacts] = {}
    for (api_url, zone_id), keys_of_zone in zone_keys.items():
        read = {key: outcomes.get((f"zone:{api_url}:{zone_id}", key), _Failure(NO_TOKEN)) for key in keys_of_zone}
        facts[api_url, zone_id] = ZoneFacts(
            values={key: value for key, value in read.items() if not isinstance(value, _Failure)},
            errors={key: value.message for key, value in read.items() if isinstance(value, _Failure)},
        )
    reports = []
    for done, item in enumerate(resolved, start=1):
        zone_facts = facts.get((item.options.api_url, item.options.zone_id or ""))
        reports.append(_judge_target(item, outcomes, zone_facts))
        if progress is not None:
            progress(done, len(resolved))
    return Report(tuple(reports))


def _judge_target(item: _Resolved, outcomes: Mapping[tuple[str, str], Any], facts: ZoneFacts | None) -> TargetReport:
    key, target, baseline, options = item.key, item.target, item.baseline, item.options
    host = target.hostname

    def got(name: str) -> Any:
        return outcomes[key, name]

    versions = {v: got(f"tls{v.value}") for v in TlsVersion if (key, f"tls{v.value}") in outcomes}
    broken = next((r for r in versions.values() if isinstance(r, _Failure)), None)
    custom_edge_ca = options.edge_ca_pem is not None
    checks = [
        _judged("edge.min_tls_version", broken or versions, lambda r: judge_min_tls_version(r, baseline.min_tls)),
        _judged("edge.tls_1_3", versions[TlsVersion.TLS_1_3], judge_tls_1_3),
        _judged("edge.certificate", got("https"), lambda r: judge_edge_certificate(r, host, custom_ca=custom_edge_ca)),
        _judged("edge.hsts", got("https"), lambda r: judge_edge_hsts(r, baseline)),
        _judged("edge.https_redirect", got("redirect"), lambda r: judge_https_redirect(r, host)),
    ]
    if target.origin is None:
        checks += [_skipped(cid, "no --origin given") for cid in ("origin.certificate", "origin.aop")]
    else:
        checks.append(
            _judged(
                "origin.certificate",
                got("origin_cert"),
                lambda r: judge_origin_certificate(
                    r,
                    host,
                    trusted_cas=item.trusted,
                    expected_cert=item.expected_cert,
                    min_days_remaining=baseline.min_days_remaining,
                ),
            )
        )
        checks.append(
            _judged("origin.aop", got("pull"), judge_origin_aop)
            if baseline.aop_required
            else _skipped("origin.aop", "--no-aop given")
        )
    if target.origin is None or options.client_cert_pem is None:
        why = "no --origin given" if target.origin is None else "no --client-cert given"
        checks.append(_skipped("origin.aop_client", why))
    else:
        checks.append(_judged("origin.aop_client", got("pull_client"), judge_origin_aop_client))
    if facts is None:
        zone_ids = dict.fromkeys((*ZONE_CHECK_IDS, "zone.aop_certificate"))  # until report.py lists the new id
        checks += [_skipped(cid, "no --zone-id given") for cid in zone_ids]
    else:
        checks += judge_zone(facts, baseline, host)
        checks.append(judge_zone_aop_certificate(facts, baseline, host, client_cert_pem=options.client_cert_pem))
    origin = str(target.origin) if target.origin is not None else None
    return TargetReport(host, tuple(checks), zone_id=options.zone_id, origin=origin)


@dataclass(frozen=True)
class _Failure:
    """A job that raised: zone reads raise CloudflareError by design; a probe raising would be our bug."""

    message: str


def _probe_jobs(
    key: str, target: Target, baseline: Baseline, options: VerifyOptions, timeout: float
) -> dict[tuple[str, str], Callable[[], Any]]:
    """Every probe one target needs, keyed by (target key, probe name); nothing runs yet."""
    host, edge = target.hostname, target.edge_endpoint
    jobs: dict[tuple[str, str], Callable[[], Any]] = {}
    for version in TlsVersion:
        if version.rank <= baseline.min_tls.rank or version is TlsVersion.TLS_1_3:
            jobs[key, f"tls{version.value}"] = partial(probes.probe_tls_version, edge, host, version, timeout=timeout)
    jobs[key, "https"] = partial(probes.probe_https, edge, host, ca_pem=options.edge_ca_pem, timeout=timeout)
    jobs[key, "redirect"] = partial(probes.probe_http_redirect, target.edge_http_endpoint, host, timeout=timeout)
    if target.origin is not None:
        origin = target.origin
        jobs[key, "origin_cert"] = partial(probes.fetch_certificate, origin, host, timeout=timeout)
        if baseline.aop_required:
            jobs[key, "pull"] = partial(probes.probe_origin_pull, origin, host, timeout=timeout)
        if options.client_cert_pem is not None:
            jobs[key, "pull_client"] = partial(
                probes.probe_origin_pull,
                origin,
                host,
                client_cert_pem=options.client_cert_pem,
                client_key_pem=options.client_key_pem,
                timeout=timeout,
            )
    return jobs


def _judged(check_id: str, outcome: Any, judge: Callable[[Any], Check]) -> Check:
    if isinstance(outcome, _Failure):
        return Check(check_id, Status.INCONCLUSIVE, observed="probe error", detail=outcome.message)
    return judge(outcome)


def _describe(exc: BaseException) -> str:
    # CloudflareError messages are built without the token. Anything else is a bug of ours, told by its type only:
    # its text might quote what it was handed (a PEM, a header).
    if isinstance(exc, CloudflareError):
        return str(exc)
    return f"unexpected {type(exc).__name__} (a bug in origin-tls: please report it)"


def _run_all(jobs: Mapping[tuple[str, str], Callable[[], Any]], *, max_workers: int) -> dict[tuple[str, str], Any]:
    """Run every job concurrently. A job that raises becomes a ``_Failure`` (zone reads raise; probes should not)."""
    results: dict[tuple[str, str], Any] = {}
    if not jobs:
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(max_workers, len(jobs))) as pool:
        futures = {pool.submit(job): key for key, job in jobs.items()}
        for future in concurrent.futures.as_completed(futures):
            key = futures[future]
            try:
                results[key] = future.result()
            except Exception as exc:  # recorded as data, judged inconclusive
                results[key] = _Failure(_describe(exc))
    return results
