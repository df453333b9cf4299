"""Benchmark: verify 1 and then 50 hostnames served by a local nginx; print wall time and peak memory.

    .venv/bin/python bench/verify_many.py [--targets 1,50] [--repeat 3] [--latency-ms 0,20]

Every target gets the full probe set (TLS 1.0-1.3, HTTPS+HSTS, redirect, origin certificate, origin pull with and
without a client certificate): 9 probes. One target should cost about its slowest probe (they run at once), and 50
targets far less than 50 times one. On bare loopback a probe is pure CPU (no network to wait on), so the run is
repeated behind a relay adding a one-way latency (``--latency-ms``), as a real edge tens of milliseconds away would.
Figures are printed, never asserted: a slow machine is not a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latency_proxy import LatencyProxy
from origin_tls import probes
from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers.nginx import NginxServer
from tests.peers.pki import TestPki

DOMAIN = "bench.test"


def _probe_times(target: Target, options: VerifyOptions) -> dict[str, float]:
    """Each probe of one target alone, one after the other: the floor a concurrent run cannot beat."""
    origin = target.origin
    assert origin is not None
    timeout, edge, host = options.timeout, target.edge_endpoint, target.hostname
    calls: dict[str, Callable[[], object]] = {
        **{f"tls {v.value}": partial(probes.probe_tls_version, edge, host, v, timeout=timeout) for v in TlsVersion},
        "https": lambda: probes.probe_https(
            target.edge_endpoint, target.hostname, ca_pem=options.edge_ca_pem, timeout=timeout
        ),
        "redirect": lambda: probes.probe_http_redirect(target.edge_http_endpoint, target.hostname, timeout=timeout),
        "origin cert": lambda: probes.fetch_certificate(origin, target.hostname, timeout=timeout),
        "pull": lambda: probes.probe_origin_pull(origin, target.hostname, timeout=timeout),
        "pull+client": lambda: probes.probe_origin_pull(
            origin,
            target.hostname,
            client_cert_pem=options.client_cert_pem,
            client_key_pem=options.client_key_pem,
            timeout=timeout,
        ),
    }
    times = {}
    for name, call in calls.items():
        started = time.perf_counter()
        call()
        times[name] = time.perf_counter() - started
    return times


def _run(ends: list[Endpoint], options: VerifyOptions, counts: list[int], repeat: int) -> int:
    edge, http, origin = ends
    first = Target(f"h0.{DOMAIN}", edge=edge, edge_http=http, origin=origin)
    singles = _probe_times(first, options)
    slowest = max(singles, key=singles.__getitem__)
    print(
        f"probes of one target, one at a time: sum {sum(singles.values()) * 1000:.1f} ms, "
        f"slowest ({slowest}) {singles[slowest] * 1000:.1f} ms"
    )
    columns = ("targets", "wall ms", "per target ms", "vs 1 target", "py peak MiB", "max RSS MiB")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (8, 9, 14, 12, 12, 12), strict=True)))
    base = None
    for count in counts:
        targets = [Target(f"h{i}.{DOMAIN}", edge=edge, edge_http=http, origin=origin) for i in range(count)]
        walls = []
        peak = 0
        for _ in range(repeat):
            tracemalloc.start()
            started = time.perf_counter()
            report = verify(targets, Baseline(), options)
            walls.append(time.perf_counter() - started)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            if not report.ok and options.edge_ca_pem is not None:
                print(report.summary(), file=sys.stderr)
                return 1
        wall = statistics.median(walls)
        base = base or wall
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{count:>8} {wall * 1000:>9.1f} {wall / count * 1000:>14.2f} {wall / base:>11.1f}x "
            f"{peak / 2**20:>12.2f} {rss:>12.1f}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", default="0,20", help="one-way latencies to run at (0: bare loopback)")
    parser.add_argument(
        "--system-trust",
        action="store_true",
        help="judge the edge against the system trust store, as `verify` does without --edge-ca (edge.certificate "
        "then fails: the bench edge's CA is not in it; the point is the cost of loading the store)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.targets.split(",")]

    with tempfile.TemporaryDirectory(prefix="origin-tls-bench-") as tmp:
        pki = TestPki(Path(tmp) / "pki")
        server = NginxServer(Path(tmp) / "nginx")
        edge_cert = pki.ca.issue(f"*.{DOMAIN}", label="edge")
        edge = server.add_tls_site(f"*.{DOMAIN}", cert=edge_cert, sts=["max-age=31536000; includeSubDomains"])
        http = server.add_http_site(redirect=True)
        origin_cert = pki.origin_ca.issue(f"*.{DOMAIN}", label="origin")
        origin = server.add_tls_site(
            f"*.{DOMAIN}", cert=origin_cert, verify_client="on", client_ca=pki.client_ca.cert_path
        )
        client = pki.client()
        options = VerifyOptions(
            origin_ca_pem=pki.origin_ca.cert_pem,
            edge_ca_pem=None if args.system_trust else pki.ca.cert_pem,
            client_cert_pem=client.cert_pem,
            client_key_pem=client.key_pem,
            timeout=5.0,
        )
        with server:
            for latency in [float(v) for v in args.latency_ms.split(",")]:
                with contextlib.ExitStack() as stack:
                    ends = [edge.endpoint, http.endpoint, origin.endpoint]
                    if latency:
                        ends = [stack.enter_context(LatencyProxy(e, one_way_ms=latency)).endpoint for e in ends]
                    print(f"\n== one-way latency {latency:g} ms")
                    if _run(ends, options, counts, args.repeat):
                        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
