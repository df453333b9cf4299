"""The bench's own instruments: the relay's latency and counts, the report check, the parsers, the bed.

    python -m pytest -q bench/test_bench.py

Timing assertions are lower bounds (the relay adds at least its latency), upper bounds are loose.
"""

from __future__ import annotations

import functools
import http.client
import json
import shutil
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.bed import Bed, hostnames
from bench.fleet import (
    FLEET_REQUIRED,
    CountingApiServer,
    _measure,
    fleet_problems,
    fleet_targets,
    request_kind,
    zones_running,
)
from bench.fleet import TOKEN as FLEET_TOKEN
from bench.importtime import parse_importtime, profile_of
from bench.latency_proxy import LatencyProxy, _echo_server, measure
from bench.profiling import parse_collapsed
from bench.runner import (
    REQUIRED_PASS,
    ChildRun,
    RunError,
    bed_status,
    child_env,
    report_problems,
    run_child,
    verify_command,
)
from bench.speed import prober_command
from bench.startup import parse_marks, wrapper
from origin_tls.baseline import Endpoint
from origin_tls.sandbox.state import ZoneState

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def echo() -> Iterator[Endpoint]:
    listener, _ = _echo_server()
    yield Endpoint("127.0.0.1", listener.getsockname()[1])
    listener.close()


def test_relay_delays_each_direction_and_the_tcp_handshake(echo: Endpoint) -> None:
    d = 0.04
    with LatencyProxy(echo, one_way_ms=d * 1000) as proxy:
        timings = measure(proxy.endpoint, burst=3)
        # First bytes: held one more round trip for the connect() the kernel completed at once, then d each way.
        assert 4 * d - 0.003 <= timings.first_answer < 4 * d + 2
        assert 2 * d - 0.003 <= timings.second_answer < 2 * d + 2
        assert 2 * d - 0.003 <= timings.eof < 2 * d + 2  # end of stream travels with the delay too
        assert proxy.wait_idle()
        counts = proxy.counts()
    assert (counts.accepted, counts.short, counts.full, counts.active) == (1, 1, 0, 0)


def test_relay_without_tcp_handshake_adds_one_round_trip_per_exchange(echo: Endpoint) -> None:
    d = 0.04
    with LatencyProxy(echo, one_way_ms=d * 1000, tcp_handshake=False) as proxy:
        timings = measure(proxy.endpoint)
    assert 2 * d - 0.003 <= timings.first_answer < 2 * d + 2


def test_direct_connection_is_not_mistaken_for_a_delayed_one(echo: Endpoint) -> None:
    # The twin: the same measure without the relay must not meet the relay's bound.
    assert measure(echo).first_answer < 4 * 0.1


