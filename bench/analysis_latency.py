"""Analysis latency per backend: rules, llama.cpp in process, the openai backend over HTTP, a small model's speed.

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
* **llama_cpp small-shape** (unless --no-small): a random-weight GGUF shaped like SmolLM2-135M (F16).
  A random model of a real shape runs at that model's speed per token, but its answers have random
  lengths and its synthetic vocabulary spells English letter by letter, so it is measured per token
  (prompt evaluation and generation throughput) and the latency of a typical analysis is estimated
  from the real prompt's size (≈ 4 characters per token for English) and a typical answer length.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from server.analyze.backends.llama_cpp import LlamaCppAnalyzer
from server.analyze.backends.openai import OpenAIAnalyzer
from server.analyze.backends.rules import score_batch
from server.analyze.errors import AnalysisError, BackendUnavailableError
from server.analyze.prompt import build_prompt
from tests.server.scenarios import SCENARIOS
from tests.support.gguf import SMALL, TINY_MODEL_CONTEXT, write_random_gguf, write_tiny_gguf
from tests.support.llama_server import llama_server_command

#: Typical answer of a real model under the schema (summary + reasoning + a few factors).
TYPICAL_ANSWER_TOKENS = 160
CHARS_PER_TOKEN = 4.0


def machine_info() -> dict[str, Any]:
    import llama_cpp

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": version("torch"),
        "llama_cpp_python": llama_cpp.__version__,
        "llama_gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
    }


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


def bench_llama_small(work: Path, threads: int | None, prompt_tokens: int, gen_tokens: int) -> dict[str, Any]:
    """Throughput at SmolLM2-135M's shape, and the latency of a typical analysis estimated from it."""
    import numpy as np
    from llama_cpp import Llama

    started = time.perf_counter()
    model = write_random_gguf(work / "small.gguf", SMALL, dtype=np.float16)
    write_s = time.perf_counter() - started
    llama = Llama(model_path=str(model), n_ctx=prompt_tokens + gen_tokens + 8, n_threads=threads,
                  n_gpu_layers=-1, verbose=False)
    try:
        tokens = [int(token) for token in np.random.default_rng(0).integers(300, llama.n_vocab(), prompt_tokens)]
        llama.reset()
        llama.eval(tokens[:32])  # warm-up
        llama.reset()
        started = time.perf_counter()
        llama.eval(tokens)
        prompt_s = time.perf_counter() - started
        started = time.perf_counter()
        for token in tokens[:gen_tokens]:
            llama.eval([token])  # one decode step per token, as generation does
        gen_s = time.perf_counter() - started
    finally:
        llama.close()
    prompt_tps = prompt_tokens / prompt_s
    gen_tps = gen_tokens / gen_s
    real_prompt_tokens = statistics.median(
        len(build_prompt(s.ctx).system + build_prompt(s.ctx).user) / CHARS_PER_TOKEN for s in SCENARIOS
    )
    estimate_ms = (real_prompt_tokens / prompt_tps + TYPICAL_ANSWER_TOKENS / gen_tps) * 1000
    return {
        "backend": "llama_cpp (SmolLM2-135M shape, random F16)",
        "params_m": round(model.stat().st_size / 2 / 1e6, 1),
        "gguf_write_s": round(write_s, 1),
        "prompt_tokens_per_s": round(prompt_tps, 1),
        "generation_tokens_per_s": round(gen_tps, 1),
        "typical_prompt_tokens": round(real_prompt_tokens),
        "typical_answer_tokens": TYPICAL_ANSWER_TOKENS,
        "p50_ms": round(estimate_ms, 1),
        "estimated": True,
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
            lines.append(
                f"{result['backend']}: {result['valid_answers']}/{result['n']} answers passed the strict parse "
                "(a random model under that server's looser grammar: its timings are generation, not analyses)"
            )
        if "prompt_tokens_per_s" in result:
            lines.append(
                f"{result['backend']}: prompt {result['prompt_tokens_per_s']} tok/s, generation "
                f"{result['generation_tokens_per_s']} tok/s; typical analysis ≈ {result['typical_prompt_tokens']} "
                f"prompt + {result['typical_answer_tokens']} answer tokens ≈ {result['p50_ms'] / 1000:.1f} s"
            )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info()
    results = [bench_rules(args.rules_calls)]
    with tempfile.TemporaryDirectory(prefix="hsi-bench-") as tmp:
        work = Path(tmp)
        results.append(await bench_llama_tiny(work, args.calls, args.threads))
        if importlib.util.find_spec("llama_cpp.server") and importlib.util.find_spec("fastapi"):
            results.append(await bench_openai_llama_server(work, args.calls, args.threads))
        else:
            print("openai backend skipped: llama-cpp-python[server] is not installed (the test extra has it)")
        if not args.no_small:
            results.append(bench_llama_small(work, args.threads, args.prompt_tokens, args.gen_tokens))
    print(report(results, machine))
    return {"bench": "analysis_latency", "machine": machine, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="llama_cpp tiny calls")
    parser.add_argument("--rules-calls", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: its own)")
    parser.add_argument("--no-small", action="store_true", help="skip the SmolLM2-135M-shaped model")
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=64)
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
