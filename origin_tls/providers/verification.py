"""``HandshakeVerification``: a dynamic resource whose whole job is to prove the posture on every deploy and preview.

Lifecycle (what the engine calls, ``reference/pulumi-without-cli.md`` §1.3-1.4):

- ``check``: validates every field (one ``CheckFailure`` each). For an existing resource whose inputs did not
  change, it also observes the live posture once (bounded) and records what drifted in the ``drift`` input, so that
  ``pulumi preview`` shows ``~ drift: [] => ["app.example.com zone.ssl: fail (expected strict, observed full)"]``
  (the Python provider server drops ``detailedDiff``, and the CLI shows a diff of old and new *inputs*). In
  ``strict`` mode drift fails the preview instead.
- ``diff``: input changes (``__provider`` ignored) or recorded drift are a change; when ``check`` did not run,
  ``diff`` observes itself.
- ``create``/``update``: verify, retrying within ``settle_seconds`` (edge settings take seconds to apply); then fail
  the deployment with every finding, or record the report.
- ``read`` (refresh): re-observes; the new report, ``ok`` and ``drift`` replace the old ones.
- ``delete``: nothing to remove.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from .. import certs
from ..baseline import (
    DEFAULT_HSTS_MAX_AGE,
    DEFAULT_TIMEOUT,
    Baseline,
    Endpoint,
    HstsPolicy,
    parse_aop_mode,
    parse_endpoint,
    parse_hostnames,
    parse_hsts_max_age,
    parse_timeout,
    parse_tls_version,
    parse_zone_id,
)
from ..errors import InvalidInput, OriginTlsError
from ..report import Report, Status
from ..verify import Target, VerifyOptions, verify
from ._common import CloudflareAccess, MissingCredentials, has_unknowns, inputs_of, optional_api_url

__all__ = [
    "DEFAULT_SETTLE_SECONDS",
    "INPUT_FIELDS",
    "PREVIEW_TIMEOUT",
    "REFRESH_HINT",
    "RETRY_INTERVAL",
    "SECRET_OUTPUTS",
    "HandshakeVerification",
    "HandshakeVerificationProvider",
    "VerificationFailed",
    "VerificationSpec",
    "build_drift",
    "parse_probe_hostnames",
    "parse_verification_inputs",
]

#: Edge settings take seconds to reach every data centre; a deploy waits this long for the posture to converge.
DEFAULT_SETTLE_SECONDS = 120.0
MAX_SETTLE_SECONDS = 1800.0
#: Seconds between two verifications while settling.
RETRY_INTERVAL = 5.0
#: Per-operation bound during preview (check, diff) and refresh: one observation, no retries.
PREVIEW_TIMEOUT = 5.0

INPUT_FIELDS: tuple[str, ...] = (
    "hostnames",
    "zone_id",
    "edge",
    "edge_http",
    "origin",
    "min_tls",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
    "aop",
    "origin_ca_pem",
    "origin_cert_pem",
    "edge_ca_pem",
    "client_cert_pem",
    "client_key_pem",
    "api_url",
    "timeout",
    "settle_seconds",
    "strict",
    "require_pq",
)
#: Inputs a state written before they existed lacks: read as their default, so that adding one changes nothing.
_INPUT_DEFAULTS: dict[str, Any] = {"require_pq": False}
#: Outputs that must be secret in state (``additional_secret_outputs`` takes raw names for dynamic resources).
SECRET_OUTPUTS: tuple[str, ...] = ("client_key_pem",)
_DRIFT = "drift"
#: One observation's budget, in operation timeouts: connect, handshake, answer.
RUN_DEADLINE_TIMEOUTS = 3

#: What to do about drift: Pulumi re-applies the declared zone settings only once it has seen the live values.
REFRESH_HINT = "If the zone was changed outside Pulumi, `pulumi up --refresh` re-applies the declared settings."


@dataclass(frozen=True)
class VerificationSpec:
    """The validated inputs: what to probe, against which baseline, with which options."""

    targets: tuple[Target, ...]
    baseline: Baseline
    options: VerifyOptions = field(repr=False)
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    strict: bool = False
    #: The resource's own ``api_url`` input; ``None``: the configured one, else Cloudflare's.
    api_url: str | None = None

    def with_timeout(self, timeout: float) -> VerificationSpec:
        """The same verification with every operation bounded by at most ``timeout`` seconds."""
        return replace(self, options=replace(self.options, timeout=min(timeout, self.options.timeout)))


def _bool(value: object, field_name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(field_name, value, "true or false")
    return value


def _optional_endpoint(value: object, field_name: str, default_port: int) -> Endpoint | None:
    return None if value is None else parse_endpoint(value, field_name=field_name, default_port=default_port)


def _optional_certs(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field_name, "<not text>", "PEM text with at least one certificate")
    certs.load_pem_certificates(value, field_name=field_name)
    return value


def _optional_key(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "PRIVATE KEY-----" not in value:
        # Never echo a (possibly) secret value into an error message.
        raise InvalidInput(field_name, "<redacted>", "a PEM private key")
    return value


def _settle(value: object) -> float:
    allowed = f"a number of seconds from 0 to {MAX_SETTLE_SECONDS:g}"
    if value is None:
        return DEFAULT_SETTLE_SECONDS
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("settle_seconds", value, allowed)
    seconds = float(value)
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SETTLE_SECONDS):
        raise InvalidInput("settle_seconds", value, allowed)
    return seconds


def parse_probe_hostnames(value: object) -> tuple[str, ...]:
    # The component's own parser (wildcards allowed), so that a hostname wired from an Output is refused here with
    # the message construction gives; then wildcards, which can be certified but not connected to.
    names = parse_hostnames(value, field_name="hostnames", allow_wildcard=True)
    wildcards = [name for name in names if name.startswith("*.")]
    if wildcards:
        raise InvalidInput("hostnames", wildcards, "hostnames to connect to, without a wildcard")
    return names


# One parser per field, so that ``check`` reports every bad field, not just the first.
_FIELD_PARSERS: dict[str, Any] = {
    "hostnames": parse_probe_hostnames,
    "zone_id": lambda v: None if v is None else parse_zone_id(v),
    "edge": lambda v: _optional_endpoint(v, "edge", 443),
    "edge_http": lambda v: _optional_endpoint(v, "edge_http", 80),
    "origin": lambda v: _optional_endpoint(v, "origin", 443),
    "min_tls": lambda v: parse_tls_version("1.2" if v is None else v, field_name="min_tls"),
    "hsts_max_age": lambda v: parse_hsts_max_age(DEFAULT_HSTS_MAX_AGE if v is None else v),
    "hsts_include_subdomains": lambda v: _bool(v, "hsts_include_subdomains", True),
    "hsts_preload": lambda v: _bool(v, "hsts_preload", False),
    "aop": lambda v: None if v is None else parse_aop_mode(v),
    "origin_ca_pem": lambda v: _optional_certs(v, "origin_ca_pem"),
    "origin_cert_pem": lambda v: _optional_certs(v, "origin_cert_pem"),
    "edge_ca_pem": lambda v: _optional_certs(v, "edge_ca_pem"),
    "client_cert_pem": lambda v: _optional_certs(v, "client_cert_pem"),
    "client_key_pem": lambda v: _optional_key(v, "client_key_pem"),
    "api_url": optional_api_url,
    "timeout": lambda v: parse_timeout(DEFAULT_TIMEOUT if v is None else v),
    "settle_seconds": _settle,
    "strict": lambda v: _bool(v, "strict", False),
    "require_pq": lambda v: _bool(v, "require_pq", False),
}


def _parse_fields(props: Mapping[str, Any]) -> tuple[dict[str, Any], list[InvalidInput]]:
    parsed: dict[str, Any] = {}
    errors: list[InvalidInput] = []
    for name, parser in _FIELD_PARSERS.items():
        value = props.get(name)
        if has_unknowns(value):
            continue
        try:
            parsed[name] = parser(value)
        except InvalidInput as exc:
            errors.append(exc)
    if not errors and (parsed.get("client_cert_pem") is None) != (parsed.get("client_key_pem") is None):
        errors.append(InvalidInput("client_key_pem", "<redacted>", "given together with client_cert_pem"))
    if not errors and "hsts_preload" in parsed:
        try:
            HstsPolicy(parsed["hsts_max_age"], parsed["hsts_include_subdomains"], parsed["hsts_preload"])
        except InvalidInput as exc:
            errors.append(exc)
    return parsed, errors


def parse_verification_inputs(props: Mapping[str, Any]) -> VerificationSpec:
    """Resource inputs -> :class:`VerificationSpec`; :class:`InvalidInput` for the first bad field."""
    if has_unknowns(inputs_of(props, INPUT_FIELDS)):
        raise InvalidInput("inputs", "<unknown>", "known values (they are resolved before create and update)")
    parsed, errors = _parse_fields(props)
    if errors:
        raise errors[0]
    hsts = HstsPolicy(parsed["hsts_max_age"], parsed["hsts_include_subdomains"], parsed["hsts_preload"])
    baseline = Baseline(min_tls=parsed["min_tls"], hsts=hsts, aop=parsed["aop"], require_pq=parsed["require_pq"])
    targets = tuple(
        Target(hostname, edge=parsed["edge"], edge_http=parsed["edge_http"], origin=parsed["origin"])
        for hostname in parsed["hostnames"]
    )
    options = VerifyOptions(
        origin_ca_pem=parsed["origin_ca_pem"],
        origin_cert_pem=parsed["origin_cert_pem"],
        edge_ca_pem=parsed["edge_ca_pem"],
        client_cert_pem=parsed["client_cert_pem"],
        client_key_pem=parsed["client_key_pem"],
        zone_id=parsed["zone_id"],
        timeout=parsed["timeout"],
    )
    return VerificationSpec(targets, baseline, options, parsed["settle_seconds"], parsed["strict"], parsed["api_url"])


def build_drift(report: Report) -> list[str]:
    """One line per failing or inconclusive check, e.g. ``app.example.com zone.ssl: fail (expected strict,
    observed full)``; empty when the posture holds."""
    return [
        f"{host} {check.id}: {check.status.value} (expected {check.expected or '-'}, observed {check.observed or '-'})"
        for host, check in report.with_status(Status.FAIL, Status.INCONCLUSIVE)
    ]


class VerificationFailed(OriginTlsError):
    """The posture did not meet the baseline within the settle time. The message is the whole report summary."""

    def __init__(self, report: Report, settle_seconds: float) -> None:
        self.report = report
        super().__init__(
            f"origin TLS verification failed (after waiting up to {settle_seconds:g}s for settings to settle):\n"
            + report.summary()
            + "\n"
            + REFRESH_HINT
        )


class HandshakeVerificationProvider(CloudflareAccess, dyn.ResourceProvider):
    """The provider behind :class:`HandshakeVerification`. Stateless between calls (thread-safe)."""

    def observe(self, spec: VerificationSpec) -> Report:
        """One verification run, each probe bounded by the spec's timeout and the whole run by
        ``RUN_DEADLINE_TIMEOUTS`` timeouts. The zone is read only with a ``zone_id``, and then a token is required
        (:class:`MissingCredentials` names where to put it)."""
        token: str | None = None
        # Whatever the peers do (tarpit, trickle), one observation ends within this many timeouts.
        options = replace(spec.options, deadline=RUN_DEADLINE_TIMEOUTS * spec.options.timeout)
        if options.zone_id is not None:
            token = self.api_token("HandshakeVerification (zone_id is set, so the zone settings are read)")
            # The resource's own api_url wins; else the configured one (cloudflare:baseUrl -> e.g. the sandbox).
            options = replace(options, api_url=self.api_url(spec.api_url))
        return verify(spec.targets, spec.baseline, options, api_token=token)

    def settle(self, spec: VerificationSpec) -> Report:
        """Verify until the posture holds or ``settle_seconds`` is spent; the last report either way."""
        deadline = time.monotonic() + spec.settle_seconds
        while True:
            report = self.observe(spec)
            remaining = deadline - time.monotonic()
            if report.ok or remaining <= 0:
                return report
            time.sleep(min(RETRY_INTERVAL, remaining))

    # -- engine calls ------------------------------------------------------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        parsed, errors = _parse_fields(news)
        failures = [dyn.CheckFailure(exc.field.split("[")[0], str(exc)) for exc in errors]
        inputs = dict(news)
        inputs.pop(_DRIFT, None)
        drift: list[str] = []
        # ``olds`` are the old inputs; empty on create and on replacement: nothing to compare with yet.
        unchanged = "hostnames" in olds and _same_inputs(olds, news)
        if not failures and unchanged and not has_unknowns(inputs_of(news, INPUT_FIELDS)):
            try:
                report = self.observe(parse_verification_inputs(news).with_timeout(PREVIEW_TIMEOUT))
            except MissingCredentials as exc:
                failures.append(dyn.CheckFailure("zone_id", str(exc)))
            except InvalidInput as exc:
                failures.append(dyn.CheckFailure(exc.field.split("[")[0], str(exc)))
            else:
                drift = build_drift(report)
                if drift and parsed.get("strict"):
                    failures.append(
                        dyn.CheckFailure(
                            "strict",
                            "the live posture drifted from the baseline (strict mode fails the preview): "
                            + "; ".join(drift)
                            + ". "
                            + REFRESH_HINT,
                        )
                    )
        inputs[_DRIFT] = drift
        return dyn.CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # ``olds`` are the old *outputs* (the engine's DiffRequest.olds); they echo every input field.
        if not _same_inputs(olds, news):
            return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        if olds.get("ok") is False:
            # A refresh recorded a failing report: re-verify so state does not keep it once the zone is fixed.
            return dyn.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        drift = news.get(_DRIFT)
        if not isinstance(drift, list):
            # check() did not run (a caller that skips it): observe here, once and bounded.
            drift = build_drift(self.observe(parse_verification_inputs(news).with_timeout(PREVIEW_TIMEOUT)))
        return dyn.DiffResult(changes=bool(drift), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = parse_verification_inputs(props)
        report = self.settle(spec)
        if not report.ok:
            raise VerificationFailed(report, spec.settle_seconds)
        return dyn.CreateResult(id_=uuid.uuid4().hex, outs=_outs(props, report))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        spec = parse_verification_inputs(news)
        report = self.settle(spec)
        if not report.ok:
            raise VerificationFailed(report, spec.settle_seconds)
        return dyn.UpdateResult(outs=_outs(news, report))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        try:
            spec = parse_verification_inputs(props)
        except InvalidInput:
            return dyn.ReadResult(id_, {k: v for k, v in props.items() if k != "__provider"})
        report = self.observe(spec.with_timeout(PREVIEW_TIMEOUT))
        return dyn.ReadResult(id_, _outs(props, report))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Nothing to remove: the resource is an observation."""


