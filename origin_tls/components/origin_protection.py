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
``origin-key``                ``OriginKey`` (dynamic): private key (secret) and CSR, made once, replaced
                              once its certificate enters its last ``renew_before_days``
``origin-certificate``        ``cloudflare.OriginCaCertificate``, ``retain_on_delete``: a replaced one is
                              revoked by ``origin-certificate-retirement``, not by the engine
AOP ``global``                ``tls-client-auth``: ``cloudflare.ZoneSetting`` ``tls_client_auth = on``
AOP ``zone``                  ``pull-ca`` (dynamic ``OriginPullCa``), ``pull-certificate`` (dynamic
                              ``OriginPullCertificate`` issued by it), ``pull-proof`` (dynamic
                              ``OriginPullProof``: the origin accepts it), ``aop-certificate``
                              (``AuthenticatedOriginPullsCertificate``, after the proof), ``aop-activation``
                              (dynamic ``AopActivation``: waits until it is active), ``aop-settings``
                              (``AuthenticatedOriginPullsSettings(enabled=True)``)
AOP ``hostname``              ``pull-ca``, ``pull-certificate``, ``pull-proof``, ``aop-hostname-certificate``
                              (``AuthenticatedOriginPullsHostnameCertificate``), ``aop-hostnames``
                              (``AuthenticatedOriginPulls`` with one config per hostname), ``aop-activation``
                              (each association names the new certificate, and it is active)
``auto-origin-tls-kex``       ``cloudflare.ZoneAutoOriginTlsKex(enabled=True)``: Cloudflare offers
                              X25519MLKEM768 to the origin when it supports it (``post_quantum``, both)
``pq-proof``                  ``"required"`` only: ``OriginPqProof`` (dynamic): the origin negotiates
                              X25519MLKEM768 when offered only it, after ``pull-proof`` when there is one
``origin-tls-compliance-      ``cloudflare.OriginTlsComplianceModes``: ``["pqh"]`` after ``pq-proof``
modes``                       (``"required"``); ``[]`` under ``"auto"``, so dropping the requirement is an
                              update the verification waits for, not a delete Pulumi would run last
``verification``              ``HandshakeVerification`` (dynamic), ``depends_on`` every child above;
                              ``require_pq`` under ``"required"``
``origin-certificate-         ``OriginCertificateRetirement`` (dynamic), after the verification: revokes
retirement``                  the origin certificates it saw replaced, once the origin serves the new one
============================  =========================================================================

The Cloudflare resources use the stack's ``cloudflare`` provider (``cloudflare:apiToken``), or the one passed in
``opts.providers``; the dynamic ones read the same config key in ``configure()``. No token ever goes into a
resource input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from origin_tls.baseline import AopMode, PostQuantum, parse_hostnames
from origin_tls.certs import GLOBAL_AOP_CA_URL
from origin_tls.errors import InvalidInput
from origin_tls.origin_config import build_nginx_config
from origin_tls.providers.activation import AopActivation
from origin_tls.providers.keys import OriginKey, OriginPullCa, OriginPullCertificate
from origin_tls.providers.pq_proof import OriginPqProof
from origin_tls.providers.pull_proof import OriginPullProof
from origin_tls.providers.retirement import OriginCertificateRetirement
from origin_tls.providers.verification import DEFAULT_SETTLE_SECONDS, HandshakeVerification
from origin_tls.providers.zone_setting import ZoneSettingPin

from .args import OriginProtectionArgs, Plan, plan_origin_protection

__all__ = ["TYPE_TOKEN", "OriginProtection", "build_inventory_targets"]

TYPE_TOKEN = "origin-tls:index:OriginProtection"  # noqa: S105 (a Pulumi type token, not a credential)


