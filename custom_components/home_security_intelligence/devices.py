"""The device registry side of a server: its camera devices follow the server's camera list.

A camera the server no longer lists loses its device (and so its entities); the user may delete
a camera device only once the server no longer has the camera, and never the hub.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, LOGGER
from .coordinator import HSIConfigEntry, HSICoordinator
from .helpers import camera_identifier, camera_of_identifier, hub_identifier


@callback
def async_remove_stale_devices(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """Remove camera devices (and so their entities) the server no longer lists."""
    registry = dr.async_get(hass)
    instance_id = coordinator.instance_id
    wanted = {camera_identifier(instance_id, camera_id) for camera_id in coordinator.data.cameras}
    wanted.add(hub_identifier(instance_id))
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        identifiers = {ident for ident in device.identifiers if ident[0] == DOMAIN}
        if identifiers and not identifiers & wanted:
            LOGGER.debug("Removing camera device %s: gone from the server", device.name)
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


def may_remove_device(coordinator: HSICoordinator, device: dr.DeviceEntry) -> bool:
    """Whether the user may delete a device: a camera device the server no longer has."""
    for identifier in device.identifiers:
        if identifier[0] != DOMAIN or identifier == hub_identifier(coordinator.instance_id):
            return False
        if camera_of_identifier(coordinator.instance_id, identifier) in coordinator.data.cameras:
            return False
    return True
