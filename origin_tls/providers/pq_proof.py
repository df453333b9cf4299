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

import hashlib
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import DEFAULT_TIMEOUT, Endpoint, parse_endpoint, parse_timeout
from ..errors import InvalidInput, OriginTlsError
from ..pq import PqOutcome, PqResult, probe_pq_key_agreement
from . import verification as _verification
from ._common import check_fields, has_unknowns, inputs_of
from .verification import DEFAULT_SETTLE_SECONDS

__all__ = ["PQ_PROOF_INPUT_FIELDS", "OriginPqProof", "OriginPqProofProvider", "PqNotProven"]

PQ_PROOF_INPUT_FIELDS: tuple[str, ...] = (
    "hostnames",
    "origin",
    "client_cert_pem",
    "client_key_pem",
    "timeout",
    "settle_seconds",
)
_SECRET_OUTPUTS: tuple[str, ...] = ("client_key_pem",)


def _origin(value: object) -> Endpoint:
    if value is None:
        raise InvalidInput("origin", None, "HOST:PORT of the origin: the post-quantum proof connects to it")
    return parse_endpoint(value, field_name="origin", default_port=443)


def _optional_pem(field_name: str, marker: str) -> Any:
    def parse(value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or marker not in value:
            raise InvalidInput(field_name, "<redacted>", f"a PEM {marker.strip('-').lower()}")
        return value

    return parse


def _settle(value: object) -> float:
    if value is None:
        return DEFAULT_SETTLE_SECONDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) <= 1800:
        raise InvalidInput("settle_seconds", value, "a number of seconds from 0 to 1800")
    return float(value)


_PARSERS: dict[str, Any] = {
    "hostnames": _verification.parse_probe_hostnames,
    "origin": _origin,
    "client_cert_pem": _optional_pem("client_cert_pem", "CERTIFICATE-----"),
    "client_key_pem": _optional_pem("client_key_pem", "PRIVATE KEY-----"),
    "timeout": lambda v: parse_timeout(DEFAULT_TIMEOUT if v is None else v),
    "settle_seconds": _settle,
}


class PqNotProven(OriginTlsError):
    """The origin did not negotiate X25519MLKEM768 within the settle time: ``pqh`` was not set."""


def _fingerprint(cert_pem: str | None) -> str | None:
    return None if cert_pem is None else hashlib.sha256(cert_pem.strip().encode("ascii", "replace")).hexdigest()


def _words(result: PqResult) -> str:
    group = f", selected {result.group}" if result.group else ""
    return f"{result.outcome.value}{group}: {result.detail}"


class OriginPqProofProvider(dyn.ResourceProvider):
    """Stateless between calls (thread-safe); no credentials."""

    def prove(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Probe every hostname until each negotiates X25519MLKEM768 or the settle time is spent."""
        spec = {name: parser(props.get(name)) for name, parser in _PARSERS.items()}
        if (spec["client_cert_pem"] is None) != (spec["client_key_pem"] is None):
            raise InvalidInput("client_key_pem", "<redacted>", "given together with client_cert_pem")
        origin: Endpoint = spec["origin"]
        outs = {k: v for k, v in inputs_of(props, PQ_PROOF_INPUT_FIELDS).items() if k != "client_key_pem"}
        outs["certificate_sha256"] = _fingerprint(spec["client_cert_pem"])
        deadline = time.monotonic() + spec["settle_seconds"]
        while True:
            results: dict[str, PqResult] = {
                host: probe_pq_key_agreement(
                    origin,
                    host,
                    timeout=spec["timeout"],
                    client_cert_pem=spec["client_cert_pem"],
                    client_key_pem=spec["client_key_pem"],
                )
                for host in spec["hostnames"]
            }
            missing = {h: r for h, r in results.items() if r.outcome is not PqOutcome.NEGOTIATED}
            if not missing:
                return {
                    **outs,
                    "proven": True,
                    "groups": {h: r.group for h, r in results.items()},
                    "detail": "the origin negotiated X25519MLKEM768 ("
                    + "; ".join(f"{h}: {r.detail}" for h, r in results.items())
                    + ")",
                }
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PqNotProven(
                    f"the origin {origin} does not negotiate X25519MLKEM768 when offered only it (Cloudflare's "
                    "handshake under the pqh compliance mode): "
                    + "; ".join(f"{h}: {_words(r)}" for h, r in missing.items())
                    + ". Nothing was changed at Cloudflare: origin_tls_compliance_modes was not set to pqh, so "
                    "pulls go on as before. Give the origin a TLS library with ML-KEM (OpenSSL 3.5+, BoringSSL, "
                    "AWS-LC, Go 1.24+), or keep post_quantum = 'auto'."
                )
            time.sleep(min(_verification.RETRY_INTERVAL, remaining))

    # -- engine calls

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(_PARSERS, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        if has_unknowns(inputs_of(news, PQ_PROOF_INPUT_FIELDS)):
            return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        cert = news.get("client_cert_pem")
        changed = olds.get("certificate_sha256") != _fingerprint(cert if isinstance(cert, str) else None)
        changed = changed or any(olds.get(k) != news.get(k) for k in ("hostnames", "origin"))
        return dyn.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=self.prove(props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=self.prove(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, {k: v for k, v in props.items() if k != "__provider"})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """An observation: nothing to remove."""


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
        props: dict[str, Any] = {
            "hostnames": hostnames,
            "origin": origin,
            "client_cert_pem": client_cert_pem,
            "client_key_pem": None if client_key_pem is None else pulumi.Output.secret(client_key_pem),
            "timeout": timeout,
            "settle_seconds": settle_seconds,
            "proven": None,
            "detail": None,
            "groups": None,
            "certificate_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(_SECRET_OUTPUTS))
        super().__init__(OriginPqProofProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))
