"""An alert handled while Home Assistant was not listening does not ring the phone.

The finding (a review, then tried): the reconnect's catch-up fired the alerts raised while the push
socket was down as if they had been pushed (push.py `_catch_up_alerts`), whatever their status on the
server by then: an acknowledged critical alert rang the phone, with buttons for a pending one."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from homeassistant.core import HomeAssistant
from custom_components.home_security_intelligence.const import DOMAIN, EVENT_ALERT

from .conftest import wait_for
from .hsi_server import eventually
from .test_blueprint import Scene, scene, settle  # noqa: F401 - the fixture


async def test_a_caught_up_alert_acknowledged_meanwhile_is_not_notified(
    hass: HomeAssistant, scene: Scene  # noqa: F811
) -> None:
    """The socket is down (a server restart); a critical alert is raised and acknowledged on the server
    meanwhile (its web UI, another Home Assistant). The catch-up reads it (its logbook event fires) but
    neither the alert entity nor the phone hears of it."""
    coordinator = hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data
    server = scene.server
    await server.request(
        "PATCH", f"/api/alert-rules/{scene.rule['id']}", json_body={"severity": "critical"}, expect=200
    )
    history = {a["id"] for a in await server.items("/api/alerts?limit=100")}

    released = asyncio.Event()
    real_connect = coordinator.client.ws_connect

    async def held_connect() -> aiohttp.ClientWebSocketResponse:
        await released.wait()
        return await real_connect()

    coordinator.client.ws_connect = held_connect  # type: ignore[method-assign]
    await server.stop()
    await wait_for(lambda: not coordinator.push.connected, 30)
    await server.start()
    await server.upload_and_wait("Front Door", "front_door")

    async def raised() -> dict[str, Any] | None:
        return next((a for a in await server.items("/api/alerts?limit=100") if a["id"] not in history), None)

    missed = await eventually(raised, 60, "the alert raised while disconnected")
    assert missed["severity"] == "critical"
    await server.request("POST", f"/api/alerts/{missed['id']}/acknowledge", expect=200)

    read: list[str] = []
    hass.bus.async_listen(EVENT_ALERT, lambda event: read.append(str(event.data.get("id"))))
    released.set()
    await wait_for(lambda: coordinator.push.connected, 30)
    await wait_for(lambda: missed["id"] in read, 30)  # the catch-up read it
    await settle(hass)
    assert hass.states.get("event.front_door_alert").attributes.get("alert_id") != missed["id"]
    status = (await server.request("GET", f"/api/alerts/{missed['id']}", expect=200))["status"]
    assert status == "acknowledged"
    notified = [call.data["data"]["tag"] for call in scene.notifications]
    assert f"hsi-{missed['id']}" not in notified, f"an acknowledged alert rang the phone: {notified}"
