"""The ``zone.*`` checks: the zone's settings read from the Cloudflare API, judged against the baseline.

Facts are read once per zone (:func:`zone_fact_keys`, :func:`read_zone_fact`) and judged per hostname
(:func:`judge_zone`, :func:`judge_zone_aop_certificate`): per-hostname AOP differs between hostnames. A read that
failed makes its check ``inconclusive`` with the API's reason.

Which client certificate Cloudflare presents to the origin for a hostname (Cloudflare docs,
``authenticated-origin-pull``; ``reference/cloudflare.md`` §2.3), the rule :func:`judge_zone_aop_certificate` and the
sandbox edge (``sandbox/state.py``, ``ZoneState.active_client_identity``) both follow:

1. a per-hostname association for the hostname: when enabled, its certificate; when disabled, none at all ("client
   certificate will not be sent to the hostname even if activated at the zone level", openapi, per-hostname PUT);
2. else zone-level AOP enabled: the newest ``active`` zone-level certificate (by ``uploaded_on``);
3. else ``tls_client_auth`` on: Cloudflare's own shared certificate (global AOP); else none.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .baseline import AopMode, Baseline
from .cloudflare import CloudflareClient, parse_expires_on
from .errors import CloudflareError, NotFoundError
from .report import Check, Status

__all__ = [
    "ZONE_SETTING_IDS",
    "ZoneFacts",
    "judge_zone",
    "judge_zone_aop_certificate",
    "judge_zone_origin_pq",
    "judge_zone_setting",
    "read_zone_fact",
    "zone_fact_keys",
]


@dataclass(frozen=True)
class ZoneFacts:
    """What the API said, by setting id; a read that failed holds the error message instead of a value."""

    values: Mapping[str, Any]
    errors: Mapping[str, str]


ZONE_SETTING_IDS: tuple[str, ...] = (
    "ssl",
    "ssl_automatic_mode",
    "min_tls_version",
    "tls_1_3",
    "security_header",
    "always_use_https",
    "tls_client_auth",
)
_ZONE_AOP = "origin_tls_client_auth/settings"
#: The zone-level client certificates (``GET /zones/{id}/origin_tls_client_auth``: status, uploaded_on, expires_on).
_ZONE_CERTS = "origin_tls_client_auth"
_HOSTNAME_PREFIX = "origin_tls_client_auth/hostnames/"
#: Post-quantum key agreement to the origin (reference §6): ``enabled`` of automatic origin key exchange, and the
#: ``value`` list of the compliance modes (read only with --require-pq).
_AUTO_KEX = "auto_origin_tls_kex"
_COMPLIANCE = "origin_tls_compliance_modes"


def _hostname_aop_key(hostname: str) -> str:
    return _HOSTNAME_PREFIX + hostname


def _association_enabled(value: Any) -> bool:
    # The association as read (a dict, None when the hostname has none); True from callers that kept only the flag.
    return value is True or (isinstance(value, dict) and value.get("enabled") is True)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(next(iter(value.values())), dict):
            # security_header's one wrapper key says nothing; show what it wraps.
            return _show(next(iter(value.values())))
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _judge_setting(facts: ZoneFacts, check_id: str, key: str, expected: str, ok: Callable[[Any], bool]) -> Check:
    if key in facts.errors:
        return Check(check_id, Status.INCONCLUSIVE, expected, "not read", facts.errors[key])
    value = facts.values.get(key)
    return Check(check_id, Status.PASS if ok(value) else Status.FAIL, expected, _show(value))


def _hsts_value_ok(value: Any, baseline: Baseline) -> bool:
    sts = value.get("strict_transport_security") if isinstance(value, dict) else None
    if not isinstance(sts, dict):
        return False
    max_age = sts.get("max_age")
    policy = baseline.hsts
    return (
        sts.get("enabled") is True
        and isinstance(max_age, (int, float))
        and max_age >= policy.max_age
        and (sts.get("include_subdomains") is True or not policy.include_subdomains)
        and (sts.get("preload") is True or not policy.preload)
    )


def _aop_levels(facts: ZoneFacts, hostname: str) -> tuple[dict[AopMode, bool], dict[AopMode, str]]:
    on: dict[AopMode, bool] = {}
    unread: dict[AopMode, str] = {}
    for level, key in (
        (AopMode.GLOBAL, "tls_client_auth"),
        (AopMode.ZONE, _ZONE_AOP),
        (AopMode.HOSTNAME, _hostname_aop_key(hostname)),
    ):
        if key in facts.errors:
            unread[level] = facts.errors[key]
        else:
            value = facts.values.get(key)
            if level is AopMode.GLOBAL:
                on[level] = value == "on"
            else:
                on[level] = _association_enabled(value) if level is AopMode.HOSTNAME else value is True
    return on, unread


def _judge_zone_aop(facts: ZoneFacts, baseline: Baseline, hostname: str) -> Check:
    if not baseline.aop_required:
        return Check("zone.aop", Status.SKIPPED, detail="AOP not required (--no-aop)")
    on, unread = _aop_levels(facts, hostname)
    observed = ", ".join(
        [f"{level.value} {'on' if enabled else 'off'}" for level, enabled in on.items()]
        + [f"{level.value} not read" for level in unread]
    )
    wanted = [baseline.aop] if baseline.aop is not None else [AopMode.HOSTNAME, AopMode.ZONE, AopMode.GLOBAL]
    expected = f"{baseline.aop.value} AOP enabled" if baseline.aop is not None else "AOP enabled at some level"
    if any(on.get(level) for level in wanted):
        return Check("zone.aop", Status.PASS, expected, observed)
    missing = [level for level in wanted if level in unread]
    if missing:
        # One reason once (e.g. a missing token), several reasons each with its level.
        reasons = {unread[level] for level in missing}
        detail = reasons.pop() if len(reasons) == 1 else "; ".join(f"{lv.value}: {unread[lv]}" for lv in missing)
        return Check("zone.aop", Status.INCONCLUSIVE, expected, observed, detail)
    return Check("zone.aop", Status.FAIL, expected, observed)


#: One judge per ``zone.*`` setting check, in report order: (facts, baseline, hostname) -> Check.
_SETTING_JUDGES: dict[str, Callable[[ZoneFacts, Baseline, str], Check]] = {
    "zone.ssl": lambda f, b, h: _judge_setting(f, "zone.ssl", "ssl", b.ssl_mode.value, lambda v: v == b.ssl_mode.value),
    "zone.ssl_automatic_mode": lambda f, b, h: _judge_setting(
        f, "zone.ssl_automatic_mode", "ssl_automatic_mode", "custom", lambda v: v == "custom"
    ),
    # Exact: the stack declares a floor, and a higher one would make edge.min_tls_version refuse it.
    "zone.min_tls_version": lambda f, b, h: _judge_setting(
        f, "zone.min_tls_version", "min_tls_version", b.min_tls.value, lambda v: v == b.min_tls.value
    ),
    "zone.tls_1_3": lambda f, b, h: _judge_setting(
        f, "zone.tls_1_3", "tls_1_3", "on (or zrt)", lambda v: v in ("on", "zrt")
    ),
    "zone.security_header": lambda f, b, h: _judge_setting(
        f,
        "zone.security_header",
        "security_header",
        "enabled, " + b.hsts.header_value(),
        lambda v: _hsts_value_ok(v, b),
    ),
    "zone.always_use_https": lambda f, b, h: _judge_setting(
        f, "zone.always_use_https", "always_use_https", "on", lambda v: v == "on"
    ),
    "zone.aop": _judge_zone_aop,
}


def judge_zone_setting(check_id: str, facts: ZoneFacts, baseline: Baseline, hostname: str) -> Check:
    """One ``zone.*`` setting check (any id of :func:`judge_zone`), computing that one alone."""
    return _SETTING_JUDGES[check_id](facts, baseline, hostname)


def judge_zone(facts: ZoneFacts, baseline: Baseline, hostname: str) -> list[Check]:
    """The ``zone.*`` setting checks for one hostname (``zone.aop_certificate`` is its own judge, below)."""
    return [judge(facts, baseline, hostname) for judge in _SETTING_JUDGES.values()]


def read_zone_fact(client: CloudflareClient, zone_id: str, key: str) -> Any:
    """One fact of :func:`zone_fact_keys`: a setting's value, zone-level AOP's ``enabled``, the zone-level
    certificates (a list), or a hostname's association (a dict; ``None`` when the hostname has none)."""
    if key == _ZONE_AOP:
        return client.get_zone_aop_enabled(zone_id)
    if key == _ZONE_CERTS:
        return client.list_zone_aop_certificates(zone_id)
    if key == _AUTO_KEX:
        return client.get_auto_origin_tls_kex(zone_id)
    if key == _COMPLIANCE:
        return client.get_origin_tls_compliance_modes(zone_id)
    if key.startswith(_HOSTNAME_PREFIX):
        # A hostname with no association answers 404: that is "no association". (An unknown zone also answers 404,
        # but then the zone's own settings fail to read too, which keeps zone.aop inconclusive for global.)
        try:
            return client.get_hostname_aop(zone_id, key[len(_HOSTNAME_PREFIX) :])
        except NotFoundError:
            return None
    return client.get_setting(zone_id, key)


