"""Fixtures: a real HSI server process per test, and a config entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .hsi_server import HSIServer, eventually, make_template


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ in every test."""


@pytest.fixture(scope="session")
def server_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One initialised server data directory (and its API key) that every server starts from."""
    directory = tmp_path_factory.mktemp("hsi-template")
    return directory, make_template(directory)


@pytest.fixture
def server_settings() -> dict[str, str]:
    """Extra HSI_* settings for the test's server; override in a module to change them."""
    return {}


@pytest.fixture
def server_default_rules() -> bool:
    """Whether the test's server keeps the default alert rules of a first start; override to keep."""
    return False


@pytest.fixture
async def hsi_server(
    hass: HomeAssistant,
    socket_enabled: None,
    tmp_path: Path,
    server_template: tuple[Path, str],
    server_settings: dict[str, str],
    server_default_rules: bool,
) -> AsyncGenerator[HSIServer]:
    """A running server of this test's own; entries still loaded at the end (a test that failed
    half-way) are unloaded before it stops, so nothing reconnects to a vanishing server."""
    template, api_key = server_template
    server = HSIServer(
        tmp_path / "hsi", template, api_key, default_rules=server_default_rules, **server_settings
    )
    try:
        await server.start()
        yield server
    finally:
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await server.stop()


@pytest.fixture
def config_entry(hsi_server: HSIServer) -> MockConfigEntry:
    """An entry for the test's server (not yet added)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home Security Intelligence",
        unique_id=hsi_server.instance_id,
        data=hsi_server.entry_data,
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The entry set up, with its WebSocket connected; unloaded afterwards."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: config_entry.runtime_data.push.connected, 10)
    yield config_entry
    if hass.config_entries.async_get_entry(config_entry.entry_id) and config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll until a condition on Home Assistant's side holds (work done by the push channel)."""

    async def probe() -> bool:
        return bool(condition())

    await eventually(probe, timeout, "the condition")


def state(hass: HomeAssistant, entity_id: str) -> str | None:
    """An entity's state, or None when it does not exist."""
    current = hass.states.get(entity_id)
    return None if current is None else current.state


@pytest.fixture
async def load_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncGenerator[Callable[[], Awaitable[MockConfigEntry]]]:
    """`await load_entry()` sets the entry up later in the test (after preparing the server) like
    `loaded_entry` does, and unloads it afterwards."""

    async def load() -> MockConfigEntry:
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await wait_for(lambda: config_entry.runtime_data.push.connected)
        return config_entry

    yield load
    if hass.config_entries.async_get_entry(config_entry.entry_id) and config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()
