"""Every platform against a real server: states, pushed updates, dynamic and stale devices, availability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import io
from pathlib import Path
from typing import Any

from PIL import Image
import pytest

from homeassistant.components.camera import async_get_image
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence import api
from custom_components.home_security_intelligence.const import (
    DOMAIN,
    EVENT_ALERT,
    EVENT_SECURITY_EVENT,
)
from custom_components.home_security_intelligence.helpers import camera_identifier, hub_identifier

from .conftest import state, wait_for
from .hsi_server import HSIServer, eventually

HUB = "home_security_intelligence"
LoadEntry = Callable[[], Awaitable[MockConfigEntry]]


async def create_camera(server: HSIServer, name: str) -> dict[str, Any]:
    """A camera made through the API (no uploads, so no image and no events yet)."""
    return dict(await server.request("POST", "/api/cameras", json_body={"name": name}, expect=201))


async def settled_alerts(server: HSIServer, count: int) -> list[dict[str, Any]]:
    """Wait until the server holds `count` alerts, all delivered (the pipeline is idle then)."""

    async def probe() -> list[dict[str, Any]] | None:
        alerts = await server.items("/api/alerts?limit=100")
        done = len(alerts) == count and all(a["status"] == "delivered" for a in alerts)
        return alerts if done else None

    return await eventually(probe, 30, f"{count} delivered alerts")


def expected(value: Any) -> str:
    """How HA shows a server figure: null is unknown."""
    return STATE_UNKNOWN if value is None else str(value)


async def test_hub_sensors(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """Counters and queues are the server's stats; the noisy work queues and every GPU figure are
    disabled by default and show the server's figures once enabled."""
    await hsi_server.create_rule()
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await settled_alerts(hsi_server, 1)
    entry = await load_entry()
    stats = await hsi_server.request("GET", "/api/system/stats", expect=200)
    assert stats["events_unreviewed"] == 1 and stats["alerts_pending"] == 1  # the scene above

    assert state(hass, f"sensor.{HUB}_unreviewed_events") == "1"
    assert state(hass, f"sensor.{HUB}_pending_alerts") == "1"
    assert state(hass, f"sensor.{HUB}_dead_letter_queue") == str(stats["queues"]["dead_letter"])
    assert state(hass, f"binary_sensor.{HUB}_pipeline") == ("off" if stats["pipeline_healthy"] else "on")
    assert stats["pipeline_healthy"] is True

    registry = er.async_get(hass)
    disabled = ("queue_detect", "queue_analyze", "gpu_utilization", "gpu_memory_used",
                "gpu_temperature", "gpu_memory_total", "inference_fps")
    entity_ids = {}
    for key in disabled:
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{hsi_server.instance_id}_{key}")
        assert entity_id is not None
        registered = registry.async_get(entity_id)
        assert registered is not None
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
        assert registered.entity_category is er.EntityCategory.DIAGNOSTIC
        assert hass.states.get(entity_id) is None
        entity_ids[key] = entity_id
    dead_letter = registry.async_get(f"sensor.{HUB}_dead_letter_queue")
    assert dead_letter is not None and dead_letter.entity_category is er.EntityCategory.DIAGNOSTIC

    # Enabled by the user (Home Assistant reloads the entry for that): the server's figures.
    for entity_id in entity_ids.values():
        registry.async_update_entity(entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    stats = await hsi_server.request("GET", "/api/system/stats", expect=200)
    assert state(hass, entity_ids["queue_detect"]) == str(stats["queues"]["detect"])
    assert state(hass, entity_ids["queue_analyze"]) == str(stats["queues"]["analyze"])
    # No GPU on a test machine: the server says null, HA says unknown (with a GPU: its figures).
    assert state(hass, entity_ids["gpu_utilization"]) == expected(stats["gpu"]["utilization"])
    assert state(hass, entity_ids["gpu_memory_used"]) == expected(stats["gpu"]["memory_used"])
    gpu_memory = hass.states.get(entity_ids["gpu_memory_used"])
    assert gpu_memory is not None and gpu_memory.attributes["unit_of_measurement"] == "MiB"
    assert entity_ids["queue_detect"] == f"sensor.{HUB}_detection_queue"
    assert entity_ids["gpu_utilization"] == f"sensor.{HUB}_gpu_utilization"


async def test_hub_counters_follow_the_server(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """The counters follow the server's pushed `system.status`: up with a new event and alert, down
    when the alert is acknowledged and the event reviewed on the server (no REST poll needed)."""
    assert state(hass, f"sensor.{HUB}_unreviewed_events") == "0"
    assert state(hass, f"sensor.{HUB}_pending_alerts") == "0"
    await hsi_server.create_rule()
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: state(hass, f"sensor.{HUB}_pending_alerts") == "1")
    await wait_for(lambda: state(hass, f"sensor.{HUB}_unreviewed_events") == "1")

    (alert,) = await settled_alerts(hsi_server, 1)
    await hsi_server.request("POST", f"/api/alerts/{alert['id']}/acknowledge", expect=200)
    await wait_for(lambda: state(hass, f"sensor.{HUB}_pending_alerts") == "0")
    # Reviewing an event is pushed as event.updated, which asks for no refresh: only system.status
    # (published within seconds of the change) brings the counter down before the minute's poll.
    await hsi_server.request("PATCH", f"/api/events/{event['id']}", json_body={"reviewed": True}, expect=200)
    await wait_for(lambda: state(hass, f"sensor.{HUB}_unreviewed_events") == "0")
    stats = await hsi_server.request("GET", "/api/system/stats", expect=200)
    assert (stats["events_unreviewed"], stats["alerts_pending"]) == (0, 0)


async def test_the_hub_device_shows_the_version_the_server_pushes(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """A review's finding: the hub device's firmware was the server version read at setup; after an
    upgrade the integration knew the new version (pushed with `system.status`), the device did not."""
    coordinator = loaded_entry.runtime_data
    registry = dr.async_get(hass)
    hub = registry.async_get_device(identifiers={hub_identifier(hsi_server.instance_id)})
    assert hub is not None and hub.sw_version == coordinator.data.health["version"]
    upgraded = "0.99.0"  # same major: a compatible upgrade (no repair issue)
    # What the upgraded server pushes once it is back: the stats with its health summary.
    coordinator.push.async_handle_message(
        "system.status", {**coordinator.data.stats, **coordinator.data.health, "version": upgraded}
    )
    await hass.async_block_till_done()
    hub = registry.async_get_device(identifiers={hub_identifier(hsi_server.instance_id)})
    assert hub is not None and hub.sw_version == upgraded


async def test_camera_sensors_follow_events(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Risk score, level and summary show the camera's latest event; an older event never wins."""
    await create_camera(hsi_server, "Garage")
    first = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()

    assert state(hass, "sensor.front_door_risk_score") == str(first["risk_score"])
    assert state(hass, "sensor.front_door_risk_level") == first["risk_level"]
    summary = hass.states.get("sensor.front_door_last_event")
    assert summary is not None and summary.state == first["summary"]
    assert summary.attributes["event_id"] == first["id"]
    assert summary.attributes["object_types"] == ["person"]
    assert dt_util.parse_datetime(summary.attributes["started_at"]) == dt_util.parse_datetime(first["started_at"])
    for key in ("risk_score", "risk_level", "last_event"):
        assert state(hass, f"sensor.garage_{key}") == STATE_UNKNOWN

    garage = await hsi_server.upload_and_wait("Garage", "garage")
    await wait_for(lambda: state(hass, "sensor.garage_risk_score") == str(garage["risk_score"]))
    assert state(hass, "sensor.garage_risk_level") == garage["risk_level"]
    assert state(hass, "sensor.garage_last_event") == garage["summary"]

    # A newer event on the front door, then the server updates the older one (reviewed):
    # the pushed event.updated must not take the sensors back.
    second = await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: hass.states.get("sensor.front_door_last_event").attributes["event_id"] == second["id"])
    updates = async_capture_events(hass, EVENT_SECURITY_EVENT)
    await hsi_server.request("PATCH", f"/api/events/{first['id']}", json_body={"reviewed": True}, expect=200)
    await wait_for(lambda: any(e.data["id"] == first["id"] and e.data["action"] == "updated" for e in updates))
    assert hass.states.get("sensor.front_door_last_event").attributes["event_id"] == second["id"]
    assert state(hass, "sensor.front_door_risk_score") == str(second["risk_score"])

    # A long summary (an LLM's, not the rules scorer's) is cut to HA's state limit.
    entry.runtime_data.push.async_handle_message("event.updated", {**second, "summary": "x" * 400})
    await hass.async_block_till_done()
    assert state(hass, "sensor.front_door_last_event") == "x" * 255


# Moving the clock under a live aiohttp WebSocket fires its heartbeat machinery, whose timer
# aiohttp re-arms; that is aiohttp's bookkeeping, not a leak of the integration.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_activity_turns_off_after_hold(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    request: pytest.FixtureRequest,
) -> None:
    """Detected persons turn person activity on; 90 s after the last one it goes off by itself."""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: state(hass, "binary_sensor.front_door_person_activity") == "on")
    assert state(hass, "binary_sensor.front_door_vehicle_activity") == "off"
    assert state(hass, "binary_sensor.front_door_animal_activity") == "off"

    latest = max(
        dt_util.parse_datetime(d["detected_at"])
        for d in await hsi_server.items("/api/detections?camera_id=front_door&limit=100")
    )
    # The photo shows people only; a vehicle class maps to the vehicle sensor.
    coordinator = loaded_entry.runtime_data
    coordinator.push.async_handle_message(
        "detection.created",
        {"id": 10_000, "camera_id": "front_door", "object_type": "truck",
         "detected_at": latest.isoformat(), "confidence": 0.9},
    )
    await hass.async_block_till_done()
    assert state(hass, "binary_sensor.front_door_vehicle_activity") == "on"

    freezer = request.getfixturevalue("freezer")
    freezer.move_to(latest + timedelta(seconds=89))
    async_fire_time_changed(hass, latest + timedelta(seconds=89))
    await hass.async_block_till_done()
    assert state(hass, "binary_sensor.front_door_person_activity") == "on"
    freezer.move_to(latest + timedelta(seconds=91))
    async_fire_time_changed(hass, latest + timedelta(seconds=91))
    await hass.async_block_till_done()
    assert state(hass, "binary_sensor.front_door_person_activity") == "off"
    assert state(hass, "binary_sensor.front_door_vehicle_activity") == "off"


