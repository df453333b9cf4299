"""A fleet in one run: ``verify --inventory`` against real origins (nginx) and two sandbox zones, every format
through the CLI, ``--output``, the new flags' refusals, and the progress line (only on a terminal)."""

from __future__ import annotations

import io
import json
import os
import pty
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from origin_tls.cli import main
from origin_tls.sandbox.api import ApiServer
from origin_tls.sandbox.state import ZoneState
from origin_tls.zone import ZONE_SETTING_IDS
from tests.peers.nginx import NginxServer, find_nginx
from tests.peers.pki import TestPki
from tests.peers.tls_servers import closed_port, someone_connected

REPO = Path(__file__).resolve().parents[1]
HOSTS = ("alpha.example.test", "beta.example.test", "gamma.example.test")
ZONE_A = "0a3e105f4ecef8ad9ca31a8372d0c353"
ZONE_B = "0b3e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "sandbox-token-for-tests"


@dataclass
class Fleet:
    directory: Path
    origins: dict[str, str]  # hostname -> HOST:PORT of its own origin (its own Origin-CA-like certificate)
    edges: dict[str, tuple[str, str]]  # hostname -> (edge, edge_http)
    files: dict[str, str]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if find_nginx() is None:
        pytest.fail("nginx is required (apt-get install nginx)", pytrace=False)
    directory = tmp_path_factory.mktemp("fleet")
    pki = TestPki(directory / "pki")
    server = NginxServer(directory / "nginx")
    sts = ["max-age=31536000; includeSubDomains"]
    origins, edges = {}, {}
    for host in HOSTS:
        origin = server.add_tls_site(host, cert=pki.origin(host), verify_client="on", client_ca=pki.client_ca.cert_path)
        edge = server.add_tls_site(host, cert=pki.good(host), sts=sts)
        origins[host] = str(origin.endpoint)
        edges[host] = (str(edge.endpoint), str(server.add_http_site(redirect=True).endpoint))
    client = pki.client()
    files = {
        "edge_ca": os.path.relpath(pki.ca.cert_path, directory),
        "origin_ca": os.path.relpath(pki.origin_ca.cert_path, directory),
        "client_cert": os.path.relpath(client.cert_path, directory),
        "client_key": os.path.relpath(client.key_path, directory),
    }
    with server:
        yield Fleet(directory, origins, edges, files)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _inventory(fleet: Fleet, targets: list[dict[str, Any]], name: str = "fleet.json", **defaults: Any) -> str:
    path = fleet.directory / name
    path.write_text(json.dumps({"defaults": {**fleet.files, **defaults}, "targets": targets}))
    return str(path)


def _target(fleet: Fleet, host: str, **keys: Any) -> dict[str, Any]:
    edge, edge_http = fleet.edges[host]
    return {"hostname": host, "edge": edge, "edge_http": edge_http, "origin": fleet.origins[host], **keys}


def _statuses(target: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["status"] for check in target["checks"]}


# ---------------------------------------------------------------------------------------------------------------
# Per-target origins, one unreachable target, --min-days


def test_each_target_is_verified_against_its_own_origin(fleet: Fleet) -> None:
    inventory = _inventory(fleet, [_target(fleet, host) for host in HOSTS])
    code, out, err = run("verify", "--inventory", inventory, "--json", "--timeout", "3")
    data = json.loads(out)
    assert (code, err) == (0, ""), out
    assert [t["hostname"] for t in data["targets"]] == list(HOSTS)
    assert [t["origin"] for t in data["targets"]] == [fleet.origins[h] for h in HOSTS]
    for target in data["targets"]:
        assert _statuses(target)["origin.certificate"] == "pass"
        assert _statuses(target)["origin.aop_client"] == "pass"


def test_swapped_origins_fail_their_certificates(fleet: Fleet) -> None:
    # The twin: the same fleet with alpha's and beta's origins exchanged is caught, target by target.
    targets = [
        _target(fleet, HOSTS[0], origin=fleet.origins[HOSTS[1]]),
        _target(fleet, HOSTS[1], origin=fleet.origins[HOSTS[0]]),
        _target(fleet, HOSTS[2]),
    ]
    code, out, _ = run("verify", "--inventory", _inventory(fleet, targets), "--json", "--timeout", "3")
    data = json.loads(out)
    assert code == 1
    assert [_statuses(t)["origin.certificate"] for t in data["targets"]] == ["fail", "fail", "pass"]


