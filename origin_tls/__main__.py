"""``python -m origin_tls``: see :mod:`origin_tls.cli`."""

from __future__ import annotations

import contextlib
import os
import sys

from .cli import main

if __name__ == "__main__":
    code = main()
    if sys.argv[1:2] == ["verify"]:
        # The report is written (stdout below, or --output already renamed into place) and nothing of ours is left
        # to clean up: what remains is the interpreter tearing down every module, ~20 ms of CPU with cryptography
        # loaded, and waiting for probe threads a deadline or Ctrl-C left winding down (issue 17). sandbox and demo
        # keep the ordinary exit: their cleanup runs at it.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
