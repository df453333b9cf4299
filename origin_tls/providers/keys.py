"""Key material made once, inside a dynamic resource, and kept in state as secrets.

- ``OriginKey``: the origin certificate's private key and its CSR. Made in ``create`` (not when the program runs:
  a new CSR on every run would replace the ``cloudflare.OriginCaCertificate`` on every ``up``). Replaced when the
  key type, the hostnames or the ``rotation`` trigger change.
- ``OriginPullCertificate``: the team's own Authenticated Origin Pulls client CA and a client certificate it issued,
  for zone-level and per-hostname AOP. Cloudflare presents the client certificate to the origin; the origin trusts
  the CA (``ca_certificate_pem``). The CA's private key is discarded after issuing: rotating means a new CA and a
  new client certificate together (change ``rotation``), so no long-lived CA key sits in state.

Neither talks to any API: ``read`` returns the state as it is, ``delete`` forgets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from .. import certs
from ..baseline import KeyType, parse_hostnames, parse_key_type
from ..errors import InvalidInput
from ._common import check_fields, has_unknowns, whole

__all__ = [
    "CLIENT_INPUT_FIELDS",
    "CLIENT_SECRET_OUTPUTS",
    "DEFAULT_CLIENT_VALID_DAYS",
    "KEY_INPUT_FIELDS",
    "KEY_SECRET_OUTPUTS",
    "OriginKey",
    "OriginKeyProvider",
    "OriginPullCertificate",
    "OriginPullCertificateProvider",
]

KEY_INPUT_FIELDS: tuple[str, ...] = ("key_type", "hostnames", "rotation")
KEY_SECRET_OUTPUTS: tuple[str, ...] = ("private_key_pem",)
CLIENT_INPUT_FIELDS: tuple[str, ...] = ("common_name", "valid_days", "key_type", "rotation")
CLIENT_SECRET_OUTPUTS: tuple[str, ...] = ("private_key_pem",)
#: Two years: Cloudflare alerts 30 and 14 days before an AOP certificate expires, and an expired one breaks pulls.
DEFAULT_CLIENT_VALID_DAYS = 730
#: The CA outlives its client certificates; it is replaced with them anyway (its key is not kept).
_CLIENT_CA_VALID_DAYS = 3650


def _rotation(value: object, field_name: str = "rotation") -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidInput(field_name, value, "a string of at most 256 characters (change it to rotate)")
    return value


def _common_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 64:
        raise InvalidInput("common_name", value, "text of 1 to 64 characters")
    return value.strip()


def _valid_days(value: object) -> int:
    days = whole(DEFAULT_CLIENT_VALID_DAYS if value is None else value)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidInput("valid_days", value, "a whole number of days from 1 to 3650")
    return days


_KEY_PARSERS: dict[str, Callable[[object], Any]] = {
    "key_type": lambda v: parse_key_type(KeyType.ECDSA_P256.value if v is None else v),
    "hostnames": lambda v: list(parse_hostnames(v, allow_wildcard=True)),
    "rotation": _rotation,
}
_CLIENT_PARSERS: dict[str, Callable[[object], Any]] = {
    "common_name": _common_name,
    "valid_days": _valid_days,
    "key_type": lambda v: parse_key_type(KeyType.ECDSA_P256.value if v is None else v),
    "rotation": _rotation,
}


def _parse(parsers: Mapping[str, Callable[[object], Any]], props: Mapping[str, Any]) -> dict[str, Any]:
    return {name: parser(props.get(name)) for name, parser in parsers.items()}


def _replacing_diff(
    parsers: Mapping[str, Callable[[object], Any]], olds: dict[str, Any], news: dict[str, Any]
) -> dyn.DiffResult:
    """Every input change replaces (new key material); ``__provider`` and unrelated keys are ignored."""
    replaces: list[str] = []
    for name, parser in parsers.items():
        new = news.get(name)
        if has_unknowns(new):
            replaces.append(name)
            continue
        try:
            same = parser(olds.get(name)) == parser(new)
        except InvalidInput:
            same = False
        if not same:
            replaces.append(name)
    return dyn.DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)


def _state(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: whole(value) for key, value in props.items() if key != "__provider"}


class _ReplaceOnlyProvider(dyn.ResourceProvider):
    """Key material made once in ``create``: every input change replaces it, refresh keeps what state holds."""

    parsers: Mapping[str, Callable[[object], Any]] = {}

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(self.parsers, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return _replacing_diff(self.parsers, olds, news)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, _state(props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        # Every input replaces, so the engine never asks for an in-place update; keep the old material if it does.
        return dyn.UpdateResult(outs=_state(olds))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing outside the state holds the key (Cloudflare's copy goes with its own resource)."""


