"""Key material made once, inside a dynamic resource, kept in state as secrets, and renewed before it expires.

- ``OriginKey``: the origin certificate's private key and its CSR. Made in ``create`` (not when the program runs:
  a new CSR on every run would replace the ``cloudflare.OriginCaCertificate`` on every ``up``). Replaced when the
  key type, the hostnames, the validity or the ``rotation`` trigger change, and once the certificate requested for
  it enters its last ``renew_before_days`` (see :mod:`.renewal` for why the key is where that is known).
- ``OriginPullCa``: the team's own Authenticated Origin Pulls client CA, its key kept as a secret in state so that
  client certificates can be renewed under a CA the origin already trusts. A rotation (``rotation`` changed, or the
  CA near its end) is an in-place *update* that keeps the previous CA certificate (never its key): the published
  ``trust_bundle_pem`` holds both until the next rotation, so the origin can trust the new CA before Cloudflare
  presents anything it issued.
- ``OriginPullCertificate``: a client certificate issued by that CA, for Cloudflare to present. Replaced when its
  CA changes or it enters its last ``renew_before_days``.

None talks to any API: ``read`` returns the state as it is, ``delete`` forgets it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from .. import certs
from ..baseline import KeyType, parse_hostnames, parse_key_type, parse_validity_days
from ..errors import InvalidInput
from . import renewal
from ._common import check_fields, has_unknowns, whole

__all__ = [
    "CA_INPUT_FIELDS",
    "CA_SECRET_OUTPUTS",
    "CLIENT_INPUT_FIELDS",
    "CLIENT_SECRET_OUTPUTS",
    "DEFAULT_CA_VALID_DAYS",
    "DEFAULT_CLIENT_VALID_DAYS",
    "KEY_INPUT_FIELDS",
    "KEY_SECRET_OUTPUTS",
    "RENEWAL_KEY",
    "OriginKey",
    "OriginKeyProvider",
    "OriginPullCa",
    "OriginPullCaProvider",
    "OriginPullCertificate",
    "OriginPullCertificateProvider",
]

KEY_INPUT_FIELDS: tuple[str, ...] = ("key_type", "hostnames", "validity_days", "rotation", "renew_before_days")
KEY_SECRET_OUTPUTS: tuple[str, ...] = ("private_key_pem",)
CA_INPUT_FIELDS: tuple[str, ...] = (
    "common_name",
    "valid_days",
    "key_type",
    "rotation",
    "renew_before_days",
    "also_trust_pem",
)
CA_SECRET_OUTPUTS: tuple[str, ...] = ("private_key_pem",)
CLIENT_INPUT_FIELDS: tuple[str, ...] = (
    "ca_certificate_pem",
    "common_name",
    "valid_days",
    "key_type",
    "renew_before_days",
)
#: ``ca_private_key_pem`` is an input only (never echoed); the client key is generated.
CLIENT_SECRET_OUTPUTS: tuple[str, ...] = ("private_key_pem",)
#: Two years: Cloudflare alerts 30 and 14 days before an AOP certificate expires, and an expired one breaks pulls.
DEFAULT_CLIENT_VALID_DAYS = 730
#: The CA outlives many client certificates; it rotates when a client certificate issued now would outlive it.
DEFAULT_CA_VALID_DAYS = 3650
#: What ``diff`` names in ``replaces`` when the material is replaced because it is due for renewal.
RENEWAL_KEY = "renew_at"


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


def _days(default: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        days = whole(default if value is None else value)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise InvalidInput("valid_days", value, "a whole number of days from 1 to 3650")
        return days

    return parse


def _ca_pem(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("ca_certificate_pem", "<not text>", "the PEM certificate of the client CA")
    certs.load_pem_certificates(value, field_name="ca_certificate_pem")
    return value.strip() + "\n"


def _key_type(value: object) -> KeyType:
    return parse_key_type(KeyType.ECDSA_P256.value if value is None else value)


_KEY_PARSERS: dict[str, Callable[[object], Any]] = {
    "key_type": _key_type,
    "hostnames": lambda v: list(parse_hostnames(v, allow_wildcard=True)),
    "validity_days": lambda v: parse_validity_days(5475 if v is None else v),
    "rotation": _rotation,
}
_CA_PARSERS: dict[str, Callable[[object], Any]] = {
    "common_name": _common_name,
    "valid_days": _days(DEFAULT_CA_VALID_DAYS),
    "key_type": _key_type,
    "rotation": _rotation,
}
_CLIENT_PARSERS: dict[str, Callable[[object], Any]] = {
    "ca_certificate_pem": _ca_pem,
    "common_name": _common_name,
    "valid_days": _days(DEFAULT_CLIENT_VALID_DAYS),
    "key_type": _key_type,
}
#: Changed in place: a new renewal window does not need new key material (unless it makes it due now).
_IN_PLACE_PARSERS: dict[str, Callable[[object], Any]] = {"renew_before_days": renewal.parse_renew_before_days}


def _also_trust(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("also_trust_pem", "<not text>", "PEM text with at least one CA certificate")
    certs.load_pem_certificates(value, field_name="also_trust_pem")
    return value.strip() + "\n"


#: The CA's in-place fields: the renewal window, and CAs published beside it (e.g. the CA a stack trusted before it
#: had an ``OriginPullCa``, so that adopting one is a rotation like any other).
_CA_IN_PLACE_PARSERS: dict[str, Callable[[object], Any]] = {**_IN_PLACE_PARSERS, "also_trust_pem": _also_trust}


def _bundle(current: str, previous: object, also_trust: str | None) -> str:
    """New first: the order does not matter to nginx/OpenSSL, it does to a human reading the file."""
    parts = [current, previous if isinstance(previous, str) and previous.strip() else "", also_trust or ""]
    return "".join(parts)


def _parse(parsers: Mapping[str, Callable[[object], Any]], props: Mapping[str, Any]) -> dict[str, Any]:
    return {name: parser(props.get(name)) for name, parser in parsers.items()}


def _changed(
    parsers: Mapping[str, Callable[[object], Any]], olds: Mapping[str, Any], news: Mapping[str, Any]
) -> list[str]:
    changed: list[str] = []
    for name, parser in parsers.items():
        new = news.get(name)
        if has_unknowns(new):
            changed.append(name)
            continue
        try:
            same = parser(olds.get(name)) == parser(new)
        except InvalidInput:
            same = False
        if not same:
            changed.append(name)
    return changed


def _state(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: whole(value) for key, value in props.items() if key != "__provider"}


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def _lifetime(not_before: dt.datetime, not_after: dt.datetime, renew_before_days: int) -> dict[str, str]:
    """The validity and renewal instants every resource here keeps in state."""
    return {
        "not_before": _iso(not_before),
        "not_after": _iso(not_after),
        "renew_at": _iso(renewal.renew_after(not_before, not_after, renew_before_days)),
    }


def _renew_at(olds: Mapping[str, Any], news: Mapping[str, Any]) -> dt.datetime | None:
    """When the material in ``olds`` is due under the *new* renewal window (``None``: state does not say)."""
    not_before = renewal.parse_instant(olds.get("not_before"))
    not_after = renewal.parse_instant(olds.get("not_after"))
    if not_before is None or not_after is None:
        return None
    raw = news.get("renew_before_days")
    try:
        days = renewal.parse_renew_before_days(raw)
    except InvalidInput:
        return None
    return renewal.renew_after(not_before, not_after, days)


class _KeyMaterialProvider(dyn.ResourceProvider):
    """Key material made once in ``create``: a change of a ``parsers`` field replaces it, and so does reaching
    ``renew_at`` (``replaces = ["renew_at"]``); a new ``renew_before_days`` is an in-place update; refresh keeps what
    state holds."""

    parsers: Mapping[str, Callable[[object], Any]] = {}

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields({**self.parsers, **_IN_PLACE_PARSERS}, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        replaces = _changed(self.parsers, olds, news)
        if not replaces and renewal.is_renewal_due(_renew_at(olds, news)):
            replaces = [RENEWAL_KEY]
        if replaces:
            return dyn.DiffResult(changes=True, replaces=replaces, delete_before_replace=False)
        in_place = _changed(_IN_PLACE_PARSERS, olds, news)
        return dyn.DiffResult(changes=bool(in_place), replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, _state(props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        # Only the renewal window changes in place: same material, new renew_at.
        outs = _state(olds)
        days = renewal.parse_renew_before_days(news.get("renew_before_days"))
        outs["renew_before_days"] = days
        renew_at = _renew_at(olds, news)
        if renew_at is not None:
            outs["renew_at"] = _iso(renew_at)
        return dyn.UpdateResult(outs=outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing outside the state holds the material (Cloudflare's copy goes with its own resource)."""


