"""The browser test's stack: a real HSI server that has processed real photos and a real clip, a real
Home Assistant (with its frontend) with the integration added through its config flow, an admin and
a non-admin user, an empty dashboard, and headless Chromium (Debian's, never a downloaded one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.hsi_server import PEOPLE_ONLY_BOX, HSIServer, eventually, make_template, photo_variant
from tests.support.real_media import media_path

from .home_assistant import ADMIN, HomeAssistantProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-quic", "--hide-scrollbars",
]
#: Real photos and a real clip, fetched by `make media` (nothing third-party is committed).
PEOPLE_WALKING = media_path("people_walking.jpg")
BUS = media_path("bus.jpg")
CLIP = media_path("vtest.avi")
#: Enough events for a full first page of 50 and a second page behind it.
TARGET_EVENTS = 56
USER = ("household", "household-password")
DASHBOARD = "security-dashboard"


@dataclass
class Stack:
    server: HSIServer
    ha: HomeAssistantProcess
    admin: dict[str, Any]
    user: dict[str, Any]
    front_door_alert: dict[str, Any]
    clip_event: dict[str, Any]

    @property
    def dashboard(self) -> str:
        return f"{self.ha.base}/{DASHBOARD}/home"


#: Camera folders and the real photo each one's uploads are made of.
PHOTO_CAMERAS: dict[str, tuple[Path, tuple[int, int, int, int] | None]] = {
    "Front Door": (PEOPLE_WALKING, PEOPLE_ONLY_BOX), "Back Yard": (PEOPLE_WALKING, PEOPLE_ONLY_BOX),
    "Driveway": (BUS, None), "Garage": (BUS, None),
}


async def populate(server: HSIServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Upload photos round by round, each round one per camera and each upload its own event (the
    next round waits for them), until the server holds TARGET_EVENTS; plus one clip. Returns the
    front door's alert and the clip's event."""
    for name in (*PHOTO_CAMERAS, "Walkway"):
        await server.request("POST", "/api/cameras", json_body={"name": name}, expect=201)
    await server.create_rule(name="People at the front door", camera_ids=["front_door"], cooldown_seconds=3600)
    server.upload("Walkway", CLIP.read_bytes(), name="walkway_0001.avi")
    total = 0
    for round_ in range(1, 40):
        if total >= TARGET_EVENTS:
            break
        for camera, (photo, box) in PHOTO_CAMERAS.items():
            server.upload(camera, photo_variant(photo, round_, box))
        expected = total + len(PHOTO_CAMERAS)

        async def made() -> int | None:
            count = int((await server.request("GET", "/api/events/stats", expect=200))["total"])
            return count if count >= expected else None

        total = await eventually(made, 60, f"the events of round {round_}\n{server.log_tail()}")
    assert total >= TARGET_EVENTS, server.log_tail()
    async def clip_event() -> dict[str, Any] | None:
        events = await server.items("/api/events?camera_id=walkway")
        return next((e for e in events if e["has_clip"]), None)

    async def alert() -> dict[str, Any] | None:
        alerts = await server.items("/api/alerts")
        return alerts[0] if alerts else None

    found = await eventually(alert, 60, "the front door's alert"), await eventually(clip_event, 120, "the clip")
    await settled(server)
    return found


async def settled(server: HSIServer) -> None:
    """Wait until the last uploads have become events: the queues are empty and the number of
    events stays the same for longer than a batch can stay open idle."""
    last = -1
    while True:
        stats = await server.request("GET", "/api/system/stats", expect=200)
        total = (await server.request("GET", "/api/events/stats", expect=200))["total"]
        if total == last and not stats["queues"]["detect"] and not stats["queues"]["analyze"]:
            return
        last = total
        await asyncio.sleep(3)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    assert CHROMIUM.exists(), "apt-get install chromium (make test-e2e installs it)"
    root = tmp_path_factory.mktemp("e2e")
    api_key = make_template(root / "template")
    server = HSIServer(root / "hsi", root / "template", api_key)
    ha = HomeAssistantProcess(root, server.port, api_key)
    try:
        await server.start()
        # Home Assistant starts while the server works through the uploads (2 cores: ~1 min each).
        (alert, clip), _ = await asyncio.gather(populate(server), ha.start())
        admin = await ha.login(*ADMIN)
        async with ha.websocket(admin["access_token"]) as ws:
            user = await ws.call({"type": "config/auth/create", "name": "Household", "group_ids": ["system-users"]})
            await ws.call({"type": "config/auth_provider/homeassistant/create", "user_id": user["user"]["id"],
                           "username": USER[0], "password": USER[1]})
            await ws.call({"type": "lovelace/dashboards/create", "url_path": DASHBOARD, "title": "Security",
                           "mode": "storage", "require_admin": False, "show_in_sidebar": True})
            await ws.call({"type": "lovelace/config/save", "url_path": DASHBOARD,
                           "config": {"views": [{"title": "Security", "path": "home", "cards": []}]}})
        yield Stack(server, ha, admin, await ha.login(*USER), alert, clip)
    finally:
        await ha.stop()
        await server.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


async def signed_in(browser: Any, tokens: dict[str, Any], width: int, height: int) -> Any:
    """A browser context whose Home Assistant frontend is signed in with these tokens (stored
    where the frontend keeps its own), at a viewport size."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    stored = {key: tokens[key] for key in
              ("access_token", "token_type", "expires_in", "refresh_token", "hassUrl", "clientId")}
    await context.add_init_script(
        f"const t = {json.dumps(stored)}; t.expires = Date.now() + t.expires_in * 1000;"
        "localStorage.setItem('hassTokens', JSON.stringify(t));"
    )
    return context
