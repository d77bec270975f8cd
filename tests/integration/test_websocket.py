"""The push channel against a real server: subscribe, reconnect with backoff, catch up, reauth.

The server is stopped and started for real (same port, same data); a rejected key is one the
server issued and then revoked. Only the integration's backoff timings are shortened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
import itertools
import json
import logging
import time
from typing import Any, cast
from unittest.mock import patch

import aiohttp
import pytest

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.home_security_intelligence.const import DOMAIN, EVENT_SECURITY_EVENT
from custom_components.home_security_intelligence.api_types import PUSH_MESSAGE_TYPES
from custom_components.home_security_intelligence.coordinator import HSICoordinator
from custom_components.home_security_intelligence.push import PushChannel

from .conftest import state, wait_for
from .hsi_server import SERVER_PYTHON, HSIServer, eventually

PUSH = "custom_components.home_security_intelligence.push"
#: The message types a camera's first upload, a user's review/acknowledge and a camera's deletion
#: make the server publish (system.status: the stats, pushed when they change).
SERVER_PUSHED_TYPES = {
    "camera.updated",
    "camera.deleted",
    "detection.created",
    "event.created",
    "event.updated",
    "alert.created",
    "alert.updated",
    "system.status",
}


@contextmanager
def backoff(initial: float, maximum: float) -> Iterator[None]:
    """A shorter reconnect backoff for the integration (doubling from `initial` up to `maximum`)."""
    with (
        patch(f"{PUSH}.WS_BACKOFF_INITIAL", initial),
        patch(f"{PUSH}.WS_BACKOFF_MAX", maximum),
    ):
        yield


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> HSICoordinator:
    """Add and set up an entry and wait for its push channel."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator: HSICoordinator = entry.runtime_data
    await wait_for(lambda: coordinator.push.connected, 30)
    return coordinator



def record_ws_connects(coordinator: HSICoordinator) -> list[tuple[float, str]]:
    """Spy on the integration's handshakes (calling through): when each began and how it ended."""
    attempts: list[tuple[float, str]] = []
    real_connect = coordinator.client.ws_connect

    async def connect() -> aiohttp.ClientWebSocketResponse:
        started = time.monotonic()
        try:
            ws = await real_connect()
        except Exception as err:
            attempts.append((started, type(err).__name__))
            raise
        attempts.append((started, "connected"))
        return ws

    coordinator.client.ws_connect = connect  # type: ignore[method-assign]
    return attempts


def hub_sensor(hass: HomeAssistant, server: HSIServer, key: str) -> str:
    """Entity id of one of the server's own sensors, found by its unique id."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{server.instance_id}_{key}"
    )
    assert entity_id is not None
    return entity_id


async def revocable_key(server: HSIServer) -> tuple[int, str]:
    """A second key of the server: its id (to revoke it later) and its plaintext."""
    created = await server.request("POST", "/api/keys", json_body={"name": "ha-test"}, expect=201)
    return int(created["id"]), str(created["key"])


async def alert_for(server: HSIServer, event_id: int) -> dict[str, Any]:
    """Wait for the server's alert for an event."""

    async def probe() -> dict[str, Any] | None:
        alerts = await server.items(f"/api/alerts?event_id={event_id}")
        return alerts[0] if alerts else None

    return await eventually(probe, 60, f"an alert for event {event_id}")