def test_relay_counts_every_connection_and_chunks_in_flight_are_not_serialised(echo: Endpoint) -> None:
    d = 0.05
    with LatencyProxy(echo, one_way_ms=d * 1000) as proxy:
        threads = [threading.Thread(target=measure, args=(proxy.endpoint,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert proxy.wait_idle()
        assert proxy.counts().accepted == 12
        proxy.reset()
        assert proxy.counts().accepted == 0


def test_relay_counts_the_most_connections_open_at_once_and_when_the_first_came(echo: Endpoint) -> None:
    with LatencyProxy(echo, one_way_ms=1) as proxy:
        before = time.perf_counter()
        held = [socket.create_connection((proxy.endpoint.host, proxy.endpoint.port), timeout=5) for _ in range(3)]
        for sock in held:  # an answer on each: the relay has accepted all three
            sock.sendall(b"x\n")
            assert sock.recv(16) == b"x\n"
        for sock in held:
            sock.close()
        assert proxy.wait_idle()  # their closes travel with the delay too
        measure(proxy.endpoint)  # one more, alone
        assert proxy.wait_idle()
        counts = proxy.counts()
        assert counts.accepted == 4
        assert counts.peak_active == 3  # not 4: the last one came after the three had closed
        assert counts.first_accept is not None
        assert before <= counts.first_accept <= time.perf_counter()
        proxy.reset()
        assert proxy.counts().peak_active == 0
        assert proxy.counts().first_accept is None


# -- the report check


def _run(report: object, exit_code: int = 0) -> ChildRun:
    return ChildRun(("x",), exit_code, 1.0, 1.0, 0.5, 0.5, 1024, 0.0, json.dumps(report).encode(), b"")


def _report(names: list[str], **override: str) -> dict[str, object]:
    checks = [{"id": cid, "status": "pass"} for cid in REQUIRED_PASS] + [{"id": "zone.ssl", "status": "skipped"}]
    for check in checks:
        check["status"] = override.get(check["id"], check["status"])
    return {"ok": True, "targets": [{"hostname": n, "ok": True, "checks": checks} for n in names]}


def test_report_check_accepts_the_beds_report() -> None:
    names = hostnames(3)
    assert report_problems(_run(_report(names)), names) == []


def test_with_require_pq_the_beds_report_fails_its_pq_check_and_nothing_else() -> None:
    # The bed's nginx has no ML-KEM: with --require-pq the right report fails origin.pq_key_agreement, exit 1.
    names = hostnames(2)
    report = _report(names)
    for target in report["targets"]:  # type: ignore[attr-defined]
        target["ok"] = False
        target["checks"].append({"id": "origin.pq_key_agreement", "status": "fail"})
    report["ok"] = False
    expect_pq = functools.partial(bed_status, require_pq=True)
    assert report_problems(_run(report, 1), names, status_of=expect_pq, exit_code=1) == []
    # The twins: the same report is not the bed's without --require-pq, nor with exit 0.
    assert report_problems(_run(report, 1), names, exit_code=1)
    assert report_problems(_run(report, 0), names, status_of=expect_pq)


@pytest.mark.parametrize(
    ("report", "exit_code"),
    [
        pytest.param(_report(hostnames(3), **{"origin.aop": "fail"}), 0, id="a check fails"),
        pytest.param(_report(hostnames(3), **{"edge.hsts": "skipped"}), 0, id="an edge check skipped"),
        pytest.param(_report(hostnames(3), **{"zone.ssl": "pass"}), 0, id="a zone check read without a zone"),
        pytest.param(_report(hostnames(2)), 0, id="a target missing"),
        pytest.param(_report(list(reversed(hostnames(3)))), 0, id="targets out of order"),
        pytest.param(_report(hostnames(3)), 3, id="exit status"),
        pytest.param(
            {"ok": True, "targets": [{"hostname": n, "checks": []} for n in hostnames(3)]}, 0, id="no checks at all"
        ),
    ],
)
def test_report_check_refuses_a_wrong_report(report: object, exit_code: int) -> None:
    assert report_problems(_run(report, exit_code), hostnames(3))


# -- parsers


def test_importtime_tree_and_attribution() -> None:
    text = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |       cryptography.x509",
            "import time:        50 |        150 |     cryptography",
            "import time:       200 |        200 |     ssl",
            "import time:        10 |        360 |   origin_tls.certs",
            "import time:         5 |        365 | origin_tls.cli",
            "import time:         7 |          7 | site",
        ]
    )
    roots = parse_importtime(text)
    assert [r.name for r in roots] == ["origin_tls.cli", "site"]
    profile = profile_of(roots)
    assert profile.total_ms == pytest.approx(0.372)
    cumulative, own, stdlib, via = profile.distributions["cryptography"]
    assert cumulative == pytest.approx(0.15)
    assert own == pytest.approx(0.15)
    assert (stdlib, via) == (0.0, ["origin_tls.certs"])
    assert "httpx" not in profile.distributions


def test_collapsed_stacks() -> None:
    text = "thread (1): MainThread;main (a.py:1);f (a.py:3) 3\nthread (2): ThreadPoolExecutor-0_7;g (b.py:9) 1\n"
    profile = parse_collapsed(text)
    assert profile.samples == 4
    assert profile.self_counts.most_common(1) == [("f (a.py)", 3)]
    assert profile.total_counts["main (a.py)"] == 3
    assert profile.threads == {"MainThread": 3, "ThreadPoolExecutor-0_N": 1}


# -- the bed, end to end (nginx)


@pytest.mark.nginx
@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="no nginx")
def test_bed_serves_a_passing_report_and_counts_agree(tmp_path: Path) -> None:
    names = hostnames(2)
    with Bed(tmp_path / "bed", one_way_ms=5) as bed:
        run = run_child(
            verify_command(bed, names, python=sys.executable, inventory=None), env=child_env(ROOT), cwd=ROOT
        )
        assert report_problems(run, names) == []
        counts = bed.counts()
        assert counts.relay_agrees()
        assert counts.edge_http == 2
        assert counts.tls >= 2 * 4  # at least: TLS 1.3 + HTTPS at the edge, certificate + pull at the origin
        # The twin: the edge judged against the wrong CA is not the bed's report.
        wrong = verify_command(bed, names[:1], python=sys.executable, inventory=None)
        wrong[wrong.index("--edge-ca") + 1] = str(bed.files.origin_ca)
        assert report_problems(run_child(wrong, env=child_env(ROOT), cwd=ROOT), names[:1])


