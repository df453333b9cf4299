"""The harness itself: the contract catches what it promises to catch (each twin must fail)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
