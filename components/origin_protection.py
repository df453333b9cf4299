"""``OriginProtection``: a Cloudflare zone and its origin in end-to-end authenticated encryption, proven on deploy.

Children (each ``f"{name}-<role>"``, ``parent=self``):

============================  =========================================================================
role                          resource
============================  =========================================================================
``ssl-automatic-mode``        ``ZoneSettingPin`` (dynamic): ``ssl_automatic_mode = custom``, so Automatic
                              SSL/TLS cannot change the SSL mode (pulumi-cloudflare has no such setting)
``ssl``                       ``cloudflare.ZoneSetting`` ``ssl = strict`` (after the pin)
``min-tls-version``           ``cloudflare.ZoneSetting`` ``min_tls_version``
``tls-1-3``                   ``cloudflare.ZoneSetting`` ``tls_1_3 = on``
``always-use-https``          ``cloudflare.ZoneSetting`` ``always_use_https = on``
``security-header``           ``cloudflare.ZoneSetting`` ``security_header`` (snake_case keys,
                              pulumi-cloudflare#1579: camelCase diffs forever)
``origin-key``                ``OriginKey`` (dynamic): private key (secret) and CSR, made once
``origin-certificate``        ``cloudflare.OriginCaCertificate``
AOP ``global``                ``tls-client-auth``: ``cloudflare.ZoneSetting`` ``tls_client_auth = on``
AOP ``zone``                  ``pull-certificate`` (dynamic ``OriginPullCertificate``),
                              ``aop-certificate`` (``AuthenticatedOriginPullsCertificate``),
                              ``aop-settings`` (``AuthenticatedOriginPullsSettings(enabled=True)``)
AOP ``hostname``              ``pull-certificate``, ``aop-hostname-certificate``
                              (``AuthenticatedOriginPullsHostnameCertificate``), ``aop-hostnames``
                              (``AuthenticatedOriginPulls`` with one config per hostname)
``verification``              ``HandshakeVerification`` (dynamic), ``depends_on`` every child above
============================  =========================================================================

The Cloudflare resources use the stack's ``cloudflare`` provider (``cloudflare:apiToken``), or the one passed in
``opts.providers``; the dynamic ones read the same config key in ``configure()``. No token ever goes into a
resource input.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from origin_tls.baseline import AopMode
from origin_tls.certs import GLOBAL_AOP_CA_URL
from origin_tls.origin_config import build_nginx_config
from origin_tls.providers.keys import OriginKey, OriginPullCertificate
from origin_tls.providers.verification import HandshakeVerification
from origin_tls.providers.zone_setting import ZoneSettingPin

from .args import OriginProtectionArgs, Plan, plan_origin_protection

__all__ = ["TYPE_TOKEN", "OriginProtection"]

TYPE_TOKEN = "origin-tls:index:OriginProtection"  # noqa: S105 (a Pulumi type token, not a credential)


class OriginProtection(pulumi.ComponentResource):
    """Full (Strict) with an Origin CA certificate, HSTS, HTTPS only, a TLS floor, Authenticated Origin Pulls, and a
    ``HandshakeVerification`` that fails the deploy (with every finding) when the live posture is not that.

    Raises :class:`origin_tls.errors.InvalidInput` at construction for a bad argument.
    """

    #: The Origin CA certificate (PEM) the origin serves.
    certificate_pem: pulumi.Output[str]
    #: Its private key (PEM, secret).
    private_key_pem: pulumi.Output[str]
    #: When the origin certificate expires (as Cloudflare reports it).
    expires_on: pulumi.Output[str]
    #: The CA the origin must trust for pulls (zone/hostname AOP: the team's own CA; global/off: ``None``).
    pull_ca_pem: pulumi.Output[str | None]
    #: Where to download the CA for global AOP (``None`` otherwise).
    pull_ca_url: pulumi.Output[str | None]
    #: The client certificate Cloudflare presents to the origin (zone/hostname AOP; ``None`` otherwise).
    client_certificate_pem: pulumi.Output[str | None]
    #: An nginx ``server`` block installing the certificate, requiring the pull client certificate, setting the floor.
    nginx_config: pulumi.Output[str]
    #: The verification report (``{"ok", "targets": [...]}``, ``DESIGN.md``).
    verification_report: pulumi.Output[dict[str, Any]]
    verification_ok: pulumi.Output[bool]

    def __init__(self, name: str, args: OriginProtectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Validate everything before registering anything: bad input registers nothing.
        plan = plan_origin_protection(args)
        nginx_config = _nginx_config(plan)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = self._zone_settings(name, plan, child)
        key = OriginKey(
            f"{name}-origin-key",
            hostnames=list(plan.hostnames),
            key_type=plan.key_type.value,
            rotation=args.rotation,
            opts=child,
        )
        certificate = cloudflare.OriginCaCertificate(
            f"{name}-origin-certificate",
            csr=key.csr_pem,
            hostnames=list(plan.hostnames),
            request_type=plan.key_type.request_type,
            requested_validity=plan.validity_days,
            opts=child,
        )
        pull, aop_resources = self._origin_pulls(name, plan, child)
        verification = HandshakeVerification(
            f"{name}-verification",
            hostnames=list(plan.probe_hostnames),
            zone_id=plan.zone_id,
            edge=None if plan.edge is None else str(plan.edge),
            edge_http=None if plan.edge_http is None else str(plan.edge_http),
            origin=None if plan.origin is None else str(plan.origin),
            min_tls=plan.baseline.min_tls.value,
            hsts_max_age=plan.baseline.hsts.max_age,
            hsts_include_subdomains=plan.baseline.hsts.include_subdomains,
            hsts_preload=plan.baseline.hsts.preload,
            aop=plan.aop.value,
            origin_ca_pem=args.origin_ca_pem,
            origin_cert_pem=certificate.certificate,
            edge_ca_pem=args.edge_ca_pem,
            client_cert_pem=None if pull is None else pull.certificate_pem,
            client_key_pem=None if pull is None else pull.private_key_pem,
            api_url=args.api_url,
            timeout=plan.verify_timeout,
            settle_seconds=plan.settle_seconds,
            strict=args.strict,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*settings, key, certificate, *aop_resources]),
        )

        self.certificate_pem = certificate.certificate
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.expires_on = certificate.expires_on
        self.pull_ca_pem = pulumi.Output.from_input(None if pull is None else pull.ca_certificate_pem)
        self.pull_ca_url = pulumi.Output.from_input(GLOBAL_AOP_CA_URL if plan.aop is AopMode.GLOBAL else None)
        self.client_certificate_pem = pulumi.Output.from_input(None if pull is None else pull.certificate_pem)
        self.nginx_config = pulumi.Output.from_input(nginx_config)
        self.verification_report = verification.report
        self.verification_ok = verification.ok
        self.register_outputs(
            {
                "certificate_pem": self.certificate_pem,
                "private_key_pem": self.private_key_pem,
                "expires_on": self.expires_on,
                "pull_ca_pem": self.pull_ca_pem,
                "pull_ca_url": self.pull_ca_url,
                "client_certificate_pem": self.client_certificate_pem,
                "nginx_config": self.nginx_config,
                "verification_report": self.verification_report,
                "verification_ok": self.verification_ok,
            }
        )

    def _zone_settings(self, name: str, plan: Plan, child: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        pin = ZoneSettingPin(
            f"{name}-ssl-automatic-mode",
            zone_id=plan.zone_id,
            setting_id="ssl_automatic_mode",
            value="custom",
            api_url=plan.args.api_url,
            opts=child,
        )
        resources: list[pulumi.Resource] = [pin]
        for setting_id, value in plan.baseline.zone_settings().items():
            if setting_id == "ssl_automatic_mode":
                continue
            # SSL mode after the pin: with automation still on, Cloudflare could undo it.
            opts = pulumi.ResourceOptions(parent=self, depends_on=[pin]) if setting_id == "ssl" else child
            resources.append(
                cloudflare.ZoneSetting(
                    f"{name}-{setting_id.replace('_', '-')}",
                    zone_id=plan.zone_id,
                    setting_id=setting_id,
                    value=value,
                    opts=opts,
                )
            )
        return resources

    def _origin_pulls(
        self, name: str, plan: Plan, child: pulumi.ResourceOptions
    ) -> tuple[OriginPullCertificate | None, list[pulumi.Resource]]:
        """The team's own client certificate, uploaded and enabled (zone and hostname levels). Global AOP is the
        ``tls_client_auth`` zone setting, made with the others; ``off`` makes nothing."""
        if plan.aop not in (AopMode.ZONE, AopMode.HOSTNAME):
            return None, []
        pull = OriginPullCertificate(
            f"{name}-pull-certificate",
            common_name=f"{name} origin pulls",
            rotation=plan.args.client_rotation,
            opts=child,
        )
        secret_key: pulumi.Output[str] = pulumi.Output.secret(pull.private_key_pem)
        if plan.aop is AopMode.ZONE:
            upload = cloudflare.AuthenticatedOriginPullsCertificate(
                f"{name}-aop-certificate",
                zone_id=plan.zone_id,
                certificate=pull.certificate_pem,
                private_key=secret_key,
                opts=child,
            )
            enable: pulumi.Resource = cloudflare.AuthenticatedOriginPullsSettings(
                f"{name}-aop-settings",
                zone_id=plan.zone_id,
                enabled=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[upload]),
            )
            return pull, [pull, upload, enable]
        hostname_upload = cloudflare.AuthenticatedOriginPullsHostnameCertificate(
            f"{name}-aop-hostname-certificate",
            zone_id=plan.zone_id,
            certificate=pull.certificate_pem,
            private_key=secret_key,
            opts=child,
        )
        enable = cloudflare.AuthenticatedOriginPulls(
            f"{name}-aop-hostnames",
            zone_id=plan.zone_id,
            configs=[
                cloudflare.AuthenticatedOriginPullsConfigArgs(cert_id=hostname_upload.id, enabled=True, hostname=host)
                for host in plan.probe_hostnames
            ],
            opts=child,
        )
        return pull, [pull, hostname_upload, enable]


def _nginx_config(plan: Plan) -> str:
    args = plan.args
    return build_nginx_config(
        hostnames=plan.hostnames,
        certificate_path=args.nginx_certificate_path,
        key_path=args.nginx_key_path,
        client_ca_path=None if plan.aop is AopMode.OFF else args.nginx_client_ca_path,
        min_tls=plan.baseline.min_tls,
        listen_port=args.nginx_listen_port,
        upstream=args.nginx_upstream,
    )
