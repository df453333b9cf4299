"""``ZoneSettingPin``: a zone setting pulumi-cloudflare cannot manage, pinned to a value.

Made for ``ssl_automatic_mode``: pulumi-cloudflare 6.23 has no such setting, and while Automatic SSL/TLS is on
(``auto``) Cloudflare may change the zone's SSL mode by itself (Cloudflare docs, "Automatic SSL/TLS"); pinning it to
``custom`` keeps the declared Full (Strict). ``read`` (refresh) reports the live value, so drift shows as a change
of ``value`` at the next preview. ``delete`` leaves the zone as it is, like ``cloudflare.ZoneSetting`` (whose delete
is a no-op in provider v5/v6, ``reference/cloudflare.md`` §5): removing the pin must not re-enable automation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from ..baseline import parse_zone_id
from ..cloudflare import CloudflareClient
from ..errors import InvalidInput
from ._common import CloudflareAccess, check_fields, optional_api_url

__all__ = ["INPUT_FIELDS", "ZoneSettingPin", "ZoneSettingPinProvider", "parse_setting_id"]

INPUT_FIELDS: tuple[str, ...] = ("zone_id", "setting_id", "value", "api_url")
_SETTING_ID = re.compile(r"[a-z0-9_]{1,64}")
#: Seconds per API call; the client retries 429/5xx within its own bounded budget.
API_TIMEOUT = 10.0


def parse_setting_id(value: object) -> str:
    if not isinstance(value, str) or not _SETTING_ID.fullmatch(value):
        raise InvalidInput("setting_id", value, "a Cloudflare zone setting id such as ssl_automatic_mode")
    return value


def _parse_value(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("value", value, "a non-empty string such as custom")
    return value.strip()


_PARSERS: dict[str, Any] = {
    "zone_id": parse_zone_id,
    "setting_id": parse_setting_id,
    "value": _parse_value,
    "api_url": optional_api_url,
}


class ZoneSettingPinProvider(CloudflareAccess, dyn.ResourceProvider):
    """Provider of :class:`ZoneSettingPin`. Builds a client per call (no shared state: thread-safe)."""

    def _client(self, props: Mapping[str, Any]) -> CloudflareClient:
        return CloudflareClient(
            self.api_token(f"ZoneSettingPin ({props.get('setting_id')})"),
            base_url=self.api_url(props.get("api_url")),
            timeout=API_TIMEOUT,
        )

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        zone, setting, value = (_PARSERS[k](props.get(k)) for k in ("zone_id", "setting_id", "value"))
        with self._client(props) as client:
            live = client.edit_setting(zone, setting, value)
        return {"zone_id": zone, "setting_id": setting, "value": live, "api_url": props.get("api_url")}

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return check_fields(_PARSERS, news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # ``olds`` are old outputs: after a refresh, ``value`` is the live value, so drift is a change here.
        replaces = [key for key in ("zone_id", "setting_id") if olds.get(key) != news.get(key)]
        changed = replaces or [key for key in ("value", "api_url") if olds.get(key) != news.get(key)]
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = self._apply(props)
        return dyn.CreateResult(id_=f"{outs['zone_id']}/{outs['setting_id']}", outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=self._apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        zone_id, _, setting_id = id_.partition("/")
        zone, setting = (
            parse_zone_id(props.get("zone_id", zone_id)),
            parse_setting_id(props.get("setting_id", setting_id)),
        )
        with self._client(props) as client:
            live = client.get_setting(zone, setting)
        outs = {"zone_id": zone, "setting_id": setting, "value": live, "api_url": props.get("api_url")}
        return dyn.ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Leaves the setting as it is (see the module docstring)."""


class ZoneSettingPin(dyn.Resource, module="origin-tls", name="ZoneSettingPin"):
    """A zone setting pinned to ``value``; type ``pulumi-python:dynamic/origin-tls:ZoneSettingPin``."""

    zone_id: pulumi.Output[str]
    setting_id: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        zone_id: pulumi.Input[str],
        setting_id: pulumi.Input[str],
        value: pulumi.Input[str],
        api_url: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"zone_id": zone_id, "setting_id": setting_id, "value": value, "api_url": api_url}
        super().__init__(ZoneSettingPinProvider(), resource_name, props, opts)