def zone_fact_keys(baseline: Baseline, hostnames: Sequence[str], *, aop_certificate: bool = False) -> list[str]:
    """The facts the ``zone.*`` checks of ``hostnames`` need. ``aop_certificate`` (a ``--client-cert`` was given)
    adds what :func:`judge_zone_aop_certificate` needs: every AOP level, since any of them may be the one in force."""
    keys = [*ZONE_SETTING_IDS, _AUTO_KEX]
    if baseline.require_pq:
        keys.append(_COMPLIANCE)
    certificate = aop_certificate and baseline.aop_required
    if certificate or (baseline.aop_required and baseline.aop in (None, AopMode.ZONE)):
        keys.append(_ZONE_AOP)
    if certificate:
        keys.append(_ZONE_CERTS)
    if certificate or (baseline.aop_required and baseline.aop in (None, AopMode.HOSTNAME)):
        keys += [_hostname_aop_key(h) for h in hostnames]
    return keys


# ---------------------------------------------------------------------------------------------------------------
# zone.origin_pq


def judge_zone_origin_pq(facts: ZoneFacts, baseline: Baseline) -> Check:
    """``zone.origin_pq``: automatic origin key exchange is on (``auto_origin_tls_kex`` ``enabled``) and, with
    ``baseline.require_pq``, the zone enforces post-quantum key agreement (``origin_tls_compliance_modes``
    contains ``pqh``). A setting that could not be read leaves it inconclusive unless the other one already fails."""
    cid = "zone.origin_pq"
    expected = "automatic origin key exchange on" + (", compliance modes include pqh" if baseline.require_pq else "")
    observed: list[str] = []
    problems: list[str] = []
    unread: list[str] = []
    if _AUTO_KEX in facts.errors:
        observed.append(f"{_AUTO_KEX} not read")
        unread.append(f"{_AUTO_KEX}: {facts.errors[_AUTO_KEX]}")
    elif facts.values.get(_AUTO_KEX) is True:
        observed.append(f"{_AUTO_KEX} enabled")
    else:
        observed.append(f"{_AUTO_KEX} disabled")
        problems.append(
            "automatic origin key exchange is off: Cloudflare offers no origin of this zone post-quantum key "
            "agreement (turn auto_origin_tls_kex on, Cloudflare's default since 2026-07-21)"
        )
    if baseline.require_pq:
        if _COMPLIANCE in facts.errors:
            observed.append(f"{_COMPLIANCE} not read")
            unread.append(f"{_COMPLIANCE}: {facts.errors[_COMPLIANCE]}")
        else:
            modes = facts.values.get(_COMPLIANCE) or []
            observed.append(f"compliance modes [{', '.join(str(m) for m in modes)}]")
            if "pqh" not in modes:
                problems.append(
                    "the zone does not require it: without pqh in origin_tls_compliance_modes Cloudflare falls back "
                    "to a classical group with any origin that does not offer ML-KEM, so a recorded second hop stays "
                    "open to later decryption (add pqh once origin.pq_key_agreement passes for every origin of the "
                    "zone: an origin without ML-KEM then gets a 525)"
                )
    shown = ", ".join(observed)
    if problems:
        return Check(cid, Status.FAIL, expected, shown, "; ".join(problems))
    if unread:
        reasons = {reason.split(": ", 1)[1] for reason in unread}
        return Check(
            cid, Status.INCONCLUSIVE, expected, shown, reasons.pop() if len(reasons) == 1 else "; ".join(unread)
        )
    return Check(cid, Status.PASS, expected, shown)


