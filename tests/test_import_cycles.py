"""The layers read one way: no circle in the imports among origin_tls's modules (DESIGN.md, "Layout"; issue 17).

Every import counts, wherever it stands: at module level, under ``if TYPE_CHECKING:`` (a circle that only the type
checker follows is still two modules that each need the other to be understood) and inside a function (a lazy
import, for start-up cost, is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import origin_tls

ROOT = Path(origin_tls.__file__).resolve().parent


def _module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, read from the source of every ``.py`` file under ``root``."""
    files = {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                # `from . import probes` imports the module probes; `from .report import Check` imports report.
                submodules = {f"{source}.{alias.name}" for alias in node.names} & files.keys()
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(source)
        graph[name] = {other for other in found if other in files and other != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle in ``graph`` as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)) is not None:
                return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_no_module_of_origin_tls_imports_one_that_imports_it() -> None:
    graph = import_graph(ROOT)
    assert {"origin_tls.checks", "origin_tls.plans", "origin_tls.verify", "origin_tls.targets"} <= graph.keys()
    assert "origin_tls.targets" in graph["origin_tls.plans"]  # the run's input types, from their own module
    assert "origin_tls.plans" in graph["origin_tls.checks"]  # the probe side of the table, from its own module
    assert find_cycle(graph) is None


def test_the_run_input_types_stay_importable_from_verify() -> None:
    # Users script against origin_tls.verify.Target / VerifyOptions: the same classes, re-exported.
    from origin_tls import targets, verify

    assert (verify.Target, verify.VerifyOptions, verify.MAX_WORKERS) == (
        targets.Target,
        targets.VerifyOptions,
        targets.MAX_WORKERS,
    )


def test_the_walk_sees_the_circle_that_was(tmp_path: Path) -> None:
    # The twin: checks.py and verify.py as they were (the import back under TYPE_CHECKING) are a circle.
    package = tmp_path / "origin_tls"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "report.py").write_text("class Check: ...\n")
    (package / "checks.py").write_text(
        "from typing import TYPE_CHECKING\nfrom .report import Check\n"
        "if TYPE_CHECKING:\n    from .verify import Target, VerifyOptions\n"
    )
    (package / "verify.py").write_text("from .checks import CHECKS, PROBES, Plan\n")
    assert find_cycle(import_graph(package)) == ["origin_tls.checks", "origin_tls.verify", "origin_tls.checks"]


def test_the_walk_sees_lazy_absolute_and_submodule_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    import pkg.sub.b\n")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text("from pkg import a\n")
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]


def test_a_sibling_imported_through_its_package_is_no_edge_to_the_package(tmp_path: Path) -> None:
    # `from . import b` in pkg/a.py imports pkg.b, not pkg/__init__ (which is loaded before pkg.a anyway).
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .a import f\n")
    (package / "a.py").write_text("from . import b\ndef f(): ...\n")
    (package / "b.py").write_text("")
    assert import_graph(package) == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert find_cycle(import_graph(package)) is None
