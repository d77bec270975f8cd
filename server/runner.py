"""Start and stop a server process: stores, migrations, the roles it was asked for, the HTTP API.

`python -m server run` runs every role, the detect role in a child process of its own unless
`HSI_DETECT_PROCESS=inline` (server/detect_process.py); `api`, `worker detect` and `worker analyze` run
one role each against a shared PostgreSQL and Redis (the roles are built by `server.application`).
Shutdown happens in reverse order of start, on SIGINT or SIGTERM, so nothing keeps running after the
command returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

from sqlalchemy import text

from server.application import ROLES, Application
from server.broker import open_redis
from server.config import Settings
from server.db import Database, open_database
from server.logs import configure_logging, ensure_database_logging
from server.migrate import upgrade
from server.pipeline.faults import describe, is_transient
from server.runtime import Runtime, instance_id

__all__ = ["ROLES", "serve", "serve_detect_process"]

_LOGGER = logging.getLogger("hsi.runner")

#: How often a detect process checks that the server that started it still runs.
PARENT_CHECK_SECONDS = 1.0
#: Start-up waits for a store it cannot reach yet: first again after this, then twice as long each time.
STORE_RETRY_FIRST_SECONDS = 1.0
STORE_RETRY_MAX_SECONDS = 30.0


async def serve(
    settings: Settings,
    roles: Sequence[str],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Runtime], Awaitable[None]] | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Run `roles` until `stop` is set (or one of `signals` arrives); `on_ready` runs once all started."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = await stack.enter_async_context(open_database(settings))
        if not await _reachable("PostgreSQL", lambda: _select_one(database), stop):
            return
        await asyncio.to_thread(upgrade, database.url)
        redis, redis_url = await stack.enter_async_context(open_redis(settings))
        if not await _reachable("Redis", redis.ping, stop):
            return
        # The stores' own URLs (embedded ones are known only now): what a detect process is pointed at.
        settings = settings.model_copy(update={"database_url": database.url, "redis_url": redis_url})
        runtime = Runtime(settings, database, redis, instance_id(settings.data_dir))
        await ensure_database_logging(runtime, stack)  # on the pipeline's pool, before the API has its own
        application = Application(runtime, stack, roles, detect_process_main=serve_detect_process)
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
    for signum in signals:
        loop.remove_signal_handler(signum)


async def _reachable(store: str, probe: Callable[[], Awaitable[object]], stop: asyncio.Event) -> bool:
    """Wait until `probe` reaches `store`; False when told to stop first.

    A PostgreSQL or Redis of the user's own may start after HSI (a compose stack coming up together, a
    host rebooting): the process waits for it, saying so, instead of exiting with a traceback for a
    supervisor to restart. An error that is not the store being unreachable (a wrong password) is raised.
    """
    delay = STORE_RETRY_FIRST_SECONDS
    while True:
        try:
            await probe()
            return True
        except Exception as err:
            if not is_transient(err):
                raise
            _LOGGER.warning("waiting for %s (%s); trying again in %.0f s", store, describe(err), delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return False
        except TimeoutError:
            delay = min(delay * 2, STORE_RETRY_MAX_SECONDS)


async def _select_one(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def serve_detect_process(settings: Settings, parent: int) -> None:
    """The detect process's entry point (server/detect_process.py): what `python -m server worker detect`
    runs, with the server's settings, until it is told to stop or its server is gone (a server killed
    outright cannot stop it).

    A Ctrl-C reaches the whole process group; the server answers it by stopping this process (SIGTERM),
    so SIGINT is ignored here: stopping on its own first, the process would look to the server like one
    that ended unasked, to be started again.
    """
    from server import allocator

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings)
    allocator.tune()

    async def main() -> None:
        stop = asyncio.Event()

        async def orphaned() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(PARENT_CHECK_SECONDS)
            _LOGGER.warning("the server process %s is gone; the detect process stops", parent)
            stop.set()

        watch = asyncio.create_task(orphaned())
        try:
            await serve(settings, ["detect"], stop=stop, signals=(signal.SIGTERM,))
        finally:
            watch.cancel()

    asyncio.run(main())
