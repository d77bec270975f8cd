"""Alert rule and zone subentries: create, reconfigure, delete, import; the server stays the truth."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import entry_data
from .fake_server import INSTANCE_ID, FakeServer

RULE_INPUT: dict[str, Any] = {
    "name": "Night person",
    "enabled": True,
    "severity": "critical",
    "risk_threshold": 60,
    "object_types": ["person"],
    "camera_ids": ["front_door"],
    "min_confidence": 0.6,
    "days": ["mon", "tue"],
    "start_time": "22:00:00",
    "end_time": "06:00:00",
    "timezone": "Europe/Berlin",
    "cooldown_seconds": 600,
}


def _subentries(entry: MockConfigEntry, kind: str) -> list[ConfigSubentry]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


async def _start(hass: HomeAssistant, entry: MockConfigEntry, kind: str, **context: Any) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER, **context}
    )


async def test_rule_create_reconfigure_delete(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A rule made in HA lands on the server, gets a switch, follows edits, dies with its subentry."""
    result = await _start(hass, loaded_entry, "alert_rule")
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], RULE_INPUT)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (rule,) = server.rules.values()
    assert rule["schedule"] == {
        "days": ["mon", "tue"], "start_time": "22:00", "end_time": "06:00", "timezone": "Europe/Berlin",
    }
    assert rule["severity"] == "critical" and rule["risk_threshold"] == 60
    (subentry,) = _subentries(loaded_entry, "alert_rule")
    assert subentry.unique_id == rule["id"] and subentry.title == "Night person"

    # The reload gave the rule its switch, attached to the subentry.
    entity_id = er.async_get(hass).async_get_entity_id("switch", DOMAIN, f"{INSTANCE_ID}_rule_{rule['id']}")
    assert entity_id is not None
    assert er.async_get(hass).async_get(entity_id).config_subentry_id == subentry.subentry_id
    assert hass.states.get(entity_id).state == "on"

    # Reconfigure: prefilled from the subentry, PATCHed on the server.
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "alert_rule"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    suggested = {str(k): k.description for k in result["data_schema"].schema if k.description}
    assert suggested["name"] == {"suggested_value": "Night person"}
    assert suggested["start_time"] == {"suggested_value": "22:00"}
    # Cleared fields are left out by the frontend.
    changed = {k: v for k, v in RULE_INPUT.items() if k not in ("start_time", "end_time", "days")}
    changed["name"] = "Night person v2"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changed)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert server.rules[rule["id"]]["name"] == "Night person v2"
    assert server.rules[rule["id"]]["schedule"] is None
    assert loaded_entry.subentries[subentry.subentry_id].title == "Night person v2"
    assert hass.states.get(entity_id).name == "Home Security Intelligence Night person v2"

    # Delete: the server rule goes too, and so does the switch.
    hass.config_entries.async_remove_subentry(loaded_entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert server.rules == {}
    assert ("DELETE", f"/api/alert-rules/{rule['id']}") in [(m, p) for m, p, _ in server.requests]
    assert hass.states.get(entity_id) is None


async def test_rule_validation_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Server 422s map to the field (or the form), and a half schedule is refused locally."""
    result = await _start(hass, loaded_entry, "alert_rule")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**RULE_INPUT, "risk_threshold": 95}
    )
    assert result["errors"] == {"risk_threshold": "invalid_value"}
    assert "at most 90" in result["description_placeholders"]["message"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**RULE_INPUT, "name": "server-says-no"}
    )
    assert result["errors"] == {"base": "server_rejected"}
    half = {k: v for k, v in RULE_INPUT.items() if k != "end_time"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], half)
    assert result["errors"] == {"end_time": "time_pair"}
    server.fail[("POST", "/api/alert-rules")] = lambda: __import__("aiohttp").web.Response(status=503)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], RULE_INPUT)
    assert result["errors"] == {"base": "cannot_connect"}
    assert server.rules == {}


async def test_subentry_flows_need_loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Without a connected server there is nothing to create objects on."""
    config_entry.add_to_hass(hass)
    for kind in ("alert_rule", "zone"):
        result = await _start(hass, config_entry, kind)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "entry_not_loaded"


async def test_zone_create_reconfigure_delete(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Zones are created on the chosen camera, edited in place and deleted with the subentry."""
    result = await _start(hass, loaded_entry, "zone")
    assert result["type"] is FlowResultType.FORM
    zone_input = {
        "camera_id": "front_door",
        "name": "Porch",
        "zone_type": "entry_point",
        "coordinates": "0.1,0.5 0.6,0.5; 0.6,1",
        "shape": "polygon",
        "color": [255, 0, 16],
        "enabled": True,
        "priority": 2,
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**zone_input, "coordinates": "0.1,0.5 2,3 0.5"}
    )
    assert result["errors"] == {"coordinates": "invalid_coordinates"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**zone_input, "name": "server-says-no"}
    )
    assert result["errors"] == {"name": "invalid_value"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], zone_input)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (zone,) = server.zones["front_door"].values()
    assert zone["coordinates"] == [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0]]
    assert zone["color"] == "#FF0010"
    (subentry,) = _subentries(loaded_entry, "zone")
    assert subentry.data["camera_id"] == "front_door" and subentry.unique_id == zone["id"]

    # The new zone is offered to rules.
    result = await _start(hass, loaded_entry, "alert_rule")
    zone_selector = next(v for k, v in result["data_schema"].schema.items() if str(k) == "zone_ids")
    assert zone_selector.config["options"] == [{"value": zone["id"], "label": "Porch"}]
    hass.config_entries.subentries.async_abort(result["flow_id"])

    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "zone"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    assert "camera_id" not in [str(k) for k in result["data_schema"].schema]
    suggested = {str(k): k.description for k in result["data_schema"].schema if k.description}
    assert suggested["coordinates"] == {"suggested_value": "0.1,0.5 0.6,0.5 0.6,1"}
    assert suggested["color"] == {"suggested_value": [255, 0, 16]}
    edit = {k: v for k, v in zone_input.items() if k != "camera_id"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "name": "Front porch", "priority": 5}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert server.zones["front_door"][zone["id"]]["name"] == "Front porch"
    assert server.zones["front_door"][zone["id"]]["priority"] == 5

    hass.config_entries.async_remove_subentry(loaded_entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert server.zones["front_door"] == {}


async def test_zone_flow_without_cameras(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """No camera, no zone."""
    loaded_entry.runtime_data.data.cameras.clear()
    result = await _start(hass, loaded_entry, "zone")
    assert result["reason"] == "no_cameras"


async def test_server_objects_are_imported(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Rules and zones made elsewhere appear as subentries at setup (and only once)."""
    server.rules["r1"] = {"id": "r1", "name": "From the API", "enabled": False, "severity": "high",
                          "cooldown_seconds": 60, "schedule": None}
    server.zones["garage"]["z1"] = {"id": "z1", "camera_id": "garage", "name": "Driveway",
                                   "zone_type": "driveway", "coordinates": [[0, 0], [1, 0], [1, 1]],
                                   "shape": "polygon", "color": "#00FF00", "enabled": True, "priority": 0}
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    (rule_sub,) = _subentries(config_entry, "alert_rule")
    (zone_sub,) = _subentries(config_entry, "zone")
    assert (rule_sub.unique_id, rule_sub.title, rule_sub.data["enabled"]) == ("r1", "From the API", False)
    assert (zone_sub.unique_id, zone_sub.data["camera_id"]) == ("z1", "garage")
    state = hass.states.get("switch.home_security_intelligence_from_the_api")
    assert state is not None and state.state == "off"

    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert len(config_entry.subentries) == 2


async def test_zone_import_survives_a_failing_camera(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A camera whose zones cannot be read does not stop setup."""
    server.fail[("GET", "/api/cameras/garage/zones")] = lambda: __import__("aiohttp").web.Response(status=500)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.subentries == {}


async def test_failed_server_delete_is_logged(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, caplog: Any
) -> None:
    """When the server cannot delete, the user is told it will come back."""
    server.rules["r9"] = {"id": "r9", "name": "Keep", "enabled": True, "severity": "low", "cooldown_seconds": 0}
    await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    (sub,) = _subentries(loaded_entry, "alert_rule")
    server.fail[("DELETE", "/api/alert-rules/r9")] = lambda: __import__("aiohttp").web.Response(status=503)
    hass.config_entries.async_remove_subentry(loaded_entry, sub.subentry_id)
    await hass.async_block_till_done()
    assert "it will be imported again" in caplog.text
    assert "r9" in server.rules
