"""``OriginPqProof``: before the zone requires post-quantum key agreement, prove the origin can do it.

``OriginProtection(post_quantum="required")`` sets ``origin_tls_compliance_modes = ["pqh"]`` only after this
resource: its ``create``/``update`` makes Cloudflare's ``pqh`` handshake to the origin directly (SNI = each hostname;
TLS 1.3, X25519MLKEM768 alone, :func:`origin_tls.pq.probe_pq_key_agreement`) with the stack's client certificate, and
retries within ``settle_seconds``. When the origin does not negotiate X25519MLKEM768, the deployment stops here,
before the setting is written, so requiring it never produces a 525. It is the AOP rotation's proof-before-switch
(:mod:`.pull_proof`) for the key agreement.

The client certificate: in TLS 1.3 the server selects the group and sends its Finished before it sees a client
certificate, so the verdict does not depend on it; that the origin *accepts* the certificate is ``pull-proof``'s
evidence, which this proof comes after in the component.

An origin is required (there is no "not proven, go on" here, unlike ``pull-proof``): without one nothing could be
proven and the zone must not be switched. A network error is no evidence either: it fails the proof, with its words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import DEFAULT_TIMEOUT, Endpoint, parse_endpoint
from ..errors import InvalidInput, OriginTlsError
from ..pq import PqOutcome, PqResult, probe_pq_key_agreement
from . import verification as _verification
from ._proof import (
    PROOF_INPUT_FIELDS,
    ProofProvider,
    parse_settle,
    parse_timeout_or_default,
    pem_parser,
    proof_props,
    retry_within,
    with_secret_outputs,
)
from .verification import DEFAULT_SETTLE_SECONDS

__all__ = ["PQ_PROOF_INPUT_FIELDS", "OriginPqProof", "OriginPqProofProvider", "PqNotProven"]

PQ_PROOF_INPUT_FIELDS: tuple[str, ...] = PROOF_INPUT_FIELDS


def _origin(value: object) -> Endpoint:
    if value is None:
        raise InvalidInput("origin", None, "HOST:PORT of the origin: the post-quantum proof connects to it")
    return parse_endpoint(value, field_name="origin", default_port=443)


_PARSERS: dict[str, Any] = {
    "hostnames": _verification.parse_probe_hostnames,
    "origin": _origin,
    "client_cert_pem": pem_parser("client_cert_pem", "CERTIFICATE-----", optional=True),
    "client_key_pem": pem_parser("client_key_pem", "PRIVATE KEY-----", optional=True),
    "timeout": parse_timeout_or_default,
    "settle_seconds": parse_settle,
}


class PqNotProven(OriginTlsError):
    """The origin did not negotiate X25519MLKEM768 within the settle time: ``pqh`` was not set."""


def _words(result: PqResult) -> str:
    group = f", selected {result.group}" if result.group else ""
    return f"{result.outcome.value}{group}: {result.detail}"


class OriginPqProofProvider(ProofProvider):
    """Stateless between calls (thread-safe); no credentials."""

    parsers = _PARSERS

    def prove(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Probe every hostname until each negotiates X25519MLKEM768 or the settle time is spent."""
        spec = self.spec(props)
        if (spec["client_cert_pem"] is None) != (spec["client_key_pem"] is None):
            raise InvalidInput("client_key_pem", "<redacted>", "given together with client_cert_pem")
        origin: Endpoint = spec["origin"]
        outs = self.echoed(props, spec["client_cert_pem"])

        results, missing = retry_within(spec, probe_pq_key_agreement, lambda r: r.outcome is not PqOutcome.NEGOTIATED)
        if not missing:
            return {
                **outs,
                "proven": True,
                "groups": {h: r.group for h, r in results.items()},
                "detail": "the origin negotiated X25519MLKEM768 ("
                + "; ".join(f"{h}: {r.detail}" for h, r in results.items())
                + ")",
            }
        raise PqNotProven(
            f"the origin {origin} does not negotiate X25519MLKEM768 when offered only it (Cloudflare's "
            "handshake under the pqh compliance mode): "
            + "; ".join(f"{h}: {_words(r)}" for h, r in missing.items())
            + ". Nothing was changed at Cloudflare: origin_tls_compliance_modes was not set to pqh, so "
            "pulls go on as before. Give the origin a TLS library with ML-KEM (OpenSSL 3.5+, BoringSSL, "
            "AWS-LC, Go 1.24+), or keep post_quantum = 'auto'."
        )


class OriginPqProof(dyn.Resource, module="origin-tls", name="OriginPqProof"):
    """Proof that the origin negotiates X25519MLKEM768 before the zone requires it;
    type ``pulumi-python:dynamic/origin-tls:OriginPqProof``."""

    proven: pulumi.Output[bool]
    detail: pulumi.Output[str]
    groups: pulumi.Output[dict[str, str]]
    certificate_sha256: pulumi.Output[str | None]

    def __init__(
        self,
        resource_name: str,
        *,
        hostnames: pulumi.Input[list[str]],
        origin: pulumi.Input[str],
        client_cert_pem: pulumi.Input[str] | None = None,
        client_key_pem: pulumi.Input[str] | None = None,
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
            outputs=("proven", "detail", "groups", "certificate_sha256"),
        )
        super().__init__(OriginPqProofProvider(), resource_name, props, with_secret_outputs(opts))
