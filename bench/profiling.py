"""Profile one bench configuration of ``python -m origin_tls verify`` with a sampling profiler; print the top entries.

    python -m bench.profiling [--hosts 200] [--one-way-ms 25] [--profiler py-spy|pyinstrument] [--top 20]

py-spy (default) samples every thread of the child from outside (the probes run in pool threads); the entries are
functions (file:line dropped). "self" is where the sample's innermost frame was; "total" counts a function once per
sample that has it anywhere in its stack. Caveat, measured on this bed: py-spy's idle detection counts a thread
blocked in ``poll()`` inside ``SSLSocket.do_handshake`` (GIL released) as active, so the default view is where the
threads *are* (close to wall time), not where the CPU goes. ``--native`` adds the C frames and splits every sample
into network waits (poll/select), lock waits (the GIL and ``threading`` locks) and on-CPU, each by its innermost
Python frame: the lock part shows contention. Neither view is a faithful CPU profile of this process: with
``--pause`` the run takes 2-4 times as long and the main thread's judging (measured in-process: 0.06 CPU-s of 2.4
for 200 targets) takes a large share of the "on-CPU" samples; so it samples ``--nonblocking`` by default and CPU
questions are answered by ``bench.speed``'s CPU seconds and direct measures. pyinstrument profiles only the thread
that starts it (the main thread: imports, argument parsing, the wait, judging, JSON); its report is printed as is.

The run is the bench's own (same bed, same command line, same report check), so a profile is of a correct run.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.bed import Bed, hostnames
from bench.runner import checked, child_env, run_child, verify_command

__all__ = ["NativeProfile", "SampleProfile", "classify", "main", "parse_collapsed", "parse_native"]

_FRAME_LINE = re.compile(r" \(([^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class SampleProfile:
    samples: int
    self_counts: Counter[str]
    total_counts: Counter[str]
    threads: Counter[str]

    def render(self, top: int) -> str:
        lines = [f"{self.samples} samples"]
        for title, counts in (
            ("self (innermost frame)", self.self_counts),
            ("total (anywhere on the stack)", self.total_counts),
        ):
            lines.append(f"  top {top} by {title}:")
            for name, n in counts.most_common(top):
                lines.append(f"    {100 * n / max(1, self.samples):5.1f}%  {name}")
        lines.append("  samples by thread: " + ", ".join(f"{t} {n}" for t, n in self.threads.most_common(6)))
        return "\n".join(lines)


def _function(frame: str) -> str:
    """``probe_https (origin_tls/probes.py:123)`` -> ``probe_https (origin_tls/probes.py)``; paths shortened."""
    name = _FRAME_LINE.sub(lambda m: f" ({m.group(1)})", frame.strip())
    for marker in ("/site-packages/", "/lib/python3.", "/wt/", "/work/main/"):
        if marker in name:
            head, _, tail = name.partition(marker)
            start = head.rfind("(")
            tail = tail.split("/", 1)[1] if marker in ("/lib/python3.", "/wt/") and "/" in tail else tail
            name = head[: start + 1] + tail
    return name


_NET_WAITS = frozenset({"poll", "ppoll", "select", "epoll_wait", "recv", "recvfrom", "connect", "accept4"})
_LOCK_HINTS = ("acquire_lock", "pthread_cond", "take_gil", "sem_wait", "sem_timedwait", "lll_lock_wait", "mutex_lock")


def _is_python(frame: str) -> bool:
    return bool(re.search(r"\.py(?::\d+)?\)$|\(<frozen |\(<string>", frame))


def classify(frames: list[str]) -> str:
    """What a ``--native`` sample's thread was doing: waiting on the network, on a lock (the GIL included), or
    running. py-spy cannot name some libc stubs (``0x7f.. (libc.so.6)``): the frames above tell which wait."""
    leaf = frames[-1]
    name = leaf.split(" ", 1)[0]
    if "(libc.so" in leaf and name in _NET_WAITS:
        return "network"
    near = " ".join(frames[-4:])
    if "(libc.so" in leaf and (name.startswith("0x") or any(h in name for h in _LOCK_HINTS)):
        if any(h in near for h in _LOCK_HINTS):
            return "lock"
        if any(h in near for h in ("internal_select", "PySSL_select", "sock_call")):
            return "network"
    return "cpu"


@dataclass(frozen=True)
class NativeProfile:
    """``--native`` samples split by what the thread was doing, each part by its innermost Python frame."""

    samples: int
    kinds: Counter[str]
    by_python: dict[str, Counter[str]]
    cpu_libraries: Counter[str]

    def render(self, top: int, *, rate: int) -> str:
        lines = [
            f"{self.samples} samples ({self.samples / rate:.1f} thread-seconds): "
            + ", ".join(f"{k} {100 * n / max(1, self.samples):.0f}%" for k, n in self.kinds.most_common())
        ]
        cpu = self.kinds["cpu"]
        lines.append(f"  on CPU ({cpu / rate:.2f} s of samples), by native library of the innermost frame:")
        lines += [f"    {100 * n / max(1, cpu):5.1f}%  {lib}" for lib, n in self.cpu_libraries.most_common(8)]
        for kind in ("cpu", "lock", "network"):
            counts = self.by_python.get(kind, Counter())
            total = max(1, sum(counts.values()))
            lines.append(f"  {kind}: top {top} innermost Python frames (share of {kind} samples):")
            lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in counts.most_common(top)]
        return "\n".join(lines)


def parse_native(text: str) -> NativeProfile:
    kinds: Counter[str] = Counter()
    by_python: dict[str, Counter[str]] = {}
    libraries: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("thread (")]
        if not frames:
            continue
        samples += count
        kind = classify(frames)
        kinds[kind] += count
        python = [f for f in frames if _is_python(f)]
        by_python.setdefault(kind, Counter())[_function(python[-1]) if python else "(no Python frame)"] += count
        if kind == "cpu":
            leaf = frames[-1]
            library = leaf.rsplit("(", 1)[-1].rstrip(")").split("/")[-1].split(":")[0]
            libraries["Python code" if _is_python(leaf) else library] += count
    return NativeProfile(samples, kinds, by_python, libraries)


def parse_collapsed(text: str) -> SampleProfile:
    """py-spy's ``--format raw`` output (collapsed stacks: ``frame;frame;... COUNT``, root first)."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[0].startswith("thread ("):
            thread = frames.pop(0)
            threads[re.sub(r"_\d+$", "_N", thread.split(": ", 1)[-1].split(" ")[0])] += count
        if not frames:
            continue
        functions = [_function(f) for f in frames]
        samples += count
        self_counts[functions[-1]] += count
        for name in set(functions):
            total_counts[name] += count
    return SampleProfile(samples, self_counts, total_counts, threads)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--one-way-ms", type=float, default=25.0)
    parser.add_argument("--profiler", choices=("py-spy", "pyinstrument"), default="py-spy")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="py-spy: count samples of waiting threads too")
    parser.add_argument("--gil", action="store_true", help="py-spy: only the thread holding the GIL (Python CPU)")
    parser.add_argument(
        "--pause", action="store_true", help="py-spy: pause the child for each sample (consistent stacks, 2-4x slower)"
    )
    parser.add_argument("--native", action="store_true", help="py-spy: include C frames (OpenSSL, the interpreter)")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--raw", type=Path, help="py-spy: keep the collapsed stacks here (flamegraph.pl reads them)")
    args = parser.parse_args()
    tree = args.tree.resolve()
    names = hostnames(args.hosts)
    with (
        tempfile.TemporaryDirectory(prefix="origin-tls-profile-") as tmp,
        Bed(Path(tmp) / "bed", one_way_ms=args.one_way_ms) as bed,
    ):
        command = verify_command(bed, names, python=args.python, inventory=None)
        if args.profiler == "py-spy":
            spy = shutil.which("py-spy", path=str(Path(args.python).parent)) or shutil.which("py-spy")
            if spy is None:
                print("py-spy not found: pip install py-spy (requirements-dev.txt)", file=sys.stderr)
                return 2
            raw = args.raw or Path(tmp) / "stacks.txt"
            options = ["record", "--format", "raw", "--threads", "--rate", str(args.rate), "--output", str(raw)]
            for flag in ("idle", "gil", "native"):
                options += [f"--{flag}"] * getattr(args, flag)
            options += [] if args.pause else ["--nonblocking"]  # pausing 65 threads per sample stretches the run
            run = run_child([spy, *options, "--", *command], env=child_env(tree), cwd=tree)
            said = [ln for ln in (run.stdout + run.stderr).decode("utf-8", "replace").splitlines() if "Samples:" in ln]
            # py-spy prints its banner on the child's stdout: drop its lines before reading the report.
            kept = b"".join(line for line in run.stdout.splitlines(keepends=True) if not line.startswith(b"py-spy> "))
            run = checked(dataclasses.replace(run, stdout=kept), names)
            print(f"{args.hosts} hosts, one-way {args.one_way_ms:g} ms, py-spy at {args.rate} Hz: "
                  f"wall {run.wall:.2f} s (profiled), child+profiler CPU {run.cpu:.2f} s")  # fmt: skip
            if said:  # py-spy drops the samples it could not unwind (native frames without unwind info)
                print(said[-1].replace("py-spy> ", "py-spy: "))
            text = raw.read_text(encoding="utf-8", errors="replace")
            if args.native:
                print(parse_native(text).render(args.top, rate=args.rate))
            else:
                print(parse_collapsed(text).render(args.top))
        else:
            report = Path(tmp) / "pyinstrument.txt"
            profiled = [args.python, "-m", "pyinstrument", "--renderer", "text", "--outfile", str(report)]
            run = checked(run_child([*profiled, *command[1:]], env=child_env(tree), cwd=tree), names)
            print(f"{args.hosts} hosts, one-way {args.one_way_ms:g} ms, pyinstrument (main thread only): "
                  f"wall {run.wall:.2f} s")  # fmt: skip
            print(report.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
