"""The run's workers: every job (a probe, or a zone read) at most ``max_workers`` at once, each outcome as data.

:func:`run_all` is the few lines ``concurrent.futures`` would take, without its import (logging and all, ~5 ms of
CPU before the first connection: issue 17). A job that raises or does not finish becomes a :class:`Failure`, judged
``inconclusive`` by ``verify``: failure is data, never a traceback.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import CloudflareError
from .tls_io import DEADLINE_REACHED, Deadline

__all__ = ["NOT_RUN", "Failure", "Job", "describe", "run_all"]

# Plain classes, not dataclasses: each dataclass costs ~0.6 ms of CPU to make, and these are made at import, before
# the first connection (issue 17).


class Failure:
    """A job that raised or did not finish: zone reads raise CloudflareError by design; a probe raising would be
    our bug; a job the run's deadline overtook is "deadline reached"."""

    __slots__ = ("message", "observed")

    def __init__(self, message: str, observed: str = "probe error") -> None:
        self.message = message
        self.observed = observed

    def __repr__(self) -> str:
        return f"Failure({self.message!r}, observed={self.observed!r})"


class Job:
    __slots__ = ("run", "target", "yields")

    def __init__(self, yields: tuple[str, ...], run: Callable[[], Mapping[str, Any]], target: str | None) -> None:
        self.yields = yields
        self.run = run
        self.target = target  # the plan key, None for a zone read (shared by a zone's targets)


NOT_RUN = Failure(DEADLINE_REACHED, observed="not finished")


def describe(exc: BaseException) -> str:
    # CloudflareError messages are built without the token. Anything else is a bug of ours, told by its type only:
    # its text might quote what it was handed (a PEM, a header).
    if isinstance(exc, CloudflareError):
        return str(exc)
    return f"unexpected {type(exc).__name__} (a bug in origin-tls: please report it)"


#: Time allowed past the run's deadline for probes to notice it (each re-checks it before every read and write).
_DEADLINE_GRACE = 0.5


def run_all(
    jobs: Mapping[tuple[str, str], Job],
    *,
    max_workers: int,
    run_deadline: Deadline | None,
    finished: Callable[[Job], None],
    started: Callable[[], None] | None = None,
) -> dict[tuple[str, str], Any]:
    """Run every job, at most ``max_workers`` at once; each job's evidence under (job key's first part, name).

    A job that raises becomes a :class:`Failure` for each evidence it yields; one not started or not finished by the
    run's deadline becomes "deadline reached" (the workers are then left to wind down without waiting: every probe
    is bounded by the same deadline, so they end right after). ``started`` is called once the workers are (work
    for this thread while the probes wait on the network).

    Workers take the jobs in order from one shared iterator and hand results back through a queue: the few lines
    ``concurrent.futures`` would take, without its import (logging and all, ~5 ms of CPU before the first
    connection: issue 17). Not daemons: as a pool's threads, they are joined at interpreter exit
    (``origin_tls.interrupts`` leaves without them on Ctrl-C).
    """
    results: dict[tuple[str, str], Any] = {}
    if not jobs:
        return results
    pending = iter(list(jobs.items()))
    take = threading.Lock()
    stop = threading.Event()
    done: queue.SimpleQueue[tuple[tuple[str, str], Mapping[str, Any] | None, BaseException | None]]
    done = queue.SimpleQueue()

    def work() -> None:
        while not stop.is_set():
            with take:
                item = next(pending, None)
            if item is None:
                return
            key, job = item
            if run_deadline is not None and run_deadline.passed:
                done.put((key, dict.fromkeys(job.yields, NOT_RUN), None))
                continue
            try:
                done.put((key, job.run(), None))
            except BaseException as exc:  # recorded as data below, judged inconclusive
                done.put((key, None, exc))

    for index in range(min(max_workers, len(jobs))):
        threading.Thread(target=work, name=f"probe_{index}").start()
    try:
        if started is not None:
            started()
        until = None if run_deadline is None else run_deadline.at + _DEADLINE_GRACE
        for _ in range(len(jobs)):
            wait = None if until is None else max(0.0, until - time.monotonic())
            key, produced, error = done.get(timeout=wait)
            job = jobs[key]
            if produced is not None:
                results.update(((key[0], name), produced[name]) for name in job.yields)
            else:
                failure = Failure(describe(error) if error is not None else "no evidence")
                results.update(((key[0], name), failure) for name in job.yields)
            finished(job)
    except queue.Empty:
        for key, job in jobs.items():
            for name in job.yields:
                results.setdefault((key[0], name), NOT_RUN)
    finally:
        # Done, out of time, or Ctrl-C / SIGTERM: no job not yet started starts, and nothing waits for the ones in
        # flight (each would hold the exit up to its timeout).
        stop.set()
    return results