@pytest.mark.parametrize("server_settings", [{"HSI_CAMERA_OFFLINE_SECONDS": "10"}])
async def test_connectivity(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """Connectivity (diagnostic) follows the server: online with an upload, offline after silence."""
    entity_id = "binary_sensor.front_door_connectivity"
    changes = async_capture_events(hass, "state_changed")

    def history() -> list[str]:
        """The sensor's states so far (the camera goes offline 10 s after each upload)."""
        return [
            e.data["new_state"].state for e in changes
            if e.data["entity_id"] == entity_id and e.data["new_state"] is not None
        ]

    await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: "on" in history())
    entry = er.async_get(hass).async_get(entity_id)
    assert entry is not None and entry.entity_category is er.EntityCategory.DIAGNOSTIC
    issue_id = f"camera_offline_{loaded_entry.entry_id}_front_door"
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    # A new camera has no pattern learned yet: the server's default delay (10 s here) applies. The
    # server marks it offline after 10 s without uploads and pushes camera.updated.
    await wait_for(lambda: "off" in history()[history().index("on"):], 45)
    camera = await hsi_server.request("GET", "/api/cameras/front_door", expect=200)
    assert camera["status"] == "offline"
    sensor = hass.states.get(entity_id)
    assert sensor is not None
    assert sensor.attributes["last_upload"] == dt_util.parse_datetime(camera["last_seen_at"])
    assert sensor.attributes["offline_after_seconds"] is None
    # A repair issue names the camera and since when it is silent (in Home Assistant's time zone).
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.translation_key == "camera_offline"
    since = dt_util.as_local(dt_util.parse_datetime(camera["last_seen_at"], raise_on_error=True))
    assert issue.translation_placeholders == {
        "camera": "Front Door", "title": loaded_entry.title, "since": f"{since:%Y-%m-%d %H:%M}",
    }
    # The next upload brings it back, and the issue goes.
    hsi_server.upload("Front Door")
    await wait_for(lambda: history().count("on") >= 2)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    # Removing the server removes its camera issues too.
    await wait_for(lambda: "off" in history()[history().index("on", history().index("off")):], 45)
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_camera_image(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """The camera entity shows the camera's latest upload, also one with nothing detected in it, with
    its time; a camera without one, or no server, raises. The latest-detection image (with boxes)
    is hidden, so the generated dashboard shows the camera once."""
    await create_camera(hsi_server, "Garage")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    uploaded = hsi_server.upload("Front Door")
    await eventually(
        lambda: _has_detection_of(hsi_server, "front_door", uploaded.name), 30, "the second upload"
    )
    entry = await load_entry()

    image = await async_get_image(hass, "camera.front_door")
    assert image.content == uploaded.read_bytes()
    assert image.content == await hsi_server.request_bytes("/api/cameras/front_door/snapshot")

    # An empty scene: nothing detected, no event, but it is what the camera sees now.
    empty = hsi_server.upload("Front Door", _empty_scene(), "empty.jpg")

    async def shown() -> bool:
        camera = entry.runtime_data.data.cameras["front_door"]
        return (await async_get_image(hass, "camera.front_door")).content == empty.read_bytes() and bool(
            camera["last_seen_at"]
        )

    await eventually(shown, 30, "the empty scene on the camera")
    assert not await _has_detection_of(hsi_server, "front_door", empty.name)
    camera = await hsi_server.request("GET", "/api/cameras/front_door", expect=200)
    # The server pushed the new upload (camera.updated): its time is the camera's attribute.
    await wait_for(
        lambda: hass.states.get("camera.front_door").attributes.get("last_upload")
        == dt_util.parse_datetime(camera["last_seen_at"])
    )
    registry = er.async_get(hass)
    hidden = registry.async_get("image.front_door_latest_detection")
    assert hidden is not None and hidden.hidden_by is er.RegistryEntryHider.INTEGRATION
    assert hidden.disabled_by is None  # hidden from the dashboard, working for cards and automations
    assert registry.async_get("camera.front_door").hidden_by is None
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, "camera.garage")  # no upload: the server has no snapshot
    await hsi_server.stop()
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, "camera.front_door")


