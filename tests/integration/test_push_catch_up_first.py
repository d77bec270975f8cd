"""The push channel's catch-up starts where the entry was set up, whatever its first connection did."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.home_security_intelligence.api import HSIClient, HSIConnectionError
from custom_components.home_security_intelligence.const import EVENT_ALERT

from .conftest import wait_for
from .hsi_server import HSIServer, eventually


async def test_an_alert_raised_during_the_first_outage_fires_although_the_first_catch_up_failed(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The catch-up noted the newest alert at the first connection (`_alerts_since`), with a read that
    could fail (the server busy or restarting): when the socket dropped before that read succeeded, the
    next connection was taken for the first again, and the alerts raised while Home Assistant was
    disconnected were history, never fired, although the channel was listening before the outage.
    The starting point is read at setup now."""
    rule = await hsi_server.create_rule(severity="high")
    await hsi_server.upload_and_wait("Front Door", "front_door")
    history = {a["id"] for a in await eventually(lambda: hsi_server.items("/api/alerts?limit=100"), 30)}

    failing = asyncio.Event()
    real_alerts = HSIClient.alerts

    async def failing_alerts(self: HSIClient, **filters: Any) -> Any:
        # The catch-up's reads (`limit` [+ `since`]) fail once the entry is set up, as a read timing out
        # does, until the outage is over; the coordinator's own reads (by status) work.
        if set(filters) <= {"limit", "since"} and failing.is_set():
            raise HSIConnectionError("read timed out")
        return await real_alerts(self, **filters)

    monkeypatch.setattr(HSIClient, "alerts", failing_alerts)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    failing.set()
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data
    await wait_for(lambda: coordinator.push.connected, 30)
    await asyncio.sleep(1)
    fired = async_capture_events(hass, EVENT_ALERT)
    released = asyncio.Event()
    real_connect = coordinator.client.ws_connect

    async def held_connect() -> aiohttp.ClientWebSocketResponse:
        await released.wait()  # the backoff's wait, made deterministic
        return await real_connect()

    coordinator.client.ws_connect = held_connect  # type: ignore[method-assign]
    await hsi_server.stop()
    await wait_for(lambda: not coordinator.push.connected, 30)
    hsi_server.upload("Front Door")  # an alert is raised while Home Assistant is disconnected
    await hsi_server.start()

    async def alert_after_restart() -> dict[str, Any] | None:
        items = await hsi_server.items("/api/alerts?limit=100")
        return next((a for a in items if a["id"] not in history and a["rule_id"] == rule["id"]), None)

    missed = await eventually(alert_after_restart, 90, f"the missed alert\n{hsi_server.log_tail()}")
    failing.clear()
    released.set()
    await wait_for(lambda: coordinator.push.connected, 30)
    await asyncio.sleep(3)
    created = [e.data["id"] for e in fired if e.data["action"] == "created"]
    assert missed["id"] in created, f"alert {missed['id']} raised during the outage never fired ({created})"
