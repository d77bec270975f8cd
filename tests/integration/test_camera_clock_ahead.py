"""A camera whose clock runs ahead does not hold its activity sensors on: an upload keeping its own
time (FTP MFMT, an SMB copy, rsync -t) is dated no later than it arrived (real server)."""

from __future__ import annotations

from datetime import timedelta
import os
from pathlib import Path
from typing import Any

import pytest

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .conftest import state, wait_for
from .hsi_server import HSIServer, eventually, people_photo


# Moving the clock under a live aiohttp WebSocket re-arms aiohttp's heartbeat timer (not a leak).
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_an_upload_dated_ahead_does_not_hold_activity_on(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """A camera whose clock runs an hour ahead uploads a file keeping its own time (FTP MFMT, an SMB
    copy, rsync -t): the server dates the detections by the file. The person activity sensor is meant
    as "now" (on for 90 s after the last sighting); 5 minutes later it must be off, not on for an hour."""
    entity_id = "binary_sensor.front_door_person_activity"
    staged = tmp_path / "staged.jpg"
    staged.write_bytes(people_photo(4242))
    ahead = dt_util.utcnow() + timedelta(hours=1)
    os.utime(staged, (ahead.timestamp(), ahead.timestamp()))
    folder = hsi_server.cameras_dir / "Front Door"
    folder.mkdir(parents=True, exist_ok=True)
    os.rename(staged, folder / "ahead.jpg")  # the FTP server's rename into place keeps the time

    async def persons() -> list[dict[str, Any]] | None:
        found = await hsi_server.items("/api/detections?camera_id=front_door&limit=100")
        return [d for d in found if d["object_type"] == "person"] or None

    found = await eventually(persons, 90, "the persons of the upload")
    await wait_for(lambda: state(hass, entity_id) == "on", 30)

    later = dt_util.utcnow() + timedelta(minutes=5)
    freezer = request.getfixturevalue("freezer")
    freezer.move_to(later)
    async_fire_time_changed(hass, later)
    await hass.async_block_till_done()
    assert state(hass, entity_id) == "off", (
        f"{entity_id} is still 'on' 5 minutes after the only person was seen (detected_at "
        f"{found[0]['detected_at']}, a camera clock an hour ahead): it stays on for an hour"
    )
