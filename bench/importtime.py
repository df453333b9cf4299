"""Where ``python -m origin_tls verify`` spends its import time, from ``python -X importtime``.

    python -m bench.importtime [--tree DIR] [--repeat 5] [-- verify arguments]

``-X importtime`` prints one line per module, children before their parent, nesting by indentation. This parses
that into a tree and reports: the total (top-level cumulative times summed, which is every import of the run),
the heaviest top-level imports, each third-party distribution's cost where it is first imported (and which
``origin_tls`` module pulled it in), and each ``origin_tls`` module's own cost. Medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runner import child_env, run_child

__all__ = ["ImportNode", "ImportProfile", "measure_imports", "parse_importtime", "profile_of", "render"]

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
#: Distributions to name in the report, with the root modules that belong to them.
THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "cryptography": ("cryptography", "_cffi_backend", "cffi"),
    "httpx": (
        "httpx",
        "httpcore",
        "h11",
        "h2",
        "hpack",
        "hyperframe",
        "anyio",
        "sniffio",
        "certifi",
        "idna",
        "click",
        "pygments",
        "rich",
    ),  # httpx[cli] brings click and pygments in at `import httpx`
    "pulumi": ("pulumi", "pulumi_cloudflare", "grpc", "google", "semver", "dill", "yaml", "parver", "arpeggio"),
    "uvicorn": ("uvicorn", "starlette", "fastapi"),
}


@dataclass
class ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    level: int
    children: list[ImportNode] = field(default_factory=list)
    parent: ImportNode | None = None

    def walk(self) -> Iterator[ImportNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def importer(self) -> str | None:
        """The nearest ``origin_tls`` module above this one (which of ours pulled it in)."""
        node = self.parent
        while node is not None:
            if node.name.split(".")[0] == "origin_tls":
                return node.name
            node = node.parent
        return None


def parse_importtime(text: str) -> list[ImportNode]:
    """The top-level import nodes of one ``-X importtime`` stderr (other lines ignored)."""
    stack: list[ImportNode] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        self_us, cumulative, indent, name = match.groups()
        level = len(indent) // 2
        node = ImportNode(name, int(self_us), int(cumulative), level)
        while stack and stack[-1].level > level:
            child = stack.pop()
            child.parent = node
            node.children.insert(0, child)
        stack.append(node)
    return stack


def _distribution(module: str) -> str | None:
    root = module.split(".")[0]
    for name, roots in THIRD_PARTY.items():
        if root in roots:
            return name
    return None


@dataclass(frozen=True)
class ImportProfile:
    total_ms: float  # every import of the process
    top: list[tuple[str, float]]  # top-level imports by cumulative ms
    #: name -> (cumulative ms where first imported, of it third-party self ms, stdlib self ms, our importers)
    distributions: dict[str, tuple[float, float, float, list[str]]]
    ours: list[tuple[str, float, float]]  # origin_tls modules: (name, self ms, cumulative ms)
    modules: set[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_ms": round(self.total_ms, 1),
            "top": [[n, round(v, 1)] for n, v in self.top],
            "distributions": {
                k: {"cumulative_ms": round(c, 1), "own_ms": round(o, 1), "stdlib_ms": round(s, 1), "via": who}
                for k, (c, o, s, who) in self.distributions.items()
            },
            "origin_tls": [[n, round(s, 1), round(c, 1)] for n, s, c in self.ours],
        }


def _third_party_ancestor(node: ImportNode) -> bool:
    parent = node.parent
    while parent is not None:
        if _distribution(parent.name) is not None:
            return True
        parent = parent.parent
    return False


def profile_of(roots: list[ImportNode]) -> ImportProfile:
    nodes = [n for root in roots for n in root.walk()]
    total = sum(r.cumulative_us for r in roots) / 1000
    top = sorted(((r.name, r.cumulative_us / 1000) for r in roots), key=lambda item: -item[1])
    # A third-party import under no other third-party import: its cumulative time is what leaving it out saves
    # (less the standard-library modules in it that something else would import anyway: shown apart).
    cost: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    importers: dict[str, set[str]] = defaultdict(set)
    for node in nodes:
        dist = _distribution(node.name)
        if dist is None or _third_party_ancestor(node):
            continue
        entry = cost[dist]
        entry[0] += node.cumulative_us / 1000
        for inner in node.walk():
            entry[1 if _distribution(inner.name) is not None else 2] += inner.self_us / 1000
        importers[dist].add(node.importer() or (node.parent.name if node.parent else "(top level)"))
    ours = sorted(
        ((n.name, n.self_us / 1000, n.cumulative_us / 1000) for n in nodes if n.name.split(".")[0] == "origin_tls"),
        key=lambda item: -item[2],
    )
    return ImportProfile(
        total_ms=total,
        top=top,
        distributions={k: (v[0], v[1], v[2], sorted(importers[k])) for k, v in cost.items()},
        ours=ours,
        modules={n.name for n in nodes},
    )


def _median_profile(profiles: Sequence[ImportProfile]) -> ImportProfile:
    """The run whose total is the median (its breakdown is coherent, unlike per-line medians)."""
    ordered = sorted(profiles, key=lambda p: p.total_ms)
    return ordered[len(ordered) // 2]


@dataclass(frozen=True)
class ImportFigures:
    profile: ImportProfile
    help_wall: float  # median wall of `verify --help` (no -X importtime)
    python_wall: float  # median wall of `python -c pass`: the interpreter's floor
    help_cpu: float


def measure_imports(
    tree: Path, *, python: str = sys.executable, repeat: int = 5, argv: Sequence[str] = ("verify", "--help")
) -> ImportFigures:
    env = child_env(tree)
    run_child([python, "-m", "origin_tls", *argv], env=env, cwd=tree, timeout=60)  # warm the .pyc cache
    profiles, walls, cpus, floors = [], [], [], []
    for _ in range(repeat):
        run = run_child([python, "-X", "importtime", "-m", "origin_tls", *argv], env=env, cwd=tree, timeout=60)
        profiles.append(profile_of(parse_importtime(run.stderr.decode("utf-8", "replace"))))
        plain = run_child([python, "-m", "origin_tls", *argv], env=env, cwd=tree, timeout=60)
        walls.append(plain.wall)
        cpus.append(plain.cpu)
        floors.append(run_child([python, "-c", "pass"], env=env, cwd=tree, timeout=60).wall)
    return ImportFigures(
        _median_profile(profiles), statistics.median(walls), statistics.median(floors), statistics.median(cpus)
    )


def render(figures: ImportFigures, *, top: int = 8) -> str:
    p = figures.profile
    lines = [
        f"`verify --help` wall {figures.help_wall * 1000:.0f} ms (CPU {figures.help_cpu * 1000:.0f} ms); "
        f"`python -c pass` {figures.python_wall * 1000:.0f} ms; imports (-X importtime, all) {p.total_ms:.0f} ms",
        "  heaviest top-level imports (cumulative):",
        *[f"    {ms:7.1f} ms  {name}" for name, ms in p.top[:top]],
        "  third-party, where first imported: cumulative (= its own modules + the stdlib they pulled in first):",
        *[
            f"    {c:7.1f} ms  {name:<13} ({o:.1f} + stdlib {s:.1f})  via {', '.join(who)}"
            for name, (c, o, s, who) in sorted(p.distributions.items(), key=lambda kv: -kv[1][0])
        ],
        "  origin_tls modules (self / cumulative):",
        *[f"    {s:7.1f} / {c:7.1f} ms  {name}" for name, s, c in p.ours[:12]],
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("args", nargs="*", help="origin_tls arguments (default: verify --help)")
    args = parser.parse_args()
    figures = measure_imports(args.tree.resolve(), repeat=args.repeat, argv=args.args or ("verify", "--help"))
    print(render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
