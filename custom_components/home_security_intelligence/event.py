"""Event platform: one `event` entity per camera that fires on each alert, and again (`refined`: true)
when the alert's AI text arrives after it."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SEVERITIES, SIGNAL_ALERT
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, async_setup_camera_entities

PARALLEL_UPDATES = 0

# The attributes an automation or the notification blueprint needs; the rest is on the bus. The
# thumbnail is its unsigned proxy path: attributes are recorded (``get_media_url`` signs it).
ALERT_ATTRIBUTES = (
    "alert_id",
    "event_id",
    "rule_id",
    "summary",
    "risk_score",
    "risk_level",
    "severity_source",
    "object_types",
    "thumbnail_path",
    "refined",
    "initial_severity",
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one alert event entity per camera, now and when cameras appear."""
    async_setup_camera_entities(
        entry,
        async_add_entities,
        lambda coordinator, camera_id: [HSIAlertEvent(coordinator, camera_id)],
    )


class HSIAlertEvent(HSICameraEntity, EventEntity):
    """Fires with the alert's severity as event type whenever a rule alerts on the camera."""

    _attr_event_types = list(SEVERITIES)
    _attr_translation_key = "alert"

    def __init__(self, coordinator: HSICoordinator, camera_id: str) -> None:
        """The alert entity of one camera."""
        super().__init__(coordinator, camera_id, "alert")

    async def async_added_to_hass(self) -> None:
        """Listen for alerts pushed by the coordinator."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                SIGNAL_ALERT.format(self.coordinator.config_entry.entry_id),
                self._async_handle_alert,
            )
        )

    @callback
    def _async_handle_alert(self, alert: dict[str, Any]) -> None:
        """Fire for alerts of this camera only."""
        if alert.get("camera_id") != self.camera_id:
            return
        severity = alert.get("severity")
        if severity not in SEVERITIES:
            return
        data = {**alert, "alert_id": alert.get("id")}
        self._trigger_event(str(severity), {key: data.get(key) for key in ALERT_ATTRIBUTES})
        self.async_write_ha_state()
