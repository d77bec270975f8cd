"""The device registry side of a server: the hub follows the server's version, its camera devices
the server's camera list and names.

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
def async_sync_devices(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """Show the server's version on the hub (an upgrade is pushed); name camera devices as the server
    names their cameras (a rename is pushed; a name the user gave the device stays); remove camera
    devices (and so their entities) the server no longer lists."""
    registry = dr.async_get(hass)
    instance_id = coordinator.instance_id
    version = coordinator.data.health.get("version")
    hub = registry.async_get_device(identifiers={hub_identifier(instance_id)})
    if hub is not None and version and hub.sw_version != version:
        registry.async_update_device(hub.id, sw_version=version)
    wanted = {camera_identifier(instance_id, camera_id) for camera_id in coordinator.data.cameras}
    wanted.add(hub_identifier(instance_id))
    cameras = coordinator.data.cameras
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        identifiers = {ident for ident in device.identifiers if ident[0] == DOMAIN}
        if identifiers and not identifiers & wanted:
            LOGGER.debug("Removing camera device %s: gone from the server", device.name)
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)
            continue
        for identifier in identifiers:
            camera = cameras.get(camera_of_identifier(instance_id, identifier) or "")
            if camera is not None and camera["name"] and device.name != camera["name"]:
                registry.async_update_device(device.id, name=camera["name"])


def may_remove_device(coordinator: HSICoordinator | None, instance_id: str, device: dr.DeviceEntry) -> bool:
    """Whether the user may delete a device: a camera device the server no longer has. With the entry
    not loaded (`coordinator` None: the server down, the entry disabled) the server cannot be asked: a
    camera device may go (one the server still has comes back when the entry loads), never the hub."""
    for identifier in device.identifiers:
        if identifier[0] != DOMAIN or identifier == hub_identifier(instance_id):
            return False
        if coordinator is not None and camera_of_identifier(instance_id, identifier) in coordinator.data.cameras:
            return False
    return True
