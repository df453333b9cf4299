"""The consumer's own components package: the name origin-tls's checkout also uses, which must not collide."""

from __future__ import annotations

from .naming import site_hostnames

__all__ = ["site_hostnames"]
