"""Pulumi dynamic providers: thin translations from the engine's calls to ``origin_tls``.

Each provider lives in an importable, side-effect-free module so dill pickles it *by reference* (a ~100-character
``__provider`` in state, no code, no token). Credentials arrive through ``configure()`` (``cloudflare:apiToken`` or
``origin-tls:apiToken``), with ``CLOUDFLARE_API_TOKEN`` as the call-time fallback. See
``reference/pulumi-without-cli.md`` for the engine behaviour these rely on.
"""

from __future__ import annotations

from .keys import OriginKey, OriginKeyProvider, OriginPullCertificate, OriginPullCertificateProvider
from .verification import HandshakeVerification, HandshakeVerificationProvider, VerificationFailed
from .zone_setting import ZoneSettingPin, ZoneSettingPinProvider

__all__ = [
    "HandshakeVerification",
    "HandshakeVerificationProvider",
    "OriginKey",
    "OriginKeyProvider",
    "OriginPullCertificate",
    "OriginPullCertificateProvider",
    "VerificationFailed",
    "ZoneSettingPin",
    "ZoneSettingPinProvider",
]
