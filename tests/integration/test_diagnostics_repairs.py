"""Diagnostics (key redacted) and repair issues (unreachable, CPU fallback, version), against a
real server: the CPU fallback is a server started with ``HSI_DETECTOR=auto`` and no model, an
outage is the server stopped, a rejected key is one the server issued and then revoked."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
import pytest

from homeassistant.components.diagnostics import REDACTED
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.coordinator import HSICoordinator
from custom_components.home_security_intelligence.server_issues import version_compatible

from .conftest import wait_for
from .hsi_server import HSIServer

#: A server told to use a model it cannot find: it detects with its packaged default instead.
DETECTOR_FALLBACK = {"HSI_DETECTOR_MODEL": "/nowhere/rtdetr_v2"}



def our_issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    """This integration's repair issues by id."""
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }


async def revoked_key(server: HSIServer) -> str:
    """A key the server issued and then revoked: the server now answers it with 401."""
    created = await server.request("POST", "/api/keys", json_body={"name": "old"}, expect=201)
    await server.request("DELETE", f"/api/keys/{created['id']}", expect=200)
    return str(created["key"])


async def test_diagnostics_redact_key(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Diagnostics hold the server's view (health, cameras, activity, push state) but never the key,
    nor the webhook URLs of alert rules (they often carry a token)."""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    hook = "https://hooks.example.com/services/T0KEN-IN-THE-PATH"
    rule = await hsi_server.create_rule(channels=["ha", "webhook"], webhook={"url": hook, "secret": "s" * 16})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(lambda: config_entry.runtime_data.push.connected)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert hsi_server.api_key not in str(diagnostics)
    health = await hsi_server.request("GET", "/api/system/health", key=None)
    assert diagnostics["health"]["version"] == health["version"]
    assert diagnostics["health"]["instance_id"] == hsi_server.instance_id
    assert [c["id"] for c in diagnostics["cameras"]] == ["front_door"]
    # Finding: folder paths and the health report went out unredacted.
    assert diagnostics["cameras"][0]["folder_path"] == REDACTED
    assert str(hsi_server.root) not in str(diagnostics)
    assert diagnostics["push_connected"] is True
    assert diagnostics["last_update_success"] is True
    assert "person" in diagnostics["activity"]["front_door"]
    assert "T0KEN" not in str(diagnostics)
    assert [r["id"] for r in diagnostics["rules"]] == [rule["id"]]
    assert diagnostics["rules"][0]["webhook"] == {"url": REDACTED, "has_secret": True}
    (subentry,) = diagnostics["entry"]["subentries"]
    assert subentry["data"]["webhook"] == {"url": REDACTED, "has_secret": True}
    # A server running the detector it was asked for raises no repair issue.
    assert our_issues(hass) == {}


@pytest.mark.parametrize("server_settings", [DETECTOR_FALLBACK])
async def test_detector_fallback_issue(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """A server not running the detector it was configured for raises a warning issue saying which
    one runs and why; it clears once the server runs the detector it was configured for."""
    # With the key, as the integration asks: the open report leaves out why (its paths).
    detector = (await hsi_server.request("GET", "/api/system/health"))["components"]["detector"]
    assert detector["fallback"] is True
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    issue = our_issues(hass).get(f"detector_fallback_{config_entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["backend"] == detector["backend"] == "ssd_mobilenet"
    assert issue.translation_placeholders["reason"] == detector["reason"]
    # What the issue tells the user is what the server says: which model runs instead, and why.
    translations = await async_get_translations(hass, "en", "issues", {DOMAIN})
    text = translations[f"component.{DOMAIN}.issues.detector_fallback.description"].format(
        **issue.translation_placeholders
    )
    assert "HSI_DETECTOR_MODEL=/nowhere/rtdetr_v2 does not exist" in text
    assert "ssd_mobilenet instead" in text and "detector_model" in text

    # The operator fixes the configuration and restarts the server; HA reloads the entry.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hsi_server.stop()
    del hsi_server.settings["HSI_DETECTOR_MODEL"]
    await hsi_server.start()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert our_issues(hass) == {}


@pytest.mark.parametrize("server_settings", [DETECTOR_FALLBACK])
async def test_diagnostics_redact_what_a_pushed_status_says(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A review's finding: a `system.status` push (the stats and the health summary in one message)
    was merged whole into the stats, which diagnostics show as they are: the health's texts (the
    detector's reason, naming the model path) went out unredacted. The message here is the server's
    own figures, read over REST and pushed as the server pushes them."""
    stats = await hsi_server.request("GET", "/api/system/stats")
    health = await hsi_server.request("GET", "/api/system/health")
    assert DETECTOR_FALLBACK["HSI_DETECTOR_MODEL"] in str(health["components"])
    pushed = {**stats, **{key: health[key] for key in ("status", "version", "instance_id", "components")}}
    loaded_entry.runtime_data.push.async_handle_message("system.status", pushed)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert diagnostics["stats"] == stats  # the stats, and only them
    assert DETECTOR_FALLBACK["HSI_DETECTOR_MODEL"] not in str(diagnostics)


@pytest.mark.parametrize("server_settings", [{"HSI_MEDIA_MIN_FREE_PERCENT": "90"}])
async def test_media_disk_low_issue(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """A server whose media disk has less free space than it keeps raises a warning issue (its disk
    guard removes the oldest media meanwhile); the issue clears once the server has room again."""
    storage = (await hsi_server.request("GET", "/api/system/health"))["components"]["storage"]
    if storage["free_percent"] >= 90:
        pytest.skip("this machine's disk is more than 90 % free")
    assert storage["status"] == "degraded"
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    issue = our_issues(hass).get(f"media_disk_low_{config_entry.entry_id}")
    assert issue is not None and issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"title": config_entry.title, "minimum": "90"}
    translations = await async_get_translations(hass, "en", "issues", {DOMAIN})
    text = translations[f"component.{DOMAIN}.issues.media_disk_low.description"].format(
        **issue.translation_placeholders
    )
    assert "less than 90% free" in text and "oldest media" in text and "retention_days" in text

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hsi_server.stop()
    hsi_server.settings["HSI_MEDIA_MIN_FREE_PERCENT"] = "0"
    await hsi_server.start()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert our_issues(hass) == {}


async def test_version_issue(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """The real server's version is supported (no issue). A server of another major version
    cannot be run here, so a health report naming one goes straight into the coordinator's
    message handler as a `system.status` push (which carries the server's health summary along
    with its stats): an error issue appears, and the next read of the real server clears it."""
    health = await hsi_server.request("GET", "/api/system/health", key=None)
    assert version_compatible(health["version"])
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"server_version_incompatible_{config_entry.entry_id}"
    assert issue_id not in our_issues(hass)

    coordinator: HSICoordinator = config_entry.runtime_data
    coordinator.push.async_handle_message("system.status", {**health, "version": "1.0.0"})
    issue = our_issues(hass).get(issue_id)
    assert issue is not None and issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["version"] == "1.0.0"

    await coordinator.async_refresh()
    assert issue_id not in our_issues(hass)


def test_version_compatible() -> None:
    """Same major, not older than the minimum; garbage is incompatible."""
    assert version_compatible("0.1.0")
    assert version_compatible("0.3.2-dev1")
    assert not version_compatible("0.0.9")
    assert not version_compatible("1.0.0")
    assert not version_compatible("banana")


async def test_unreachable_issue_after_15_minutes(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
) -> None:
    """The server goes down: a short outage raises nothing, a long one raises an error issue,
    and the server coming back removes it."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator: HSICoordinator = config_entry.runtime_data
    issue_id = f"server_unreachable_{config_entry.entry_id}"

    await hsi_server.stop()
    # Wall-clock time is frozen only now: the event loop's clock freezes with it, and stopping
    # the server (an asyncio wait) needs it running.
    with freeze_time(dt_util.utcnow()) as frozen:
        await coordinator.async_refresh()
        assert coordinator.last_update_success is False
        frozen.tick(timedelta(minutes=5))
        await coordinator.async_refresh()
        assert issue_id not in our_issues(hass)
        frozen.tick(timedelta(minutes=11))
        await coordinator.async_refresh()
        issue = our_issues(hass).get(issue_id)
        assert issue is not None and issue.severity is ir.IssueSeverity.ERROR
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["url"] == hsi_server.url

    await hsi_server.start()
    await coordinator.async_refresh()
    assert coordinator.last_update_success is True
    assert issue_id not in our_issues(hass)


@pytest.mark.parametrize("server_settings", [DETECTOR_FALLBACK])
async def test_issues_removed_with_entry(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Disabling the server in HA removes its repair issues (a disabled entry reads its server no
    more: they could neither stay current nor clear; they stayed before); enabling it raises again
    those that still apply; removing the server removes them."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"detector_fallback_{config_entry.entry_id}"
    assert issue_id in our_issues(hass)
    # A reload keeps them (and so whether the user chose to ignore one).
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_id in our_issues(hass)

    assert await hass.config_entries.async_set_disabled_by(config_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert our_issues(hass) == {}
    assert await hass.config_entries.async_set_disabled_by(config_entry.entry_id, None)
    await hass.async_block_till_done()
    await wait_for(lambda: issue_id in our_issues(hass), 30)

    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert our_issues(hass) == {}


async def test_setup_retries_when_unreachable(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Setup is retried later when the server does not answer (test-before-setup), and succeeds
    once it is back."""
    await hsi_server.stop()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY

    await hsi_server.start()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
    await wait_for(lambda: config_entry.state is ConfigEntryState.LOADED, 30)


async def test_setup_starts_reauth_on_bad_key(
    hass: HomeAssistant, hsi_server: HSIServer
) -> None:
    """A revoked key fails setup and opens the reauth flow (no retries)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "api_key": await revoked_key(hsi_server)},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
