"""The baseline as policy rules: plain functions over resource properties, no Pulumi import.

The policy pack (``policy/`` at the repository root) wires these into ``pulumi_policy`` objects; everything that
decides lives here, built on :mod:`origin_tls.baseline`, so the pack, the component and the verifier agree.
"""

from __future__ import annotations

from .config import (
    AOP_ANY,
    CONFIG_AOP_LEVEL,
    CONFIG_HSTS_MIN_MAX_AGE,
    CONFIG_HSTS_PRELOAD,
    CONFIG_KEYS,
    CONFIG_MAX_VALIDITY_DAYS,
    CONFIG_MIN_TLS_VERSION,
    CONFIG_POST_QUANTUM,
    DEFAULT_MAX_VALIDITY_DAYS,
    PolicyConfig,
    config_schema,
    parse_policy_config,
)
from .model import (
    BASELINE_SETTING_IDS,
    TYPE_AOP_CERTIFICATE,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_HOSTNAME_CERTIFICATE,
    TYPE_AOP_SETTINGS,
    TYPE_HANDSHAKE_VERIFICATION,
    TYPE_HOSTNAME_TLS_SETTING,
    TYPE_ORIGIN_CA_CERTIFICATE,
    TYPE_ORIGIN_TLS_COMPLIANCE_MODES,
    TYPE_ZONE_AUTO_ORIGIN_TLS_KEX,
    TYPE_ZONE_SETTING,
    TYPE_ZONE_SETTING_PIN,
    Rule,
    StackResource,
    Violation,
    is_handshake_verification,
    zone_setting_props,
)
from .resources import ALLOWED_REQUEST_TYPES, RULE_SETTING_IDS, check_resource, remediate_resource
from .stack import AOP_RESOURCES, WEAK_SSL_MODES, check_stack, pq_required_zones, verified_zones

__all__ = [
    "ALLOWED_REQUEST_TYPES",
    "AOP_ANY",
    "AOP_RESOURCES",
    "BASELINE_SETTING_IDS",
    "CONFIG_AOP_LEVEL",
    "CONFIG_HSTS_MIN_MAX_AGE",
    "CONFIG_HSTS_PRELOAD",
    "CONFIG_KEYS",
    "CONFIG_MAX_VALIDITY_DAYS",
    "CONFIG_MIN_TLS_VERSION",
    "CONFIG_POST_QUANTUM",
    "DEFAULT_MAX_VALIDITY_DAYS",
    "RULE_SETTING_IDS",
    "TYPE_AOP_CERTIFICATE",
    "TYPE_AOP_HOSTNAME",
    "TYPE_AOP_HOSTNAME_CERTIFICATE",
    "TYPE_AOP_SETTINGS",
    "TYPE_HANDSHAKE_VERIFICATION",
    "TYPE_HOSTNAME_TLS_SETTING",
    "TYPE_ORIGIN_CA_CERTIFICATE",
    "TYPE_ORIGIN_TLS_COMPLIANCE_MODES",
    "TYPE_ZONE_AUTO_ORIGIN_TLS_KEX",
    "TYPE_ZONE_SETTING",
    "TYPE_ZONE_SETTING_PIN",
    "WEAK_SSL_MODES",
    "PolicyConfig",
    "Rule",
    "StackResource",
    "Violation",
    "check_resource",
    "check_stack",
    "config_schema",
    "is_handshake_verification",
    "parse_policy_config",
    "pq_required_zones",
    "remediate_resource",
    "verified_zones",
    "zone_setting_props",
]
