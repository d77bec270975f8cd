"""A refinement made while the push socket was down reaches Home Assistant after the reconnect: the AI
text replaces the rules-only notification as it would have, pushed (real server, real llama.cpp)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
import json
from typing import Any

import aiohttp
import pytest

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.home_security_intelligence.api import HSIClient
from custom_components.home_security_intelligence.const import EVENT_ALERT

from .conftest import wait_for
from .hsi_server import HSIServer, eventually
from .test_end_to_end import tiny_gguf  # noqa: F401 - the module-scoped fixture

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]

LLM_TESTS = {"test_a_refinement_made_while_disconnected_reaches_home_assistant"}


@pytest.fixture
def server_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Real refinements (llama.cpp on the tiny model) for the tests that need them."""
    if request.node.originalname in LLM_TESTS:
        model = request.getfixturevalue("tiny_gguf")
        return {"HSI_LLM": "llama_cpp", "HSI_LLM_MODEL": str(model)}
    return {}


class _CutAfterAlert:
    """The push socket, lost right after it delivered the first alert.created (a network blip, a
    server relay restart: 1012, a slow-consumer drop: 4008); what the server sent after it is lost."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._cut = False

    async def send_json(self, *args: Any, **kwargs: Any) -> None:
        await self._ws.send_json(*args, **kwargs)

    async def close(self) -> bool:
        return await self._ws.close()

    def __aiter__(self) -> _CutAfterAlert:
        return self

    async def __anext__(self) -> aiohttp.WSMessage:
        if self._cut:
            raise StopAsyncIteration
        message = await self._ws.__anext__()
        if message.type is aiohttp.WSMsgType.TEXT:
            try:
                kind = json.loads(message.data).get("type")
            except ValueError:
                kind = None
            if kind == "alert.created":
                self._cut = True
        return message


async def test_a_refinement_made_while_disconnected_reaches_home_assistant(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An alert is pushed and notified (rules text); the socket drops before the LLM's refinement of
    it is pushed, and is back once the server has refined it. The docs: refinements of open alerts fire
    the camera's alert entity again so the blueprint replaces its notification with the AI text. After
    the reconnect the refinement must reach Home Assistant (bus `refined`, alert entity refined)."""
    await hsi_server.create_rule(severity="high")
    real_connect = HSIClient.ws_connect
    released = asyncio.Event()
    connects = 0

    async def connect(self: HSIClient) -> Any:
        nonlocal connects
        connects += 1
        if connects == 1:
            return _CutAfterAlert(await real_connect(self))
        await released.wait()  # the reconnect backoff, made deterministic
        return await real_connect(self)

    monkeypatch.setattr(HSIClient, "ws_connect", connect)
    entry = await load_entry()
    coordinator = entry.runtime_data
    alerts = async_capture_events(hass, EVENT_ALERT)

    hsi_server.upload("Front Door")
    await wait_for(lambda: [e for e in alerts if e.data["action"] == "created"], 120)
    alert_id = next(e.data["id"] for e in alerts if e.data["action"] == "created")
    await wait_for(lambda: not coordinator.push.connected, 30)

    async def refined_on_server() -> dict[str, Any] | None:
        alert = await hsi_server.request("GET", f"/api/alerts/{alert_id}", expect=200)
        return alert if alert["metadata"].get("refined_at") else None

    server_alert = await eventually(refined_on_server, 180, "the server's refinement of the alert")
    assert server_alert["status"] in ("pending", "delivered"), server_alert["status"]

    released.set()
    await wait_for(lambda: coordinator.push.connected, 30)
    with contextlib.suppress(AssertionError):
        await wait_for(
            lambda: [e for e in alerts if e.data["id"] == alert_id and e.data["action"] == "refined"],
            30,
        )
    refined = [e for e in alerts if e.data["id"] == alert_id and e.data["action"] == "refined"]
    entity = hass.states.get("event.front_door_alert")
    assert len(refined) == 1, (
        "the alert was refined on the server while Home Assistant's push socket was down; after the "
        f"reconnect Home Assistant announced the refinement {len(refined)} times: the phone keeps the rules-only "
        "notification and the alert entity keeps refined="
        f"{entity.attributes.get('refined') if entity else None}, summary="
        f"{entity.attributes.get('summary') if entity else None!r} (server: "
        f"{str(server_alert['metadata'].get('summary'))[:60]!r}...)"
    )
    assert entity is not None and entity.attributes.get("refined") is True, entity
    assert entity.attributes.get("summary") == server_alert["metadata"].get("summary"), entity.attributes
