"""Entry point the Pulumi CLI runs (``python -m pulumi.policy <engine> <this directory>``): serves the pack forever.

Only wiring lives here; the policies are in ``policies.py`` and the rules in ``origin_tls.policy``.
"""

from __future__ import annotations

from policies import PACK_DESCRIPTION, PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

__all__: list[str] = []

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.ADVISORY,
    description=PACK_DESCRIPTION,
)
