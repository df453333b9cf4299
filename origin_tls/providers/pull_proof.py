"""``OriginPullProof``: before Cloudflare is given a client certificate, prove the origin accepts it.

The component uploads an AOP client certificate only after this resource: its ``create``/``update`` pulls ``/``
from the origin directly (SNI and ``Host`` = each hostname) presenting the *next* certificate, the way Cloudflare
will, retrying within ``settle_seconds``; when the origin refuses it, the deployment stops here, before the upload,
so Cloudflare never presents a certificate the origin does not trust yet. The message says what to install
(``pull_ca_bundle_pem``: the new CA beside the old one).

Without ``origin`` there is nothing to pull from: the resource records ``proven = false`` and lets the deployment
go on (the verification skips the origin checks too); README, "Rotations that never break a pull".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import DEFAULT_TIMEOUT, Endpoint, parse_endpoint
from ..errors import OriginTlsError
from ..probes import AopOutcome, probe_origin_pull
from . import verification as _verification
from ._proof import (
    PROOF_INPUT_FIELDS,
    PROOF_SECRET_OUTPUTS,
    ProofProvider,
    parse_settle,
    parse_timeout_or_default,
    pem_parser,
    proof_props,
    retry_within,
    with_secret_outputs,
)
from .verification import DEFAULT_SETTLE_SECONDS

__all__ = ["PROOF_INPUT_FIELDS", "PROOF_SECRET_OUTPUTS", "OriginPullProof", "OriginPullProofProvider", "PullRefused"]


def _optional_origin(value: object) -> Endpoint | None:
    return None if value is None else parse_endpoint(value, field_name="origin", default_port=443)


_PARSERS: dict[str, Any] = {
    "hostnames": _verification.parse_probe_hostnames,
    "origin": _optional_origin,
    "client_cert_pem": pem_parser("client_cert_pem", "CERTIFICATE-----"),
    "client_key_pem": pem_parser("client_key_pem", "PRIVATE KEY-----"),
    "timeout": parse_timeout_or_default,
    "settle_seconds": parse_settle,
}


class PullRefused(OriginTlsError):
    """The origin did not accept the next client certificate within the settle time."""


class OriginPullProofProvider(ProofProvider):
    """Stateless between calls (thread-safe); no credentials."""

    parsers = _PARSERS

    def prove(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Pull with the certificate until every hostname is accepted or the settle time is spent."""
        spec = self.spec(props)
        origin: Endpoint | None = spec["origin"]
        # The key is not echoed: ``diff`` compares the certificate's fingerprint, and the key follows it.
        outs = self.echoed(props, spec["client_cert_pem"])
        if origin is None:
            return {**outs, "proven": False, "detail": "no origin to pull from: the origin's trust was not proven"}

        results, refused = retry_within(spec, probe_origin_pull, lambda r: r.outcome is not AopOutcome.ACCEPTED)
        if not refused:
            detail = "; ".join(f"{h}: {r.detail}" for h, r in results.items())
            return {**outs, "proven": True, "detail": f"the origin accepted the certificate ({detail})"}
        raise PullRefused(
            f"the origin {origin} does not accept the next AOP client certificate yet "
            + "; ".join(f"{h}: {r.outcome.value} ({r.detail})" for h, r in refused.items())
            + ". Nothing was uploaded to Cloudflare: install the stack output pull_ca_bundle_pem as the "
            "origin's client CA file (ssl_client_certificate), reload the origin, and run `pulumi up` again."
        )


class OriginPullProof(dyn.Resource, module="origin-tls", name="OriginPullProof"):
    """Proof that the origin accepts a client certificate before Cloudflare gets it;
    type ``pulumi-python:dynamic/origin-tls:OriginPullProof``."""

    proven: pulumi.Output[bool]
    detail: pulumi.Output[str]
    certificate_sha256: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        hostnames: pulumi.Input[list[str]],
        origin: pulumi.Input[str] | None,
        client_cert_pem: pulumi.Input[str],
        client_key_pem: pulumi.Input[str],
        timeout: pulumi.Input[float] = DEFAULT_TIMEOUT,
        settle_seconds: pulumi.Input[float] = DEFAULT_SETTLE_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = proof_props(
            hostnames=hostnames,
            origin=origin,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            timeout=timeout,
            settle_seconds=settle_seconds,
            outputs=("proven", "detail", "certificate_sha256"),
        )
        super().__init__(OriginPullProofProvider(), resource_name, props, with_secret_outputs(opts))
