"""The Logbook tells what happened: camera, risk level and score, and the AI summary, for every
event and alert the server pushes (recorded by Home Assistant's recorder, read back through the
logbook's own WebSocket command, as the Logbook panel reads it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import HSIServer, eventually

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """As in conftest, but the recorder's database comes first (it must precede Home Assistant)."""


async def test_logbook_shows_summary_and_risk(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    hass_ws_client: Any,
) -> None:
    """An event and its alert each get a Logbook line under the camera's name with the risk and
    the summary; acknowledging the alert adds a line saying so."""
    assert await async_setup_component(hass, "logbook", {})
    start = dt_util.utcnow()
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()
    await hsi_server.create_rule()
    event = await hsi_server.upload_and_wait("Front Door", "front_door")

    async def alert() -> dict[str, Any] | None:
        found = await hsi_server.items(f"/api/alerts?event_id={event['id']}")
        return found[0] if found else None

    raised = await eventually(alert, 60, "the alert")
    await hsi_server.request("POST", f"/api/alerts/{raised['id']}/acknowledge", expect=200)
    await hass.services.async_call(DOMAIN, "review_event", {"event_id": event["id"]}, blocking=True)
    client = await hass_ws_client(hass)
    risk = f"{event['risk_level']} risk ({event['risk_score']})"

    async def entries() -> list[dict[str, Any]] | None:
        await async_wait_recording_done(hass)
        await client.send_json_auto_id({"type": "logbook/get_events", "start_time": start.isoformat()})
        found = [e for e in (await client.receive_json())["result"] if e.get("domain") == DOMAIN]
        messages = [e["message"] for e in found]
        done = all(any(word in m for m in messages) for word in ("alert acknowledged", "raised", "reviewed"))
        return found if done and any(risk in m for m in messages) else None

    found = await eventually(entries, 30, "the logbook entries")
    assert {entry["name"] for entry in found} == {"Front Door"}
    messages = [entry["message"] for entry in found]
    assert f"detected person: {risk}: {event['summary']}" in messages
    severity = raised["severity"]
    assert f"raised a {severity} alert (risk {event['risk_score']}): {event['summary']}" in messages
    assert f"{severity} alert acknowledged (risk {event['risk_score']}): {event['summary']}" in messages
    assert f"updated person: {risk}, reviewed: {event['summary']}" in messages
