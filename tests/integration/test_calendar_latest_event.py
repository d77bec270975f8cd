"""The calendar entity's own event (its state: on while it lasts) against a real server: the camera's
latest event, ending when it ends. Found by a review: it ended a minute after its start whatever the
event's length (the camera's event summary had no end), and a backlog upload's event, created last but
started hours before, took the place of the live one (the push compared ids, the server orders by
start)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import os
import time
from typing import Any

import pytest

from custom_components.home_security_intelligence.const import EVENT_SECURITY_EVENT
from homeassistant.core import Event, HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import wait_for
from .hsi_server import HSIServer, eventually, people_photo

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]
ENTITY = "calendar.front_door_events"


def _drop(server: HSIServer, name: str, seed: int, age: float) -> None:
    """A snapshot taken `age` seconds ago, renamed into the camera's folder (as an FTP upload does)."""
    camera = server.cameras_dir / "Front Door"
    camera.mkdir(parents=True, exist_ok=True)
    temporary = camera / f".{name}.part"
    temporary.write_bytes(people_photo(seed))
    moment = time.time() - age
    os.utime(temporary, (moment, moment))
    os.rename(temporary, camera / name)


def _shown(text: str) -> str:
    """A time as the calendar's state attributes show it (local, to the second)."""
    moment = dt_util.parse_datetime(text)
    assert moment is not None
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M:%S")


# Long batches (one event can span minutes), closed by a short idle timeout, no fast path.
@pytest.mark.parametrize(
    "server_settings",
    [
        {
            "HSI_BATCH_WINDOW_SECONDS": "600",
            "HSI_BATCH_IDLE_TIMEOUT_SECONDS": "3",
            "HSI_FAST_PATH_CONFIDENCE": "1.0",
        }
    ],
)
async def test_the_calendar_s_event_ends_when_the_event_ends(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A person seen for 2.5 minutes (two snapshots of one batch): the entity's own event ends where
    the calendar panel's entry of it does, not a minute after its start."""
    _drop(hsi_server, "a.jpg", 1, age=150)
    _drop(hsi_server, "b.jpg", 2, age=0)

    async def long_event() -> dict[str, Any] | None:
        events = await hsi_server.events("front_door") if await hsi_server.items("/api/cameras") else []
        return events[0] if events and events[0]["ended_at"] else None

    event = await eventually(long_event, 90, f"the event\n{hsi_server.log_tail()}")
    started, ended = dt_util.parse_datetime(event["started_at"]), dt_util.parse_datetime(event["ended_at"])
    assert started is not None and ended is not None and ended - started > timedelta(minutes=2), event

    await load_entry()
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": ENTITY, "start_date_time": started - timedelta(minutes=5), "end_date_time": ended},
        blocking=True,
        return_response=True,
    )
    [entry] = response[ENTITY]["events"]  # type: ignore[index]
    assert dt_util.parse_datetime(entry["end"]) == dt_util.as_local(ended)
    state = hass.states.get(ENTITY)
    assert state is not None
    assert (state.attributes["start_time"], state.attributes["end_time"]) == (
        _shown(event["started_at"]),
        _shown(event["ended_at"]),
    )


async def test_a_backlog_s_event_does_not_take_the_live_one_s_place(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """After a live event, a snapshot of two hours ago arrives (an FTP client back online): its event
    is created last but started long before. The calendar keeps the live one, as the server does."""
    entry = await load_entry()
    live = await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: hass.states.get(ENTITY).attributes.get("start_time") == _shown(live["started_at"]))  # type: ignore[union-attr]
    pushed: list[int] = []

    def note(event: Event) -> None:
        pushed.append(event.data["id"])

    unsubscribe = hass.bus.async_listen(EVENT_SECURITY_EVENT, note)
    _drop(hsi_server, "backlog.jpg", 7, age=2 * 3600)

    async def backlog_event() -> dict[str, Any] | None:
        return next((e for e in await hsi_server.events("front_door") if e["id"] != live["id"]), None)

    backlog = await eventually(backlog_event, 60, f"the backlog event\n{hsi_server.log_tail()}")
    assert backlog["id"] > live["id"] and backlog["started_at"] < live["started_at"]
    await wait_for(lambda: backlog["id"] in pushed)  # Home Assistant has applied its push
    unsubscribe()
    assert entry.runtime_data.data.cameras["front_door"]["last_event"]["id"] == live["id"]  # type: ignore[index]
    assert hass.states.get(ENTITY).attributes["start_time"] == _shown(live["started_at"])  # type: ignore[union-attr]
