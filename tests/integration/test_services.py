"""Actions against a real server: success paths, each validation error, server errors, entry resolution."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
import uuid

import pytest
import voluptuous as vol

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .hsi_server import HSIServer, eventually, people_photo

TIMEOUT = 60.0
LoadEntry = Callable[[], Awaitable[MockConfigEntry]]


async def call(hass: HomeAssistant, service: str, data: dict[str, Any], response: bool = True) -> Any:
    """Call one of the integration's actions, blocking."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def event_with_alert(server: HSIServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real event on front_door that a match-everything rule turned into an alert."""
    await server.upload_and_wait("Front Door", "front_door")
    await server.create_rule()
    event = await server.upload_and_wait("Front Door", "front_door")

    async def alert() -> dict[str, Any] | None:
        found = await server.items(f"/api/alerts?event_id={event['id']}")
        return found[0] if found else None

    return event, await eventually(alert, TIMEOUT, f"an alert for event {event['id']}")


async def assert_signed_thumbnails(
    hass_client_no_auth: ClientSessionGenerator,
    server: HSIServer,
    entry: MockConfigEntry,
    events: list[dict[str, Any]],
) -> None:
    """Events returned by an action carry the signed HA URL of their thumbnail (as on the bus),
    which serves the server's very bytes without a bearer token."""
    assert events
    client = await hass_client_no_auth()
    for event in events:
        path = f"/api/events/{event['id']}/thumbnail"
        assert event["thumbnail_url"].startswith(
            f"/api/{DOMAIN}/{entry.entry_id}/{path.removeprefix('/api/')}?authSig="
        )
        response = await client.get(event["thumbnail_url"])
        assert response.status == 200
        assert await response.read() == await server.request_bytes(path)


async def local_file_camera(hass: HomeAssistant, path: Path, name: str) -> str:
    """A plain HA camera (core's local_file integration) showing the file at `path`."""
    entry = MockConfigEntry(domain="local_file", title=name, options={"name": name, "file_path": str(path)})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity_id = f"camera.{name.lower().replace(' ', '_')}"
    assert hass.states.get(entity_id) is not None
    return entity_id


async def test_acknowledge_and_dismiss(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """Alerts change status on the server; unknown or malformed ids and refused moves are validation errors."""
    _, alert = await event_with_alert(hsi_server)
    assert alert["status"] in ("pending", "delivered")

    result = await call(hass, "acknowledge_alert", {"alert_id": alert["id"]})
    assert result["alert"]["id"] == alert["id"] and result["alert"]["status"] == "acknowledged"
    stored = await hsi_server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
    assert stored["status"] == "acknowledged"

    await call(
        hass,
        "dismiss_alert",
        {"alert_id": alert["id"], "config_entry_id": loaded_entry.entry_id},
        response=False,
    )
    stored = await hsi_server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
    assert stored["status"] == "dismissed"

    # The server refuses to acknowledge a dismissed alert (409): the user's request, not the network.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": alert["id"]})
    assert err.value.translation_key == "rejected"
    assert "dismissed" in err.value.translation_placeholders["message"]

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "dismiss_alert", {"alert_id": str(uuid.uuid4())})
    assert err.value.translation_key == "not_found"
    # Alert ids are UUIDs: the server's 422 for anything else is passed on as a refusal.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "dismiss_alert", {"alert_id": "nope"})
    assert err.value.translation_key == "rejected"
    assert "alert_id" in err.value.translation_placeholders["message"]


async def test_an_alert_id_is_one_segment_of_the_path(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """An action's alert id (any text) cannot make the client call another endpoint: before,
    `acknowledge_alert` with `<id>/dismiss#` dismissed the alert (the `#` cut the path short)."""
    _, alert = await event_with_alert(hsi_server)
    assert alert["status"] in ("pending", "delivered")
    for crafted in (f"{alert['id']}/dismiss#", f"{alert['id']}/dismiss?", ".."):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "acknowledge_alert", {"alert_id": crafted})
        assert err.value.translation_key in ("rejected", "not_found"), crafted
    stored = await hsi_server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
    # Neither acknowledged nor dismissed (a pending alert for Home Assistant may have been delivered since).
    assert stored["status"] in ("pending", "delivered")


