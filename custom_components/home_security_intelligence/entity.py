"""Base entities: every entity belongs to the hub device or to one camera device."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api_types import Camera
from .const import MANUFACTURER
from .coordinator import HSIConfigEntry, HSICoordinator
from .helpers import camera_identifier, hub_identifier


def hub_device_info(coordinator: HSICoordinator) -> DeviceInfo:
    """The server's device, parent of the camera devices."""
    return DeviceInfo(
        identifiers={hub_identifier(coordinator.instance_id)},
        name=coordinator.config_entry.title,
        manufacturer=MANUFACTURER,
        model="Home Security Intelligence server",
        sw_version=coordinator.data.health.get("version"),
        configuration_url=coordinator.client.base_url,
    )


class HSIEntity(CoordinatorEntity[HSICoordinator]):
    """Common base: translated names under a device, unique ids scoped to the server."""

    _attr_has_entity_name = True


class HSIHubEntity(HSIEntity):
    """An entity of the server itself."""

    def __init__(self, coordinator: HSICoordinator, key: str) -> None:
        """Attach to the hub device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{coordinator.instance_id}_{key}"
        self._attr_device_info = hub_device_info(coordinator)


class HSICameraEntity(HSIEntity):
    """An entity of one camera; unavailable while the server no longer lists the camera."""

    def __init__(self, coordinator: HSICoordinator, camera_id: str, key: str) -> None:
        """Attach to the camera's device (created with the first entity)."""
        super().__init__(coordinator)
        self.camera_id = camera_id
        self._attr_unique_id = f"{coordinator.instance_id}_{camera_id}_{key}"
        camera = coordinator.data.cameras[camera_id]
        self._attr_device_info = DeviceInfo(
            identifiers={camera_identifier(coordinator.instance_id, camera_id)},
            name=camera["name"],
            manufacturer=MANUFACTURER,
            model="Camera",
            via_device=hub_identifier(coordinator.instance_id),
        )

    @property
    def camera(self) -> Camera | None:
        """The camera's current data, None once the server no longer has it."""
        return self.coordinator.data.cameras.get(self.camera_id)

    @property
    def available(self) -> bool:
        """Available while the server is reachable and still has the camera."""
        return super().available and self.camera is not None


def async_setup_camera_entities(
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    factory: Callable[[HSICoordinator, str], Iterable[Entity]],
) -> None:
    """Add a camera's entities now and whenever a new camera appears on the server."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def _async_add_new() -> None:
        current = set(coordinator.data.cameras)
        # Forget removed cameras, so a camera that comes back gets its entities again.
        known.intersection_update(current)
        new = sorted(current - known)
        if not new:
            return
        known.update(new)
        async_add_entities(
            [entity for camera_id in new for entity in factory(coordinator, camera_id)]
        )

    _async_add_new()
    entry.async_on_unload(coordinator.async_add_listener(_async_add_new))