async def publish_on_server(server: HSIServer, text: str) -> None:
    """Publish raw text on the server's broadcast channel, as another (buggy, or other version)
    server process sharing its Redis would; the server's WebSocket relays any message whose
    type a client subscribed to, whatever its data. (Run in the server's venv: it has redis-py,
    and the test's socket guard only lets loopback TCP through.)"""
    sock = next(server.data_dir.rglob("redis.sock"))
    process = await asyncio.create_subprocess_exec(
        str(SERVER_PYTHON),
        "-c",
        "import redis, sys; print(redis.Redis(unix_socket_path=sys.argv[1]).publish(sys.argv[2], sys.argv[3]))",
        str(sock),
        "hsi:broadcast",
        text,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert out.strip() == b"1", f"the server's relay did not receive it: {out!r} {err[-500:]!r}"


async def test_every_pushed_type_arrives(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hsi_server: HSIServer
) -> None:
    """The subscription covers every type the server publishes: a camera's first upload (camera,
    detections, event, alert), then reviewing the event, acknowledging the alert and deleting a
    camera."""
    coordinator: HSICoordinator = loaded_entry.runtime_data
    seen: list[str] = []
    handle = coordinator.push.async_handle_message

    def spy(msg_type: str, data: dict[str, Any]) -> None:
        seen.append(msg_type)
        handle(msg_type, data)

    with patch.object(coordinator.push, "async_handle_message", spy):
        await hsi_server.create_rule()
        event = await hsi_server.upload_and_wait("Front Door", "front_door")
        alert = await alert_for(hsi_server, event["id"])
        await hsi_server.request(
            "PATCH", f"/api/events/{event['id']}", json_body={"reviewed": True}, expect=200
        )
        await hsi_server.request("POST", f"/api/alerts/{alert['id']}/acknowledge", expect=200)
        await hsi_server.request("POST", "/api/cameras", json_body={"name": "Attic"}, expect=201)
        await hsi_server.request("DELETE", "/api/cameras/attic", expect=204)
        await wait_for(lambda: SERVER_PUSHED_TYPES <= set(seen), 60)
    # What arrived was applied: the new camera has its entities and the event's score.
    await wait_for(lambda: state(hass, "sensor.front_door_risk_score") == str(event["risk_score"]))


async def test_reconnects_and_catches_up(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the server restarts, the socket is reopened and a REST refresh brings in what the
    push channel does not carry (here: a rule disabled on the server); the loss and the recovery
    are logged once each."""
    caplog.set_level(logging.INFO, logger="custom_components.home_security_intelligence")
    rule = await hsi_server.create_rule(name="Night watch")
    with backoff(0.1, 1.0):
        coordinator = await set_up(hass, config_entry)
        switch = er.async_get(hass).async_get_entity_id(
            "switch", DOMAIN, f"{hsi_server.instance_id}_rule_{rule['id']}"
        )
        assert switch is not None
        assert state(hass, switch) == "on"
        # Rules have no push message: the change waits for the next REST read.
        await hsi_server.request(
            "PATCH", f"/api/alert-rules/{rule['id']}", json_body={"enabled": False}, expect=200
        )

        await hsi_server.stop()
        await wait_for(lambda: not coordinator.push.connected, 30)
        # The lost socket made the integration try REST at once: the server is gone too.
        await wait_for(lambda: state(hass, switch) == "unavailable", 30)
        await hsi_server.start()
        await wait_for(lambda: coordinator.push.connected, 30)
        # Read on reconnecting, well before the one-minute safety-net poll.
        await wait_for(lambda: state(hass, switch) == "off", 30)
        assert caplog.text.count("Lost the push connection") == 1
        assert caplog.text.count("Push connection to") == 1


async def test_a_socket_reset_while_subscribing_is_a_lost_connection(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """The server closing the socket just as the integration subscribes (a restart, a key revoked at
    that moment) makes the write fail; the channel counts that as a lost connection and reconnects,
    and what the server pushes then arrives. (The write's failure is injected: the real race is a
    matter of microseconds.)"""
    real_send_json = aiohttp.ClientWebSocketResponse.send_json
    subscribes = 0

    async def send_json(
        ws: aiohttp.ClientWebSocketResponse, data: Any, *args: Any, **kwargs: Any
    ) -> None:
        nonlocal subscribes
        subscribes += 1
        if subscribes == 1:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        await real_send_json(ws, data, *args, **kwargs)

    with backoff(0.1, 1.0), patch.object(aiohttp.ClientWebSocketResponse, "send_json", send_json):
        coordinator = await set_up(hass, config_entry)
        await wait_for(lambda: subscribes >= 2 and coordinator.push.connected, 30)
        event = await hsi_server.upload_and_wait("Front Door", "front_door")
        score = str(event["risk_score"])
        await wait_for(lambda: state(hass, "sensor.front_door_risk_score") == score, 30)


async def test_backoff_while_server_is_down(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the server is down, handshakes are retried with a doubling, capped delay (logged
    once); when it is back, the socket reconnects."""
    initial, maximum = 0.25, 1.0
    with backoff(initial, maximum):
        coordinator = await set_up(hass, config_entry)
        attempts = record_ws_connects(coordinator)
        await hsi_server.stop()
        await wait_for(lambda: len(attempts) >= 7, 60)
        assert {outcome for _, outcome in attempts[:7]} == {"HSIConnectionError"}
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(attempts[:7])]
        for step, gap in enumerate(gaps):
            assert gap >= min(initial * 2**step, maximum) * 0.95, gaps
        # Capped: without the cap the last gaps would be 2, 4 and 8 s.
        assert max(gaps[3:]) < 1.9, gaps
        assert caplog.text.count("Lost the push connection") == 1
        assert coordinator.push.connected is False

        await hsi_server.start()
        await wait_for(lambda: coordinator.push.connected, 30)
        assert attempts[-1][1] == "connected"
        assert caplog.text.count("Lost the push connection") == 1


async def test_rejected_key_starts_reauth(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """The entry's key is revoked; when the socket reconnects the server refuses the handshake
    (401): the integration stops retrying and asks the user for a new key."""
    key_id, key = await revocable_key(hsi_server)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "api_key": key},
    )
    with backoff(0.05, 0.2):
        coordinator = await set_up(hass, entry)
        await hsi_server.request("DELETE", f"/api/keys/{key_id}", expect=200)
        attempts = record_ws_connects(coordinator)
        # The open socket survives the revocation (a server problem); a restart drops it.
        await hsi_server.stop()
        await hsi_server.start()
        await wait_for(lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)), 60)
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert [flow["context"]["source"] for flow in flows] == ["reauth"]
        assert attempts[-1][1] == "HSIAuthError"
        # No more handshakes after the refusal (a retry loop would make several per second).
        count = len(attempts)
        await asyncio.sleep(2)
        assert len(attempts) == count
        assert coordinator.push.connected is False