def _normalised(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_normalised(item) for item in value]
    return value


def _same_inputs(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    return all(_normalised(_input(olds, key)) == _normalised(_input(news, key)) for key in INPUT_FIELDS)


def _input(props: Mapping[str, Any], key: str) -> Any:
    value = props.get(key)
    return _INPUT_DEFAULTS.get(key) if value is None else value


def _outs(props: Mapping[str, Any], report: Report) -> dict[str, Any]:
    """Echo of the inputs (``read`` and ``diff`` get only old outputs) plus the observation."""
    outs = {key: _normalised(value) for key, value in inputs_of(props, INPUT_FIELDS).items()}
    outs.update(ok=report.ok, report=report.to_dict(), summary=report.summary(), drift=build_drift(report))
    return outs


class HandshakeVerification(dyn.Resource, module="origin-tls", name="HandshakeVerification"):
    """Proves the origin TLS posture on every deploy; type ``pulumi-python:dynamic/origin-tls:HandshakeVerification``.

    Give it the hostnames and the baseline; ``zone_id`` also reads the zone's settings (token via ``configure()``),
    ``origin`` (``HOST:PORT``) also probes the origin directly. ``client_key_pem`` should be a secret Output; it is
    listed in ``additional_secret_outputs`` either way.
    """

    ok: pulumi.Output[bool]
    report: pulumi.Output[dict[str, Any]]
    summary: pulumi.Output[str]
    drift: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        hostnames: pulumi.Input[Sequence[pulumi.Input[str]]],
        zone_id: pulumi.Input[str] | None = None,
        edge: pulumi.Input[str] | None = None,
        edge_http: pulumi.Input[str] | None = None,
        origin: pulumi.Input[str] | None = None,
        min_tls: pulumi.Input[str] = "1.2",
        hsts_max_age: pulumi.Input[int] = DEFAULT_HSTS_MAX_AGE,
        hsts_include_subdomains: pulumi.Input[bool] = True,
        hsts_preload: pulumi.Input[bool] = False,
        aop: pulumi.Input[str] | None = None,
        origin_ca_pem: pulumi.Input[str] | None = None,
        origin_cert_pem: pulumi.Input[str] | None = None,
        edge_ca_pem: pulumi.Input[str] | None = None,
        client_cert_pem: pulumi.Input[str] | None = None,
        client_key_pem: pulumi.Input[str] | None = None,
        api_url: pulumi.Input[str] | None = None,
        timeout: pulumi.Input[float] = DEFAULT_TIMEOUT,
        settle_seconds: pulumi.Input[float] = DEFAULT_SETTLE_SECONDS,
        strict: pulumi.Input[bool] = False,
        require_pq: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "hostnames": hostnames,
            "zone_id": zone_id,
            "edge": edge,
            "edge_http": edge_http,
            "origin": origin,
            "min_tls": min_tls,
            "hsts_max_age": hsts_max_age,
            "hsts_include_subdomains": hsts_include_subdomains,
            "hsts_preload": hsts_preload,
            "aop": aop,
            "origin_ca_pem": origin_ca_pem,
            "origin_cert_pem": origin_cert_pem,
            "edge_ca_pem": edge_ca_pem,
            "client_cert_pem": client_cert_pem,
            "client_key_pem": None if client_key_pem is None else pulumi.Output.secret(client_key_pem),
            "api_url": api_url,
            "timeout": timeout,
            "settle_seconds": settle_seconds,
            "strict": strict,
            "require_pq": require_pq,
            # Outputs (filled by create/read):
            "ok": None,
            "report": None,
            "summary": None,
            "drift": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        super().__init__(
            HandshakeVerificationProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret)
        )
