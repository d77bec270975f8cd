"""Bus events and device triggers, fed by a real server's events and alerts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_get_device_automation_capabilities,
    async_get_device_automations,
)

from custom_components.home_security_intelligence.const import (
    DOMAIN,
    EVENT_ALERT,
    EVENT_SECURITY_EVENT,
)

from .conftest import wait_for
from .hsi_server import HSIServer, eventually

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]


def _device(hass: HomeAssistant, server: HSIServer, camera_id: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, f"{server.instance_id}_{camera_id}")})
    assert device is not None
    return device


async def _create_camera(server: HSIServer, name: str) -> None:
    await server.request("POST", "/api/cameras", json_body={"name": name}, expect=201)


async def _alerts(server: HSIServer, count: int) -> list[dict[str, Any]]:
    """The server's alerts once there are `count` of them, all delivered."""

    async def probe() -> list[dict[str, Any]] | None:
        alerts = await server.items("/api/alerts?limit=100")
        return alerts if len(alerts) == count and all(a["status"] == "delivered" for a in alerts) else None

    return await eventually(probe, 30, f"{count} delivered alerts")


def _record(hass: HomeAssistant) -> list[ServiceCall]:
    calls: list[ServiceCall] = []
    hass.services.async_register("test", "record", calls.append)
    return calls


async def _alert_automation(hass: HomeAssistant, trigger: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "mode": "queued",
                "trigger": {"platform": "device", "domain": DOMAIN, "type": "alert", **trigger},
                "action": {
                    "service": "test.record",
                    "data_template": {"alert": "{{ trigger.event.data.id }}", "sev": "{{ trigger.min_severity }}"},
                },
            }
        },
    )


async def test_bus_events(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """The server's events and alerts reach the bus with their full payload, device and the unsigned
    proxy path of their thumbnail (finding: signed URLs valid 24 h were put on the bus, and so into
    the recorder's database)."""
    await _create_camera(hsi_server, "Front Door")
    rule = await hsi_server.create_rule(severity="medium")
    entry = await load_entry()
    events = async_capture_events(hass, EVENT_SECURITY_EVENT)
    alerts = async_capture_events(hass, EVENT_ALERT)

    server_event = await hsi_server.upload_and_wait("Front Door", "front_door")
    (server_alert,) = await _alerts(hsi_server, 1)
    await wait_for(lambda: [e.data["action"] for e in events] == ["created"])
    await wait_for(lambda: [a.data["action"] for a in alerts] == ["created", "updated"])
    device_id = _device(hass, hsi_server, "front_door").id

    event = events[0].data
    for key, value in server_event.items():
        if key != "thumbnail_url":
            assert event[key] == value, key
    assert event["action"] == "created"
    assert event["device_id"] == device_id
    assert event["config_entry_id"] == entry.entry_id
    assert "thumbnail_url" not in event
    assert event["thumbnail_path"] == f"/api/{DOMAIN}/{entry.entry_id}/events/{server_event['id']}/thumbnail"

    created, updated = (a.data for a in alerts)
    assert created["id"] == updated["id"] == server_alert["id"]
    assert created["status"] == "pending" and updated["status"] == "delivered" == server_alert["status"]
    for key in ("event_id", "rule_id", "severity", "dedup_key", "metadata", "channels"):
        assert created[key] == server_alert[key], key
    assert created["event_id"] == server_event["id"] and created["rule_id"] == rule["id"]
    assert created["severity"] == "medium"
    assert created["camera_id"] == "front_door"
    assert created["device_id"] == device_id
    assert created["config_entry_id"] == entry.entry_id
    assert created["summary"] == server_event["summary"]
    assert created["risk_score"] == server_event["risk_score"]
    assert created["object_types"] == ["person"]
    assert created["metadata"]["top_confidence"] > 0.5
    detection = server_alert["metadata"]["thumbnail_url"].removeprefix("/api/")
    assert created["thumbnail_path"] == f"/api/{DOMAIN}/{entry.entry_id}/{detection}"
    assert "authSig" not in str([e.data for e in events]) + str([a.data for a in alerts])


async def test_get_triggers(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """Cameras offer the alert trigger with a severity option; the hub offers none of ours."""
    await _create_camera(hsi_server, "Front Door")
    await load_entry()
    device = _device(hass, hsi_server, "front_door")
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = [t for t in triggers if t["domain"] == DOMAIN]
    assert ours == [
        {"platform": "device", "domain": DOMAIN, "device_id": device.id, "type": "alert", "metadata": {}}
    ]
    capabilities = await async_get_device_automation_capabilities(hass, DeviceAutomationType.TRIGGER, ours[0])
    assert capabilities["extra_fields"][0]["name"] == "min_severity"
    hub = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, hsi_server.instance_id)})
    assert hub is not None
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, hub.id)
    assert [t for t in triggers if t["domain"] == DOMAIN] == []


async def test_device_trigger_fires_at_or_above_severity(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """"Alert ≥ high on the front door" fires for its high and critical alerts only: not for a
    medium one, not for another camera's, not for the server's alert.updated messages."""
    await _create_camera(hsi_server, "Front Door")
    await _create_camera(hsi_server, "Garage")
    for severity in ("medium", "high", "critical"):
        await hsi_server.create_rule(name=f"Any {severity}", severity=severity)
    await load_entry()
    calls = _record(hass)
    await _alert_automation(
        hass, {"device_id": _device(hass, hsi_server, "front_door").id, "min_severity": "high"}
    )
    messages = async_capture_events(hass, EVENT_ALERT)

    front = await hsi_server.upload_and_wait("Front Door", "front_door")
    await hsi_server.upload_and_wait("Garage", "garage")
    alerts = await _alerts(hsi_server, 6)  # three rules x two events
    await wait_for(lambda: len(messages) == 12)  # each created, then updated (delivered)
    await hass.async_block_till_done()

    expected = sorted(
        ({"alert": a["id"], "sev": "high"} for a in alerts
         if a["event_id"] == front["id"] and a["severity"] in ("high", "critical")),
        key=lambda call: call["alert"],
    )
    assert len(expected) == 2
    assert sorted((c.data for c in calls), key=lambda call: call["alert"]) == expected


async def test_device_trigger_rejects_foreign_device(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry, caplog: Any
) -> None:
    """A trigger on the hub (or any non-camera) fails validation, saying why in the user's words."""
    hub = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, hsi_server.instance_id)})
    assert hub is not None
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": "bad",
                "trigger": {"platform": "device", "domain": DOMAIN, "device_id": hub.id, "type": "alert"},
                "action": {"service": "test.record"},
            }
        },
    )
    await hass.async_block_till_done()
    assert f"Device {hub.id} is not a camera of this server" in caplog.text  # translated


async def test_default_severity_is_any(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """Without min_severity every alert of the camera triggers, the lowest severity included."""
    await _create_camera(hsi_server, "Garage")
    await hsi_server.create_rule(severity="low")
    await load_entry()
    calls = _record(hass)
    await _alert_automation(hass, {"device_id": _device(hass, hsi_server, "garage").id})

    await hsi_server.upload_and_wait("Garage", "garage")
    (alert,) = await _alerts(hsi_server, 1)
    await wait_for(lambda: len(calls) == 1)
    await hass.async_block_till_done()
    assert [c.data for c in calls] == [{"alert": alert["id"], "sev": "low"}]
