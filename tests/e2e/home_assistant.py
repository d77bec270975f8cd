"""A real Home Assistant process for the browser test, started the way `make ha` starts it.

`scripts/ha/run.py` writes the configuration, starts `hass` (with its frontend), completes onboarding
through Home Assistant's own API and adds the integration through its config flow. This module
waits for that, logs users in through Home Assistant's login flow (tokens a browser can use), and
speaks Home Assistant's WebSocket API for set-up steps (users, a dashboard).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import itertools
import json
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp

from tests.integration.hsi_server import REPO, free_port

DOMAIN = "home_security_intelligence"
RUN = REPO / "scripts" / "ha" / "run.py"
ADMIN = ("demo", "demo-password")  # made by run.py's onboarding


class HAError(AssertionError):
    """Home Assistant did not start or refused a set-up step (with its log tail)."""


class HomeAssistantProcess:
    """`scripts/ha/run.py` in a subprocess, against one HSI server."""

    def __init__(self, root: Path, server_port: int, api_key: str) -> None:
        self.config = root / "ha"
        self.log = root / "ha.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._args = [
            sys.executable, str(RUN), str(self.config),
            "--server-port", str(server_port), "--api-key", api_key, "--ha-port", str(self.port),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def log_tail(self, size: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else "(no log)"

    async def start(self, timeout: float = 400.0) -> None:
        """Start, then wait until run.py has added the integration and its entry is loaded."""
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(self._args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while b"integration added" not in (self.log.read_bytes() if self.log.exists() else b""):
            if self._process.poll() is not None:
                raise HAError(f"run.py exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise HAError(f"Home Assistant did not come up:\n{self.log_tail()}")
            await asyncio.sleep(1)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # run.py stops hass, which stops cleanly
        for _ in range(600):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.1)
        process.kill()
        process.wait()

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Tokens from Home Assistant's login flow, as its own login page gets them."""
        client_id = f"{self.base}/"
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base}/auth/login_flow",
                json={"client_id": client_id, "handler": ["homeassistant", None],
                      "redirect_uri": f"{client_id}?auth_callback=1"},
            ) as response:
                flow = await response.json()
            async with http.post(
                f"{self.base}/auth/login_flow/{flow['flow_id']}",
                json={"client_id": client_id, "username": username, "password": password},
            ) as response:
                result = await response.json()
            if result.get("type") != "create_entry":
                raise HAError(f"login of {username} failed: {result}")
            async with http.post(
                f"{self.base}/auth/token",
                data={"grant_type": "authorization_code", "code": result["result"], "client_id": client_id},
            ) as response:
                tokens = dict(await response.json())
        return {**tokens, "hassUrl": self.base, "clientId": client_id}

    @asynccontextmanager
    async def websocket(self, access_token: str) -> AsyncIterator[WebSocket]:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{self.base}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": access_token})
            answer = await ws.receive_json()
            if answer["type"] != "auth_ok":
                raise HAError(f"WebSocket auth failed: {answer}")
            yield WebSocket(ws)


class WebSocket:
    """Home Assistant's WebSocket API: one command at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, message: dict[str, Any]) -> Any:
        message_id = next(self._ids)
        await self._ws.send_json({**message, "id": message_id})
        while True:
            answer = await self._ws.receive_json()
            if answer.get("id") == message_id and answer.get("type") == "result":
                if not answer["success"]:
                    raise HAError(f"{message['type']} failed: {json.dumps(answer['error'])}")
                return answer["result"]
