"""Step 7 of issue 15: a consumer stack in its own folder, with its own ``components/`` package, that installs
origin-tls into its virtualenv and uses ``OriginProtection`` by the documented import
(``from origin_tls.components import OriginProtection, OriginProtectionArgs``).

The consumer's virtualenv gets origin-tls as a wheel built from this checkout (``pip install --no-deps``); the
dependencies (pulumi, pulumi_cloudflare, ...) come from the tests' virtualenv through a ``.pth`` line instead of a
download. Nothing of the checkout is on the program's path: the repository's own ``components/`` (the reference
stack's re-export) cannot be imported there, so ``import components`` is the consumer's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from origin_tls.sandbox.runner import Sandbox
from tests.e2e.conftest import STACKS, running_sandbox
from tests.e2e.harness import REPO, Project, Toolchain, project_venv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """origin-tls built as a wheel from a copy of the checkout (an in-tree build would leave build/ behind)."""
    source = tmp_path_factory.mktemp("origin-tls-src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "origin_tls", source / "origin_tls", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("origin_tls-*.whl")
    return built


def make_consumer_venv(venv: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies from the tests' virtualenv, after the consumer's own site-packages (a plain path line: the
    # editable install's finder there is not activated, so origin_tls comes from the wheel below).
    (site / "zz-origin-tls-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )


@pytest.fixture
def consumer(toolchain: Toolchain, tmp_path: Path, wheel: Path) -> Callable[[Sandbox], Project]:
    def make(sandbox: Sandbox) -> Project:
        venv = tmp_path / "consumer" / "project" / ".venv"
        project = Project(toolchain, STACKS / "consumer", tmp_path / "consumer", venv=venv)
        make_consumer_venv(venv, wheel)
        project.login_and_init()
        info = sandbox.info
        project.pulumi(
            "config",
            "set-all",
            "--secret",
            f"cloudflare:apiToken={sandbox.token}",
            "--plaintext",
            f"cloudflare:baseUrl={info.api_url}",
            "--plaintext",
            f"zoneId={info.zone_id}",
            "--plaintext",
            "apex=sandbox.test",
        )
        return project

    return make


def test_the_consumer_venv_imports_origin_tls_from_the_wheel_and_its_own_components(
    consumer: Callable[[Sandbox], Project],
) -> None:
    with running_sandbox() as sandbox:
        project = consumer(sandbox)
    assert project.venv is not None
    probe = (
        "import components, origin_tls, origin_tls.components as c; "
        "print(components.__file__); print(origin_tls.__file__); print(c.OriginProtection.__module__)"
    )

    def where(python: Path) -> list[str]:
        done = subprocess.run(
            [str(python), "-c", probe], cwd=project.dir, capture_output=True, text=True, check=True, timeout=120
        )
        return done.stdout.splitlines()

    own, package, module = where(project.venv / "bin" / "python")
    assert own == str(project.dir / "components" / "__init__.py")
    assert package.startswith(str(project.venv)), package
    assert module == "origin_tls.components.origin_protection"
    # The twin: the same probe under the tests' interpreter (origin-tls installed editable) finds the checkout.
    _, checkout_package, _ = where(project_venv() / "bin" / "python")
    assert checkout_package.startswith(str(REPO)), checkout_package


def test_the_consumer_stack_previews_with_the_real_cli(
    consumer: Callable[[Sandbox], Project], toolchain: Toolchain
) -> None:
    with running_sandbox() as sandbox:
        project = consumer(sandbox)
        result = project.pulumi("preview", "--non-interactive", expect=None)
    if toolchain.cloudflare:
        assert result.code == 0, result
        assert "origin-tls:index:OriginProtection" in result.output, result
        assert "cloudflare:index/zoneSetting:ZoneSetting" in result.output, result
        return
    # Without pulumi-resource-cloudflare the program still ran to its first Cloudflare resource: the imports
    # resolved (an ImportError would end the run before any registration) and the component registered.
    assert result.code != 0, result
    assert "ImportError" not in result.output, result
    assert "ModuleNotFoundError" not in result.output, result
    assert "origin-tls:index:OriginProtection" in result.output, result
    assert "origin-tls:index:OriginProtection web create" in result.output, result
    assert "no resource plugin 'pulumi-resource-cloudflare' found" in result.output, result
    pytest.skip(
        f"the consumer's preview stops at pulumi-resource-cloudflare {toolchain.cloudflare_version} (not installed, "
        "cannot be built here): imports and the component registration were checked, the Cloudflare resources not"
    )
