"""Policy pack configuration: the keys, their JSON schemas and defaults, and their validation.

The Pulumi CLI validates ``--policy-pack-config`` against the schemas and fills their ``default`` before it calls
``Configure``; the SDK does neither, and a policy sees ``{}`` when no config was sent
(``reference/pulumi-without-cli.md`` §5). So every default is restated here and every value is validated again with
the baseline's own parsers: a bad value is refused with :class:`~origin_tls.errors.InvalidInput` naming the key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..baseline import (
    DEFAULT_HSTS_MAX_AGE,
    MAX_HSTS_MAX_AGE,
    ORIGIN_CA_VALIDITY_DAYS,
    AopMode,
    Baseline,
    HstsPolicy,
    PostQuantum,
    TlsVersion,
    parse_aop_mode,
    parse_hsts_max_age,
    parse_post_quantum,
    parse_tls_version,
    parse_validity_days,
)
from ..errors import InvalidInput

__all__ = [
    "AOP_ANY",
    "CONFIG_AOP_LEVEL",
    "CONFIG_HSTS_MIN_MAX_AGE",
    "CONFIG_HSTS_PRELOAD",
    "CONFIG_KEYS",
    "CONFIG_MAX_VALIDITY_DAYS",
    "CONFIG_MIN_TLS_VERSION",
    "CONFIG_POST_QUANTUM",
    "DEFAULT_MAX_VALIDITY_DAYS",
    "PolicyConfig",
    "config_schema",
    "parse_policy_config",
]

CONFIG_MIN_TLS_VERSION = "minTlsVersion"
CONFIG_HSTS_MIN_MAX_AGE = "hstsMinMaxAge"
CONFIG_HSTS_PRELOAD = "hstsPreload"
CONFIG_AOP_LEVEL = "aopLevel"
CONFIG_MAX_VALIDITY_DAYS = "maxValidityDays"
CONFIG_POST_QUANTUM = "postQuantum"
CONFIG_KEYS: tuple[str, ...] = (
    CONFIG_MIN_TLS_VERSION,
    CONFIG_HSTS_MIN_MAX_AGE,
    CONFIG_HSTS_PRELOAD,
    CONFIG_AOP_LEVEL,
    CONFIG_MAX_VALIDITY_DAYS,
    CONFIG_POST_QUANTUM,
)

#: ``aopLevel`` value meaning "some level of Authenticated Origin Pulls, whichever" (``Baseline.aop is None``).
AOP_ANY = "any"
#: Cloudflare's own default validity for Origin CA certificates (15 years); teams that rotate set it lower.
DEFAULT_MAX_VALIDITY_DAYS = 5475

_SCHEMAS: dict[str, dict[str, Any]] = {
    CONFIG_MIN_TLS_VERSION: {
        "type": "string",
        "enum": [version.value for version in TlsVersion],
        "default": TlsVersion.TLS_1_2.value,
        "description": "Lowest TLS version the edge may accept (zone setting min_tls_version).",
    },
    CONFIG_HSTS_MIN_MAX_AGE: {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_HSTS_MAX_AGE,
        "default": DEFAULT_HSTS_MAX_AGE,
        "description": "Smallest Strict-Transport-Security max-age, in seconds.",
    },
    CONFIG_HSTS_PRELOAD: {
        "type": "boolean",
        "default": False,
        "description": "Require the HSTS preload directive (effectively permanent: opt in deliberately).",
    },
    CONFIG_AOP_LEVEL: {
        "type": "string",
        "enum": [AOP_ANY, *(mode.value for mode in AopMode)],
        "default": AOP_ANY,
        "description": (
            "Authenticated Origin Pulls level required: global makes tls_client_auth=off a violation; off means "
            "AOP is not required; any, zone and hostname require every declared AOP resource to be enabled."
        ),
    },
    CONFIG_MAX_VALIDITY_DAYS: {
        "type": "integer",
        "enum": list(ORIGIN_CA_VALIDITY_DAYS),
        "default": DEFAULT_MAX_VALIDITY_DAYS,
        "description": "Longest Origin CA certificate validity allowed, in days.",
    },
    CONFIG_POST_QUANTUM: {
        "type": "string",
        "enum": [mode.value for mode in PostQuantum],
        "default": PostQuantum.AUTO.value,
        "description": (
            "Post-quantum key agreement to the origin: required makes every zone with baseline TLS settings need an "
            "OriginTlsComplianceModes containing pqh; auto requires nothing more than automatic key exchange."
        ),
    },
}


def config_schema(*keys: str) -> dict[str, dict[str, Any]]:
    """JSON schemas of the given keys (copies), for a policy's ``PolicyConfigSchema(properties=...)``."""
    return {key: dict(_SCHEMAS[key]) for key in keys}


