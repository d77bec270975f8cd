"""One camera's crowded batch does not take the LLM away from every other camera. The finding (a
review, then tried): the prompt listed up to 30 detections but every zone each is in, so a camera with
overlapping zones made a prompt five times the model's context; the llama.cpp backend's "does not fit",
a property of that batch, was retried (same prompt, same failure) and counted on the circuit breaker,
and two such events opened it: the next ordinary batch of another camera was scored by the rules. A
line names three zones ("and N more"), and a prompt over the context is neither retried nor counted.

Real llama.cpp backend (random-weight tiny GGUF, as tests/server/test_analyze_llama.py uses).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.analyze.analyzer import ResilientAnalyzer
from server.analyze.backends.llama_cpp import LlamaCppAnalyzer
from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.prompt import build_prompt
from server.analyze.resilience import BreakerState
from tests.support.gguf import write_tiny_gguf
from tests.support.llm_http import Clock, Sleeps

pytestmark = pytest.mark.timeout(600)
SMALL_CONTEXT = 4096  # the default HSI_LLM_CONTEXT


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def _ctx(camera: str, detections: int, zones: int) -> BatchContext:
    at = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
    hits = tuple(
        ZoneHit(f"Front garden overlapping area number {i} near the hedge", "yard", dwell_seconds=42.0)
        for i in range(zones)
    )
    return BatchContext(
        camera_id=camera,
        camera_name=camera.title(),
        started_at=at,
        ended_at=at + timedelta(seconds=detections),
        detections=tuple(
            DetectionInfo("person", 0.8, at + timedelta(seconds=i), 10, 10, 50, 100, 640, 480, zones=hits)
            for i in range(detections)
        ),
    )


@pytest.fixture
async def analyzer(tiny_model: Path) -> AsyncIterator[ResilientAnalyzer]:
    async def load() -> LlamaCppAnalyzer:
        # A context smaller than a crowded batch's prompt (one token per character with this vocabulary).
        return await LlamaCppAnalyzer.open(tiny_model, n_ctx=SMALL_CONTEXT, n_threads=1, seed=1234)

    resilient = ResilientAnalyzer(
        primary_name="llama_cpp", loader=load, timeout_seconds=300, sleep=Sleeps(), clock=Clock()
    )
    await resilient.start()
    yield resilient
    await resilient.close()


def test_the_prompt_of_a_batch_with_overlapping_zones_is_bounded() -> None:
    """30 detections (the cap) in 8 overlapping zones were ~38 k characters, ~10 k tokens for a real
    model, far past the default HSI_LLM_CONTEXT of 4096."""
    prompt = build_prompt(_ctx("garden", detections=30, zones=8))
    size = len(prompt.system) + len(prompt.user)
    assert size <= 4 * 4096, f"prompt of {size} characters for one batch"


async def test_an_oversized_batch_does_not_open_the_breaker_for_other_cameras(
    analyzer: ResilientAnalyzer,
) -> None:
    big = _ctx("garden", detections=30, zones=3)
    assert len(build_prompt(big).user) > SMALL_CONTEXT
    for _ in range(2):  # two events of that camera
        _assessment, backend = await analyzer.assess(big)
        assert backend == "rules_fallback"  # acceptable: it cannot fit

    # An ordinary batch of another camera, the model healthy:
    _assessment, backend = await analyzer.assess(_ctx("front", detections=1, zones=0))
    assert analyzer.breaker.state is BreakerState.CLOSED, analyzer.status()
    assert backend == "llama_cpp"


async def test_a_prompt_that_cannot_fit_is_not_retried(analyzer: ResilientAnalyzer) -> None:
    await analyzer.assess(_ctx("garden", detections=30, zones=3))
    sleeps = analyzer._sleep
    assert isinstance(sleeps, Sleeps)
    assert sleeps.delays == [], f"backed off {sleeps.delays} s to retry the same oversized prompt"
