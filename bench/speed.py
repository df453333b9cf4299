"""Issue 12's benchmark: the whole ``python -m origin_tls verify ... --json`` process, as a user runs it.

    python -m bench.speed [--tree DIR] [--repeat 3] [--json FILE] [--baseline bench/results/before-run1.json]
                          [--only 1,50,200,1000] [--big-repeat 1]

For 1, 50 and 200 hostnames behind a 50 ms round trip (25 ms each way, bench/latency_proxy.py, the TCP handshake's
round trip included) and 1,000 on bare loopback: wall time (median of ``--repeat``; the 1,000-host case
``--big-repeat`` times), peak RSS and CPU seconds of the child (``wait4``), TLS connections per target (edge +
origin, counted by nginx and by the relay, which must agree; how many were full handshakes, from the relay), plain
HTTP connections per target apart, and the import time (``bench/importtime.py``).

Every run verifies what a user asks for (edge, origin, client certificate; no zone: no ``--zone-id``) and its report
must be the bed's (exit 0, every target, every edge/origin check ``pass``, ``zone.*`` ``skipped``): a run that fails
that check is an error, not a figure. Before the figures, a control run that must be refused (the edge judged
against the wrong CA) shows the check does refuse. The ``verify`` under test is the one in ``--tree`` (default:
this checkout); the hostnames go in an ``--inventory`` file when that ``verify`` has the option, else as arguments.

Figures are printed, never asserted: 2 shared CPUs make them noisy (CPU seconds less so than wall time).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.bed import Bed, Counts, hostnames
from bench.importtime import ImportFigures, measure_imports, parse_importtime, profile_of, render
from bench.runner import (
    ChildRun,
    RunError,
    bed_status,
    checked,
    child_env,
    report_problems,
    run_child,
    supports_inventory,
    verify_command,
)

__all__ = ["CASES", "PROBER", "Case", "Variant", "compile_tree", "main", "prober_command"]


@dataclass(frozen=True)
class Case:
    label: str
    hosts: int
    one_way_ms: float
    today: str  # the "today" figures, for reference
    goal: str
    goal_wall: float
    goal_rss_mib: float | None


CASES = (
    Case("1 host, 50 ms RTT", 1, 25.0, "0.52 s", "<= 0.35 s", 0.35, None),
    Case("50 hosts, 50 ms RTT", 50, 25.0, "1.61 s, 47 MiB", "<= 1.0 s", 1.0, None),
    Case("200 hosts, 50 ms RTT", 200, 25.0, "4.92 s, 54 MiB, 4.5 CPU-s", "<= 2.5 s, <= 150 MiB", 2.5, 150.0),
    Case("1,000 hosts, loopback", 1000, 0.0, "15.8 s, 82 MiB, 19.6 CPU-s", "<= 10 s, <= 150 MiB", 10.0, 150.0),
)


@dataclass(frozen=True)
class Variant:
    """What one measured run executes: ``verify`` (with ``extra`` options) or the all-parallel prober."""

    label: str
    prober: bool = False
    extra: tuple[str, ...] = ()
    tree: Path | None = None  # another checkout's origin_tls (--before); None: the tree under test


PROBER = Variant("all-parallel prober", prober=True)
#: The prober starts one thread per connection: 10,000 at 1,000 hosts is past what it is for (issues 17/19 compare
#: it at 1, 50 and 200 hosts).
PROBER_MAX_HOSTS = 200


@dataclass(frozen=True)
class Figure:
    case: str
    hosts: int
    variant: str
    runs: int
    wall_s: float  # median
    wall_all: list[float]
    rss_mib: float  # max over the runs
    cpu_s: float  # median user+sys
    user_s: float
    sys_s: float
    tls_per_target: float
    full_per_target: float | None  # full handshakes (the server sent a certificate), from the relay
    http_per_target: float
    #: Median time from the spawn to the first connection the relay accepted (None without the relay).
    first_connection_s: float | None
    #: The most connections open at once to the origin (the relay's count; on loopback nginx's, sampled).
    origin_peak: int
    origin_peak_sampled: bool
    load_1min: tuple[float, float]  # os.getloadavg()[0] before the case's first run and after its last
    goal_met: bool


def _run_variant(
    bed: Bed, variant: Variant, names: Sequence[str], *, python: str, tree: Path, inventory: Path | None
) -> tuple[ChildRun, Counts, int]:
    """One run of ``variant`` on a freshly counted bed: the run (report checked), the counts, the origin peak."""
    bed.reset()
    if variant.prober:
        argv = prober_command(bed, names, python=python)
        env = child_env(Path(__file__).resolve().parents[1])
    else:
        argv = verify_command(bed, names, python=python, inventory=inventory, extra=variant.extra)
        env = child_env(variant.tree or tree)
    with bed.origin_peak() as peak:
        # cwd: `python -m` puts it first on sys.path, so it decides which origin_tls runs.
        run = run_child(argv, env=env, cwd=variant.tree or tree)
    if variant.prober:
        if run.exit_code != 0:
            raise RunError(f"the prober did not see the bed's evidence: {run.stderr.decode()[-300:]}")
    else:
        pq = "--require-pq" in variant.extra  # the bed's nginx has no ML-KEM: origin.pq_key_agreement fails
        checked(run, names, status_of=functools.partial(bed_status, require_pq=pq), exit_code=1 if pq else 0)
    count = bed.counts()
    if not count.relay_agrees():
        raise RunError(f"the relay and nginx counted different connections: {count}")
    return run, count, peak[0]


def _measure_case(
    bed: Bed,
    case: Case,
    variants: Sequence[Variant],
    *,
    python: str,
    tree: Path,
    repeat: int,
    inventory: Path | None,
) -> list[Figure]:
    """Every variant ``repeat`` times, interleaved (run r starts at variant r mod n): on shared CPUs a burst of
    other work then lands on all of them alike, not on one."""
    names = hostnames(case.hosts)
    load_before = os.getloadavg()[0]
    done: dict[str, list[tuple[ChildRun, Counts, int]]] = {v.label: [] for v in variants}
    for r in range(repeat):
        for variant in (*variants[r % len(variants) :], *variants[: r % len(variants)]):
            done[variant.label].append(_run_variant(bed, variant, names, python=python, tree=tree, inventory=inventory))
    load_after = os.getloadavg()[0]
    return [_figure(case, variant, done[variant.label], (load_before, load_after)) for variant in variants]


def _figure(
    case: Case, variant: Variant, done: Sequence[tuple[ChildRun, Counts, int]], load: tuple[float, float]
) -> Figure:
    runs = [run for run, _, _ in done]
    count = done[-1][1]
    full = first = None
    if count.relay is not None:
        full = (count.relay["edge"].full + count.relay["origin"].full) / case.hosts
        firsts = []
        for run, counted, _ in done:
            accepted = [c.first_accept for c in (counted.relay or {}).values() if c.first_accept is not None]
            if accepted:
                firsts.append(min(accepted) - run.started)
        first = statistics.median(firsts) if firsts else None
    wall = statistics.median(r.wall for r in runs)
    rss = max(r.max_rss_kib for r in runs) / 1024
    return Figure(
        case=case.label,
        hosts=case.hosts,
        variant=variant.label,
        runs=len(runs),
        wall_s=wall,
        wall_all=[round(r.wall, 3) for r in runs],
        rss_mib=rss,
        cpu_s=statistics.median(r.cpu for r in runs),
        user_s=statistics.median(r.user for r in runs),
        sys_s=statistics.median(r.system for r in runs),
        tls_per_target=count.tls / case.hosts,
        full_per_target=full,
        http_per_target=count.edge_http / case.hosts,
        first_connection_s=first,
        origin_peak=max(peak for _, _, peak in done),
        origin_peak_sampled=count.relay is None,
        load_1min=load,
        goal_met=wall <= case.goal_wall and (case.goal_rss_mib is None or rss <= case.goal_rss_mib),
    )


def prober_command(bed: Bed, names: Sequence[str], *, python: str) -> list[str]:
    """The all-parallel prober (``bench/prober.py``, run as a script: nothing of origin_tls imported) on this bed."""
    files = bed.files
    return [
        python,
        str(Path(__file__).resolve().with_name("prober.py")),
        *names,
        "--edge", f"{bed.edge.host}:{bed.edge.port}",
        "--edge-http", f"{bed.edge_http.host}:{bed.edge_http.port}",
        "--origin", f"{bed.origin.host}:{bed.origin.port}",
        "--edge-ca", str(files.edge_ca),
        "--client-cert", str(files.client_cert),
        "--client-key", str(files.client_key),
    ]  # fmt: skip


def compile_tree(tree: Path, *, python: str) -> None:
    """Write ``tree``'s bytecode once, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE set (this machine sets
    it) every run would otherwise compile origin_tls from source, a cost no installed user pays."""
    run = run_child([python, "-m", "compileall", "-q", str(tree / "origin_tls")], env=child_env(tree), cwd=tree)
    if run.exit_code != 0:
        raise RunError(f"compileall failed: {run.stderr.decode()[-300:]}")


def _control(bed: Bed, *, python: str, tree: Path) -> str:
    """A run that must be refused: the edge judged against the Origin CA. Returns what the check said."""
    names = hostnames(1)
    argv = verify_command(bed, names, python=python, inventory=None)
    argv[argv.index("--edge-ca") + 1] = str(bed.files.origin_ca)
    problems = report_problems(run_child(argv, env=child_env(tree), cwd=tree), names)
    if not problems:
        raise RunError("control: a run against the wrong edge CA was accepted; the report check checks nothing")
    return "; ".join(problems)[:160]


def _verify_imports(bed: Bed, *, python: str, tree: Path) -> set[str]:
    """The modules a real one-host ``verify`` run imports (not only ``--help``)."""
    names = hostnames(1)
    argv = verify_command(bed, names, python=python, inventory=None)
    argv.insert(1, "-X")
    argv.insert(2, "importtime")
    run = checked(run_child(argv, env=child_env(tree), cwd=tree), names)
    return profile_of(parse_importtime(run.stderr.decode("utf-8", "replace"))).modules


def _load_baseline(path: Path) -> dict[tuple[str, str], str]:
    """A previous ``--json`` file -> (case, variant) -> "wall, RSS, CPU-s, TLS conn/target" (the "before" column).
    Files of before issue 19 have no variant: their figures are verify at its defaults."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        (f["case"], f.get("variant", DEFAULTS.label)): (
            f"{f['wall_s']:.2f} s, {f['rss_mib']:.0f} MiB, {f['cpu_s']:.2f} CPU-s, {f['tls_per_target']:g} TLS"
        )
        for f in document.get("figures", [])
    }