async def test_bad_messages_are_ignored(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Malformed pushes change nothing and do not end the push channel; real updates still apply.

    The real server never sends such messages of its own: they come through it from its Redis
    broadcast channel (where any server process may publish), and the ones it cannot relay at
    all (not JSON, unknown types) go straight into the integration's message handler.
    """
    first = await hsi_server.upload_and_wait("Front Door", "front_door")
    coordinator = await set_up(hass, config_entry)
    before = dict(coordinator.data.cameras["front_door"])
    health_before = coordinator.data.health
    fired = async_capture_events(hass, EVENT_SECURITY_EVENT)

    for text in ("not json", "[1, 2]", '{"type": "camera.updated"}', '{"type": "mystery", "data": {}}'):
        coordinator.push.async_handle_text(text)
    for message in (
        {"type": "camera.updated", "data": "oops"},
        {"type": "camera.updated", "data": {"name": "No id"}},
        {"type": "camera.updated", "data": {"id": "ghost"}},
        {"type": "event.created", "data": {"camera_id": "front_door"}},
        {
            "type": "event.updated",
            "data": {"id": "x", "camera_id": "front_door", "risk_score": "high",
                     "risk_level": "high", "started_at": "yesterday"},
        },
        {"type": "alert.created", "data": {"id": "a1", "metadata": "none"}},
        {"type": "system.status", "data": {"version": 7, "components": "all fine"}},
    ):
        await publish_on_server(hsi_server, json.dumps(message))

    # A real update after them: a new camera's first upload, pushed through the same socket.
    second = await hsi_server.upload_and_wait("Garage", "garage")
    await wait_for(lambda: state(hass, "sensor.garage_risk_score") == str(second["risk_score"]), 60)
    await wait_for(lambda: state(hass, "binary_sensor.garage_connectivity") == "on")

    assert coordinator.push.connected is True
    assert "ghost" not in coordinator.data.cameras
    after = coordinator.data.cameras["front_door"]
    assert after["name"] == before["name"] == "Front Door"
    assert after["last_event"] == before["last_event"]
    assert after["last_event"] is not None and after["last_event"]["id"] == first["id"]
    assert coordinator.data.health["version"] == health_before["version"]
    assert {e.data["camera_id"] for e in fired} == {"garage"}
    assert not [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN]


def test_every_server_message_type_is_applied() -> None:
    """The push channel has an applier for each message type the server's OpenAPI document lists
    (api_types.py, generated from it), so a type the server adds cannot be subscribed to and then
    dropped unseen."""
    channel = PushChannel(cast(HSICoordinator, None))
    assert set(channel._appliers) == set(PUSH_MESSAGE_TYPES)
