"""Every platform: states, updates from pushed messages, dynamic and stale devices, availability."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.components.camera import async_get_image
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .fake_server import INSTANCE_ID, JPEG, FakeServer, now_iso

HUB = "home_security_intelligence"


async def test_hub_sensors(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Counters and enabled GPU figures reflect the stats; noisy ones are disabled by default."""
    assert hass.states.get(f"sensor.{HUB}_unreviewed_events").state == "3"
    assert hass.states.get(f"sensor.{HUB}_pending_alerts").state == "1"
    assert hass.states.get(f"sensor.{HUB}_detection_queue").state == "4"
    assert hass.states.get(f"sensor.{HUB}_dead_letter_queue").state == "0"
    assert hass.states.get(f"sensor.{HUB}_gpu_utilization").state == "37.5"
    assert hass.states.get(f"sensor.{HUB}_gpu_memory_used").attributes["unit_of_measurement"] == "MiB"
    assert hass.states.get(f"binary_sensor.{HUB}_pipeline").state == "off"
    registry = er.async_get(hass)
    for key in ("gpu_temperature", "gpu_memory_total", "inference_fps"):
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{INSTANCE_ID}_{key}")
        entry = registry.async_get(entity_id)
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert entry.entity_category is er.EntityCategory.DIAGNOSTIC


