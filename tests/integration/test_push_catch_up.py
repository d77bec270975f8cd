"""Alerts the server raises while the push socket is down reach Home Assistant when it is back.

A review's finding: the catch-up after a reconnect was a REST read of the state (cameras, counters),
not of the alerts, so the alert bus event, the camera's alert event entity (the blueprint's trigger)
and device triggers never fired for them: the phone never heard of them.

A later review's: when the reconnect's refresh failed (one read timing out while the server settles),
the caught-up alert fired on an entity that was `unavailable`, a change the blueprint ignores
(`not_from: unavailable`); and a catch-up whose own read failed was given up for that connection."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.home_security_intelligence.api import HSIConnectionError
from custom_components.home_security_intelligence.const import EVENT_ALERT

from .conftest import state, wait_for
from .hsi_server import HSIServer, eventually


async def test_an_alert_raised_while_disconnected_fires_once_on_reconnect(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """The server restarts; a camera's upload made meanwhile is processed at its start (the watcher's
    catch-up) and raises an alert before Home Assistant's push socket is back (its reconnect backoff
    grows to 60 s; here the reconnect is held until the alert exists). After reconnecting, the alert
    fires, once; the alerts from before Home Assistant started are history and do not."""
    rule = await hsi_server.create_rule(severity="high")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    first = await eventually(lambda: hsi_server.items("/api/alerts?limit=100"), 30, "a first alert")
    history = {alert["id"] for alert in first}

    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data
    await wait_for(lambda: coordinator.push.connected, 30)
    alerts = async_capture_events(hass, EVENT_ALERT)

    released = asyncio.Event()
    real_connect = coordinator.client.ws_connect

    async def held_connect() -> aiohttp.ClientWebSocketResponse:
        await released.wait()  # the backoff's wait, made deterministic
        return await real_connect()

    coordinator.client.ws_connect = held_connect  # type: ignore[method-assign]
    await hsi_server.stop()
    await wait_for(lambda: not coordinator.push.connected, 30)
    hsi_server.upload("Front Door")  # the camera keeps uploading while the server is down
    await hsi_server.start()

    async def alert_after_restart() -> dict[str, Any] | None:
        items = await hsi_server.items("/api/alerts?limit=100")
        return next((a for a in items if a["id"] not in history and a["rule_id"] == rule["id"]), None)

    missed = await eventually(alert_after_restart, 90, f"the alert of the catch-up\n{hsi_server.log_tail()}")
    assert missed["rule_id"] == rule["id"]
    event = await hsi_server.request("GET", f"/api/events/{missed['event_id']}", expect=200)

    released.set()
    await wait_for(lambda: coordinator.push.connected, 30)
    # The REST catch-up did happen: the camera's sensors show the event of the missed alert.
    await wait_for(lambda: state(hass, "sensor.front_door_risk_score") == str(event["risk_score"]), 30)
    await asyncio.sleep(2)
    fired = [e.data["id"] for e in alerts if e.data["action"] == "created"]
    assert missed["id"] in fired, f"alert {missed['id']} never reached HA (fired: {fired})"
    assert len(fired) == len(set(fired)) and not history & set(fired), (fired, history)
    assert hass.states.get("event.front_door_alert").attributes.get("alert_id") == missed["id"]


async def test_a_caught_up_alert_reaches_the_blueprint_when_reads_fail_once(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """As above, but on reconnect the refresh fails once and so does the catch-up's first read of the
    alerts. The alert still fires once, on an available entity: a state change the blueprint's
    trigger takes (from a state other than `unavailable`)."""
    rule = await hsi_server.create_rule(severity="high")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    history = {a["id"] for a in await eventually(lambda: hsi_server.items("/api/alerts?limit=100"), 30)}

    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data
    await wait_for(lambda: coordinator.push.connected, 30)
    entity_id = "event.front_door_alert"
    fired = async_capture_events(hass, EVENT_ALERT)
    changes: list[tuple[str | None, str | None, Any]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        changes.append((old and old.state, new and new.state, new and new.attributes.get("alert_id")))

    unsubscribe = async_track_state_change_event(hass, [entity_id], record)
    released = asyncio.Event()
    real_connect = coordinator.client.ws_connect

    async def held_connect() -> aiohttp.ClientWebSocketResponse:
        await released.wait()
        return await real_connect()

    coordinator.client.ws_connect = held_connect  # type: ignore[method-assign]
    await hsi_server.stop()
    await wait_for(lambda: not coordinator.push.connected, 30)
    hsi_server.upload("Front Door")
    await hsi_server.start()

    async def alert_after_restart() -> dict[str, Any] | None:
        items = await hsi_server.items("/api/alerts?limit=100")
        return next((a for a in items if a["id"] not in history and a["rule_id"] == rule["id"]), None)

    missed = await eventually(alert_after_restart, 90, f"the alert of the catch-up\n{hsi_server.log_tail()}")
    failed: list[str] = []

    def failing_once(name: str, read: Any) -> Any:
        async def flaky(*args: Any, **kwargs: Any) -> Any:
            if name not in failed:
                failed.append(name)
                raise HSIConnectionError("server error 503")
            return await read(*args, **kwargs)

        return flaky

    coordinator.client.stats = failing_once("stats", coordinator.client.stats)  # type: ignore[method-assign]
    coordinator.client.alerts = failing_once("alerts", coordinator.client.alerts)  # type: ignore[method-assign]
    released.set()
    await wait_for(lambda: any(e.data["id"] == missed["id"] for e in fired), 30)
    await asyncio.sleep(1)
    unsubscribe()
    assert sorted(failed) == ["alerts", "stats"]
    assert [e.data["id"] for e in fired].count(missed["id"]) == 1
    to_missed = [(old, new) for old, new, alert_id in changes if alert_id == missed["id"]]
    assert any(old not in (None, "unavailable") for old, _ in to_missed), changes