def test_the_all_parallel_prober_sees_the_beds_evidence_with_verify_s_connections(tmp_path: Path) -> None:
    names = hostnames(2)
    with Bed(tmp_path / "bed", one_way_ms=5) as bed:
        with bed.origin_peak() as peak:
            run = run_child(prober_command(bed, names, python=sys.executable), env=child_env(ROOT), cwd=ROOT)
        assert run.exit_code == 0, run.stderr
        counts = bed.counts()
        assert counts.relay_agrees()
        assert (counts.tls, counts.edge_http) == (2 * 9, 2)  # verify's count per target: 9 TLS + 1 plain HTTP
        assert peak[0] >= 2  # its origin connections overlap (all started at once)
        # The twin: against the wrong edge CA the prober refuses to be a figure.
        wrong = prober_command(bed, names[:1], python=sys.executable)
        wrong[wrong.index("--edge-ca") + 1] = str(bed.files.origin_ca)
        refused = run_child(wrong, env=child_env(ROOT), cwd=ROOT)
        assert refused.exit_code == 1
        assert b"https" in refused.stderr


def test_startup_marks_come_in_the_order_a_run_passes_them(tmp_path: Path) -> None:
    names = hostnames(1)
    with Bed(tmp_path / "bed", one_way_ms=5) as bed:
        command = verify_command(bed, names, python=sys.executable, inventory=None)
        argv = [sys.executable, "-c", wrapper("verify", 10), *command[3:]]
        env = {**child_env(ROOT), "ORIGIN_TLS_BENCH_T0": repr(time.time())}
        run = run_child(argv, env=env, cwd=ROOT)
        assert report_problems(run, names) == []  # the wrapped run is the bed's ordinary run
        marks = parse_marks(run.stderr.decode())
        order = ["start", "imports done", "probes start", "first connect", "last connect", "probes done", "report out"]
        walls = [marks[name][0] for name in order]
        assert walls == sorted(walls)
        assert all(marks[name][1] >= marks["start"][1] for name in order)  # CPU time only grows
        # The twin: a run that makes fewer connections than the wrapper waits for has no "last connect"
        fewer = [sys.executable, "-c", wrapper("verify", 11), *command[3:]]
        assert "last connect" not in parse_marks(run_child(fewer, env=env, cwd=ROOT).stderr.decode())


def test_parse_marks_takes_the_first_of_each_and_nothing_else() -> None:
    text = "noise\nMARK start\t1.5\t2.0\nMARK start\t9\t9\nMARKER x\nMARK end\t3\t4\n"
    assert parse_marks(text) == {"start": (1.5, 2.0), "end": (3.0, 4.0)}
    assert parse_marks("") == {}


def test_nothing_listens_after_the_relay_stops(echo: Endpoint) -> None:
    proxy = LatencyProxy(echo, one_way_ms=1).start()
    endpoint = proxy.endpoint
    proxy.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((endpoint.host, endpoint.port), timeout=1):
        pass


# -- the fleet bench (bench/fleet.py)


def test_request_kind_names_each_api_path_without_its_zone_or_hostname() -> None:
    zone = "/client/v4/zones/" + "a" * 32
    assert request_kind(zone + "/settings/ssl") == "settings/ssl"
    assert request_kind(zone + "/origin_tls_client_auth/settings") == "origin_tls_client_auth/settings"
    assert request_kind(zone + "/origin_tls_client_auth/hostnames/h1.bench.test") == (
        "origin_tls_client_auth/hostnames/{host}"
    )
    assert request_kind(zone + "/origin_tls_client_auth/hostnames/certificates") == (
        "origin_tls_client_auth/hostnames/certificates"
    )
    assert request_kind("/client/v4/certificates") == "/client/v4/certificates"


