"""Files the file targets name: a test CA, a leaf certificate and its key, written once per process into a folder of
each target's own under one temporary directory (removed at exit by its finalizer). No pytest fixture: atheris
(``bench/fuzz_atheris.py``) calls the targets with bytes alone."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

__all__ = ["pem_folder"]

_TEMP = tempfile.TemporaryDirectory(prefix="fuzz-files-")


@functools.cache
def _pems() -> dict[str, bytes]:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("app.example.com")
    return {
        "ca.pem": ca.cert_pem.bytes(),
        "cert.pem": leaf.cert_chain_pems[0].bytes(),
        "key.pem": leaf.private_key_pem.bytes(),
    }


@functools.cache
def pem_folder(name: str) -> Path:
    """``<temp>/<name>`` holding ``ca.pem``, ``cert.pem`` (issued by it for app.example.com) and ``key.pem``."""
    where = Path(_TEMP.name) / name
    where.mkdir()
    for file_name, data in _pems().items():
        (where / file_name).write_bytes(data)
    return where
