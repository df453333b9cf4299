"""The two origin key-exchange settings of the API emulator over real HTTP: shapes, defaults, refusals, what the edge
reads (``reference/cloudflare.md`` section 6).

``auto_origin_tls_kex`` holds its value under ``enabled`` (GET/PATCH); ``origin_tls_compliance_modes`` a list of modes
(GET/PUT/PATCH/DELETE). Each accepted request has a refused twin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from origin_tls.sandbox import ApiServer, SettingError, ZoneState
from tests.sandbox.test_api import HOSTNAME, RFC3339, SETTINGS, TOKEN, ZONE_ID, error_codes, ok_result

KEX = f"{SETTINGS}/auto_origin_tls_kex"
MODES = f"{SETTINGS}/origin_tls_compliance_modes"


@pytest.fixture
def zone() -> ZoneState:
    return ZoneState(zone_id=ZONE_ID, hostnames=[HOSTNAME], account_token=TOKEN)


@pytest.fixture
def client(zone: ZoneState) -> Iterator[httpx.Client]:
    with ApiServer(zone) as api, httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


# -- auto_origin_tls_kex ----------------------------------------------------------------------------------------


def test_automatic_origin_key_exchange_is_on_for_a_fresh_zone(client: httpx.Client, zone: ZoneState) -> None:
    result = ok_result(client.get(KEX))
    assert result["id"] == "auto_origin_tls_kex"
    assert result["enabled"] is True
    assert "value" not in result
    assert RFC3339.fullmatch(result["modified_on"])
    assert zone.origin_key_exchange() == (True, ())


@pytest.mark.parametrize("enabled", [False, True])
def test_automatic_origin_key_exchange_is_switched_under_enabled(
    client: httpx.Client, zone: ZoneState, enabled: bool
) -> None:
    before = zone.version
    result = ok_result(client.patch(KEX, json={"enabled": enabled}))
    assert result["enabled"] is enabled
    assert ok_result(client.get(KEX))["enabled"] is enabled
    assert zone.origin_key_exchange()[0] is enabled
    assert zone.version > before


@pytest.mark.parametrize(
    "body",
    [{"value": False}, {"value": "off"}, {"enabled": "false"}, {"enabled": 0}, {}, {"enabled": False, "value": "off"}],
)
def test_automatic_origin_key_exchange_refuses_anything_but_an_enabled_boolean(
    client: httpx.Client, zone: ZoneState, body: dict[str, Any]
) -> None:
    response = client.patch(KEX, json=body)
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert zone.origin_key_exchange()[0] is True


def test_automatic_origin_key_exchange_has_no_put_or_delete(client: httpx.Client) -> None:
    assert client.put(KEX, json={"enabled": False}).status_code == 405
    assert error_codes(client.delete(KEX)) == [7001]


# -- origin_tls_compliance_modes --------------------------------------------------------------------------------


def test_a_fresh_zone_requires_no_compliance_mode(client: httpx.Client) -> None:
    result = ok_result(client.get(MODES))
    assert result == {"id": "origin_tls_compliance_modes", "editable": True, "value": [], "modified_on": None}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    ("value", "stored"),
    [(["pqh"], ["pqh"]), (["fips"], ["fips"]), (["fips", "pqh"], ["fips", "pqh"]), (["pqh", "pqh"], ["pqh"])],
)
def test_compliance_modes_are_stored_and_read_back(
    client: httpx.Client, zone: ZoneState, method: str, value: list[str], stored: list[str]
) -> None:
    result = ok_result(client.request(method, MODES, json={"value": value}))
    assert result["value"] == stored
    assert RFC3339.fullmatch(result["modified_on"])
    assert ok_result(client.get(MODES))["value"] == stored
    assert zone.origin_key_exchange() == (True, tuple(stored))


@pytest.mark.parametrize(
    "body",
    [
        {"value": ["cnsa2"]},
        {"value": ["pqh", "PQH"]},
        {"value": "pqh"},
        {"value": [1]},
        {"value": None},
        {"enabled": True},
        {},
    ],
)
def test_an_unknown_mode_or_shape_is_refused_and_nothing_changes(
    client: httpx.Client, zone: ZoneState, body: dict[str, Any]
) -> None:
    ok_result(client.put(MODES, json={"value": ["pqh"]}))
    response = client.put(MODES, json=body)
    assert response.status_code == 400
    assert error_codes(response) == [1007]
    assert zone.origin_key_exchange()[1] == ("pqh",)


def test_the_refusal_of_an_unknown_mode_names_it_and_what_is_allowed(client: httpx.Client) -> None:
    message = client.patch(MODES, json={"value": ["cnsa2"]}).json()["errors"][0]["message"]
    assert "'cnsa2'" in message
    assert "fips, pqh" in message


@pytest.mark.parametrize("clear", ["empty list", "delete"])
def test_an_empty_list_or_delete_clears_the_constraint(client: httpx.Client, zone: ZoneState, clear: str) -> None:
    ok_result(client.put(MODES, json={"value": ["pqh"]}))
    if clear == "delete":
        result = ok_result(client.delete(MODES))
        assert result["id"] == "origin_tls_compliance_modes"
        assert RFC3339.fullmatch(result["modified_on"])
    else:
        assert ok_result(client.patch(MODES, json={"value": []}))["value"] == []
    assert ok_result(client.get(MODES))["value"] == []
    assert zone.origin_key_exchange() == (True, ())


def test_the_key_exchange_settings_stay_out_of_the_value_settings(client: httpx.Client, zone: ZoneState) -> None:
    ids = {item["id"] for item in ok_result(client.get(SETTINGS))}
    assert ids.isdisjoint({"auto_origin_tls_kex", "origin_tls_compliance_modes"})
    assert set(zone.settings()).isdisjoint({"auto_origin_tls_kex", "origin_tls_compliance_modes"})


def test_direct_calls_refuse_as_the_api_does(zone: ZoneState) -> None:
    with pytest.raises(SettingError) as caught:
        zone.set_origin_tls_compliance_modes(["quantum"])
    assert caught.value.code == 1007
    with pytest.raises(SettingError):
        zone.set_auto_origin_tls_kex({"value": False})
    assert zone.set_origin_tls_compliance_modes(["pqh"]) == ["pqh"]
    assert zone.set_auto_origin_tls_kex({"enabled": False}) is False
    assert zone.origin_key_exchange() == (False, ("pqh",))
