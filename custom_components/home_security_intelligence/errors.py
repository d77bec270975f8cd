"""The one translated error for "the server could not be reached or failed", raised by every part
that reads the server on a user's behalf (entities, calendars, Assist tools)."""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError

from .api import HSIError
from .const import DOMAIN


def cannot_connect(err: HSIError) -> HomeAssistantError:
    """A HomeAssistantError saying the server failed, with its reason."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="cannot_connect",
        translation_placeholders={"error": str(err)},
    )
