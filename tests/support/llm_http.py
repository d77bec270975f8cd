"""A scripted OpenAI-compatible LLM server on 127.0.0.1 and a recorder of backoff sleeps.

The server stands in for an external LLM server (llama.cpp server, vLLM, Ollama) and can be told to
answer well, answer garbage, fail with 500, hang, or stream without end; the openai backend talks real
HTTP to it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

GOOD_ANSWER = {
    "risk_factors": ["daytime visit"],
    "reasoning": "A courier left a parcel at the door in daylight.",
    "risk_score": 7,
    "summary": "A person delivered a parcel at the front door.",
}


class LLMServer:
    """A real OpenAI-compatible HTTP server whose next answers the test scripts."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.default = "valid"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.streamed = 0  # bytes of "runaway" replies written
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "nemotron-test", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        behaviour = self.script.pop(0) if self.script else self.default
        if behaviour == "hang":
            await asyncio.sleep(3600)
        if behaviour == "runaway":  # a reply that never ends: counts what the client takes
            response = web.StreamResponse()
            await response.prepare(request)
            chunk = b"x" * (1 << 20)
            try:
                while True:
                    await response.write(chunk)
                    self.streamed += len(chunk)
            except ConnectionError:  # the client hung up
                return response
        if behaviour == "error":
            return web.json_response({"error": {"message": "model crashed"}}, status=500)
        if behaviour == "not_chat":
            return web.Response(text="<html>proxy error</html>", content_type="text/html")
        content = json.dumps(GOOD_ANSWER) if behaviour == "valid" else "Sure! Here is the risk: {high}"
        return web.json_response(
            {"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Records backoff delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