def _empty_scene() -> bytes:
    """A smooth, empty picture (no person for HOG to find), big enough to pass the 10 KB check."""
    gradient = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, "JPEG", quality=100)
    return buffer.getvalue()


async def _has_detection_of(server: HSIServer, camera_id: str, file_name: str) -> bool:
    detections = await server.items(f"/api/detections?camera_id={camera_id}&limit=100")
    return any(Path(d["file_path"]).name == file_name for d in detections)


async def test_detection_image(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The image entity shows the latest detection's thumbnail and moves with new detections."""
    await create_camera(hsi_server, "Garage")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    client = await hass_client()

    camera = await hsi_server.request("GET", "/api/cameras/front_door", expect=200)
    first = hass.states.get("image.front_door_latest_detection")
    assert first is not None and first.state != STATE_UNKNOWN
    response = await client.get(first.attributes["entity_picture"])
    assert response.status == 200
    assert await response.read() == await hsi_server.request_bytes(
        f"/api/detections/{camera['last_detection_id']}/thumbnail"
    )
    assert state(hass, "image.garage_latest_detection") == STATE_UNKNOWN

    await hsi_server.upload_and_wait("Front Door", "front_door")
    camera = await hsi_server.request("GET", "/api/cameras/front_door", expect=200)
    coordinator = entry.runtime_data
    await wait_for(
        lambda: coordinator.data.cameras["front_door"]["last_detection_id"] == camera["last_detection_id"]
    )
    moved = hass.states.get("image.front_door_latest_detection")
    assert moved is not None and moved.state != first.state
    response = await client.get(moved.attributes["entity_picture"])
    assert response.status == 200
    assert await response.read() == await hsi_server.request_bytes(
        f"/api/detections/{camera['last_detection_id']}/thumbnail"
    )

    # A detection whose thumbnail the server does not have: no image.
    coordinator.push.async_handle_message(
        "detection.created",
        {"id": camera["last_detection_id"] + 1000, "camera_id": "front_door", "object_type": "person",
         "detected_at": dt_util.utcnow().isoformat(), "confidence": 0.9},
    )
    await hass.async_block_till_done()
    gone = hass.states.get("image.front_door_latest_detection")
    assert gone is not None and gone.state != moved.state
    response = await client.get(gone.attributes["entity_picture"])
    assert response.status == 500


async def test_alert_event_entity(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A server alert fires the camera's event entity, with the thumbnail's proxy path, which the
    `get_media_url` action signs for a phone to load."""
    await create_camera(hsi_server, "Garage")
    rule = await hsi_server.create_rule(severity="critical")
    alert_messages = async_capture_events(hass, EVENT_ALERT)
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: state(hass, "event.front_door_alert") not in (None, STATE_UNKNOWN))
    (alert,) = await settled_alerts(hsi_server, 1)

    fired = hass.states.get("event.front_door_alert")
    assert fired is not None
    assert fired.attributes["event_type"] == "critical"
    assert fired.attributes["alert_id"] == alert["id"]
    assert fired.attributes["event_id"] == event["id"]
    assert fired.attributes["rule_id"] == rule["id"]
    assert fired.attributes["risk_score"] == event["risk_score"]
    assert fired.attributes["summary"] == event["summary"]
    assert fired.attributes["object_types"] == ["person"]
    thumbnail = alert["metadata"]["thumbnail_url"]  # /api/detections/<id>/thumbnail
    path = fired.attributes["thumbnail_path"]  # recorded: unsigned (signed on demand, one hour)
    assert path == f"/api/{DOMAIN}/{loaded_entry.entry_id}/{thumbnail.removeprefix('/api/')}"
    client = await hass_client_no_auth()
    assert (await client.get(path)).status == 401
    signed = await hass.services.async_call(
        DOMAIN, "get_media_url", {"path": path}, blocking=True, return_response=True
    )
    assert signed["url"].startswith(path + "?authSig=")
    expires = dt_util.parse_datetime(signed["expires_at"])
    assert expires is not None and timedelta(minutes=59) < expires - dt_util.utcnow() <= timedelta(hours=1)
    response = await client.get(signed["url"])
    assert response.status == 200
    assert await response.read() == await hsi_server.request_bytes(thumbnail)
    assert state(hass, "event.garage_alert") == STATE_UNKNOWN

    # The server's own update (delivered), an acknowledgement and an unknown severity never fire it again.
    await wait_for(lambda: any(m.data["action"] == "updated" for m in alert_messages))
    await hsi_server.request("POST", f"/api/alerts/{alert['id']}/acknowledge", expect=200)
    await wait_for(
        lambda: any(m.data["status"] == "acknowledged" for m in alert_messages if m.data["action"] == "updated")
    )
    loaded_entry.runtime_data.push.async_handle_message("alert.created", {**alert, "id": "x", "severity": "weird"})
    await hass.async_block_till_done()
    assert state(hass, "event.front_door_alert") == fired.state


async def test_rule_switch(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """The rule switch sets `enabled` on the server; failures raise; a rule deleted on the server
    takes its switch with it at the next refresh."""
    rule = await hsi_server.create_rule(name="Doorbell")
    entry = await load_entry()
    entity_id = f"switch.{HUB}_doorbell"
    assert state(hass, entity_id) == "on"

    async def enabled_on_server() -> bool:
        return bool((await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200))["enabled"])

    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert await enabled_on_server() is False
    assert state(hass, entity_id) == "off"
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert await enabled_on_server() is True
    assert state(hass, entity_id) == "on"

    await hsi_server.request("DELETE", f"/api/alert-rules/{rule['id']}", expect=204)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True)
    assert err.value.translation_key == "rule_update_failed"
    assert state(hass, entity_id) == "on"  # until a refresh shows the rule is gone
    await entry.runtime_data.async_refresh()  # the periodic refresh
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is None  # removed with the rule's subentry
    assert er.async_get(hass).async_get(entity_id) is None
    assert entry.subentries == {}


async def test_new_camera_added_and_stale_camera_removed(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Cameras added on the server get a device at once; cameras deleted there lose theirs."""
    await create_camera(hsi_server, "Garage")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    registry = dr.async_get(hass)
    instance = hsi_server.instance_id
    hub = registry.async_get_device(identifiers={(DOMAIN, instance)})
    assert hub is not None

    await create_camera(hsi_server, "Backyard")  # pushed as camera.updated
    await wait_for(lambda: hass.states.get("camera.backyard") is not None)
    device = registry.async_get_device(identifiers={(DOMAIN, f"{instance}_backyard")})
    assert device is not None and device.name == "Backyard"
    assert device.via_device_id == hub.id

    # A deletion is pushed (camera.deleted): the device goes at once, not at the next refresh.
    await hsi_server.request("DELETE", "/api/cameras/garage", expect=204)
    await wait_for(lambda: registry.async_get_device(identifiers={(DOMAIN, f"{instance}_garage")}) is None)
    assert "garage" not in entry.runtime_data.data.cameras
    assert hass.states.get("camera.garage") is None
    assert er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{instance}_garage_risk_score") is None
    assert hass.states.get("camera.front_door") is not None
    assert hass.states.get("camera.backyard") is not None

    # A camera that comes back gets its device and entities again.
    await create_camera(hsi_server, "Garage")
    await wait_for(lambda: hass.states.get("camera.garage") is not None)
    assert registry.async_get_device(identifiers={(DOMAIN, f"{instance}_garage")}) is not None


async def test_remove_config_entry_device(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_ws_client: Any,
) -> None:
    """Users may delete a camera device the server no longer has, never a live one or the hub."""
    await create_camera(hsi_server, "Front Door")
    await wait_for(lambda: hass.states.get("camera.front_door") is not None)
    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    instance = hsi_server.instance_id
    ghost = registry.async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={(DOMAIN, f"{instance}_ghost")}
    )
    live = registry.async_get_device(identifiers={(DOMAIN, f"{instance}_front_door")})
    hub = registry.async_get_device(identifiers={(DOMAIN, instance)})
    assert live is not None and hub is not None
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
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Stopping the server makes every entity unavailable; starting it again brings them back."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    assert state(hass, "sensor.front_door_risk_score") == str(event["risk_score"])

    # The server closes its WebSockets as it stops: HA notices the push connection ending.
    await hsi_server.stop()
    await wait_for(lambda: state(hass, "sensor.front_door_risk_score") == STATE_UNAVAILABLE)
    assert state(hass, f"sensor.{HUB}_pending_alerts") == STATE_UNAVAILABLE
    assert state(hass, "camera.front_door") == STATE_UNAVAILABLE
    assert not entry.runtime_data.push.connected

    await hsi_server.start()  # same port, same data
    await wait_for(lambda: state(hass, "sensor.front_door_risk_score") == str(event["risk_score"]), 120)
    assert state(hass, f"sensor.{HUB}_pending_alerts") == "0"
    await wait_for(lambda: entry.runtime_data.push.connected)


async def test_pagination_is_followed(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cameras spread over several pages are all read."""
    monkeypatch.setattr(api, "PAGE_LIMIT", 2)
    for name in ("Attic", "Backyard", "Cellar", "Driveway", "Entrance"):
        await create_camera(hsi_server, name)
    server_ids = {camera["id"] for camera in await hsi_server.items("/api/cameras?limit=100")}
    assert len(server_ids) == 5
    entry = await load_entry()
    assert set(entry.runtime_data.data.cameras) == server_ids
    assert all(hass.states.get(f"camera.{camera_id}") is not None for camera_id in server_ids)


async def test_camera_renamed_on_server_renames_its_device(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A camera renamed on the server (pushed as camera.updated) gets the new name on its device,
    so the camera entity, the logbook and the device page say the same as the calendar and Assist
    (the device kept the old name until a restart before); a name the user gave it stays."""
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Front Door"}, expect=201)
    entry = await load_entry()
    coordinator = entry.runtime_data
    await hsi_server.request(
        "PATCH", "/api/cameras/front_door", json_body={"name": "Porch"}, expect=200
    )
    await wait_for(lambda: coordinator.data.cameras["front_door"]["name"] == "Porch")
    await coordinator.async_refresh()  # also the once-a-minute safety net
    await hass.async_block_till_done()

    device = dr.async_get(hass).async_get_device(
        identifiers={camera_identifier(coordinator.instance_id, "front_door")}
    )
    assert device is not None
    assert device.name == "Porch"
    camera_state = hass.states.get("camera.front_door")
    assert camera_state is not None
    assert camera_state.attributes["friendly_name"] == "Porch"
    registry = dr.async_get(hass)
    registry.async_update_device(device.id, name_by_user="Front porch")
    await hsi_server.request("PATCH", "/api/cameras/front_door", json_body={"name": "Stoop"}, expect=200)
    await wait_for(lambda: coordinator.data.cameras["front_door"]["name"] == "Stoop")
    await hass.async_block_till_done()
    device = registry.async_get(device.id)
    assert device is not None and (device.name, device.name_by_user) == ("Stoop", "Front porch")
    renamed = hass.states.get("camera.front_door")
    assert renamed is not None and renamed.attributes["friendly_name"] == "Front porch"
