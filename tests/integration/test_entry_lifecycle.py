"""Setup, reload, unload and key changes of an entry against a real server: a revoked key starts one
reauth that recovers; two reloads at once and an unload while the push connects end clean; a new key
by reconfigure or by discovery reloads the entry (a review's checks, passing: kept as regression tests)."""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .hsi_server import HSIServer


async def test_setup_with_revoked_key_starts_reauth_and_recovers(
    hass: HomeAssistant, hsi_server: HSIServer
) -> None:
    created = await hsi_server.request("POST", "/api/keys", json_body={"name": "old"}, expect=201)
    await hsi_server.request("DELETE", f"/api/keys/{created['id']}", expect=200)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "api_key": created["key"]},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = [f for f in hass.config_entries.flow.async_progress() if f["context"]["source"] == SOURCE_REAUTH]
    assert len(flows) == 1
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"api_key": hsi_server.api_key}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(lambda: entry.runtime_data.push.connected, 10)


async def test_reload_twice_quickly_and_unload_while_connecting(
    hass: HomeAssistant, hsi_server: HSIServer
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=hsi_server.instance_id, data=hsi_server.entry_data)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # Unload right away: the push task is still connecting.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert await hass.config_entries.async_setup(entry.entry_id)
    results = await asyncio.gather(
        hass.config_entries.async_reload(entry.entry_id),
        hass.config_entries.async_reload(entry.entry_id),
    )
    await hass.async_block_till_done()
    assert all(results)
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(lambda: entry.runtime_data.push.connected, 10)


async def test_reconfigure_loaded_entry_with_new_key(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    entry = MockConfigEntry(domain=DOMAIN, unique_id=hsi_server.instance_id, data=hsi_server.entry_data)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: entry.runtime_data.push.connected, 10)
    created = await hsi_server.request("POST", "/api/keys", json_body={"name": "new"}, expect=201)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**hsi_server.entry_data, "api_key": created["key"]}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["api_key"] == created["key"]
    await wait_for(lambda: entry.runtime_data.push.connected, 10)


async def test_discovery_of_loaded_entry_new_key(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """Discovery carrying a different (valid) key for a loaded entry: updated and reloaded."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id=hsi_server.instance_id, data=hsi_server.entry_data)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    created = await hsi_server.request("POST", "/api/keys", json_body={"name": "addon"}, expect=201)
    info = HassioServiceInfo(
        config={"host": "127.0.0.1", "port": hsi_server.port, "api_key": created["key"], "ssl": False},
        name="HSI add-on",
        slug="hsi",
        uuid="1",
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_HASSIO}, data=info)
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["api_key"] == created["key"]
