"""Fixtures for the end-to-end tests: the Pulumi toolchain on PATH, a fresh sandbox zone, a stack copied from a
project directory and configured for that zone (tests/e2e/README.md).

Without a ``pulumi`` on PATH these tests fail under ``scripts/test`` (which sets ``ORIGIN_TLS_E2E=required`` after
``scripts/pulumi-toolchain`` put one there) and are skipped, with the reason, in a plain ``pytest`` run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from origin_tls.baseline import Baseline
from origin_tls.sandbox.runner import Sandbox
from tests.e2e.harness import Project, Toolchain, find_toolchain

STACKS = Path(__file__).parent / "stacks"


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    found = find_toolchain()
    if found is None:
        message = (
            "no `pulumi` on PATH: run scripts/pulumi-toolchain and put the folder it prints on PATH "
            "(scripts/test does both), or install the Pulumi CLI"
        )
        if os.environ.get("ORIGIN_TLS_E2E") == "required":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def require_cloudflare(toolchain: Toolchain) -> None:
    """Skip, naming the plugin, where ``pulumi-resource-cloudflare`` is not installed (scripts/pulumi-toolchain)."""
    if not toolchain.cloudflare:
        pytest.skip(
            f"pulumi-resource-cloudflare {toolchain.cloudflare_version} is not installed and cannot be built here "
            "(scripts/pulumi-toolchain): install it with `pulumi plugin install resource cloudflare "
            f"{toolchain.cloudflare_version}`"
        )


def harden_hsts(sandbox: Sandbox) -> None:
    """HSTS as the baseline wants it, through the API (the one setting a ``ZoneSettingPin`` cannot hold)."""
    with sandbox.client() as client:
        client.edit_setting(sandbox.zone_id, "security_header", Baseline().zone_settings()["security_header"])


def zone_config(sandbox: Sandbox, **extra: str) -> list[str]:
    """``pulumi config set-all`` arguments pointing the stack at ``sandbox`` (the token as a secret)."""
    info = sandbox.info
    plain = {
        "cloudflare:baseUrl": info.api_url,
        "zoneId": info.zone_id,
        "hostnames[0]": info.hostname,
        "edge": info.edge,
        "edgeHttp": info.edge_http,
        "origin": info.origin,
        "originCaFile": info.origin_ca_file,
        "edgeCaFile": info.edge_ca_file,
        "clientCertFile": info.client_cert_file,
        "clientKeyFile": info.client_key_file,
        "settleSeconds": "20",
        **extra,
    }
    args = ["config", "set-all", "--path", "--secret", f"cloudflare:apiToken={sandbox.token}"]
    for key, value in plain.items():
        args += ["--plaintext", f"{key}={value}"]
    return args


@pytest.fixture
def new_project(tmp_path: Path, toolchain: Toolchain) -> Callable[[str], Project]:
    def make(name: str) -> Project:
        project = Project(toolchain, STACKS / name, tmp_path / name)
        project.login_and_init()
        return project

    return make


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running
