"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) as a real peer for the
openai backend, used by its test and by bench/analysis_latency.py."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from tests.support.gguf import TINY_MODEL_CONTEXT


def llama_server_command(model: Path, *, threads: int | None = None) -> tuple[list[str], str]:
    """The command that serves `model` on a free 127.0.0.1 port, and the base URL it will answer on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(TINY_MODEL_CONTEXT), "--seed", "7"]
    if threads:
        command += ["--n_threads", str(threads)]
    return command, f"http://127.0.0.1:{port}"
