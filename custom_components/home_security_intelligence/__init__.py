"""Home Security Intelligence: a local AI security server as native Home Assistant entities.

Setup reads the server over REST (failing setup if it cannot), mirrors the server's alert rules
and zones in subentries (the server is the source of truth), forwards the platforms, and starts
the WebSocket push. The subentries follow the server from then on: every refresh imports new
rules and zones, writes changed ones into their subentry and removes the subentries of deleted
ones. Subentries the user removes delete their server objects.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import HSIClient, HSIError
from .camera_issues import async_remove_camera_issues, async_sync_camera_issues
from .const import (
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    DOMAIN,
    ISSUE_DETECTOR_FALLBACK,
    ISSUE_UNREACHABLE,
    ISSUE_VERSION,
    LOGGER,
    SUBENTRY_ALERT_RULE,
    SUBENTRY_OBJECT_FILTERS,
    SUBENTRY_ZONE,
)
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import hub_device_info
from .card import async_register_card
from .llm_api import async_register_llm_api
from .services import async_setup_services
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
    """Register, once whatever the number of servers: the actions, the media proxy, the card and
    its WebSocket commands, and the Assist API."""
    async_setup_services(hass)
    hass.http.register_view(HSIMediaProxyView())
    async_setup_websocket_api(hass)
    await async_register_card(hass)
    async_register_llm_api(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> bool:
    """Connect to the server, import its rules and zones, set up platforms, start the push."""
    client = HSIClient(
        async_get_clientsession(hass),
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
    _async_sync_subentries(hass, entry, coordinator)
    coordinator.known_subentries = dict(entry.subentries)
    _async_remove_stale_devices(hass, entry, coordinator)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: _async_remove_stale_devices(hass, entry, coordinator)
        )
    )
    entry.async_on_unload(
        coordinator.async_add_listener(
            lambda: _async_sync_subentries(hass, entry, coordinator)
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
    entry.async_create_background_task(
        hass, coordinator.async_run_websocket(), f"{DOMAIN} websocket {entry.title}"
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> bool:
    """Unload the platforms; the WebSocket task ends with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: HSIConfigEntry) -> None:
    """Drop the entry's repair issues when the user removes the server."""
    for key in (ISSUE_UNREACHABLE, ISSUE_DETECTOR_FALLBACK, ISSUE_VERSION):
        ir.async_delete_issue(hass, DOMAIN, f"{key}_{entry.entry_id}")
    async_remove_camera_issues(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: HSIConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow deleting a camera device the server no longer has (never the hub)."""
    coordinator = entry.runtime_data
    for domain, identifier in device.identifiers:
        if domain != DOMAIN or identifier == coordinator.instance_id:
            return False
        camera_id = identifier.removeprefix(f"{coordinator.instance_id}_")
        if camera_id in coordinator.data.cameras:
            return False
    return True


@callback
def _async_remove_stale_devices(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """Remove camera devices (and so their entities) the server no longer lists."""
    registry = dr.async_get(hass)
    wanted = {f"{coordinator.instance_id}_{camera_id}" for camera_id in coordinator.data.cameras}
    wanted.add(coordinator.instance_id)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        identifiers = {ident for domain, ident in device.identifiers if domain == DOMAIN}
        if identifiers and not identifiers & wanted:
            LOGGER.debug("Removing camera device %s: gone from the server", device.name)
            registry.async_update_device(device.id, remove_config_entry_id=entry.entry_id)


@callback
def _async_sync_subentries(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """Mirror the server's rules and zones in subentries: import new ones, update changed ones,
    remove the subentries of deleted ones.

    Only from a successful read (stale data would bring back an object whose deletion failed while
    the server was away). Objects whose subentry is being deleted (removed, but not yet handled by
    the update listener) are not imported again, and only subentries older than the read can be
    missing their object (a flow may have just made one the read predates).
    """
    if not coordinator.last_update_success:
        return
    deleting = {
        subentry.unique_id
        for subentry_id, subentry in coordinator.known_subentries.items()
        if subentry_id not in entry.subentries
    }
    for subentry_type in (SUBENTRY_ALERT_RULE, SUBENTRY_ZONE):
        subentries = {
            subentry.unique_id: subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == subentry_type
        }
        for object_id, (title, data) in coordinator.data.mirrored(subentry_type).items():
            if (subentry := subentries.pop(object_id, None)) is not None:
                hass.config_entries.async_update_subentry(entry, subentry, data=data, title=title)
            elif object_id not in deleting:
                _add_subentry(hass, entry, subentry_type, object_id, title, data)
        for subentry in subentries.values():
            if subentry.subentry_id in coordinator.data.read_subentry_ids:
                _remove_subentry(hass, entry, coordinator, subentry)


def _add_subentry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    subentry_type: str,
    unique_id: str,
    title: str,
    data: dict[str, Any],
) -> None:
    LOGGER.info("Importing %s %s (%s) from the server", subentry_type, title, unique_id)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(data),
            subentry_type=subentry_type,
            title=title,
            unique_id=unique_id,
        ),
    )


def _remove_subentry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    coordinator: HSICoordinator,
    subentry: ConfigSubentry,
) -> None:
    """Remove a subentry whose object the server no longer has (with its entities).

    It leaves the known subentries first, so the update listener does not take it for one the
    user removed and delete it on the server.
    """
    LOGGER.info("Removing %s %s (%s): gone from the server", subentry.subentry_type,
                subentry.title, subentry.unique_id)
    coordinator.known_subentries.pop(subentry.subentry_id, None)
    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)


async def _async_update_listener(hass: HomeAssistant, entry: HSIConfigEntry) -> None:
    """Delete the server objects of removed subentries, then read the server again.

    No reload is needed: the switch platform adds the switch of a new rule subentry, and the
    entity registry drops the entities of a removed one.
    """
    coordinator = entry.runtime_data
    removed = set(coordinator.known_subentries) - set(entry.subentries)
    for subentry_id in removed:
        subentry = coordinator.known_subentries[subentry_id]
        try:
            if subentry.subentry_type == SUBENTRY_ALERT_RULE:
                await coordinator.client.delete_rule(subentry.data["rule_id"])
            elif subentry.subentry_type == SUBENTRY_ZONE:
                await coordinator.client.delete_zone(
                    subentry.data["camera_id"], subentry.data["zone_id"]
                )
            elif subentry.subentry_type == SUBENTRY_OBJECT_FILTERS:
                await coordinator.client.replace_camera_filters(subentry.data["camera_id"], {})
            if subentry.subentry_type != SUBENTRY_OBJECT_FILTERS:  # not mirrored by the coordinator
                coordinator.forget(subentry)
        except HSIError as err:
            LOGGER.warning(
                "Could not delete %s %s on the server (it will be imported again): %s",
                subentry.subentry_type,
                subentry.title,
                err,
            )
    coordinator.known_subentries = dict(entry.subentries)
    await coordinator.async_request_refresh()