def _table(figures: Sequence[Figure], baseline: dict[tuple[str, str], str] | None = None) -> str:
    head: tuple[str, ...] = ("whole process", "run", "wall (median)", "/ prober", "1st conn", "CPU-s", "peak RSS",
                             "origin peak", "TLS+HTTP conn/target", "full hs", "load 1-min")  # fmt: skip
    if baseline is not None:
        head = (*head[:2], "before (--baseline)", *head[2:])
    floor = {f.case: f.wall_s for f in figures if f.variant == PROBER.label}
    rows = []
    for f in figures:
        full = f"{f.full_per_target:.2f}" if f.full_per_target is not None else "-"
        before = () if baseline is None else (baseline.get((f.case, f.variant), "-"),)
        ratio = f"{f.wall_s / floor[f.case]:.2f}x" if f.case in floor else "-"
        first = f"{f.first_connection_s * 1000:.0f} ms" if f.first_connection_s is not None else "-"
        rows.append(
            (
                f.case,
                f.variant,
                *before,
                f"{f.wall_s:.2f} s" + ("" if f.runs > 1 else " (1 run)"),
                ratio,
                first,
                f"{f.cpu_s:.2f}",
                f"{f.rss_mib:.0f} MiB",
                f"{f.origin_peak}" + (" (sampled)" if f.origin_peak_sampled else ""),
                f"{f.tls_per_target:.2f} + {f.http_per_target:.2f}",
                full,
                f"{f.load_1min[0]:.1f}-{f.load_1min[1]:.1f}",
            )
        )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


