"""Media source: browse each server's cameras and their events (thumbnails, clips).

Identifiers: ``<entry_id>`` → cameras, ``<entry_id>/<camera_id>`` → its newest events,
``<entry_id>/<camera_id>/older/<cursor>`` → the next page of them (the server's cursor),
``<entry_id>/clip/<event_id>`` and ``<entry_id>/thumbnail/<event_id>`` → playable items (the
event's clip, or the thumbnail of its best detection), resolved to signed URLs of the
authenticated proxy. With one server the root lists its cameras directly.

Event titles lead with what a one-line caption can show: when (just the time for today, the
weekday within a week, else the date), the risk level and score, then the summary.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .api import HSIError
from .api_types import Event
from .const import DEFAULT_NAME, DOMAIN, EVENT_MEDIA_TYPES
from .coordinator import HSICoordinator
from .helpers import risk_phrase
from .views import signed_media_url

EVENTS_PER_PAGE = 50
OLDER = "older"


async def async_get_media_source(hass: HomeAssistant) -> MediaSource:
    """Media source of every configured server."""
    return HSIMediaSource(hass)


class HSIMediaSource(MediaSource):
    """Event thumbnails and clips, per server and camera."""

    name = DEFAULT_NAME

    def __init__(self, hass: HomeAssistant) -> None:
        """One source for all servers."""
        super().__init__(DOMAIN)
        self.hass = hass

    def _coordinator(self, entry_id: str) -> HSICoordinator:
        entry = self.hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="media_unknown_server",
                translation_placeholders={"entry_id": entry_id},
            )
        return cast(HSICoordinator, entry.runtime_data)

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A signed proxy URL for a clip or a thumbnail."""
        parts = item.identifier.split("/")
        if len(parts) != 3 or parts[1] not in ("clip", "thumbnail") or not parts[2].isdigit():
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="media_not_playable",
                translation_placeholders={"identifier": item.identifier},
            )
        entry_id, kind, item_id = parts
        self._coordinator(entry_id)
        url = signed_media_url(self.hass, entry_id, f"/api/events/{item_id}/{kind}")
        return PlayMedia(cast(str, url), EVENT_MEDIA_TYPES[kind])

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Servers (when there are several), then cameras, then events, page by page."""
        if not item.identifier:
            return self._root()
        parts = item.identifier.split("/")
        coordinator = self._coordinator(parts[0])
        if len(parts) == 1:
            return self._cameras(coordinator)
        if len(parts) == 2:
            return await self._events(coordinator, parts[1], None)
        if len(parts) == 4 and parts[2] == OLDER:
            return await self._events(coordinator, parts[1], parts[3])
        raise Unresolvable(
            translation_domain=DOMAIN,
            translation_key="media_not_browsable",
            translation_placeholders={"identifier": item.identifier},
        )

    def _root(self) -> BrowseMediaSource:
        entries = self.hass.config_entries.async_loaded_entries(DOMAIN)
        if len(entries) == 1:
            return self._cameras(cast(HSICoordinator, entries[0].runtime_data), identifier="")
        return _folder(
            "",
            DEFAULT_NAME,
            [_folder(entry.entry_id, entry.title, []) for entry in entries],
        )

    def _cameras(
        self, coordinator: HSICoordinator, identifier: str | None = None
    ) -> BrowseMediaSource:
        entry_id = coordinator.config_entry.entry_id
        cameras = sorted(coordinator.data.cameras.values(), key=lambda c: c["name"])
        return _folder(
            entry_id if identifier is None else identifier,
            coordinator.config_entry.title,
            [_folder(f"{entry_id}/{camera['id']}", camera["name"], []) for camera in cameras],
        )

    async def _events(
        self, coordinator: HSICoordinator, camera_id: str, cursor: str | None
    ) -> BrowseMediaSource:
        entry_id = coordinator.config_entry.entry_id
        camera = coordinator.data.cameras.get(camera_id)
        if camera is None:
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="media_unknown_camera",
                translation_placeholders={"camera_id": camera_id},
            )
        filters: dict[str, str | int] = {"camera_id": camera_id, "limit": EVENTS_PER_PAGE}
        if cursor is not None:
            filters["cursor"] = cursor
        try:
            page = await coordinator.client.events(**filters)
        except HSIError as err:
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        now = dt_util.now()
        children = [
            child
            for event in page["items"]
            if (child := _event_item(coordinator, entry_id, event, now)) is not None
        ]
        if page.get("next_cursor"):
            older = f"{entry_id}/{camera_id}/{OLDER}/{page['next_cursor']}"
            children.append(_folder(older, "Older events", []))
        identifier = f"{entry_id}/{camera_id}"
        if cursor is not None:
            identifier = f"{identifier}/{OLDER}/{cursor}"
        return _folder(identifier, camera["name"], children)


def _event_item(
    coordinator: HSICoordinator, entry_id: str, event: Event, now: datetime
) -> BrowseMediaSource | None:
    """A clip when the event has one, else its thumbnail; None when it has neither."""
    started = dt_util.as_local(dt_util.parse_datetime(event["started_at"], raise_on_error=True))
    title = f"{short_time(started, now)} · {risk_phrase(event)}"
    if event.get("summary"):
        title += f" · {event['summary']}"
    thumbnail = coordinator.signed_url(event.get("thumbnail_url"))
    if event.get("has_clip"):
        identifier, media_class, content_type = (
            f"{entry_id}/clip/{event['id']}", MediaClass.VIDEO, EVENT_MEDIA_TYPES["clip"],
        )
    elif event.get("thumbnail_url"):
        identifier, media_class, content_type = (
            f"{entry_id}/thumbnail/{event['id']}", MediaClass.IMAGE, EVENT_MEDIA_TYPES["thumbnail"],
        )
    else:
        return None
    return BrowseMediaSource(
        domain=DOMAIN,
        identifier=identifier,
        media_class=media_class,
        media_content_type=content_type,
        title=title,
        can_play=True,
        can_expand=False,
        thumbnail=thumbnail,
    )


def short_time(moment: datetime, now: datetime) -> str:
    """When, as short as a one-line caption needs (both in Home Assistant's time zone): the time
    today, the weekday and time within a week, else the date (and the year if not this one)."""
    days = (now.date() - moment.date()).days
    if days == 0:
        return f"{moment:%H:%M}"
    if 0 < days < 7:
        return f"{moment:%a %H:%M}"
    if moment.year == now.year:
        return f"{moment.day} {moment:%b %H:%M}"
    return f"{moment.day} {moment:%b %Y %H:%M}"


def _folder(identifier: str, title: str, children: list[BrowseMediaSource]) -> BrowseMediaSource:
    """A folder whose children's class is theirs when they share one (pictures, clips), as Home
    Assistant works it out; a camera of snapshots only was announced as clips before."""
    folder = BrowseMediaSource(
        domain=DOMAIN,
        identifier=identifier,
        media_class=MediaClass.DIRECTORY,
        media_content_type=MediaType.VIDEO,
        title=title,
        can_play=False,
        can_expand=True,
        children=children,
        children_media_class=MediaClass.DIRECTORY if not identifier.count("/") else MediaClass.VIDEO,
    )
    if children:
        folder.calculate_children_class()
    return folder
