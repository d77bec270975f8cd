"""Diagnostics: what the integration sees of the server, with secrets and the host's layout redacted.

Diagnostics get pasted into public issue trackers: the key and webhook URLs (tokens), folder and
file paths (user names, the layout of the host) and the health report's texts (errors quote
URLs with credentials, model paths) are redacted; states, backends and counts stay.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_API_KEY
from .coordinator import HSIConfigEntry

# Webhook URLs of alert rules (`webhook.url`, in subentry data and in the server's rules) often
# carry a token (Slack, Discord, Home Assistant webhook ids).
TO_REDACT = {
    CONF_API_KEY, "api_key", "url", "folder_path", "clip_path", "file_path", "thumbnail_path"
}
# Of the health report, what describes more than a component's state.
HEALTH_REDACT = TO_REDACT | {"error", "last_error", "reason", "model", "workers", "name"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HSIConfigEntry
) -> dict[str, Any]:
    """Entry, subentries, server health/stats, cameras and rules, and the push state."""
    coordinator = entry.runtime_data
    data = coordinator.data
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "push_connected": coordinator.push.connected,
        "last_update_success": coordinator.last_update_success,
        "health": async_redact_data(data.health, HEALTH_REDACT),
        "stats": data.stats,
        "cameras": async_redact_data(list(data.cameras.values()), TO_REDACT),
        "rules": async_redact_data(list(data.rules.values()), TO_REDACT),
        "activity": {
            camera_id: {key: value.isoformat() for key, value in seen.items()}
            for camera_id, seen in data.activity.items()
        },
    }
