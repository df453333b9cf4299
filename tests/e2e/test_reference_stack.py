"""The reference stack itself (``Pulumi.yaml``, ``__main__.py``, ``components/`` of this checkout) and raw
pulumi-cloudflare resources under the policy pack, with the real ``pulumi-resource-cloudflare`` pointed at the sandbox.

These need the plugin at the version pulumi_cloudflare asks for; where it is not installed (the machines this was
built on cannot build it: scripts/pulumi-toolchain) they are skipped, naming it. They have therefore never run
where they were written (tests/e2e/README.md): whoever first runs them with the plugin will see the sandbox API's
unknown requests named by ``running_sandbox`` if the provider calls routes the emulator does not answer yet.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from origin_tls.baseline import Baseline
from origin_tls.sandbox.runner import Sandbox
from tests.e2e.conftest import STACKS, require_cloudflare, running_sandbox, zone_config
from tests.e2e.harness import REPO, Project, Toolchain
from tests.e2e.test_policy_pack import violations

pytestmark = pytest.mark.e2e


def harden_hsts_value() -> object:
    return Baseline().zone_settings()["security_header"]


@dataclass
class Reference:
    sandbox: Sandbox
    project: Project

    def setting(self, setting_id: str) -> object:
        with self.sandbox.client() as client:
            return client.get_setting(self.sandbox.zone_id, setting_id)


@pytest.fixture(scope="module")
def reference(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    require_cloudflare(toolchain)
    source = tmp_path_factory.mktemp("reference-source")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "components", source / "components", ignore=shutil.ignore_patterns("__pycache__"))
    with running_sandbox(follow_zone_aop=False) as sandbox:
        project = Project(toolchain, source, tmp_path_factory.mktemp("reference"))
        project.login_and_init()
        # The reference stack's config keys (Pulumi.yaml there); global AOP: the sandbox presents its own certificate.
        project.pulumi(*zone_config(sandbox, client_files=False, aop="global", settleSeconds="30"))
        yield Reference(sandbox, project)
        project.pulumi("destroy", "--yes", "--non-interactive", expect=None)


def test_reference_stack_preview_up_outputs_and_a_quiet_second_preview(reference: Reference) -> None:
    preview = reference.project.pulumi("preview", "--non-interactive")
    assert "origin-tls:index:OriginProtection" in preview.output, preview
    assert "cloudflare:index/zoneSetting:ZoneSetting" in preview.output, preview
    assert reference.setting("ssl") == "flexible"  # a preview sends nothing
    reference.project.pulumi("up", "--yes", "--non-interactive")
    assert reference.setting("ssl") == "strict"
    assert reference.setting("ssl_automatic_mode") == "custom"
    outputs = reference.project.outputs()
    assert outputs["private_key_pem"] == "[secret]", outputs
    report = outputs["verification"]
    assert isinstance(report, dict)
    assert report["ok"] is True, report
    second = reference.project.pulumi("preview", "--non-interactive")
    assert "to create" not in second.output, second
    assert "to update" not in second.output, second


def test_reference_stack_drift_is_shown_then_healed_by_up_refresh(reference: Reference) -> None:
    with reference.sandbox.client() as client:
        client.edit_setting(reference.sandbox.zone_id, "ssl", "full")
        client.edit_setting(
            reference.sandbox.zone_id, "security_header", {"strict_transport_security": {"enabled": False}}
        )
    preview = reference.project.pulumi("preview", "--diff", "--non-interactive")
    assert "zone.ssl: fail (expected strict, observed full)" in preview.output, preview
    reference.project.pulumi("up", "--refresh", "--yes", "--non-interactive")
    assert reference.setting("ssl") == "strict"
    assert reference.setting("security_header") == harden_hsts_value()
    report = reference.project.outputs()["verification"]
    assert isinstance(report, dict)
    assert report["ok"] is True, report


def test_raw_cloudflare_resources_breaking_the_baseline_fail_the_policy_pack(
    toolchain: Toolchain, tmp_path: Path, policy_pack: str
) -> None:
    require_cloudflare(toolchain)
    with running_sandbox() as sandbox:
        project = Project(toolchain, STACKS / "raw", tmp_path / "raw")
        project.login_and_init()
        project.pulumi(*zone_config(sandbox))
        result = project.pulumi("preview", "--non-interactive", "--policy-pack", policy_pack, expect=None)
    assert result.code != 0, result
    found = violations(result.output)
    for policy in ("zone-ssl-mode", "zone-min-tls-version", "zone-hsts", "zone-ssl-not-off-or-flexible"):
        assert found.get(policy) == "mandatory", result
