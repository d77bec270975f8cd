"""Image platform: the thumbnail of each camera's latest detection."""

from __future__ import annotations

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, async_setup_camera_entities
from .helpers import hsi_exception_handler

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one detection image per camera, now and when cameras appear."""
    async_setup_camera_entities(
        entry,
        async_add_entities,
        lambda coordinator, camera_id: [
            HSIDetectionImage(hass, coordinator, camera_id)
        ],
    )


class HSIDetectionImage(HSICameraEntity, ImageEntity):
    """Thumbnail of the latest detection (boxes drawn); its timestamp moves with every new detection.

    Hidden by default: the camera entity already shows the camera on the generated dashboard, and a
    second, nearly identical picture next to it says nothing new. It works as any entity (cards,
    automations); unhide it to see it on the dashboard.
    """

    _attr_translation_key = "latest_detection"
    _attr_entity_registry_visible_default = False
    _attr_content_type = "image/jpeg"

    def __init__(
        self, hass: HomeAssistant, coordinator: HSICoordinator, camera_id: str
    ) -> None:
        """Initialise both bases and remember which detection is shown."""
        HSICameraEntity.__init__(self, coordinator, camera_id, "latest_detection")
        ImageEntity.__init__(self, hass)
        camera = coordinator.data.cameras[camera_id]
        self._detection_id = camera.get("last_detection_id")
        if self._detection_id is not None:
            seen = camera.get("last_seen_at")
            self._attr_image_last_updated = (
                dt_util.parse_datetime(seen) if seen else None
            ) or dt_util.utcnow()

    @callback
    def _handle_coordinator_update(self) -> None:
        """A new detection id means a new image: bump the timestamp, drop the cache."""
        if (camera := self.camera) is not None:
            detection_id = camera.get("last_detection_id")
            if detection_id != self._detection_id:
                self._detection_id = detection_id
                self._attr_image_last_updated = dt_util.utcnow()
                self._cached_image = None
        super()._handle_coordinator_update()

    @hsi_exception_handler
    async def async_image(self) -> bytes | None:
        """Fetch the thumbnail from the server (None before the first detection)."""
        if self._detection_id is None:
            return None
        result = await self.coordinator.client.media(
            f"/api/detections/{self._detection_id}/thumbnail"
        )
        if result is None:
            return None
        self._attr_content_type = result[1] or "image/jpeg"
        return result[0]