async def test_review_event(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """Review with notes lands on the server; refused notes and unknown events are validation errors."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    assert event["reviewed"] is False and event["notes"] is None

    result = await call(hass, "review_event", {"event_id": event["id"], "notes": "the postman"})
    assert result["event"]["id"] == event["id"]
    assert result["event"]["reviewed"] is True and result["event"]["notes"] == "the postman"
    stored = await hsi_server.request("GET", f"/api/events/{event['id']}", expect=200)
    assert (stored["reviewed"], stored["notes"]) == (True, "the postman")

    await call(hass, "review_event", {"event_id": event["id"], "reviewed": False}, response=False)
    stored = await hsi_server.request("GET", f"/api/events/{event['id']}", expect=200)
    assert (stored["reviewed"], stored["notes"]) == (False, "the postman")  # notes left alone

    # The server caps notes at 10 000 characters.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "review_event", {"event_id": event["id"], "notes": "x" * 10_001})
    assert err.value.translation_key == "rejected"
    assert "notes" in err.value.translation_placeholders["message"]
    stored = await hsi_server.request("GET", f"/api/events/{event['id']}", expect=200)
    assert stored["notes"] == "the postman"

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "review_event", {"event_id": event["id"] + 1000})
    assert err.value.translation_key == "not_found"
    with pytest.raises(vol.Invalid):
        await call(hass, "review_event", {"event_id": "latest"})


async def test_search_events(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The server's full-text search finds events by their notes and pages; an empty query is refused."""
    first = await hsi_server.upload_and_wait("Front Door", "front_door")
    second = await hsi_server.upload_and_wait("Front Door", "front_door")
    await call(hass, "review_event", {"event_id": second["id"], "notes": "parcel courier"})

    result = await call(hass, "search_events", {"query": "courier"})
    assert [e["id"] for e in result["events"]] == [second["id"]]
    assert result["events"][0]["notes"] == "parcel courier"
    assert result["next_cursor"] is None

    # Both events' summaries and object types mention the people the detector found.
    result = await call(hass, "search_events", {"query": "person", "limit": 1})
    assert len(result["events"]) == 1 and result["next_cursor"]
    result = await call(hass, "search_events", {"query": "person", "limit": 10})
    assert {e["id"] for e in result["events"]} == {first["id"], second["id"]}
    await assert_signed_thumbnails(hass_client_no_auth, hsi_server, loaded_entry, result["events"])

    assert (await call(hass, "search_events", {"query": "zeppelin"}))["events"] == []
    with pytest.raises(vol.Invalid):
        await call(hass, "search_events", {"query": ""})
    with pytest.raises(vol.Invalid):
        await call(hass, "search_events", {"query": "person", "limit": 0})


async def test_get_events_filters(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Each filter (device → camera, risk level and minimum, reviewed, time range) is applied by the server."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Garage"}, expect=201)
    await load_entry()
    devices = dr.async_get(hass)
    front = devices.async_get_device(identifiers={(DOMAIN, f"{hsi_server.instance_id}_front_door")})
    garage = devices.async_get_device(identifiers={(DOMAIN, f"{hsi_server.instance_id}_garage")})
    assert front is not None and garage is not None

    async def ids(**filters: Any) -> list[int]:
        result = await call(hass, "get_events", filters)
        return [e["id"] for e in result["events"]]

    score, level = event["risk_score"], event["risk_level"]
    started = datetime.fromisoformat(event["started_at"])
    assert await ids() == [event["id"]]
    assert await ids(device_id=front.id) == [event["id"]]
    assert await ids(device_id=garage.id) == []
    assert await ids(risk_level=level) == [event["id"]]
    assert await ids(risk_level=next(x for x in ("low", "critical") if x != level)) == []
    assert await ids(min_risk=score) == [event["id"]]
    if score < 100:
        assert await ids(min_risk=score + 1) == []
    assert await ids(reviewed=False) == [event["id"]]
    assert await ids(reviewed=True) == []
    window = {
        "since": (started - timedelta(minutes=5)).isoformat(),
        "until": (started + timedelta(minutes=5)).isoformat(),
    }
    assert await ids(**window, device_id=front.id, min_risk=score, reviewed=False, limit=10) == [event["id"]]
    assert await ids(since=(started + timedelta(seconds=1)).isoformat()) == []
    assert await ids(until=(started - timedelta(seconds=1)).isoformat()) == []

    second = await hsi_server.upload_and_wait("Front Door", "front_door")
    result = await call(hass, "get_events", {"limit": 1})
    assert [e["id"] for e in result["events"]] == [second["id"]] and result["next_cursor"]


