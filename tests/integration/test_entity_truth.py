"""What the entities show, against a real server: a parked car is no activity, a refresh does not roll
back what was pushed while it read, a PNG upload is a PNG."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import io
import os
import signal
import subprocess
from typing import Any

from PIL import Image
import pytest

from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.home_security_intelligence import api

from .conftest import state, wait_for
from .hsi_server import PEOPLE_PHOTO, HSIServer, eventually, photo_variant

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]


async def _detections(server: HSIServer, camera_id: str, query: str = "") -> list[dict[str, Any]]:
    return await server.items(f"/api/detections?camera_id={camera_id}&limit=100{query}")


# A parked car: the server marks an object that stayed put for this long (1 s here) stationary.
@pytest.mark.parametrize("server_settings", [{"HSI_STATIONARY_SECONDS": "1"}])
# Moving the clock under a live aiohttp WebSocket re-arms aiohttp's heartbeat timer (not a leak).
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_a_parked_car_is_no_vehicle_activity(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    request: pytest.FixtureRequest,
) -> None:
    """The server stores a parked car's detections marked `stationary` ("in no event and no alert")
    and pushes them as detection.created; the vehicle activity sensor must not take them for a
    vehicle moving now, or it stays on all day for a car parked in the driveway (each upload keeps
    it on for 90 s more). Here: the street scene with its two parked vehicles, uploaded twice; the
    second upload's vehicles are stationary, and 90 s after the last moving one the sensor is off."""
    entity_id = "binary_sensor.front_door_vehicle_activity"
    hsi_server.upload("Front Door", photo_variant(PEOPLE_PHOTO, 1))

    async def moving_vehicles() -> list[dict[str, Any]] | None:
        found = [
            d
            for d in await _detections(hsi_server, "front_door")
            if d["object_type"] in ("car", "truck", "bus")
        ]
        return found or None

    moving = await eventually(moving_vehicles, 60, "the vehicles of the first upload")
    assert not any(d["stationary"] for d in moving)
    await wait_for(lambda: state(hass, entity_id) == "on")

    await asyncio.sleep(1.5)  # longer than HSI_STATIONARY_SECONDS: the same vehicles, still there
    hsi_server.upload("Front Door", photo_variant(PEOPLE_PHOTO, 2))

    async def parked() -> list[dict[str, Any]] | None:
        found = [
            d
            for d in await _detections(hsi_server, "front_door", "&stationary=true")
            if d["object_type"] in ("car", "truck", "bus")
        ]
        return found or None

    stationary = await eventually(parked, 60, "the parked vehicles of the second upload")
    coordinator = loaded_entry.runtime_data
    # The upload has reached Home Assistant: the server pushes the camera (its new upload time) and
    # then, in the same broadcast, the upload's detections.
    uploaded = max(dt_util.parse_datetime(d["detected_at"]) for d in stationary)
    await wait_for(
        lambda: (
            dt_util.parse_datetime(coordinator.data.cameras["front_door"]["last_seen_at"] or "") == uploaded
        )
    )
    await asyncio.sleep(1)
    await hass.async_block_till_done()
    vehicles = [
        d for d in await _detections(hsi_server, "front_door") if d["object_type"] in ("car", "truck", "bus")
    ]
    last_moving = max(dt_util.parse_datetime(d["detected_at"]) for d in vehicles if not d["stationary"])

    # 91 s after the last vehicle that moved, nothing but parked vehicles was seen since.
    freezer = request.getfixturevalue("freezer")
    later = last_moving + timedelta(seconds=91)
    freezer.move_to(later)
    async_fire_time_changed(hass, later)
    await hass.async_block_till_done()
    assert state(hass, entity_id) == "off", (
        "a stationary (parked) vehicle kept the vehicle activity sensor on; activity recorded at "
        f"{coordinator.data.activity.get('front_door')}, last moving vehicle at {last_moving}"
    )


