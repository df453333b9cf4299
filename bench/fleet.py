"""Issue 10's "Scale" benchmark: one ``verify --inventory`` run over a fleet of zones and origins, as a user runs it.

    python -m bench.fleet [--targets 100,1000] [--zones 4] [--origins 4] [--tree DIR] [--json FILE]
                          [--verify-args ARGS]

On loopback: ``--zones`` sandbox zones (``origin_tls.sandbox`` ``ZoneState``, each behind its own ``ApiServer``,
hardened first through ``origin_tls.harden.harden_zone`` with the package's client: the baseline with global AOP),
and the bed of ``bench/bed.py`` with ``--origins`` origin listeners. Target ``i`` belongs to zone ``i % zones`` and
is served by origin ``(i // zones) % origins``, so every zone has targets on every origin; the inventory gives
each target its ``zone_id``, ``api_url`` and ``origin`` (DESIGN "Fleets"), the edge and the files are defaults.

The whole ``python -m origin_tls verify --inventory FILE --json`` runs as a child with ``CLOUDFLARE_API_TOKEN`` set
to the sandbox token: wall time, peak RSS and CPU seconds from ``wait4`` (the child only, ``bench/runner.py``), and
the API requests as the ``ApiServer`` of each zone answered them (every one counted: ``ApiServer.requests`` keeps
only the last 1000), split into zone-level reads (settings, zone AOP) and per-hostname reads.

A run is only a figure when its report is the fleet's: exit 0, every target in order, each with its own zone id
and origin, every check ``pass`` except ``zone.aop_certificate`` (``skipped``: with global AOP Cloudflare presents
its own certificate, not ours). Before the figures, a control run against an unhardened zone must be refused.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.bed import Bed, Counts, hostnames
from bench.runner import REQUIRED_PASS, ChildRun, RunError, child_env, report_problems, run_child, verify_command
from origin_tls.baseline import AopMode, Baseline
from origin_tls.cloudflare import CloudflareClient
from origin_tls.harden import harden_zone
from origin_tls.sandbox.api import ApiServer, RequestRecord
from origin_tls.sandbox.state import ZoneState
from origin_tls.zone import ZONE_SETTING_IDS

__all__ = [
    "FLEET_REQUIRED",
    "CountingApiServer",
    "Zone",
    "fleet_problems",
    "fleet_status",
    "fleet_targets",
    "main",
    "request_kind",
]

TOKEN = "bench-fleet-sandbox-token"  # noqa: S105 (the loopback sandbox's token, valid nowhere else)
#: What the zones are hardened to: the sandbox's AOP level is global (Cloudflare's shared certificate).
BASELINE = Baseline(aop=AopMode.GLOBAL)
#: Checks every fleet target must carry and pass: the bed's, and the zone's (read from its API).
FLEET_REQUIRED = (*REQUIRED_PASS, *(f"zone.{setting}" for setting in ZONE_SETTING_IDS if setting != "tls_client_auth"),
                  "zone.aop")  # fmt: skip
#: Cloudflare's limit per token; a run that needs more waits on verify's rate budget (minutes, not a figure).
_RATE_LIMIT = 1200
_CHILD_TIMEOUT = 240.0


def fleet_status(check_id: str) -> str:
    """The status each check of a fleet target must have: all ``pass``, but ``zone.aop_certificate`` (global AOP)
    and ``origin.pq_key_agreement`` (no ``--require-pq``)."""
    return "skipped" if check_id in ("zone.aop_certificate", "origin.pq_key_agreement") else "pass"


# -- the API, counted


def request_kind(path: str) -> str:
    """The API path without its zone id and hostname: ``/client/v4/zones/<id>/origin_tls_client_auth/hostnames/h1.x``
    -> ``origin_tls_client_auth/hostnames/{host}``."""
    match = re.fullmatch(r"/client/v4/zones/[0-9a-f]{32}/(.+)", path)
    if match is None:
        return path
    return re.sub(r"^(origin_tls_client_auth/hostnames)/(?!certificates$)[^/]+$", r"\1/{host}", match.group(1))


def _per_hostname(kind: str) -> bool:
    return kind.endswith("/{host}")


class CountingApiServer(ApiServer):
    """An :class:`ApiServer` that keeps every request it answers since :meth:`reset_counts` (``requests`` keeps the
    last 1000 only). :attr:`total` counts every request since the start, to check the recording hook still runs."""

    def __init__(self, state: ZoneState, **kwargs: Any) -> None:
        super().__init__(state, **kwargs)
        self._counted: list[RequestRecord] = []
        self._count_lock = threading.Lock()
        self.total = 0

    def _record(self, record: RequestRecord) -> None:
        super()._record(record)
        with self._count_lock:
            self._counted.append(record)
            self.total += 1

    def __enter__(self) -> CountingApiServer:
        self.start()
        return self

    def reset_counts(self) -> None:
        with self._count_lock:
            self._counted.clear()

    def answered(self) -> list[RequestRecord]:
        """Every request answered since :meth:`reset_counts`."""
        with self._count_lock:
            records = list(self._counted)
            total = self.total
        recent = self.requests
        if len(recent) != min(total, 1000):
            raise RunError(f"{self!r}: counted {total} requests, ApiServer.requests has {len(recent)}: the hook moved")
        return records


@dataclass
class Zone:
    state: ZoneState
    server: CountingApiServer

    @property
    def zone_id(self) -> str:
        return self.state.zone_id


def _zone_id(index: int) -> str:
    return f"f1ee7{index:027x}"


@contextlib.contextmanager
def zones_running(count: int, names: Sequence[str], *, harden: bool = True, first: int = 0) -> Iterator[list[Zone]]:
    """``count`` sandbox zones, each on its own API (zone ``k`` holds ``names[k::count]``), hardened through the API."""
    with contextlib.ExitStack() as stack:
        zones = []
        for k in range(count):
            state = ZoneState(zone_id=_zone_id(first + k), hostnames=names[k::count], account_token=TOKEN)
            server = stack.enter_context(CountingApiServer(state))
            if harden:
                with CloudflareClient(TOKEN, base_url=server.url) as client:
                    harden_zone(client, state.zone_id, BASELINE)
            zones.append(Zone(state, server))
        yield zones


def fleet_targets(zones: Sequence[Zone], origins: Sequence[str], count: int) -> list[dict[str, str]]:
    """Per-target inventory keys: target ``i`` in zone ``i % zones`` on origin ``(i // zones) % origins``."""
    return [
        {
            "zone_id": zones[i % len(zones)].zone_id,
            "api_url": zones[i % len(zones)].server.url,
            "origin": origins[(i // len(zones)) % len(origins)],
        }
        for i in range(count)
    ]


def fleet_problems(run: ChildRun, names: Sequence[str], targets: Sequence[dict[str, str]]) -> list[str]:
    """Why this run's report is not the fleet's (empty: it is): the bed's check with the zone checks required, and
    each target's ``zone_id`` and ``origin`` those of the inventory."""
    problems = report_problems(run, names, required=FLEET_REQUIRED, status_of=fleet_status)
    try:
        reported = json.loads(run.stdout).get("targets", [])
    except ValueError:
        return problems
    wrong = [
        f"{got.get('hostname')}: zone {got.get('zone_id')} origin {got.get('origin')}"
        for got, want in zip(reported, targets, strict=False)
        if (got.get("zone_id"), got.get("origin")) != (want["zone_id"], want["origin"])
    ]
    if wrong:
        problems.append(f"{len(wrong)} targets not in their own zone or origin, e.g. {wrong[:3]}")
    return problems


# -- one measured run


@dataclass(frozen=True)
class Figure:
    targets: int
    zones: int
    origins: int
    runs: int
    wall_s: float  # median of the runs
    wall_all: list[float]
    rss_mib: float  # max over the runs
    cpu_s: float  # median user+sys
    user_s: float
    sys_s: float
    tls_per_target: float
    http_per_target: float
    api_total: int
    api_per_zone: list[int]  # every request each zone's API answered
    zone_level_per_zone: list[int]  # of which zone-level reads (settings, zone AOP), per zone
    per_hostname_total: int  # of which per-hostname reads (origin_tls_client_auth/hostnames/{host}), all zones
    repeated_reads: dict[str, int]  # zone-level path -> times read, where a zone read it more than once
    statuses: dict[str, int]
    kinds: dict[str, int]

    @property
    def api_per_target(self) -> float:
        return self.api_total / self.targets


def _measure(
    bed: Bed,
    zones: Sequence[Zone],
    count: int,
    *,
    python: str,
    tree: Path,
    inventory: Path,
    extra: Sequence[str],
    repeat: int = 1,
) -> Figure:
    runs = [_run_once(bed, zones, count, python=python, tree=tree, inventory=inventory, extra=extra)
            for _ in range(repeat)]  # fmt: skip
    counted = {(tuple(f.api_per_zone), f.per_hostname_total, f.tls_per_target) for f in runs}
    if len(counted) > 1:
        print(f"    note: the runs of {count} targets did not make the same requests/connections: {counted}")
    last = runs[-1]
    return replace(
        last,
        runs=repeat,
        wall_s=statistics.median(f.wall_s for f in runs),
        wall_all=[round(f.wall_s, 2) for f in runs],
        rss_mib=max(f.rss_mib for f in runs),
        cpu_s=statistics.median(f.cpu_s for f in runs),
        user_s=statistics.median(f.user_s for f in runs),
        sys_s=statistics.median(f.sys_s for f in runs),
    )


def _run_once(
    bed: Bed, zones: Sequence[Zone], count: int, *, python: str, tree: Path, inventory: Path, extra: Sequence[str]
) -> Figure:
    names = hostnames(count)
    origins = [str(endpoint) for endpoint in bed.origins]
    targets = fleet_targets(zones, origins, count)
    argv = verify_command(
        bed, names, python=python, inventory=inventory, extra=extra, defaults={"aop": "global"}, targets=targets
    )
    bed.reset()
    for zone in zones:
        zone.server.reset_counts()
    run = run_child(argv, env=child_env(tree, {"CLOUDFLARE_API_TOKEN": TOKEN}), cwd=tree, timeout=_CHILD_TIMEOUT)
    problems = fleet_problems(run, names, targets)
    if problems:
        raise RunError(f"{count} targets: the report is not the fleet's: " + "; ".join(problems))
    counts: Counts = bed.counts()
    answered = [zone.server.answered() for zone in zones]
    kinds: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    zone_level: list[int] = []
    repeated: dict[str, int] = {}
    per_hostname = 0
    for zone, records in zip(zones, answered, strict=True):
        own = Counter(request_kind(r.path) for r in records)
        kinds.update(own)
        statuses.update(str(r.status) for r in records)
        zone_level.append(sum(n for kind, n in own.items() if not _per_hostname(kind)))
        per_hostname += sum(n for kind, n in own.items() if _per_hostname(kind))
        paths = Counter(r.path for r in records)
        repeated.update({f"{zone.zone_id[:9]}…/{request_kind(p)}": n for p, n in paths.items() if n > 1})
    return Figure(
        targets=count,
        zones=len(zones),
        origins=len(origins),
        runs=1,
        wall_s=run.wall,
        wall_all=[round(run.wall, 2)],
        rss_mib=run.max_rss_kib / 1024,
        cpu_s=run.cpu,
        user_s=run.user,
        sys_s=run.system,
        tls_per_target=counts.tls / count,
        http_per_target=counts.edge_http / count,
        api_total=sum(len(r) for r in answered),
        api_per_zone=[len(r) for r in answered],
        zone_level_per_zone=zone_level,
        per_hostname_total=per_hostname,
        repeated_reads=repeated,
        statuses=dict(statuses),
        kinds=dict(kinds),
    )


def _control(bed: Bed, names: Sequence[str], *, python: str, tree: Path, inventory: Path, first: int) -> str:
    """A run that must be refused: two targets in a zone nobody hardened. Returns what the check said."""
    chosen = list(names[:2])
    with zones_running(1, chosen, harden=False, first=first) as zones:
        targets = fleet_targets(zones, [str(bed.origin)], len(chosen))
        argv = verify_command(
            bed, chosen, python=python, inventory=inventory, defaults={"aop": "global"}, targets=targets
        )
        env = child_env(tree, {"CLOUDFLARE_API_TOKEN": TOKEN})
        problems = fleet_problems(run_child(argv, env=env, cwd=tree, timeout=60), chosen, targets)
    if not problems:
        raise RunError("control: a run against an unhardened zone was accepted; the report check checks nothing")
    return "; ".join(problems)[:200]


# -- output


def _spread(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else f"{min(values)}-{max(values)}"


def table(figures: Sequence[Figure]) -> str:
    head = ("targets", "wall", "peak RSS", "CPU-s", "wall/target", "CPU/target", "API requests",
            "per zone", "zone-level per zone", "per-hostname", "API/target", "TLS+HTTP conn/target")  # fmt: skip
    rows = [
        (
            f"{f.targets:,}",
            f"{f.wall_s:.2f} s" + ("" if f.runs > 1 else " (1 run)"),
            f"{f.rss_mib:.0f} MiB",
            f"{f.cpu_s:.2f}",
            f"{f.wall_s / f.targets * 1000:.2f} ms",
            f"{f.cpu_s / f.targets * 1000:.2f} ms",
            str(f.api_total),
            _spread(f.api_per_zone),
            _spread(f.zone_level_per_zone),
            str(f.per_hostname_total),
            f"{f.api_per_target:.3f}",
            f"{f.tls_per_target:.2f} + {f.http_per_target:.2f}",
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def linearity(figures: Sequence[Figure]) -> list[str]:
    """Cost per target between the smallest and the largest run (the marginal cost of the extra targets)."""
    if len(figures) < 2:
        return []
    small, big = min(figures, key=lambda f: f.targets), max(figures, key=lambda f: f.targets)
    extra = big.targets - small.targets
    return [
        f"{small.targets:,} -> {big.targets:,} targets: wall x{big.wall_s / small.wall_s:.1f}, "
        f"CPU x{big.cpu_s / small.cpu_s:.1f} for x{big.targets / small.targets:.0f} targets; each extra target "
        f"{(big.wall_s - small.wall_s) / extra * 1000:.2f} ms wall, {(big.cpu_s - small.cpu_s) / extra * 1000:.2f} ms "
        f"CPU; peak RSS {small.rss_mib:.0f} -> {big.rss_mib:.0f} MiB "
        f"({'under' if big.rss_mib < 150 else 'NOT under'} the 150 MiB aim)",
        f"API: {small.api_total} -> {big.api_total} requests; zone-level reads per zone "
        f"{_spread(small.zone_level_per_zone)} -> {_spread(big.zone_level_per_zone)}, per-hostname reads "
        f"{small.per_hostname_total} -> {big.per_hostname_total} (one per target: "
        f"{'yes' if all(f.per_hostname_total == f.targets for f in figures) else 'no'})",
    ]


def _tree_state(tree: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "origin_tls"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"HEAD {head}" + (f", origin_tls/ with uncommitted changes: {dirty.splitlines()}" if dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1], help="origin_tls under test")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--targets", default="100,1000", help="target counts, one run each (default 100,1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per target count (wall, CPU: median)")
    parser.add_argument("--zones", type=int, default=4)
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--verify-args", default="", metavar="ARGS", help="extra verify options, e.g. '--concurrency 256'"
    )
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.targets.split(",")})
    if min(args.zones, args.origins, args.repeat, counts[0]) < 1:
        parser.error("--zones, --origins, --repeat and every --targets count must be at least 1")
    worst = counts[-1] + args.zones * (len(ZONE_SETTING_IDS) + 2)
    if worst > _RATE_LIMIT:
        print(f"note: up to {worst} API requests in one run: over {_RATE_LIMIT}, verify's rate budget will wait")
    tree = args.tree.resolve()
    print(f"origin_tls from {tree} ({_tree_state(tree)})")
    names = hostnames(counts[-1])
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="origin-tls-fleet-") as tmp:
        inventory = Path(tmp) / "inventory.json"
        with Bed(Path(tmp) / "bed", origins=args.origins) as bed, zones_running(args.zones, names) as zones:
            print(f"{args.zones} zones (each on its own sandbox API, hardened: {', '.join(BASELINE.zone_settings())}),"
                  f" {args.origins} origins ({', '.join(map(str, bed.origins))})")  # fmt: skip
            refused = _control(bed, names, python=args.python, tree=tree, inventory=inventory, first=args.zones)
            print(f"control run (an unhardened zone) refused as it must be: {refused}")
            for count in counts:
                figure = _measure(
                    bed, zones, count, python=args.python, tree=tree, inventory=inventory,
                    extra=args.verify_args.split(), repeat=args.repeat,
                )  # fmt: skip
                figures.append(figure)
                print(
                    f"  {count:,} targets: wall {figure.wall_all} s, CPU {figure.cpu_s:.2f} s (user "
                    f"{figure.user_s:.2f} + sys {figure.sys_s:.2f}), RSS {figure.rss_mib:.0f} MiB, API "
                    f"{figure.api_total} requests {figure.api_per_zone} by zone, statuses {figure.statuses}",
                    flush=True,
                )
                print(f"    by path: {dict(sorted(figure.kinds.items()))}")
                if figure.repeated_reads:
                    print(f"    zone-level paths read more than once: {figure.repeated_reads}")
    print()
    print(table(figures))
    for line in linearity(figures):
        print(line)
    if args.json is not None:
        document = {"tree": str(tree), "figures": [{**asdict(f), "api_per_target": f.api_per_target} for f in figures]}
        args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
