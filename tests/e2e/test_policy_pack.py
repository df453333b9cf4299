"""Step 5 of issue 15: the policy pack loaded by the real CLI (``pulumi preview --policy-pack``).

The stacks are ``stacks/zone`` with a weak and a hardened configuration: their zone settings are
``ZoneSettingPin`` resources, which the pack judges under ``ZoneSetting``'s names (README, "The policy pack").
Where ``pulumi-resource-cloudflare`` is installed the same pack also runs on raw pulumi-cloudflare resources
(``test_reference_stack.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from origin_tls.sandbox.runner import Sandbox
from tests.e2e.conftest import zone_config
from tests.e2e.harness import REPO, Project, project_venv, set_virtualenv

pytestmark = pytest.mark.e2e

MANDATORY_WEAK = (
    "zone-ssl-mode",
    "zone-min-tls-version",
    "zone-ssl-not-off-or-flexible",
    "zone-handshake-verification",
)


@pytest.fixture
def policy_pack(tmp_path: Path) -> Path:
    """A copy of ``policy/`` whose ``PulumiPolicy.yaml`` names the tests' virtualenv (origin-tls and pulumi_policy
    installed: what ``policy/requirements.txt`` installs)."""
    pack = tmp_path / "policy"
    pack.mkdir()
    for item in (REPO / "policy").iterdir():
        if item.is_file():
            (pack / item.name).write_bytes(item.read_bytes())
    set_virtualenv(pack / "PulumiPolicy.yaml", project_venv())
    return pack


@pytest.fixture(scope="module")
def zone() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def weak(new_project: Callable[[str], Project], zone: Sandbox) -> Project:
    project = new_project("zone")
    project.pulumi(*zone_config(zone, ssl="flexible", minTls="1.0", verify="false"))
    return project


@pytest.fixture
def hardened(new_project: Callable[[str], Project], zone: Sandbox) -> Project:
    project = new_project("zone")
    project.pulumi(*zone_config(zone))
    return project


def violations(output: str) -> set[str]:
    """Policy names the CLI printed in its Policies section."""
    found = set()
    for line in output.splitlines():
        for name in (*MANDATORY_WEAK, "zone-tls-1-3", "zone-always-use-https"):
            if f"{name}" in line and ("mandatory" in line or "advisory" in line):
                found.add(name)
    return found


def test_a_stack_breaking_the_baseline_fails_the_preview_with_each_mandatory_violation(
    weak: Project, policy_pack: Path
) -> None:
    result = weak.pulumi("preview", "--non-interactive", "--policy-pack", str(policy_pack), expect=None)
    assert result.code != 0, result
    assert "origin-tls-baseline" in result.output, result
    assert violations(result.output) >= set(MANDATORY_WEAK), result
    assert "zone-always-use-https" not in violations(result.output), result


def test_the_hardened_stack_passes_the_pack(hardened: Project, policy_pack: Path) -> None:
    result = hardened.pulumi("preview", "--non-interactive", "--policy-pack", str(policy_pack))
    assert "origin-tls-baseline" in result.output, result
    assert violations(result.output) == set(), result


def test_policy_pack_config_changes_a_threshold(hardened: Project, policy_pack: Path, tmp_path: Path) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"zone-min-tls-version": {"minTlsVersion": "1.3"}}), encoding="utf-8")
    result = hardened.pulumi(
        "preview",
        "--non-interactive",
        "--policy-pack",
        str(policy_pack),
        "--policy-pack-config",
        str(config),
        expect=None,
    )
    assert result.code != 0, result
    assert violations(result.output) == {"zone-min-tls-version"}, result


def test_a_bad_policy_pack_config_value_stops_the_run_naming_it(
    hardened: Project, policy_pack: Path, tmp_path: Path
) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"zone-min-tls-version": {"minTlsVersion": "1.7"}}), encoding="utf-8")
    result = hardened.pulumi(
        "preview",
        "--non-interactive",
        "--policy-pack",
        str(policy_pack),
        "--policy-pack-config",
        str(config),
        expect=None,
    )
    assert result.code != 0, result
    assert "minTlsVersion" in result.output, result