def test_one_unreachable_target_never_stops_the_others(fleet: Fleet) -> None:
    targets = [_target(fleet, HOSTS[0]), _target(fleet, HOSTS[1], origin=str(closed_port())), _target(fleet, HOSTS[2])]
    code, out, _ = run("verify", "--inventory", _inventory(fleet, targets), "--json", "--timeout", "3")
    data = json.loads(out)
    assert code == 3  # inconclusive, nothing failed
    assert [t["hostname"] for t in data["targets"]] == list(HOSTS)
    assert [_statuses(t)["origin.certificate"] for t in data["targets"]] == ["pass", "inconclusive", "pass"]
    assert [t["ok"] for t in data["targets"]] == [True, False, True]


def test_min_days_per_target_and_from_the_command_line(fleet: Fleet) -> None:
    # The origin certificates are valid 365 more days.
    targets = [_target(fleet, HOSTS[0], min_days=400), _target(fleet, HOSTS[1])]
    code, out, _ = run("verify", "--inventory", _inventory(fleet, targets), "--json", "--timeout", "3")
    assert code == 1
    assert [_statuses(t)["origin.certificate"] for t in json.loads(out)["targets"]] == ["fail", "pass"]
    code, out, _ = run("verify", "--inventory", _inventory(fleet, targets[1:]), "--json", "--min-days", "400")
    assert code == 1
    assert _statuses(json.loads(out)["targets"][0])["origin.certificate"] == "fail"


