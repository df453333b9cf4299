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

import hashlib
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import DEFAULT_TIMEOUT, Endpoint, parse_endpoint, parse_timeout
from ..errors import InvalidInput, OriginTlsError
from ..probes import AopOutcome, PullResult, probe_origin_pull
from . import verification as _verification
from ._common import check_fields, has_unknowns, inputs_of
from .verification import DEFAULT_SETTLE_SECONDS

__all__ = ["PROOF_INPUT_FIELDS", "PROOF_SECRET_OUTPUTS", "OriginPullProof", "OriginPullProofProvider", "PullRefused"]

PROOF_INPUT_FIELDS: tuple[str, ...] = (
    "hostnames",
    "origin",
    "client_cert_pem",
    "client_key_pem",
    "timeout",
    "settle_seconds",
)
PROOF_SECRET_OUTPUTS: tuple[str, ...] = ("client_key_pem",)


def _optional_origin(value: object) -> Endpoint | None:
    return None if value is None else parse_endpoint(value, field_name="origin", default_port=443)


def _pem(field_name: str, marker: str) -> Any:
    def parse(value: object) -> str:
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
    "origin": _optional_origin,
    "client_cert_pem": _pem("client_cert_pem", "CERTIFICATE-----"),
    "client_key_pem": _pem("client_key_pem", "PRIVATE KEY-----"),
    "timeout": lambda v: parse_timeout(DEFAULT_TIMEOUT if v is None else v),
    "settle_seconds": _settle,
}


class PullRefused(OriginTlsError):
    """The origin did not accept the next client certificate within the settle time."""


def _fingerprint(cert_pem: str) -> str:
    return hashlib.sha256(cert_pem.strip().encode("ascii", "replace")).hexdigest()


class OriginPullProofProvider(dyn.ResourceProvider):
    """Stateless between calls (thread-safe); no credentials."""

    def prove(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Pull with the certificate until every hostname is accepted or the settle time is spent."""
        spec = {name: parser(props.get(name)) for name, parser in _PARSERS.items()}
        origin: Endpoint | None = spec["origin"]
        # The key is not echoed: ``diff`` compares the certificate's fingerprint, and the key follows it.
        outs = {k: v for k, v in inputs_of(props, PROOF_INPUT_FIELDS).items() if k != "client_key_pem"}
        outs["certificate_sha256"] = _fingerprint(spec["client_cert_pem"])
        if origin is None:
            return {**outs, "proven": False, "detail": "no origin to pull from: the origin's trust was not proven"}
        deadline = time.monotonic() + spec["settle_seconds"]
        while True:
            results: dict[str, PullResult] = {
                host: probe_origin_pull(
                    origin,
                    host,
                    client_cert_pem=spec["client_cert_pem"],
                    client_key_pem=spec["client_key_pem"],
                    timeout=spec["timeout"],
                )
                for host in spec["hostnames"]
            }
            refused = {h: r for h, r in results.items() if r.outcome is not AopOutcome.ACCEPTED}
            remaining = deadline - time.monotonic()
            if not refused:
                detail = "; ".join(f"{h}: {r.detail}" for h, r in results.items())
                return {**outs, "proven": True, "detail": f"the origin accepted the certificate ({detail})"}
            if remaining <= 0:
                raise PullRefused(
                    f"the origin {origin} does not accept the next AOP client certificate yet "
                    + "; ".join(f"{h}: {r.outcome.value} ({r.detail})" for h, r in refused.items())
                    + ". Nothing was uploaded to Cloudflare: install the stack output pull_ca_bundle_pem as the "
                    "origin's client CA file (ssl_client_certificate), reload the origin, and run `pulumi up` again."
                )
            time.sleep(min(_verification.RETRY_INTERVAL, remaining))

    # -- engine calls

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(_PARSERS, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        if has_unknowns(inputs_of(news, PROOF_INPUT_FIELDS)):
            return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        cert = news.get("client_cert_pem")
        changed = olds.get("certificate_sha256") != (_fingerprint(cert) if isinstance(cert, str) else None)
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
        props: dict[str, Any] = {
            "hostnames": hostnames,
            "origin": origin,
            "client_cert_pem": client_cert_pem,
            "client_key_pem": pulumi.Output.secret(client_key_pem),
            "timeout": timeout,
            "settle_seconds": settle_seconds,
            "proven": None,
            "detail": None,
            "certificate_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(PROOF_SECRET_OUTPUTS))
        super().__init__(OriginPullProofProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))
