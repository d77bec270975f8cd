"""Logbook: the integration's bus events told as a story (camera, risk, what the AI saw).

Without this the Logbook only shows the alert entity's "detected an event"; with it each event and
alert gets its own line naming the camera, the risk level and score, and the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, EVENT_ALERT, EVENT_SECURITY_EVENT

type Describe = Callable[[Event], dict[str, str]]


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Describe], None],
) -> None:
    """Describe security events and alerts."""

    @callback
    def describe_event(event: Event) -> dict[str, str]:
        data = event.data
        objects = ", ".join(data.get("object_types") or []) or "activity"
        verb = "detected" if data.get("action") == "created" else "updated"
        message = f"{verb} {objects}: {_risk(data.get('risk_level'), data.get('risk_score'))}"
        if data.get("action") != "created":
            message += ", reviewed" if data.get("reviewed") else ", not reviewed"
        return {
            LOGBOOK_ENTRY_NAME: _camera_name(hass, data),
            LOGBOOK_ENTRY_MESSAGE: _with_summary(message, data.get("summary")),
        }

    @callback
    def describe_alert(event: Event) -> dict[str, str]:
        data = event.data
        severity = data.get("severity") or "unknown"
        if data.get("action") == "created":
            message = f"raised a {severity} alert"
        else:
            message = f"{severity} alert {data.get('status') or 'updated'}"
        message += f" (risk {data.get('risk_score')})" if data.get("risk_score") is not None else ""
        return {
            LOGBOOK_ENTRY_NAME: _camera_name(hass, data),
            LOGBOOK_ENTRY_MESSAGE: _with_summary(message, data.get("summary")),
        }

    async_describe_event(DOMAIN, EVENT_SECURITY_EVENT, describe_event)
    async_describe_event(DOMAIN, EVENT_ALERT, describe_alert)


def _risk(level: Any, score: Any) -> str:
    if level is None and score is None:
        return "not scored"
    return f"{level or 'unknown'} risk ({score})"


def _with_summary(message: str, summary: Any) -> str:
    return f"{message}: {summary}" if summary else message


def _camera_name(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """The camera device's name as the user sees it (renamed or not), else the server's id."""
    if (device_id := data.get("device_id")) and (
        device := dr.async_get(hass).async_get(device_id)
    ) is not None:
        return device.name_by_user or device.name or str(data.get("camera_id"))
    return str(data.get("camera_id") or "Home Security Intelligence")
