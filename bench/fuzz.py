"""Run the fuzz targets (tests/fuzz) at length and print how many inputs each one got.

    python -m bench.fuzz                          # every target, 60 s each (Hypothesis profile "long")
    python -m bench.fuzz --seconds 300            # five minutes each
    python -m bench.fuzz --examples 20000         # 20,000 inputs each, however long that takes
    python -m bench.fuzz -k api_retry_after       # some targets (pytest -k expression)
    python -m bench.fuzz --json /tmp/fuzz.json    # also write the table as JSON
    python -m bench.fuzz --atheris --seconds 120  # coverage-guided (libFuzzer), when atheris is installed

It runs ``pytest tests/fuzz`` in a child with ``HYPOTHESIS_PROFILE=long``; ``tests/fuzz/conftest.py`` counts the
calls of each target's body and stops a target when its time is up (it reports "skipped: fuzz budget spent";
a target that has found a failing input is never stopped early, so Hypothesis shrinks and prints it).
Inputs found failing are kept in ``.hypothesis/`` and replayed first by the next run; turn each into a regular
test (see tests/README.md). Exit status: 0 when no target failed, 1 otherwise.

With ``--atheris`` each target that takes no pytest fixture runs instead under atheris (``bench/fuzz_atheris.py``),
one child per target, libFuzzer's own input count ("Done N runs") reported; crashing inputs go to
``--artifacts`` (default: a temporary directory, named in the output).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["TargetRun", "fuzzable_targets", "main", "read_runs", "render", "run_atheris"]

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "tests" / "fuzz"


@dataclass(frozen=True)
class TargetRun:
    """One target's long run: its pytest node id, inputs tried, wall seconds, and how it ended."""

    target: str
    inputs: int
    seconds: float
    outcome: str  # "budget spent", "examples done", "failed", "error"


def read_runs(counts: dict[str, int], junit: Path) -> list[TargetRun]:
    """Join the conftest's per-target counts with pytest's JUnit outcomes."""
    runs = []
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own child's file
        path = case.get("classname", "").replace(".", "/")
        module, _, cls = path.rpartition("/")
        nodeid = f"{path}.py::{case.get('name')}"
        if cls and cls[:1].isupper():
            nodeid = f"{module}.py::{cls}::{case.get('name')}"
        outcome = "examples done"
        skipped = case.find("skipped")
        if case.find("failure") is not None:
            outcome = "failed"
        elif case.find("error") is not None:
            outcome = "error"
        elif skipped is not None:
            outcome = "budget spent" if "fuzz budget" in (skipped.get("message") or "") else "skipped"
        if nodeid not in counts and outcome not in ("failed", "error"):
            continue  # not a Hypothesis target (the harness's own unit tests)
        runs.append(TargetRun(nodeid, counts.get(nodeid, 0), float(case.get("time") or 0.0), outcome))
    return runs


def render(runs: Sequence[TargetRun]) -> str:
    width = max([len(r.target) for r in runs] + [6])
    lines = [f"{'target':<{width}}  {'inputs':>9}  {'seconds':>8}  {'inputs/s':>9}  outcome"]
    for r in runs:
        rate = r.inputs / r.seconds if r.seconds else 0.0
        lines.append(f"{r.target:<{width}}  {r.inputs:>9,}  {r.seconds:>8.1f}  {rate:>9,.0f}  {r.outcome}")
    lines.append(f"{'total':<{width}}  {sum(r.inputs for r in runs):>9,}  {sum(r.seconds for r in runs):>8.1f}")
    return "\n".join(lines)


def fuzzable_targets(keyword: str | None) -> list[str]:
    """``module:function`` of every Hypothesis target in tests/fuzz that takes no pytest fixture (atheris can call
    those with bytes alone), whose name contains ``keyword`` when one is given."""
    found = []
    for path in sorted(FUZZ_DIR.glob("test_fuzz_*.py")):
        if path.stem == "test_fuzz_harness":  # the contract's own tests, not a parser
            continue
        module_name = f"tests.fuzz.{path.stem}"
        module = importlib.import_module(module_name)
        for name, test in vars(module).items():
            if not name.startswith("test_") or getattr(test, "hypothesis", None) is None:
                continue
            if inspect.signature(test).parameters:  # fixtures left to fill: pytest only
                continue
            target = f"{module_name}:{name}"
            if keyword is None or keyword in target:
                found.append(target)
    return found


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def run_atheris(targets: Sequence[str], *, seconds: float, artifacts: Path) -> list[TargetRun]:
    runs = []
    for target in targets:
        command = [sys.executable, "-m", "bench.fuzz_atheris", target, f"-max_total_time={max(1, int(seconds))}"]
        command += ["-max_len=4096", f"-artifact_prefix={artifacts}/", "-print_final_stats=0"]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        # libFuzzer ends the child without running Python's finalizers, so the targets' temporary directories would
        # stay: the child makes them under a directory of ours, removed when it ends.
        with tempfile.TemporaryDirectory(prefix="fuzz-atheris-child-") as scratch:
            env = dict(os.environ, PYTHONPATH=path, TMPDIR=scratch)
            child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        done = _DONE.search(child.stderr)
        if child.returncode != 0:
            print(f"== {target} failed:\n{child.stderr[-4000:]}", file=sys.stderr)
        runs.append(
            TargetRun(
                target,
                int(done.group(1)) if done else 0,
                float(done.group(2)) if done else 0.0,
                "budget spent" if child.returncode == 0 else "failed",
            )
        )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time per target (default 60; 0: no limit)")
    parser.add_argument("--examples", type=int, default=10_000_000, help="inputs per target at most")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression selecting targets")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, one child per fixture-free target")
    parser.add_argument("--artifacts", type=Path, help="where --atheris writes crashing inputs")
    parser.add_argument("paths", nargs="*", default=[str(FUZZ_DIR)], help="test files (default tests/fuzz)")
    args = parser.parse_args(argv)
    if args.atheris:
        artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="fuzz-atheris-"))
        runs = run_atheris(fuzzable_targets(args.keyword), seconds=args.seconds, artifacts=artifacts)
        print(render(runs))
        if args.artifacts is None and not any(artifacts.iterdir()):
            artifacts.rmdir()  # nothing crashed: leave nothing behind
        else:
            print(f"crashing inputs: {artifacts}")
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1) + "\n", encoding="utf-8")
        return 0 if all(r.outcome != "failed" for r in runs) else 1
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        counts_path, junit = Path(tmp) / "counts.json", Path(tmp) / "junit.xml"
        env = dict(
            os.environ,
            HYPOTHESIS_PROFILE="long",
            FUZZ_COUNTS=str(counts_path),
            FUZZ_SECONDS="" if args.seconds <= 0 else str(args.seconds),
            FUZZ_EXAMPLES=str(args.examples),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        command += ["-o", "junit_family=xunit1", *args.paths] + (["-k", args.keyword] if args.keyword else [])
        status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if not counts_path.exists() or not junit.exists():
            print(f"pytest ended ({status}) before any target ran", file=sys.stderr)
            return 1
        runs = read_runs(json.loads(counts_path.read_text(encoding="utf-8")), junit)
    print()
    print(render(runs))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1) + "\n", encoding="utf-8")
    return 0 if status in (0, 5) and all(r.outcome not in ("failed", "error") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
