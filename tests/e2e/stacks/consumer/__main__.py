"""A consumer stack: its own ``components`` package, origin-tls installed into its virtualenv, the documented import."""

from __future__ import annotations

import pulumi

from components import site_hostnames
from origin_tls.components import OriginProtection, OriginProtectionArgs

config = pulumi.Config()
web = OriginProtection(
    "web",
    OriginProtectionArgs(
        zone_id=config.require("zoneId"), hostnames=site_hostnames(config.require("apex")), aop="global"
    ),
)
pulumi.export("nginx_config", web.nginx_config)
pulumi.export("origin_tls_from", __import__("origin_tls").__file__)
