"""Fixtures for the end-to-end tests: the Pulumi toolchain on PATH, a fresh sandbox zone, a stack copied from a
project directory and configured for that zone (tests/e2e/README.md).

Without a ``pulumi`` on PATH these tests fail under ``scripts/test`` (which sets ``ORIGIN_TLS_E2E=required`` after
``scripts/pulumi-toolchain`` put one there) and are skipped, with the reason, in a plain ``pytest`` run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from origin_tls.baseline import Baseline
from origin_tls.sandbox.api import API_PREFIX
from origin_tls.sandbox.api_routes import ROUTES
from origin_tls.sandbox.runner import Sandbox
from tests.e2e.harness import REPO, Project, Toolchain, find_toolchain, project_venv, set_virtualenv

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


def zone_config(sandbox: Sandbox, *, client_files: bool = True, **extra: str) -> list[str]:
    """``pulumi config set-all`` arguments pointing the stack at ``sandbox`` (the token as a secret).
    ``client_files``: also ``clientCertFile``/``clientKeyFile`` (``stacks/zone`` has them, the reference stack not)."""
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
    if not client_files:
        del plain["clientCertFile"], plain["clientKeyFile"]
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


def unknown_requests(sandbox: Sandbox) -> list[str]:
    """``METHOD PATH`` of every request the API emulator has no route (or no method) for: a call a client made that
    the sandbox does not emulate yet (add it with Cloudflare's shapes, tests/sandbox/test_sdk_conformance.py)."""
    assert sandbox.api is not None
    unknown = []
    for record in sandbox.api.requests:
        path = record.path[len(API_PREFIX) :] if record.path.startswith(API_PREFIX + "/") else None
        handlers = next((h for pattern, h in ROUTES if path is not None and pattern.match(path)), None)
        if handlers is None or record.method not in handlers:
            unknown.append(f"{record.method} {record.path}")
    return unknown


@contextlib.contextmanager
def running_sandbox(**kwargs: Any) -> Iterator[Sandbox]:
    """A fresh sandbox zone; the test fails at the end if anything asked its API for a route it does not know."""
    with Sandbox(**kwargs) as sandbox:
        yield sandbox
        unknown = unknown_requests(sandbox)
    assert unknown == [], f"requests the sandbox API does not emulate: {unknown}"


@pytest.fixture
def policy_pack(tmp_path: Path, toolchain: Toolchain) -> str:
    """What to pass to ``--policy-pack``: a copy of ``policy/`` whose ``PulumiPolicy.yaml`` names the tests'
    virtualenv (origin-tls and pulumi_policy installed: what ``policy/requirements.txt`` installs).

    With ``pulumi-language-python`` installed that is the directory, as users pass it. Without it the CLI cannot run
    a Python pack from a directory (v3.274 removed the ``pulumi-analyzer-policy-python`` fallback), so the pack gets
    a launcher that the CLI starts as a binary analyzer (``--policy-pack FILE``, ``NewPolicyAnalyzer``) and that runs
    what the language host's ``RunPlugin`` runs for a policy pack: ``python -u -m pulumi.policy ENGINE PACK_DIR``
    in the pack's directory.
    """
    pack = tmp_path / "policy"
    pack.mkdir()
    for item in (REPO / "policy").iterdir():
        if item.is_file():
            (pack / item.name).write_bytes(item.read_bytes())
    venv = project_venv()
    set_virtualenv(pack / "PulumiPolicy.yaml", venv)
    if toolchain.language_host:
        return str(pack)
    launcher = pack / "run-policy-pack"
    launcher.write_text(
        f'#!/bin/sh\ncd "{pack}" && exec "{venv}/bin/python" -u -m pulumi.policy "$@" "{pack}"\n', encoding="utf-8"
    )
    launcher.chmod(0o755)
    return str(launcher)
