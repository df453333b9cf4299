"""Reference stack: config in, one ``OriginProtection``, exports out. The config schema is in ``Pulumi.yaml``."""

from __future__ import annotations

from pathlib import Path

import pulumi

from origin_tls.components import OriginProtection, OriginProtectionArgs

config = pulumi.Config()


def optional(key: str) -> str | None:
    return config.get(key) or None


def integer(key: str, default: int) -> int:
    value = config.get_int(key)
    return default if value is None else value


def read_optional(key: str) -> str | None:
    path = optional(key)
    return None if path is None else Path(path).read_text(encoding="ascii")


web = OriginProtection(
    "web",
    OriginProtectionArgs(
        zone_id=config.require("zoneId"),
        hostnames=config.require_object("hostnames"),
        min_tls=config.get("minTls") or "1.2",
        hsts_max_age=integer("hstsMaxAge", 31_536_000),
        hsts_include_subdomains=config.get_bool("hstsIncludeSubdomains") is not False,
        hsts_preload=config.get_bool("hstsPreload") is True,
        aop=config.get("aop") or "zone",
        key_type=config.get("keyType") or "ecdsa-p256",
        validity_days=integer("validityDays", 5475),
        rotation=config.get("rotation") or "",
        client_rotation=config.get("clientRotation") or "",
        origin=optional("origin"),
        edge=optional("edge"),
        edge_http=optional("edgeHttp"),
        origin_ca_pem=read_optional("originCaFile"),
        edge_ca_pem=read_optional("edgeCaFile"),
        settle_seconds=float(integer("settleSeconds", 120)),
        strict=config.get_bool("strict") is True,
        renew_before_days=integer("renewBeforeDays", 30),
        post_quantum=config.get("postQuantum") or "auto",
    ),
)

pulumi.export("certificate_pem", web.certificate_pem)
pulumi.export("private_key_pem", web.private_key_pem)
pulumi.export("expires_on", web.expires_on)
pulumi.export("renew_at", web.renew_at)
pulumi.export("pull_ca_pem", web.pull_ca_pem)
pulumi.export("pull_ca_bundle_pem", web.pull_ca_bundle_pem)
pulumi.export("client_expires_on", web.client_expires_on)
pulumi.export("pull_ca_url", web.pull_ca_url)
pulumi.export("nginx_config", web.nginx_config)
pulumi.export("verification", web.verification_report)
pulumi.export("inventory_target", web.inventory_target)
