"""Calendars against a real server: a day's events per camera and for all cameras, as Home
Assistant's `calendar.get_events` action (the calendar panel's and Assist's source) lists them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .hsi_server import HSIServer

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]
ALL = "calendar.home_security_intelligence_all_camera_events"


async def day_entries(hass: HomeAssistant, entity_id: str, day_offset: int = 0) -> list[dict[str, Any]]:
    """Entries of one local calendar day (today by default)."""
    start = dt_util.start_of_local_day() + timedelta(days=day_offset)
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": entity_id, "start_date_time": start, "end_date_time": start + timedelta(days=1)},
        blocking=True,
        return_response=True,
    )
    return list(response[entity_id]["events"])  # type: ignore[index, call-overload]


def label(event: dict[str, Any]) -> str:
    """The summary a calendar entry of a server event starts with: risk level and score."""
    return f"{event['risk_level'].capitalize()} risk ({event['risk_score']}): {event['summary']}"


async def test_calendars_list_the_events_of_a_day(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Each camera's calendar lists its own events of the day, oldest first, summary with the risk
    level; the all-cameras calendar lists every camera's, named; another day lists nothing."""
    front = [await hsi_server.upload_and_wait("Front Door", "front_door") for _ in range(2)]
    garage = await hsi_server.upload_and_wait("Garage", "garage")
    await load_entry()

    entries = await day_entries(hass, "calendar.front_door_events")
    assert [entry["summary"] for entry in entries] == [label(event) for event in front]
    first = entries[0]
    assert dt_util.parse_datetime(first["start"]) == dt_util.parse_datetime(front[0]["started_at"])
    assert dt_util.parse_datetime(first["end"]) >= dt_util.parse_datetime(first["start"]) + timedelta(minutes=1)
    assert "Objects: person" in first["description"]

    assert [entry["summary"] for entry in await day_entries(hass, "calendar.garage_events")] == [label(garage)]
    everything = await day_entries(hass, ALL)
    assert [entry["summary"] for entry in everything] == [
        f"Front Door · {label(front[0])}", f"Front Door · {label(front[1])}", f"Garage · {label(garage)}"
    ]
    assert await day_entries(hass, ALL, day_offset=-1) == []
    assert await day_entries(hass, "calendar.garage_events", day_offset=1) == []

    # The calendar's own event is its latest one.
    state = hass.states.get(ALL)
    assert state is not None and state.attributes["message"] == f"Garage · {label(garage)}"
    assert hass.states.get("calendar.front_door_events").attributes["message"] == label(front[1])  # type: ignore[union-attr]


async def test_calendar_reads_past_one_page(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, monkeypatch: Any
) -> None:
    """Ranges holding more events than one page follow the server's cursor; a server that is
    down is a clear error."""
    events = [await hsi_server.upload_and_wait("Front Door", "front_door") for _ in range(3)]
    await load_entry()
    monkeypatch.setattr("custom_components.home_security_intelligence.calendar.PAGE_SIZE", 2)
    entries = await day_entries(hass, "calendar.front_door_events")
    assert [entry["summary"] for entry in entries] == [label(event) for event in events]

    await hsi_server.stop()
    calendar = hass.data["entity_components"]["calendar"].get_entity("calendar.front_door_events")
    start = dt_util.start_of_local_day()
    with pytest.raises(HomeAssistantError, match="Could not reach the server"):
        await calendar.async_get_events(hass, start, start + timedelta(days=1))


async def test_calendar_lists_an_entry_that_overlaps_the_range_start(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A calendar returns the entries that overlap the asked range (the HA contract the panel's
    day/week views rely on), not only those that start in it: an event shown from T to T+1 min is
    in a range starting at T+10 s (it was not before), and not in one starting after it ended."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()
    started = dt_util.parse_datetime(event["started_at"])
    assert started is not None
    entity_id = "calendar.front_door_events"
    whole = await hass.services.async_call(
        "calendar", "get_events",
        {"entity_id": entity_id, "start_date_time": started - timedelta(hours=1),
         "end_date_time": started + timedelta(hours=1)},
        blocking=True, return_response=True,
    )
    [entry_] = whole[entity_id]["events"]  # type: ignore[index]
    assert dt_util.parse_datetime(entry_["end"]) > started + timedelta(seconds=10)

    response = await hass.services.async_call(
        "calendar", "get_events",
        {"entity_id": entity_id, "start_date_time": started + timedelta(seconds=10),
         "end_date_time": started + timedelta(hours=1)},
        blocking=True, return_response=True,
    )
    assert [e["summary"] for e in response[entity_id]["events"]] == [entry_["summary"]]  # type: ignore[index]
    after = await hass.services.async_call(
        "calendar", "get_events",
        {"entity_id": entity_id, "start_date_time": dt_util.parse_datetime(entry_["end"]),
         "end_date_time": started + timedelta(hours=1)},
        blocking=True, return_response=True,
    )
    assert after[entity_id]["events"] == []  # type: ignore[index]
