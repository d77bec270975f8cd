"""Camera platform: each server camera as an HA camera showing its latest upload."""

from __future__ import annotations

from homeassistant.components.camera import Camera
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import HSIError
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, async_setup_camera_entities
from .errors import cannot_connect

# Snapshots are served by the server; nothing here writes, so no limit is needed.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one camera entity per server camera, now and when cameras appear."""
    async_setup_camera_entities(
        entry,
        async_add_entities,
        lambda coordinator, camera_id: [HSICamera(coordinator, camera_id)],
    )


class HSICamera(HSICameraEntity, Camera):
    """The latest image a camera uploaded (the camera itself is not streamed)."""

    _attr_name = None  # the device's main feature: named after the camera

    def __init__(self, coordinator: HSICoordinator, camera_id: str) -> None:
        """Initialise both bases (Camera keeps access tokens of its own)."""
        HSICameraEntity.__init__(self, coordinator, camera_id, "camera")
        Camera.__init__(self)

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Fetch the latest upload from the server (None when the camera has none)."""
        try:
            return await self.coordinator.client.camera_snapshot(self.camera_id)
        except HSIError as err:
            raise cannot_connect(err) from err
