"""Deleting a camera device while the entry is not loaded (the server down, the entry retrying setup):
an answer from the integration, not an internal error. A review's finding: the integration read the
entry's runtime data, which an entry that is not loaded has none of ('Unknown error', a traceback)."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component

from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.helpers import camera_identifier, hub_identifier

from .hsi_server import free_port


async def test_a_camera_device_can_be_deleted_while_the_server_is_down_and_the_hub_cannot(
    hass: HomeAssistant, socket_enabled: None, hass_ws_client: Any
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home Security Intelligence",
        unique_id="0123456789abcdef0123456789abcdef",
        data={"host": "127.0.0.1", "port": free_port(), "ssl": False, "verify_ssl": True, "api_key": "k"},
    )  # nothing listens on its port
    entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    camera = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={camera_identifier(str(entry.unique_id), "garage")},
        name="Garage",
    )
    hub = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={hub_identifier(str(entry.unique_id))}, name="HSI"
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    answers = []
    for device in (camera, hub):
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": entry.entry_id,
                "device_id": device.id,
            }
        )
        answers.append(await client.receive_json())
    assert answers[0]["success"], answers[0]  # a camera device: it comes back if the server still has it
    assert not answers[1]["success"] and answers[1]["error"]["code"] != "unknown_error", answers[1]
    assert registry.async_get(camera.id) is None and registry.async_get(hub.id) is not None
