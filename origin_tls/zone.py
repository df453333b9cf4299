"""The ``zone.*`` checks: the zone's settings read from the Cloudflare API, judged against the baseline.

Settings are read once per zone (:func:`zone_read_jobs`) and judged per hostname (:func:`judge_zone`): per-hostname
AOP differs between hostnames. A read that failed makes its check ``inconclusive`` with the API's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .baseline import AopMode, Baseline
from .cloudflare import CloudflareClient
from .errors import NotFoundError
from .report import Check, Status

__all__ = ["ZONE_SETTING_IDS", "ZoneFacts", "judge_zone", "read_zone_fact", "zone_fact_keys"]


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


def _hostname_aop_key(hostname: str) -> str:
    return f"origin_tls_client_auth/hostnames/{hostname}"


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
            on[level] = value == "on" if level is AopMode.GLOBAL else value is True
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


def judge_zone(facts: ZoneFacts, baseline: Baseline, hostname: str) -> list[Check]:
    """The ``zone.*`` checks for one hostname."""
    floor = baseline.min_tls.value
    return [
        _judge_setting(facts, "zone.ssl", "ssl", baseline.ssl_mode.value, lambda v: v == baseline.ssl_mode.value),
        _judge_setting(facts, "zone.ssl_automatic_mode", "ssl_automatic_mode", "custom", lambda v: v == "custom"),
        # Exact: the stack declares a floor, and a higher one would make edge.min_tls_version refuse it.
        _judge_setting(facts, "zone.min_tls_version", "min_tls_version", floor, lambda v: v == floor),
        _judge_setting(facts, "zone.tls_1_3", "tls_1_3", "on (or zrt)", lambda v: v in ("on", "zrt")),
        _judge_setting(
            facts,
            "zone.security_header",
            "security_header",
            "enabled, " + baseline.hsts.header_value(),
            lambda v: _hsts_value_ok(v, baseline),
        ),
        _judge_setting(facts, "zone.always_use_https", "always_use_https", "on", lambda v: v == "on"),
        _judge_zone_aop(facts, baseline, hostname),
    ]


def read_zone_fact(client: CloudflareClient, zone_id: str, key: str) -> Any:
    if key == _ZONE_AOP:
        return client.get_zone_aop_enabled(zone_id)
    prefix = "origin_tls_client_auth/hostnames/"
    if key.startswith(prefix):
        # A hostname with no association answers 404: that is "not enabled". (An unknown zone also answers 404,
        # but then the zone's own settings fail to read too, which keeps zone.aop inconclusive for global.)
        try:
            answer = client.get_hostname_aop(zone_id, key[len(prefix) :])
        except NotFoundError:
            return False
        return answer.get("enabled") is True
    return client.get_setting(zone_id, key)


def zone_fact_keys(baseline: Baseline, hostnames: Sequence[str]) -> list[str]:
    keys = list(ZONE_SETTING_IDS)
    if baseline.aop_required and baseline.aop in (None, AopMode.ZONE):
        keys.append(_ZONE_AOP)
    if baseline.aop_required and baseline.aop in (None, AopMode.HOSTNAME):
        keys += [_hostname_aop_key(h) for h in hostnames]
    return keys
