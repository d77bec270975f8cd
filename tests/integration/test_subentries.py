"""Alert rule and zone subentries against a real server: create, reconfigure, delete, and follow
the server (objects made, changed and deleted there).

The server is the source of truth: every check of what a flow did reads the server's own API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import logging
from types import MappingProxyType
from typing import Any
from unittest.mock import patch

import pytest

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.home_security_intelligence.api import HSIClient
from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import state, wait_for
from .hsi_server import HSIServer

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]

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

ZONE_INPUT: dict[str, Any] = {
    "camera_id": "front_door",
    "name": "Porch",
    "zone_type": "entry_point",
    "coordinates": "0.1,0.5 0.6,0.5; 0.6,1",
    "shape": "polygon",
    "color": [255, 0, 16],
    "enabled": True,
    "priority": 2,
}


def _subentries(entry: MockConfigEntry, kind: str) -> list[ConfigSubentry]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


async def _start(hass: HomeAssistant, entry: MockConfigEntry, kind: str) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER}
    )


async def _filters_form(hass: HomeAssistant, entry: MockConfigEntry, camera_id: str) -> Any:
    """A new object filters flow at its second form: `camera_id` picked on the first."""
    result = await _start(hass, entry, "object_filters")
    return await hass.config_entries.subentries.async_configure(result["flow_id"], {"camera_id": camera_id})


async def _reconfigure(hass: HomeAssistant, entry: MockConfigEntry, subentry: ConfigSubentry) -> Any:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, subentry.subentry_type),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )


def _suggested(result: Any) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def _with_camera(server: HSIServer, name: str = "Front Door") -> dict[str, Any]:
    return dict(await server.request("POST", "/api/cameras", json_body={"name": name}, expect=201))


async def test_rule_create_reconfigure_delete(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A rule made in HA lands on the server, gets a switch, follows edits, dies with its subentry."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _start(hass, entry, "alert_rule")
    assert result["type"] is FlowResultType.FORM
    assert _suggested(result)["timezone"] == hass.config.time_zone
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], RULE_INPUT)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")

    (rule,) = await hsi_server.items("/api/alert-rules")
    assert rule["schedule"] == {
        "days": ["mon", "tue"], "start_time": "22:00", "end_time": "06:00", "timezone": "Europe/Berlin",
    }
    assert (rule["name"], rule["severity"], rule["risk_threshold"]) == ("Night person", "critical", 60)
    assert (rule["object_types"], rule["camera_ids"], rule["min_confidence"]) == (["person"], ["front_door"], 0.6)
    assert rule["cooldown_seconds"] == 600 and rule["channels"] == ["ha"] and rule["enabled"] is True
    (subentry,) = _subentries(entry, "alert_rule")
    assert subentry.unique_id == rule["id"] and subentry.title == "Night person"
    assert subentry.data["rule_id"] == rule["id"]

    # The rule got its switch (without a reload), attached to the subentry and showing the server's flag.
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id("switch", DOMAIN, f"{hsi_server.instance_id}_rule_{rule['id']}")
    assert entity_id is not None
    assert registry.async_get(entity_id).config_subentry_id == subentry.subentry_id
    assert hass.states.get(entity_id).state == "on"

    # Reconfigure: prefilled from the subentry, PATCHed on the server.
    result = await _reconfigure(hass, entry, subentry)
    assert result["step_id"] == "reconfigure"
    suggested = _suggested(result)
    assert suggested["name"] == "Night person"
    assert (suggested["start_time"], suggested["end_time"], suggested["days"]) == ("22:00", "06:00", ["mon", "tue"])
    # Cleared fields are left out by the frontend: no schedule any more.
    changed = {k: v for k, v in RULE_INPUT.items() if k not in ("start_time", "end_time", "days")}
    # "From the event's risk": no severity of the rule's own (null on the server).
    changed.update(name="Night person v2", risk_threshold=40, severity="from_risk")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changed)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    assert result["reason"] == "reconfigure_successful"
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert (stored["name"], stored["risk_threshold"], stored["schedule"]) == ("Night person v2", 40, None)
    assert stored["severity"] is None
    result = await _reconfigure(hass, entry, entry.subentries[subentry.subentry_id])
    assert _suggested(result)["severity"] == "from_risk"
    hass.config_entries.subentries.async_abort(result["flow_id"])
    assert entry.subentries[subentry.subentry_id].title == "Night person v2"
    assert entry.subentries[subentry.subentry_id].data["schedule"] is None
    await wait_for(lambda: hass.states.get(entity_id).name == "Home Security Intelligence Night person v2", 30)

    # Delete: the server rule goes too, and so does the switch. An update of the coordinator
    # while the server still has the rule (before the deletion reaches it) does not import it again.
    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    entry.runtime_data.async_update_listeners()
    assert _subentries(entry, "alert_rule") == []
    await hass.async_block_till_done()
    assert await hsi_server.items("/api/alert-rules") == []
    await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=404)
    assert hass.states.get(entity_id) is None
    assert entry.state is ConfigEntryState.LOADED
    assert await _home_assistant_deletes(hsi_server) == [f"DELETE /api/alert-rules/{rule['id']} 204"]


async def test_rule_edit_starts_from_the_server(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The server holds the truth: the rule's subentry follows its switch and changes made on the
    server, and the edit form starts from the server's rule, so saving it unchanged reverts nothing."""
    rule = await hsi_server.create_rule(name="Doorbell", severity="low")
    entry = await load_entry()
    (subentry,) = _subentries(entry, "alert_rule")
    switch = "switch.home_security_intelligence_doorbell"

    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: switch}, blocking=True)
    await hass.async_block_till_done()
    assert entry.subentries[subentry.subentry_id].data["enabled"] is False
    result = await _reconfigure(hass, entry, subentry)
    suggested = _suggested(result)
    assert (suggested["name"], suggested["enabled"], suggested["severity"]) == ("Doorbell", False, "low")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], suggested)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert (stored["name"], stored["enabled"], stored["severity"]) == ("Doorbell", False, "low")
    assert state(hass, switch) == "off"

    # Changed on the server (rules have no push): the next refresh brings it in.
    await hsi_server.request(
        "PATCH", f"/api/alert-rules/{rule['id']}", json_body={"name": "Front bell", "enabled": True}, expect=200
    )
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    current = entry.subentries[subentry.subentry_id]
    assert (current.title, current.data["name"], current.data["enabled"]) == ("Front bell", "Front bell", True)
    suggested = _suggested(await _reconfigure(hass, entry, subentry))
    assert (suggested["name"], suggested["enabled"]) == ("Front bell", True)

    # Deleted on the server: the next refresh removes the subentry and its switch.
    await hsi_server.request("DELETE", f"/api/alert-rules/{rule['id']}", expect=204)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert _subentries(entry, "alert_rule") == []
    assert state(hass, switch) is None


