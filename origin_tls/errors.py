"""The package's own exceptions.

::

    OriginTlsError
    ├── InvalidInput (also ValueError)    user input refused before anything is sent or changed
    └── CloudflareError                   the API did not give us what we asked for
        ├── AuthenticationError           401/403: token missing, wrong, or lacking a permission
        ├── NotFoundError                 404: unknown zone, certificate or hostname
        ├── RateLimitedError              429 still answered after the bounded retries
        ├── ServerError                   5xx still answered after the bounded retries
        ├── TransportError                timeout, refused connection, TLS failure talking to the API
        └── ResponseError                 an answer that is not the documented envelope, or success=false

Checks never raise: probes and the verifier record failures as data. Only the final gate (the CLI's exit status, a
provider's ``create``) turns a failing report into an error. No message here ever contains an API token or a
private key; callers pass only what is safe to show.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuthenticationError",
    "CloudflareError",
    "InvalidInput",
    "NotFoundError",
    "OriginTlsError",
    "RateLimitedError",
    "ResponseError",
    "ServerError",
    "TransportError",
]


class OriginTlsError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidInput(OriginTlsError, ValueError):
    """A user-supplied value is not allowed: names the field, the value and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str | Iterable[str]) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed if isinstance(allowed, str) else "one of " + ", ".join(allowed)
        super().__init__(f"{field} must be {self.allowed}, got {value!r}")


class CloudflareError(OriginTlsError):
    """The Cloudflare API call did not succeed. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[int, ...] = ()) -> None:
        self.status = status
        self.codes = codes
        super().__init__(message)


class AuthenticationError(CloudflareError):
    """401 or 403: the message says which token permission is needed."""


class NotFoundError(CloudflareError):
    """404: the zone (or certificate, or hostname) is unknown to this account."""


class RateLimitedError(CloudflareError):
    """429 answered on every try within the retry budget."""


class ServerError(CloudflareError):
    """5xx answered on every try within the retry budget."""


class TransportError(CloudflareError):
    """The request never got an HTTP answer: timeout, refused connection, TLS or DNS failure."""


class ResponseError(CloudflareError):
    """An answer that is not the documented envelope (malformed JSON, missing ``result``) or ``success: false``."""
