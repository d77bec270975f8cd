"""The llama_cpp backend, for real: llama-cpp-python running a random-weight GGUF written by the test.

The model's words are noise, which is the point: whatever it samples, the grammar must make every
answer schema-valid JSON, and the strict parser must accept it. No mock anywhere on this path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.analyze.analyzer import FALLBACK_NAME, ResilientAnalyzer, build_analyzer, select_backend
from server.analyze.backends.llama_cpp import LlamaCppAnalyzer
from server.analyze.errors import BackendUnavailableError
from server.analyze.resilience import BreakerState
from server.analyze.schema import ASSESSMENT_MAX_BYTES, RiskAssessment
from server.config import Settings
from tests.server.scenarios import SCENARIOS
from tests.support.gguf import TINY_MODEL_CONTEXT, write_tiny_gguf

CONTEXT = TINY_MODEL_CONTEXT  # no answer can be cut off (see the llama_cpp backend's docstring)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
async def llama(tiny_model: Path) -> AsyncIterator[LlamaCppAnalyzer]:
    analyzer = await LlamaCppAnalyzer.open(tiny_model, n_ctx=CONTEXT, n_threads=1, seed=1234)
    yield analyzer
    await analyzer.close()


def test_tiny_context_holds_prompt_and_longest_answer() -> None:
    from server.analyze.prompt import build_prompt

    longest_prompt = max(len(build_prompt(s.ctx).system + build_prompt(s.ctx).user) for s in SCENARIOS)
    assert longest_prompt + 64 + ASSESSMENT_MAX_BYTES <= CONTEXT  # ≤ 1 token per character + template


async def test_every_answer_is_schema_valid(llama: LlamaCppAnalyzer) -> None:
    """32 batches of the scenario set, sampled at a temperature that explores: 100 % valid."""
    llama.temperature = 1.0
    llama.seed = None  # a fresh sampling seed per call
    try:
        results = [await llama.assess(scenario.ctx) for scenario in SCENARIOS[:32]]
    finally:
        llama.temperature, llama.seed = 0.2, 1234
    assert len(results) == 32
    for result in results:
        assert isinstance(result, RiskAssessment)
        assert 0 <= result.risk_score <= 100
        assert result.summary and result.reasoning
        assert len(result.model_dump_json().encode()) <= ASSESSMENT_MAX_BYTES + 200
    assert len({result.summary for result in results}) > 1  # really sampled, not one canned answer


async def test_concurrent_calls_are_serialized(llama: LlamaCppAnalyzer) -> None:
    results = await asyncio.gather(*(llama.assess(scenario.ctx) for scenario in SCENARIOS[-4:]))
    assert all(isinstance(result, RiskAssessment) for result in results)


@pytest.mark.parametrize("when", ["before", "during"])
async def test_cancelled_generation_frees_the_model(llama: LlamaCppAnalyzer, when: str) -> None:
    """A timed-out call stops the model (at once, or at its next token); the next call is served."""
    task = asyncio.create_task(llama.assess(SCENARIOS[0].ctx))
    if when == "during":
        for _ in range(500):  # until the worker thread holds the model, i.e. is generating
            if llama._model_lock.locked() or task.done():
                break
            await asyncio.sleep(0.001)
    if task.cancel():  # (False only if the answer was already complete: nothing left to stop)
        with pytest.raises(asyncio.CancelledError):
            await task
    result = await asyncio.wait_for(llama.assess(SCENARIOS[1].ctx), timeout=60)
    assert isinstance(result, RiskAssessment)


async def test_build_analyzer_uses_llama_cpp(tiny_model: Path) -> None:
    settings = Settings(llm="auto", llm_model=tiny_model, llm_context=CONTEXT, llm_gpu_layers=0)
    assert select_backend(settings) == "llama_cpp"
    analyzer = build_analyzer(settings)
    try:
        await analyzer.start()
        assert analyzer.status()["status"] == "healthy"
        assessment, backend = await analyzer.assess(SCENARIOS[0].ctx)
        assert backend == "llama_cpp"
        assert isinstance(assessment, RiskAssessment)
    finally:
        await analyzer.close()


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"HSI_LLM_MODEL .*missing\.gguf does not exist"):
        LlamaCppAnalyzer.load(tmp_path / "missing.gguf")


def test_not_a_gguf_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(BackendUnavailableError, match="is not a GGUF file"):
        LlamaCppAnalyzer.load(path)


def test_truncated_gguf_is_a_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.gguf"
    path.write_bytes(tiny_model.read_bytes()[:5000])  # a download cut short: valid magic, no tensors
    with pytest.raises(BackendUnavailableError, match="llama.cpp cannot load"):
        LlamaCppAnalyzer.load(path)


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
async def test_unloadable_model_degrades_to_rules(
    problem: str, tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "model.gguf"
    if problem == "corrupt":
        path.write_bytes(tiny_model.read_bytes()[:5000])
    analyzer = build_analyzer(Settings(llm="llama_cpp", llm_model=path))
    try:
        with caplog.at_level(logging.WARNING, logger="hsi.analyze"):
            await analyzer.start()  # does not raise: the server must start anyway
            status = analyzer.status()
            assert status["status"] == "degraded" and status["loaded"] is False
            assert str(path) in status["last_error"]
            assessment, backend = await analyzer.assess(SCENARIOS[0].ctx)
        assert backend == "rules_fallback"
        assert isinstance(assessment, RiskAssessment)
        assert any("unavailable" in record.getMessage() for record in caplog.records)
    finally:
        await analyzer.close()


async def test_a_burst_on_a_healthy_model_is_refined_by_it_and_never_opens_the_breaker(
    llama: LlamaCppAnalyzer,
) -> None:
    """A review's finding: the model serves one call at a time, and the time budget ran while a call
    waited for its turn, so a timeout there counted as a failure of the model. Eight events at once, a
    budget of two calls' time: six fell back and the breaker opened (the next event, the model idle,
    went to the rules). The budget now starts at the model's turn: every event is scored by the model."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        await llama.assess(SCENARIOS[0].ctx)
        times.append(time.monotonic() - started)

    async def loaded() -> LlamaCppAnalyzer:
        return llama

    analyzer = ResilientAnalyzer(primary_name="llama_cpp", loader=loaded, timeout_seconds=2 * max(times))
    await analyzer.start()
    burst = await asyncio.gather(*(analyzer.assess(SCENARIOS[0].ctx) for _ in range(8)))
    assert [backend for _, backend in burst] == ["llama_cpp"] * 8
    assert (analyzer.breaker.state, analyzer.breaker.consecutive_failures) == (BreakerState.CLOSED, 0)

    # A preview, for which a person waits, waits one budget for its turn at most, then the rules score
    # it; the model's health is untouched.
    calls = [asyncio.create_task(analyzer.assess(SCENARIOS[0].ctx)) for _ in range(4)]
    await asyncio.sleep(0)
    _, backend = await analyzer.preview(SCENARIOS[0].ctx)
    assert backend == FALLBACK_NAME
    assert [backend for _, backend in await asyncio.gather(*calls)] == ["llama_cpp"] * 4
    assert (analyzer.preview_breaker.state, analyzer.breaker.consecutive_failures) == (BreakerState.CLOSED, 0)
