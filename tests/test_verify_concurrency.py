"""``--concurrency``: one default (issue 19), the bound it sets on probes in flight, and the order they start in.

Counted, never timed: jobs that hold until released show how many run at once.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import redirect_stdout
from typing import Any

import pytest

from origin_tls import jobs as jobs_module
from origin_tls.cli import build_parser, main
from origin_tls.verify import MAX_WORKERS, VerifyOptions

_WAIT = 30.0  # generous: the bound is reached as soon as the workers have started, whatever the machine's load


class _Gate:
    """Jobs that count how many of them run at once and hold until :meth:`open`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.running = 0
        self.most = 0
        self.order: list[int] = []

    def job(self, index: int) -> Callable[[], Mapping[str, Any]]:
        def run() -> Mapping[str, Any]:
            with self._lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.order.append(index)
            self._released.wait(_WAIT)
            with self._lock:
                self.running -= 1
            return {"evidence": index}

        return run

    def wait_for(self, running: int) -> None:
        give_up = time.monotonic() + _WAIT
        while self.running < running and time.monotonic() < give_up:
            time.sleep(0.01)

    def open(self) -> None:
        self._released.set()


def _run(gate: _Gate, jobs: int, bound: int, hold_until: int) -> dict[tuple[str, str], Any]:
    work = {(f"t{i}", "probe"): jobs_module.Job(("evidence",), gate.job(i), f"t{i}") for i in range(jobs)}
    result: dict[tuple[str, str], Any] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            jobs_module.run_all(work, max_workers=bound, run_deadline=None, finished=lambda job: None)
        )
    )
    runner.start()
    gate.wait_for(hold_until)
    time.sleep(0.05)  # room for one too many to show up, if the bound let it
    gate.open()
    runner.join(_WAIT)
    return result


@pytest.mark.parametrize("bound", [MAX_WORKERS, 7])
def test_at_most_the_bound_run_at_once_and_every_job_runs_in_order(bound: int) -> None:
    gate = _Gate()
    jobs = bound + 13
    result = _run(gate, jobs, bound, hold_until=bound)
    assert gate.most == bound
    assert len(result) == jobs  # every job ran and was recorded
    assert set(gate.order[:bound]) == set(range(bound))  # the first wave is the first jobs, in some order


def test_fewer_jobs_than_the_bound_all_run_at_once() -> None:
    gate = _Gate()
    result = _run(gate, 10, MAX_WORKERS, hold_until=10)
    assert gate.most == 10
    assert len(result) == 10


def test_the_default_is_one_constant_for_the_library_the_command_line_and_its_help() -> None:
    verify_parser = build_parser()._subparsers._group_actions[0].choices["verify"]  # type: ignore[union-attr]
    action = next(a for a in verify_parser._actions if a.dest == "concurrency")
    assert VerifyOptions().concurrency == MAX_WORKERS
    assert int(action.default) == MAX_WORKERS
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main(["verify", "--help"])
    assert f"(default {MAX_WORKERS})" in " ".join(out.getvalue().split())
