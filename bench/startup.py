"""Issue 17's instrument: where one host's run spends its time, at marks inside the process, beside the prober's.

    python -m bench.startup [--repeat 15] [--tree DIR] [--json FILE]

One host on the 50 ms bed (as ``bench.speed``'s first case: inventory file, edge, origin, client certificate), run
as ``python -m origin_tls verify`` and as ``bench/prober.py``, interleaved. Each child runs under a small wrapper
(``-c``) that notes the wall time (from just before the spawn, on the parent's clock) and the process's CPU time at
marks: ``start`` (the wrapper's first line: interpreter and site done), ``first connect`` and ``last connect`` (the
first and the tenth ``socket.connect``: every probe has started), and for ``verify`` also ``imports done``
(``origin_tls.cli`` imported), ``probes start`` and ``probes done`` (``verify.run_all``'s entry and return;
``_run_all`` in older trees) and ``report out`` (``cli._render``'s return). The wrapper imports ``socket`` to hook
it, which both pay.

What it answers: how much CPU a run spends before its first connection (the difference from the prober is what one
host waits for; the network part is the floor's), how long after it the last probe starts, and what the judging
and the report cost after the last answer. CPU time before the first connection is steadier than wall time on a
shared machine (another tenant's burst lengthens both, but not the work done). Medians; figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.bed import Bed, hostnames
from bench.runner import child_env, verify_command
from bench.speed import compile_tree, prober_command

__all__ = ["MARKS", "main", "parse_marks", "wrapper"]

_ROOT = Path(__file__).resolve().parents[1]

#: The marks in the order a run passes them ("verify only" ones are absent from the prober's).
MARKS = (
    "start",
    "imports done",
    "probes start",
    "first connect",
    "last connect",
    "probes done",
    "report out",
    "end",
)

# The wrapper: marks go to stderr as "MARK <name>\t<wall ms>\t<cpu ms>" (wall from the parent's T0).
_PRELUDE = r"""
import os, sys, time
_t0 = float(os.environ["ORIGIN_TLS_BENCH_T0"])
def _mark(name):
    sys.stderr.write(f"MARK {name}\t{(time.time() - _t0) * 1000:.2f}\t{time.process_time() * 1000:.2f}\n")
_mark("start")
import socket
_connects = []
_real_connect = socket.socket.connect
def _connect(self, address):
    _connects.append(None)
    if len(_connects) == 1:
        _mark("first connect")
    elif len(_connects) == CONNECTIONS:
        _mark("last connect")
    return _real_connect(self, address)
socket.socket.connect = _connect
"""

_VERIFY = r"""
import origin_tls.cli as _cli, origin_tls.verify as _verify
_mark("imports done")
def _around(module, name, before, after):
    real = getattr(module, name)
    def wrapped(*args, **kwargs):
        if before: _mark(before)
        try:
            return real(*args, **kwargs)
        finally:
            if after: _mark(after)
    setattr(module, name, wrapped)
_around(_verify, "run_all" if hasattr(_verify, "run_all") else "_run_all", "probes start", "probes done")
_around(_cli, "_render", None, "report out")
import runpy
sys.argv = ["origin_tls", *sys.argv[1:]]
try:
    runpy.run_module("origin_tls", run_name="__main__")
finally:
    _mark("end")
"""

_PROBER = r"""
import runpy
path = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(path, run_name="__main__")
finally:
    _mark("end")
"""


def wrapper(kind: str, connections: int) -> str:
    """The ``-c`` program for ``kind`` ("verify" or "prober") of a run making ``connections`` connections."""
    body = _VERIFY if kind == "verify" else _PROBER
    return _PRELUDE.replace("CONNECTIONS", str(connections)) + body


def parse_marks(stderr: str) -> dict[str, tuple[float, float]]:
    """``{mark: (wall ms, cpu ms)}`` from a child's stderr (the first of each name)."""
    marks: dict[str, tuple[float, float]] = {}
    for line in stderr.splitlines():
        if line.startswith("MARK "):
            name, wall, cpu = line[5:].split("\t")
            marks.setdefault(name, (float(wall), float(cpu)))
    return marks


def _run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> dict[str, tuple[float, float]]:
    env = {**env, "ORIGIN_TLS_BENCH_T0": repr(time.time())}
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[2:4]} exited {done.returncode}: {done.stderr[-500:]}")
    return parse_marks(done.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--tree", type=Path, default=_ROOT, help="origin_tls under test")
    parser.add_argument("--json", type=Path, help="also write the medians as JSON")
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    compile_tree(tree, python=sys.executable)
    connections = 10  # per host: 9 TLS + 1 plain HTTP (bench/README.md, "The floor")
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {"prober": [], "verify": []}
    with tempfile.TemporaryDirectory(prefix="origin-tls-startup-") as tmp, Bed(Path(tmp) / "bed", one_way_ms=25) as bed:
        names = hostnames(1)
        verify = verify_command(bed, names, python=sys.executable, inventory=Path(tmp) / "inventory.json")
        prober = prober_command(bed, names, python=sys.executable)
        commands = {
            "verify": [sys.executable, "-c", wrapper("verify", connections), *verify[3:]],  # after "-m origin_tls"
            "prober": [sys.executable, "-c", wrapper("prober", connections), *prober[1:]],  # the script, its args
        }
        envs = {"verify": child_env(tree), "prober": child_env(_ROOT)}
        for r in range(args.repeat):
            for kind in ("prober", "verify") if r % 2 == 0 else ("verify", "prober"):
                bed.reset()
                runs[kind].append(_run(commands[kind], envs[kind], tree if kind == "verify" else _ROOT))
    medians = {
        kind: {
            mark: (
                statistics.median(run[mark][0] for run in done if mark in run),
                statistics.median(run[mark][1] for run in done if mark in run),
            )
            for mark in MARKS
            if any(mark in run for run in done)
        }
        for kind, done in runs.items()
    }
    load = os.getloadavg()[0]
    print(f"one host, 50 ms RTT, {args.repeat} runs each, interleaved; load {load:.1f}; medians, ms from the spawn")
    print(f"{'mark':<14} {'prober wall':>11} {'cpu':>6}   {'verify wall':>11} {'cpu':>6}")
    for mark in MARKS:
        cells = []
        for kind in ("prober", "verify"):
            wall, cpu = medians[kind].get(mark, (float("nan"), float("nan")))
            cells.append(f"{wall:11.1f} {cpu:6.1f}")
        print(f"{mark:<14} {cells[0]}   {cells[1]}")
    (prober_wall, prober_cpu), (verify_wall, verify_cpu) = (medians[k]["first connect"] for k in ("prober", "verify"))
    print(
        f"CPU before the first connection: prober {prober_cpu:.1f} ms, verify {verify_cpu:.1f} ms "
        f"(+{verify_cpu - prober_cpu:.1f}); wall to it +{verify_wall - prober_wall:.1f} ms"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"load": load, "repeat": args.repeat, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
