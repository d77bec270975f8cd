"""A real server process with a detector that returns at once: the pipeline's own cost, measured.

    python bench/pipeline_server.py ROLE[,ROLE...]    (settings from HSI_* variables, as the server reads)

Run by `bench.pipeline` for its overhead measurement, once per code version: the driver puts the
version's source tree first on PYTHONPATH, so `server` here is that version's. Everything is the
product's (`server.runner.serve`: watcher, intake, streams, detect worker, commits, broadcasts; the
allocator tuned as `server run` tunes it) except the detector, replaced where that version's detect
role loads it by `NullDetector`, which finds nothing and costs nothing. Prints READY once the roles
run, and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any


class NullDetector:
    """A Detector that returns at once and finds nothing (the protocol of every version measured)."""

    name = "null"
    device = "cpu"
    fallback = False
    reason = "benchmark: a detector that costs nothing"
    model = None
    last_inference_ms: float | None = 0.0

    def detect(self, images: Sequence[Any]) -> list[list[Any]]:
        return [[] for _ in images]

    def warmup(self) -> None:
        return None


def install_null_detector() -> None:
    """Make this version's detect role load the null detector, wherever it looks the detector up."""
    import importlib.util

    def null(*_args: Any, **_kwargs: Any) -> Any:
        return NullDetector()

    if importlib.util.find_spec("server.detect.provision") is not None:  # since issue 11: a switchable slot
        from server.detect import provision

        provision.load_detector = null  # type: ignore[assignment]
    else:  # before it, the detect role (server/pipeline/roles.py) loaded the detector itself
        from server.pipeline import roles  # type: ignore[attr-defined]

        roles.load_detector = null  # type: ignore[attr-defined]


async def main(roles: list[str]) -> None:
    from server.config import load_settings
    from server.runner import serve

    async def ready(_runtime: Any) -> None:
        print("READY", flush=True)

    await serve(load_settings(), roles, on_ready=ready)


def tune_allocator() -> None:
    """What `python -m server run` does before its first decode, in versions that do it (since the
    allocator module): the memory settings are part of what each picture costs."""
    import importlib.util

    if importlib.util.find_spec("server.allocator") is not None:
        from server import allocator

        allocator.tune()


if __name__ == "__main__":
    install_null_detector()
    tune_allocator()
    asyncio.run(main(sys.argv[1].split(",")))
