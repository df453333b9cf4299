"""The e2e harness's own checks, without the CLI: the unknown-request guard and the virtualenv rewrite."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STACKS, running_sandbox, unknown_requests
from tests.e2e.harness import set_virtualenv


def _ask_for_an_unknown_route() -> None:
    with running_sandbox() as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        base = sandbox.info.api_url
        httpx.get(f"{base}/zones/{sandbox.zone_id}/settings/ssl", headers=headers)  # known: not reported
        httpx.post(f"{base}/zones/{sandbox.zone_id}/no_such_thing", headers=headers, json={})
        assert unknown_requests(sandbox) == [f"POST /client/v4/zones/{sandbox.zone_id}/no_such_thing"]


def test_a_request_the_emulator_does_not_know_fails_the_test_naming_method_and_path() -> None:
    with pytest.raises(AssertionError, match=r"POST /client/v4/zones/[0-9a-f]{32}/no_such_thing"):
        _ask_for_an_unknown_route()


def test_known_requests_pass_the_guard() -> None:
    with running_sandbox() as sandbox, sandbox.client() as client:
        client.get_setting(sandbox.zone_id, "ssl")


def test_set_virtualenv_points_the_project_at_an_absolute_venv(tmp_path: Path) -> None:
    project = tmp_path / "Pulumi.yaml"
    project.write_text((STACKS / "zone" / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    set_virtualenv(project, Path("/opt/venv"))
    assert "    virtualenv: /opt/venv\n" in project.read_text(encoding="utf-8")
    project.write_text("name: x\nruntime: python\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="expected one 'virtualenv:' line, found 0"):
        set_virtualenv(project, Path("/opt/venv"))
