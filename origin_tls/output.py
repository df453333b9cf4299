"""Where a report goes: the ``--format`` names and the ``--output`` file, checked before anything is probed and
written atomically after (DESIGN.md "Report formats").

Apart from the renderers (``formats.py``, which re-exports these) so that the command line checks its output
options without loading the report and its renderers before the first connection (issue 17).

- :func:`write_atomic`: temporary file in the target's directory, fsync, rename: a reader sees the old file or the
  new one, never part of one, and no temporary file is left behind on error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os

from .errors import InvalidInput

__all__ = ["FORMATS", "parse_output_path", "write_atomic"]

#: The ``--format`` values.
FORMATS: tuple[str, ...] = ("table", "json", "junit", "prometheus")


def parse_output_path(value: object, *, field_name: str = "output") -> str:
    """A file path whose directory exists and is writable (checked before anything is probed)."""
    allowed = "a file path in an existing, writable directory"
    if not isinstance(value, str) or not value or os.path.isdir(value):
        raise InvalidInput(field_name, value, allowed)
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidInput(field_name, value, allowed)
    return value


def _mode_for(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777  # replacing a file keeps its permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask  # what open() would have created; mkstemp's 0600 would hide it from node_exporter


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) all at once: temporary file beside it, fsync, rename.

    A reader sees either the previous file or the whole new one. On any error, Ctrl-C included, the temporary file
    is removed and ``path`` is left as it was.
    """
    import tempfile  # only a run that writes --output pays for it (issue 17)

    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), _mode_for(path))
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable; not every filesystem allows it
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
