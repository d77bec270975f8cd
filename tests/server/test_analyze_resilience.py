"""Garbage, errors, hangs and outages end in the rules fallback, with the reason logged.

The primary here is the real `openai` backend talking HTTP to a real aiohttp server on 127.0.0.1
(`tests.support.llm_http`), which can be told to answer well, answer garbage, fail with 500, or
hang. Retry delays and the breaker's clock are injected so no test waits for real backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server.analyze.analyzer import FALLBACK_NAME, ResilientAnalyzer, build_analyzer, select_backend
from server.analyze.backends.openai import MAX_RESPONSE_BYTES, OpenAIAnalyzer
from server.analyze.errors import AnalysisError, AnalysisOutputError, BackendUnavailableError
from server.analyze.resilience import BreakerState, CircuitBreaker, RetryPolicy
from server.analyze.schema import ASSESSMENT_JSON_SCHEMA
from server.config import Settings
from server.hub import HubFetcher, HubModel
from tests.server.scenarios import SCENARIOS
from tests.support.llm_http import GOOD_ANSWER, Clock, LLMServer, Sleeps

BATCH = SCENARIOS[0].ctx


def make(url: str, sleeps: Sleeps, clock: Clock | None = None, timeout: float = 5.0) -> ResilientAnalyzer:
    settings = Settings(llm="openai", llm_url=url, llm_api_key="sk-local", llm_timeout_seconds=timeout)
    return build_analyzer(settings, sleep=sleeps, clock=clock or Clock())


def test_auto_prefers_a_server_set_to_a_hub_model_not_fetched_yet(tmp_path: Path) -> None:
    """The finding (a review, then tried): the add-on ships the Nemotron Hub id as its model, so a user
    who set `llm_url` to their GPU box's server still got llama_cpp (a 2.7 GB download, then tens of
    seconds per event on the add-on's CPU), against the option's description ('the GGUF model if
    present, else an OpenAI-compatible server')."""
    hub = "bartowski/Nemotron-Mini-4B-Instruct-GGUF/Nemotron-Mini-4B-Instruct-Q4_K_M.gguf"
    settings = Settings(llm="auto", llm_model=hub, llm_url="http://192.168.1.20:8080", data_dir=tmp_path)
    assert select_backend(settings) == "openai"
    assert select_backend(settings.model_copy(update={"llm_url": None})) == "llama_cpp"  # fetched meanwhile
    assert isinstance(settings.llm_model, HubModel)
    fetched = HubFetcher(settings.llm_model, settings.models_dir)
    fetched.folder.mkdir(parents=True)
    (fetched.folder / "Nemotron-Mini-4B-Instruct-Q4_K_M.gguf").write_bytes(b"GGUF")
    fetched.manifest.write_text(json.dumps({"files": {"Nemotron-Mini-4B-Instruct-Q4_K_M.gguf": 4}}))
    assert select_backend(settings) == "llama_cpp"  # present: the model the user has wins


async def test_valid_answer_is_used_and_request_carries_the_schema(llm_server: LLMServer) -> None:
    assert select_backend(Settings(llm="auto", llm_url=llm_server.url)) == "openai"
    analyzer = make(llm_server.url, Sleeps())
    try:
        await analyzer.start()
        assessment, backend = await analyzer.assess(BATCH)
    finally:
        await analyzer.close()
    assert backend == "openai"
    assert assessment.risk_score == 7 and assessment.summary == GOOD_ANSWER["summary"]
    request = llm_server.requests[0]
    assert request["model"] == "nemotron-test"  # learned from /v1/models
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "risk_assessment", "strict": True, "schema": ASSESSMENT_JSON_SCHEMA},
    }
    assert [message["role"] for message in request["messages"]] == ["system", "user"]
    assert 'Camera: "Front Yard"' in request["messages"][1]["content"]
    assert llm_server.headers[0]["Authorization"] == "Bearer sk-local"


