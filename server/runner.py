"""Start and stop a server process: stores, migrations, the roles it was asked for, the HTTP API.

`python -m server run` runs every role in one process; `api`, `worker detect` and `worker analyze`
run one role each against a shared PostgreSQL and Redis. Shutdown happens in reverse order of start,
on SIGINT or SIGTERM, so nothing keeps running after the command returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

from aiohttp import web

from server.api.app import create_app
from server.api.protocol import ApiRunner
from server.broker import open_redis
from server.config import Settings
from server.db import open_database
from server.logs import ensure_database_logging
from server.migrate import upgrade
from server.runtime import Runtime, instance_id

_LOGGER = logging.getLogger("hsi.runner")

ROLES = ("api", "watcher", "detect", "analyze")

#: A role starter registers its tasks/cleanups on the exit stack; filled in by the pipeline modules.
RoleStarter = Callable[[Runtime, AsyncExitStack], Awaitable[None]]


def api_runtime(runtime: Runtime, stack: AsyncExitStack) -> Runtime:
    """The API's view of the runtime: its own connection pool, closed with the stack. Thirty slow
    exports or media downloads then exhaust the API's connections, never the pipeline's."""
    database = runtime.database.sibling()
    stack.push_async_callback(database.close)
    return runtime.with_database(database)


async def _start_api(runtime: Runtime, stack: AsyncExitStack) -> None:
    app = create_app(api_runtime(runtime, stack))
    runner = ApiRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, runtime.settings.host, runtime.settings.port)
    await site.start()
    _LOGGER.info("API listening on http://%s:%s", runtime.settings.host, runtime.settings.port)


def role_starters() -> dict[str, RoleStarter]:
    """The roles this build can run; pipeline roles register here as they are implemented."""
    from server.analyze.worker import start_analyze_role
    from server.pipeline.roles import start_watcher

    return {
        "api": _start_api,
        "watcher": start_watcher,
        "detect": _start_detect,
        "analyze": start_analyze_role,
    }


async def _start_detect(runtime: Runtime, stack: AsyncExitStack) -> None:
    """The detect role, feeding its detections to the batches shared through Redis."""
    from server.pipeline.batcher import install_detection_sink
    from server.pipeline.roles import start_detect

    install_detection_sink(runtime)
    await start_detect(runtime, stack)


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
    starters = role_starters()
    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = await stack.enter_async_context(open_database(settings))
        await asyncio.to_thread(upgrade, database.url)
        redis = await stack.enter_async_context(open_redis(settings))
        runtime = Runtime(settings, database, redis, instance_id(settings.data_dir))
        await ensure_database_logging(runtime, stack)  # on the pipeline's pool, before the API has its own
        for role in roles:
            starter = starters.get(role)
            if starter is None:
                _LOGGER.warning("role %r is not available in this build", role)
                continue
            await starter(runtime, stack)
        _LOGGER.info("HSI running (%s); instance %s", ", ".join(roles), runtime.instance_id)
        if on_ready is not None:
            await on_ready(runtime)
        await stop.wait()
        _LOGGER.info("shutting down")
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