async def test_rule_webhook_url_needs_its_secret(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The server takes a webhook URL only with its secret and never returns the secret: a new URL
    without it is refused on the form instead of being dropped; the same URL keeps the webhook."""
    first, second = "https://hooks.example.com/first", "https://hooks.example.com/second"
    rule = await hsi_server.create_rule(
        name="Hook", channels=["ha", "webhook"], webhook={"url": first, "secret": "s" * 16}
    )
    entry = await load_entry()
    (subentry,) = _subentries(entry, "alert_rule")

    result = await _reconfigure(hass, entry, subentry)
    edit = _suggested(result)
    assert edit["webhook_url"] == first and "webhook_secret" not in edit
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "name": "Hook v2", "webhook_url": second}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"webhook_secret": "secret_required"}
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert (stored["name"], stored["webhook"]) == ("Hook", {"url": first, "has_secret": True})

    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {**edit, "name": "Hook v2"})
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert (stored["name"], stored["webhook"]) == ("Hook v2", {"url": first, "has_secret": True})

    result = await _reconfigure(hass, entry, subentry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "webhook_url": second, "webhook_secret": "t" * 16}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert stored["webhook"] == {"url": second, "has_secret": True}

    # A new rule: a URL without a secret is refused the same way.
    result = await _start(hass, entry, "alert_rule")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"name": "Other hook", "severity": "low", "cooldown_seconds": 0, "channels": ["webhook"], "webhook_url": first},
    )
    assert result["errors"] == {"webhook_secret": "secret_required"}
    assert len(await hsi_server.items("/api/alert-rules")) == 1


async def test_rule_schedule_defaults(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """What the form promises for an empty field holds on the server: no days = every day, days
    without times = the whole day, no time zone = Home Assistant's."""
    result = await _start(hass, loaded_entry, "alert_rule")
    times_only = {"name": "Nights", "severity": "low", "cooldown_seconds": 0,
                  "start_time": "23:00:00", "end_time": "05:30:00"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], times_only)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    result = await _start(hass, loaded_entry, "alert_rule")
    days_only = {"name": "Weekends", "severity": "low", "cooldown_seconds": 0, "days": ["sat", "sun"],
                 "timezone": "America/Chicago"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], days_only)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")

    rules = {rule["name"]: rule for rule in await hsi_server.items("/api/alert-rules")}
    assert rules["Nights"]["schedule"] == {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start_time": "23:00",
        "end_time": "05:30",
        "timezone": hass.config.time_zone,
    }
    assert rules["Weekends"]["schedule"] == {
        "days": ["sat", "sun"], "start_time": "00:00", "end_time": "00:00", "timezone": "America/Chicago",
    }
    assert rules["Weekends"]["risk_threshold"] is None and rules["Weekends"]["object_types"] is None


