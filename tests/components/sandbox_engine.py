"""A mock backend that does, for each resource ``OriginProtection`` registers, what ``pulumi up`` would do, against a
sandbox zone: Cloudflare resources become the API calls the bridged provider makes; dynamic resources are unpickled
from their ``__provider`` and driven as the engine drives them (``configure``, ``check``, ``diff``, ``create`` /
``update``) with secrets already stripped (the provider server does not accept secrets).

It keeps state between runs, so a second ``up`` of the same stack behaves as the engine's would
(``reference/pulumi-without-cli.md`` §1.4): unchanged resources are left alone; a dynamic resource is updated or
replaced as its ``diff`` says; a Cloudflare resource whose inputs changed is replaced create-before-delete (the old
one deleted at the end of a successful run, or at the start of the next run: ``retirePendingDeletes``), and one
with ``retain_on_delete`` (the origin certificate) is only forgotten. Once a step fails, no later step runs.

The origin's operator is played too, at the points a team's own origin deployment would act:

- right before ``pull-proof``, the published ``pull_ca_bundle_pem`` (the current and the previous pull CA) becomes
  the origin's client CA (``install_bundle=False``: the operator has not done it yet);
- right before the verification, the origin certificate and key (``install_on_origin=False`` skips that: the
  verification must then catch an origin serving the old certificate);
- :meth:`finish` (after the run), the final ``pull_ca_pem`` alone, dropping the previous CA.

``naive=True`` plays the order this design replaces: no proof, the origin is given the new CA only after the run;
for post-quantum key agreement, ``pqh`` is set without the origin's proof (``OriginPqProof`` is recorded, not run).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import dill
import httpx
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime.mocks import MockResourceArgs

from origin_tls.errors import OriginTlsError
from origin_tls.providers.verification import VerificationFailed
from origin_tls.sandbox.runner import Sandbox
from tests.components.conftest import unwrap

__all__ = ["SandboxEngine"]

_CF = "cloudflare:index/"
_RETAINED = ("originCaCertificate:OriginCaCertificate",)


def _ints(value: Any) -> Any:
    # The bridged provider sends whole numbers as JSON integers; the mock RPC hands them over as floats.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


@dataclass
class _Resource:
    typ: str
    id: str
    inputs: dict[str, Any]
    outs: dict[str, Any]


@dataclass
class RunLog:
    """What one run did, per resource name: ``create``, ``update``, ``replace``, ``same``, ``skipped``."""

    steps: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)


class SandboxEngine:
    def __init__(
        self,
        sandbox: Sandbox,
        *,
        install_on_origin: bool = True,
        install_bundle: bool = True,
        naive: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.install_on_origin = install_on_origin
        self.install_bundle = install_bundle
        self.naive = naive
        self.errors: list[BaseException] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.state: dict[str, _Resource] = {}
        self.log = RunLog()
        self._pending: list[tuple[str, _Resource]] = []
        self._config = {"cloudflare:apiToken": sandbox.token, "cloudflare:baseUrl": sandbox.info.api_url}
        #: Called with (role, engine) at each operator point: tests hook a prober's marks here.
        self.on_event: Callable[[str], None] = lambda _event: None

    # -- runs

    def start_run(self) -> None:
        """A new ``pulumi up``: pending deletes of a previous failed run first, then a fresh log."""
        self._retire_pending()
        self.errors = []
        self.log = RunLog()

    def finish(self) -> None:
        """End of a run: the deletes of replaced resources (only when every step succeeded), then the operator
        installs the final ``pull_ca_pem`` (the current CA alone)."""
        if self.errors:
            return
        self._retire_pending()
        ca = self.outputs.get("OriginPullCa")
        if ca is not None:
            self._set_client_ca(ca["certificate_pem"])
            self.on_event("installed-final-ca")

    def _retire_pending(self) -> None:
        pending, self._pending = self._pending, []
        for name, old in pending:
            self._delete(old)
            self.log.deleted.append(name)

    # -- the engine's side

    def __call__(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if self.errors:
            # The engine starts no step after a failure; the program still registers, we answer with the old state.
            self.log.steps[args.name] = "skipped"
            old = self.state.get(args.name)
            return (old.id, old.outs) if old is not None else ("skipped", dict(args.inputs))
        try:
            inputs = _ints(unwrap(args.inputs))
            resource = self._step(args.name, args.typ, inputs)
        except (VerificationFailed, OriginTlsError) as exc:
            # Where the engine would stop the deployment and print the message. Recorded and answered with a failed
            # report instead of raised: an error inside the mock runtime leaves futures whose "exception never
            # retrieved" logging later runs ast.parse from a GC finalizer, which trips CPython 3.11's shared AST
            # recursion counter (SystemError at session end).
            self.errors.append(exc)
            self.log.steps[args.name] = "failed"
            report = exc.report.to_dict() if isinstance(exc, VerificationFailed) else {"ok": False, "targets": []}
            return "failed", {"ok": False, "report": report, "summary": str(exc)}
        except BaseException as exc:
            self.errors.append(exc)
            raise
        self.outputs[args.typ.rsplit(":", 1)[-1]] = resource.outs
        return resource.id, resource.outs

    def _step(self, name: str, typ: str, inputs: dict[str, Any]) -> _Resource:
        old = self.state.get(name)
        if typ.startswith("pulumi-python:dynamic/"):
            new = self._dynamic(name, typ, inputs, old)
        elif old is not None and old.inputs == inputs:
            self.log.steps[name] = "same"
            return old
        else:
            resource_id, outs = self._cloudflare(typ, inputs, old)
            new = _Resource(typ, resource_id, inputs, outs)
            if old is not None and old.id != resource_id:
                self._pending.append((name, old))
            self.log.steps[name] = "create" if old is None else ("replace" if old.id != resource_id else "update")
        self.state[name] = new
        return new

    def _dynamic(self, name: str, typ: str, inputs: dict[str, Any], old: _Resource | None) -> _Resource:
        provider = dill.loads(base64.b64decode(inputs["__provider"]))  # noqa: S301 (our own pickle, as the server does)
        provider.configure(ConfigureRequest(Config(self._config, "origin-tls")))
        role = typ.rsplit(":", 1)[-1]
        if role == "OriginPullProof" and self.install_bundle and not self.naive:
            self._set_client_ca(self.outputs["OriginPullCa"]["trust_bundle_pem"])
            self.on_event("installed-bundle")
        if role == "HandshakeVerification" and self.install_on_origin:
            self._install_certificate()
        checked = provider.check({} if old is None else old.inputs, inputs)
        if checked.failures:
            raise AssertionError([(f.property, f.reason) for f in checked.failures])
        news = dict(checked.inputs)
        if old is None:
            return self._create(name, typ, provider, news, "create")
        diff = provider.diff(old.id, old.outs, news)
        if diff.replaces:
            new = self._create(name, typ, provider, provider.check({}, inputs).inputs, "replace")
            self._pending.append((name, old))
            return new
        if not diff.changes:
            self.log.steps[name] = "same"
            return old
        if role in ("OriginPullProof", "OriginPqProof") and self.naive:
            self.log.steps[name] = "update"
            return _Resource(typ, old.id, news, {**old.outs, "proven": False})
        result = provider.update(old.id, old.outs, news)
        self.log.steps[name] = "update"
        return _Resource(typ, old.id, news, dict(result.outs or {}))

    def _create(self, name: str, typ: str, provider: Any, news: dict[str, Any], step: str) -> _Resource:
        if typ.endswith(":OriginPqProof"):
            self.on_event("pq-proof")
            if self.naive:
                self.log.steps[name] = step
                return _Resource(typ, "naive", news, {"proven": False, "detail": "naive order: not proven"})
        if typ.endswith(":OriginPullProof") and self.naive:
            self.log.steps[name] = step
            return _Resource(typ, "naive", news, {"proven": False, "detail": "naive order: not proven"})
        result = provider.create(news)
        self.log.steps[name] = step
        return _Resource(typ, str(result.id), news, dict(result.outs or {}))

    def _cloudflare(self, typ: str, inputs: dict[str, Any], old: _Resource | None) -> tuple[str, dict[str, Any]]:
        zone = inputs.get("zoneId", "")
        with self.sandbox.client() as client:
            if typ == _CF + "zoneSetting:ZoneSetting":
                client.edit_setting(zone, inputs["settingId"], inputs["value"])
                return f"{zone}/{inputs['settingId']}", inputs
            if typ == _CF + "originCaCertificate:OriginCaCertificate":
                issued = client.create_origin_certificate(
                    csr_pem=inputs["csr"],
                    hostnames=inputs["hostnames"],
                    request_type=inputs["requestType"],
                    requested_validity=inputs["requestedValidity"],
                )
                return str(issued["id"]), {
                    **inputs,
                    "certificate": issued["certificate"],
                    "expiresOn": issued["expires_on"],
                }
            if typ.endswith(":AuthenticatedOriginPullsCertificate"):
                uploaded = client.upload_zone_aop_certificate(zone, inputs["certificate"], inputs["privateKey"])
                self.on_event("uploaded")
                return str(uploaded["id"]), {**inputs, "certificateId": uploaded["id"]}
            if typ.endswith(":AuthenticatedOriginPullsSettings"):
                client.set_zone_aop_enabled(zone, bool(inputs["enabled"]))
                return zone, inputs
            if typ.endswith(":AuthenticatedOriginPullsHostnameCertificate"):
                uploaded = client.upload_hostname_aop_certificate(zone, inputs["certificate"], inputs["privateKey"])
                return str(uploaded["id"]), inputs
            if typ.endswith(":AuthenticatedOriginPulls"):
                configs = [
                    {"hostname": c["hostname"], "cert_id": c["certId"], "enabled": c["enabled"]}
                    for c in inputs["configs"]
                ]
                client.set_hostname_aop(zone, configs)
                return zone, inputs
        # The two key-exchange settings: their own shapes (reference/cloudflare.md section 6), sent as the bridged
        # provider sends them.
        if typ.endswith(":ZoneAutoOriginTlsKex"):
            self._api("PATCH", f"/zones/{zone}/settings/auto_origin_tls_kex", {"enabled": bool(inputs["enabled"])})
            return zone, inputs
        if typ.endswith(":OriginTlsComplianceModes"):
            self._api("PUT", f"/zones/{zone}/settings/origin_tls_compliance_modes", {"value": list(inputs["values"])})
            self.on_event("pqh-set" if "pqh" in inputs["values"] else "pqh-cleared")
            return zone, inputs
        raise AssertionError(f"the sandbox engine does not know {typ}")

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        headers = {"Authorization": f"Bearer {self.sandbox.token}"}
        response = httpx.request(method, self.sandbox.info.api_url + path, json=body, headers=headers, timeout=10)
        if response.status_code != 200:
            raise OriginTlsError(f"{method} {path}: {response.status_code} {response.text}")

    def _delete(self, old: _Resource) -> None:
        if old.typ.startswith("pulumi-python:dynamic/"):
            provider = dill.loads(base64.b64decode(old.inputs["__provider"]))  # noqa: S301
            provider.configure(ConfigureRequest(Config(self._config, "origin-tls")))
            provider.delete(old.id, old.outs)
            return
        if old.typ.endswith(_RETAINED):
            return  # retain_on_delete: the engine forgets it; the retirement resource revokes it
        zone = old.inputs.get("zoneId", "")
        with self.sandbox.client() as client:
            if old.typ.endswith(":AuthenticatedOriginPullsCertificate"):
                client.delete_zone_aop_certificate(zone, old.id)
                self.on_event("deleted-old-upload")
            elif old.typ.endswith(":AuthenticatedOriginPullsHostnameCertificate"):
                client.delete_hostname_aop_certificate(zone, old.id)
            elif old.typ.endswith(":OriginTlsComplianceModes"):
                self._api("DELETE", f"/zones/{zone}/settings/origin_tls_compliance_modes")

    # -- the operator's side

    def _set_client_ca(self, pem: str) -> None:
        origin = self.sandbox.origin
        assert origin is not None
        if origin.config.client_ca_pem != pem:
            origin.reconfigure(replace(origin.config, client_ca_pem=pem))

    def _install_certificate(self) -> None:
        origin = self.sandbox.origin
        assert origin is not None
        key = self.outputs["OriginKey"]["private_key_pem"]
        certificate = self.outputs["OriginCaCertificate"]["certificate"]
        ca = self.outputs.get("OriginPullCa")
        client_ca = origin.config.client_ca_pem
        if ca is not None and self.install_bundle and not self.naive:
            # The bundle: Cloudflare may present the previous CA's certificate until the switch is done.
            client_ca = ca["trust_bundle_pem"]
        current = (origin.config.certificate_pem, origin.config.private_key_pem, origin.config.client_ca_pem)
        if current != (certificate, key, client_ca):
            origin.reconfigure(
                replace(origin.config, certificate_pem=certificate, private_key_pem=key, client_ca_pem=client_ca)
            )
