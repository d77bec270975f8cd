"""Setup, unload, retry, reauth trigger, imports, stale devices and the push channel."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .fake_server import INSTANCE_ID, FakeServer


async def test_setup_and_unload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Setup creates the hub and camera devices with their entities; unload ends it."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), loaded_entry.entry_id)
    assert {d.name for d in devices} == {"Home Security Intelligence", "Front door", "Garage"}
    assert hass.states.get("sensor.front_door_risk_score").state == "72"
    assert server.ws_received[0]["type"] == "subscribe"
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.front_door_risk_score").state == "unavailable"