async def test_system_status_push_updates_hub(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A pushed system.status updates stats without a REST round trip."""
    stats = {**server.stats, "alerts_pending": 7, "pipeline_healthy": False}
    await server.push("system.status", stats)
    await wait_for(lambda: hass.states.get(f"sensor.{HUB}_pending_alerts").state == "7")
    assert hass.states.get(f"binary_sensor.{HUB}_pipeline").state == "on"


async def test_camera_sensors_follow_events(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Risk score, level and summary show the latest event; an older event does not win."""
    assert hass.states.get("sensor.front_door_risk_level").state == "high"
    summary = hass.states.get("sensor.front_door_last_event")
    assert summary.attributes["event_id"] == 10
    assert hass.states.get("sensor.garage_risk_score").state == "unknown"
    event = server.make_event(12, "garage", 91, "critical", has_clip=False)
    event["summary"] = "x" * 400
    event["object_types"] = ["car", "dog"]
    await server.push("event.created", event)
    await wait_for(lambda: hass.states.get("sensor.garage_risk_score").state == "91")
    assert hass.states.get("sensor.garage_risk_level").state == "critical"
    assert len(hass.states.get("sensor.garage_last_event").state) == 255
    assert hass.states.get("binary_sensor.garage_vehicle_activity").state == "on"
    assert hass.states.get("binary_sensor.garage_animal_activity").state == "on"
    assert hass.states.get("binary_sensor.garage_person_activity").state == "off"
    older = server.make_event(5, "garage", 3, "low", has_clip=False)
    loaded_entry.runtime_data.async_handle_message("event.updated", older)
    assert hass.states.get("sensor.garage_risk_score").state == "91"


# Moving the clock 91 s under a live aiohttp WebSocket fires its heartbeat machinery, whose
# timer aiohttp re-arms; that is aiohttp's bookkeeping, not a leak of the integration.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_activity_turns_off_after_hold(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """A detection turns activity on; 90 s later it goes off by itself."""
    coordinator = loaded_entry.runtime_data
    coordinator.async_handle_message(
        "detection.created",
        {"id": 101, "camera_id": "garage", "object_type": "truck", "detected_at": now_iso(), "confidence": 0.9},
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.garage_vehicle_activity").state == "on"
    freezer.tick(timedelta(seconds=91))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.garage_vehicle_activity").state == "off"
    assert hass.states.get("binary_sensor.front_door_person_activity").state == "off"


async def test_connectivity(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Connectivity mirrors the camera's online status (diagnostic)."""
    assert hass.states.get("binary_sensor.front_door_connectivity").state == "on"
    assert hass.states.get("binary_sensor.garage_connectivity").state == "off"
    loaded_entry.runtime_data.async_handle_message("camera.updated", {"id": "garage", "status": "online"})
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.garage_connectivity").state == "on"


async def test_camera_image(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """The camera entity serves the server's latest snapshot; none or failure raise."""
    image = await async_get_image(hass, "camera.front_door")
    assert image.content == JPEG
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, "camera.garage")  # the server has no snapshot
    server.fail[("GET", "/api/cameras/front_door/snapshot")] = lambda: web.Response(status=502)
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, "camera.front_door")


async def test_detection_image(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    server: FakeServer,
    hass_client: ClientSessionGenerator,
) -> None:
    """The image entity shows the latest detection's thumbnail and moves with new ones."""
    client = await hass_client()
    state = hass.states.get("image.front_door_latest_detection")
    response = await client.get(state.attributes["entity_picture"])
    assert response.status == 200
    assert await response.read() == JPEG
    assert hass.states.get("image.garage_latest_detection").state == "unknown"

    loaded_entry.runtime_data.async_handle_message(
        "detection.created",
        {"id": 999, "camera_id": "front_door", "object_type": "cat", "detected_at": now_iso()},
    )
    await hass.async_block_till_done()
    new_state = hass.states.get("image.front_door_latest_detection")
    assert new_state.state != state.state
    response = await client.get(new_state.attributes["entity_picture"])
    assert response.status == 500  # the server has no thumbnail 999 -> no image
    server.fail[("GET", "/api/detections/999/thumbnail")] = lambda: web.Response(status=503)
    response = await client.get(new_state.attributes["entity_picture"])
    assert response.status == 500


async def test_alert_event_entity(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A pushed alert fires the camera's event entity with a signed thumbnail URL."""
    alert = server.make_alert("a2", 10, "front_door", "critical")
    await server.push("alert.created", alert)
    await wait_for(lambda: hass.states.get("event.front_door_alert").state != "unknown")
    state = hass.states.get("event.front_door_alert")
    assert state.attributes["event_type"] == "critical"
    assert state.attributes["alert_id"] == "a2"
    assert state.attributes["event_id"] == 10
    assert state.attributes["risk_score"] == 72
    assert state.attributes["object_types"] == ["person"]
    url = state.attributes["thumbnail_url"]
    assert url.startswith(f"/api/{DOMAIN}/{loaded_entry.entry_id}/detections/100/thumbnail?authSig=")
    assert hass.states.get("event.garage_alert").state == "unknown"
    # An update of the alert (acknowledged) does not fire again; an unknown severity never does.
    fired_at = state.state
    coordinator = loaded_entry.runtime_data
    coordinator.async_handle_message("alert.updated", {**alert, "status": "acknowledged"})
    coordinator.async_handle_message("alert.created", {**alert, "id": "a3", "severity": "weird"})
    await hass.async_block_till_done()
    assert hass.states.get("event.front_door_alert").state == fired_at


async def test_rule_switch(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """The rule switch toggles `enabled` on the server; failures raise; a gone rule is unavailable."""
    server.rules["r1"] = {"id": "r1", "name": "Doorbell", "enabled": True, "severity": "high", "cooldown_seconds": 0}
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    entity_id = f"switch.{HUB}_doorbell"
    assert hass.states.get(entity_id).state == "on"
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert server.rules["r1"]["enabled"] is False
    assert hass.states.get(entity_id).state == "off"
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert server.rules["r1"]["enabled"] is True
    server.fail[("PATCH", "/api/alert-rules/r1")] = lambda: web.Response(status=503)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert err.value.translation_key == "rule_update_failed"
    server.rules.clear()
    await config_entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert hass.states.get(entity_id).name == "Home Security Intelligence Doorbell"


async def test_new_camera_added_and_stale_camera_removed(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Cameras appearing at runtime get a device; cameras deleted on the server lose theirs."""
    await server.push(
        "camera.updated",
        {**server.cameras["garage"], "id": "backyard", "name": "Backyard", "status": "online"},
    )
    await wait_for(lambda: hass.states.get("camera.backyard") is not None)
    registry = dr.async_get(hass)
    device = registry.async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_backyard")})
    assert device is not None and device.name == "Backyard"
    hub = registry.async_get_device(identifiers={(DOMAIN, INSTANCE_ID)})
    assert device.via_device_id == hub.id

    # The server forgets the garage (and never knew the pushed backyard): both go away.
    del server.cameras["garage"]
    await loaded_entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert registry.async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_garage")}) is None
    assert registry.async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_backyard")}) is None
    assert hass.states.get("camera.garage") is None
    assert hass.states.get("camera.front_door") is not None

    # And a camera that comes back gets its entities again.
    server.cameras["garage"] = {**server.cameras["front_door"], "id": "garage", "name": "Garage"}
    await loaded_entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("camera.garage") is not None


async def test_remove_config_entry_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_ws_client: Any,
) -> None:
    """Users may delete a camera device the server no longer has, never a live one or the hub."""
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    ghost = registry.async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={(DOMAIN, f"{INSTANCE_ID}_ghost")}
    )
    live = registry.async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_front_door")})
    hub = registry.async_get_device(identifiers={(DOMAIN, INSTANCE_ID)})
    client = await hass_ws_client(hass)
    results = {}
    for name, device in (("ghost", ghost), ("live", live), ("hub", hub)):
        await client.send_json_auto_id(
            {"type": "config/device_registry/remove_config_entry",
             "config_entry_id": loaded_entry.entry_id, "device_id": device.id}
        )
        results[name] = (await client.receive_json())["success"]
    assert results == {"ghost": True, "live": False, "hub": False}


async def test_entities_unavailable_when_server_down(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, caplog: Any
) -> None:
    """A failed refresh marks everything unavailable; recovery brings it back."""
    server.fail[("GET", "/api/system/health")] = lambda: web.Response(status=503)
    coordinator = loaded_entry.runtime_data
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_risk_score").state == STATE_UNAVAILABLE
    assert hass.states.get(f"sensor.{HUB}_pending_alerts").state == STATE_UNAVAILABLE
    server.fail.clear()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_risk_score").state == "72"


async def test_pagination_is_followed(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Cameras spread over pages are all read."""
    server.page_size = 1
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert set(config_entry.runtime_data.data.cameras) == {"front_door", "garage"}
    assert {q.get("cursor") for q in server.calls("GET", "/api/cameras")} >= {None, "1"}