async def test_get_events_local_times(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """`since` / `until` without a time zone (what the action UI's date-time picker sends) are
    Home Assistant's local time, and may be mixed with times that have one."""
    assert hass.config.time_zone != "UTC"  # else local and UTC could not be told apart
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    started = dt_util.parse_datetime(event["started_at"], raise_on_error=True)
    local = dt_util.as_local(started)
    assert local.utcoffset()

    def picker(moment: datetime) -> str:
        """A local time as the date-time picker writes it: no offset, whole seconds."""
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    async def ids(**filters: Any) -> list[int]:
        result = await call(hass, "get_events", filters)
        return [e["id"] for e in result["events"]]

    # Read as UTC, this window would lie hours away from the event.
    window = {"since": picker(local - timedelta(minutes=1)), "until": picker(local + timedelta(minutes=1))}
    assert await ids(**window) == [event["id"]]
    assert await ids(since=picker(local + timedelta(seconds=1))) == []
    assert await ids(until=picker(local - timedelta(seconds=1))) == []
    assert await ids(since=window["since"], until=(started + timedelta(minutes=1)).isoformat()) == [event["id"]]
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"since": (started + timedelta(hours=1)).isoformat(), "until": picker(local)})
    assert err.value.translation_key == "invalid_time_range"

    result = await call(hass, "get_events", window)
    await assert_signed_thumbnails(hass_client_no_auth, hsi_server, loaded_entry, result["events"])


async def test_get_events_validation(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Reversed time ranges, foreign or unknown devices and bad risk levels are refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"since": "2025-02-01T00:00:00", "until": "2025-01-01T00:00:00"})
    assert err.value.translation_key == "invalid_time_range"
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={("other", "x")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"device_id": other.id})
    assert err.value.translation_key == "invalid_device"
    # The hub is this server's device, but not a camera.
    hub = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, loaded_entry.unique_id)})
    assert hub is not None
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"device_id": hub.id})
    assert err.value.translation_key == "invalid_device"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"device_id": "missing"})
    assert err.value.translation_key == "invalid_device"
    with pytest.raises(vol.Invalid):
        await call(hass, "get_events", {"risk_level": "apocalyptic"})
    with pytest.raises(vol.Invalid):
        await call(hass, "get_events", {"min_risk": 101})