class OriginKeyProvider(_ReplaceOnlyProvider):
    """Makes the origin private key and CSR. No credentials, no shared state."""

    parsers = _KEY_PARSERS

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = _parse(_KEY_PARSERS, props)
        key = certs.generate_private_key(spec["key_type"])
        outs = {
            "key_type": spec["key_type"].value,
            "hostnames": spec["hostnames"],
            "rotation": spec["rotation"],
            "request_type": spec["key_type"].request_type,
            "csr_pem": certs.build_csr(key, spec["hostnames"]),
            "private_key_pem": certs.private_key_to_pem(key),
            "public_key_sha256": certs.spki_sha256(key.public_key()),
        }
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)


class OriginPullCertificateProvider(_ReplaceOnlyProvider):
    """Makes an AOP client CA and a client certificate it signs. No credentials, no shared state."""

    parsers = _CLIENT_PARSERS

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = _parse(_CLIENT_PARSERS, props)
        key_type: KeyType = spec["key_type"]
        ca = certs.build_client_ca(
            f"{spec['common_name'][:61]} CA", valid_days=_CLIENT_CA_VALID_DAYS, key_type=key_type
        )
        cert_pem, key_pem = certs.issue_client_certificate(
            ca, common_name=spec["common_name"], valid_days=spec["valid_days"], key_type=key_type
        )
        info = certs.inspect_certificate(certs.load_pem_certificates(cert_pem, field_name="certificate_pem")[0])
        outs = {
            "common_name": spec["common_name"],
            "valid_days": spec["valid_days"],
            "key_type": key_type.value,
            "rotation": spec["rotation"],
            "ca_certificate_pem": ca.certificate_pem,
            "certificate_pem": cert_pem,
            "private_key_pem": key_pem,
            "expires_on": info.not_after.isoformat(),
        }
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)


class OriginKey(dyn.Resource, module="origin-tls", name="OriginKey"):
    """The origin certificate's private key (secret) and CSR; type ``pulumi-python:dynamic/origin-tls:OriginKey``."""

    csr_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    request_type: pulumi.Output[str]
    public_key_sha256: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        hostnames: pulumi.Input[list[str]],
        key_type: pulumi.Input[str] = KeyType.ECDSA_P256.value,
        rotation: pulumi.Input[str] = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "key_type": key_type,
            "hostnames": hostnames,
            "rotation": rotation,
            "request_type": None,
            "csr_pem": None,
            "private_key_pem": None,
            "public_key_sha256": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(KEY_SECRET_OUTPUTS))
        super().__init__(OriginKeyProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))


class OriginPullCertificate(dyn.Resource, module="origin-tls", name="OriginPullCertificate"):
    """An AOP client CA plus client certificate and key (secret);
    type ``pulumi-python:dynamic/origin-tls:OriginPullCertificate``."""

    ca_certificate_pem: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        common_name: pulumi.Input[str],
        valid_days: pulumi.Input[int] = DEFAULT_CLIENT_VALID_DAYS,
        key_type: pulumi.Input[str] = KeyType.ECDSA_P256.value,
        rotation: pulumi.Input[str] = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "common_name": common_name,
            "valid_days": valid_days,
            "key_type": key_type,
            "rotation": rotation,
            "ca_certificate_pem": None,
            "certificate_pem": None,
            "private_key_pem": None,
            "expires_on": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(CLIENT_SECRET_OUTPUTS))
        super().__init__(
            OriginPullCertificateProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret)
        )
