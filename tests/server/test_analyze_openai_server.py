"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's own, on the tiny GGUF.

That server takes a schema only as `response_format: {"type": "json_object", "schema": ...}` and answers
OpenAI's `json_schema` form with an HTTP error; the backend must notice and switch dialect rather than
fail every batch into the rules fallback.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import pytest

from server.analyze.backends.openai import JSON_OBJECT_FORMAT, OpenAIAnalyzer
from server.analyze.errors import AnalysisOutputError, BackendUnavailableError
from tests.server.scenarios import SCENARIOS
from tests.support.gguf import write_tiny_gguf
from tests.support.llama_server import llama_server_command


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = write_tiny_gguf(tmp_path_factory.mktemp("llm") / "tiny.gguf")
    command, url = llama_server_command(model)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def started(url: str) -> OpenAIAnalyzer:
    analyzer = OpenAIAnalyzer(url, timeout_seconds=120)
    deadline = time.monotonic() + 60
    while True:
        try:
            await analyzer.start()
            return analyzer
        except BackendUnavailableError:
            assert time.monotonic() < deadline, "llama_cpp.server did not come up in 60 s"
            await asyncio.sleep(0.2)


async def test_backend_switches_to_the_servers_schema_dialect_and_gets_a_constrained_answer(
    llama_server: str,
) -> None:
    analyzer = await started(llama_server)
    try:
        assert analyzer.model and analyzer.model.endswith("tiny.gguf")  # learnt from GET /v1/models
        # A random-weight model's text may fail the strict parse (AnalysisOutputError); any other
        # AnalysisError (the server refusing the request) fails the test.
        for scenario in SCENARIOS[:2]:
            try:
                await analyzer.assess(scenario.ctx)
            except AnalysisOutputError:
                pass
            assert analyzer.response_format is JSON_OBJECT_FORMAT
    finally:
        await analyzer.close()
