"""Long-running loops of a role, supervised: restarted after a crash, stopped with the server.

Every role starter runs its loops through `spawn`, which also pushes their shutdown onto the server's
exit stack, so stopping the server stops them in reverse order of start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

_LOGGER = logging.getLogger("hsi.pipeline")

RESTART_DELAY_SECONDS = 5.0


async def supervise(name: str, stop: asyncio.Event, run: Callable[[], Awaitable[None]]) -> None:
    """Run `run()` until `stop`; if it crashes (Redis restarting...), log it and start it again."""
    while not stop.is_set():
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("%s stopped unexpectedly; restarting in %.0f s", name, RESTART_DELAY_SECONDS,
                              extra={"component": "pipeline"})
            try:
                await asyncio.wait_for(stop.wait(), RESTART_DELAY_SECONDS)
            except TimeoutError:
                pass


def spawn(stack: AsyncExitStack, stop: asyncio.Event, name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Start `run` under `supervise`; on shutdown set `stop` and give the loop 10 s to finish."""
    task = asyncio.create_task(supervise(name, stop, run), name=name)

    async def _shutdown() -> None:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(_shutdown)