class OriginProtection(pulumi.ComponentResource):
    """Full (Strict) with an Origin CA certificate, HSTS, HTTPS only, a TLS floor, Authenticated Origin Pulls, and a
    ``HandshakeVerification`` that fails the deploy (with every finding) when the live posture is not that.

    Raises :class:`origin_tls.errors.InvalidInput` at construction for a bad argument known then; an argument
    wired from another resource's Output is validated by the providers' ``check`` at deploy time.
    """

    #: The Origin CA certificate (PEM) the origin serves.
    certificate_pem: pulumi.Output[str]
    #: Its private key (PEM, secret).
    private_key_pem: pulumi.Output[str]
    #: When the origin certificate expires (as Cloudflare reports it).
    expires_on: pulumi.Output[str]
    #: When the origin key and certificate are due for renewal (the first ``up`` after it replaces them).
    renew_at: pulumi.Output[str]
    #: The CA the origin trusts for pulls once the deploy is verified (zone/hostname AOP: the team's own CA alone;
    #: global/off: ``None``). Install it *after* a successful ``up``: it drops the previous CA last.
    pull_ca_pem: pulumi.Output[str | None]
    #: What the origin trusts *during* a rotation: the current CA and the previous one. Install it before (or
    #: during) ``up``; ``pull-proof`` checks the origin accepts the next client certificate before the upload.
    pull_ca_bundle_pem: pulumi.Output[str | None]
    #: Where to download the CA for global AOP (``None`` otherwise).
    pull_ca_url: pulumi.Output[str | None]
    #: The client certificate Cloudflare presents to the origin (zone/hostname AOP; ``None`` otherwise).
    client_certificate_pem: pulumi.Output[str | None]
    #: When the client certificate expires (``None`` without a client certificate of the team's own).
    client_expires_on: pulumi.Output[str | None]
    #: An nginx ``server`` block installing the certificate, requiring the pull client certificate, setting the floor.
    nginx_config: pulumi.Output[str]
    #: The verification report (``{"ok", "targets": [...]}``, ``DESIGN.md``).
    verification_report: pulumi.Output[dict[str, Any]]
    verification_ok: pulumi.Output[bool]
    #: This stack's hostnames as ``--inventory`` targets (no secrets, no key material; README "Fleets").
    inventory_target: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, args: OriginProtectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Validate everything known before registering anything: bad input registers nothing.
        plan = plan_origin_protection(args)
        # Known hostnames: the configuration now (its paths validated before anything registers); from an Output:
        # the paths are validated now with a stand-in name, the configuration follows the hostnames.
        nginx_config: str | pulumi.Output[str] = _nginx_config(
            plan, plan.hostnames if isinstance(plan.hostnames, tuple) else ["origin-tls.invalid"]
        )
        if not isinstance(plan.hostnames, tuple):
            nginx_config = plan.hostnames.apply(lambda names: _nginx_config(plan, names))
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        hostnames = _as_input_list(plan.hostnames)
        probe_hostnames = _as_input_list(plan.probe_hostnames)
        settings = self._zone_settings(name, plan, child)
        key = OriginKey(
            f"{name}-origin-key",
            hostnames=hostnames,
            key_type=plan.key_type.value,
            validity_days=plan.validity_days,
            rotation=args.rotation,
            renew_before_days=plan.renew_before_days,
            opts=child,
        )
        certificate = cloudflare.OriginCaCertificate(
            f"{name}-origin-certificate",
            csr=key.csr_pem,
            hostnames=hostnames,
            request_type=plan.key_type.request_type,
            requested_validity=plan.validity_days,
            # Revoked by the retirement below once the origin serves the successor (providers/retirement.py).
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        ca, pull, aop_resources = self._origin_pulls(name, plan, probe_hostnames, child)
        pq_resources = self._post_quantum(name, plan, probe_hostnames, pull, aop_resources)
        verification = HandshakeVerification(
            f"{name}-verification",
            hostnames=probe_hostnames,
            zone_id=plan.zone_id,
            edge=plan.edge,
            edge_http=plan.edge_http,
            origin=plan.origin,
            min_tls=plan.baseline.min_tls.value,
            hsts_max_age=plan.baseline.hsts.max_age,
            hsts_include_subdomains=plan.baseline.hsts.include_subdomains,
            hsts_preload=plan.baseline.hsts.preload,
            aop=plan.aop.value,
            origin_ca_pem=args.origin_ca_pem,
            origin_cert_pem=certificate.certificate,
            edge_ca_pem=args.edge_ca_pem,
            # The component's own client certificate: zone.aop_certificate and edge.origin_pull run with it.
            client_cert_pem=None if pull is None else pull.certificate_pem,
            client_key_pem=None if pull is None else pull.private_key_pem,
            api_url=args.api_url,
            timeout=plan.verify_timeout,
            settle_seconds=plan.settle_seconds,
            strict=args.strict,
            require_pq=plan.post_quantum is PostQuantum.REQUIRED,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*settings, key, certificate, *aop_resources, *pq_resources]
            ),
        )
        OriginCertificateRetirement(
            f"{name}-origin-certificate-retirement",
            certificate_id=certificate.id,
            api_url=args.api_url,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[verification]),
        )

        self.certificate_pem = certificate.certificate
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.expires_on = certificate.expires_on
        self.renew_at = key.renew_at
        if ca is None or pull is None:
            self.pull_ca_pem = pulumi.Output.from_input(None)
            self.pull_ca_bundle_pem = pulumi.Output.from_input(None)
            self.client_certificate_pem = pulumi.Output.from_input(None)
            self.client_expires_on = pulumi.Output.from_input(None)
        else:
            # Released only once the verification passed: Cloudflare presents a certificate of this CA by then.
            self.pull_ca_pem = pulumi.Output.all(verification.ok, ca.certificate_pem).apply(lambda v: v[1])
            self.pull_ca_bundle_pem = ca.trust_bundle_pem
            self.client_certificate_pem = pull.certificate_pem
            self.client_expires_on = pull.expires_on
        self.pull_ca_url = pulumi.Output.from_input(GLOBAL_AOP_CA_URL if plan.aop is AopMode.GLOBAL else None)
        self.nginx_config = pulumi.Output.from_input(nginx_config)
        self.verification_report = verification.report
        self.verification_ok = verification.ok
        self.inventory_target = pulumi.Output.all(
            probe_hostnames, plan.zone_id, plan.origin, plan.edge, plan.edge_http
        ).apply(lambda v: build_inventory_targets(plan, v[0], zone_id=v[1], origin=v[2], edge=v[3], edge_http=v[4]))
        self.register_outputs(
            {
                "certificate_pem": self.certificate_pem,
                "private_key_pem": self.private_key_pem,
                "expires_on": self.expires_on,
                "renew_at": self.renew_at,
                "pull_ca_pem": self.pull_ca_pem,
                "pull_ca_bundle_pem": self.pull_ca_bundle_pem,
                "pull_ca_url": self.pull_ca_url,
                "client_certificate_pem": self.client_certificate_pem,
                "client_expires_on": self.client_expires_on,
                "nginx_config": self.nginx_config,
                "verification_report": self.verification_report,
                "verification_ok": self.verification_ok,
                "inventory_target": self.inventory_target,
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

    def _post_quantum(
        self,
        name: str,
        plan: Plan,
        probe_hostnames: pulumi.Input[list[str]],
        pull: OriginPullCertificate | None,
        aop_resources: list[pulumi.Resource],
    ) -> list[pulumi.Resource]:
        """Automatic origin key exchange on; under ``"required"`` the proof, then ``pqh``. The compliance modes
        resource exists under ``"auto"`` too, holding ``[]``: when the requirement is dropped, ``pqh`` is cleared by
        an update that nothing waits on and the verification comes after, not by a delete, which Pulumi runs after
        every other step (with an origin already without ML-KEM, that verification would see 525s and the delete
        would never come)."""
        kex = cloudflare.ZoneAutoOriginTlsKex(
            f"{name}-auto-origin-tls-kex", zone_id=plan.zone_id, enabled=True, opts=pulumi.ResourceOptions(parent=self)
        )
        if plan.post_quantum is not PostQuantum.REQUIRED:
            modes = cloudflare.OriginTlsComplianceModes(
                f"{name}-origin-tls-compliance-modes",
                zone_id=plan.zone_id,
                values=[],
                opts=pulumi.ResourceOptions(parent=self),
            )
            return [kex, modes]
        pull_proof = [r for r in aop_resources if isinstance(r, OriginPullProof)]
        proof = OriginPqProof(
            f"{name}-pq-proof",
            hostnames=probe_hostnames,
            origin=plan.origin,  # type: ignore[arg-type]  # required with "required" (plan_origin_protection)
            client_cert_pem=None if pull is None else pull.certificate_pem,
            client_key_pem=None if pull is None else pull.private_key_pem,
            timeout=plan.verify_timeout,
            settle_seconds=plan.settle_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=pull_proof),
        )
        modes = cloudflare.OriginTlsComplianceModes(
            f"{name}-origin-tls-compliance-modes",
            zone_id=plan.zone_id,
            values=["pqh"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[kex, proof]),
        )
        return [kex, proof, modes]

    def _origin_pulls(
        self,
        name: str,
        plan: Plan,
        probe_hostnames: pulumi.Input[list[str]],
        child: pulumi.ResourceOptions,
    ) -> tuple[OriginPullCa | None, OriginPullCertificate | None, list[pulumi.Resource]]:
        """The team's own CA and client certificate, proven accepted by the origin, then uploaded and enabled (zone
        and hostname levels). Global AOP is the ``tls_client_auth`` zone setting, made with the others; ``off``
        makes nothing. README, "Rotations that never break a pull", gives the order and why."""
        if plan.aop not in (AopMode.ZONE, AopMode.HOSTNAME):
            return None, None, []
        ca = OriginPullCa(
            f"{name}-pull-ca",
            common_name=f"{name} origin pulls",
            rotation=plan.args.client_rotation,
            # A client certificate issued by it must not outlive it: rotate while one still fits.
            renew_before_days=plan.client_valid_days + plan.renew_before_days,
            also_trust_pem=plan.args.also_trust_pull_ca_pem,
            opts=child,
        )
        pull = OriginPullCertificate(
            f"{name}-pull-certificate",
            ca_certificate_pem=ca.certificate_pem,
            ca_private_key_pem=ca.private_key_pem,
            common_name=f"{name} origin pulls",
            valid_days=plan.client_valid_days,
            renew_before_days=plan.renew_before_days,
            opts=child,
        )
        proof = OriginPullProof(
            f"{name}-pull-proof",
            hostnames=probe_hostnames,
            origin=plan.origin,
            client_cert_pem=pull.certificate_pem,
            client_key_pem=pull.private_key_pem,
            timeout=plan.verify_timeout,
            settle_seconds=plan.settle_seconds,
            opts=child,
        )
        after_proof = pulumi.ResourceOptions(parent=self, depends_on=[proof])
        secret_key: pulumi.Output[str] = pulumi.Output.secret(pull.private_key_pem)
        if plan.aop is AopMode.ZONE:
            upload = cloudflare.AuthenticatedOriginPullsCertificate(
                f"{name}-aop-certificate",
                zone_id=plan.zone_id,
                certificate=pull.certificate_pem,
                private_key=secret_key,
                opts=after_proof,
            )
            # Active before anything after it, so the old upload is never deleted while the new one is pending.
            activation = AopActivation(
                f"{name}-aop-activation",
                zone_id=plan.zone_id,
                certificate_id=upload.id,
                api_url=plan.args.api_url,
                settle_seconds=plan.settle_seconds or DEFAULT_SETTLE_SECONDS,
                opts=child,
            )
            enable: pulumi.Resource = cloudflare.AuthenticatedOriginPullsSettings(
                f"{name}-aop-settings",
                zone_id=plan.zone_id,
                enabled=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[upload, activation]),
            )
            return ca, pull, [ca, pull, proof, upload, activation, enable]
        hostname_upload = cloudflare.AuthenticatedOriginPullsHostnameCertificate(
            f"{name}-aop-hostname-certificate",
            zone_id=plan.zone_id,
            certificate=pull.certificate_pem,
            private_key=secret_key,
            opts=after_proof,
        )
        configs: Any
        if isinstance(plan.probe_hostnames, tuple):
            configs = [
                cloudflare.AuthenticatedOriginPullsConfigArgs(cert_id=hostname_upload.id, enabled=True, hostname=host)
                for host in plan.probe_hostnames
            ]
        else:
            # Hostnames from another resource: the configs follow them (an apply that builds arguments, no resource).
            configs = pulumi.Output.all(hostname_upload.id, plan.probe_hostnames).apply(
                lambda v: [
                    cloudflare.AuthenticatedOriginPullsConfigArgs(cert_id=v[0], enabled=True, hostname=host)
                    for host in v[1]
                ]
            )
        enable = cloudflare.AuthenticatedOriginPulls(
            f"{name}-aop-hostnames", zone_id=plan.zone_id, configs=configs, opts=child
        )
        hostname_activation = AopActivation(
            f"{name}-aop-activation",
            zone_id=plan.zone_id,
            certificate_id=hostname_upload.id,
            hostnames=probe_hostnames,
            api_url=plan.args.api_url,
            settle_seconds=plan.settle_seconds or DEFAULT_SETTLE_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[enable]),
        )
        return ca, pull, [ca, pull, proof, hostname_upload, enable, hostname_activation]


