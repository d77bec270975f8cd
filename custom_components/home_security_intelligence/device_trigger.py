"""Device triggers: "an alert of at least this severity on this camera"."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, Event, HassJob, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .api import OPEN_ALERT_STATUSES
from .const import DOMAIN, EVENT_ALERT, SEVERITIES, SEVERITY_RANK

TRIGGER_ALERT = "alert"
CONF_MIN_SEVERITY = "min_severity"

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In([TRIGGER_ALERT]),
        vol.Optional(CONF_MIN_SEVERITY, default=SEVERITIES[0]): vol.In(SEVERITIES),
    }
)


def _is_camera_device(hass: HomeAssistant, device_id: str) -> bool:
    """Camera devices carry an ``<instance>_<camera>`` identifier; the hub has no alerts."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None or device.via_device_id is None:
        return False
    return any(domain == DOMAIN for domain, _ in device.identifiers)


async def async_validate_trigger_config(
    hass: HomeAssistant, config: ConfigType
) -> ConfigType:
    """Validate the schema and that the device is one of our cameras."""
    config = TRIGGER_SCHEMA(config)
    if not _is_camera_device(hass, config[CONF_DEVICE_ID]):
        raise InvalidDeviceAutomationConfig(
            translation_domain=DOMAIN,
            translation_key="invalid_device",
            translation_placeholders={"device_id": config[CONF_DEVICE_ID]},
        )
    return config


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """Cameras offer the alert trigger."""
    if not _is_camera_device(hass, device_id):
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: TRIGGER_ALERT,
        }
    ]


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """The severity threshold is the trigger's one option."""
    return {
        "extra_fields": vol.Schema(
            {vol.Optional(CONF_MIN_SEVERITY, default=SEVERITIES[0]): vol.In(SEVERITIES)}
        )
    }


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Run the action for each new alert on the device at or above the severity."""
    device_id: str = config[CONF_DEVICE_ID]
    min_rank = SEVERITY_RANK[config[CONF_MIN_SEVERITY]]
    job = HassJob(action, f"{DOMAIN} alert trigger {device_id}")
    trigger_data = trigger_info["trigger_data"]

    @callback
    def _filter(event_data: dict[str, Any]) -> bool:
        """A new alert at or above the severity, or one the AI's refinement raised past it (as the
        notification blueprint sends it then); never one handled already (read by a catch-up)."""
        if event_data.get("device_id") != device_id or event_data.get("status") not in OPEN_ALERT_STATUSES:
            return False
        rank = SEVERITY_RANK.get(str(event_data.get("severity")), -1)
        if event_data.get("action") == "created":
            return rank >= min_rank
        first = SEVERITY_RANK.get(str(event_data.get("initial_severity")), -1)
        return event_data.get("action") == "refined" and first < min_rank <= rank

    @callback
    def _handle(event: Event[dict[str, Any]]) -> None:
        hass.async_run_hass_job(
            job,
            {
                "trigger": {
                    **trigger_data,
                    CONF_PLATFORM: "device",
                    CONF_DOMAIN: DOMAIN,
                    CONF_DEVICE_ID: device_id,
                    CONF_TYPE: TRIGGER_ALERT,
                    CONF_MIN_SEVERITY: config[CONF_MIN_SEVERITY],
                    "event": event,
                    "description": f"{DOMAIN} alert ({event.data.get('severity')})",
                }
            },
            event.context,
        )

    return hass.bus.async_listen(EVENT_ALERT, _handle, event_filter=_filter)