# ---------------------------------------------------------------------------------------------------------------
# zone.aop_certificate


@dataclass(frozen=True)
class _Presented:
    """The certificate Cloudflare presents for a hostname, as the API describes it."""

    level: str
    record: Mapping[str, Any]
    statuses: tuple[str, ...]


def _uploaded(record: Mapping[str, Any]) -> dt.datetime:
    try:
        return parse_expires_on(record.get("uploaded_on"))  # type: ignore[arg-type]
    except CloudflareError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)  # unknown upload time: never "the newest"


def _unread(facts: ZoneFacts, key: str) -> Check | None:
    if key in facts.errors:
        return Check("zone.aop_certificate", Status.INCONCLUSIVE, observed="not read", detail=facts.errors[key])
    return None


def _presented(facts: ZoneFacts, hostname: str) -> _Presented | Check:
    """Rule 1-3 of the module doc. A :class:`Check` when the answer is already known (skipped, fail, inconclusive)."""
    cid = "zone.aop_certificate"
    unread = _unread(facts, _hostname_aop_key(hostname))
    if unread is not None:
        return unread
    association = facts.values.get(_hostname_aop_key(hostname))
    if isinstance(association, dict):
        if association.get("enabled") is not True:
            return Check(
                cid,
                Status.FAIL,
                observed=f"per-hostname AOP disabled for {hostname}: no client certificate is sent",
                detail="a disabled association sends no client certificate, even with zone-level AOP on (openapi)",
            )
        statuses = tuple(str(association[k]) for k in ("status", "cert_status") if association.get(k) is not None)
        return _Presented("per-hostname", association, statuses)
    unread = _unread(facts, _ZONE_AOP)
    if unread is not None:
        return unread
    if facts.values.get(_ZONE_AOP) is True:
        unread = _unread(facts, _ZONE_CERTS)
        if unread is not None:
            return unread
        listed = facts.values.get(_ZONE_CERTS)
        records = [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []
        active = [r for r in records if r.get("status") == "active"]
        if not active:
            seen = ", ".join(str(r.get("status")) for r in records) or "none uploaded"
            return Check(
                cid,
                Status.FAIL,
                observed=f"zone-level AOP enabled, no active zone-level certificate ({seen})",
                detail="Cloudflare has no zone-level certificate to present: "
                + (
                    "it falls back to its global certificate"
                    if facts.values.get("tls_client_auth") == "on"
                    else "it sends none"
                ),
            )
        newest = max(active, key=_uploaded)
        return _Presented("zone-level", newest, ("active",))
    unread = _unread(facts, "tls_client_auth")
    if unread is not None:
        return unread
    if facts.values.get("tls_client_auth") == "on":
        return Check(
            cid,
            Status.SKIPPED,
            observed="global AOP",
            detail="global AOP: Cloudflare presents its own shared certificate, not one of ours",
        )
    return Check(cid, Status.FAIL, observed="AOP off at every level: Cloudflare presents no client certificate")


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def judge_zone_aop_certificate(
    facts: ZoneFacts,
    baseline: Baseline,
    hostname: str,
    *,
    client_cert_pem: str | None,
    now: dt.datetime | None = None,
) -> Check:
    """``zone.aop_certificate``: the client certificate Cloudflare presents for ``hostname`` (module doc) has the
    public key of ``client_cert_pem``, is ``active``, and stays valid ``baseline.min_days_remaining`` more days.

    ``skipped`` with ``--no-aop``, without a client certificate, and for global AOP (Cloudflare's own certificate);
    ``inconclusive`` when a read it needs failed or the API's answer carries no readable certificate. Pure: ``now``
    (default: the current time) is the seam for tests.
    """
    cid = "zone.aop_certificate"
    days = baseline.min_days_remaining
    if not baseline.aop_required:
        return Check(cid, Status.SKIPPED, detail="AOP not required (--no-aop)")
    if client_cert_pem is None:
        return Check(cid, Status.SKIPPED, detail="no --client-cert given")
    expected = f"Cloudflare presents the --client-cert key for {hostname}, active, valid {days}+ days"
    found = _presented(facts, hostname)
    if isinstance(found, Check):
        return Check(cid, found.status, expected, found.observed, found.detail)
    try:
        ours = x509.load_pem_x509_certificate(client_cert_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return Check(cid, Status.INCONCLUSIVE, expected, "--client-cert unreadable", "not a PEM certificate")
    record = found.record
    try:
        theirs = x509.load_pem_x509_certificate(str(record.get("certificate", "")).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        detail = f"the API's {found.level} record carries no readable certificate"
        return Check(cid, Status.INCONCLUSIVE, expected, f"{found.level} certificate unknown", detail)
    try:
        expires = parse_expires_on(record.get("expires_on"))  # type: ignore[arg-type]
    except CloudflareError:
        expires = theirs.not_valid_after_utc  # the API did not say: the certificate itself does
    moment = now or dt.datetime.now(dt.timezone.utc)
    same_key = hmac.compare_digest(_spki(ours), _spki(theirs))
    status = "/".join(dict.fromkeys(found.statuses)) or "no status"
    name = f"{found.level} certificate {record.get('cert_id') or record.get('id') or '?'}"
    observed = (
        f"{name}: {status}, expires {expires:%Y-%m-%d}, key {'matches' if same_key else 'differs from'} --client-cert"
    )
    problems = []
    if not same_key:
        problems.append(f"Cloudflare presents a certificate with another key (issuer {theirs.issuer.rfc4514_string()})")
    if not found.statuses or any(s != "active" for s in found.statuses):
        problems.append(f"the certificate is {status}, not active")
    if expires - moment < dt.timedelta(days=days):
        left = (expires - moment).days
        problems.append(f"it expires in {left} days, under the {days} required" if left >= 0 else "it has expired")
    return Check(cid, Status.FAIL if problems else Status.PASS, expected, observed, "; ".join(problems))
