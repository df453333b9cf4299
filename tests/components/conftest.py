"""Pulumi mocks for the component tests: a recording ``Mocks`` and a monitor that honours ``additional_secret_outputs``.

Mocks are process-global (``reference/pulumi-without-cli.md`` §3): :func:`pulumi_mocks` installs them once per test
process and every test clears the recordings. The stock ``MockMonitor`` ignores ``additional_secret_outputs`` (the
engine, not the SDK, applies it), so :class:`SecretAwareMonitor` wraps the listed output fields as secrets, which is
what the engine does, and records what each registration asked for (parent, dependencies, secret outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs

__all__ = [
    "FAKE_CA",
    "FAKE_CA_KEY",
    "FAKE_CERT",
    "FAKE_CLIENT_CERT",
    "FAKE_CLIENT_KEY",
    "FAKE_CSR",
    "FAKE_KEY",
    "HOSTCERT_ID",
    "TOKEN",
    "Recorder",
    "Registration",
    "is_secret_wrapper",
    "unwrap",
]

TOKEN = "cf-token-must-never-appear-0123456789"
FAKE_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nFAKECSR\n-----END CERTIFICATE REQUEST-----\n"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nFAKEORIGINKEY\n-----END PRIVATE KEY-----\n"
FAKE_CERT = "-----BEGIN CERTIFICATE-----\nFAKEORIGINCERT\n-----END CERTIFICATE-----\n"
FAKE_CA = "-----BEGIN CERTIFICATE-----\nFAKEPULLCA\n-----END CERTIFICATE-----\n"
FAKE_CA_KEY = "-----BEGIN PRIVATE KEY-----\nFAKEPULLCAKEY\n-----END PRIVATE KEY-----\n"
FAKE_CLIENT_CERT = "-----BEGIN CERTIFICATE-----\nFAKECLIENTCERT\n-----END CERTIFICATE-----\n"
FAKE_CLIENT_KEY = "-----BEGIN PRIVATE KEY-----\nFAKECLIENTKEY\n-----END PRIVATE KEY-----\n"
HOSTCERT_ID = "hostcert-0001"

_SIG = rpc._special_sig_key
_SECRET = rpc._special_secret_sig


def is_secret_wrapper(value: object) -> bool:
    return isinstance(value, dict) and value.get(_SIG) == _SECRET


def unwrap(value: Any) -> Any:
    """Inputs with every secret wrapper replaced by its value (for comparing shapes)."""
    if is_secret_wrapper(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    secret_outputs: list[str]
    retain_on_delete: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]


class Recorder(pulumi.runtime.Mocks):
    """Fakes what the engine and the providers would return, and records every resource."""

    def __init__(self) -> None:
        self.inputs: dict[str, tuple[str, dict[str, Any]]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        #: When set, does the work for each resource instead of the fakes below (``(id, outputs)``).
        self.backend: Callable[[MockResourceArgs], tuple[str, dict[str, Any]]] | None = None

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if self.backend is not None and args.custom:
            backend_id, backend_outs = self.backend(args)
            self.inputs[args.name] = (args.typ, dict(args.inputs))
            self.outputs[args.name] = backend_outs
            return backend_id, backend_outs
        outs = dict(args.inputs)
        typ = args.typ
        if typ.endswith("origin-tls:OriginKey"):
            outs.update(
                csr_pem=FAKE_CSR,
                private_key_pem=FAKE_KEY,
                request_type="origin-ecc",
                public_key_sha256="ab",
                renew_at="2040-12-02T00:00:00+00:00",
            )
        elif typ.endswith("origin-tls:OriginPullCa"):
            outs.update(
                certificate_pem=FAKE_CA,
                private_key_pem=FAKE_CA_KEY,
                previous_certificate_pem=None,
                trust_bundle_pem=FAKE_CA,
                expires_on="2036-01-01T00:00:00+00:00",
            )
        elif typ.endswith("origin-tls:OriginPullCertificate"):
            outs.update(
                certificate_pem=FAKE_CLIENT_CERT,
                private_key_pem=FAKE_CLIENT_KEY,
                expires_on="2028-01-01T00:00:00+00:00",
                renew_at="2027-12-02T00:00:00+00:00",
            )
        elif typ.endswith("origin-tls:OriginPullProof"):
            outs.update(proven=True, detail="the origin accepted the certificate", certificate_sha256="cd")
        elif typ.endswith("origin-tls:OriginPqProof"):
            outs.update(proven=True, detail="the origin negotiated X25519MLKEM768", groups={}, certificate_sha256="cd")
        elif typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
            outs.update(certificate=FAKE_CERT, expiresOn="2041-01-01 00:00:00 +0000 UTC")
        elif typ.endswith("origin-tls:HandshakeVerification"):
            outs.update(ok=True, report={"ok": True, "targets": []}, summary="every check passed", drift=[])
        resource_id = HOSTCERT_ID if "HostnameCertificate" in typ else f"{args.name}-id"
        self.inputs[args.name] = (typ, dict(args.inputs))
        self.outputs[args.name] = outs
        return resource_id, outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class SecretAwareMonitor(MockMonitor):
    """``MockMonitor`` + the engine's handling of ``additional_secret_outputs`` + a record of each registration."""

    def __init__(self, mocks: Recorder) -> None:
        super().__init__(mocks)
        self.recorder = mocks
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        listed = list(request.additionalSecretOutputs)
        for key in listed:
            if key in response.object.fields:
                original = struct_pb2.Value()
                original.CopyFrom(response.object.fields[key])
                wrapped = struct_pb2.Value()
                wrapped.struct_value.fields[_SIG].string_value = _SECRET
                wrapped.struct_value.fields["value"].CopyFrom(original)
                response.object.fields[key].CopyFrom(wrapped)
        _typ, inputs = self.recorder.inputs.get(request.name, (request.type, {}))
        self.registrations[request.name] = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent,
            custom=bool(request.custom),
            dependencies=list(request.dependencies),
            secret_outputs=listed,
            retain_on_delete=bool(request.retainOnDelete),
            inputs=inputs,
            outputs=self.recorder.outputs.get(request.name, {}),
        )
        return response


_INSTALLED: list[SecretAwareMonitor] = []


@pytest.fixture
def monitor() -> Iterator[SecretAwareMonitor]:
    """The process-wide mock monitor (installed on first use), its recordings cleared for this test."""
    if not _INSTALLED:
        recorder = Recorder()
        mon = SecretAwareMonitor(recorder)
        pulumi.runtime.set_mocks(recorder, project="origin-tls", stack="test", preview=False, monitor=mon)
        _INSTALLED.append(mon)
    mon = _INSTALLED[0]
    pulumi.runtime.set_all_config({"cloudflare:apiToken": TOKEN}, secret_keys=["cloudflare:apiToken"])
    mon.registrations.clear()
    mon.recorder.inputs.clear()
    mon.recorder.outputs.clear()
    mon.recorder.backend = None
    return mon


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_cloudflare warns about its own deprecated resources at import; none of them is used here.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_cloudflare.*")