async def test_a_refresh_read_before_a_push_does_not_roll_it_back(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The REST refresh (started by every alert, and once a minute) reads the cameras, then the
    rules and each camera's zones; an event the server pushes in between must survive the refresh.
    It did not: the refresh replaced the cameras with what it had read before the push, and the
    camera's sensors went back to the previous event (and the latest-detection image to the previous
    detection) until the next push or poll."""
    first = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    coordinator = entry.runtime_data
    summary = "sensor.front_door_last_event"
    assert hass.states.get(summary).attributes["event_id"] == first["id"]  # type: ignore[union-attr]

    client = coordinator.client
    read_rules = client.alert_rules
    pushed: dict[str, Any] = {}

    async def rules_while_an_event_comes() -> Any:
        """The cameras were read; the server makes a new event and pushes it before this returns."""
        rules = await read_rules()
        pushed["event"] = await hsi_server.upload_and_wait("Front Door", "front_door")
        await wait_for(
            lambda: hass.states.get(summary).attributes.get("event_id") == pushed["event"]["id"]  # type: ignore[union-attr]
        )
        pushed["detection"] = coordinator.data.cameras["front_door"]["last_detection_id"]
        return rules

    client.alert_rules = rules_while_an_event_comes  # type: ignore[method-assign]
    try:
        await coordinator.async_refresh()
    finally:
        client.alert_rules = read_rules  # type: ignore[method-assign]
    await hass.async_block_till_done()

    second = pushed["event"]
    assert second["id"] != first["id"]
    shown = hass.states.get(summary)
    assert shown is not None
    assert shown.attributes["event_id"] == second["id"], (
        "the refresh rolled the camera back to an older event"
    )
    assert coordinator.data.cameras["front_door"]["last_detection_id"] == pushed["detection"]


def _png(seed: int) -> bytes:
    """The street scene (people only) as a PNG, as some cameras upload."""
    with Image.open(io.BytesIO(photo_variant(PEOPLE_PHOTO, seed, (0, 0, 640, 576)))) as image:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_camera_image_of_a_png_upload_says_png(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """The server takes .png uploads and serves the camera's latest upload as it is (image/png);
    the camera entity announced every picture as image/jpeg (Camera's default content type), so
    `camera.snapshot`, the camera proxy and notification attachments labelled a PNG as a JPEG."""
    hsi_server.upload("Front Door", _png(7), "upload.png")

    async def shown() -> Any:
        if hass.states.get("camera.front_door") is None:
            return None
        try:
            image = await async_get_image(hass, "camera.front_door")
        except Exception:  # noqa: BLE001 - no snapshot yet
            return None
        return image if image.content.startswith(b"\x89PNG") else None

    image = await eventually(shown, 60, "the PNG upload on the camera")
    assert image.content_type == "image/png"


def _cluster_processes(server: HSIServer) -> list[int]:
    """The server's embedded PostgreSQL: its postmaster and every process it started."""
    postmaster = int((server.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False)
    return [postmaster, *(int(pid) for pid in children.stdout.split())]


async def test_a_failed_read_while_push_is_up_keeps_the_entities(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that fails while the push channel is connected (here the server's database stalls
    for a moment: the REST reads time out, the WebSocket stays up) left every entity unavailable until
    the next poll a minute later, history gaps and `unavailable` triggers included, though the server
    was there and pushing. The entities keep what they show; only when the push is down too do they
    go unavailable (test_entities.py::test_entities_unavailable_when_server_down)."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    coordinator = entry.runtime_data
    risk = "sensor.front_door_risk_score"
    assert state(hass, risk) == str(event["risk_score"])

    monkeypatch.setattr(api, "REQUEST_TIMEOUT", 1.0)
    stalled = _cluster_processes(hsi_server)
    for pid in stalled:
        os.kill(pid, signal.SIGSTOP)
    try:
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert coordinator.push.connected
        assert state(hass, risk) == str(event["risk_score"]), "a failed read made the entities unavailable"
        assert state(hass, "camera.front_door") != "unavailable"
    finally:
        for pid in stalled:
            os.kill(pid, signal.SIGCONT)

    # The database is back: the next upload is pushed and shown as before.
    second = await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(
        lambda: hass.states.get("sensor.front_door_last_event").attributes.get("event_id") == second["id"]
    )  # type: ignore[union-attr]
    await coordinator.async_refresh()
    assert coordinator.last_update_success
