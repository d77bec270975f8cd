"""Diagnostics (key redacted) and repair issues (unreachable, CPU fallback, version)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.coordinator import version_compatible

from .fake_server import API_KEY, FakeServer


async def test_diagnostics_redact_key(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Diagnostics hold the server's view but never the API key."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert API_KEY not in str(diagnostics)
    assert diagnostics["health"]["version"] == "0.1.0"
    assert {c["id"] for c in diagnostics["cameras"]} == {"front_door", "garage"}
    assert diagnostics["push_connected"] is True
    assert "person" in diagnostics["activity"]["front_door"]


async def test_cpu_fallback_issue(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A detector on CPU fallback raises a warning issue that clears when the GPU is back."""
    registry = ir.async_get(hass)
    issue_id = f"detector_cpu_fallback_{loaded_entry.entry_id}"
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    server.health["components"]["detector"].update(fallback=True, device="cpu", backend="hog")
    await loaded_entry.runtime_data.async_refresh()
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders["backend"] == "hog"
    server.health["components"]["detector"]["fallback"] = False
    await loaded_entry.runtime_data.async_refresh()
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_version_issue(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A server of another major version raises an error issue (also when pushed)."""
    registry = ir.async_get(hass)
    issue_id = f"server_version_incompatible_{loaded_entry.entry_id}"
    loaded_entry.runtime_data.async_handle_message("system.status", {**server.health, "version": "1.0.0"})
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.translation_placeholders["version"] == "1.0.0"
    await loaded_entry.runtime_data.async_refresh()
    assert registry.async_get_issue(DOMAIN, issue_id) is None


def test_version_compatible() -> None:
    """Same major, not older than the minimum; garbage is incompatible."""
    assert version_compatible("0.1.0")
    assert version_compatible("0.3.2-dev1")
    assert not version_compatible("0.0.9")
    assert not version_compatible("1.0.0")
    assert not version_compatible("banana")


async def test_unreachable_issue_after_15_minutes(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    server: FakeServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Short outages raise nothing; a long one raises an issue; recovery removes it."""
    registry = ir.async_get(hass)
    issue_id = f"server_unreachable_{loaded_entry.entry_id}"
    coordinator = loaded_entry.runtime_data
    server.fail[("GET", "/api/system/health")] = lambda: web.Response(status=503)
    await coordinator.async_refresh()
    freezer.tick(timedelta(minutes=5))
    await coordinator.async_refresh()
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    freezer.tick(timedelta(minutes=11))
    await coordinator.async_refresh()
    assert registry.async_get_issue(DOMAIN, issue_id) is not None
    server.fail.clear()
    await coordinator.async_refresh()
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_issues_removed_with_entry(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Removing the server removes its repair issues."""
    server.health["components"]["detector"]["fallback"] = True
    await loaded_entry.runtime_data.async_refresh()
    assert ir.async_get(hass).issues
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN]


async def test_setup_retries_when_unreachable(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """Setup is retried later when the server does not answer (test-before-setup)."""
    server.fail[("GET", "/api/system/stats")] = lambda: web.Response(status=503)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_starts_reauth_on_bad_key(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: FakeServer
) -> None:
    """A rejected key fails setup and opens the reauth flow."""
    server.api_key = "rotated"
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