def test_counting_api_server_counts_past_the_last_thousand() -> None:
    # ApiServer.requests keeps the last 1000: the bench's count must not stop there.
    state = ZoneState(zone_id="b" * 32, hostnames=["h0.bench.test"], account_token=FLEET_TOKEN)
    with CountingApiServer(state) as server:
        host, port = server.address
        for _ in range(1100):  # one connection each: no delayed-ACK wait between keep-alive requests
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", f"/client/v4/zones/{'b' * 32}/settings/ssl", headers={"Connection": "close"})
            connection.getresponse().read()
            connection.close()
        assert len(server.requests) == 1000
        assert len(server.answered()) == 1100
        server.reset_counts()
        assert server.answered() == []


def test_fleet_targets_spread_every_zone_over_every_origin() -> None:
    with zones_running(2, hostnames(8), harden=False) as zones:
        targets = fleet_targets(zones, ["o0", "o1"], 8)
        pairs = Counter((t["zone_id"], t["origin"]) for t in targets)
        assert len(pairs) == 4
        assert set(pairs.values()) == {2}
        assert [t["api_url"] for t in targets[:2]] == [zones[0].server.url, zones[1].server.url]


def _fleet_report(names: list[str], targets: list[dict[str, str]], **override: str) -> dict[str, object]:
    checks = [{"id": cid, "status": "pass"} for cid in FLEET_REQUIRED]
    checks.append({"id": "zone.aop_certificate", "status": "skipped"})
    for check in checks:
        check["status"] = override.get(check["id"], check["status"])
    return {
        "ok": True,
        "targets": [
            {"hostname": n, "ok": True, "zone_id": t["zone_id"], "origin": t["origin"], "checks": checks}
            for n, t in zip(names, targets, strict=True)
        ],
    }


_FLEET = [{"zone_id": "a" * 32, "origin": "127.0.0.1:1"}, {"zone_id": "b" * 32, "origin": "127.0.0.1:2"}]


def test_fleet_check_accepts_the_fleets_report() -> None:
    names = hostnames(2)
    assert fleet_problems(_run(_fleet_report(names, _FLEET)), names, _FLEET) == []


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(_fleet_report(hostnames(2), _FLEET, **{"zone.ssl": "skipped"}), id="a zone check not read"),
        pytest.param(_fleet_report(hostnames(2), _FLEET, **{"zone.aop": "inconclusive"}), id="zone.aop unread"),
        pytest.param(_fleet_report(hostnames(2), _FLEET, **{"origin.aop_client": "fail"}), id="an origin check"),
        pytest.param(_fleet_report(hostnames(2), _FLEET[::-1]), id="targets swapped between zones and origins"),
        pytest.param(_report(hostnames(2)), id="the bed's report: no zone read"),
    ],
)
def test_fleet_check_refuses_a_wrong_report(report: object) -> None:
    assert fleet_problems(_run(report), hostnames(2), _FLEET)


def test_several_origins_go_without_the_relay() -> None:
    with pytest.raises(ValueError, match="one origin"):
        Bed(origins=2, one_way_ms=5)


@pytest.mark.nginx
@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="no nginx")
def test_a_small_fleet_passes_and_reads_each_zone_once(tmp_path: Path) -> None:
    names = hostnames(6)
    with Bed(tmp_path / "bed", origins=2) as bed, zones_running(2, names) as zones:
        assert len(set(bed.origins)) == 2
        assert bed.origins[0] == bed.origin
        figure = _measure(bed, zones, 6, python=sys.executable, tree=ROOT, inventory=tmp_path / "i.json", extra=())
        assert figure.api_per_zone == [figure.zone_level_per_zone[0] + 3] * 2
        assert figure.per_hostname_total == 6  # one per-hostname AOP read per target (a --client-cert was given)
        assert figure.repeated_reads == {}
        # The twin: the same fleet in zones nobody hardened is not the fleet's report.
        with zones_running(2, names, harden=False, first=2) as bare, pytest.raises(RunError, match=r"zone\.ssl"):
            _measure(bed, bare, 6, python=sys.executable, tree=ROOT, inventory=tmp_path / "j.json", extra=())
