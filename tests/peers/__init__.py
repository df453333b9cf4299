"""Real TLS peers for tests: a test PKI (``pki``), nginx (``nginx``) and small Python servers (``tls_servers``).

Fixtures built on them live in ``tests/conftest.py``: ``pki``, ``nginx_sites``, ``make_nginx``.
"""

from __future__ import annotations

__all__ = ["HOSTNAME"]

#: The hostname the shared peers serve (certificates, SNI, Host).
HOSTNAME = "app.example.com"
