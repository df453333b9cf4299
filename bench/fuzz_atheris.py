"""One fuzz target of tests/fuzz under atheris (libFuzzer, coverage-guided), when atheris is installed.

    pip install atheris                            # optional: a wheel for CPython 3.11 on manylinux x86_64
    python -m bench.fuzz --atheris --seconds 120   # every target that takes no pytest fixture, 120 s each
    python -m bench.fuzz_atheris tests.fuzz.test_fuzz_api_fields:test_retry_after_is_none_or_a_bounded_wait \\
        -max_total_time=60                         # one target; the rest of the arguments are libFuzzer's

Hypothesis hands each target to external fuzzers as ``test.hypothesis.fuzz_one_input(bytes)``: the fuzzer's
bytes become the choices the target's strategies make, so libFuzzer's coverage feedback (from ``origin_tls``,
instrumented at import) steers the same structure-aware inputs. Only targets without pytest fixtures can run so
(their arguments all come from ``@given``); ours make their own files. A failing input raises out of
``fuzz_one_input``: libFuzzer writes it to a ``crash-*`` file and exits non-zero; Hypothesis also keeps it in
``.hypothesis/`` for the next pytest run.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["main"]


def main(argv: list[str]) -> None:
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

    target, libfuzzer_args = argv[0], argv[1:]
    module_name, _, function = target.partition(":")
    with atheris.instrument_imports(include=["origin_tls"]):
        module = importlib.import_module(module_name)
    test: Any = getattr(module, function)
    atheris.Setup([sys.argv[0], *libfuzzer_args], test.hypothesis.fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv[1:])
