"""Subentries mirror the server's alert rules and zones (the server is the source of truth).

Every successful refresh imports new rules and zones, writes changed ones into their subentry and
removes the subentries of deleted ones; a subentry the user removes deletes its server object.
``coordinator.known_subentries`` holds the subentries as the update listener last saw them: the
difference with the entry's current ones is what the user removed.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback

from .api import HSIError
from .const import LOGGER, SUBENTRY_ALERT_RULE, SUBENTRY_OBJECT_FILTERS, SUBENTRY_ZONE
from .coordinator import HSIConfigEntry, HSICoordinator


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


async def async_update_listener(hass: HomeAssistant, entry: HSIConfigEntry) -> None:
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
                _forget(coordinator, subentry)
        except HSIError as err:
            LOGGER.warning(
                "Could not delete %s %s on the server (it will be imported again): %s",
                subentry.subentry_type,
                subentry.title,
                err,
            )
    coordinator.known_subentries = dict(entry.subentries)
    await coordinator.async_request_refresh()


def _forget(coordinator: HSICoordinator, subentry: ConfigSubentry) -> None:
    """Drop the server object of a subentry the server just deleted (so it is not imported
    again meanwhile)."""
    data = coordinator.data
    objects = data.rules if subentry.subentry_type == SUBENTRY_ALERT_RULE else data.zones
    objects.pop(str(subentry.unique_id), None)
