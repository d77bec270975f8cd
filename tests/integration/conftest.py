"""Fixtures: a fake server on 127.0.0.1 and a config entry pointing at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN
from homeassistant.core import HomeAssistant

from .fake_server import API_KEY, INSTANCE_ID, FakeServer


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ in every test."""


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[FakeServer]:
    """A running fake server."""
    fake = FakeServer()
    await fake.start()
    yield fake
    await fake.close()


def entry_data(server: FakeServer, **overrides: Any) -> dict[str, Any]:
    """Config entry data for the fake server."""
    return {"host": "127.0.0.1", "port": server.port, "ssl": False, "api_key": API_KEY, **overrides}


@pytest.fixture
def config_entry(server: FakeServer) -> MockConfigEntry:
    """An entry for the fake server (not yet added)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home Security Intelligence",
        unique_id=INSTANCE_ID,
        data=entry_data(server),
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> AsyncGenerator[MockConfigEntry]:
    """The entry set up, with its WebSocket connected; unloaded afterwards."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await asyncio.wait_for(server.ws_connected.wait(), 5)
    yield config_entry
    if hass.config_entries.async_get_entry(config_entry.entry_id) and config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until a condition holds (for work done by the WebSocket task)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
