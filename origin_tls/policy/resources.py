"""Resource rules: one pulumi-cloudflare resource's inputs in, violations (and safe fixes) out.

Properties arrive with Pulumi schema names (``settingId``, ``value``, ``requestType``) and, inside a policy pack, as
read-only mappings that raise the SDK's unknown-value error when a value is only known after deployment. The rules
therefore read only the properties they judge, never catch that error, and accept any ``Mapping``/``Sequence``.
A property a rule needs but the resource lacks is a violation, never a pass; a resource the rule does not govern
yields nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..baseline import AopMode, SslMode, TlsVersion, parse_hsts_max_age, parse_tls_version, parse_validity_days
from ..errors import InvalidInput
from .config import PolicyConfig
from .model import (
    AOP_CERTIFICATE_TYPES,
    TYPE_AOP_HOSTNAME,
    TYPE_AOP_SETTINGS,
    TYPE_HOSTNAME_TLS_SETTING,
    TYPE_ORIGIN_CA_CERTIFICATE,
    TYPE_ZONE_AUTO_ORIGIN_TLS_KEX,
    TYPE_ZONE_SETTING,
    Rule,
    Violation,
    zone_setting_props,
)

__all__ = ["ALLOWED_REQUEST_TYPES", "RULE_SETTING_IDS", "check_resource", "remediate_resource"]

#: ``keyless-certificate`` is for Keyless SSL, not an origin certificate the edge validates in Full (Strict).
ALLOWED_REQUEST_TYPES = ("origin-ecc", "origin-rsa")
#: The ZoneSetting ``settingId`` values each zone rule judges.
RULE_SETTING_IDS: Mapping[Rule, tuple[str, ...]] = {
    Rule.SSL_MODE: ("ssl", "ssl_automatic_mode"),
    Rule.MIN_TLS_VERSION: ("min_tls_version",),
    Rule.TLS_1_3: ("tls_1_3",),
    Rule.HSTS: ("security_header",),
    Rule.ALWAYS_USE_HTTPS: ("always_use_https",),
    Rule.TLS_CLIENT_AUTH: ("tls_client_auth",),
}
_ISSUE_1579 = "https://github.com/pulumi/pulumi-cloudflare/issues/1579"
#: camelCase spellings copied from the pulumi-cloudflare docstring example, with the key they should be.
_CAMEL_KEYS = {
    "strictTransportSecurity": "strict_transport_security",
    "maxAge": "max_age",
    "includeSubdomains": "include_subdomains",
    "includeSubDomains": "include_subdomains",
}


def _setting_id(props: Mapping[str, Any]) -> str | None:
    setting_id = props.get("settingId")
    return setting_id if isinstance(setting_id, str) else None


def _expect(setting_id: str, value: Any, allowed: Sequence[str], why: str) -> list[str]:
    if value in allowed:
        return []
    wanted = " or ".join(repr(option) for option in allowed)
    found = "no value" if value is None else repr(value)
    return [f"{setting_id} is {found}; the baseline requires {wanted} ({why})"]


def _ssl_mode(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    if setting_id == "ssl":
        return _expect("ssl", value, [SslMode.STRICT.value], "Full (Strict): the edge validates the origin certificate")
    return _expect(setting_id, value, ["custom"], "so that Automatic SSL/TLS cannot lower the SSL mode")


def _min_tls_version(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    floor = config.baseline.min_tls
    try:
        version = parse_tls_version(value, field_name=setting_id)
    except InvalidInput:
        return _expect(setting_id, value, [v.value for v in TlsVersion if v.rank >= floor.rank], "the floor")
    if version.rank < floor.rank:
        return [f"min_tls_version {version.value!r} is below the floor {floor.value!r}"]
    return []


def _tls_1_3(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    return _expect(setting_id, value, ["on", "zrt"], "TLS 1.3 negotiated with every client that offers it")


def _always_use_https(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    return _expect(setting_id, value, ["on"], "plain-HTTP requests redirected to HTTPS")


def _tls_client_auth(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    if config.baseline.aop is not AopMode.GLOBAL:
        return []  # zone and hostname AOP are their own resources; "off"/"any" do not require the global switch
    return _expect(setting_id, value, ["on"], "global Authenticated Origin Pulls is the configured level")


def _hsts(setting_id: str, value: Any, config: PolicyConfig) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"security_header is {value!r}; expected an object with strict_transport_security"]
    camel = sorted(key for key in value if key in _CAMEL_KEYS)
    sts = value.get("strict_transport_security")
    if isinstance(sts, Mapping):
        camel += sorted(key for key in sts if key in _CAMEL_KEYS)
    if camel:
        fixes = ", ".join(f"{key} -> {_CAMEL_KEYS[key]}" for key in camel)
        return [
            f"security_header uses camelCase keys ({fixes}): the setting never converges, use snake_case "
            f"({_ISSUE_1579})"
        ]
    if not isinstance(sts, Mapping):
        return ["security_header has no strict_transport_security object"]
    policy = config.baseline.hsts
    problems: list[str] = []
    if sts.get("enabled") is not True:
        problems.append(f"HSTS enabled is {sts.get('enabled')!r}; expected True")
    raw_age = sts.get("max_age")
    try:
        max_age: int | None = parse_hsts_max_age(raw_age, field_name="max_age")
    except InvalidInput:
        max_age = None
    if max_age is None or max_age < policy.max_age:
        problems.append(f"HSTS max_age is {raw_age!r}; expected at least {policy.max_age}")
    if policy.include_subdomains and sts.get("include_subdomains") is not True:
        problems.append(f"HSTS include_subdomains is {sts.get('include_subdomains')!r}; expected True")
    if policy.preload and sts.get("preload") is not True:
        problems.append(f"HSTS preload is {sts.get('preload')!r}; the policy config requires True")
    return problems


_ZONE_CHECKS: Mapping[Rule, Callable[[str, Any, PolicyConfig], list[str]]] = {
    Rule.SSL_MODE: _ssl_mode,
    Rule.MIN_TLS_VERSION: _min_tls_version,
    Rule.TLS_1_3: _tls_1_3,
    Rule.HSTS: _hsts,
    Rule.ALWAYS_USE_HTTPS: _always_use_https,
    Rule.TLS_CLIENT_AUTH: _tls_client_auth,
}


def _origin_ca(props: Mapping[str, Any], config: PolicyConfig, *, ecdsa: bool) -> list[str]:
    request_type = props.get("requestType")
    if ecdsa:
        if request_type == "origin-rsa":
            return ["requestType is 'origin-rsa'; ECDSA P-256 ('origin-ecc') is recommended: smaller and faster"]
        return []
    problems = _expect("requestType", request_type, ALLOWED_REQUEST_TYPES, "an origin certificate key")
    raw = props.get("requestedValidity")
    if raw is None:
        return problems  # Cloudflare applies its default, 5475 days, the largest value the config can allow
    try:
        days = parse_validity_days(raw, field_name="requestedValidity")
    except InvalidInput as exc:
        return [*problems, str(exc)]
    if days > config.max_validity_days:
        problems.append(f"requestedValidity is {days} days; at most {config.max_validity_days} allowed")
    return problems


def _aop_enabled(resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[str]:
    if config.baseline.aop is AopMode.OFF:
        return []
    if resource_type == TYPE_AOP_SETTINGS:
        enabled = props.get("enabled")
        return [] if enabled is True else [f"zone-level Authenticated Origin Pulls enabled is {enabled!r}"]
    if resource_type == TYPE_AOP_HOSTNAME:
        configs = props.get("configs")
        if isinstance(configs, str) or not isinstance(configs, Sequence) or len(configs) == 0:
            return [f"per-hostname Authenticated Origin Pulls has no configs ({configs!r})"]
        problems = []
        for index, item in enumerate(configs):
            enabled = item.get("enabled") if isinstance(item, Mapping) else None
            if enabled is not True:
                # Cloudflare: "a null value voids the association", so a missing flag is not "on".
                host = item.get("hostname") if isinstance(item, Mapping) else None
                problems.append(f"configs[{index}] ({host!r}) enabled is {enabled!r}; expected True")
        return problems
    if resource_type in AOP_CERTIFICATE_TYPES and props.get("enabled") is False:
        return ["the Authenticated Origin Pulls certificate is disabled (enabled is False)"]
    return []


def _auto_origin_tls_kex(props: Mapping[str, Any]) -> list[str]:
    # Whatever the configuration: switching it off takes X25519MLKEM768 away from every origin that could do it.
    enabled = props.get("enabled")
    if enabled is True:
        return []
    return [
        f"automatic origin key exchange (ZoneAutoOriginTlsKex enabled) is {enabled!r}: Cloudflare would stop offering "
        "X25519MLKEM768 to the origin, and a recorded second hop could be decrypted later by a quantum computer"
    ]


def check_resource(rule: Rule, resource_type: str, props: Mapping[str, Any], config: PolicyConfig) -> list[Violation]:
    """The violations of ``rule`` by one resource; ``[]`` when it complies or the rule does not govern it."""
    messages: list[str] = []
    setting = zone_setting_props(resource_type, props)
    if rule in _ZONE_CHECKS and setting is not None:
        setting_id = _setting_id(setting)
        if setting_id in RULE_SETTING_IDS[rule]:
            # Read the value only for a governed setting: it may be unknown during preview (see module docstring).
            messages = _ZONE_CHECKS[rule](setting_id, setting.get("value"), config)
    elif rule in (Rule.ORIGIN_CA_CERTIFICATE, Rule.ORIGIN_CA_ECDSA) and resource_type == TYPE_ORIGIN_CA_CERTIFICATE:
        messages = _origin_ca(props, config, ecdsa=rule is Rule.ORIGIN_CA_ECDSA)
    elif rule is Rule.AOP_ENABLED:
        messages = _aop_enabled(resource_type, props, config)
    elif rule is Rule.AUTO_ORIGIN_TLS_KEX and resource_type == TYPE_ZONE_AUTO_ORIGIN_TLS_KEX:
        messages = _auto_origin_tls_kex(props)
    elif (
        rule is Rule.HOSTNAME_MIN_TLS_VERSION
        and resource_type == TYPE_HOSTNAME_TLS_SETTING
        and _setting_id(props) == "min_tls_version"
    ):
        # A per-hostname setting overrides the zone's floor for that hostname (Cloudflare "Per-hostname TLS
        # settings"): the same floor applies. Other per-hostname settings (ciphers, http2) are not judged here.
        host = props.get("hostname")
        messages = [f"hostname {host!r}: {m}" for m in _min_tls_version("min_tls_version", props.get("value"), config)]
    return [Violation(rule, message) for message in messages]


def remediate_resource(
    rule: Rule, resource_type: str, props: Mapping[str, Any], config: PolicyConfig
) -> dict[str, Any] | None:
    """The properties to change so that the resource complies, where that fix is safe and unambiguous.

    Offered for the SSL mode (``strict``, and ``ssl_automatic_mode`` = ``custom``) and the minimum TLS version (raised
    to the floor). ``None`` when the resource complies or no safe fix exists.
    """
    if resource_type != TYPE_ZONE_SETTING or rule not in (Rule.SSL_MODE, Rule.MIN_TLS_VERSION):
        return None
    if not check_resource(rule, resource_type, props, config):
        return None
    setting_id = _setting_id(props)
    if setting_id == "ssl":
        return {"value": SslMode.STRICT.value}
    if setting_id == "ssl_automatic_mode":
        return {"value": "custom"}
    return {"value": config.baseline.min_tls.value}