async def test_test_rule(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """test_rule returns the server's dry run of a rule; unknown rules are validation errors."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    everything = await hsi_server.create_rule(name="Any person", object_types=["person"])
    cars = await hsi_server.create_rule(name="Cars only", object_types=["car"])

    result = await call(hass, "test_rule", {"rule_id": everything["id"]})
    assert result["rule_id"] == everything["id"]
    (hit,) = result["results"]
    assert (hit["event_id"], hit["matched"], hit["reasons"]) == (event["id"], True, [])
    assert hit["risk_score"] == event["risk_score"] and hit["matched_object_types"] == ["person"]

    result = await call(hass, "test_rule", {"rule_id": cars["id"]})
    (miss,) = result["results"]
    assert miss["event_id"] == event["id"] and miss["matched"] is False
    assert any("car" in reason for reason in miss["reasons"])

    # A dry run raises nothing.
    assert await hsi_server.items("/api/alerts") == []
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "test_rule", {"rule_id": str(uuid.uuid4())})
    assert err.value.translation_key == "not_found"


async def test_analyze_image(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """Any HA camera's snapshot goes through /api/ingest into the real pipeline and becomes an event."""
    picture = tmp_path / "porch.jpg"
    picture.write_bytes(people_photo(1001))
    porch = await local_file_camera(hass, picture, "Porch cam")

    result = await call(hass, "analyze_image", {"entity_id": porch})
    (accepted,) = result["results"]
    assert accepted["entity_id"] == porch and accepted["accepted"] is True
    assert accepted["camera_id"] == "porch_cam" and accepted["status"] == "queued"
    event = await eventually(
        lambda: _oldest_event(hsi_server, "porch_cam"), TIMEOUT, f"an event on porch_cam\n{hsi_server.log_tail()}"
    )
    assert "person" in event["object_types"] and event["detection_ids"]
    detections = await hsi_server.items(f"/api/events/{event['id']}/detections")
    assert {d["object_type"] for d in detections} == {"person"}
    # The server received exactly the picture HA's camera showed.
    assert Path(detections[0]["file_path"]).read_bytes() == picture.read_bytes()

    # The integration's own camera entity for the new server camera (which shows that very picture)
    # works too, under another camera id (a new server camera).
    registry = er.async_get(hass)
    unique_id = f"{loaded_entry.unique_id}_porch_cam_camera"
    await wait_for(lambda: registry.async_get_entity_id("camera", DOMAIN, unique_id), TIMEOUT)
    own = registry.async_get_entity_id("camera", DOMAIN, unique_id)
    assert own is not None and own != porch
    # The UI's entity selector may send the entity's registry id; the server takes spaces in
    # camera ids (normalising "Back Yard" to back_yard).
    own_uuid = registry.async_get(own).id
    result = await call(hass, "analyze_image", {"entity_id": [own_uuid], "camera_id": "Back Yard"})
    (accepted,) = result["results"]
    assert (accepted["entity_id"], accepted["camera_id"]) == (own, "back_yard")
    second = await eventually(
        lambda: _oldest_event(hsi_server, "back_yard"), TIMEOUT, f"an event on back_yard\n{hsi_server.log_tail()}"
    )
    assert "person" in second["object_types"]
    detections = await hsi_server.items(f"/api/events/{second['id']}/detections")
    assert Path(detections[0]["file_path"]).read_bytes() == picture.read_bytes()

    # The same picture again within the dedup window is recognised, not processed twice.
    result = await call(hass, "analyze_image", {"entity_id": porch})
    assert result["results"][0]["accepted"] is False
    assert result["results"][0]["status"] in ("duplicate", "processed")


async def _oldest_event(server: HSIServer, camera_id: str) -> dict[str, Any] | None:
    cameras = {c["id"] for c in await server.items("/api/cameras?limit=100")}
    if camera_id not in cameras:
        return None
    events = await server.events(camera_id)
    return events[-1] if events else None


async def test_analyze_image_errors(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, tmp_path: Path
) -> None:
    """Non-cameras, cameras without a picture, and pictures the server refuses each raise their own error."""
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Garage"}, expect=201)
    await load_entry()

    registry = er.async_get(hass)
    pending = "sensor.home_security_intelligence_pending_alerts"
    for not_a_camera in (pending, registry.async_get(pending).id, uuid.uuid4().hex):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "analyze_image", {"entity_id": not_a_camera})
        assert err.value.translation_key == "not_a_camera"
        assert err.value.translation_placeholders["entity_id"] == not_a_camera

    # The server's garage camera has never uploaded anything: its HA camera has no picture.
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "analyze_image", {"entity_id": "camera.garage"})
    assert err.value.translation_key == "snapshot_failed"

    # A camera whose "picture" is not an image: the server's pipeline refuses it (422).
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    broken_cam = await local_file_camera(hass, broken, "Broken cam")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "analyze_image", {"entity_id": broken_cam})
    assert err.value.translation_key == "rejected"

    # A picture type the server does not take (415).
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 64)
    gif_cam = await local_file_camera(hass, gif, "Gif cam")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "analyze_image", {"entity_id": gif_cam})
    assert err.value.translation_key == "rejected"
    assert "image/gif" in err.value.translation_placeholders["message"]

    with pytest.raises(vol.Invalid):
        await call(hass, "analyze_image", {"entity_id": broken_cam, "camera_id": "../etc"})
    # Nothing reached the pipeline.
    assert {c["id"] for c in await hsi_server.items("/api/cameras")} == {"garage"}


