"""Keeps `__all__` honest and the layers apart (STYLE.md: only origin_tls.providers and origin_tls.components import
pulumi)."""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import origin_tls

ROOT = Path(origin_tls.__file__).resolve().parent
MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages([str(ROOT)], prefix="origin_tls.") if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_only_names_that_exist_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


PULUMI_LAYER = {"providers", "components"}


def test_only_the_providers_and_the_components_import_pulumi() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if PULUMI_LAYER.isdisjoint(path.relative_to(ROOT).parts[:1])
        and _imports(path) & {"pulumi", "pulumi_cloudflare", "pulumi_policy"}
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "imports_pulumi"),
    [("origin_tls", False), ("origin_tls.components", True)],  # the twin: the probe does see pulumi imported
)
def test_import_origin_tls_stays_free_of_pulumi(module: str, imports_pulumi: bool) -> None:
    code = f"import sys, {module}; print('pulumi' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    ).stdout
    assert out.strip() == str(imports_pulumi)


def test_the_check_is_able_to_see_a_pulumi_import(tmp_path: Path) -> None:
    # The twin: the scanner above must notice an import, or its empty list proves nothing.
    sample = tmp_path / "sample.py"
    sample.write_text("import pulumi.dynamic\nfrom pulumi_cloudflare import ZoneSetting\n")
    assert _imports(sample) >= {"pulumi", "pulumi_cloudflare"}


def test_the_repositorys_components_re_exports_the_package_for_the_reference_stack() -> None:
    # The checkout's top-level components/ (not installed) keeps `from components import OriginProtection` working.
    import components
    import origin_tls.components

    assert components.__all__ == origin_tls.components.__all__
    assert all(getattr(components, name) is getattr(origin_tls.components, name) for name in components.__all__)