def test_hostname_arguments_join_the_inventory_after_its_targets(fleet: Fleet) -> None:
    inventory = _inventory(fleet, [_target(fleet, HOSTS[0])])
    edge, edge_http = fleet.edges[HOSTS[1]]
    code, out, _ = run("verify", HOSTS[1], "--inventory", inventory, "--edge", edge, "--edge-http", edge_http, "--json")
    data = json.loads(out)
    assert code == 0, out
    assert [(t["hostname"], t["origin"]) for t in data["targets"]] == [
        (HOSTS[0], fleet.origins[HOSTS[0]]),
        (HOSTS[1], None),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Two zones, read once each


@pytest.fixture
def zones() -> Iterator[dict[str, ApiServer]]:
    servers = {
        zone: ApiServer(ZoneState(zone_id=zone, hostnames=[f"{name}.zone-{name}.test"], account_token=TOKEN)).start()
        for zone, name in ((ZONE_A, "a"), (ZONE_B, "b"))
    }
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def _zone_targets(zones: dict[str, ApiServer], count: int) -> list[dict[str, Any]]:
    edge = str(closed_port())  # probes fail at once: the zone reads are what is counted
    return [
        {"hostname": f"h{i}.zone-{name}.test", "edge": edge, "edge_http": edge, "zone_id": zone, "api_url": server.url}
        for zone, name in ((ZONE_A, "a"), (ZONE_B, "b"))
        for i, server in [(i, zones[zone]) for i in range(count)]
    ]


def _reads(server: ApiServer) -> Counter[str]:
    return Counter(record.path for record in server.requests)


def test_two_zones_with_several_targets_are_each_read_once(
    zones: dict[str, ApiServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three targets in each of two sandbox zones, each zone on its own API
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    path = tmp_path / "zones.yaml"
    path.write_text(json.dumps({"defaults": {"aop": False}, "targets": _zone_targets(zones, 3)}))
    # When the fleet is verified in one run
    code, out, _ = run("verify", "--inventory", str(path), "--json", "--timeout", "1")
    # Then each zone's settings were read once, whatever the number of its targets
    data = json.loads(out)
    assert code in (1, 3)
    for server in zones.values():
        reads = _reads(server)
        assert set(reads.values()) == {1}, reads
        assert len(reads) == len(ZONE_SETTING_IDS) + 1  # and auto_origin_tls_kex (zone.origin_pq)
    assert [t["zone_id"] for t in data["targets"]] == [ZONE_A] * 3 + [ZONE_B] * 3
    for target in data["targets"]:
        zone_statuses = {s for cid, s in _statuses(target).items() if cid.startswith("zone.") and cid != "zone.aop"}
        assert "inconclusive" not in zone_statuses, target  # every target got its zone's answers


def test_one_run_per_target_would_read_each_zone_once_per_target(
    zones: dict[str, ApiServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The twin: the shell loop the fleet run replaces reads every zone three times.
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    for index, target in enumerate(_zone_targets(zones, 3)):
        path = tmp_path / f"one-{index}.json"
        path.write_text(json.dumps({"defaults": {"aop": False}, "targets": [target]}))
        run("verify", "--inventory", str(path), "--json", "--timeout", "1")
    for server in zones.values():
        assert set(_reads(server).values()) == {3}


def test_with_aop_each_path_is_still_read_at_most_once(
    zones: dict[str, ApiServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    path = tmp_path / "zones.json"
    path.write_text(json.dumps({"targets": _zone_targets(zones, 3)}))
    run("verify", "--inventory", str(path), "--json", "--timeout", "1")
    for server in zones.values():
        reads = _reads(server)
        assert set(reads.values()) == {1}, reads
        assert len(reads) > len(ZONE_SETTING_IDS)  # AOP listings besides the settings


# ---------------------------------------------------------------------------------------------------------------
# Formats and --output through the CLI


def test_junit_output_file_is_read_by_a_junit_reader(fleet: Fleet, tmp_path: Path) -> None:
    targets = [_target(fleet, HOSTS[0]), _target(fleet, HOSTS[1], origin=fleet.origins[HOSTS[2]])]
    output = tmp_path / "junit.xml"
    code, out, _ = run(
        "verify", "--inventory", _inventory(fleet, targets), "--format", "junit", "--output", str(output)
    )
    assert (code, out) == (1, "")
    xml = JUnitXml.fromfile(str(output))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == [HOSTS[0], HOSTS[1]]
    assert suites[HOSTS[0]].failures == 0
    failing = [case.name for case in suites[HOSTS[1]] if case.is_failure]
    assert failing == ["origin.certificate"]


def test_prometheus_output_for_the_textfile_collector(fleet: Fleet, tmp_path: Path) -> None:
    targets = [_target(fleet, HOSTS[0]), _target(fleet, HOSTS[1], origin=str(closed_port()))]
    output = tmp_path / "origin_tls.prom"
    code, out, _ = run(
        "verify", "--inventory", _inventory(fleet, targets), "--format", "prometheus", "--output", str(output)
    )
    assert (code, out) == (3, "")
    families = {f.name: f for f in text_string_to_metric_families(output.read_text())}
    ok = {s.labels["hostname"]: s.value for s in families["origin_tls_target_ok"].samples}
    assert ok == {HOSTS[0]: 1.0, HOSTS[1]: 0.0}
    expiry = {
        (s.labels["hostname"], s.labels["certificate"])
        for s in families["origin_tls_certificate_expiry_timestamp_seconds"].samples
    }
    # The origin's from what it served; none for the unreachable one (nothing served), the client's for both.
    assert expiry == {(HOSTS[0], "origin"), (HOSTS[0], "client"), (HOSTS[1], "client")}
    assert families["origin_tls_run_duration_seconds"].samples[0].value > 0


def test_table_and_json_are_unchanged_by_the_new_flags(fleet: Fleet) -> None:
    inventory = _inventory(fleet, [_target(fleet, HOSTS[0])])
    _, table, _ = run("verify", "--inventory", inventory)
    _, table_again, _ = run("verify", "--inventory", inventory, "--format", "table")
    assert table == table_again
    assert table.startswith(f"{HOSTS[0]}: ok\n")
    _, as_json, _ = run("verify", "--inventory", inventory, "--json")
    _, as_format, _ = run("verify", "--inventory", inventory, "--format", "json")
    assert json.loads(as_json) == json.loads(as_format)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "xml"], "--format must be one of table, json, junit, prometheus, got 'xml'"),
        (["--json", "--format", "junit"], "--format must be json or absent when --json is given"),
        (["--concurrency", "0"], "--concurrency must be a whole number from 1 to 1024, got '0'"),
        (["--concurrency", "many"], "--concurrency must be a whole number"),
        (["--deadline", "0"], "--deadline must be a number of seconds greater than 0"),
        (["--min-days", "-1"], "--min-days must be a whole number of days from 0 to 36500, got '-1'"),
        (
            ["--output", "/nonexistent/dir/report.xml"],
            "--output must be a file path in an existing, writable directory",
        ),
        (["--output", "/tmp"], "--output must be a file path"),
        (["--inventory", "/nonexistent/fleet.yaml"], "--inventory must be a readable YAML or JSON file"),
    ],
)
def test_bad_new_flags_exit_2_and_probe_nothing(listener: socket.socket, extra: list[str], message: str) -> None:
    edge = f"127.0.0.1:{listener.getsockname()[1]}"
    code, out, err = run("verify", "a.example.com", "--edge", edge, "--edge-http", edge, *extra)
    assert (code, out) == (2, "")
    assert message in err
    assert not someone_connected(listener)


def test_good_new_flags_do_probe(listener: socket.socket, tmp_path: Path) -> None:
    # The twin of "probe nothing": the same command with good values connects.
    edge = f"127.0.0.1:{listener.getsockname()[1]}"
    flags = ["--concurrency", "2", "--deadline", "30", "--min-days", "0", "--output", str(tmp_path / "r.json")]
    code, _, _ = run("verify", "a.example.com", "--edge", edge, "--edge-http", edge, "--timeout", "0.5", *flags)
    assert code == 3
    assert someone_connected(listener)


def test_no_hostname_and_no_inventory_is_bad_usage() -> None:
    code, _, err = run("verify")
    assert code == 2
    assert "give HOSTNAME arguments, --inventory FILE, or both" in err


# ---------------------------------------------------------------------------------------------------------------
# Progress: on a terminal only, for more than a handful of targets


def _verify_subprocess(count: int, *, tty: bool) -> tuple[int, str, str]:
    closed = str(closed_port())
    hosts = [f"h{i}.example.test" for i in range(count)]
    argv = [sys.executable, "-m", "origin_tls", "verify", *hosts, "--edge", closed, "--edge-http", closed, "--json"]
    env = {k: v for k, v in os.environ.items() if k != "CLOUDFLARE_API_TOKEN"}
    if not tty:
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    with subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=slave, text=True) as child:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = child.stdout.read() if child.stdout else ""
        code = child.wait(timeout=60)
    os.close(master)
    return code, stdout, b"".join(chunks).decode()


def test_progress_is_shown_on_a_terminal_and_never_on_stdout() -> None:
    code, stdout, stderr = _verify_subprocess(6, tty=True)
    assert code == 3
    assert "6/6 targets verified" in stderr
    assert len(json.loads(stdout)["targets"]) == 6  # stdout is the report alone
    assert "\r" not in stdout


def test_no_progress_when_stderr_is_not_a_terminal() -> None:
    code, stdout, stderr = _verify_subprocess(6, tty=False)
    assert (code, stderr) == (3, "")
    assert len(json.loads(stdout)["targets"]) == 6


def test_no_progress_for_a_handful_of_targets() -> None:
    code, _, stderr = _verify_subprocess(5, tty=True)
    assert code == 3
    assert "targets verified" not in stderr


def test_an_output_that_cannot_be_written_after_the_run_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from origin_tls import output as output_module

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_module.os, "fsync", full_disk)
    closed = str(closed_port())
    output = tmp_path / "report.json"
    code, out, err = run("verify", "a.example.com", "--edge", closed, "--edge-http", closed, "--output", str(output))
    assert (code, out) == (2, "")
    assert f"--output must be a writable file (No space left on device), got '{output}'" in err
    assert list(tmp_path.iterdir()) == []