async def test_server_errors(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """A stopped server and a revoked key surface as HomeAssistantError with their own message."""
    _, alert = await event_with_alert(hsi_server)
    # The entry uses a key of its own, so that it can be revoked while the test keeps its key.
    own_key = await hsi_server.request(
        "POST", "/api/keys", json_body={"name": "home-assistant-2"}, expect=201
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "api_key": own_key["key"]},
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await wait_for(lambda: entry.runtime_data.push.connected, TIMEOUT)

        await hsi_server.stop()
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, "acknowledge_alert", {"alert_id": alert["id"]})
        assert not isinstance(err.value, ServiceValidationError)
        assert err.value.translation_key == "cannot_connect"
        await hsi_server.start()

        await hsi_server.request("DELETE", f"/api/keys/{own_key['id']}", expect=200)
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, "acknowledge_alert", {"alert_id": alert["id"]})
        assert not isinstance(err.value, ServiceValidationError)
        assert err.value.translation_key == "invalid_auth"
        stored = await hsi_server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
        assert stored["status"] in ("pending", "delivered")
    finally:
        if entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()


async def test_entry_resolution(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
    load_entry: LoadEntry,
    server_template: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """Unknown or unloaded entries, and ambiguity between two servers, are validation errors."""
    template, api_key = server_template
    second = HSIServer(tmp_path / "second", template, api_key)
    await second.start()
    try:
        event = await second.upload_and_wait("Garage", "garage")
        await load_entry()

        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "get_events", {"config_entry_id": "nope"})
        assert err.value.translation_key == "entry_not_found"
        other = MockConfigEntry(
            domain=DOMAIN, title="Second", unique_id=second.instance_id, data=second.entry_data
        )
        other.add_to_hass(hass)
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "get_events", {"config_entry_id": other.entry_id})
        assert err.value.translation_key == "entry_not_loaded"

        # Two loaded servers: the entry must be named, and then the call goes to that server.
        assert await hass.config_entries.async_setup(other.entry_id)
        await hass.async_block_till_done()
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "get_events", {})
        assert err.value.translation_key == "entry_required"
        result = await call(hass, "get_events", {"config_entry_id": other.entry_id})
        assert [e["id"] for e in result["events"]] == [event["id"]]
        assert result["events"][0]["camera_id"] == "garage"
        result = await call(hass, "get_events", {"config_entry_id": config_entry.entry_id})
        assert result["events"] == []

        # One of them unloaded: calls without an entry go to the other one.
        assert await hass.config_entries.async_unload(other.entry_id)
        result = await call(hass, "get_events", {})
        assert result["events"] == []
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "get_events", {})
        assert err.value.translation_key == "entry_not_loaded"
        await hass.async_block_till_done()
    finally:
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state.recoverable:
                await hass.config_entries.async_unload(entry.entry_id)
        await second.stop()


async def test_get_media_url_signs_media_paths_only(hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry) -> None:
    """Only proxy paths of a loaded server's media are signed; no path, no URL."""
    entry = await load_entry()
    base = f"/api/{DOMAIN}/{entry.entry_id}"
    signed = await call(hass, "get_media_url", {"path": f"{base}/events/7/clip"})
    assert signed["url"].startswith(f"{base}/events/7/clip?authSig=") and signed["expires_at"]
    assert await call(hass, "get_media_url", {"path": None}) == {"url": None, "expires_at": None}
    assert await call(hass, "get_media_url", {}) == {"url": None, "expires_at": None}
    for path in (
        f"{base}/system/stats",
        f"{base}/cameras/../snapshot",
        f"{base}/events/7/clip?authSig=x",
        f"/api/{DOMAIN}/unknown/events/7/clip",
        "/api/camera_proxy/camera.front",
        f"/api/{DOMAIN}/{entry.entry_id}",
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "get_media_url", {"path": path})
        assert err.value.translation_key == "not_media_path", path
