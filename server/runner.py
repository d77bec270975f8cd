"""Start and stop a server process: stores, migrations, the roles it was asked for, the HTTP API.

`python -m server run` runs every role in one process; `api`, `worker detect` and `worker analyze`
run one role each against a shared PostgreSQL and Redis (the roles are built by `server.application`).
Shutdown happens in reverse order of start, on SIGINT or SIGTERM, so nothing keeps running after the
command returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

from server.application import ROLES, Application
from server.broker import open_redis
from server.config import Settings
from server.db import open_database
from server.logs import ensure_database_logging
from server.migrate import upgrade
from server.runtime import Runtime, instance_id

__all__ = ["ROLES", "serve"]

_LOGGER = logging.getLogger("hsi.runner")


async def serve(
    settings: Settings,
    roles: Sequence[str],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Runtime], Awaitable[None]] | None = None,
) -> None:
    """Run `roles` until `stop` is set (or SIGINT/SIGTERM arrives); `on_ready` runs once all started."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = await stack.enter_async_context(open_database(settings))
        await asyncio.to_thread(upgrade, database.url)
        redis = await stack.enter_async_context(open_redis(settings))
        runtime = Runtime(settings, database, redis, instance_id(settings.data_dir))
        await ensure_database_logging(runtime, stack)  # on the pipeline's pool, before the API has its own
        application = Application(runtime, stack)
        for role in roles:
            if role not in ROLES:
                _LOGGER.warning("role %r is not available in this build", role)
                continue
            await application.start(role)
        _LOGGER.info("HSI running (%s); instance %s", ", ".join(roles), runtime.instance_id)
        if on_ready is not None:
            await on_ready(runtime)
        await stop.wait()
        _LOGGER.info("shutting down")
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