class OriginKeyProvider(_KeyMaterialProvider):
    """Makes the origin private key and CSR. No credentials, no shared state."""

    parsers = _KEY_PARSERS

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = _parse(_KEY_PARSERS, props)
        days = renewal.parse_renew_before_days(props.get("renew_before_days"))
        key = certs.generate_private_key(spec["key_type"])
        # The certificate is requested right after this, so this is when its validity starts (see .renewal).
        requested_at = renewal.now()
        outs = {
            "key_type": spec["key_type"].value,
            "hostnames": spec["hostnames"],
            "validity_days": spec["validity_days"],
            "rotation": spec["rotation"],
            "renew_before_days": days,
            "request_type": spec["key_type"].request_type,
            "csr_pem": certs.build_csr(key, spec["hostnames"]),
            "private_key_pem": certs.private_key_to_pem(key),
            "public_key_sha256": certs.spki_sha256(key.public_key()),
            "requested_at": _iso(requested_at),
            **_lifetime(requested_at, requested_at + dt.timedelta(days=spec["validity_days"]), days),
        }
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)


def _new_ca(spec: Mapping[str, Any], renew_before_days: int) -> dict[str, Any]:
    key_type: KeyType = spec["key_type"]
    ca = certs.build_client_ca(f"{spec['common_name'][:61]} CA", valid_days=spec["valid_days"], key_type=key_type)
    info = certs.inspect_certificate(ca.certificate)
    return {
        "common_name": spec["common_name"],
        "valid_days": spec["valid_days"],
        "key_type": key_type.value,
        "rotation": spec["rotation"],
        "renew_before_days": renew_before_days,
        "certificate_pem": ca.certificate_pem,
        "private_key_pem": ca.private_key_pem,
        "certificate_sha256": certs.spki_sha256(ca.certificate.public_key()),
        "expires_on": _iso(info.not_after),
        **_lifetime(info.not_before, info.not_after, renew_before_days),
    }


