"""Running the real Pulumi CLI on a temporary copy of a stack, as a user does (tests/e2e/README.md).

- :class:`Toolchain`: what is on ``PATH`` (``scripts/pulumi-toolchain`` puts it there under ``scripts/test``): the CLI,
  and whether ``pulumi-language-python`` and ``pulumi-resource-cloudflare`` are installed.
- :class:`Project`: a stack directory copied into a temporary folder, its own ``PULUMI_HOME`` and file backend
  (``pulumi login file://...``), the passphrase secrets provider with an empty passphrase, update checks and plugin
  downloads off. :meth:`Project.pulumi` runs one CLI command and returns what a user sees (exit code, stdout, stderr).
  A command that runs the program (``preview``, ``up``, ``refresh``, ``destroy``) goes through the real
  ``pulumi-language-python`` when installed, else through the SDK's own language server
  (:mod:`tests.e2e.program_host`, ``--client``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CLI_TIMEOUT",
    "CliResult",
    "Project",
    "Toolchain",
    "find_toolchain",
    "project_venv",
]

REPO = Path(__file__).resolve().parents[2]
#: One CLI command; generous for a loaded two-core machine (a hung command fails the test, it does not block CI).
CLI_TIMEOUT = 600.0
_PROGRAM_COMMANDS = frozenset({"preview", "up", "update", "refresh", "destroy"})
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Toolchain:
    pulumi: Path
    version: str
    #: ``pulumi-language-python`` is installed (else programs run through :mod:`tests.e2e.program_host`).
    language_host: bool
    #: ``pulumi-resource-cloudflare`` at ``cloudflare_version`` is installed (on ``PATH`` or as a plugin).
    cloudflare: bool
    cloudflare_version: str

    @property
    def bin_dir(self) -> Path:
        return self.pulumi.parent


def _cloudflare_version() -> str:
    spec = importlib.util.find_spec("pulumi_cloudflare")  # without importing it (seconds)
    if spec is None or spec.origin is None:
        raise RuntimeError("pulumi_cloudflare is not installed (scripts/bootstrap installs it)")
    meta = Path(spec.origin).parent / "pulumi-plugin.json"
    return str(json.loads(meta.read_text(encoding="utf-8"))["version"])


def _outer_plugins() -> Path:
    home = os.environ.get("PULUMI_HOME") or str(Path.home() / ".pulumi")
    return Path(home) / "plugins"


def find_toolchain() -> Toolchain | None:
    """The Pulumi CLI on ``PATH`` and what it can run, or ``None`` without one."""
    found = shutil.which("pulumi")
    if found is None:
        return None
    pulumi = Path(found).resolve()
    version = subprocess.run(
        [str(pulumi), "version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    cf_version = _cloudflare_version()
    language_host = shutil.which("pulumi-language-python") is not None
    cloudflare = shutil.which("pulumi-resource-cloudflare") is not None
    if not cloudflare:
        listed = subprocess.run(
            [str(pulumi), "plugin", "ls", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
        try:
            plugins = json.loads(listed.stdout or "[]") or []
        except json.JSONDecodeError:
            plugins = []
        cloudflare = any(
            p.get("name") == "cloudflare" and p.get("kind") == "resource" and p.get("version") == cf_version
            for p in plugins
        )
        language_host = language_host or any(p.get("name") == "python" and p.get("kind") == "language" for p in plugins)
    return Toolchain(pulumi, version, language_host, cloudflare, cf_version)


def project_venv() -> Path:
    """The virtualenv running these tests: origin-tls (editable), pulumi, pulumi_cloudflare, pulumi_policy."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        raise RuntimeError(f"the tests must run from a virtualenv (scripts/bootstrap makes .venv); sys.prefix={venv}")
    return venv


