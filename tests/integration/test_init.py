"""Setup and unload against a real server."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import state, wait_for
from .hsi_server import HSIServer


async def test_setup_and_unload(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Setup creates the hub and camera devices with their entities; unload ends it."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: config_entry.runtime_data.push.connected)

    assert config_entry.state is ConfigEntryState.LOADED
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), config_entry.entry_id)
    assert {d.name for d in devices} == {"Home Security Intelligence", "Front Door"}
    assert state(hass, "sensor.front_door_risk_score") == str(event["risk_score"])

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    assert state(hass, "sensor.front_door_risk_score") == "unavailable"
