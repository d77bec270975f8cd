"""Which `alert.updated` is the refinement is read from the message, not remembered.

A review's finding: it was remembered in memory only (push.py `_refined_alerts`), so after the entry
reloaded (or HA restarted), the next status change of an alert refined before (its acknowledgement)
was announced again as `action: refined`. The server now marks the refinement (`metadata.refined_at`
is that update's `updated_at`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.home_security_intelligence.const import DOMAIN, EVENT_ALERT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from .conftest import wait_for
from .hsi_server import HSIServer
from .test_end_to_end import tiny_gguf  # noqa: F401 - the module-scoped fixture


@pytest.fixture
def server_settings(tiny_gguf: Path) -> dict[str, str]:  # noqa: F811
    """Real refinements: llama.cpp on the tiny model after the rules scorer's first assessment."""
    return {"HSI_LLM": "llama_cpp", "HSI_LLM_MODEL": str(tiny_gguf)}


async def test_acknowledging_a_refined_alert_after_a_reload_is_no_refinement(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    await hsi_server.create_rule(severity="high")
    alerts = async_capture_events(hass, EVENT_ALERT)
    hsi_server.upload("Front Door")
    await wait_for(lambda: [e for e in alerts if e.data["action"] == "refined"], 120)
    alert_id = next(e.data["id"] for e in alerts if e.data["action"] == "refined")

    # Any reload: a reconfigure, a reauth, the user's "Reload", a Home Assistant restart.
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: loaded_entry.runtime_data.push.connected, 30)
    alerts.clear()

    await hass.services.async_call(
        DOMAIN, "acknowledge_alert", {"alert_id": alert_id}, blocking=True, return_response=True
    )
    await wait_for(lambda: [e for e in alerts if e.data["id"] == alert_id], 30)
    (update,) = [e.data for e in alerts if e.data["id"] == alert_id]
    assert update["status"] == "acknowledged"
    assert (update["action"], update["refined"]) == ("updated", False), (update["action"], update["refined"])