async def test_rule_validation_errors(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The real server's 422s map to the field (or the form); a half schedule is refused locally;
    a stopped server is a connection error. Nothing is created until the input is good."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _start(hass, entry, "alert_rule")
    flow_id = result["flow_id"]

    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**RULE_INPUT, "timezone": "Mars/Olympus_Mons"}
    )
    assert result["errors"] == {"timezone": "invalid_value"}
    assert "Mars/Olympus_Mons" in result["description_placeholders"]["message"]

    result = await hass.config_entries.subentries.async_configure(flow_id, {**RULE_INPUT, "name": "x" * 256})
    assert result["errors"] == {"name": "invalid_value"}

    # A rule-level refusal names no field of the form: the webhook channel needs a URL and secret.
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**RULE_INPUT, "channels": ["ha", "webhook"]}
    )
    assert result["errors"] == {"base": "server_rejected"}
    assert "webhook" in result["description_placeholders"]["message"]

    half = {k: v for k, v in RULE_INPUT.items() if k != "end_time"}
    result = await hass.config_entries.subentries.async_configure(flow_id, half)
    assert result["errors"] == {"end_time": "time_pair"}

    # The camera the form offered is deleted on the server before the form is sent.
    await hsi_server.request("DELETE", "/api/cameras/front_door", expect=204)
    result = await hass.config_entries.subentries.async_configure(flow_id, RULE_INPUT)
    assert result["errors"] == {"camera_ids": "invalid_value"}
    assert "front_door" in result["description_placeholders"]["message"]
    assert await hsi_server.items("/api/alert-rules") == []

    await hsi_server.stop()
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**RULE_INPUT, "camera_ids": []}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await hsi_server.start()
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**RULE_INPUT, "camera_ids": []}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (rule,) = await hsi_server.items("/api/alert-rules")
    assert rule["name"] == "Night person" and rule["camera_ids"] is None