@dataclass
class CliResult:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr, ANSI sequences removed (what a user reads in a terminal)."""
        return _ANSI.sub("", self.stdout + "\n" + self.stderr)

    def __str__(self) -> str:
        return f"$ pulumi {' '.join(self.args)}\n(exit {self.code})\n{self.output}"


@dataclass
class Project:
    """A copy of ``source`` (a Pulumi project directory) under ``root``, with its own Pulumi home and backend."""

    toolchain: Toolchain
    source: Path
    root: Path
    stack: str = "e2e"
    #: The stack's virtualenv (``runtime.options.virtualenv``): the tests' own unless the test makes one.
    venv: Path | None = None
    dir: Path = field(init=False)
    home: Path = field(init=False)
    backend: Path = field(init=False)
    history: list[CliResult] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.dir = self.root / "project"
        self.home = self.root / "pulumi-home"
        self.backend = self.root / "backend"
        shutil.copytree(self.source, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".venv", "venv"))
        self.home.mkdir()
        self.backend.mkdir()
        outer = _outer_plugins()
        if outer.is_dir():
            # A user's installed plugins (pulumi-resource-cloudflare) stay visible; downloads stay off.
            (self.home / "plugins").symlink_to(outer, target_is_directory=True)
        if self.venv is None:
            self.venv = project_venv()
        set_virtualenv(self.dir / "Pulumi.yaml", self.venv)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update(
            PATH=f"{self.toolchain.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_HOME=str(self.home),
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_CONFIG_PASSPHRASE="",
            PULUMI_SUPPRESS_COPILOT_LINK="true",
        )
        return env

    def login_and_init(self) -> None:
        self.pulumi("login", f"file://{self.backend}")
        self.pulumi("stack", "init", self.stack, "--secrets-provider", "passphrase")

    def pulumi(
        self,
        *args: str,
        expect: int | None = 0,
        env: Mapping[str, str] | None = None,
        wrap: Sequence[str] = (),
    ) -> CliResult:
        """Run ``pulumi ARGS`` in the project directory. ``expect``: the exit code that must come back (``None``:
        any); a different one fails the test with the whole output. ``wrap``: a command to run the CLI (and the
        program host) under, e.g. ``faketime``."""
        run_env = {**self.env, **(env or {})}
        argv = [str(self.toolchain.pulumi), *args, "--color", "never"]
        host: subprocess.Popen[str] | None = None
        if args and args[0] in _PROGRAM_COMMANDS and not self.toolchain.language_host:
            assert self.venv is not None
            host_log = (self.root / f"program-host-{len(self.history)}.log").open("w")
            host = subprocess.Popen(
                [
                    *wrap,
                    str(self.venv / "bin" / "python"),
                    str(Path(__file__).with_name("program_host.py")),
                    str(self.dir),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=host_log,
                text=True,
                env={k: v for k, v in run_env.items() if k != "PYTHONPATH"},
                cwd=self.dir,
            )
            assert host.stdout is not None
            port = host.stdout.readline().strip()
            if not port.isdigit():
                host.kill()
                host.communicate(timeout=30)
                log = Path(host_log.name).read_text(errors="replace")
                raise AssertionError(f"the program host did not start: {port!r}\n{log}")
            argv.append(f"--client=127.0.0.1:{port}")
        try:
            done = subprocess.run(
                [*wrap, *argv],
                cwd=self.dir,
                env=run_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
            )
        finally:
            if host is not None:
                try:
                    host.communicate(input="", timeout=30)
                except subprocess.TimeoutExpired:
                    host.kill()
                    host.communicate()
                host_log.close()
        result = CliResult(list(args), done.returncode, done.stdout, done.stderr)
        self.history.append(result)
        if expect is not None and result.code != expect:
            raise AssertionError(f"expected exit {expect}\n{result}")
        return result

    def outputs(self, *, show_secrets: bool = False) -> dict[str, object]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        value = json.loads(self.pulumi(*args).stdout)
        assert isinstance(value, dict)
        return value


def set_virtualenv(pulumi_yaml: Path, venv: Path) -> None:
    """Point the project's ``runtime.options.virtualenv`` at ``venv`` (an absolute path: the CLI resolves a relative
    one against the project directory, and passes it to the dynamic-provider host as ``PULUMI_RUNTIME_VIRTUALENV``)."""
    text = pulumi_yaml.read_text(encoding="utf-8")
    new, count = re.subn(r"(?m)^(\s+virtualenv:).*$", rf"\1 {venv}", text)
    if count != 1:
        raise AssertionError(f"{pulumi_yaml}: expected one 'virtualenv:' line, found {count}")
    pulumi_yaml.write_text(new, encoding="utf-8")
