"""Calendar platform: the server's events as calendar entries, one calendar per camera and one for all.

Home Assistant's calendar panel then shows what happened when, and automations and Assist can read
the history with ``calendar.get_events``. Entries are read from the server's ``/api/events`` for the
range asked: every entry that overlaps it (the calendar contract: an event running into the range, at
midnight or at the start of a week view, is in it); each lasts from the event's start to its end, at
least ``MIN_ENTRY_DURATION`` so a single snapshot's event shows up in the panel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .api_types import Event, EventSummary
from .coordinator import HSIConfigEntry, HSICoordinator
from .data import event_order
from .entity import HSICameraEntity, HSIHubEntity, async_setup_camera_entities
from .helpers import hsi_exception_handler, risk_phrase

PARALLEL_UPDATES = 0
MIN_ENTRY_DURATION = timedelta(minutes=1)
#: How long before a range an event that overlaps it may have started: longer than any event (the
#: server closes a batch a window, 90 s by default, after it opened) and than MIN_ENTRY_DURATION.
LOOKBACK = timedelta(hours=1)
PAGE_SIZE = 500
#: A range holding more events than this is cut (oldest dropped): a calendar view, not an export.
MAX_ENTRIES = 5000


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One calendar for all cameras, and one per camera as cameras appear."""
    async_add_entities([HSIAllEventsCalendar(entry.runtime_data)])
    async_setup_camera_entities(
        entry,
        async_add_entities,
        lambda coordinator, camera_id: [HSICameraCalendar(coordinator, camera_id)],
    )


def calendar_entry(event: Event | EventSummary, camera_name: str | None) -> CalendarEvent:
    """A calendar entry of an event; the camera's name leads the summary where it is not implied."""
    start = dt_util.as_local(dt_util.parse_datetime(event["started_at"], raise_on_error=True))
    ended = event.get("ended_at")
    end = dt_util.as_local(dt_util.parse_datetime(ended, raise_on_error=True)) if ended else start
    summary = risk_phrase(event)
    if event.get("summary"):
        summary += f": {event['summary']}"
    if camera_name is not None:
        summary = f"{camera_name} · {summary}"
    objects = ", ".join(event.get("object_types") or [])
    reasoning = cast(str | None, event.get("reasoning"))
    description = "\n".join(
        part for part in (reasoning, f"Objects: {objects}" if objects else None) if part
    )
    return CalendarEvent(
        start=start,
        end=max(end, start + MIN_ENTRY_DURATION),
        summary=summary,
        description=description or None,
        uid=str(event["id"]),
    )


class _EventsCalendar(CalendarEntity):
    """Reads a range of events from the server; the latest event is the calendar's own."""

    coordinator: HSICoordinator
    camera_filter: str | None = None

    @property
    def event(self) -> CalendarEvent | None:
        """The latest event of the cameras this calendar covers (on while it lasts)."""
        latest: tuple[EventSummary, str] | None = None
        for camera_id, camera in self.coordinator.data.cameras.items():
            if self.camera_filter not in (None, camera_id):
                continue
            last = camera.get("last_event")
            if last is not None and (latest is None or event_order(last) > event_order(latest[0])):
                latest = (last, camera["name"])
        if latest is None:
            return None
        return calendar_entry(latest[0], self._label(latest[1]))

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Every event overlapping the range, oldest first."""
        cameras = self.coordinator.data.cameras
        query: dict[str, Any] = {
            "camera_id": self.camera_filter,
            "since": dt_util.as_utc(start_date - LOOKBACK).isoformat(),
            "until": dt_util.as_utc(end_date).isoformat(),
            "limit": PAGE_SIZE,
        }
        events = await self._read_events(query)
        entries = [
            calendar_entry(
                event,
                self._label(
                    cameras[event["camera_id"]]["name"]
                    if event["camera_id"] in cameras
                    else event["camera_id"]
                ),
            )
            for event in reversed(events[:MAX_ENTRIES])
        ]
        return [entry for entry in entries if entry.end > start_date]

    @hsi_exception_handler
    async def _read_events(self, query: dict[str, Any]) -> list[Event]:
        """The events the query selects, page after page, up to ``MAX_ENTRIES``."""
        events: list[Event] = []
        while len(events) < MAX_ENTRIES:
            page = await self.coordinator.client.events(**query)
            events.extend(page["items"])
            if not (cursor := page.get("next_cursor")):
                break
            query["cursor"] = cursor
        return events

    def _label(self, camera_name: str) -> str | None:
        """The camera's name where the calendar does not imply it."""
        return camera_name if self.camera_filter is None else None


class HSIAllEventsCalendar(HSIHubEntity, _EventsCalendar):
    """Every camera's events, on the server's device."""

    _attr_translation_key = "all_events"

    def __init__(self, coordinator: HSICoordinator) -> None:
        """The server-wide calendar."""
        super().__init__(coordinator, "all_events")


class HSICameraCalendar(HSICameraEntity, _EventsCalendar):
    """One camera's events."""

    _attr_translation_key = "events"

    def __init__(self, coordinator: HSICoordinator, camera_id: str) -> None:
        """The calendar of one camera."""
        super().__init__(coordinator, camera_id, "events")
        self.camera_filter = camera_id
