"""The Sandbox runner and ``python -m origin_tls sandbox [--json]``: what it reports, and that it stops everything."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from origin_tls.baseline import AopMode, Baseline, parse_endpoint
from origin_tls.certs import build_ca, load_pem_certificates
from origin_tls.report import Status
from origin_tls.sandbox.origin import NGINX_MISSING
from origin_tls.sandbox.runner import Sandbox, SandboxInfo
from origin_tls.verify import verify
from tests.sandbox.test_edge import fetch

REPO = Path(__file__).resolve().parents[2]
INFO_FIELDS = [
    "api_url",
    "token",
    "zone_id",
    "hostname",
    "edge",
    "edge_http",
    "origin",
    "edge_ca_file",
    "origin_ca_file",
    "client_cert_file",
    "client_key_file",
]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if fields[1] == str(pid) and fields[0] != "Z":
                found.add(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def nginx_pids(parent: int) -> set[int]:
    """The nginx masters started by ``parent`` and their workers."""
    masters = {pid for pid in _children(parent) if "nginx" in _cmdline(pid)}
    return masters | {worker for master in masters for worker in _children(master)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: Iterable[int], *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if _alive(pid)}
        time.sleep(0.05)
    return not pending


def _accepts(address: str) -> bool:
    endpoint = parse_endpoint(address, field_name="address", default_port=443)
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=1):
            return True
    except OSError:
        return False


def test_info_has_exactly_the_contract_fields(sandbox: Sandbox) -> None:
    info = sandbox.info
    data = json.loads(info.to_json())
    assert list(data) == INFO_FIELDS
    assert data["hostname"] == "app.sandbox.test"
    assert len(data["zone_id"]) == 32
    assert data["api_url"].startswith("http://127.0.0.1:")
    assert data["api_url"].endswith("/client/v4")
    for key in ("edge", "edge_http", "origin"):
        assert _accepts(data[key]), key
    for key in ("edge_ca_file", "origin_ca_file", "client_cert_file", "client_key_file"):
        assert os.path.isabs(data[key]), key
        assert os.path.isfile(data[key]), key
    assert stat.S_IMODE(os.stat(info.client_key_file).st_mode) == 0o600
    for key in ("edge_ca_file", "origin_ca_file", "client_cert_file"):
        assert load_pem_certificates(Path(data[key]).read_bytes(), field_name=key)
    assert info.token not in repr(info)


def test_stop_is_idempotent_and_closes_everything() -> None:
    # The box's own nginx: another test's session-scoped nginx (nginx_sites) may be running under this process too.
    others = nginx_pids(os.getpid())
    box = Sandbox(follow_zone_aop=False).start()
    info = box.info
    ours = nginx_pids(os.getpid()) - others
    assert ours  # the twin of wait_gone below: the box's nginx was found while it ran
    workdir = Path(info.edge_ca_file).parent.parent
    box.stop()
    box.stop()
    for key in ("edge", "edge_http", "origin"):
        assert not _accepts(getattr(info, key)), key
    assert not _accepts(info.api_url.split("//")[1].split("/")[0])
    assert wait_gone(ours, timeout=10)
    assert not workdir.exists()
    with pytest.raises(RuntimeError):
        _ = box.info


def test_fresh_zone_and_bootstrap_origin(sandbox: Sandbox) -> None:
    assert sandbox.state is not None
    assert sandbox.state.get_setting("ssl") == "flexible"
    assert sandbox.state.get_setting("tls_client_auth") == "on"
    assert sandbox.origin is not None
    assert sandbox.origin.config.client_ca_pem == sandbox.state.global_aop.ca_pem
    assert sandbox.bootstrap_certificate is not None


#: The contract's command, and ``run_sandbox`` on its own (the same code without the top-level dispatcher).
COMMANDS = {
    "python -m origin_tls sandbox": ["-m", "origin_tls", "sandbox"],
    "run_sandbox": [
        "-c",
        "import sys; from origin_tls.sandbox.cli import run_sandbox; sys.exit(run_sandbox(sys.argv[1:]))",
    ],
}


def _start_cli(*args: str, command: str = "python -m origin_tls sandbox") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *COMMANDS[command], *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_command_json_line_then_signal_stops_nginx(sig: signal.Signals, command: str) -> None:
    process = _start_cli("--json", command=command)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:  # it exited: show why (bad usage, nginx failure) instead of a JSON error
            assert process.stderr is not None
            pytest.fail(f"{command} --json printed nothing: {process.stderr.read().strip()}")
        data = json.loads(line)
        assert list(data) == INFO_FIELDS
        assert all(isinstance(value, str) and value for value in data.values())
        assert _accepts(data["edge"])
        assert _accepts(data["origin"])
        ours = nginx_pids(process.pid)
        assert ours, "the sandbox command runs nginx"
        process.send_signal(sig)
        process.communicate(timeout=30)
        assert process.returncode == 0
        assert wait_gone(ours, timeout=10)
        assert not _accepts(data["edge"])
        assert not os.path.exists(data["client_key_file"])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_sandbox_command_without_json_prints_a_verify_command() -> None:
    process = _start_cli()
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("sandbox zone ")
        rest = "".join(process.stdout.readline() for _ in range(10))
        assert "python -m origin_tls verify app.sandbox.test" in rest
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sandbox_info_is_frozen(sandbox: Sandbox) -> None:
    with pytest.raises(AttributeError):
        sandbox.info.zone_id = "x"  # type: ignore[misc]
    assert isinstance(sandbox.info, SandboxInfo)


def test_follow_zone_aop_switches_the_origin_to_an_uploaded_self_signed_certificate() -> None:
    # Given the sandbox command's mode, When the zone gets its own (self-signed) origin-pull certificate
    with Sandbox(follow_zone_aop=True) as box:
        own = build_ca(common_name="team origin pull")
        with box.client() as client:
            client.upload_zone_aop_certificate(box.zone_id, own.certificate_pem, own.private_key_pem)
            client.set_zone_aop_enabled(box.zone_id, True)
        deadline = time.monotonic() + 10
        while box.followed_ca_pem != own.certificate_pem:
            assert time.monotonic() < deadline, "the origin did not follow the zone's AOP certificate"
            time.sleep(0.05)
        # Then the origin trusts it, the client files hold it, and verify's AOP checks pass with zone-level AOP
        assert box.origin is not None
        assert box.origin.config.client_ca_pem == own.certificate_pem
        assert Path(box.info.client_cert_file).read_text().strip() == own.certificate_pem.strip()
        report = verify([box.target()], Baseline(aop=AopMode.ZONE), box.verify_options(), api_token=box.token)
        for check_id in ("origin.aop", "origin.aop_client", "zone.aop"):
            assert report.targets[0].check(check_id).status is Status.PASS, check_id
        # And the global certificate (the old client file) is no longer accepted by the origin
        old = verify(
            [box.target()],
            Baseline(aop=AopMode.ZONE),
            box.verify_options(
                client_cert_pem=box.state.global_aop.certificate_pem,  # type: ignore[union-attr]
                client_key_pem=box.state.global_aop.private_key_pem,
            ),  # type: ignore[union-attr]
            api_token=box.token,
        )
        assert old.targets[0].check("origin.aop_client").status is Status.FAIL


def test_missing_nginx_is_announced_and_the_python_origin_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORIGIN_TLS_NGINX", "/nonexistent/nginx")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("origin_tls.sandbox.origin.NGINX_BINARY", "/nonexistent/nginx")
    notices: list[str] = []
    with Sandbox(follow_zone_aop=False, notice=notices.append) as box:
        assert box.origin is not None
        assert box.origin.kind == "python"
        report = verify([box.target()], Baseline(aop=AopMode.GLOBAL), box.verify_options(), api_token=box.token)
        assert report.targets[0].check("origin.aop").status is Status.PASS
        assert report.targets[0].check("origin.aop_client").status is Status.PASS
    assert notices == [NGINX_MISSING]


def _edge_status(box: Sandbox) -> int:
    info = box.info
    context = ssl.create_default_context(cafile=info.edge_ca_file)
    edge = parse_endpoint(info.edge, field_name="edge", default_port=443)
    return fetch(edge, context=context, host=info.hostname).status


@pytest.mark.parametrize("pq_origin", [True, False])
def test_pq_origin_option_runs_it_beside_nginx_and_the_edge_reaches_it_under_pqh(pq_origin: bool) -> None:
    # Twins: with the option the zone can require pqh and still be pulled; without it (nginx, OpenSSL 3.0) it is 525.
    with Sandbox(follow_zone_aop=False, pq_origin=pq_origin) as box:
        assert box.state is not None
        assert box.origin is not None
        assert box.edge is not None
        assert list(json.loads(box.info.to_json())) == INFO_FIELDS  # the contract's keys, whatever the option
        assert box.info.origin == str(box.origin.https)
        if pq_origin:
            assert box.origin.kind == "pyopenssl"
            assert box.classic_origin is not None
            assert box.classic_origin.kind in ("nginx", "python")
            assert _accepts(str(box.classic_origin.https))
        else:
            assert box.classic_origin is None
        box.state.set_setting("ssl", "strict")
        answer = httpx.put(
            f"{box.info.api_url}/zones/{box.zone_id}/settings/origin_tls_compliance_modes",
            json={"value": ["pqh"]},
            headers={"Authorization": f"Bearer {box.token}"},
        )
        assert answer.json()["result"]["value"] == ["pqh"]
        assert _edge_status(box) == (200 if pq_origin else 525)
        pull = box.edge.pulls[-1]
        assert pull.offered == ("X25519MLKEM768",)
        assert pull.group == ("X25519MLKEM768" if pq_origin else None)


def test_the_sandbox_command_takes_pq_origin() -> None:
    from origin_tls.sandbox.cli import build_parser

    assert build_parser().parse_args(["--pq-origin"]).pq_origin is True
    assert build_parser().parse_args([]).pq_origin is False
