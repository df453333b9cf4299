"""Hostile peers and hostile input: what ``verify`` must survive (issue 8, DESIGN.md "Bounds and trust")."""
