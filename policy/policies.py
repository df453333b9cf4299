"""The pack's policies: ``pulumi_policy`` wrappers around the pure rules in :mod:`origin_tls.policy`.

Importable without side effects (``__main__.py`` constructs the ``PolicyPack``, which serves forever). Each wrapper
validates its own config, hands the resource's properties to a rule and reports what the rule found; nothing here
decides what is compliant.

Unknown values (preview): validations read properties through the SDK's proxy, which raises ``UnknownValueError``
on a value not known yet; the SDK turns that into an advisory "can't run policy ... during preview" diagnostic,
which is what Pulumi expects and neither a pass nor a guess. Remediations see raw properties, so they check for the
unknown sentinels themselves and leave such a resource alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

from origin_tls.policy import (
    CONFIG_AOP_LEVEL,
    CONFIG_HSTS_MIN_MAX_AGE,
    CONFIG_HSTS_PRELOAD,
    CONFIG_MAX_VALIDITY_DAYS,
    CONFIG_MIN_TLS_VERSION,
    CONFIG_POST_QUANTUM,
    Rule,
    StackResource,
    check_resource,
    check_stack,
    config_schema,
    parse_policy_config,
    remediate_resource,
)

__all__ = ["PACK_DESCRIPTION", "PACK_NAME", "POLICY_SPECS", "PolicySpec", "build_policies"]

PACK_NAME = "origin-tls-baseline"
PACK_DESCRIPTION = (
    "Cloudflare edge-to-origin baseline: Full (Strict) SSL, a TLS floor, TLS 1.3, HSTS, HTTPS only, Authenticated "
    "Origin Pulls, Origin CA certificates, and a HandshakeVerification proving it for every zone."
)

_UNKNOWN_SENTINELS = frozenset(
    {
        _proxy.UNKNOWN_BOOLEAN_VALUE,
        _proxy.UNKNOWN_NUMBER_VALUE,
        _proxy.UNKNOWN_STRING_VALUE,
        _proxy.UNKNOWN_ARRAY_VALUE,
        _proxy.UNKNOWN_ASSET_VALUE,
        _proxy.UNKNOWN_ARCHIVE_VALUE,
        _proxy.UNKNOWN_OBJECT_VALUE,
    }
)


@dataclass(frozen=True)
class PolicySpec:
    """How one rule is offered in the pack: its text, default level, severity, config keys, remediation."""

    rule: Rule
    description: str
    enforcement_level: EnforcementLevel
    severity: Severity
    config_keys: tuple[str, ...] = ()
    remediable: bool = False
    remediation_steps: str | None = None


POLICY_SPECS: tuple[PolicySpec, ...] = (
    PolicySpec(
        Rule.SSL_MODE,
        "Zone SSL mode must be Full (Strict), pinned with ssl_automatic_mode = custom.",
        EnforcementLevel.MANDATORY,
        Severity.CRITICAL,
        remediable=True,
        remediation_steps="Set the ZoneSetting value to 'strict' (ssl) or 'custom' (ssl_automatic_mode).",
    ),
    PolicySpec(
        Rule.MIN_TLS_VERSION,
        "Zone minimum TLS version must be at least the configured floor.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_MIN_TLS_VERSION,),
        remediable=True,
        remediation_steps="Raise the min_tls_version ZoneSetting value to the floor.",
    ),
    PolicySpec(Rule.TLS_1_3, "Zone TLS 1.3 must be on (or zrt).", EnforcementLevel.MANDATORY, Severity.MEDIUM),
    PolicySpec(
        Rule.HSTS,
        "Zone HSTS (security_header) must be enabled with a long max-age and includeSubDomains, in snake_case keys.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_HSTS_MIN_MAX_AGE, CONFIG_HSTS_PRELOAD),
    ),
    PolicySpec(Rule.ALWAYS_USE_HTTPS, "Zone always_use_https must be on.", EnforcementLevel.MANDATORY, Severity.HIGH),
    PolicySpec(
        Rule.TLS_CLIENT_AUTH,
        "Zone tls_client_auth must not be off where global Authenticated Origin Pulls is required.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_AOP_LEVEL,),
    ),
    PolicySpec(
        Rule.ORIGIN_CA_CERTIFICATE,
        "Origin CA certificates must use an origin key type and an allowed validity.",
        EnforcementLevel.MANDATORY,
        Severity.MEDIUM,
        (CONFIG_MAX_VALIDITY_DAYS,),
    ),
    PolicySpec(
        Rule.ORIGIN_CA_ECDSA,
        "Origin CA certificates should use ECDSA P-256 (origin-ecc).",
        EnforcementLevel.ADVISORY,
        Severity.LOW,
    ),
    PolicySpec(
        Rule.AOP_ENABLED,
        "Authenticated Origin Pulls resources must be enabled.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_AOP_LEVEL,),
    ),
    PolicySpec(
        Rule.ZONE_VERIFIED,
        "Every zone with TLS settings in the stack must have a HandshakeVerification resource.",
        EnforcementLevel.MANDATORY,
        Severity.MEDIUM,
    ),
    PolicySpec(
        Rule.ZONE_SSL_NOT_WEAK,
        "No zone may have its SSL mode off or flexible.",
        EnforcementLevel.MANDATORY,
        Severity.CRITICAL,
    ),
    PolicySpec(
        Rule.HOSTNAME_MIN_TLS_VERSION,
        "Per-hostname minimum TLS version (HostnameTlsSetting min_tls_version) must be at least the floor.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_MIN_TLS_VERSION,),
    ),
    PolicySpec(
        Rule.ZONE_AOP_RESOURCES,
        "A zone declared with zone- or hostname-level AOP must have its AOP certificate and enabling resources.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_AOP_LEVEL,),
    ),
    PolicySpec(
        Rule.AUTO_ORIGIN_TLS_KEX,
        "Automatic origin key exchange (ZoneAutoOriginTlsKex) must stay enabled: it offers origins X25519MLKEM768.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
    ),
    PolicySpec(
        Rule.ORIGIN_PQ_REQUIRED,
        "With postQuantum = required, every zone with TLS settings must have OriginTlsComplianceModes with pqh.",
        EnforcementLevel.MANDATORY,
        Severity.HIGH,
        (CONFIG_POST_QUANTUM,),
    ),
)


def _is_unknown(value: object) -> bool:
    return isinstance(value, str) and value in _UNKNOWN_SENTINELS


def _validate_resource(spec: PolicySpec) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = parse_policy_config(args.get_config(), keys=spec.config_keys)
        for violation in check_resource(spec.rule, args.resource_type, args.props, config):
            report_violation(violation.message, None)

    return validate


def _remediate_resource(spec: PolicySpec) -> Callable[[ResourceValidationArgs], Any]:
    def remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
        config = parse_policy_config(args.get_config(), keys=spec.config_keys)
        props = args.props
        # The engine's Remediate request is not wrapped in the unknown-checking proxy: a value known only after
        # deployment must not be overwritten with a guess.
        if _is_unknown(props.get("settingId")) or _is_unknown(props.get("value")):
            return None
        changes = remediate_resource(spec.rule, args.resource_type, props, config)
        if not changes:
            return None
        # Writing through the SDK's proxy keeps every other property as it came, unknowns and secrets included.
        writable = cast(Any, props)
        for key, value in changes.items():
            writable[key] = value
        return props

    return remediate


def _validate_stack(spec: PolicySpec) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = parse_policy_config(args.get_config(), keys=spec.config_keys)
        resources = [StackResource(r.resource_type, r.urn, r.props) for r in args.resources]
        for violation in check_stack(spec.rule, resources, config):
            report_violation(violation.message, violation.urn)

    return validate


def _config_schema(spec: PolicySpec) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=config_schema(*spec.config_keys)) if spec.config_keys else None


def build_policies(specs: tuple[PolicySpec, ...] = POLICY_SPECS) -> list[Policy]:
    """One ``pulumi_policy`` policy per spec, in order."""
    policies: list[Policy] = []
    for spec in specs:
        common: dict[str, Any] = {
            "name": spec.rule.value,
            "description": spec.description,
            "enforcement_level": spec.enforcement_level,
            "config_schema": _config_schema(spec),
            "severity": spec.severity,
            "remediation_steps": spec.remediation_steps,
            "tags": ["cloudflare", "tls", "origin-tls"],
        }
        if spec.rule.is_stack_rule:
            policies.append(StackValidationPolicy(validate=_validate_stack(spec), **common))
        else:
            policies.append(
                ResourceValidationPolicy(
                    validate=_validate_resource(spec),
                    remediate=_remediate_resource(spec) if spec.remediable else None,
                    **common,
                )
            )
    return policies