async def test_garbage_is_retried_then_falls_back_with_reason_logged(
    llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.default = "garbage"
    sleeps = Sleeps()
    analyzer = make(llm_server.url, sleeps)
    try:
        with caplog.at_level(logging.WARNING, logger="hsi.analyze"):
            assessment, backend = await analyzer.assess(BATCH)
    finally:
        await analyzer.close()
    assert backend == FALLBACK_NAME
    assert assessment.risk_level.value == "low"  # the rules scorer's verdict on a daytime delivery
    assert len(llm_server.requests) == 3
    assert sleeps.delays == [1.0, 2.0]
    fallback_logs = [r.getMessage() for r in caplog.records if "rules fallback" in r.getMessage()]
    assert (
        fallback_logs and "output is not valid JSON: Expecting value at line 1 column 1" in fallback_logs[0]
    )
    assert analyzer.last_error is not None and "after 3 attempts" in analyzer.last_error


async def test_server_errors_are_retried_until_an_answer(llm_server: LLMServer) -> None:
    llm_server.script = ["error", "not_chat", "valid"]
    sleeps = Sleeps()
    analyzer = make(llm_server.url, sleeps)
    try:
        assessment, backend = await analyzer.assess(BATCH)
        assert analyzer.status()["status"] == "healthy"
    finally:
        await analyzer.close()
    assert backend == "openai" and assessment.risk_score == 7
    assert sleeps.delays == [1.0, 2.0]


async def test_hanging_server_times_out_to_the_fallback(
    llm_server: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.default = "hang"
    analyzer = make(llm_server.url, Sleeps(), timeout=0.5)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with caplog.at_level(logging.WARNING, logger="hsi.analyze"):
            assessment, backend = await analyzer.assess(BATCH)
        elapsed = loop.time() - started
    finally:
        await analyzer.close()
    assert backend == FALLBACK_NAME and assessment.summary
    assert 0.4 <= elapsed < 3.0  # the time budget holds, retries included
    assert any("openai timed out after 0.5 s" in record.getMessage() for record in caplog.records)


async def test_breaker_opens_after_five_failures_and_skips_the_primary(llm_server: LLMServer) -> None:
    llm_server.default = "error"
    clock = Clock()
    analyzer = make(llm_server.url, Sleeps(), clock)
    try:
        first, backend = await analyzer.assess(BATCH)  # 3 failed attempts
        assert backend == FALLBACK_NAME and len(llm_server.requests) == 3
        _, backend = await analyzer.assess(BATCH)  # 2 more: the fifth failure opens the breaker
        assert backend == FALLBACK_NAME and len(llm_server.requests) == 5
        assert analyzer.status()["breaker"] == "open"
        assert analyzer.status()["status"] == "degraded"

        for _ in range(3):  # open: the primary is not called at all
            _, backend = await analyzer.assess(BATCH)
            assert backend == FALLBACK_NAME
        assert len(llm_server.requests) == 5
        assert "circuit breaker open" in (analyzer.last_error or "")

        clock.now += 59.0
        await analyzer.assess(BATCH)
        assert len(llm_server.requests) == 5  # still within the 60 s recovery

        clock.now += 1.0  # half-open: one trial call; it fails, so the breaker opens again
        _, backend = await analyzer.assess(BATCH)
        assert backend == FALLBACK_NAME and len(llm_server.requests) == 6
        assert analyzer.status()["breaker"] == "open"

        llm_server.default = "valid"
        clock.now += 60.0  # the next trial succeeds and closes the breaker
        assessment, backend = await analyzer.assess(BATCH)
        assert backend == "openai" and assessment.risk_score == 7
        status = analyzer.status()
        assert (status["breaker"], status["status"], status["consecutive_failures"]) == (
            "closed",
            "healthy",
            0,
        )
    finally:
        await analyzer.close()


async def test_a_cancelled_trial_lets_the_next_call_try(llm_server: LLMServer) -> None:
    """A review's finding: the half-open breaker's one trial, cancelled (a preview whose request went
    away, a shutdown), recorded nothing, so the breaker stayed half-open with its trial taken: every
    later call fell back, the model was never tried again, until a restart."""
    llm_server.default = "error"
    clock = Clock()
    analyzer = make(llm_server.url, Sleeps(), clock)
    try:
        for _ in range(2):  # 3 + 2 failed attempts: the breaker opens
            await analyzer.assess(BATCH)
        assert analyzer.status()["breaker"] == "open"
        clock.now += 60.0  # half-open: one trial
        llm_server.default = "hang"
        trial = asyncio.create_task(analyzer.assess(BATCH))
        await asyncio.sleep(0.3)
        assert len(llm_server.requests) == 6  # the trial is at the model
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        llm_server.default = "valid"
        _, backend = await analyzer.assess(BATCH)
        assert backend == "openai"  # rules_fallback ("circuit breaker open") for good without the change
        assert analyzer.status()["breaker"] == "closed"
    finally:
        await analyzer.close()


async def test_server_down_at_start_degrades_then_recovers() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = Clock()
    analyzer = make(f"http://127.0.0.1:{port}", Sleeps(), clock)
    server = LLMServer()
    try:
        await analyzer.start()  # must not raise: the server starts anyway
        status = analyzer.status()
        assert status["status"] == "degraded" and status["loaded"] is False
        assert "unreachable" in status["last_error"]
        _, backend = await analyzer.assess(BATCH)
        assert backend == FALLBACK_NAME

        await server.start(port)
        clock.now += 61.0  # past the reload interval: the next call starts a background reload
        _, backend = await analyzer.assess(BATCH)
        assert backend == FALLBACK_NAME  # this one does not wait for the reload
        for _ in range(100):
            if analyzer.status()["loaded"]:
                break
            await asyncio.sleep(0.02)
        assessment, backend = await analyzer.assess(BATCH)
        assert backend == "openai" and assessment.risk_score == 7
        assert analyzer.status()["status"] == "healthy"
    finally:
        await analyzer.close()
        await server.stop()


async def test_openai_backend_errors_are_precise(llm_server: LLMServer) -> None:
    backend = OpenAIAnalyzer(llm_server.url + "/v1", timeout_seconds=5)  # a pasted /v1 suffix is fine
    try:
        llm_server.script = ["error", "not_chat", "garbage"]
        with pytest.raises(AnalysisError, match="HTTP 500"):
            await backend.assess(BATCH)
        with pytest.raises(AnalysisOutputError, match="not a chat completion"):
            await backend.assess(BATCH)
        with pytest.raises(AnalysisOutputError, match="not valid JSON"):
            await backend.assess(BATCH)
    finally:
        await backend.close()
    unreachable = OpenAIAnalyzer("http://127.0.0.1:9", timeout_seconds=2)
    try:
        with pytest.raises(BackendUnavailableError, match="unreachable"):
            await unreachable.start()
    finally:
        await unreachable.close()


async def test_a_reply_that_never_ends_is_not_read_into_memory(llm_server: LLMServer) -> None:
    """The finding (a review): the backend read the whole reply, however large, until the timeout."""
    backend = OpenAIAnalyzer(llm_server.url, timeout_seconds=30)
    llm_server.script = ["runaway"]
    try:
        with pytest.raises(AnalysisOutputError, match=f"over {MAX_RESPONSE_BYTES} bytes"):
            await asyncio.wait_for(backend.assess(BATCH), 10)
    finally:
        await backend.close()
    assert llm_server.streamed < 64 * MAX_RESPONSE_BYTES  # the client stopped reading long before


async def test_rules_backend_needs_no_model() -> None:
    analyzer = build_analyzer(Settings(llm="auto"))
    assert analyzer.primary_name == "rules"
    assessment, backend = await analyzer.assess(BATCH)
    assert backend == "rules" and analyzer.status()["status"] == "healthy"
    assert assessment.risk_level.value == "low"
    await analyzer.close()


def test_retry_delays_double_up_to_the_cap() -> None:
    assert [RetryPolicy().delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_breaker_half_open_allows_one_trial_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, recovery_seconds=60, clock=clock)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 60
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # a second concurrent trial waits
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0


class SwappingServer:
    """Answers chats for one model, like vLLM or Ollama: a request naming another model is answered 404
    "model not found". The served model can be changed (the server restarted with a new model) while
    HSI keeps running; `others` are listed before it (Ollama lists its models in any order)."""

    def __init__(self) -> None:
        self.served = "model-a"
        self.others: list[str] = []
        self.requested: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _models(self, _request: web.Request) -> web.Response:
        listed = [*self.others, self.served]
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in listed]})

    async def _chat(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.requested.append(body["model"])
        if body["model"] != self.served:
            return web.json_response(
                {
                    "error": {
                        "message": f"The model `{body['model']}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
                status=404,
            )
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(GOOD_ANSWER)},
                        "finish_reason": "stop",
                    }
                ],
            }
        )


