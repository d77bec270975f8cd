"""Subentries mirror the server's alert rules and zones (the server is the source of truth).

Every successful refresh imports new rules and zones, writes changed ones into their subentry and
removes the subentries of deleted ones; a subentry the user removes deletes its server object.
``coordinator.known_subentries`` holds the subentries as the update listener last saw them: the
difference with the entry's current ones is what the user removed. They are also kept on disk
(a `Store` per entry), because a subentry can be removed while its entry is not loaded (Home
Assistant started while the server was down): no listener sees that, so the next setup compares the
entry's subentries with the stored ones and deletes those objects on the server first, instead of
importing them again. Object filters are not mirrored (nothing would import them again, nor show
them): a removed filters subentry whose clearing failed (the server away) stays known, and its
clearing is tried again at each successful refresh and at setup until it works.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.storage import Store

from .api import HSIError, HSINotFoundError
from .const import DOMAIN, LOGGER, SUBENTRY_ALERT_RULE, SUBENTRY_OBJECT_FILTERS, SUBENTRY_ZONE
from .coordinator import HSIConfigEntry, HSICoordinator

_STORE_VERSION = 1


@callback
def async_sync_subentries(
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
    if _uncleared_filters(entry, coordinator):
        entry.async_create_background_task(
            hass, _clear_filters_again(hass, entry, coordinator), "hsi-clear-removed-filters"
        )
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
    try:
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType(data),
                subentry_type=subentry_type,
                title=title,
                unique_id=unique_id,
            ),
        )
    except AbortFlow as err:  # another subentry holds its unique id: one object is not shown, all load
        LOGGER.warning("Could not import %s %s (%s): %s", subentry_type, title, unique_id, err.reason)


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


async def async_update_listener(hass: HomeAssistant, entry: HSIConfigEntry) -> None:
    """Delete the server objects of removed subentries, then read the server again.

    No reload is needed: the switch platform adds the switch of a new rule subentry, and the
    entity registry drops the entities of a removed one.
    """
    coordinator = entry.runtime_data
    removed = set(coordinator.known_subentries) - set(entry.subentries)
    for subentry_id in removed:
        await _delete_on_server(coordinator, coordinator.known_subentries[subentry_id])
    await async_remember_subentries(hass, entry, coordinator)
    await coordinator.async_request_refresh()


async def async_delete_removed_while_unloaded(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """Delete on the server the objects of the subentries removed while the entry was not loaded
    (stored at the last update, gone from the entry now); before the first sync, which would
    import them again."""
    stored = await _store(hass, entry).async_load() or {}
    for subentry_id, kept in stored.items():
        if subentry_id not in entry.subentries:
            subentry = ConfigSubentry(
                data=MappingProxyType(kept["data"]),
                subentry_id=subentry_id,
                subentry_type=kept["subentry_type"],
                title=kept["title"],
                unique_id=kept["unique_id"],
            )
            LOGGER.info(
                "%s %s was removed while the server was away", subentry.subentry_type, subentry.title
            )
            coordinator.known_subentries[subentry_id] = subentry
            await _delete_on_server(coordinator, subentry)


async def async_remember_subentries(
    hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator
) -> None:
    """The entry's subentries are the known ones now, in memory and on disk, with the removed
    filters subentries whose clearing on the server has not worked yet."""
    coordinator.known_subentries = dict(entry.subentries) | _uncleared_filters(entry, coordinator)
    await _store(hass, entry).async_save(
        {
            subentry_id: {
                "subentry_type": subentry.subentry_type,
                "title": subentry.title,
                "unique_id": subentry.unique_id,
                "data": dict(subentry.data),
            }
            for subentry_id, subentry in coordinator.known_subentries.items()
        }
    )


def _uncleared_filters(entry: HSIConfigEntry, coordinator: HSICoordinator) -> dict[str, ConfigSubentry]:
    """Removed filters subentries still known: their filters may still be on the server."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in coordinator.known_subentries.items()
        if subentry_id not in entry.subentries and subentry.subentry_type == SUBENTRY_OBJECT_FILTERS
    }


async def _clear_filters_again(hass: HomeAssistant, entry: HSIConfigEntry, coordinator: HSICoordinator) -> None:
    """Try again to clear the filters of removed filters subentries (the server is back)."""
    uncleared = _uncleared_filters(entry, coordinator)
    for subentry in uncleared.values():
        await _delete_on_server(coordinator, subentry)
    if uncleared != _uncleared_filters(entry, coordinator):
        await async_remember_subentries(hass, entry, coordinator)


async def async_remove_stored_subentries(hass: HomeAssistant, entry_id: str) -> None:
    """Forget the stored subentries of a removed entry."""
    await Store[dict[str, Any]](hass, _STORE_VERSION, _store_key(entry_id)).async_remove()


def _store(hass: HomeAssistant, entry: HSIConfigEntry) -> Store[dict[str, Any]]:
    return Store[dict[str, Any]](hass, _STORE_VERSION, _store_key(entry.entry_id))


def _store_key(entry_id: str) -> str:
    return f"{DOMAIN}.{entry_id}.subentries"


async def _delete_on_server(coordinator: HSICoordinator, subentry: ConfigSubentry) -> None:
    """Delete the server object of a subentry the user removed (a warning if the server refuses).
    A removed filters subentry is no longer known once its filters are cleared."""
    try:
        if subentry.subentry_type == SUBENTRY_ALERT_RULE:
            await coordinator.client.delete_rule(subentry.data["rule_id"])
        elif subentry.subentry_type == SUBENTRY_ZONE:
            await coordinator.client.delete_zone(subentry.data["camera_id"], subentry.data["zone_id"])
        elif subentry.subentry_type == SUBENTRY_OBJECT_FILTERS:
            await coordinator.client.replace_camera_filters(subentry.data["camera_id"], {})
    except HSINotFoundError:
        pass  # gone already (deleted on the server meanwhile)
    except HSIError as err:
        LOGGER.warning(
            "Could not delete %s %s on the server (%s): %s",
            subentry.subentry_type,
            subentry.title,
            "tried again when it answers"
            if subentry.subentry_type == SUBENTRY_OBJECT_FILTERS
            else "it will be imported again",
            err,
        )
        return
    if subentry.subentry_type == SUBENTRY_OBJECT_FILTERS:  # not mirrored by the coordinator
        coordinator.known_subentries.pop(subentry.subentry_id, None)
    else:
        _forget(coordinator, subentry)


def _forget(coordinator: HSICoordinator, subentry: ConfigSubentry) -> None:
    """Drop the server object of a subentry the server just deleted (so it is not imported
    again meanwhile)."""
    data = coordinator.data
    objects = data.rules if subentry.subentry_type == SUBENTRY_ALERT_RULE else data.zones
    objects.pop(str(subentry.unique_id), None)
