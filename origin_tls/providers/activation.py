"""``AopActivation``: wait until an uploaded zone-level AOP certificate is ``active`` before anything depends on it.

Cloudflare deploys an uploaded client certificate asynchronously (``pending_deployment``, then ``active``), and the
bridged ``AuthenticatedOriginPullsCertificate`` returns as soon as the upload is accepted. The old certificate is
deleted at the end of the deployment (create-before-delete); if it went while the new one was still pending, there
would be no active certificate and Cloudflare would pull with none: every pull refused. This resource sits between
the upload and everything after it (``aop-settings``, the verification, hence the deletes), and its
``create``/``update`` poll the certificate until it is active, within ``settle_seconds``.

Per-hostname AOP (``hostnames`` given): it sits after the associations and polls each hostname's association until
it names the new certificate and that certificate is active.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import parse_zone_id
from ..cloudflare import CloudflareClient
from ..errors import InvalidInput, OriginTlsError
from . import verification as _verification
from ._common import CloudflareAccess, check_fields, has_unknowns, optional_api_url
from ._proof import parse_settle
from .verification import parse_probe_hostnames

__all__ = ["AopActivation", "AopActivationProvider", "NotActivated"]

API_TIMEOUT = 10.0


def _certificate_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise InvalidInput("certificate_id", value, "the id of an uploaded AOP certificate")
    return value.strip()


def _optional_hostnames(value: object) -> tuple[str, ...] | None:
    return None if value is None else parse_probe_hostnames(value)


_PARSERS: dict[str, Any] = {
    "zone_id": parse_zone_id,
    "certificate_id": _certificate_id,
    "hostnames": _optional_hostnames,
    "api_url": optional_api_url,
    "settle_seconds": parse_settle,
}
_FIELDS = tuple(_PARSERS)


class NotActivated(OriginTlsError):
    """The uploaded certificate did not become active within the settle time."""


class AopActivationProvider(CloudflareAccess, dyn.ResourceProvider):
    """Builds a client per call (thread-safe); the token comes from ``configure()`` or the environment."""

    def wait(self, props: dict[str, Any]) -> dict[str, Any]:
        spec = {name: parser(props.get(name)) for name, parser in _PARSERS.items()}
        deadline = time.monotonic() + spec["settle_seconds"]
        with CloudflareClient(
            self.api_token("AopActivation (reading the uploaded AOP certificate's status)"),
            base_url=self.api_url(spec["api_url"]),
            timeout=API_TIMEOUT,
        ) as client:
            while True:
                status = self._status(client, spec)
                remaining = deadline - time.monotonic()
                if status == "active":
                    return {**{k: props.get(k) for k in _FIELDS}, "status": status}
                if remaining <= 0:
                    raise NotActivated(
                        f"AOP certificate {spec['certificate_id']} is {status!r}, not active, after "
                        f"{spec['settle_seconds']:g}s; the previous certificate is kept until it is"
                    )
                time.sleep(min(_verification.RETRY_INTERVAL, remaining))

    @staticmethod
    def _status(client: CloudflareClient, spec: dict[str, Any]) -> str:
        hostnames: tuple[str, ...] | None = spec["hostnames"]
        if hostnames is None:
            return str(client.get_zone_aop_certificate(spec["zone_id"], spec["certificate_id"]).get("status"))
        for host in hostnames:
            association = client.get_hostname_aop(spec["zone_id"], host)
            if str(association.get("cert_id")) != spec["certificate_id"]:
                return f"{host}: associated with another certificate"
            status = str(association.get("cert_status"))
            if status != "active":
                return f"{host}: {status}"
        return "active"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(_PARSERS, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        keys = ("zone_id", "certificate_id", "hostnames")
        changed = has_unknowns([news.get(k) for k in keys]) or any(olds.get(k) != news.get(k) for k in keys)
        return dyn.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=self.wait(props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=self.wait(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, {k: v for k, v in props.items() if k != "__provider"})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """An observation: nothing to remove."""


class AopActivation(dyn.Resource, module="origin-tls", name="AopActivation"):
    """Waits for an uploaded zone-level AOP certificate to be active;
    type ``pulumi-python:dynamic/origin-tls:AopActivation``."""

    status: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        zone_id: pulumi.Input[str],
        certificate_id: pulumi.Input[str],
        hostnames: pulumi.Input[list[str]] | None = None,
        api_url: pulumi.Input[str] | None = None,
        settle_seconds: pulumi.Input[float] = _verification.DEFAULT_SETTLE_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "zone_id": zone_id,
            "certificate_id": certificate_id,
            "hostnames": hostnames,
            "api_url": api_url,
            "settle_seconds": settle_seconds,
            "status": None,
        }
        super().__init__(AopActivationProvider(), resource_name, props, opts)
