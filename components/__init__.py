"""The reference stack's name for the component: a re-export of :mod:`origin_tls.components`.

This folder sits beside ``__main__.py`` for checkouts whose programs still say ``from components import
OriginProtection``; it is not part of the installed distribution (whose only top-level name is ``origin_tls``, so it
cannot shadow, or be shadowed by, a stack's own ``components/``). New code imports ``origin_tls.components``.
"""

from __future__ import annotations

from origin_tls.components import TYPE_TOKEN, OriginProtection, OriginProtectionArgs, plan_origin_protection

__all__ = ["TYPE_TOKEN", "OriginProtection", "OriginProtectionArgs", "plan_origin_protection"]
