"""The push channel: subscribe, reconnect with backoff, catch up, reauth on a rejected key."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .fake_server import FakeServer

FAST = patch("custom_components.home_security_intelligence.coordinator.WS_BACKOFF_INITIAL", 0.01)


async def test_subscribes_to_every_type(loaded_entry: MockConfigEntry, server: FakeServer) -> None:
    """The first message asks for every resource type."""
    assert server.ws_received[0] == {
        "type": "subscribe",
        "data": {"types": ["event.created", "event.updated", "alert.created", "alert.updated",
                           "detection.created", "camera.updated", "system.status"]},
    }


async def test_reconnects_and_catches_up(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer, caplog: Any
) -> None:
    """A dropped socket is reopened; missed changes come in through a REST refresh; logged once each."""
    caplog.set_level(logging.INFO, logger="custom_components.home_security_intelligence")
    with FAST:
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await asyncio.wait_for(server.ws_connected.wait(), 5)
        server.cameras["front_door"]["last_event"]["risk_score"] = 99
        await server.drop_websockets()
        await asyncio.wait_for(server.ws_connected.wait(), 5)
        await wait_for(lambda: hass.states.get("sensor.front_door_risk_score").state == "99")
        assert caplog.text.count("Lost the push connection") == 1
        assert caplog.text.count("Push connection to") == 1
        assert config_entry.runtime_data.ws_connected is True
        await hass.config_entries.async_unload(config_entry.entry_id)


async def test_backoff_while_refused(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer, caplog: Any
) -> None:
    """Refused handshakes are retried (logged once) until the server accepts again."""
    server.ws_status = 503
    with FAST:
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await wait_for(lambda: len(server.calls("GET", "/api/ws")) >= 3)
        assert caplog.text.count("Lost the push connection") == 1
        server.ws_status = None
        await asyncio.wait_for(server.ws_connected.wait(), 5)
        await hass.config_entries.async_unload(config_entry.entry_id)


async def test_rejected_key_starts_reauth(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A 401 on the socket stops retrying and asks the user for a new key."""
    server.ws_status = 401
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["source"] == "reauth"
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_bad_messages_are_ignored(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Non-JSON, unknown types and malformed payloads change nothing; good ones still apply."""
    for ws in server.ws_clients:
        await ws.send_str("not json")
        await ws.send_json({"type": "ping"})
        await ws.send_json({"type": "camera.updated", "data": "oops"})
        await ws.send_json({"type": "mystery", "data": {}})
    await server.push("camera.updated", {"id": "garage", "name": "Garage", "status": "online"})
    await wait_for(lambda: hass.states.get("binary_sensor.garage_connectivity").state == "on")
