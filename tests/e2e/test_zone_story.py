"""Steps 1-4 and 6 of issue 15 with the real Pulumi CLI and dynamic-provider host, one stack, one sandbox zone:
new stack -> preview -> up (verified, zone hardened) -> outputs -> no-change preview -> drift -> strict preview ->
a deploy that cannot be proven -> heal -> renewal -> refresh -> destroy.

The stack is ``stacks/zone`` (the reference stack's dynamic resources; tests/e2e/README.md says why and what the
reference stack adds). The tests run in file order and share the stack: each asserts what a user sees (exit code,
CLI output, stack outputs, the zone read back through the API) at its step.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from origin_tls.sandbox.runner import Sandbox
from tests.e2e.conftest import STACKS, harden_hsts, running_sandbox, zone_config
from tests.e2e.harness import Project, Toolchain

pytestmark = pytest.mark.e2e

PINNED = {
    "ssl_automatic_mode": "custom",
    "ssl": "strict",
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    "always_use_https": "on",
    "tls_client_auth": "on",
}
RESOURCES = [f"web-{setting.replace('_', '-')}" for setting in PINNED] + ["web-origin-key", "web-verification"]


@dataclass
class Story:
    sandbox: Sandbox
    project: Project

    def setting(self, setting_id: str) -> object:
        with self.sandbox.client() as client:
            return client.get_setting(self.sandbox.zone_id, setting_id)

    def set_setting(self, setting_id: str, value: object) -> None:
        with self.sandbox.client() as client:
            client.edit_setting(self.sandbox.zone_id, setting_id, value)


@pytest.fixture(scope="module")
def story(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    # follow_zone_aop=False: the sandbox would otherwise put the origin's client CA back within a second (step 3
    # removes it); the stack uses global AOP, which that follower is not needed for.
    with running_sandbox(follow_zone_aop=False) as sandbox:
        project = Project(toolchain, STACKS / "zone", tmp_path_factory.mktemp("zone-story"))
        project.login_and_init()
        harden_hsts(sandbox)
        # A 7-day key: renewal is due in its last third (2.3 days), which faketime reaches (step 4).
        project.pulumi(*zone_config(sandbox, validityDays="7", settleSeconds="8"))
        yield Story(sandbox, project)
        # Whatever a failed step left: the stack is removed with the sandbox (step 6 asserts the clean path).
        project.pulumi("destroy", "--yes", "--non-interactive", expect=None)


def lines_naming(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if f" {name} " in f"{line} "]


def test_preview_of_a_new_stack_lists_what_up_creates_and_changes_nothing(story: Story) -> None:
    result = story.project.pulumi("preview", "--non-interactive")
    for name in RESOURCES:
        (line,) = lines_naming(result.output, name)
        assert line.lstrip().startswith("+ "), line
        assert line.rstrip().endswith(" create"), line
    assert f"+ {len(RESOURCES) + 1} to create" in result.output  # and the stack itself
    # A preview sends nothing: the fresh zone is still the sandbox's Flexible, TLS 1.0 one.
    assert story.setting("ssl") == "flexible"
    assert story.setting("min_tls_version") == "1.0"


def test_up_creates_verifies_and_hardens_the_zone(story: Story) -> None:
    result = story.project.pulumi("up", "--yes", "--non-interactive")
    assert f"+ {len(RESOURCES) + 1} created" in result.output, result
    for setting, value in PINNED.items():
        assert story.setting(setting) == value, setting
    report = story.project.outputs()["verification"]
    assert isinstance(report, dict)
    assert report["ok"] is True, json.dumps(report, indent=1)[:3000]
    checks = {c["id"]: c["status"] for t in report["targets"] for c in t["checks"]}
    assert checks["zone.ssl"] == "pass", checks
    assert checks["edge.origin_pull"] == "pass", checks


def test_stack_output_hides_the_private_key_unless_show_secrets(story: Story) -> None:
    plain = story.project.pulumi("stack", "output")
    (line,) = [line for line in plain.output.splitlines() if "private_key_pem" in line]
    assert "[secret]" in line
    assert "PRIVATE KEY" not in plain.output
    shown = story.project.pulumi("stack", "output", "private_key_pem", "--show-secrets")
    assert shown.stdout.startswith("-----BEGIN PRIVATE KEY-----")
    # Nor is it in the state file in clear (the passphrase provider encrypted it).
    key_body = shown.stdout.splitlines()[1]
    state = "".join(p.read_text(errors="replace") for p in story.project.backend.rglob("*.json"))
    assert state
    assert key_body not in state


def test_a_second_preview_shows_no_changes(story: Story) -> None:
    result = story.project.pulumi("preview", "--non-interactive")
    assert f"{len(RESOURCES) + 1} unchanged" in result.output, result
    for word in ("to create", "to update", "to replace", "to delete"):
        assert word not in result.output, result


def test_drift_made_through_the_api_shows_in_preview_naming_the_checks(story: Story) -> None:
    story.set_setting("ssl", "full")
    story.set_setting("security_header", {"strict_transport_security": {"enabled": False}})
    result = story.project.pulumi("preview", "--non-interactive")
    (line,) = lines_naming(result.output, "web-verification")
    assert line.rstrip().endswith("web-verification update [diff: ~drift]"), result
    detailed = story.project.pulumi("preview", "--diff", "--non-interactive")
    assert "zone.ssl: fail (expected strict, observed full)" in detailed.output, detailed
    assert "zone.security_header: fail" in detailed.output, detailed


def test_strict_preview_fails_naming_the_drifted_checks(story: Story) -> None:
    drifted = {"ssl": story.setting("ssl"), "security_header": story.setting("security_header")}
    # `strict` is an input of the verification: the preview that turns it on shows that change and judges nothing
    # (check() observes only when the inputs are unchanged). Deploy it on the healthy zone, then drift again.
    story.set_setting("ssl", "strict")
    harden_hsts(story.sandbox)
    story.project.pulumi("config", "set", "strict", "true")
    turned_on = story.project.pulumi("preview", "--non-interactive")
    (line,) = lines_naming(turned_on.output, "web-verification")
    assert "[diff: ~strict]" in line, turned_on
    story.project.pulumi("up", "--yes", "--non-interactive")
    for setting, value in drifted.items():
        story.set_setting(setting, value)
    try:
        result = story.project.pulumi("preview", "--non-interactive", expect=None)
    finally:
        story.project.pulumi("config", "set", "strict", "false")
    assert result.code != 0, result
    assert "strict mode fails the preview" in result.output, result
    assert "zone.ssl" in result.output, result
    assert "zone.security_header" in result.output, result
    # The twin: the same drift without strict is a preview that succeeds (the test above).


def test_up_without_refresh_cannot_prove_the_drifted_zone_and_fails_with_the_report(story: Story) -> None:
    # The stack's own record still says ssl=strict: without --refresh nothing re-applies it, and the
    # verification (which observes the live zone) fails the deploy with every finding.
    result = story.project.pulumi("up", "--yes", "--non-interactive", expect=None)
    assert result.code != 0, result
    assert "origin TLS verification failed" in result.output, result
    assert "zone.ssl fail: expected strict, observed full" in result.output, result
    assert story.setting("ssl") == "full"


def test_up_refresh_heals_what_the_stack_declares_and_verifies(story: Story) -> None:
    # HSTS is a cloudflare.ZoneSetting in the reference stack; here the test puts it back as that resource would.
    harden_hsts(story.sandbox)
    result = story.project.pulumi("up", "--refresh", "--yes", "--non-interactive")
    assert any("updated" in line for line in lines_naming(result.output, "web-ssl")), result
    assert story.setting("ssl") == "strict"
    report = story.project.outputs()["verification"]
    assert isinstance(report, dict)
    assert report["ok"] is True


def test_a_deploy_that_cannot_be_proven_fails_until_the_origin_is_fixed(story: Story) -> None:
    origin = story.sandbox.origin
    assert origin is not None
    healthy = origin.config
    origin.reconfigure(replace(healthy, client_ca_pem=None))  # the origin no longer requires the pull certificate
    try:
        failed = story.project.pulumi("up", "--yes", "--non-interactive", expect=None)
    finally:
        origin.reconfigure(healthy)
    assert failed.code != 0, failed
    assert "origin TLS verification failed" in failed.output, failed
    assert "origin.aop fail" in failed.output, failed
    fixed = story.project.pulumi("up", "--yes", "--non-interactive")
    assert fixed.code == 0
    report = story.project.outputs()["verification"]
    assert isinstance(report, dict)
    assert report["ok"] is True


def _faketime(offset: str) -> list[str]:
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime is required (apt-get install faketime; scripts/bootstrap installs it)", pytrace=False)
    return [faketime, "-f", offset]


def test_renewal_replaces_the_key_create_before_delete_once_due(story: Story) -> None:
    before = story.project.outputs(show_secrets=True)
    # Not due yet: the same preview with the clock at +3 days (of 7; due in the last 2.3) changes nothing.
    early = story.project.pulumi("preview", "--non-interactive", wrap=_faketime("+3d"))
    assert "to replace" not in early.output, early
    due = _faketime("+5d")
    preview = story.project.pulumi("preview", "--non-interactive", wrap=due)
    steps = [
        line.split()[0] + " " + line.split("web-origin-key", 1)[1].strip()
        for line in lines_naming(preview.output, "web-origin-key")
    ]
    assert steps == ["++ create replacement", "+- replace", "-- delete original"], preview
    assert "+-1 to replace" in preview.output, preview
    up = story.project.pulumi("up", "--yes", "--non-interactive", wrap=due)
    events = [line for line in up.output.splitlines() if " web-origin-key " in f"{line} "]
    created = next(i for i, line in enumerate(events) if "created replacement" in line)
    deleted = next(i for i, line in enumerate(events) if "deleted original" in line)
    assert created < deleted, "\n".join(events)
    after = story.project.outputs(show_secrets=True)
    assert after["private_key_pem"] != before["private_key_pem"]
    assert after["renew_at"] != before["renew_at"]


def _origin_keys(project: Project) -> list[bool]:
    """The ``delete`` flag of each web-origin-key in the state (pending deletion: ``True``)."""
    exported = json.loads(project.pulumi("stack", "export").stdout)
    resources = exported["deployment"].get("resources") or []
    return [bool(r.get("delete")) for r in resources if r["urn"].endswith("::web-origin-key")]


def test_a_failed_deploy_leaves_the_replaced_key_pending_deletion_and_the_next_up_deletes_it_first(
    story: Story,
) -> None:
    # README "Rotations that never break a pull": why the Origin CA certificate is retain_on_delete. Here with the
    # key: a rotation replaces it create-before-delete, then the verification fails the deploy.
    origin = story.sandbox.origin
    assert origin is not None
    healthy = origin.config
    story.project.pulumi("config", "set", "rotation", "e2e-1")
    origin.reconfigure(replace(healthy, client_ca_pem=None))
    try:
        failed = story.project.pulumi("up", "--yes", "--non-interactive", expect=None)
    finally:
        origin.reconfigure(healthy)
    assert failed.code != 0, failed
    assert "created replacement" in failed.output, failed
    assert "deleted original" not in failed.output, failed
    assert sorted(_origin_keys(story.project)) == [False, True]  # the old key is still there, marked for deletion
    retry = story.project.pulumi("up", "--yes", "--non-interactive")
    events = [line for line in retry.output.split("Updating (", 1)[1].splitlines() if line.startswith(" ")]
    assert "web-origin-key deleting original" in events[0], retry.output
    assert _origin_keys(story.project) == [False]


def _processes_with_home(home: Path) -> list[str]:
    marker = f"PULUMI_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_refresh_and_destroy_leave_an_empty_stack_and_nothing_running(story: Story) -> None:
    refresh = story.project.pulumi("refresh", "--yes", "--non-interactive")
    assert refresh.code == 0
    key_body = story.project.pulumi("stack", "output", "private_key_pem", "--show-secrets").stdout.splitlines()[1]
    destroy = story.project.pulumi("destroy", "--yes", "--non-interactive")
    assert f"- {len(RESOURCES) + 1} deleted" in destroy.output, destroy
    exported = json.loads(story.project.pulumi("stack", "export").stdout)
    assert not exported["deployment"].get("resources"), exported
    # No plugin or provider host of ours is left running (each carries this stack's PULUMI_HOME).
    assert _processes_with_home(story.project.home) == []
    story.project.pulumi("stack", "rm", "--yes")
    meta = story.project.backend / ".pulumi"
    assert not (meta / "stacks" / "origin-tls-e2e" / "e2e.json").exists()
    # What `stack rm` leaves (README says so): the file backend's checkpoint backups, update history and the last
    # checkpoint as e2e.json.bak; the private key is in none of them in clear (the passphrase provider encrypted it).
    kept = [p for p in meta.rglob("*") if p.is_file()]
    assert any("backups" in p.parts for p in kept), kept
    assert (meta / "stacks" / "origin-tls-e2e" / "e2e.json.bak").exists()
    assert all(key_body not in p.read_text(errors="replace") for p in kept)
    # The pins' delete leaves the zone as it is (like cloudflare.ZoneSetting): still hardened after destroy.
    assert story.setting("ssl") == "strict"
