"""Run ``python -m origin_tls verify ... --json`` as a user would, measure the whole process, check its report.

The process under test is a child: its wall time (spawn to exit), peak RSS and CPU seconds come from ``wait4``'s
rusage of that child alone, so the bench's own threads (the latency relay) never count. Its ``origin_tls`` is the
one in ``tree`` (``PYTHONPATH``), whichever tree the bench itself comes from.

A run is only a figure when its report is the right one: exit 0, every target in order, every edge and origin check
``pass``, and only the ``zone.*`` checks ``skipped`` (no ``--zone-id``). A fast run that probed less, or judged
wrong, is refused (:func:`report_problems`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bed import Bed

__all__ = [
    "REQUIRED_PASS",
    "ChildRun",
    "RunError",
    "bed_status",
    "checked",
    "child_env",
    "report_problems",
    "run_child",
    "supports_inventory",
    "verify_command",
]

#: Checks every run must carry and pass: the edge, the origin, the client certificate (what a user asks for).
REQUIRED_PASS = (
    "edge.min_tls_version",
    "edge.tls_1_3",
    "edge.certificate",
    "edge.hsts",
    "edge.https_redirect",
    "origin.certificate",
    "origin.aop",
    "origin.aop_client",
)
_CHILD_TIMEOUT = 300.0


class RunError(RuntimeError):
    """The run did not produce the report it should have: not a figure."""


@dataclass(frozen=True)
class ChildRun:
    argv: tuple[str, ...]
    exit_code: int
    wall: float  # seconds, spawn to exit
    cpu: float  # user + system seconds of the child (and of anything it waited for)
    user: float
    system: float
    max_rss_kib: int
    started: float  # time.perf_counter() just before the spawn (the relay's first_accept is on the same clock)
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)


def child_env(tree: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the process under test: ``tree`` first on the path, no API token (no zone reads)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CLOUDFLARE_API_TOKEN", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tree)
    env.update(extra or {})
    return env


def run_child(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = _CHILD_TIMEOUT) -> ChildRun:
    """Spawn ``argv``, wait with ``wait4`` (rusage of this child only), bounded by ``timeout`` (then killed)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env), cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                raise RunError(f"{argv[:4]}... still running after {timeout:.0f} s: killed")
            time.sleep(0.002)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            argv=tuple(argv),
            exit_code=process.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            user=usage.ru_utime,
            system=usage.ru_stime,
            max_rss_kib=usage.ru_maxrss,
            started=started,
            stdout=out.read(),
            stderr=err.read(),
        )


def supports_inventory(tree: Path, python: str = sys.executable) -> bool:
    """Whether the ``verify`` of ``tree`` takes ``--inventory`` (issue 10); else the hostnames go as arguments."""
    run = run_child([python, "-m", "origin_tls", "verify", "--help"], env=child_env(tree), cwd=tree, timeout=60)
    return b"--inventory" in run.stdout


def verify_command(
    bed: Bed,
    names: Sequence[str],
    *,
    python: str,
    inventory: Path | None,
    extra: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
    targets: Sequence[Mapping[str, Any]] | None = None,
) -> list[str]:
    """The command line a user would type for these hostnames on this bed: edge, origin and client certificate.

    ``inventory``: write the targets there (JSON, as DESIGN "Fleets" describes) and pass ``--inventory``; then
    ``defaults`` joins the file's defaults and ``targets`` (one mapping per name, in order) gives each target keys
    of its own (``zone_id``, ``api_url``, ``origin``...), which win over the defaults.
    """
    if inventory is None and (defaults or targets is not None):
        raise ValueError("defaults and per-target keys need an inventory file")
    if targets is not None and len(targets) != len(names):
        raise ValueError(f"{len(targets)} per-target key sets for {len(names)} hostnames")
    files = bed.files
    options = {
        "edge": f"{bed.edge.host}:{bed.edge.port}",
        "edge_http": f"{bed.edge_http.host}:{bed.edge_http.port}",
        "origin": f"{bed.origin.host}:{bed.origin.port}",
        "edge_ca": str(files.edge_ca),
        "origin_ca": str(files.origin_ca),
        "client_cert": str(files.client_cert),
        "client_key": str(files.client_key),
    }
    argv = [python, "-m", "origin_tls", "verify"]
    if inventory is not None:
        keys: Sequence[Mapping[str, Any]] = targets if targets is not None else [{}] * len(names)
        document = {
            "defaults": {**options, **(defaults or {})},
            "targets": [{"hostname": name, **own} for name, own in zip(names, keys, strict=True)],
        }
        inventory.write_text(json.dumps(document, indent=1), encoding="utf-8")
        argv += ["--inventory", str(inventory)]
    else:
        argv += list(names)
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", value]
    return [*argv, *extra, "--json"]


def bed_status(check_id: str, *, require_pq: bool = False) -> str:
    """The status every check of the bed's report must have: no zone is read (no ``--zone-id``). The bed's nginx
    (Debian 12, OpenSSL 3.0) has no ML-KEM: ``origin.pq_key_agreement`` fails with ``--require-pq`` (its cost is
    the same one connection as a pass), and is skipped without it."""
    if check_id == "origin.pq_key_agreement":
        return "fail" if require_pq else "skipped"
    return "skipped" if check_id.startswith("zone.") else "pass"


def report_problems(
    run: ChildRun,
    names: Sequence[str],
    *,
    required: Sequence[str] = REQUIRED_PASS,
    status_of: Callable[[str], str] = bed_status,
    exit_code: int = 0,
) -> list[str]:
    """Why this run's report is not the one the bed must produce (empty: it is).

    ``required``: the checks every target must carry; ``status_of``: the status each check id must have;
    ``exit_code``: the exit status expected (1 when ``status_of`` expects a failure), ``ok`` following it."""
    problems: list[str] = []
    if run.exit_code != exit_code:
        stderr = run.stderr.decode("utf-8", "replace")[-500:].strip()
        problems.append(f"exit {run.exit_code}" + (f": {stderr}" if stderr else ""))
    try:
        data: Any = json.loads(run.stdout)
    except ValueError:
        return [*problems, f"stdout is not JSON: {run.stdout[:200]!r}"]
    if data.get("ok") is not (exit_code == 0):
        problems.append(f"ok is {data.get('ok')!r}")
    targets = data.get("targets", [])
    got = [t.get("hostname") for t in targets]
    if got != list(names):
        problems.append(f"{len(got)} targets in the report for {len(names)} hostnames (or not in order)")
    for target in targets:
        statuses = {c["id"]: c["status"] for c in target.get("checks", [])}
        missing = [cid for cid in required if cid not in statuses]
        wrong = {cid: status for cid, status in statuses.items() if status != status_of(cid)}
        if missing or wrong:
            problems.append(f"{target.get('hostname')}: missing {missing}, not as expected {wrong}")
            if len(problems) > 5:
                problems.append("...")
                break
    return problems


def checked(
    run: ChildRun,
    names: Sequence[str],
    *,
    required: Sequence[str] = REQUIRED_PASS,
    status_of: Callable[[str], str] = bed_status,
    exit_code: int = 0,
) -> ChildRun:
    problems = report_problems(run, names, required=required, status_of=status_of, exit_code=exit_code)
    if problems:
        raise RunError("the report is not the bed's: " + "; ".join(problems))
    return run