DEFAULTS = Variant("verify (defaults)")


def _variants(concurrency: str, verify_args: str) -> list[Variant]:
    extra = tuple(verify_args.split())
    if not concurrency:
        return [Variant(DEFAULTS.label + (f" {verify_args}" if extra else ""), extra=extra)]
    return [Variant(f"verify --concurrency {n}", extra=(*extra, "--concurrency", n)) for n in concurrency.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1], help="origin_tls under test")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-repeat", type=int, default=1, help="runs of the 1,000-host case (default 1)")
    parser.add_argument("--only", default="1,50,200,1000", help="host counts to run, of 1,50,200,1000")
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time measure")
    parser.add_argument("--no-prober", action="store_true", help="do not interleave the all-parallel prober")
    parser.add_argument(
        "--concurrency", default="", metavar="N,N", help="verify once per value (e.g. 64,128,256,512), not at defaults"
    )
    parser.add_argument("--source", action="store_true", help="leave origin_tls uncompiled (see compile_tree)")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also run another checkout's verify at its defaults, interleaved (e.g. the commit before a change)",
    )
    parser.add_argument("--hostnames-as-arguments", action="store_true", help="never use --inventory")
    parser.add_argument("--no-tcp-handshake", action="store_true", help="the relay adds no round trip for connect()")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--baseline", type=Path, metavar="FILE", help="a previous --json file, shown as a 'before' column"
    )
    parser.add_argument(
        "--verify-args",
        default="",
        metavar="ARGS",
        help="extra verify options for every measured run, e.g. '--deadline 60' (one string, split on spaces)",
    )
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    wanted = {int(n) for n in args.only.split(",")}
    cases = [c for c in CASES if c.hosts in wanted]
    variants = _variants(args.concurrency, args.verify_args)
    if args.before is not None:
        before = args.before.resolve()
        label = f"verify of {before.name} (defaults)"
        variants.insert(0, Variant(label, extra=tuple(args.verify_args.split()), tree=before))
        if not args.source:
            compile_tree(before, python=args.python)
    use_inventory = not args.hostnames_as_arguments and supports_inventory(tree, args.python)
    if not args.source:
        compile_tree(tree, python=args.python)
    print(f"origin_tls from {tree} ({'source' if args.source else 'bytecode compiled first, as pip install does'});"
          f" hostnames {'in an --inventory file' if use_inventory else 'as arguments'}")  # fmt: skip
    load_before = os.getloadavg()

    figures: list[Figure] = []
    imports: ImportFigures | None = None
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="origin-tls-speed-") as tmp:
        inventory = Path(tmp) / "inventory.json" if use_inventory else None
        for one_way in sorted({c.one_way_ms for c in cases}, reverse=True):
            with Bed(
                Path(tmp) / f"bed-{one_way:g}", one_way_ms=one_way, tcp_handshake=not args.no_tcp_handshake
            ) as bed:
                if not extra:
                    extra["control_refused"] = _control(bed, python=args.python, tree=tree)
                    print(f"control run (wrong edge CA) refused as it must be: {extra['control_refused']}")
                    modules = _verify_imports(bed, python=args.python, tree=tree)
                    roots = sorted({m.split(".")[0] for m in modules if not m.startswith("_")})
                    unneeded = [r for r in ("httpx", "pulumi", "pulumi_cloudflare", "grpc", "uvicorn") if r in roots]
                    sandbox = sorted(m for m in modules if m.startswith(("origin_tls.sandbox", "origin_tls.demo")))
                    extra["verify_imports_unneeded"] = unneeded + sandbox
                    print(f"a one-host verify run (no --zone-id) imports: {', '.join(unneeded + sandbox) or 'none'}"
                          " of httpx/pulumi/grpc/uvicorn/sandbox")  # fmt: skip
                for case in (c for c in cases if c.one_way_ms == one_way):
                    repeat = args.big_repeat if case.hosts >= 1000 else args.repeat
                    with_prober = not args.no_prober and case.hosts <= PROBER_MAX_HOSTS
                    measured = _measure_case(
                        bed,
                        case,
                        [PROBER, *variants] if with_prober else variants,
                        python=args.python,
                        tree=tree,
                        repeat=repeat,
                        inventory=inventory,
                    )
                    figures += measured
                    for figure in measured:
                        first = figure.first_connection_s
                        print(
                            f"  {case.label}, {figure.variant}: wall {figure.wall_all} s, CPU {figure.cpu_s:.2f} s "
                            f"(user {figure.user_s:.2f} + sys {figure.sys_s:.2f}), RSS {figure.rss_mib:.0f} MiB, "
                            f"{figure.tls_per_target:.2f} TLS + {figure.http_per_target:.2f} HTTP connections per "
                            f"target, origin peak {figure.origin_peak}"
                            + (f", first connection {first * 1000:.0f} ms" if first is not None else "")
                            + f", load {figure.load_1min[0]:.1f}-{figure.load_1min[1]:.1f}",
                            flush=True,
                        )
        if not args.no_imports:
            imports = measure_imports(tree, python=args.python)

    order = [c.label for c in CASES]
    figures.sort(key=lambda f: order.index(f.case))  # stable: within a case, the prober first, then as given
    load_after = os.getloadavg()
    extra["load_average"] = {"before": load_before, "after": load_after}
    extra["compiled"] = not args.source
    shown = ["/".join(f"{v:.1f}" for v in load) for load in (load_before, load_after)]
    print(f"\nload average (1/5/15 min) before {shown[0]}, after {shown[1]}: other work makes wall times noisy")
    print()
    print(_table(figures, _load_baseline(args.baseline) if args.baseline is not None else None))
    if imports is not None:
        print()
        print(render(imports))
    if args.json is not None:
        document = {
            "tree": str(tree),
            "figures": [asdict(f) for f in figures],
            "imports": None
            if imports is None
            else {
                **imports.profile.as_dict(),
                "help_wall_s": imports.help_wall,
                "help_cpu_s": imports.help_cpu,
                "python_wall_s": imports.python_wall,
            },
            **extra,
        }
        args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