class OriginPullCaProvider(dyn.ResourceProvider):
    """Makes the AOP client CA; a rotation is an update that keeps the previous CA certificate (not its key)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields({**_CA_PARSERS, **_CA_IN_PLACE_PARSERS}, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = _changed({**_CA_PARSERS, **_CA_IN_PLACE_PARSERS}, olds, news)
        due = renewal.is_renewal_due(_renew_at(olds, news))
        # Never a replacement: the previous CA must stay in the bundle until the next rotation (module docstring).
        return dyn.DiffResult(changes=bool(changed) or due, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = _parse(_CA_PARSERS, props)
        outs = _new_ca(spec, renewal.parse_renew_before_days(props.get("renew_before_days")))
        also = _also_trust(props.get("also_trust_pem"))
        outs.update(
            also_trust_pem=also,
            previous_certificate_pem=None,
            trust_bundle_pem=_bundle(outs["certificate_pem"], None, also),
        )
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        spec = _parse(_CA_PARSERS, news)
        days = renewal.parse_renew_before_days(news.get("renew_before_days"))
        also = _also_trust(news.get("also_trust_pem"))
        rotate = bool(_changed(_CA_PARSERS, olds, news)) or renewal.is_renewal_due(_renew_at(olds, news))
        if not rotate:
            outs = _state(olds)
            outs["renew_before_days"] = days
            renew_at = _renew_at(olds, news)
            if renew_at is not None:
                outs["renew_at"] = _iso(renew_at)
            outs["also_trust_pem"] = also
            outs["trust_bundle_pem"] = _bundle(outs["certificate_pem"], outs.get("previous_certificate_pem"), also)
            return dyn.UpdateResult(outs=outs)
        outs = _new_ca(spec, days)
        previous = olds.get("certificate_pem")
        previous = previous if isinstance(previous, str) and previous.strip() else None
        outs["also_trust_pem"] = also
        outs["previous_certificate_pem"] = previous
        outs["trust_bundle_pem"] = _bundle(outs["certificate_pem"], previous, also)
        return dyn.UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, _state(props))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """The CA lives only in state."""


class OriginPullCertificateProvider(_KeyMaterialProvider):
    """Issues an AOP client certificate under the given CA. No credentials, no shared state."""

    parsers = _CLIENT_PARSERS

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        result = super().check(olds, news)
        key = news.get("ca_private_key_pem")
        if not has_unknowns(key) and (not isinstance(key, str) or "PRIVATE KEY-----" not in key):
            result.failures.append(dyn.CheckFailure("ca_private_key_pem", "ca_private_key_pem must be a PEM key"))
        return result

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = _parse(_CLIENT_PARSERS, props)
        days = renewal.parse_renew_before_days(props.get("renew_before_days"))
        ca = certs.ClientCa(spec["ca_certificate_pem"], str(props.get("ca_private_key_pem")))
        key_type: KeyType = spec["key_type"]
        cert_pem, key_pem = certs.issue_client_certificate(
            ca, common_name=spec["common_name"], valid_days=spec["valid_days"], key_type=key_type
        )
        info = certs.inspect_certificate(certs.load_pem_certificates(cert_pem, field_name="certificate_pem")[0])
        outs = {
            "ca_certificate_pem": spec["ca_certificate_pem"],
            "common_name": spec["common_name"],
            "valid_days": spec["valid_days"],
            "key_type": key_type.value,
            "renew_before_days": days,
            "certificate_pem": cert_pem,
            "private_key_pem": key_pem,
            "expires_on": _iso(info.not_after),
            **_lifetime(info.not_before, info.not_after, days),
        }
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=outs)


class OriginKey(dyn.Resource, module="origin-tls", name="OriginKey"):
    """The origin certificate's private key (secret) and CSR; type ``pulumi-python:dynamic/origin-tls:OriginKey``."""

    csr_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    request_type: pulumi.Output[str]
    public_key_sha256: pulumi.Output[str]
    #: When the certificate requested for this key is due for renewal (ISO 8601).
    renew_at: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        hostnames: pulumi.Input[list[str]],
        key_type: pulumi.Input[str] = KeyType.ECDSA_P256.value,
        validity_days: pulumi.Input[int] = 5475,
        rotation: pulumi.Input[str] = "",
        renew_before_days: pulumi.Input[int] = renewal.DEFAULT_RENEW_BEFORE_DAYS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "key_type": key_type,
            "hostnames": hostnames,
            "validity_days": validity_days,
            "rotation": rotation,
            "renew_before_days": renew_before_days,
            "request_type": None,
            "csr_pem": None,
            "private_key_pem": None,
            "public_key_sha256": None,
            "renew_at": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(KEY_SECRET_OUTPUTS))
        super().__init__(OriginKeyProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))


