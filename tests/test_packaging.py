"""The built wheel claims only ``origin_tls``, and installs beside a stack that has its own ``components/`` package
(DESIGN.md, "Packaging"; issue 17).

Given the repository copied as it is, the wheel is built the way ``pip install`` builds it (``pip wheel --no-deps``,
verbose, so the build backend's warnings are seen), installed by pip into a fresh virtualenv, and a stack program is
run from its own folder the way the Pulumi language host runs ``__main__.py`` (the stack's folder first on
``sys.path``). The twin builds the same code in the layout before issue 17 (the component as a top-level
``components`` package, the license as a table) and shows what a stack then saw: a build warning, a generic
top-level name, and either the documented import or the stack's own package broken.

Chosen for speed, and why it stays faithful: the build runs without build isolation (the dev venv's setuptools,
which ``requirements-dev.txt`` pins to what ``pyproject.toml`` requires), so no test downloads anything; the fresh
virtualenv gets our wheel from pip, and the third-party dependencies (pulumi, pulumi_cloudflare, ...) from the dev
venv's site-packages through a ``.pth`` path entry, the way ``--system-site-packages`` shares the system's. A path
entry added by a ``.pth`` file comes after the venv's own site-packages and does not run that folder's own ``.pth``
files, so the dev venv's editable install of this checkout stays inactive; the tests assert where each module
came from rather than trust that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a source tree holds that a build never sees: VCS data, environments, caches, earlier build output.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis"
)

# The documented import for stacks now, and the one README documented before issue 17.
DOCUMENTED_IMPORT = "from origin_tls.components import OriginProtection, OriginProtectionArgs"
OLD_DOCUMENTED_IMPORT = "from components import OriginProtection, OriginProtectionArgs"

# A stack program that uses its own `components` package and origin-tls's component in one process.
PROGRAM = """\
import json

from components.network import OWNER  # the stack's own package
{documented_import}

import components
import origin_tls

print(json.dumps({{
    "owner": OWNER,
    "components": [str(p) for p in components.__path__],
    "origin_tls": origin_tls.__file__,
    "component": OriginProtection.__module__,
    "args": OriginProtectionArgs.__module__,
}}))
"""


@dataclass(frozen=True)
class Install:
    wheel: Path
    build_log: str
    python: Path  # the fresh virtualenv's interpreter
    site_packages: Path


def _build_wheel(source: Path, out: Path) -> tuple[Path, str]:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index"]
    result = subprocess.run(
        [*pip_wheel, "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    (wheel,) = out.glob("origin_tls-*.whl")
    return wheel, log


def _install(wheel: Path, venv: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies, shared from the dev venv (see the module docstring).
    shared = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_dev_dependencies.pth").write_text("".join(f"{path}\n" for path in shared), encoding="utf-8")
    return python, site


def _prepare(tmp: Path, *, old_layout: bool) -> Install:
    source = tmp / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    if old_layout:
        _restore_the_layout_before_issue_17(source)
    wheel, log = _build_wheel(source, tmp / "wheels")
    python, site = _install(wheel, tmp / "venv")
    return Install(wheel, log, python, site)


def _restore_the_layout_before_issue_17(source: Path) -> None:
    shutil.rmtree(source / "components")
    shutil.move(source / "origin_tls" / "components", source / "components")
    pyproject = source / "pyproject.toml"
    text, found_include = re.subn(
        r"^include = \[.*\]$", 'include = ["origin_tls*", "components*"]', pyproject.read_text(), flags=re.M
    )
    text, found_license = re.subn(r"^license = .*$", 'license = { text = "Apache-2.0" }', text, flags=re.M)
    assert (found_include, found_license) == (1, 1), "pyproject.toml no longer has the lines the twin rewrites"
    pyproject.write_text(text)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    return _prepare(tmp_path_factory.mktemp("packaging-now"), old_layout=False)


@pytest.fixture(scope="module")
def installed_old(tmp_path_factory: pytest.TempPathFactory) -> Install:
    return _prepare(tmp_path_factory.mktemp("packaging-before"), old_layout=True)


def _top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = {name.split("/")[0] for name in archive.namelist()}
    return {name for name in names if not name.endswith((".dist-info", ".data"))}


def _stack(tmp: Path, *, namespace: bool) -> Path:
    """A stack folder with its own ``components/``: a regular package, or (``namespace``) a folder without
    ``__init__.py``, which Python 3 imports as a namespace package."""
    stack = tmp / "stack"
    own = stack / "components"
    own.mkdir(parents=True)
    if not namespace:
        (own / "__init__.py").write_text('"""The team\'s own components."""\n')
    (own / "network.py").write_text('OWNER = "the stack"\n')
    return stack


def _run(install: Install, stack: Path, documented_import: str) -> subprocess.CompletedProcess[str]:
    (stack / "__main__.py").write_text(PROGRAM.format(documented_import=documented_import))
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH"}}
    return subprocess.run(
        [str(install.python), "__main__.py"], cwd=stack, env=env, capture_output=True, text=True, check=False
    )


# --------------------------------------------------------------------------------------------------------------
# The wheel as built now


def test_the_wheel_claims_only_origin_tls_and_builds_without_a_deprecation_warning(installed: Install) -> None:
    assert _top_level_names(installed.wheel) == {"origin_tls"}
    assert "deprecat" not in installed.build_log.lower()
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    assert {"origin_tls/components/__init__.py", "origin_tls/py.typed"} <= names


@pytest.mark.parametrize("namespace", [False, True], ids=["regular-package", "namespace-package"])
def test_a_stack_with_its_own_components_uses_both(installed: Install, tmp_path: Path, namespace: bool) -> None:
    stack = _stack(tmp_path, namespace=namespace)
    result = _run(installed, stack, DOCUMENTED_IMPORT)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["owner"] == "the stack"
    assert seen["components"] == [str(stack / "components")]  # the stack's own, and only it
    assert Path(seen["origin_tls"]).is_relative_to(installed.site_packages)  # the wheel's, not the checkout's
    assert (seen["component"], seen["args"]) == (
        "origin_tls.components.origin_protection",
        "origin_tls.components.args",
    )


# --------------------------------------------------------------------------------------------------------------
# The twin: the same code in the layout before issue 17


def test_before_the_wheel_claimed_components_and_the_build_warned(installed_old: Install) -> None:
    assert _top_level_names(installed_old.wheel) == {"origin_tls", "components"}
    assert "`project.license` as a TOML table is deprecated" in installed_old.build_log


def test_before_a_stacks_own_components_package_hid_the_documented_import(
    installed_old: Install, tmp_path: Path
) -> None:
    result = _run(installed_old, _stack(tmp_path, namespace=False), OLD_DOCUMENTED_IMPORT)
    assert result.returncode != 0
    assert "cannot import name 'OriginProtection' from 'components'" in result.stderr


def test_before_the_installed_components_hid_a_stacks_namespace_package(installed_old: Install, tmp_path: Path) -> None:
    # A regular package anywhere on sys.path wins over a namespace portion, even one earlier on the path.
    result = _run(installed_old, _stack(tmp_path, namespace=True), OLD_DOCUMENTED_IMPORT)
    assert result.returncode != 0
    assert "No module named 'components.network'" in result.stderr
