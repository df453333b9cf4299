"""Pulumi components of origin-tls: ``from components import OriginProtection, OriginProtectionArgs``."""

from __future__ import annotations

from .args import OriginProtectionArgs, plan_origin_protection
from .origin_protection import TYPE_TOKEN, OriginProtection

__all__ = ["TYPE_TOKEN", "OriginProtection", "OriginProtectionArgs", "plan_origin_protection"]
