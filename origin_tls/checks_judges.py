"""The judges: facts in, :class:`~origin_tls.report.Check` out. Pure functions, no I/O.

Each takes what a probe (``origin_tls.probes``) or the API (``origin_tls.zone``) observed and the baseline, and
says pass, fail or inconclusive, with ``expected``/``observed`` a user can read. Which judge runs for which check,
on which evidence, is the table in :mod:`origin_tls.checks`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import probes
from .baseline import Baseline, TlsVersion
from .hsts import judge_hsts
from .report import Check, Status

if TYPE_CHECKING:
    from .pq import PqResult

__all__ = [
    "CLOUDFLARE_ORIGIN_ERRORS",
    "judge_edge_certificate",
    "judge_edge_hsts",
    "judge_edge_origin_pull",
    "judge_https_redirect",
    "judge_min_tls_version",
    "judge_origin_aop",
    "judge_origin_aop_client",
    "judge_origin_certificate",
    "judge_origin_min_tls_version",
    "judge_origin_pq_key_agreement",
    "judge_tls_1_3",
]


def _versions(results: Mapping[TlsVersion, probes.VersionResult], versions: Sequence[TlsVersion]) -> str:
    return ", ".join(f"{v.value} {results[v].outcome.value}" for v in versions)


def judge_min_tls_version(
    results: Mapping[TlsVersion, probes.VersionResult], floor: TlsVersion, *, check_id: str = "edge.min_tls_version"
) -> Check:
    """Every version below ``floor`` refused by the server, ``floor`` accepted (``check_id``: the edge's or the
    origin's check, judged alike)."""
    below = floor.below()
    shown = (*below, floor)
    expected = ", ".join([f"{v.value} refused" for v in below] + [f"{floor.value} accepted"])
    observed = _versions(results, shown)
    accepted_below = [v.value for v in below if results[v].outcome is probes.TlsOutcome.ACCEPTED]
    if accepted_below:
        return Check(check_id, Status.FAIL, expected, observed, f"accepts TLS {', '.join(accepted_below)}")
    unproven = [results[v] for v in below if results[v].outcome is not probes.TlsOutcome.REFUSED]
    if unproven:
        # CLIENT_CANNOT_OFFER included: a client that cannot offer TLS 1.0 has proven nothing about the server.
        detail = "; ".join(f"TLS {r.version.value}: {r.outcome.value} ({r.detail})" for r in unproven)
        return Check(check_id, Status.INCONCLUSIVE, expected, observed, detail)
    at_floor = results[floor]
    if at_floor.outcome is probes.TlsOutcome.ACCEPTED:
        return Check(check_id, Status.PASS, expected, observed)
    status = Status.FAIL if at_floor.outcome is probes.TlsOutcome.REFUSED else Status.INCONCLUSIVE
    return Check(check_id, status, expected, observed, f"TLS {floor.value}: {at_floor.detail}")


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


@dataclass(frozen=True)
class _Location:
    scheme: str
    host: str
    port: int | None
    path: str
    has_userinfo: bool


def _parse_location(location: str) -> _Location | None:
    """The parts of a redirect's ``Location`` that decide where it goes; None when it is not a URL
    ``urllib.parse`` can split (``http://[`` raises there, ``https://example.test:a`` raises on ``.port``, as does
    a port past 65535 or a netloc that NFKC normalisation changes). Never raises."""
    try:
        parts = urlsplit(location.strip())
        return _Location(
            parts.scheme.lower(),
            (parts.hostname or "").rstrip(".").lower(),
            parts.port,
            parts.path,
            bool(parts.username),
        )
    except ValueError:
        return None


def _is_https_root(location: _Location, hostname: str) -> bool:
    return (
        location.scheme == "https"
        and location.host == hostname
        and location.port in (None, 443)
        and location.path in ("", "/")
        and not location.has_userinfo
    )


def judge_https_redirect(result: probes.RedirectResult, hostname: str) -> Check:
    expected = f"redirect to https://{hostname}/"
    if not result.reached:
        return Check("edge.https_redirect", Status.INCONCLUSIVE, expected, "no HTTP response", result.detail)
    observed = f"HTTP {result.status}" + (f" -> {result.location}" if result.location else "")
    redirect = result.status in (301, 302, 303, 307, 308)
    location = _parse_location(result.location) if result.location else None
    if redirect and location is not None and _is_https_root(location, hostname):
        return Check("edge.https_redirect", Status.PASS, expected, observed)
    if not redirect:
        detail = "not a redirect"
    elif result.location and location is None:
        detail = "the Location is not a URL (it cannot be split into scheme, host and port)"
    else:
        detail = "redirects somewhere other than the same host over HTTPS"
    return Check("edge.https_redirect", Status.FAIL, expected, observed, detail)


def judge_origin_min_tls_version(results: Mapping[TlsVersion, probes.VersionResult], floor: TlsVersion) -> Check:
    """``origin.min_tls_version``: the origin refuses every version below ``floor`` and accepts ``floor``.

    The version probes present ``--client-cert`` when given; without it, a handshake that the origin aborts after
    a ServerHello selecting the offered version counts as that version accepted (the probe's ``hello_evidence``).
    """
    return judge_min_tls_version(results, floor, check_id="origin.min_tls_version")


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
    from . import certs  # cryptography: imported only where certificates are parsed (issue 12)

    try:
        leaf = certs.load_peer_certificate(fetched.certificate_der, whose="origin's")
    except certs.UnreadableCertificate as exc:
        # Malformed: no edge could validate it either (Full (Strict) fails). An algorithm unknown here: nothing
        # could be checked, which is not a failure of the origin.
        status = Status.INCONCLUSIVE if exc.unsupported else Status.FAIL
        return Check("origin.certificate", status, expected, "unparseable certificate", str(exc))
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


def judge_origin_aop(result: probes.PullResult, authenticated: probes.PullResult | None = None) -> Check:
    """A pull without a client certificate is refused.

    An alert that names the certificate (``CLIENT_AUTH_ALERTS``) or nginx's 400 page is a refusal on its own.
    Another alert is one only with more evidence: the server sent a CertificateRequest in that handshake, and the
    same server accepts ``authenticated``, the pull that presents the authorised client certificate, so the
    certificate is the difference between the two (GnuTLS answers a missing certificate on TLS 1.2 with
    ``decode_error``, tests/README.md). Without that evidence the alert stays inconclusive.
    """
    expected = "a pull without a client certificate is refused"
    if result.outcome is probes.AopOutcome.REFUSED:
        return Check("origin.aop", Status.PASS, expected, f"refused ({result.how})")
    if result.outcome is probes.AopOutcome.ACCEPTED:
        return Check("origin.aop", Status.FAIL, expected, f"accepted ({result.how})", result.detail)
    if result.alert is not None and result.certificate_requested:
        if authenticated is not None and authenticated.outcome is probes.AopOutcome.ACCEPTED:
            observed = (
                f"refused (tls-alert {result.alert} after a CertificateRequest; "
                f"the pull with --client-cert is accepted: {authenticated.how})"
            )
            return Check("origin.aop", Status.PASS, expected, observed)
        why = (
            "no --client-cert given to show that the same server accepts a pull that presents one"
            if authenticated is None
            else f"the pull with --client-cert was not accepted either ({authenticated.outcome.value}: "
            f"{authenticated.detail})"
        )
        detail = f"{result.detail}; the server asked for a client certificate, but {why}"
        return Check("origin.aop", Status.INCONCLUSIVE, expected, result.outcome.value, detail)
    return Check("origin.aop", Status.INCONCLUSIVE, expected, result.outcome.value, result.detail)


def judge_origin_aop_client(
    result: probes.PullResult,
    *,
    client_cert_pem: str | None = None,
    min_days_remaining: int = 0,
    now: dt.datetime | None = None,
) -> Check:
    """A pull with ``--client-cert`` is accepted, and (when ``client_cert_pem`` is given) that certificate stays
    valid ``min_days_remaining`` more days (DESIGN: ``--min-days`` covers the AOP client certificate too)."""
    expected = "a pull with the --client-cert is accepted"
    if client_cert_pem is not None:
        expected += f", and it stays valid {min_days_remaining}+ days"
    if result.outcome is probes.AopOutcome.REFUSED:
        return Check("origin.aop_client", Status.FAIL, expected, f"refused ({result.how})", result.detail)
    if result.outcome is not probes.AopOutcome.ACCEPTED:
        return Check("origin.aop_client", Status.INCONCLUSIVE, expected, result.outcome.value, result.detail)
    observed = f"accepted ({result.how})"
    if client_cert_pem is None:
        return Check("origin.aop_client", Status.PASS, expected, observed)
    from . import certs

    try:
        client = certs.load_pem_certificates(client_cert_pem, field_name="client_cert")[0]
    except ValueError as exc:
        return Check("origin.aop_client", Status.INCONCLUSIVE, expected, observed, f"client certificate: {exc}")
    not_after = client.not_valid_after_utc
    left = not_after - (now or dt.datetime.now(dt.UTC))
    observed += f"; client certificate expires {not_after:%Y-%m-%d}"
    if left < dt.timedelta(days=min_days_remaining):
        days = max(0, left.days)
        detail = f"the client certificate has {days} days left, fewer than --min-days {min_days_remaining}"
        return Check("origin.aop_client", Status.FAIL, expected, observed, detail)
    return Check("origin.aop_client", Status.PASS, expected, observed)


#: Cloudflare's own 5xx answers when the edge cannot get an answer from the origin, named as Cloudflare's
#: documentation names them (developers.cloudflare.com/support/troubleshooting/http-status-codes/
#: cloudflare-5xx-errors/); a 530 carries a 1xxx error in its body ("error code: 1016").
CLOUDFLARE_ORIGIN_ERRORS: Mapping[int, str] = {
    520: "web server returns an unknown error (the origin's answer was empty, unexpected or cut short)",
    521: "web server is down (the origin refused the edge's connection)",
    522: "connection timed out (the edge's TCP connection to the origin did not complete)",
    523: "origin is unreachable (no route to the origin's address)",
    524: "a timeout occurred (the origin took the connection but sent no answer in time)",
    525: "SSL handshake failed (the TLS handshake between the edge and the origin failed, e.g. AOP refused)",
    526: "invalid SSL certificate (Full (Strict): the origin's certificate is not valid for the edge)",
    530: "origin error with a 1xxx code (e.g. 1016 origin DNS error)",
}
_ERROR_CODE = re.compile(rb"error code:? *(1\d{3})", re.IGNORECASE)


def judge_edge_origin_pull(result: probes.HttpsResult) -> Check:
    """``edge.origin_pull``: the edge's answer to ``GET https://HOSTNAME/`` is not a Cloudflare origin error
    (520-526, 530). Any other status passes (even a 502 from the application proves the edge-to-origin hop),
    except the origin's own refusal of the edge's client certificate passed through by the edge (nginx's 400 "The
    SSL certificate error" / "No required SSL certificate was sent", 495, 496): Cloudflare relays an answer the
    origin sent over a completed handshake, and that one says the pull was refused under AOP."""
    expected = "not a Cloudflare origin error (520-526, 530), nor the origin refusing the edge's client certificate"
    if not result.reached or result.status is None:
        return Check("edge.origin_pull", Status.INCONCLUSIVE, expected, "no HTTPS response", result.detail)
    refusal = probes.client_certificate_refusal(result.status, result.body)
    if refusal is not None:
        detail = f"the origin refused the edge's client certificate (Authenticated Origin Pulls): {refusal[1]}"
        return Check("edge.origin_pull", Status.FAIL, expected, f"HTTP {result.status}", detail)
    meaning = CLOUDFLARE_ORIGIN_ERRORS.get(result.status)
    if meaning is None:
        return Check("edge.origin_pull", Status.PASS, expected, f"HTTP {result.status}")
    observed = f"HTTP {result.status}"
    code = _ERROR_CODE.search(result.body)
    if code is not None:
        observed += f" (error {code.group(1).decode()})"
    return Check("edge.origin_pull", Status.FAIL, expected, observed, f"{result.status}: {meaning}")


#: What Cloudflare's own handshake under the zone's ``pqh`` compliance mode asks of the origin (reference §6).
_PQ_EXPECTED = "X25519MLKEM768 selected over TLS 1.3 when offered only it (Cloudflare's pqh handshake)"


def judge_origin_pq_key_agreement(result: PqResult) -> Check:
    """``origin.pq_key_agreement``: pass only when the origin selected X25519MLKEM768 and proved the agreement
    (its Finished verified); a network error is inconclusive; a classical group, an alert or TLS 1.2 fails."""
    # Imported here: the probe's module (and its hand-built TLS) is only needed once the probe has run, which is only
    # with --require-pq; a run without it does not pay ~4 ms of import before its first connection (issue 17).
    from .pq import PqOutcome

    cid = "origin.pq_key_agreement"
    if result.outcome is PqOutcome.NEGOTIATED:
        return Check(cid, Status.PASS, _PQ_EXPECTED, "X25519MLKEM768 over TLS 1.3", result.detail)
    if result.outcome is PqOutcome.ERROR:
        return Check(cid, Status.INCONCLUSIVE, _PQ_EXPECTED, "no answer to judge", result.detail)
    if result.outcome is PqOutcome.CLASSICAL:
        observed = f"{result.group} (classical) selected"
    elif result.outcome is PqOutcome.TLS12_ONLY:
        observed = "TLS 1.2 or lower only"
    elif result.alert is not None:
        observed = f"refused: TLS alert {result.alert}"
    else:
        observed = f"refused after selecting {result.group}" if result.group else "refused"
    return Check(cid, Status.FAIL, _PQ_EXPECTED, observed, result.detail)
