"""Pulumi components of origin-tls: ``from origin_tls.components import OriginProtection, OriginProtectionArgs``.

With ``origin_tls.providers``, the only part of the package that imports ``pulumi``: ``import origin_tls`` stays free
of it. Installed, the distribution claims no generic top-level name (DESIGN.md, "Packaging"), so a stack's own
``components/`` package and this one never shadow each other.
"""

from __future__ import annotations

from .args import OriginProtectionArgs, plan_origin_protection
from .origin_protection import TYPE_TOKEN, OriginProtection

__all__ = ["TYPE_TOKEN", "OriginProtection", "OriginProtectionArgs", "plan_origin_protection"]