def _as_input_list(value: tuple[str, ...] | pulumi.Output[Any]) -> pulumi.Input[list[str]]:
    return list(value) if isinstance(value, tuple) else value


def _nginx_config(plan: Plan, hostnames: Sequence[str]) -> str:
    args = plan.args
    try:
        names = parse_hostnames(list(hostnames), allow_wildcard=True)
    except InvalidInput as exc:
        # Hostnames from an Output: the origin key's check refuses them with this message before anything deploys.
        return f"# no nginx configuration: {exc}\n"
    return build_nginx_config(
        hostnames=names,
        certificate_path=args.nginx_certificate_path,
        key_path=args.nginx_key_path,
        client_ca_path=None if plan.aop is AopMode.OFF else args.nginx_client_ca_path,
        min_tls=plan.baseline.min_tls,
        listen_port=args.nginx_listen_port,
        upstream=args.nginx_upstream,
    )


def build_inventory_targets(
    plan: Plan,
    hostnames: Sequence[str],
    *,
    zone_id: str | None,
    origin: str | None,
    edge: str | None,
    edge_http: str | None,
) -> list[dict[str, Any]]:
    """One ``--inventory`` target per verified hostname, with this stack's origin, zone id and baseline options.

    No secrets and no key material: client certificate and key *paths* are not known to the stack, so a team adds
    ``client_cert``/``client_key`` in the inventory's ``defaults`` (README, "Fleets: collecting the stacks").
    """
    baseline = plan.baseline
    common: dict[str, Any] = {
        "zone_id": zone_id,
        "origin": origin,
        "edge": edge,
        "edge_http": edge_http,
        "api_url": plan.args.api_url,
        "min_tls": baseline.min_tls.value,
        "hsts_max_age": baseline.hsts.max_age,
        "hsts_include_subdomains": baseline.hsts.include_subdomains,
        "hsts_preload": baseline.hsts.preload,
        "aop": plan.aop.value,
        "require_pq": plan.post_quantum is PostQuantum.REQUIRED,
    }
    present = {key: value for key, value in common.items() if value is not None}
    return [{"hostname": host, **present} for host in hostnames]
