"""A team convention: every site is served at its apex's app and api names."""

from __future__ import annotations


def site_hostnames(apex: str) -> list[str]:
    return [f"app.{apex}"]
