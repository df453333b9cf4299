"""Step 5 of issue 15: the policy pack loaded by the real CLI (``pulumi preview --policy-pack``).

The stacks are ``stacks/zone`` with a weak and a hardened configuration: their zone settings are
``ZoneSettingPin`` resources, which the pack judges under ``ZoneSetting``'s names (README, "The policy pack").
Where ``pulumi-resource-cloudflare`` is installed the same pack also runs on raw pulumi-cloudflare resources
(``test_reference_stack.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from origin_tls.sandbox.runner import Sandbox
from tests.e2e.conftest import running_sandbox, zone_config
from tests.e2e.harness import CliResult, Project

pytestmark = pytest.mark.e2e

MANDATORY_WEAK = (
    "zone-ssl-mode",
    "zone-min-tls-version",
    "zone-ssl-not-off-or-flexible",
    "zone-handshake-verification",
)


@pytest.fixture(scope="module")
def zone() -> Iterator[Sandbox]:
    with running_sandbox() as sandbox:
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


_VIOLATION = re.compile(r"^\s*- \[(?P<level>mandatory|advisory|remediate)\] .*?\s(?P<policy>[a-z0-9-]+)\s+\(")


def violations(output: str) -> dict[str, str]:
    """Policy name -> enforcement level, from the CLI's "Policies:" section
    (``- [mandatory] [severity: high]  zone-min-tls-version  (TYPE: NAME)``)."""
    return {m["policy"]: m["level"] for m in map(_VIOLATION.match, output.splitlines()) if m is not None}


def test_a_stack_breaking_the_baseline_fails_the_preview_with_each_mandatory_violation(
    weak: Project, policy_pack: str
) -> None:
    result = weak.pulumi("preview", "--non-interactive", "--policy-pack", policy_pack, expect=None)
    assert result.code != 0, result
    assert "origin-tls-baseline" in result.output, result
    assert violations(result.output) == dict.fromkeys(MANDATORY_WEAK, "mandatory"), result


def test_the_hardened_stack_passes_the_pack(hardened: Project, policy_pack: str) -> None:
    result = hardened.pulumi("preview", "--non-interactive", "--policy-pack", policy_pack)
    assert "origin-tls-baseline" in result.output, result
    assert "✅ origin-tls-baseline@v0.1.0" in result.output, result
    assert violations(result.output) == {}, result


def preview_with_config(project: Project, policy_pack: str, tmp_path: Path, config: dict[str, object]) -> CliResult:
    """`pulumi preview --policy-pack PACK --policy-pack-config FILE`, ``config`` written to FILE; any exit code."""
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return project.pulumi(
        "preview", "--non-interactive", "--policy-pack", policy_pack, "--policy-pack-config", str(path), expect=None
    )


def test_policy_pack_config_changes_a_threshold(hardened: Project, policy_pack: str, tmp_path: Path) -> None:
    result = preview_with_config(hardened, policy_pack, tmp_path, {"zone-min-tls-version": {"minTlsVersion": "1.3"}})
    assert result.code != 0, result
    assert violations(result.output) == {"zone-min-tls-version": "mandatory"}, result
    assert "min_tls_version '1.2' is below the floor '1.3'" in result.output, result


def test_a_bad_policy_pack_config_value_stops_the_run_naming_it(
    hardened: Project, policy_pack: str, tmp_path: Path
) -> None:
    result = preview_with_config(hardened, policy_pack, tmp_path, {"zone-min-tls-version": {"minTlsVersion": "1.7"}})
    assert result.code != 0, result
    assert "validating policy config" in result.output, result
    assert 'zone-min-tls-version: minTlsVersion: minTlsVersion must be one of the following: "1.0", "1.1"' in (
        result.output
    ), result
