"""Notification buttons: an alert notification's Acknowledge and Dismiss act on the server by themselves.

The notification blueprint (and any automation of the user's) names its buttons
``HSI_ACK_<alert id>`` and ``HSI_DISMISS_<alert id>``; the Companion app fires
``mobile_app_notification_action`` when one is tapped. The integration answers that event itself,
for every server, instead of an automation run waiting for the tap: such a run waited up to 30
minutes per notification (so the blueprint's 21st alert in that time was not notified at all), a
notification replaced with the AI's text had no run behind its buttons, and a restart of Home
Assistant ended every wait.
"""

from __future__ import annotations

from typing import Literal, cast
import uuid

from homeassistant.core import Event, HomeAssistant, callback

from .api import HSIError, HSINotFoundError
from .const import DOMAIN, LOGGER
from .coordinator import HSICoordinator

#: The Companion app's event for a tapped notification button.
NOTIFICATION_ACTION_EVENT = "mobile_app_notification_action"
#: Button action ids: the prefix says what to do with the alert whose id follows.
ACTION_PREFIXES: dict[str, Literal["acknowledge", "dismiss"]] = {
    "HSI_ACK_": "acknowledge",
    "HSI_DISMISS_": "dismiss",
}


@callback
def async_setup_notification_actions(hass: HomeAssistant) -> None:
    """Answer the buttons of alert notifications (once, whatever the number of servers)."""

    async def _tapped(event: Event) -> None:
        action = str(event.data.get("action") or "")
        for prefix, verb in ACTION_PREFIXES.items():
            if action.startswith(prefix):
                await _act(hass, action.removeprefix(prefix), verb)
                return

    hass.bus.async_listen(NOTIFICATION_ACTION_EVENT, _tapped)


async def _act(hass: HomeAssistant, alert_id: str, verb: Literal["acknowledge", "dismiss"]) -> None:
    """Acknowledge or dismiss the alert on the server that has it (alert ids are UUIDs: one does)."""
    try:
        uuid.UUID(alert_id)
    except ValueError:
        LOGGER.debug("Ignoring a notification button for %r: not an alert id", alert_id)
        return
    errors: list[str] = []
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        client = cast(HSICoordinator, entry.runtime_data).client
        try:
            await client.alert_action(alert_id, verb)
        except HSINotFoundError:
            continue  # another server's alert
        except HSIError as err:  # this server may be down; another may have the alert
            errors.append(f"{client.base_url}: {err}")
            continue
        return  # the server publishes the change; the push applies it
    LOGGER.warning(
        "Could not %s alert %s from its notification: %s",
        verb,
        alert_id,
        "; ".join(errors) or "no server has it",
    )
