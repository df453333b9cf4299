"""Hypothesis profiles for the fuzz targets, and the counters the long-run runner reads.

Profiles (``HYPOTHESIS_PROFILE``, default ``ci``):

- ``ci``: what ``.ci/run`` runs. Hypothesis's default 100 inputs per target, no wall-clock deadline (each target
  bounds its own CPU time and memory, see :mod:`tests.fuzz.contract`; a deadline would fail on a loaded machine),
  and the reproducing blob printed with any failure. The whole directory stays under about a minute.
- ``long``: ``FUZZ_EXAMPLES`` inputs per target (default 100,000), the example database kept in ``.hypothesis/``
  so what a long run finds is replayed first next time. Selected by ``python -m bench.fuzz``.

Profiles are global in Hypothesis: when this directory is collected with the rest of the suite, ``ci`` applies to
every Hypothesis test, so it differs from Hypothesis's defaults only in the deadline and the printed blob.

Fuzz targets must not set ``max_examples`` themselves (the profile decides how long they run).

Counting (for ``bench.fuzz``): with ``FUZZ_COUNTS=path`` every call of a target's body is counted and the counts
are written to ``path`` as JSON when the session ends. With ``FUZZ_SECONDS=s`` a target stops after ``s`` seconds
by skipping ("fuzz budget spent"), unless it has already failed: a failing input is always shrunk and reported.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.errors import StopTest, UnsatisfiedAssumption

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    verbosity=Verbosity.normal,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_HERE = Path(__file__).parent
_COUNTS: dict[str, int] = {}


class _Budget:
    """Calls of one target's body, and when its time is up."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.failed = False


def _counting(inner: Callable[..., Any], nodeid: str, budget: _Budget) -> Callable[..., Any]:
    def body(*args: Any, **kwargs: Any) -> Any:
        if budget.started is None:
            budget.started = time.monotonic()
        _COUNTS[nodeid] = _COUNTS.get(nodeid, 0) + 1
        try:
            result = inner(*args, **kwargs)
        except (StopTest, UnsatisfiedAssumption, pytest.skip.Exception):
            raise  # Hypothesis's own control flow (an input that ran out of data, an assume()): not a failure
        except BaseException:
            budget.failed = True
            raise
        # Stop after a whole input, never before it: a target that draws inside its body (st.data()) must draw the
        # same on every run of an input, or Hypothesis calls its strategy flaky.
        spent = time.monotonic() - budget.started
        if budget.seconds is not None and not budget.failed and spent > budget.seconds:
            pytest.skip(f"fuzz budget of {budget.seconds:g} s spent after {_COUNTS[nodeid]} inputs")
        return result

    return body


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "FUZZ_COUNTS" not in os.environ:
        return
    seconds = float(os.environ["FUZZ_SECONDS"]) if os.environ.get("FUZZ_SECONDS") else None
    for item in items:
        target = getattr(item, "obj", None)
        handle = getattr(target, "hypothesis", None)
        if handle is None or _HERE not in Path(str(item.path)).parents:
            continue
        # Hypothesis documents `test.hypothesis.inner_test` as the body it calls once per input, there to wrap.
        handle.inner_test = _counting(handle.inner_test, item.nodeid, _Budget(seconds))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("FUZZ_COUNTS")
    if path:
        Path(path).write_text(json.dumps(_COUNTS, indent=1, sort_keys=True) + "\n", encoding="utf-8")
