"""`python -m origin_tls verify`: exit codes, the JSON contract, and bad input refused before any probe."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from origin_tls.cli import main
from origin_tls.report import CHECK_IDS
from tests.peers.nginx import NginxServer
from tests.peers.pki import TestPki
from tests.peers.tls_servers import closed_port, someone_connected

HOST = "app.example.test"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Peers:
    pki: TestPki
    edge: str
    edge_no13: str
    http: str
    origin: str
    files: dict[str, str]


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    server = NginxServer(tmp_path_factory.mktemp("nginx"))
    cert = pki.good(HOST)
    edge = server.add_tls_site(HOST, cert=cert, sts=["max-age=31536000; includeSubDomains"])
    no13 = server.add_tls_site(HOST, cert=cert, sts=["max-age=31536000; includeSubDomains"], protocols=["TLSv1.2"])
    http = server.add_http_site(redirect=True)
    origin = server.add_tls_site(HOST, cert=pki.origin(HOST), verify_client="on", client_ca=pki.client_ca.cert_path)
    client = pki.client()
    files = {
        "edge_ca": str(pki.ca.cert_path),
        "origin_ca": str(pki.origin_ca.cert_path),
        "client_cert": str(client.cert_path),
        "client_key": str(client.key_path),
    }
    with server:
        yield Peers(pki, str(edge.endpoint), str(no13.endpoint), str(http.endpoint), str(origin.endpoint), files)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _full(peers: Peers, edge: str | None = None) -> list[str]:
    f = peers.files
    return [
        "verify",
        HOST,
        "--edge",
        edge or peers.edge,
        "--edge-http",
        peers.http,
        "--origin",
        peers.origin,
        "--edge-ca",
        f["edge_ca"],
        "--origin-ca",
        f["origin_ca"],
        "--client-cert",
        f["client_cert"],
        "--client-key",
        f["client_key"],
        "--timeout",
        "3",
    ]


def test_all_pass_exits_0_with_a_readable_table(peers: Peers) -> None:
    code, out, err = run(*_full(peers))
    assert code == 0, out
    assert err == ""
    assert f"{HOST}: ok" in out
    assert "pass         edge.tls_1_3" in out
    assert "skipped      zone.ssl" in out


def test_a_failing_check_exits_1_and_says_why(peers: Peers) -> None:
    code, out, _ = run(*_full(peers, edge=peers.edge_no13))
    assert code == 1
    assert "FAIL         edge.tls_1_3" in out
    assert "expected: 1.3 accepted" in out


def test_inconclusive_without_failure_exits_3(peers: Peers) -> None:
    code, out, _ = run(*_full(peers), "--zone-id", "023e105f4ecef8ad9ca31a8372d0c353", "--json")
    assert code == 3  # no CLOUDFLARE_API_TOKEN in the environment: zone checks could not be carried out
    data = json.loads(out)
    zone = [c for c in data["targets"][0]["checks"] if c["id"].startswith("zone.")]
    assert {c["status"] for c in zone} == {"inconclusive"}


def test_json_contract(peers: Peers) -> None:
    code, out, _ = run(*_full(peers), "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"ok", "targets"}
    assert data["ok"] is True
    (target,) = data["targets"]
    assert set(target) == {"hostname", "ok", "zone_id", "origin", "checks"}
    assert target["zone_id"] is None  # no --zone-id
    assert target["origin"] == str(peers.origin)
    assert [c["id"] for c in target["checks"]] == list(CHECK_IDS)
    for check in target["checks"]:
        assert set(check) == {"id", "status", "expected", "observed", "detail"}
        assert check["status"] in {"pass", "fail", "inconclusive", "skipped"}


def test_the_listener_does_see_a_probe(listener: socket.socket) -> None:
    # The twin of "probes nothing": with good input the same command connects, so the listener can tell.
    edge = f"127.0.0.1:{listener.getsockname()[1]}"
    code, _, _ = run("verify", HOST, "--edge", edge, "--edge-http", edge, "--timeout", "0.5")
    assert code == 3
    assert someone_connected(listener)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-tls", "0.9"], "--min-tls must be one of 1.0, 1.1, 1.2, 1.3, got '0.9'"),
        (["--timeout", "-1"], "--timeout must be a number of seconds greater than 0"),
        (["--origin", "127.0.0.1:70000"], "--origin must be HOST or HOST:PORT with a port from 1 to 65535"),
        (["--edge-http", "127.0.0.1:0"], "--edge-http must be HOST or HOST:PORT"),
        (["--hsts-max-age", "soon"], "--hsts-max-age must be a whole number of seconds"),
        (["--origin-ca", "/nonexistent/ca.pem"], "--origin-ca must be a readable file, got '/nonexistent/ca.pem'"),
        (["--zone-id", "example.com"], "--zone-id must be a Cloudflare zone id"),
        (["--api-url", "ftp://x"], "--api-url must be an https:// URL, or http:// only with a loopback host"),
        (["--client-cert", "CERT"], "--client-key must be given together with --client-cert/--client-key"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_exits_2_naming_the_field_and_probes_nothing(
    listener: socket.socket, peers: Peers, extra: list[str], message: str
) -> None:
    edge = f"127.0.0.1:{listener.getsockname()[1]}"
    extra = [peers.files["client_cert"] if item == "CERT" else item for item in extra]
    code, out, err = run("verify", HOST, "--edge", edge, "--edge-http", edge, *extra)
    assert code == 2
    assert out == ""
    assert message in err
    assert not someone_connected(listener)


def test_certificate_less_ca_file_is_bad_input(tmp_path: Path, listener: socket.socket, peers: Peers) -> None:
    key_only = tmp_path / "key-only.pem"
    key_only.write_text(Path(peers.files["client_key"]).read_text())
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    edge = f"127.0.0.1:{listener.getsockname()[1]}"
    for path in (key_only, empty):
        code, _, err = run("verify", HOST, "--edge", edge, "--edge-ca", str(path))
        assert code == 2
        assert "--edge-ca" in err
        assert "PRIVATE KEY" not in err
    assert not someone_connected(listener)


def test_bad_hostname_is_bad_input() -> None:
    code, _, err = run("verify", "not a host")
    assert code == 2
    assert "HOSTNAME[0] must be a DNS hostname" in err


def test_unreachable_everything_exits_3_as_a_subprocess() -> None:
    closed = str(closed_port())
    env = {k: v for k, v in os.environ.items() if k != "CLOUDFLARE_API_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "origin_tls", "verify", HOST, "--edge", closed, "--edge-http", closed, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    statuses = {c["id"]: c["status"] for c in data["targets"][0]["checks"]}
    assert statuses["edge.tls_1_3"] == "inconclusive"
    assert statuses["origin.aop"] == "skipped"


_VERIFY_ARGUMENTS = [
    ["a.example.com", "--edge", "127.0.0.1:1", "--json"],
    ["a.example.com", "b.example.com", "--min-tls", "1.3", "--no-aop", "--require-pq", "--concurrency", "8"],
    ["--inventory", "fleet.yaml", "--format", "junit", "--output", "out.xml", "--deadline", "30"],
    ["a.example.com", "--hsts-preload", "--no-hsts-include-subdomains", "--timeout", "2.5", "--min-days", "7"],
]
_BAD_VERIFY_ARGUMENTS = [["--bogus"], ["--min-tls"], ["a", "--json", "x", "--nope"], ["--edge"], ["-x"]]


@pytest.mark.parametrize("arguments", _VERIFY_ARGUMENTS)
def test_verify_s_own_parser_reads_what_the_whole_tree_reads(arguments: list[str]) -> None:
    from origin_tls.cli import _verify_parser, build_parser

    alone, unknown = _verify_parser().parse_known_args(arguments)
    whole = vars(build_parser().parse_args(["verify", *arguments]))
    assert unknown == []
    assert {"command": "verify", **vars(alone)} == whole


@pytest.mark.parametrize("arguments", _BAD_VERIFY_ARGUMENTS)
def test_verify_s_usage_errors_read_as_the_whole_tree_s(arguments: list[str]) -> None:
    from origin_tls.cli import _UsageError, build_parser

    with pytest.raises(_UsageError) as whole:
        build_parser().parse_args(["verify", *arguments])
    code, out, err = run("verify", *arguments)
    assert (code, out) == (2, "")
    assert err == f"{whole.value}\n"


def test_verify_help_is_the_subcommand_s(capsys: pytest.CaptureFixture[str]) -> None:
    from origin_tls.cli import _verify_parser, build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["verify", "--help"])
    whole = capsys.readouterr().out
    with pytest.raises(SystemExit):
        _verify_parser().parse_args(["--help"])
    assert capsys.readouterr().out == whole
    assert whole.startswith("usage: origin_tls verify [-h]")  # the twin: the top level's help is another text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert capsys.readouterr().out != whole
