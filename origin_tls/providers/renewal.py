"""When key material is due for renewal, judged by the resource that made it, against an injectable clock.

Where the expiry is known, without a dependency cycle:

- The origin certificate is issued by ``cloudflare.OriginCaCertificate`` from the CSR of ``OriginKey``. Its
  ``expires_on`` is an output of the certificate, *downstream* of the key: feeding it back into the key would be a
  cycle, and the bridged provider has no renewal of its own (pulumi-cloudflare 6.x dropped ``min_days_for_renewal``,
  terraform-provider-cloudflare#2043). So ``OriginKey`` records when it was made (``requested_at``) and for how long
  its certificate is requested (``validity_days``); the certificate is requested right after the key is made, so
  ``requested_at + validity_days`` is at most seconds *before* the real ``notAfter``: the estimate errs on the early,
  safe side. When the key is due, its diff replaces it; the new CSR replaces the certificate (``csr`` forces a
  replacement in the bridged provider), created before the old one is removed.
- The AOP client certificate and its CA are made by our own providers, which read ``notAfter`` from what they issued.

Renewal starts ``renew_before_days`` before the expiry (default 30, like cert-manager's ``renewBefore`` or the TLS
provider's ``early_renewal_hours``), but never more than a third of the lifetime before it (cert-manager's default
of renewing at two thirds): a 7-day certificate renews with 2.3 days left instead of on every deploy.

The clock is :data:`clock`, read at every call: tests replace it (``monkeypatch.setattr(renewal, "clock", ...)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..errors import InvalidInput
from ._common import whole

__all__ = [
    "DEFAULT_RENEW_BEFORE_DAYS",
    "MAX_RENEW_BEFORE_DAYS",
    "clock",
    "is_renewal_due",
    "now",
    "parse_instant",
    "parse_renew_before_days",
    "renew_after",
    "utc_now",
]

#: Cloudflare e-mails 30 and 14 days before an AOP certificate expires; renewing at 30 leaves both warnings unused.
DEFAULT_RENEW_BEFORE_DAYS = 30
MAX_RENEW_BEFORE_DAYS = 3650


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


#: The clock every renewal decision reads; replace it in tests.
clock: Callable[[], dt.datetime] = utc_now


def now() -> dt.datetime:
    """The current time from :data:`clock` (timezone-aware, UTC)."""
    moment = clock()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def parse_renew_before_days(value: object, *, field_name: str = "renew_before_days") -> int:
    days = whole(DEFAULT_RENEW_BEFORE_DAYS if value is None else value)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RENEW_BEFORE_DAYS:
        raise InvalidInput(field_name, value, f"a whole number of days from 0 to {MAX_RENEW_BEFORE_DAYS}")
    return days


def parse_instant(value: object) -> dt.datetime | None:
    """An ISO 8601 instant from state, ``None`` when absent or unreadable (state written before renewal existed)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def renew_after(not_before: dt.datetime, not_after: dt.datetime, renew_before_days: int) -> dt.datetime:
    """The instant from which the material is due: ``renew_before_days`` before ``not_after``, at most a third of
    the lifetime before it."""
    window = min(dt.timedelta(days=renew_before_days), (not_after - not_before) / 3)
    return not_after - window


def is_renewal_due(renew_at: dt.datetime | None, *, at: dt.datetime | None = None) -> bool:
    """True once ``renew_at`` has passed (``None``: never, the state does not say when)."""
    if renew_at is None:
        return False
    return (now() if at is None else at) >= renew_at
