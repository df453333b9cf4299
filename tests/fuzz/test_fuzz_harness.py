"""The harness itself: the contract catches what it promises to catch (each twin must fail)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz import read_runs, render
from origin_tls.errors import InvalidInput
from tests.fuzz.contract import holds


def test_a_declared_error_is_returned() -> None:
    def refuse() -> None:
        raise InvalidInput("port", "x", "a number")

    assert isinstance(holds(refuse, allowed=(InvalidInput,)), InvalidInput)


def test_an_undeclared_error_fails_the_input() -> None:
    with pytest.raises(KeyError):
        holds(lambda: {}["x"], allowed=(InvalidInput,))


def test_too_much_cpu_fails_the_input() -> None:
    def spin() -> int:
        return sum(range(300_000))

    with pytest.raises(AssertionError, match="of CPU"):
        holds(spin, cpu_seconds=0.001)


def test_too_much_memory_fails_the_input() -> None:
    with pytest.raises(AssertionError, match="at peak"):
        holds(lambda: bytearray(4 * 1024 * 1024), peak_bytes=1024 * 1024)


@given(st.binary(max_size=64))
def test_within_bounds_passes(data: bytes) -> None:
    assert holds(lambda: bytes(reversed(data))) == bytes(reversed(data))


def test_the_runner_joins_counts_and_outcomes(tmp_path: Path) -> None:
    # bench.fuzz's table: a target stopped by its budget, one that ran its count, one that failed; a plain test
    # (no count) is left out unless it failed.
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.fuzz.test_fuzz_a" name="test_budget" time="60.1">'
        '<skipped message="fuzz budget of 60 s spent after 900 inputs"/></testcase>'
        '<testcase classname="tests.fuzz.test_fuzz_a" name="test_count" time="2.0"/>'
        '<testcase classname="tests.fuzz.test_fuzz_b" name="test_broken" time="3.0"><failure message="x"/></testcase>'
        '<testcase classname="tests.fuzz.test_fuzz_b" name="test_plain" time="0.1"/>'
        "</testsuite></testsuites>"
    )
    counts = {
        "tests/fuzz/test_fuzz_a.py::test_budget": 900,
        "tests/fuzz/test_fuzz_a.py::test_count": 100,
        "tests/fuzz/test_fuzz_b.py::test_broken": 7,
    }
    runs = read_runs(counts, junit)
    assert [(r.target.rsplit("::", 1)[1], r.inputs, r.outcome) for r in runs] == [
        ("test_budget", 900, "budget spent"),
        ("test_count", 100, "examples done"),
        ("test_broken", 7, "failed"),
    ]
    table = render(runs)
    assert "1,007" in table  # the total
    assert "test_plain" not in table
