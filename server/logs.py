"""Structured logs in the `logs` table, written in the background so logging never blocks the pipeline.

Any logger under `hsi` takes correlation fields through `extra=`: `component`, `camera_id`,
`detection_id`, `event_id`, `duration_ms`, `request_id`, `user_agent` and `data` (a JSON-able dict
stored in `logs.extra`; the
name `extra` itself is reserved by `logging`). `emit` only appends to a bounded in-memory buffer (safe
from any thread, including watchdog's); one asyncio task drains it in batches with a single INSERT.
A batch the database refuses (an outage, a restart) goes back to the front of the buffer and is tried
again with capped backoff, so the rows of an outage — often the ones that say what went wrong — reach
the table once it is back; only when the buffer is full are the oldest rows dropped (and counted).
stderr logging is untouched: this handler is added beside it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.models import Log
from server.runtime import Runtime
from server.storable import storable, storable_json, storable_or_none


def configure_logging(settings: Settings) -> None:
    """A server process's log lines on stderr, at `HSI_LOG_LEVEL` (the `logs` table is fed separately)."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # huggingface_hub's HTTP client logs every request at INFO; a model download is logged by HSI itself.
    for chatty in ("httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


#: The logger tree whose records reach the database.
ROOT_LOGGER = "hsi"

#: The writer's own troubles go to stderr only (a logger outside the `hsi` tree): logging a failed
#: log insert into the same table would loop.
_LOGGER = logging.getLogger("server.logs")

_COMPONENT_MAX = 50
_CAMERA_MAX = 100
USER_AGENT_MAX = 1000


def _component(record: logging.LogRecord) -> str:
    """`extra={"component": ...}` if given, else the logger's name below `hsi` (`hsi.watcher` -> `watcher`)."""
    explicit = getattr(record, "component", None)
    if explicit:
        return storable(explicit, _COMPONENT_MAX)
    name = record.name.removeprefix(ROOT_LOGGER + ".")
    return (name.split(".")[-1] or ROOT_LOGGER)[:_COMPONENT_MAX]


def _json_safe(value: Any) -> Any:
    return storable_json(json.loads(json.dumps(value, default=str)))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(round(float(value)))


def record_to_row(record: logging.LogRecord) -> dict[str, Any]:
    """The `logs` row for one record; the exception text, if any, is appended to the message."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    message = storable(message)
    data = getattr(record, "data", None)
    camera_id = getattr(record, "camera_id", None)
    return {
        "timestamp": datetime.fromtimestamp(record.created, tz=UTC),
        "level": record.levelname[:10],
        "component": _component(record),
        "message": message,
        "camera_id": storable_or_none(camera_id, _CAMERA_MAX),
        "detection_id": _int_or_none(getattr(record, "detection_id", None)),
        "event_id": _int_or_none(getattr(record, "event_id", None)),
        "duration_ms": _int_or_none(getattr(record, "duration_ms", None)),
        "extra": None if data is None else _json_safe(data),
        "source": "backend",
        "request_id": storable_or_none(getattr(record, "request_id", None), 36),
        "user_agent": storable_or_none(getattr(record, "user_agent", None), USER_AGENT_MAX),
    }


#: Longest pause between attempts while the database refuses the rows.
RETRY_CAP_SECONDS = 5.0


class DatabaseLogHandler(logging.Handler):
    """Buffers records and lets `run()` insert them in batches, keeping them through an outage (up to
    `capacity` rows: beyond it the oldest are dropped)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        level: int = logging.INFO,
        batch_size: int = 500,
        interval_seconds: float = 0.25,
        capacity: int = 20_000,
    ) -> None:
        super().__init__(level)
        self._sessions = sessions
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._buffer: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self.dropped = 0
        self.database_url: str | None = None
        #: Consecutive failed attempts (0 while the database takes the rows).
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            row = record_to_row(record)
        except Exception:  # a bad `extra` must not break the caller's code path
            self.handleError(record)
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(row)

    @property
    def buffered(self) -> int:
        """Rows waiting to be written."""
        return len(self._buffer)

    async def flush_async(self) -> bool:
        """Write everything buffered so far; False (the rows kept, in order) when the database refused.
        Tests and shutdown call it; `run` calls it in a loop."""
        while self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(insert(Log), batch)
            except Exception as err:
                self._put_back(batch)
                if self.failures == 0:
                    _LOGGER.warning("log rows wait for the database (%d buffered): %s", len(self._buffer), err)
                self.failures += 1
                return False
        if self.failures:
            _LOGGER.warning("the database takes log rows again after %d failed attempts", self.failures)
            self.failures = 0
        return True

    def _put_back(self, batch: list[dict[str, Any]]) -> None:
        """Return a refused batch to the front; rows that no longer fit are the oldest, and dropped."""
        room = (self._buffer.maxlen or len(batch)) - len(self._buffer)
        excess = max(0, len(batch) - room)
        self.dropped += excess
        self._buffer.extendleft(reversed(batch[excess:]))

    async def run(self) -> None:
        """Drain the buffer every `interval_seconds` (backing off to `RETRY_CAP_SECONDS` while the
        database refuses) until cancelled, then flush what is left."""
        try:
            while True:
                pause = min(self._interval * 2 ** min(self.failures, 16), RETRY_CAP_SECONDS)
                await asyncio.sleep(max(self._interval, pause))
                await self.flush_async()
        finally:
            await asyncio.shield(self.flush_async())


async def ensure_database_logging(runtime: Runtime, stack: AsyncExitStack) -> DatabaseLogHandler:
    """Attach the handler to the `hsi` logger once per database (several roles may ask in one process)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in logger.handlers:  # by URL: the API's own pool is the same database
        if isinstance(handler, DatabaseLogHandler) and handler.database_url == runtime.database.url:
            return handler
    handler = DatabaseLogHandler(runtime.database.sessions)
    handler.database_url = runtime.database.url
    logger.addHandler(handler)
    task = asyncio.create_task(handler.run(), name="hsi-log-writer")

    async def _stop() -> None:
        logger.removeHandler(handler)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(_stop)
    return handler
