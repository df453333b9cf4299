"""A mock backend that does, for each resource ``OriginProtection`` registers, what ``pulumi up`` would do, against a
sandbox zone: Cloudflare resources become the API calls the bridged provider makes; dynamic resources are unpickled
from their ``__provider`` and driven as the engine drives them (``configure``, ``check``, ``create``) with secrets
already stripped (the provider server does not accept secrets).

The origin's operator is played too: right before the verification runs, the certificate, its key and the pull CA
the stack produced are installed on the sandbox's nginx origin (``install_on_origin=False`` skips that, which is
the failing twin: the verification must then catch an origin serving the old certificate).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import dill
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime.mocks import MockResourceArgs

from origin_tls.providers.verification import VerificationFailed
from origin_tls.sandbox.runner import Sandbox
from tests.components.conftest import unwrap

__all__ = ["SandboxEngine"]

_CF = "cloudflare:index/"


def _ints(value: Any) -> Any:
    # The bridged provider sends whole numbers as JSON integers; the mock RPC hands them over as floats.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


class SandboxEngine:
    def __init__(self, sandbox: Sandbox, *, install_on_origin: bool = True) -> None:
        self.sandbox = sandbox
        self.install_on_origin = install_on_origin
        self.errors: list[BaseException] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self._config = {"cloudflare:apiToken": sandbox.token, "cloudflare:baseUrl": sandbox.info.api_url}

    def __call__(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        try:
            resource_id, outs = self._deploy(args.typ, _ints(unwrap(args.inputs)))
        except VerificationFailed as exc:
            # Where the engine would stop the deployment and print the message. Recorded and answered with a failed
            # report instead of raised: an error inside the mock runtime leaves futures whose "exception never
            # retrieved" logging later runs ast.parse from a GC finalizer, which trips CPython 3.11's shared AST
            # recursion counter (SystemError at session end).
            self.errors.append(exc)
            return "failed", {"ok": False, "report": exc.report.to_dict(), "summary": exc.report.summary()}
        except BaseException as exc:
            self.errors.append(exc)
            raise
        self.outputs[args.typ.rsplit(":", 1)[-1]] = outs
        return resource_id, outs

    def _deploy(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if typ.startswith("pulumi-python:dynamic/"):
            return self._dynamic(typ, inputs)
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
        raise AssertionError(f"the sandbox engine does not know {typ}")

    def _dynamic(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        provider = dill.loads(base64.b64decode(inputs["__provider"]))  # noqa: S301 (our own pickle, as the server does)
        provider.configure(ConfigureRequest(Config(self._config, "origin-tls")))
        if typ.endswith(":HandshakeVerification") and self.install_on_origin:
            self._install_on_origin()
        checked = provider.check({}, inputs)
        if checked.failures:
            raise AssertionError([(f.property, f.reason) for f in checked.failures])
        result = provider.create(checked.inputs)
        return str(result.id), dict(result.outs or {})

    def _install_on_origin(self) -> None:
        origin = self.sandbox.origin
        assert origin is not None
        key = self.outputs["OriginKey"]["private_key_pem"]
        certificate = self.outputs["OriginCaCertificate"]["certificate"]
        pull = self.outputs.get("OriginPullCertificate")
        client_ca = origin.config.client_ca_pem if pull is None else pull["ca_certificate_pem"]
        origin.reconfigure(
            replace(origin.config, certificate_pem=certificate, private_key_pem=key, client_ca_pem=client_ca)
        )