@dataclass(frozen=True)
class PolicyConfig:
    """The validated configuration of one policy. Defaults are the hardened baseline."""

    baseline: Baseline = field(default_factory=Baseline)
    max_validity_days: int = DEFAULT_MAX_VALIDITY_DAYS
    post_quantum: PostQuantum = PostQuantum.AUTO


def _strict_bool(value: object, key: str) -> bool:
    # JSON config: "false" as a string is a mistake to report, not a truthy value to accept.
    if not isinstance(value, bool):
        raise InvalidInput(key, value, "true or false")
    return value


def parse_policy_config(config: Mapping[str, Any] | None, *, keys: Collection[str] = CONFIG_KEYS) -> PolicyConfig:
    """Validate a policy's config (``args.get_config()``). Keys not in ``keys`` are refused: a typo such as
    ``minTLSVersion`` would otherwise silently leave the default in force."""
    values: Mapping[str, Any] = config or {}
    allowed = sorted(keys)
    for key in values:
        if key not in keys:
            raise InvalidInput("policy config key", key, allowed or ["no keys"])
    floor = parse_tls_version(
        values.get(CONFIG_MIN_TLS_VERSION, TlsVersion.TLS_1_2.value), field_name=CONFIG_MIN_TLS_VERSION
    )
    max_age = parse_hsts_max_age(
        values.get(CONFIG_HSTS_MIN_MAX_AGE, DEFAULT_HSTS_MAX_AGE), field_name=CONFIG_HSTS_MIN_MAX_AGE
    )
    preload = _strict_bool(values.get(CONFIG_HSTS_PRELOAD, False), CONFIG_HSTS_PRELOAD)
    if preload and max_age < DEFAULT_HSTS_MAX_AGE:
        raise InvalidInput(
            CONFIG_HSTS_MIN_MAX_AGE, max_age, f"at least {DEFAULT_HSTS_MAX_AGE} when hstsPreload is true"
        )
    aop_text = values.get(CONFIG_AOP_LEVEL, AOP_ANY)
    aop: AopMode | None = None
    if not (isinstance(aop_text, str) and aop_text.strip().lower() == AOP_ANY):
        try:
            aop = parse_aop_mode(aop_text, field_name=CONFIG_AOP_LEVEL)
        except InvalidInput:
            raise InvalidInput(CONFIG_AOP_LEVEL, aop_text, _SCHEMAS[CONFIG_AOP_LEVEL]["enum"]) from None
    validity = parse_validity_days(
        values.get(CONFIG_MAX_VALIDITY_DAYS, DEFAULT_MAX_VALIDITY_DAYS), field_name=CONFIG_MAX_VALIDITY_DAYS
    )
    post_quantum = parse_post_quantum(
        values.get(CONFIG_POST_QUANTUM, PostQuantum.AUTO.value), field_name=CONFIG_POST_QUANTUM
    )
    baseline = Baseline(min_tls=floor, hsts=HstsPolicy(max_age=max_age, preload=preload), aop=aop)
    return PolicyConfig(baseline=baseline, max_validity_days=validity, post_quantum=post_quantum)
