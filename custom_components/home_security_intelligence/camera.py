"""Camera platform: each server camera as an HA camera showing its latest upload.

The latest upload, whether or not anything was detected in it, with its time as the `last_upload`
attribute: the tile shows what the camera sees now. The latest detection's thumbnail, with its boxes,
is the image entity, hidden from the generated dashboard so the camera's tile is not shown twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.camera import Camera
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, async_setup_camera_entities
from .helpers import hsi_exception_handler

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

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """When the shown upload came (the server pushes each new one)."""
        camera = self.camera
        seen = camera.get("last_seen_at") if camera else None
        last: datetime | None = dt_util.parse_datetime(seen) if seen else None
        return {"last_upload": last}

    @hsi_exception_handler
    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Fetch the latest upload from the server (None when the camera has none), with its type:
        the camera proxy, snapshots and notifications must not call a PNG upload a JPEG."""
        result = await self.coordinator.client.camera_snapshot(self.camera_id)
        if result is None:
            return None
        image, content_type = result
        self.content_type = content_type or "image/jpeg"
        return image
