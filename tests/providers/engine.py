"""A stand-in for the Pulumi engine's side of the dynamic-provider protocol (no Pulumi CLI can be installed here).

:class:`ProviderServer` starts the SDK's own provider server (``python -u -m pulumi.dynamic``) the way the engine's
``pulumi-resource-pulumi-python`` shim does: working directory = the program directory (the repository root, so
``origin_tls`` imports), ``PULUMI_PROJECT`` set, the port read from the first stdout line. Its methods send the gRPC
requests the engine sends (``reference/pulumi-without-cli.md`` §1.3-1.4, §2): property bags carry the serialized
provider in ``__provider``; Diff and Update get the old *outputs* as ``olds``; Read gets old outputs and old inputs.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

__all__ = ["PROJECT", "REPO_ROOT", "ProviderServer", "deserialize", "serialize", "serialized_provider"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "origin-tls"
_START_TIMEOUT = 30.0
_CALL_TIMEOUT = 60.0


def serialized_provider(provider: Any) -> str:
    """What ``pulumi.dynamic.Resource.__init__`` stores in ``__provider`` (base64 dill pickle)."""
    serialized, _contains_secrets = _serialize(True, serialize_provider, provider)
    assert isinstance(serialized, str)
    return serialized


def _run(coro: Any) -> Any:
    # Never asyncio.run(): it leaves the thread without an event loop, which breaks Pulumi mock tests later.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def serialize(props: dict[str, Any]) -> struct_pb2.Struct:
    struct: struct_pb2.Struct = _run(rpc.serialize_properties(props, {}))
    return struct


def deserialize(struct: struct_pb2.Struct) -> dict[str, Any]:
    props: dict[str, Any] = rpc.deserialize_properties(struct, keep_unknowns=True)
    return dict(props)


def secret(value: str) -> dict[str, str]:
    """A value with the RPC secret signature, as the engine sends secret config."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


class ProviderServer:
    """One ``python -m pulumi.dynamic`` process and a stub to it. Use as a context manager."""

    def __init__(self, *, env: dict[str, str] | None = None, log_path: Path) -> None:
        self._env = env
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self.stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self.port = 0

    def start(self) -> ProviderServer:
        env = dict(os.environ if self._env is None else self._env)
        env["PULUMI_PROJECT"] = PROJECT
        self._log = self._log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self._process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        if not selector.select(_START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the provider server announced no port within {_START_TIMEOUT}s: {self.log()}")
        line = self._process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the provider server said {line!r} instead of a port: {self.log()}")
        self.port = int(line)
        self._channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        return self

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the engine's calls ------------------------------------------------------------------------------------

    @property
    def _stub(self) -> provider_pb2_grpc.ResourceProviderStub:
        assert self.stub is not None, "start() first"
        return self.stub

    def configure(self, config: dict[str, Any]) -> provider_pb2.ConfigureResponse:
        request = provider_pb2.ConfigureRequest(args=serialize(config), acceptSecrets=True)
        return self._stub.Configure(request, timeout=_CALL_TIMEOUT)

    def check(self, urn: str, olds: dict[str, Any], news: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        request = provider_pb2.CheckRequest(urn=urn, olds=serialize(olds), news=serialize(news))
        response = self._stub.Check(request, timeout=_CALL_TIMEOUT)
        return deserialize(response.inputs), [(f.property, f.reason) for f in response.failures]

    def create(self, urn: str, properties: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=urn, properties=serialize(properties))
        response = self._stub.Create(request, timeout=_CALL_TIMEOUT)
        return response.id, deserialize(response.properties)

    def diff(self, id_: str, urn: str, olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        request = provider_pb2.DiffRequest(id=id_, urn=urn, olds=serialize(olds), news=serialize(news))
        return self._stub.Diff(request, timeout=_CALL_TIMEOUT)

    def read(
        self, id_: str, urn: str, properties: dict[str, Any], inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.ReadRequest(id=id_, urn=urn, properties=serialize(properties), inputs=serialize(inputs))
        response = self._stub.Read(request, timeout=_CALL_TIMEOUT)
        return response.id, deserialize(response.properties)

    def update(self, id_: str, urn: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(id=id_, urn=urn, olds=serialize(olds), news=serialize(news))
        response = self._stub.Update(request, timeout=_CALL_TIMEOUT)
        return deserialize(response.properties)

    def delete(self, id_: str, urn: str, properties: dict[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(id=id_, urn=urn, properties=serialize(properties))
        self._stub.Delete(request, timeout=_CALL_TIMEOUT)
