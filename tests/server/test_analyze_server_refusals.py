"""The OpenAI-compatible backend's HTTP refusals and the analyzer's retries. Findings (a review, then
tried):

- 429 with Retry-After: the server says when to come back; the analyzer retried after its own 1 s
  backoff regardless (and counted the 429 as a backend failure on the breaker).
- 404 for a model name the server does not have (Ollama: `model "x" not found, try pulling it first`):
  the same request fails the same way every time, yet it was retried with backoff, twice per event.

The server is a stand-in on 127.0.0.1; backend and resilient analyzer are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from server.analyze.analyzer import build_analyzer
from server.config import Settings
from tests.server.scenarios import SCENARIOS
from tests.support.llm_http import GOOD_ANSWER, Clock, Sleeps


class Server:
    def __init__(self) -> None:
        self.script: list[web.Response] = []
        self.calls = 0

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "nemotron", "object": "model"}]})

    async def chat(self, _request: web.Request) -> web.Response:
        self.calls += 1
        if self.script:
            return self.script.pop(0)
        return web.json_response(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(GOOD_ANSWER)},
                        "finish_reason": "stop",
                    }
                ]
            }
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    stand_in = Server()
    app = web.Application()
    app.router.add_get("/v1/models", stand_in.models)
    app.router.add_post("/v1/chat/completions", stand_in.chat)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield stand_in, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_429_retry_after_is_honoured(server: tuple[Server, str]) -> None:
    stand_in, url = server
    stand_in.script = [
        web.json_response({"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": "5"})
    ]
    sleeps = Sleeps()
    analyzer = build_analyzer(
        Settings(llm="openai", llm_url=url, llm_timeout_seconds=30), sleep=sleeps, clock=Clock()
    )
    try:
        await analyzer.start()
        _assessment, backend = await analyzer.assess(SCENARIOS[0].ctx)
        assert backend == "openai"
        assert sleeps.delays and sleeps.delays[0] >= 5, f"waited {sleeps.delays} s after 'Retry-After: 5'"
    finally:
        await analyzer.close()


async def test_a_model_the_server_does_not_have_is_not_retried(server: tuple[Server, str]) -> None:
    stand_in, url = server
    not_found = {
        "error": {"message": 'model "llama3" not found, try pulling it first', "type": "not_found_error"}
    }
    stand_in.script = [web.json_response(not_found, status=404) for _ in range(10)]
    sleeps = Sleeps()
    analyzer = build_analyzer(
        Settings(llm="openai", llm_url=url, llm_server_model="llama3", llm_timeout_seconds=30),
        sleep=sleeps,
        clock=Clock(),
    )
    try:
        await analyzer.start()
        _assessment, backend = await analyzer.assess(SCENARIOS[0].ctx)
        assert backend == "rules_fallback"
        assert stand_in.calls == 1, f"{stand_in.calls} identical requests, backoff {sleeps.delays} s"
    finally:
        await analyzer.close()
