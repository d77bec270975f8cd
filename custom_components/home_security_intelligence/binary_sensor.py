"""Binary sensor platform: activity per camera, camera connectivity, pipeline health."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .const import ACTIVITY_CLASSES, ACTIVITY_HOLD
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, HSIHubEntity, async_setup_camera_entities

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the pipeline sensor and every camera's activity and connectivity sensors."""
    coordinator = entry.runtime_data
    async_add_entities([HSIPipelineProblem(coordinator)])

    def _camera_entities(
        coord: HSICoordinator, camera_id: str
    ) -> list[BinarySensorEntity]:
        entities: list[BinarySensorEntity] = [
            HSIActivitySensor(coord, camera_id, category) for category in ACTIVITY_CLASSES
        ]
        entities.append(HSIConnectivitySensor(coord, camera_id))
        return entities

    async_setup_camera_entities(entry, async_add_entities, _camera_entities)


class HSIActivitySensor(HSICameraEntity, BinarySensorEntity):
    """On while a person/vehicle/animal was detected on the camera in the last 90 s."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY

    def __init__(self, coordinator: HSICoordinator, camera_id: str, category: str) -> None:
        """One sensor per activity category."""
        super().__init__(coordinator, camera_id, f"{category}_activity")
        self.entity_description = BinarySensorEntityDescription(
            key=f"{category}_activity", translation_key=f"{category}_activity"
        )
        self._category = category
        self._unsub_expire: CALLBACK_TYPE | None = None

    def _last_seen(self) -> datetime | None:
        return self.coordinator.data.activity.get(self.camera_id, {}).get(self._category)

    @property
    def is_on(self) -> bool:
        """Whether the last sighting is recent enough."""
        last = self._last_seen()
        return last is not None and dt_util.utcnow() - last < ACTIVITY_HOLD

    async def async_added_to_hass(self) -> None:
        """Schedule the turn-off of a sighting known at start-up."""
        await super().async_added_to_hass()
        self._schedule_expiry()
        self.async_on_remove(self._cancel_expiry)

    @callback
    def _handle_coordinator_update(self) -> None:
        self._schedule_expiry()
        super()._handle_coordinator_update()

    @callback
    def _schedule_expiry(self) -> None:
        """Write the state again when the hold time of the last sighting ends."""
        self._cancel_expiry()
        if self.is_on and (last := self._last_seen()) is not None:
            self._unsub_expire = async_track_point_in_utc_time(
                self.hass, self._expired, last + ACTIVITY_HOLD
            )

    @callback
    def _cancel_expiry(self) -> None:
        if self._unsub_expire is not None:
            self._unsub_expire()
            self._unsub_expire = None

    @callback
    def _expired(self, _now: datetime) -> None:
        self._unsub_expire = None
        self.async_write_ha_state()


class HSIConnectivitySensor(HSICameraEntity, BinarySensorEntity):
    """Whether the camera uploads within its own pattern (the server's online status).

    The server learns each camera's pattern from its uploads; a camera is disconnected only when it is
    silent far beyond it (a repair issue then says since when). The attributes show what was learned.
    """

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: HSICoordinator, camera_id: str) -> None:
        """Connectivity of one camera."""
        super().__init__(coordinator, camera_id, "connectivity")

    @property
    def is_on(self) -> bool | None:
        """Online, offline (or in error)."""
        camera = self.camera
        return None if camera is None else camera["status"] == "online"

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The last upload, the learned longest recent silence, and the camera's own setting."""
        camera: Mapping[str, Any] = self.camera or {}  # gone: the entity is unavailable anyway
        seen = camera.get("last_seen_at")
        return {
            "last_upload": dt_util.parse_datetime(seen) if seen else None,
            "longest_recent_gap_seconds": camera.get("upload_gap_seconds"),
            "offline_after_seconds": camera.get("offline_after_seconds"),
        }


class HSIPipelineProblem(HSIHubEntity, BinarySensorEntity):
    """On when the server reports its pipeline unhealthy (workers, queues, models)."""

    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "pipeline"

    def __init__(self, coordinator: HSICoordinator) -> None:
        """The single pipeline sensor of the hub."""
        super().__init__(coordinator, "pipeline")

    @property
    def is_on(self) -> bool:
        """Problem = not healthy."""
        return not self.coordinator.data.stats.get("pipeline_healthy", False)
