"""A local stand-in for one Cloudflare zone: API emulator, Origin CA, and (later) the emulated edge and origin.

``ZoneState`` is the zone (settings, certificates, Authenticated Origin Pulls) and what the edge reads;
``ApiServer`` serves it as Cloudflare's v4 API on loopback.
"""

from __future__ import annotations

from .api import ApiServer, Faults, RequestRecord
from .origin_ca import ClientIdentity, SandboxOriginCa, SignedCertificate
from .state import SandboxApiError, SettingError, ZoneState

__all__ = [
    "ApiServer",
    "ClientIdentity",
    "Faults",
    "RequestRecord",
    "SandboxApiError",
    "SandboxOriginCa",
    "SettingError",
    "SignedCertificate",
    "ZoneState",
]
