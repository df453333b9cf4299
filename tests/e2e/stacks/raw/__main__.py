"""A stack that never heard of origin-tls: raw ``cloudflare.ZoneSetting`` resources that break the baseline
(SSL flexible, a TLS 1.0 floor, HSTS with camelCase keys, pulumi-cloudflare#1579)."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

zone_id = pulumi.Config().require("zoneId")
cloudflare.ZoneSetting("ssl", zone_id=zone_id, setting_id="ssl", value="flexible")
cloudflare.ZoneSetting("min-tls-version", zone_id=zone_id, setting_id="min_tls_version", value="1.0")
cloudflare.ZoneSetting(
    "security-header",
    zone_id=zone_id,
    setting_id="security_header",
    value={"strictTransportSecurity": {"enabled": True, "maxAge": 31536000, "includeSubdomains": True}},
)
