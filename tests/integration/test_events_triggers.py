"""Bus events and device triggers."""

from __future__ import annotations

from typing import Any

import pytest

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
from .fake_server import INSTANCE_ID, FakeServer


def _device(hass: HomeAssistant, camera_id: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_{camera_id}")})
    assert device is not None
    return device


async def test_bus_events(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Events and alerts arrive on the bus with the full payload plus device and signed URL."""
    events = async_capture_events(hass, EVENT_SECURITY_EVENT)
    alerts = async_capture_events(hass, EVENT_ALERT)
    await server.push("event.created", server.make_event(20, "front_door", 40, "medium", has_clip=True))
    await server.push("alert.created", server.make_alert("a9", 20, "front_door", "medium"))
    await wait_for(lambda: len(events) == 1 and len(alerts) == 1)
    device_id = _device(hass, "front_door").id
    event = events[0].data
    assert event["id"] == 20 and event["action"] == "created" and event["risk_level"] == "medium"
    assert event["device_id"] == device_id
    assert event["config_entry_id"] == loaded_entry.entry_id
    assert event["reasoning"] == "because"
    assert "?authSig=" in event["thumbnail_url"]
    alert = alerts[0].data
    assert alert["id"] == "a9" and alert["severity"] == "medium" and alert["camera_id"] == "front_door"
    assert alert["device_id"] == device_id and alert["summary"] == "Person at the front door"
    assert alert["metadata"]["top_confidence"] == 0.93


async def test_get_triggers(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Cameras offer the alert trigger with a severity option; the hub offers none of ours."""
    device = _device(hass, "front_door")
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = [t for t in triggers if t["domain"] == DOMAIN]
    assert ours == [
        {"platform": "device", "domain": DOMAIN, "device_id": device.id, "type": "alert", "metadata": {}}
    ]
    capabilities = await async_get_device_automation_capabilities(
        hass, DeviceAutomationType.TRIGGER, ours[0]
    )
    assert capabilities["extra_fields"][0]["name"] == "min_severity"
    hub = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, INSTANCE_ID)})
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, hub.id)
    assert [t for t in triggers if t["domain"] == DOMAIN] == []


async def test_device_trigger_fires_at_or_above_severity(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """An automation on "alert ≥ high on the front door" ignores lower, other cameras and updates."""
    device = _device(hass, "front_door")
    calls: list[ServiceCall] = []
    hass.services.async_register("test", "record", calls.append)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "mode": "queued",
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": device.id,
                    "type": "alert",
                    "min_severity": "high",
                },
                "action": {
                    "service": "test.record",
                    "data_template": {"alert": "{{ trigger.event.data.id }}", "sev": "{{ trigger.min_severity }}"},
                },
            }
        },
    )
    coordinator = loaded_entry.runtime_data
    coordinator.async_handle_message("alert.created", server.make_alert("low1", 10, "front_door", "medium"))
    coordinator.async_handle_message("alert.created", server.make_alert("other", 10, "garage", "critical"))
    coordinator.async_handle_message("alert.updated", server.make_alert("upd", 10, "front_door", "critical"))
    coordinator.async_handle_message("alert.created", server.make_alert("hit1", 10, "front_door", "high"))
    coordinator.async_handle_message("alert.created", server.make_alert("hit2", 10, "front_door", "critical"))
    await hass.async_block_till_done()
    assert [c.data for c in calls] == [{"alert": "hit1", "sev": "high"}, {"alert": "hit2", "sev": "high"}]


async def test_device_trigger_rejects_foreign_device(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, caplog: Any
) -> None:
    """A trigger on the hub (or any non-camera) fails validation."""
    hub = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, INSTANCE_ID)})
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
    assert "is not a home_security_intelligence camera" in caplog.text


@pytest.mark.parametrize("severity", ["low"])
async def test_default_severity_is_any(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, severity: str
) -> None:
    """Without min_severity every alert of the camera triggers."""
    device = _device(hass, "garage")
    calls: list[ServiceCall] = []
    hass.services.async_register("test", "record", calls.append)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "trigger": {"platform": "device", "domain": DOMAIN, "device_id": device.id, "type": "alert"},
                "action": {"service": "test.record"},
            }
        },
    )
    loaded_entry.runtime_data.async_handle_message(
        "alert.created", server.make_alert("g1", 10, "garage", severity)
    )
    await hass.async_block_till_done()
    assert len(calls) == 1
