"""The bench's own instruments: the relay's latency and counts, the report check, the parsers, the bed.

    python -m pytest -q bench/test_bench.py

Timing assertions are lower bounds (the relay adds at least its latency), upper bounds are loose.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.bed import Bed, hostnames
from bench.importtime import parse_importtime, profile_of
from bench.latency_proxy import LatencyProxy, _echo_server, measure
from bench.profiling import parse_collapsed
from bench.runner import REQUIRED_PASS, ChildRun, child_env, report_problems, run_child, verify_command
from origin_tls.baseline import Endpoint

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


# -- the report check


def _run(report: object, exit_code: int = 0) -> ChildRun:
    return ChildRun(("x",), exit_code, 1.0, 1.0, 0.5, 0.5, 1024, json.dumps(report).encode(), b"")


def _report(names: list[str], **override: str) -> dict[str, object]:
    checks = [{"id": cid, "status": "pass"} for cid in REQUIRED_PASS] + [{"id": "zone.ssl", "status": "skipped"}]
    for check in checks:
        check["status"] = override.get(check["id"], check["status"])
    return {"ok": True, "targets": [{"hostname": n, "ok": True, "checks": checks} for n in names]}


def test_report_check_accepts_the_beds_report() -> None:
    names = hostnames(3)
    assert report_problems(_run(_report(names)), names) == []


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


def test_nothing_listens_after_the_relay_stops(echo: Endpoint) -> None:
    proxy = LatencyProxy(echo, one_way_ms=1).start()
    endpoint = proxy.endpoint
    proxy.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((endpoint.host, endpoint.port), timeout=1):
        pass