@pytest.fixture
async def swapping() -> AsyncIterator[SwappingServer]:
    server = SwappingServer()
    await server.start()
    yield server
    assert server.runner is not None
    await server.runner.cleanup()


async def test_a_model_swapped_on_the_llm_server_is_learnt_again(swapping: SwappingServer) -> None:
    """The finding (a review, then tried): the model name learnt from GET /v1/models at the start was sent
    for the life of the process, so once the user swapped the model on their vLLM / Ollama server every
    request got 404 and every event was scored by the rules until HSI was restarted."""
    clock = Clock()
    analyzer = build_analyzer(
        Settings(llm="openai", llm_url=swapping.url, llm_timeout_seconds=5), sleep=Sleeps(), clock=clock
    )
    try:
        await analyzer.start()
        _, backend = await analyzer.assess(BATCH)
        assert backend == "openai"
        swapping.served = "model-b"  # the LLM server now serves another model
        _, backend = await analyzer.assess(BATCH)
        assert backend == "openai"  # at once: the 404 made it learn the served model again
        assert swapping.requested == ["model-a", "model-a", "model-b"]
    finally:
        await analyzer.close()


async def test_the_model_named_for_the_server_is_the_one_asked(swapping: SwappingServer) -> None:
    """A review's suspicion, tried: nothing named the model on a server with several (Ollama lists its
    models in any order, an embedding model maybe first), and every call went to the first listed:
    each event fell back to the rules. HSI_LLM_SERVER_MODEL names it."""
    swapping.served, swapping.others = "nemotron-mini:4b", ["nomic-embed-text"]
    for named, expected in ((None, "rules_fallback"), ("nemotron-mini:4b", "openai")):
        settings = Settings(llm="openai", llm_url=swapping.url, llm_server_model=named, llm_timeout_seconds=5)
        analyzer = build_analyzer(settings, sleep=Sleeps(), clock=Clock())
        try:
            await analyzer.start()
            _, backend = await analyzer.assess(BATCH)
        finally:
            await analyzer.close()
        assert backend == expected, named
    assert swapping.requested[-1] == "nemotron-mini:4b"
