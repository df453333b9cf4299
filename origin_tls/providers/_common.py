"""What every origin-tls dynamic provider shares: credentials from ``configure()``, and property-bag hygiene.

Facts this module is built on (``reference/pulumi-without-cli.md``, pulumi 3.272):

- Providers are pickled with dill, *by reference* because they live in this importable module tree: the state holds
  only ``module.Class`` plus the instance ``__dict__``. So nothing secret or unpicklable may sit on an instance when
  the program serialises it; :meth:`CloudflareAccess.__getstate__` guarantees that even after ``configure()``.
- The engine sends the whole stack config to ``configure()`` (namespaced keys, secrets decrypted). The provider
  server caches one configured instance per serialized provider string, and ``configure()`` runs only when that
  instance is first built: if the ``Configure`` RPC arrives after first use, the instance never sees config. Hence the
  fallback to ``CLOUDFLARE_API_TOKEN`` at call time.
- Numbers come back as floats; unknown values (preview) arrive as ``pulumi.output.Unknown`` instances.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest
from pulumi.output import Unknown

from ..baseline import DEFAULT_API_URL, parse_api_url
from ..errors import InvalidInput, OriginTlsError

__all__ = [
    "API_URL_CONFIG_KEYS",
    "API_URL_ENV",
    "PROVIDER_KEY",
    "TOKEN_CONFIG_KEYS",
    "TOKEN_ENV",
    "CloudflareAccess",
    "MissingCredentials",
    "check_fields",
    "has_unknowns",
    "inputs_of",
    "optional_api_url",
    "whole",
]

PROVIDER_KEY = "__provider"
#: Where the token may be in the stack config, first hit wins: the Cloudflare provider's own key (so one
#: ``pulumi config set --secret cloudflare:apiToken`` serves both), this project's key, the user's project key.
TOKEN_CONFIG_KEYS: tuple[str, ...] = ("cloudflare:apiToken", "origin-tls:apiToken", "apiToken")
#: The API base URL, e.g. the sandbox's ``http://127.0.0.1:PORT/client/v4``. ``cloudflare:baseUrl`` is the bridged
#: provider's key for the same thing, so one setting points both at the same API.
API_URL_CONFIG_KEYS: tuple[str, ...] = ("cloudflare:baseUrl", "origin-tls:apiUrl", "apiUrl")
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105 (the variable's name, not a token)
API_URL_ENV = "CLOUDFLARE_BASE_URL"


class MissingCredentials(OriginTlsError):
    """No API token reached the provider: neither through the stack config nor the environment."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs a Cloudflare API token and none was configured: run "
            "`pulumi config set --secret cloudflare:apiToken <token>` (or origin-tls:apiToken), "
            f"or set {TOKEN_ENV} in the environment of `pulumi`"
        )


def _config_value(req: ConfigureRequest, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        try:
            value = req.config.get(key)
        except TypeError:
            continue
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class CloudflareAccess:
    """Mixin for providers that call the Cloudflare API.

    The token and base URL are set only by :meth:`configure` in the provider process and never pickled; both are
    written once, before the server hands the instance to any worker thread, and only read afterwards.
    """

    _token: str | None = None
    _api_url: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self._token = _config_value(req, TOKEN_CONFIG_KEYS)
        self._api_url = _config_value(req, API_URL_CONFIG_KEYS)

    def __getstate__(self) -> dict[str, Any]:
        # Never carry credentials into a pickle, whatever happened to this instance before.
        return {}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        del state

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def api_token(self, what: str) -> str:
        """The token from config, else from ``CLOUDFLARE_API_TOKEN`` now; :class:`MissingCredentials` if neither."""
        token = self._token or os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise MissingCredentials(what)
        return token

    def optional_api_token(self) -> str | None:
        return self._token or os.environ.get(TOKEN_ENV, "").strip() or None

    def api_url(self, explicit: object = None) -> str:
        """The resource's own ``api_url`` input, else config, else ``CLOUDFLARE_BASE_URL``, else Cloudflare's."""
        if isinstance(explicit, str) and explicit.strip():
            return explicit.strip()
        return self._api_url or os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL


def optional_api_url(value: object) -> str | None:
    """A resource's ``api_url``: absent (the provider's configured one), else :func:`baseline.parse_api_url`'s rule:
    ``https://``, or ``http://`` only to a loopback host, so the token never travels in clear over a network."""
    if value is None:
        return None
    return parse_api_url(value, field_name="api_url")


def has_unknowns(value: object) -> bool:
    """True when ``value`` is, or contains, a value only known after deployment (preview)."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknowns(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknowns(item) for item in value)
    return False


def inputs_of(props: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The declared input fields of a property bag (old outputs echo them), without ``__provider``."""
    return {key: props.get(key) for key in fields}


def whole(value: object) -> object:
    """``5.0`` -> ``5`` (protobuf Struct numbers are floats); anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_fields(parsers: Mapping[str, Callable[[object], Any]], news: dict[str, Any]) -> CheckResult:
    """One ``CheckFailure`` per field its parser refuses; values unknown during preview are not judged yet."""
    failures: list[CheckFailure] = []
    for name, parser in parsers.items():
        if has_unknowns(news.get(name)):
            continue
        try:
            parser(news.get(name))
        except InvalidInput as exc:
            failures.append(CheckFailure(name, str(exc)))
    return CheckResult(news, failures)
