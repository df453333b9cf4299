"""origin-tls: end-to-end authenticated encryption between Cloudflare and your origin, proven on every deploy.

The library (everything under ``origin_tls`` except ``origin_tls.providers``) is plain Python that knows TLS and
Cloudflare; the Pulumi layer lives in ``origin_tls.components`` and ``origin_tls.providers`` and only translates.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