async def test_subentry_flows_need_loaded_entry(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Without a connected server there is nothing to create or change objects on."""
    await hsi_server.stop()  # nobody is connected yet: setup finds no server
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    zone = ConfigSubentry(
        data=MappingProxyType({"zone_id": "z1", "camera_id": "front_door", "name": "Porch"}),
        subentry_type="zone",
        title="Porch",
        unique_id="z1",
    )
    hass.config_entries.async_add_subentry(config_entry, zone)
    for kind in ("alert_rule", "zone"):
        result = await _start(hass, config_entry, kind)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "entry_not_loaded"
    result = await _reconfigure(hass, config_entry, zone)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_zone_create_reconfigure_delete(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Zones are created on the chosen camera, edited in place and deleted with the subentry; bad
    outlines are refused locally or by the server."""
    await _with_camera(hsi_server)
    await _with_camera(hsi_server, "Garage")
    entry = await load_entry()
    result = await _start(hass, entry, "zone")
    assert result["type"] is FlowResultType.FORM
    flow_id = result["flow_id"]
    camera_selector = next(v for k, v in result["data_schema"].schema.items() if str(k) == "camera_id")
    assert camera_selector.config["options"] == [
        {"value": "front_door", "label": "Front Door"}, {"value": "garage", "label": "Garage"},
    ]

    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**ZONE_INPUT, "coordinates": "0.1,0.5 2,3 0.5"}
    )
    assert result["errors"] == {"coordinates": "invalid_coordinates"}
    # A bow tie is well-formed text but not a valid outline: the server says so.
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {**ZONE_INPUT, "coordinates": "0,0 1,1 1,0 0,1"}
    )
    assert result["errors"] == {"coordinates": "invalid_value"}
    # A "rectangle" that is not one: refused for the zone as a whole.
    result = await hass.config_entries.subentries.async_configure(flow_id, {**ZONE_INPUT, "shape": "rectangle"})
    assert result["errors"] == {"base": "server_rejected"}
    assert "rectangle" in result["description_placeholders"]["message"]
    assert await hsi_server.items("/api/cameras/front_door/zones") == []

    result = await hass.config_entries.subentries.async_configure(flow_id, ZONE_INPUT)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    (zone,) = await hsi_server.items("/api/cameras/front_door/zones")
    assert zone["coordinates"] == [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0]]
    assert (zone["name"], zone["zone_type"], zone["shape"]) == ("Porch", "entry_point", "polygon")
    assert (zone["color"], zone["priority"], zone["enabled"]) == ("#FF0010", 2, True)
    assert await hsi_server.items("/api/cameras/garage/zones") == []
    (subentry,) = _subentries(entry, "zone")
    assert subentry.data["camera_id"] == "front_door" and subentry.unique_id == zone["id"]
    assert subentry.title == "Porch"

    # The new zone is offered to rules, and a rule using it is accepted by the server.
    result = await _start(hass, entry, "alert_rule")
    zone_selector = next(v for k, v in result["data_schema"].schema.items() if str(k) == "zone_ids")
    assert zone_selector.config["options"] == [{"value": zone["id"], "label": "Porch"}]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "On the porch", "severity": "high", "cooldown_seconds": 0,
                            "camera_ids": ["front_door"], "zone_ids": [zone["id"]]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    (rule,) = await hsi_server.items("/api/alert-rules")
    assert rule["zone_ids"] == [zone["id"]]

    result = await _reconfigure(hass, entry, entry.subentries[subentry.subentry_id])
    assert "camera_id" not in [str(k) for k in result["data_schema"].schema]
    suggested = _suggested(result)
    assert suggested["coordinates"] == "0.1,0.5 0.6,0.5 0.6,1"
    assert suggested["color"] == [255, 0, 16]
    edit = {k: v for k, v in ZONE_INPUT.items() if k != "camera_id"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "name": "Front porch", "priority": 5, "coordinates": "0,0.5 1,0.5 1,1 0,1",
                            "shape": "rectangle"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", f"/api/cameras/front_door/zones/{zone['id']}", expect=200)
    assert (stored["name"], stored["priority"], stored["shape"]) == ("Front porch", 5, "rectangle")
    assert stored["coordinates"] == [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    assert entry.subentries[subentry.subentry_id].title == "Front porch"

    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert await hsi_server.items("/api/cameras/front_door/zones") == []


async def test_zone_flow_without_cameras(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """A server without cameras has nothing to draw a zone on."""
    assert await hsi_server.items("/api/cameras") == []
    result = await _start(hass, loaded_entry, "zone")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_cameras"


async def test_server_objects_are_imported(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Rules and zones made elsewhere (here: the server's API) appear as subentries at setup, once."""
    rule = await hsi_server.create_rule(name="From the API", enabled=False, severity="low")
    await _with_camera(hsi_server, "Garage")
    zone = await hsi_server.request(
        "POST",
        "/api/cameras/garage/zones",
        json_body={"name": "Driveway", "zone_type": "driveway", "coordinates": [[0, 0], [1, 0], [1, 1]],
                   "shape": "polygon", "color": "#00FF00"},
        expect=201,
    )
    entry = await load_entry()
    (rule_sub,) = _subentries(entry, "alert_rule")
    (zone_sub,) = _subentries(entry, "zone")
    assert (rule_sub.unique_id, rule_sub.title, rule_sub.data["enabled"]) == (rule["id"], "From the API", False)
    assert rule_sub.data["severity"] == "low"
    assert (zone_sub.unique_id, zone_sub.title, zone_sub.data["camera_id"]) == (zone["id"], "Driveway", "garage")
    assert zone_sub.data["coordinates"] == [[0, 0], [1, 0], [1, 1]] and zone_sub.data["color"] == "#00FF00"
    state = hass.states.get("switch.home_security_intelligence_from_the_api")
    assert state is not None and state.state == "off"

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert len(entry.subentries) == 2


async def test_server_objects_are_imported_on_refresh(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """A rule or zone made on the server after setup becomes a subentry (the rule with its switch)
    at the next refresh, without a reload; a zone changed on the server is changed in its subentry."""
    await _with_camera(hsi_server, "Garage")
    zone = await hsi_server.request(
        "POST",
        "/api/cameras/garage/zones",
        json_body={"name": "Lawn", "coordinates": [[0, 0], [1, 0], [1, 1]], "shape": "polygon"},
        expect=201,
    )
    rule = await hsi_server.create_rule(name="Late rule", enabled=False)
    coordinator = loaded_entry.runtime_data
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    (rule_sub,) = _subentries(loaded_entry, "alert_rule")
    assert (rule_sub.unique_id, rule_sub.title, rule_sub.data["enabled"]) == (rule["id"], "Late rule", False)
    (zone_sub,) = _subentries(loaded_entry, "zone")
    assert (zone_sub.unique_id, zone_sub.title, zone_sub.data["camera_id"]) == (zone["id"], "Lawn", "garage")
    assert zone_sub.data["coordinates"] == [[0, 0], [1, 0], [1, 1]]
    assert loaded_entry.state is ConfigEntryState.LOADED and loaded_entry.runtime_data is coordinator
    await wait_for(lambda: state(hass, "switch.home_security_intelligence_late_rule") == "off")
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id("switch", DOMAIN, f"{hsi_server.instance_id}_rule_{rule['id']}")
    assert entity_id is not None
    assert registry.async_get(entity_id).config_subentry_id == rule_sub.subentry_id

    await hsi_server.request(
        "PATCH",
        f"/api/cameras/garage/zones/{zone['id']}",
        json_body={"name": "Back lawn", "priority": 7, "coordinates": [[0, 0], [0.5, 0], [0.5, 0.5]]},
        expect=200,
    )
    # Refreshing again imports nothing twice, and brings the zone's change in.
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert len(_subentries(loaded_entry, "alert_rule")) == 1
    (changed,) = _subentries(loaded_entry, "zone")
    assert changed.subentry_id == zone_sub.subentry_id
    assert (changed.title, changed.data["name"], changed.data["priority"]) == ("Back lawn", "Back lawn", 7)
    assert changed.data["coordinates"] == [[0, 0], [0.5, 0], [0.5, 0.5]]


async def _home_assistant_deletes(server: HSIServer) -> list[str]:
    """The DELETE requests Home Assistant sent the server (`DELETE <path> <status>`), from the server's
    access log: its process log, where a request's line is written before its response leaves."""
    requests = []
    for line in server.log.read_text(errors="replace").splitlines():
        _, found, access = line.partition(" server.api.access: ")
        if found and access.startswith("DELETE ") and 'user_agent="HomeAssistant' in access:
            requests.append(" ".join(access.split()[:3]))
    return requests


async def test_server_deletions_remove_subentries(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rule, a zone, and a camera with its zone deleted on the server lose their subentries (and
    the rule its switch) at the next refresh; Home Assistant deletes nothing on the server for
    that, warns about nothing, and imports nothing again."""
    caplog.set_level(logging.WARNING)
    rule = await hsi_server.create_rule(name="Doorbell")
    zones = {}
    for name in ("Front Door", "Garage"):
        camera = await _with_camera(hsi_server, name)
        zones[camera["id"]] = await hsi_server.request(
            "POST",
            f"/api/cameras/{camera['id']}/zones",
            json_body={"name": f"{name} path", "coordinates": [[0, 0], [1, 0], [1, 1]], "shape": "polygon"},
            expect=201,
        )
    entry = await load_entry()
    assert len(_subentries(entry, "alert_rule")) == 1 and len(_subentries(entry, "zone")) == 2
    switch = "switch.home_security_intelligence_doorbell"
    assert state(hass, switch) == "on"

    await hsi_server.request("DELETE", f"/api/alert-rules/{rule['id']}", expect=204)
    await hsi_server.request("DELETE", f"/api/cameras/front_door/zones/{zones['front_door']['id']}", expect=204)
    await hsi_server.request("DELETE", "/api/cameras/garage", expect=204)
    coordinator = entry.runtime_data
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert entry.subentries == {}
    assert coordinator.known_subentries == {}
    assert state(hass, switch) is None
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("switch", DOMAIN, f"{hsi_server.instance_id}_rule_{rule['id']}") is None

    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert entry.subentries == {}
    assert entry.state is ConfigEntryState.LOADED
    assert await _home_assistant_deletes(hsi_server) == []
    assert "Could not delete" not in caplog.text


async def test_zone_made_by_a_flow_survives_an_older_read(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A refresh that read the zones just before a flow made one does not take the new zone's
    subentry for one whose zone is gone: it stays (the same subentry) until a read shows its zone."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    coordinator = entry.runtime_data
    read_zones = HSIClient.zones
    made: list[Any] = []

    async def zones_then_a_flow_makes_one(client: HSIClient, camera_id: str) -> Any:
        zones = await read_zones(client, camera_id)
        if not made:  # the user saves the zone form right after this read
            result = await _start(hass, entry, "zone")
            made.append(await hass.config_entries.subentries.async_configure(result["flow_id"], ZONE_INPUT))
        return zones

    with patch.object(HSIClient, "zones", zones_then_a_flow_makes_one):
        await coordinator.async_refresh()
    (result,) = made
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    (subentry,) = _subentries(entry, "zone")
    await hass.async_block_till_done()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    (zone,) = await hsi_server.items("/api/cameras/front_door/zones")
    assert zone["id"] in coordinator.data.zones
    assert [s.subentry_id for s in _subentries(entry, "zone")] == [subentry.subentry_id]
    assert subentry.unique_id == zone["id"]


async def test_zone_edit_starts_from_the_server(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The zone form starts from the server's zone as last read, even when Home Assistant's copy
    lags behind it (here: an older copy written back while the server is away, so no refresh
    brings it up to date); once the server is back the copy follows it again."""
    await _with_camera(hsi_server, "Garage")
    await hsi_server.request(
        "POST",
        "/api/cameras/garage/zones",
        json_body={"name": "Driveway", "coordinates": [[0, 0], [1, 0], [1, 1]], "shape": "polygon",
                   "priority": 3},
        expect=201,
    )
    entry = await load_entry()
    (subentry,) = _subentries(entry, "zone")

    await hsi_server.stop()
    hass.config_entries.async_update_subentry(
        entry, subentry, title="Old name", data={**subentry.data, "name": "Old name", "priority": 9}
    )
    await hass.async_block_till_done()
    assert entry.subentries[subentry.subentry_id].data["name"] == "Old name"
    result = await _reconfigure(hass, entry, entry.subentries[subentry.subentry_id])
    suggested = _suggested(result)
    assert (suggested["name"], suggested["priority"]) == ("Driveway", 3)
    assert suggested["coordinates"] == "0,0 1,0 1,1"
    hass.config_entries.subentries.async_abort(result["flow_id"])

    await hsi_server.start()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    current = entry.subentries[subentry.subentry_id]
    assert (current.title, current.data["name"], current.data["priority"]) == ("Driveway", "Driveway", 3)


async def test_zones_of_a_camera_deleted_during_the_read(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A camera deleted between the camera list and its zone list has no zones (a 404 for its zones
    is no failure): setup goes on and the other cameras' zones still come in."""
    for name in ("Front Door", "Garage"):
        camera = await _with_camera(hsi_server, name)
        await hsi_server.request(
            "POST",
            f"/api/cameras/{camera['id']}/zones",
            json_body={"name": f"{name} path", "coordinates": [[0, 0], [1, 0], [1, 1]], "shape": "polygon"},
            expect=201,
        )
    read_zones = HSIClient.zones

    async def zones_after_garage_is_deleted(client: HSIClient, camera_id: str) -> Any:
        # The garage is deleted on the server between the camera list and its zone list: a real 404.
        if camera_id == "garage":
            await hsi_server.request("DELETE", "/api/cameras/garage", expect=204)
        return await read_zones(client, camera_id)

    with patch.object(HSIClient, "zones", zones_after_garage_is_deleted):
        entry = await load_entry()
    assert entry.state is ConfigEntryState.LOADED
    (zone_sub,) = _subentries(entry, "zone")
    assert (zone_sub.title, zone_sub.data["camera_id"]) == ("Front Door path", "front_door")
    assert set(entry.runtime_data.data.zones) == {zone_sub.unique_id}


async def test_failed_server_delete_is_logged(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the server cannot delete, the user is told the rule will come back, and it does at the
    first refresh that reaches the server (not from the stale data of before)."""
    caplog.set_level(logging.WARNING)
    rule = await hsi_server.create_rule(name="Keep")
    entry = await load_entry()
    (sub,) = _subentries(entry, "alert_rule")

    await hsi_server.stop()
    hass.config_entries.async_remove_subentry(entry, sub.subentry_id)
    await hass.async_block_till_done()
    assert "Could not delete alert_rule Keep on the server (it will be imported again)" in caplog.text
    assert _subentries(entry, "alert_rule") == []

    entry.runtime_data.async_update_listeners()
    assert _subentries(entry, "alert_rule") == []

    await hsi_server.start()
    assert [r["id"] for r in await hsi_server.items("/api/alert-rules")] == [rule["id"]]
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    (again,) = _subentries(entry, "alert_rule")
    assert again.unique_id == rule["id"] and again.title == "Keep"
    await wait_for(lambda: state(hass, "switch.home_security_intelligence_keep") == "on")


async def test_a_rule_removed_while_its_server_was_away_is_deleted_when_it_is_back(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """A review's finding: a rule subentry removed while its entry was not loaded (Home Assistant
    started while the server was down: "Failed to set up, will retry") was never deleted on the
    server, and the entry's next setup imported it again: the deletion was undone, silently, and the
    rule kept alerting. The subentries last seen are now kept on disk, and the setup deletes on the
    server those that are gone from the entry before it imports anything."""
    rule = await hsi_server.create_rule(name="Driveway at night")
    kept = await hsi_server.create_rule(name="Garden")
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    (removed,) = [s for s in config_entry.subentries.values() if s.unique_id == rule["id"]]

    # Home Assistant restarts while the server is down: the entry waits to be set up again.
    await hsi_server.stop()
    await hass.config_entries.async_reload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    # The user deletes the rule meanwhile (Settings → Devices & services → the rule → Delete).
    assert hass.config_entries.async_remove_subentry(config_entry, removed.subentry_id)
    await hass.async_block_till_done()

    await hsi_server.start()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
    await wait_for(lambda: config_entry.state is ConfigEntryState.LOADED, 60)
    await hass.async_block_till_done()
    assert [r["id"] for r in await hsi_server.items("/api/alert-rules")] == [kept["id"]]
    assert [s.title for s in config_entry.subentries.values()] == ["Garden"]

