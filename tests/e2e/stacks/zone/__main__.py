"""The reference stack's dynamic resources, for a machine without ``pulumi-resource-cloudflare``.

What ``OriginProtection`` does with ``cloudflare.ZoneSetting`` here is done with the component's own
``ZoneSettingPin`` (same API call, same policy view); HSTS (an object value) is set by the test through the API, and
the Origin CA certificate is the one the sandbox origin already serves (the sandbox's own Origin CA). Everything
else is as the component wires it: ``OriginKey``, and a ``HandshakeVerification`` that depends on all of them.
Config: the reference stack's keys (``Pulumi.yaml`` there), plus ``clientCertFile``/``clientKeyFile``.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from origin_tls.providers.keys import OriginKey
from origin_tls.providers.verification import HandshakeVerification
from origin_tls.providers.zone_setting import ZoneSettingPin

config = pulumi.Config()
zone_id = config.require("zoneId")
hostnames = config.require_object("hostnames")
min_tls = config.get("minTls") or "1.2"


def read(key: str) -> str | None:
    path = config.get(key)
    return None if not path else Path(path).read_text(encoding="ascii")


settings = {
    "ssl_automatic_mode": "custom",
    "ssl": config.get("ssl") or "strict",
    "min_tls_version": min_tls,
    "tls_1_3": config.get("tls13") or "on",
    "always_use_https": "on",
    "tls_client_auth": "on",
}
pins = [
    ZoneSettingPin(f"web-{setting.replace('_', '-')}", zone_id=zone_id, setting_id=setting, value=value)
    for setting, value in settings.items()
]
key = OriginKey(
    "web-origin-key",
    hostnames=hostnames,
    validity_days=config.get_int("validityDays") or 5475,
    rotation=config.get("rotation") or "",
    renew_before_days=config.get_int("renewBeforeDays") or 30,
)
if config.get_bool("verify") is not False:
    verification = HandshakeVerification(
        "web-verification",
        hostnames=hostnames,
        zone_id=zone_id,
        edge=config.get("edge"),
        edge_http=config.get("edgeHttp"),
        origin=config.get("origin"),
        min_tls=min_tls,
        aop="global",
        origin_ca_pem=read("originCaFile"),
        edge_ca_pem=read("edgeCaFile"),
        client_cert_pem=read("clientCertFile"),
        client_key_pem=read("clientKeyFile"),
        settle_seconds=float(config.get_int("settleSeconds") or 120),
        strict=config.get_bool("strict") is True,
        opts=pulumi.ResourceOptions(depends_on=[*pins, key]),
    )
    pulumi.export("verification", verification.report)
pulumi.export("csr_pem", key.csr_pem)
pulumi.export("private_key_pem", pulumi.Output.secret(key.private_key_pem))
pulumi.export("renew_at", key.renew_at)
