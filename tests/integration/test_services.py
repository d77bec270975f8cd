"""Actions: success paths, each validation error, server errors, entry resolution."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from unittest.mock import patch

from aiohttp import web
import pytest
import voluptuous as vol

from homeassistant.components.camera import Image
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .fake_server import INSTANCE_ID, JPEG, FakeServer


async def call(hass: HomeAssistant, service: str, data: dict[str, Any], response: bool = True) -> Any:
    """Call one of the integration's actions, blocking."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_acknowledge_and_dismiss(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Alerts change status on the server; unknown alerts are a validation error."""
    result = await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert result["alert"]["status"] == "acknowledged"
    assert server.alerts["a1"]["status"] == "acknowledged"
    await call(hass, "dismiss_alert", {"alert_id": "a1", "config_entry_id": loaded_entry.entry_id}, response=False)
    assert server.alerts["a1"]["status"] == "dismissed"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "dismiss_alert", {"alert_id": "nope"})
    assert err.value.translation_key == "not_found"


async def test_review_event(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Review with notes; refused notes and unknown events are validation errors."""
    result = await call(hass, "review_event", {"event_id": 10, "notes": "the postman"})
    assert result["event"]["reviewed"] is True
    assert server.events[10]["notes"] == "the postman"
    await call(hass, "review_event", {"event_id": 10, "reviewed": False}, response=False)
    assert server.events[10]["reviewed"] is False
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "review_event", {"event_id": 10, "notes": "x" * 101})
    assert err.value.translation_key == "rejected"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "review_event", {"event_id": 404})
    assert err.value.translation_key == "not_found"


async def test_search_events(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Search returns the matching events; an empty query is refused by the schema."""
    result = await call(hass, "search_events", {"query": "event 11", "limit": 5})
    assert [e["id"] for e in result["events"]] == [11]
    assert server.calls("GET", "/api/events/search")[-1] == {"q": "event 11", "limit": "5"}
    with pytest.raises(vol.Invalid):
        await call(hass, "search_events", {"query": ""})


async def test_get_events_filters(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Filters (device → camera, risk, reviewed, time range) reach the server."""
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, f"{INSTANCE_ID}_front_door")})
    result = await call(
        hass,
        "get_events",
        {
            "device_id": device.id,
            "min_risk": 50,
            "reviewed": False,
            "since": "2025-01-01T00:00:00+00:00",
            "until": "2030-01-01T00:00:00+00:00",
            "limit": 10,
        },
    )
    assert [e["id"] for e in result["events"]] == [10]
    query = server.calls("GET", "/api/events")[-1]
    assert query["camera_id"] == "front_door"
    assert query["reviewed"] == "false"
    assert query["since"].startswith("2025-01-01T00:00:00")
    result = await call(hass, "get_events", {"risk_level": "low"})
    assert [e["id"] for e in result["events"]] == [11]


async def test_get_events_validation(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Reversed time ranges, foreign devices and bad risk levels are refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"since": "2025-02-01T00:00:00", "until": "2025-01-01T00:00:00"})
    assert err.value.translation_key == "invalid_time_range"
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={("other", "x")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_events", {"device_id": other.id})
    assert err.value.translation_key == "invalid_device"
    with pytest.raises(ServiceValidationError):
        await call(hass, "get_events", {"device_id": "missing"})
    with pytest.raises(vol.Invalid):
        await call(hass, "get_events", {"risk_level": "apocalyptic"})


async def test_test_rule(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """test_rule returns the server's evaluation; unknown rules are a validation error."""
    server.rules["r1"] = {"id": "r1", "name": "x"}
    result = await call(hass, "test_rule", {"rule_id": "r1"})
    assert result == {"rule_id": "r1", "results": [{"event_id": 10, "matched": True, "reasons": ["risk 72 >= 50"]}]}
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "test_rule", {"rule_id": "missing"})
    assert err.value.translation_key == "not_found"


async def test_analyze_image(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Any HA camera's snapshot is pushed to /api/ingest, under its own or a given camera id."""
    result = await call(hass, "analyze_image", {"entity_id": "camera.front_door"})
    assert result["results"] == [
        {"entity_id": "camera.front_door", "accepted": True, "camera_id": "front_door", "file": "upload.jpg"}
    ]
    assert server.bodies[-1] == ("front_door", "image/jpeg", JPEG)
    await call(hass, "analyze_image", {"entity_id": ["camera.front_door"], "camera_id": "porch"}, response=False)
    assert server.bodies[-1][0] == "porch"


async def test_analyze_image_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Non-cameras, failing snapshots and refused images each raise their own error."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "analyze_image", {"entity_id": "sensor.front_door_risk_score"})
    assert err.value.translation_key == "not_a_camera"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "analyze_image", {"entity_id": "camera.garage"})  # no snapshot
    assert err.value.translation_key == "snapshot_failed"
    with (
        patch(
            "custom_components.home_security_intelligence.services.async_get_image",
            return_value=Image("image/jpeg", b""),
        ),
        pytest.raises(ServiceValidationError) as err,
    ):
        await call(hass, "analyze_image", {"entity_id": "camera.front_door"})
    assert err.value.translation_key == "rejected"
    with pytest.raises(vol.Invalid):
        await call(hass, "analyze_image", {"entity_id": "camera.front_door", "camera_id": "../etc"})


async def test_server_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Unreachable server and rejected key surface as HomeAssistantError."""
    server.fail[("POST", "/api/alerts/a1/acknowledge")] = lambda: web.Response(status=503)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert err.value.translation_key == "cannot_connect"
    server.fail.clear()
    server.api_key = "rotated"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert err.value.translation_key == "invalid_auth"
    server.api_key = loaded_entry.data["api_key"]
    server.fail[("POST", "/api/alerts/a1/acknowledge")] = lambda: web.json_response(
        {"error": {"code": "teapot", "message": "I'm a teapot"}}, status=418
    )
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert err.value.translation_key == "cannot_connect"
    assert "teapot" in str(err.value.translation_placeholders)


async def test_entry_resolution(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Unknown or unloaded entries, and ambiguity between servers, are validation errors."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1", "config_entry_id": "nope"})
    assert err.value.translation_key == "entry_not_found"
    other = MockConfigEntry(domain=DOMAIN, unique_id="other", data={})
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1", "config_entry_id": other.entry_id})
    assert err.value.translation_key == "entry_not_loaded"
    # Two loaded servers: the entry must be named.
    object.__setattr__(other, "state", loaded_entry.state)
    other.runtime_data = loaded_entry.runtime_data
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert err.value.translation_key == "entry_required"
    object.__setattr__(other, "state", type(loaded_entry.state).NOT_LOADED)
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "acknowledge_alert", {"alert_id": "a1"})
    assert err.value.translation_key == "entry_not_loaded"
