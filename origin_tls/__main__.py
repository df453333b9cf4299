"""``python -m origin_tls``: see :mod:`origin_tls.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
