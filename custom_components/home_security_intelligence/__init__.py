"""Home Security Intelligence: a local AI security server as native Home Assistant entities.

Setup only: read the server over REST (failing setup if it cannot), mirror its alert rules and
zones in subentries (subentries.py), forward the platforms, keep the devices and the camera issues
following the server's cameras (devices.py, camera_issues.py), and start the push (push.py).
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import HSIClient
from .camera_issues import async_remove_camera_issues, async_sync_camera_issues
from .dead_letter_issue import async_remove_dead_letter_issue, async_sync_dead_letter_issue
from .const import (
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
    DOMAIN,
    FILTERS_UNIQUE_ID_PREFIX,
    SUBENTRY_OBJECT_FILTERS,
)
from .card import async_register_card
from .coordinator import HSIConfigEntry, HSICoordinator
from .devices import async_sync_devices, may_remove_device
from .entity import hub_device_info
from .llm_api import async_register_llm_api
from .notification_actions import async_setup_notification_actions
from .server_issues import async_remove_server_issues
from .services import async_setup_services
from .subentries import (
    async_delete_removed_while_unloaded,
    async_remember_subentries,
    async_remove_stored_subentries,
    async_sync_subentries,
    async_update_listener,
)
from .views import HSIMediaProxyView
from .websocket_api import async_setup_websocket_api

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CALENDAR,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register, once whatever the number of servers: the actions, the notification buttons, the
    media proxy, the card and its WebSocket commands, and the Assist API."""
    async_setup_services(hass)
    async_setup_notification_actions(hass)
    hass.http.register_view(HSIMediaProxyView())
    async_setup_websocket_api(hass)
    await async_register_card(hass)
    async_register_llm_api(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> bool:
    """1.1 → 1.2: an object filters subentry's unique id was its camera id, which a zone's id can equal
    (zone "Side" of camera "Garage", camera "Garage Side"); it gets FILTERS_UNIQUE_ID_PREFIX."""
    if entry.version > 1:
        return False  # a newer release's entry (a downgrade)
    if entry.minor_version < 2:
        for subentry in list(entry.subentries.values()):
            if subentry.subentry_type == SUBENTRY_OBJECT_FILTERS:
                unique_id = FILTERS_UNIQUE_ID_PREFIX + str(subentry.data["camera_id"])
                hass.config_entries.async_update_subentry(entry, subentry, unique_id=unique_id)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> bool:
    """Connect to the server, import its rules and zones, set up platforms, start the push."""
    client = HSIClient(
        async_get_clientsession(hass, verify_ssl=entry.data.get(CONF_VERIFY_SSL, True)),
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        entry.data[CONF_API_KEY],
        ssl=entry.data.get(CONF_SSL, False),
    )
    coordinator = HSICoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator

    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **hub_device_info(coordinator)
    )
    await async_delete_removed_while_unloaded(hass, entry, coordinator)
    async_sync_subentries(hass, entry, coordinator)
    await async_remember_subentries(hass, entry, coordinator)
    async_sync_devices(hass, entry, coordinator)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(async_update_listener))
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: async_sync_devices(hass, entry, coordinator)
        )
    )
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: async_sync_subentries(hass, entry, coordinator)
        )
    )
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: async_sync_camera_issues(
                hass, entry.entry_id, entry.title, coordinator.data.cameras.values()
            )
        )
    )
    async_sync_camera_issues(hass, entry.entry_id, entry.title, coordinator.data.cameras.values())
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: async_sync_dead_letter_issue(hass, entry.entry_id, entry.title, coordinator.data.stats)
        )
    )
    async_sync_dead_letter_issue(hass, entry.entry_id, entry.title, coordinator.data.stats)
    entry.async_create_background_task(
        hass, coordinator.push.async_run(), f"{DOMAIN} websocket {entry.title}"
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> bool:
    """Unload the platforms; the WebSocket task ends with the entry. A disabled entry reads its
    server no more, so its repair issues could neither stay current nor clear: they go (enabling
    it raises again those that still apply). A reload keeps them, and whether the user ignored one."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded and entry.disabled_by is not None:
        _remove_issues(hass, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> None:
    """Drop the entry's repair issues and stored subentries when the user removes the server."""
    _remove_issues(hass, entry.entry_id)
    await async_remove_stored_subentries(hass, entry.entry_id)


def _remove_issues(hass: HomeAssistant, entry_id: str) -> None:
    async_remove_server_issues(hass, entry_id)
    async_remove_camera_issues(hass, entry_id)
    async_remove_dead_letter_issue(hass, entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: HSIConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow deleting a camera device the server no longer has (never the hub)."""
    coordinator = entry.runtime_data if entry.state is ConfigEntryState.LOADED else None
    return may_remove_device(coordinator, str(entry.unique_id), device)
