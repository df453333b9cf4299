"""``OriginCertificateRetirement``: revoke a replaced Origin CA certificate only once the origin serves the new one.

Why the component does not let ``cloudflare.OriginCaCertificate`` revoke on delete (read in pulumi/pulumi's engine,
``reference/pulumi-without-cli.md`` §1.4 and ``pkg/resource/deploy``):

1. A replacement is create-before-delete by default: the new certificate is created, and the delete (for the
   bridged provider: *revoke*) of the old one is a step scheduled after every create and update of the deployment.
2. When a later step fails (the ``HandshakeVerification`` of the new certificate: the origin still serves the old
   one), the deployment stops; the old certificate is left in the snapshot marked ``delete: true`` (pending
   deletion), not revoked. So far, so good.
3. But the next deployment begins with ``retirePendingDeletes`` (``deployment_executor.go``:
   ``stepGen.GeneratePendingDeletes()``, "ensures that the engine never sees any resources that are pending deletion
   from a previous deployment"), *before the program runs and before any verification*: the old certificate would
   be revoked at the start of the next ``pulumi up`` or ``destroy``, whatever the origin serves, and Cloudflare
   answers 526 for a revoked origin certificate.

So the component creates the certificate with ``retain_on_delete=True`` (the engine's delete step only forgets it)
and this resource, which ``depends_on`` the verification, revokes the certificates it has seen replaced: its
``update`` runs only after the verification proved that the origin serves the *current* certificate. If that
verification fails, this resource is not updated: it still holds the old id, and revokes it in the first deployment
whose verification passes. ``delete`` (the stack is destroyed) revokes the current certificate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..cloudflare import CloudflareClient
from ..errors import InvalidInput, NotFoundError
from ._common import CloudflareAccess, check_fields, has_unknowns, optional_api_url

__all__ = ["OriginCertificateRetirement", "OriginCertificateRetirementProvider"]

API_TIMEOUT = 10.0


def _certificate_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise InvalidInput("certificate_id", value, "the id of an Origin CA certificate")
    return value.strip()


_PARSERS: dict[str, Any] = {"certificate_id": _certificate_id, "api_url": optional_api_url}


def _ids(value: object) -> list[str]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [item for item in value if isinstance(item, str) and item]
    return []


class OriginCertificateRetirementProvider(CloudflareAccess, dyn.ResourceProvider):
    """Builds a client per call (thread-safe); the token comes from ``configure()`` or the environment."""

    def _revoke(self, props: Mapping[str, Any], ids: Sequence[str]) -> None:
        if not ids:
            return
        with CloudflareClient(
            self.api_token("OriginCertificateRetirement (revoking a replaced origin certificate)"),
            base_url=self.api_url(props.get("api_url")),
            timeout=API_TIMEOUT,
        ) as client:
            for certificate_id in ids:
                try:
                    client.revoke_origin_certificate(certificate_id)
                except NotFoundError:
                    continue  # revoked already (a retried deployment): the goal is reached

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(_PARSERS, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        new = news.get("certificate_id")
        changed = has_unknowns(new) or olds.get("certificate_id") != new or olds.get("api_url") != news.get("api_url")
        return dyn.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        current = _certificate_id(props.get("certificate_id"))
        outs: dict[str, Any] = {"certificate_id": current, "api_url": props.get("api_url"), "revoked": []}
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        current = _certificate_id(news.get("certificate_id"))
        previous = olds.get("certificate_id")
        retired = [i for i in [previous] if isinstance(i, str) and i and i != current]
        # Runs after the verification (depends_on): the origin serves ``current`` now.
        self._revoke(news, retired)
        revoked = [*_ids(olds.get("revoked")), *retired][-20:]
        return dyn.UpdateResult(outs={"certificate_id": current, "api_url": news.get("api_url"), "revoked": revoked})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, {k: v for k, v in props.items() if k != "__provider"})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        current = props.get("certificate_id")
        if isinstance(current, str) and current:
            self._revoke(props, [current])


class OriginCertificateRetirement(dyn.Resource, module="origin-tls", name="OriginCertificateRetirement"):
    """Revokes replaced origin certificates after the verification of their successor;
    type ``pulumi-python:dynamic/origin-tls:OriginCertificateRetirement``."""

    certificate_id: pulumi.Output[str]
    revoked: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        certificate_id: pulumi.Input[str],
        api_url: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {"certificate_id": certificate_id, "api_url": api_url, "revoked": None}
        super().__init__(OriginCertificateRetirementProvider(), resource_name, props, opts)
