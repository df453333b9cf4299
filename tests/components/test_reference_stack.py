"""The reference stack (``Pulumi.yaml`` + ``__main__.py``) runs under mocks from config alone, and its config schema
declares every key the program reads."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from origin_tls.errors import InvalidInput
from tests.components.conftest import TOKEN, SecretAwareMonitor, unwrap

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "__main__.py"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"


def _run_program(config: dict[str, str]) -> None:
    pulumi.runtime.set_all_config(
        {**{f"origin-tls:{k}": v for k, v in config.items()}, "cloudflare:apiToken": TOKEN},
        secret_keys=["cloudflare:apiToken"],
    )

    @pulumi.runtime.test
    def harness() -> Any:
        namespace = runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
        return namespace["web"].verification_ok

    harness()


def test_reference_stack_needs_only_zone_and_hostnames(monitor: SecretAwareMonitor) -> None:
    _run_program({"zoneId": ZONE, "hostnames": json.dumps(["app.example.com"])})
    component = monitor.registrations["web"]
    assert component.type == "origin-tls:index:OriginProtection"
    verification = unwrap(monitor.registrations["web-verification"].inputs)
    assert (verification["aop"], verification["min_tls"], verification["strict"]) == ("zone", "1.2", False)
    assert verification.get("origin") is None


def test_reference_stack_passes_config_through(monitor: SecretAwareMonitor, tmp_path: Path) -> None:
    ca = tmp_path / "origin-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n", encoding="ascii")
    _run_program(
        {
            "zoneId": ZONE,
            "hostnames": json.dumps(["app.example.com", "*.example.com"]),
            "aop": "global",
            "minTls": "1.3",
            "hstsMaxAge": "0",
            "origin": "127.0.0.1:8443",
            "originCaFile": str(ca),
            "strict": "true",
            "renewBeforeDays": "45",
        }
    )
    verification = unwrap(monitor.registrations["web-verification"].inputs)
    assert verification["hostnames"] == ["app.example.com"], "wildcards are certified, not probed"
    assert (verification["aop"], verification["min_tls"], verification["hsts_max_age"]) == ("global", "1.3", 0)
    assert verification["origin"] == "127.0.0.1:8443"
    assert verification["origin_ca_pem"] == ca.read_text(encoding="ascii")
    assert verification["strict"] is True
    assert "web-tls-client-auth" in monitor.registrations
    assert unwrap(monitor.registrations["web-origin-key"].inputs)["renew_before_days"] == 45


def test_reference_stack_refuses_bad_config(monitor: SecretAwareMonitor) -> None:
    with pytest.raises(InvalidInput, match="min_tls must be one of"):
        _run_program({"zoneId": ZONE, "hostnames": json.dumps(["app.example.com"]), "minTls": "1.1.1"})
    assert "web-verification" not in monitor.registrations


def _read_keys() -> set[str]:
    source = PROGRAM.read_text(encoding="utf-8")
    return set(re.findall(r'(?:config\.\w+|optional|integer|read_optional)\("(\w+)"', source))


def test_pulumi_yaml_declares_every_key_and_pins_the_interpreter() -> None:
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "origin-tls"
    # Dynamic providers find the venv only through explicit runtime options (reference §6).
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    declared = set(project["config"])
    read = _read_keys()
    assert len(read) >= 15
    assert read == declared
    required = {key for key, spec in project["config"].items() if "default" not in spec}
    assert required == {"zoneId", "hostnames"}
    assert not any("token" in key.lower() for key in declared), "the token lives in cloudflare:apiToken, as a secret"


def test_key_scan_would_notice_an_undeclared_key() -> None:
    """Twin: the scan finds keys, so a key read but not declared would make the test above fail."""
    assert {"zoneId", "hostnames", "originCaFile", "settleSeconds"} <= _read_keys()
    assert "undeclaredKey" not in _read_keys()
