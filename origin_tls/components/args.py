"""``OriginProtectionArgs``: what a team may choose, with the hardened baseline as every default.

:func:`plan_origin_protection` validates the arguments (through ``origin_tls.baseline``'s parsers: one source of
truth with the verifier and the policy pack) and returns a :class:`Plan`, so a bad argument fails when the component
is constructed, with the field and what is allowed, before any resource is registered.

``hostnames``, ``origin``, ``edge``, ``edge_http`` and the CA PEMs may be ``pulumi.Input``s wired from other
resources (a server's address, DNS records). A plain value is validated here; an ``Output`` is known only at deploy
time, so the providers that receive it validate it in ``check`` with the same parser, hence the same message naming
the same field. An Output unknown during preview is neither judged nor passed as valid: ``check`` skips it and the
deployment validates it once it is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from origin_tls.baseline import (
    DEFAULT_HSTS_MAX_AGE,
    DEFAULT_TIMEOUT,
    AopMode,
    Baseline,
    HstsPolicy,
    KeyType,
    PostQuantum,
    parse_aop_mode,
    parse_api_url,
    parse_endpoint,
    parse_hostnames,
    parse_hsts_max_age,
    parse_key_type,
    parse_post_quantum,
    parse_timeout,
    parse_tls_version,
    parse_validity_days,
    parse_zone_id,
)
from origin_tls.errors import InvalidInput
from origin_tls.providers.keys import DEFAULT_CLIENT_VALID_DAYS
from origin_tls.providers.renewal import DEFAULT_RENEW_BEFORE_DAYS, parse_renew_before_days

__all__ = [
    "DEFAULT_AOP",
    "DEFAULT_CERTIFICATE_PATH",
    "DEFAULT_CLIENT_CA_PATH",
    "DEFAULT_KEY_PATH",
    "DEFAULT_VALIDITY_DAYS",
    "OriginProtectionArgs",
    "Plan",
    "plan_origin_protection",
    "probe_names",
]

#: Zone-level AOP with the team's own client certificate: exclusive to the account, unlike the global certificate
#: shared by every Cloudflare customer (Cloudflare docs, "Authenticated Origin Pulls", security considerations).
DEFAULT_AOP = AopMode.ZONE
#: Cloudflare's own default for Origin CA certificates (15 years); rotate earlier with ``rotation``.
DEFAULT_VALIDITY_DAYS = 5475
DEFAULT_CERTIFICATE_PATH = "/etc/nginx/origin-tls/origin.pem"
DEFAULT_KEY_PATH = "/etc/nginx/origin-tls/origin.key"
DEFAULT_CLIENT_CA_PATH = "/etc/nginx/origin-tls/origin-pull-ca.pem"
#: Edge settings take seconds to reach every data centre: a deploy waits this long for the posture to converge.
DEFAULT_SETTLE_SECONDS = 120.0


@dataclass(frozen=True)
class OriginProtectionArgs:
    """Arguments of :class:`origin_tls.components.OriginProtection`. Only ``zone_id`` and ``hostnames`` are required.

    Baseline: ``min_tls`` (``"1.0"``..``"1.3"``), HSTS (``hsts_max_age`` seconds, ``hsts_include_subdomains``,
    ``hsts_preload`` as an explicit opt-in: the preload list is effectively permanent), ``aop`` (``"zone"``,
    ``"hostname"``, ``"global"`` or ``"off"``).
    Origin certificate: ``key_type`` (``"ecdsa-p256"`` or ``"rsa-2048"``), ``validity_days`` (7, 30, 90, 365, 730,
    1095 or 5475), ``rotation`` (change it to get a new key and certificate), ``client_rotation`` (change it to
    rotate the AOP client CA, README "Rotations that never break a pull"), ``renew_before_days`` (the origin and the
    AOP client certificates are replaced once they enter their last N days, default 30), ``client_valid_days``.
    Verification: ``origin`` (``HOST:PORT`` of the origin server, probed directly with SNI = each hostname; without
    it the origin checks are skipped), ``edge``/``edge_http`` (where to reach the edge instead of resolving the
    hostname), ``origin_ca_pem``/``edge_ca_pem`` (trust overrides, e.g. for the sandbox), ``verify_timeout`` per
    operation, ``settle_seconds`` to wait for settings to apply, ``strict`` (drift fails the preview), ``api_url``.
    nginx: where the files will live on the origin, and an optional ``upstream`` to proxy to.
    Post-quantum key agreement on the second hop: ``post_quantum`` ``"auto"`` (automatic origin key exchange on:
    Cloudflare offers X25519MLKEM768 to an origin that supports it) or ``"required"`` (also
    ``origin_tls_compliance_modes = ["pqh"]``, set only after ``pq-proof`` proved, in the same deployment, that the
    origin negotiates X25519MLKEM768; needs ``origin``; the verification then runs with ``require_pq``).
    """

    zone_id: pulumi.Input[str]
    hostnames: pulumi.Input[Sequence[pulumi.Input[str]]]
    min_tls: str = "1.2"
    hsts_max_age: int = DEFAULT_HSTS_MAX_AGE
    hsts_include_subdomains: bool = True
    hsts_preload: bool = False
    aop: str = DEFAULT_AOP.value
    key_type: str = KeyType.ECDSA_P256.value
    validity_days: int = DEFAULT_VALIDITY_DAYS
    rotation: str = ""
    client_rotation: str = ""
    origin: pulumi.Input[str] | None = None
    edge: pulumi.Input[str] | None = None
    edge_http: pulumi.Input[str] | None = None
    origin_ca_pem: pulumi.Input[str] | None = None
    edge_ca_pem: pulumi.Input[str] | None = None
    verify_timeout: float = DEFAULT_TIMEOUT
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    strict: bool = False
    api_url: str | None = None
    nginx_certificate_path: str = DEFAULT_CERTIFICATE_PATH
    nginx_key_path: str = DEFAULT_KEY_PATH
    nginx_client_ca_path: str = DEFAULT_CLIENT_CA_PATH
    nginx_upstream: str | None = None
    nginx_listen_port: int = 443
    renew_before_days: int = DEFAULT_RENEW_BEFORE_DAYS
    client_valid_days: int = DEFAULT_CLIENT_VALID_DAYS
    #: CAs the origin must keep trusting beside the component's own (published in ``pull_ca_bundle_pem``), e.g. the
    #: pull CA a stack used before this version: adopting the component's CA is then a pull-safe rotation.
    also_trust_pull_ca_pem: pulumi.Input[str] | None = None
    post_quantum: str = PostQuantum.AUTO.value


@dataclass(frozen=True)
class Plan:
    """Validated arguments: plain values the component builds its children from."""

    zone_id: pulumi.Input[str]
    #: A tuple when known at construction (validated), else the Output (validated in the providers' ``check``).
    hostnames: tuple[str, ...] | pulumi.Output[Sequence[str]]
    #: The hostnames the verification connects to (a wildcard cannot be probed).
    probe_hostnames: tuple[str, ...] | pulumi.Output[list[str]]
    baseline: Baseline
    aop: AopMode
    key_type: KeyType
    validity_days: int
    #: ``HOST:PORT`` when known at construction (validated), else the Output; ``None``: not given.
    origin: str | pulumi.Output[str] | None
    edge: str | pulumi.Output[str] | None
    edge_http: str | pulumi.Output[str] | None
    verify_timeout: float
    settle_seconds: float
    renew_before_days: int
    client_valid_days: int
    post_quantum: PostQuantum
    args: OriginProtectionArgs = field(repr=False)


def _bool(value: object, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field_name, value, "true or false")
    return value


def _optional_text(value: object, field_name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(field_name, value, "text")


def probe_names(hostnames: Sequence[str]) -> list[str]:
    """The hostnames a verification can connect to: every one but the wildcards."""
    return [h for h in hostnames if not h.startswith("*.")]


def _is_known(value: object) -> bool:
    """A plain value the program holds now (an ``Output`` is judged at deploy time, in ``check``)."""
    if isinstance(value, (pulumi.Output, pulumi.Resource)) or hasattr(value, "__await__"):
        return False
    if isinstance(value, (list, tuple)):
        return all(_is_known(item) for item in value)
    return True


def _endpoint(value: object, field_name: str, default_port: int) -> str | pulumi.Output[str] | None:
    if value is None:
        return None
    if not _is_known(value):
        return pulumi.Output.from_input(value)  # type: ignore[arg-type]
    return str(parse_endpoint(value, field_name=field_name, default_port=default_port))


def _client_valid_days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise InvalidInput("client_valid_days", value, "a whole number of days from 1 to 3650")
    return value


def plan_origin_protection(args: OriginProtectionArgs) -> Plan:
    """Validate ``args``; :class:`InvalidInput` names the first bad field and what is allowed."""
    if not isinstance(args, OriginProtectionArgs):
        raise InvalidInput("args", type(args).__name__, "an OriginProtectionArgs")
    zone_id: pulumi.Input[str] = args.zone_id
    if isinstance(zone_id, str):
        zone_id = parse_zone_id(zone_id)
    hostnames: tuple[str, ...] | pulumi.Output[Sequence[str]]
    probe_hostnames: tuple[str, ...] | pulumi.Output[list[str]]
    if _is_known(args.hostnames):
        hostnames = parse_hostnames(args.hostnames, allow_wildcard=True)
        probe_hostnames = tuple(probe_names(hostnames))
        if not probe_hostnames:
            raise InvalidInput("hostnames", list(hostnames), "at least one hostname without a wildcard to verify")
    else:
        hostnames = pulumi.Output.from_input(args.hostnames)  # type: ignore[arg-type]
        probe_hostnames = hostnames.apply(lambda names: probe_names(list(names)))
    aop = parse_aop_mode(args.aop)
    hsts = HstsPolicy(
        max_age=parse_hsts_max_age(args.hsts_max_age),
        include_subdomains=_bool(args.hsts_include_subdomains, "hsts_include_subdomains"),
        preload=_bool(args.hsts_preload, "hsts_preload"),
    )
    baseline = Baseline(min_tls=parse_tls_version(args.min_tls), hsts=hsts, aop=aop)
    for name in ("rotation", "client_rotation", "nginx_upstream"):
        _optional_text(getattr(args, name), name)
    if args.api_url is not None:
        parse_api_url(args.api_url, field_name="api_url")  # the token never in clear over a network
    _bool(args.strict, "strict")
    settle = parse_timeout(args.settle_seconds, field_name="settle_seconds") if args.settle_seconds else 0.0
    post_quantum = parse_post_quantum(args.post_quantum, field_name="post_quantum")
    if post_quantum is PostQuantum.REQUIRED and args.origin is None:
        # Nothing to prove X25519MLKEM768 against: pqh would be set blind, and an origin without ML-KEM answers 525.
        raise InvalidInput("post_quantum", post_quantum.value, "'auto' unless origin (HOST:PORT) is given to prove it")
    return Plan(
        zone_id=zone_id,
        hostnames=hostnames,
        probe_hostnames=probe_hostnames,
        baseline=baseline,
        aop=aop,
        key_type=parse_key_type(args.key_type),
        validity_days=parse_validity_days(args.validity_days),
        origin=_endpoint(args.origin, "origin", 443),
        edge=_endpoint(args.edge, "edge", 443),
        edge_http=_endpoint(args.edge_http, "edge_http", 80),
        verify_timeout=parse_timeout(args.verify_timeout, field_name="verify_timeout"),
        settle_seconds=settle,
        renew_before_days=parse_renew_before_days(args.renew_before_days),
        client_valid_days=_client_valid_days(args.client_valid_days),
        post_quantum=post_quantum,
        args=args,
    )
