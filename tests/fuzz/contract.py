"""The contract every fuzz target holds its parser to: which errors it may raise, CPU time, memory.

``holds(call, allowed=(...,), cpu_seconds=..., peak_bytes=...)`` runs ``call()`` once and fails the input when

- it raises anything that is not one of ``allowed`` (a declared error such as ``InvalidInput`` or
  ``CloudflareError``); ``allowed=()`` means the parser never raises;
- it uses more than ``cpu_seconds`` of this thread's CPU time. Thread CPU time, not wall time, so another
  process's load does not fail it; the bounds are orders of magnitude above what the parsers need, there to catch
  quadratic or exponential work, not to measure speed (bench/ measures speed);
- Python's allocator peaks more than ``peak_bytes`` above where it started (``tracemalloc``: memory allocated by
  C or Rust libraries outside Python's allocator is not seen).

It returns what ``call()`` returned, or the declared error it raised, so a target can check more.

The package imports some modules on first use (PyYAML, cryptography, ``ssl`` contexts): a target calls
:func:`warm_up` at import, so that one-time cost (several CPU seconds under ``tracemalloc``) is not charged to
whichever input comes first and reported as a flaky time bound.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DEFAULT_CPU_SECONDS", "DEFAULT_PEAK_BYTES", "holds", "warm_up"]

T = TypeVar("T")

# A parser of a few KB that needs a CPU second is doing something quadratic; 2 s leaves room for tracemalloc's
# overhead and a slow CI machine.
DEFAULT_CPU_SECONDS = 2.0
# Inputs are at most tens of KB; a parser that holds 32 MiB for them is copying without bound.
DEFAULT_PEAK_BYTES = 32 * 1024 * 1024


def holds(
    call: Callable[[], T],
    *,
    allowed: tuple[type[BaseException], ...] = (),
    cpu_seconds: float = DEFAULT_CPU_SECONDS,
    peak_bytes: int = DEFAULT_PEAK_BYTES,
) -> T | BaseException:
    """Run ``call()`` under the contract; return its result or the declared error it raised."""
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    cpu = time.thread_time()
    outcome: T | BaseException
    try:
        outcome = call()
    except allowed as exc:
        outcome = exc
    finally:
        spent = time.thread_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        if started_tracing:
            tracemalloc.stop()
    assert spent <= cpu_seconds, f"took {spent:.2f} s of CPU (bound {cpu_seconds} s)"
    assert peak - base <= peak_bytes, f"allocated {peak - base} bytes at peak (bound {peak_bytes})"
    return outcome


def warm_up() -> None:
    """Import what the package's readers import lazily (see the module docstring)."""
    import yaml  # noqa: F401 - inventory_file imports it on first use

    from origin_tls import certs, tls_client  # noqa: F401 - the inventory imports them on first use too
