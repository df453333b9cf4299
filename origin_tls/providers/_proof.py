"""What the proof-before-switch providers share (``OriginPullProof``, ``OriginPqProof``).

Each proves one thing about the origin before the component changes Cloudflare: it probes every hostname, retries
within ``settle_seconds``, and either records ``proven`` or raises with words that say what to do. The inputs, their
parsing, the retry loop, ``diff`` (the certificate's fingerprint, the hostnames, the origin) and the engine calls
are the same for both; a subclass gives only its parsers and :meth:`ProofProvider.prove`.

Subclasses stay importable module-level classes with no instance state, so dill pickles them by reference.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import pulumi
import pulumi.dynamic as dyn

from ..baseline import DEFAULT_TIMEOUT, parse_timeout
from ..errors import InvalidInput
from . import verification as _verification
from ._common import check_fields, has_unknowns, inputs_of
from .verification import DEFAULT_SETTLE_SECONDS

__all__ = [
    "PROOF_INPUT_FIELDS",
    "PROOF_SECRET_OUTPUTS",
    "ProofProvider",
    "fingerprint",
    "parse_settle",
    "parse_timeout_or_default",
    "pem_parser",
    "proof_props",
    "retry_within",
    "with_secret_outputs",
]

T = TypeVar("T")

PROOF_INPUT_FIELDS: tuple[str, ...] = (
    "hostnames",
    "origin",
    "client_cert_pem",
    "client_key_pem",
    "timeout",
    "settle_seconds",
)
PROOF_SECRET_OUTPUTS: tuple[str, ...] = ("client_key_pem",)


def pem_parser(field_name: str, marker: str, *, optional: bool = False) -> Callable[[object], str | None]:
    """A parser for a PEM field containing ``marker``; ``optional``: ``None`` is allowed. Never quotes the value."""

    def parse(value: object) -> str | None:
        if optional and value is None:
            return None
        if not isinstance(value, str) or marker not in value:
            raise InvalidInput(field_name, "<redacted>", f"a PEM {marker.strip('-').lower()}")
        return value

    return parse


def parse_settle(value: object) -> float:
    """``settle_seconds``: absent = the default; else a number of seconds from 0 to 1800."""
    if value is None:
        return DEFAULT_SETTLE_SECONDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) <= 1800:
        raise InvalidInput("settle_seconds", value, "a number of seconds from 0 to 1800")
    return float(value)


def parse_timeout_or_default(value: object) -> float:
    return parse_timeout(DEFAULT_TIMEOUT if value is None else value)


def fingerprint(cert_pem: str | None) -> str | None:
    """SHA-256 of the certificate's PEM text (``diff`` compares it; the key follows the certificate)."""
    return None if cert_pem is None else hashlib.sha256(cert_pem.strip().encode("ascii", "replace")).hexdigest()


def retry_within(
    spec: Mapping[str, Any], probe: Callable[..., T], failed: Callable[[T], bool]
) -> tuple[dict[str, T], dict[str, T]]:
    """``probe(origin, hostname, timeout=, client_cert_pem=, client_key_pem=)`` every hostname of the parsed ``spec``
    until none has ``failed`` or ``settle_seconds`` are spent, sleeping ``verification.RETRY_INTERVAL`` between rounds.
    Returns the last results and those that failed (empty: proven)."""
    deadline = time.monotonic() + spec["settle_seconds"]
    while True:
        results = {
            host: probe(
                spec["origin"],
                host,
                timeout=spec["timeout"],
                client_cert_pem=spec["client_cert_pem"],
                client_key_pem=spec["client_key_pem"],
            )
            for host in spec["hostnames"]
        }
        failing = {host: result for host, result in results.items() if failed(result)}
        remaining = deadline - time.monotonic()
        if not failing or remaining <= 0:
            return results, failing
        time.sleep(min(_verification.RETRY_INTERVAL, remaining))


class ProofProvider(dyn.ResourceProvider):
    """Stateless between calls (thread-safe); no credentials. Subclasses set :attr:`parsers` and :meth:`prove`."""

    parsers: ClassVar[Mapping[str, Callable[[object], Any]]]

    def prove(self, props: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def spec(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Every input parsed (:class:`InvalidInput` on the first refused one)."""
        return {name: parser(props.get(name)) for name, parser in self.parsers.items()}

    @staticmethod
    def echoed(props: Mapping[str, Any], cert_pem: str | None) -> dict[str, Any]:
        """The outputs every proof records: its inputs without the key, and the certificate's fingerprint."""
        outs = {k: v for k, v in inputs_of(props, PROOF_INPUT_FIELDS).items() if k != "client_key_pem"}
        outs["certificate_sha256"] = fingerprint(cert_pem)
        return outs

    # -- engine calls

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(self.parsers, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        if has_unknowns(inputs_of(news, PROOF_INPUT_FIELDS)):
            return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        cert = news.get("client_cert_pem")
        changed = olds.get("certificate_sha256") != fingerprint(cert if isinstance(cert, str) else None)
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


def proof_props(
    *,
    hostnames: object,
    origin: object,
    client_cert_pem: object,
    client_key_pem: object,
    timeout: object,
    settle_seconds: object,
    outputs: tuple[str, ...],
) -> dict[str, Any]:
    """A proof resource's property bag: the inputs (the key as a secret) and its ``outputs`` still unknown."""
    props: dict[str, Any] = {
        "hostnames": hostnames,
        "origin": origin,
        "client_cert_pem": client_cert_pem,
        "client_key_pem": None if client_key_pem is None else pulumi.Output.secret(client_key_pem),
        "timeout": timeout,
        "settle_seconds": settle_seconds,
    }
    return {**props, **dict.fromkeys(outputs)}


def with_secret_outputs(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    secret = pulumi.ResourceOptions(additional_secret_outputs=list(PROOF_SECRET_OUTPUTS))
    return pulumi.ResourceOptions.merge(opts, secret)