class OriginPullCa(dyn.Resource, module="origin-tls", name="OriginPullCa"):
    """The AOP client CA (its key secret in state) and the bundle the origin trusts during a rotation;
    type ``pulumi-python:dynamic/origin-tls:OriginPullCa``."""

    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    previous_certificate_pem: pulumi.Output[str | None]
    #: The CA and, after a rotation, the previous one: what the origin must trust while Cloudflare switches.
    trust_bundle_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        common_name: pulumi.Input[str],
        valid_days: pulumi.Input[int] = DEFAULT_CA_VALID_DAYS,
        key_type: pulumi.Input[str] = KeyType.ECDSA_P256.value,
        rotation: pulumi.Input[str] = "",
        renew_before_days: pulumi.Input[int] = DEFAULT_CLIENT_VALID_DAYS + renewal.DEFAULT_RENEW_BEFORE_DAYS,
        also_trust_pem: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "common_name": common_name,
            "valid_days": valid_days,
            "key_type": key_type,
            "rotation": rotation,
            "renew_before_days": renew_before_days,
            "also_trust_pem": also_trust_pem,
            "certificate_pem": None,
            "private_key_pem": None,
            "previous_certificate_pem": None,
            "trust_bundle_pem": None,
            "expires_on": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(CA_SECRET_OUTPUTS))
        super().__init__(OriginPullCaProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))


class OriginPullCertificate(dyn.Resource, module="origin-tls", name="OriginPullCertificate"):
    """An AOP client certificate and key (secret) issued by an :class:`OriginPullCa`;
    type ``pulumi-python:dynamic/origin-tls:OriginPullCertificate``."""

    ca_certificate_pem: pulumi.Output[str]
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]
    renew_at: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        ca_certificate_pem: pulumi.Input[str],
        ca_private_key_pem: pulumi.Input[str],
        common_name: pulumi.Input[str],
        valid_days: pulumi.Input[int] = DEFAULT_CLIENT_VALID_DAYS,
        key_type: pulumi.Input[str] = KeyType.ECDSA_P256.value,
        renew_before_days: pulumi.Input[int] = renewal.DEFAULT_RENEW_BEFORE_DAYS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "ca_certificate_pem": ca_certificate_pem,
            "ca_private_key_pem": pulumi.Output.secret(ca_private_key_pem),
            "common_name": common_name,
            "valid_days": valid_days,
            "key_type": key_type,
            "renew_before_days": renew_before_days,
            "certificate_pem": None,
            "private_key_pem": None,
            "expires_on": None,
            "renew_at": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(CLIENT_SECRET_OUTPUTS))
        super().__init__(
            OriginPullCertificateProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret)
        )
