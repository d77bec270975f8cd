"""Async engine and sessions (asyncpg), and the embedded PostgreSQL bootstrap.

With `HSI_DATABASE_URL` set the server uses that database as is; without it, `open_database` starts an
embedded cluster under the data directory and creates the `hsi` database in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import orjson
from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.config import Settings
from server.embedded import EMBEDDED_DATABASE, EmbeddedPostgres


T = TypeVar("T")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine without pre-ping: a ping is a round trip on every checkout, as dear as a cheap query.

    A connection the database dropped (a restart) fails the statement that uses it instead; SQLAlchemy
    then discards every connection of the pool made before, and `Database.read` retries once.
    Overflow connections are closed when returned, so a load above `pool_size` in flight opens and
    closes one per query (a PostgreSQL backend forked each time): the pool is sized for the load.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        # JSON columns (an alert's metadata, a rule's schedule, a log row's data) through orjson: the
        # driver decodes every such value of a page with this (the standard library's took a fifth of
        # GET /api/alerts' CPU).
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
        connect_args={"server_settings": _SESSION},
    )
    event.listen(engine.sync_engine, "connect", _timestamps_as_text)
    return engine


#: Settings of every session the server opens.
_SESSION = {
    # The text form of `timestamptz` (`_timestamps_as_text`) is ISO 8601 only in this date style.
    "DateStyle": "ISO",
    # A random page read costs about what a sequential one does: HSI's working set (the recent events
    # and detections) sits in memory, on an SSD otherwise (PostgreSQL's documentation suggests 1.1 for
    # SSDs; its default of 4 models spinning disks). At 4 the planner reads a camera's list filtered by
    # risk along the all-cameras time index, dropping thousands of rows, because the camera index's
    # rows lie scattered in the table; at 1.1 it takes the camera index (0.75 -> 0.16 ms at 1 M events).
    "random_page_cost": "1.1",
}


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _timestamps_as_text(dbapi_connection: Any, _record: Any) -> None:
    """`timestamptz` values travel as ISO 8601 text, parsed by `datetime.fromisoformat`.

    asyncpg's binary codec builds each aware datetime at about 1.5 µs; a page of 50 events holds 100
    of them, more than a tenth of what the API spends on the page. The text form parses in under a
    third of that and gives the same values (UTC-aware datetimes, microseconds kept)."""
    dbapi_connection.run_async(
        lambda connection: connection.set_type_codec(
            "timestamptz", schema="pg_catalog", encoder=_timestamp_text, decoder=_timestamp, format="text"
        )
    )


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)  # `+00` gives `UTC` itself: no conversion on the common path
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _timestamp_text(value: datetime) -> str:
    """A datetime for a `timestamptz` parameter, in UTC: PostgreSQL reads offsets up to ±15:59 only, and
    Python allows ±23:59. A naive one is UTC (as asyncpg's binary codec reads it)."""
    return (value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (we serialise them after writing)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for the few direct asyncpg calls."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE unless it exists (asyncpg: it cannot run inside a transaction block)."""
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            suffix = f' TEMPLATE "{template}"' if template else ""
            await connection.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await connection.close()


async def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE, disconnecting whoever still holds a connection."""
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class DatabaseTooNew(RuntimeError):
    """The database was migrated by a newer release than this one (`server.migrate.upgrade` raises it):
    an operator who went back to an older image or add-on version. Said in one line; nothing is changed.
    Declared here, not beside alembic: the command line catches it without importing alembic, whose
    import logs its plugins."""


@dataclass
class Database:
    """The server's database: its URL, engine and session factory, and the embedded cluster if any."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    embedded: EmbeddedPostgres | None = field(default=None)
    #: The same pool in autocommit: a statement runs alone, without BEGIN and ROLLBACK round trips.
    reader: AsyncEngine = field(init=False)

    def __post_init__(self) -> None:
        self.reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run read-only `work` on an autocommit connection (each statement sees its own snapshot).

        A connection found dropped (the database restarted since it was pooled) costs one retry on a
        fresh one, not an error: what pre-ping used to buy on every request, paid only when it happens.
        """
        try:
            async with self.reader.connect() as connection:
                return await work(connection)
        except DBAPIError as err:
            if not err.connection_invalidated:
                raise
        async with self.reader.connect() as connection:
            return await work(connection)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    def sibling(self, *, pool_size: int = 20) -> Database:
        """Another pool of connections to the same database; closing it leaves this one (and the
        embedded cluster) running. 20 by default, the API's: answering 16 requests at once, it keeps
        every connection it uses instead of opening an overflow one per query."""
        engine = create_engine(self.url, pool_size=pool_size)
        return Database(url=self.url, engine=engine, sessions=session_factory(engine))


@asynccontextmanager
async def open_database(settings: Settings, *, pool_size: int = 10) -> AsyncIterator[Database]:
    """Connect to `HSI_DATABASE_URL`, or start the embedded cluster; always clean up on exit.

    The pipeline's pool: its workers commit in batches and need few connections at once. The API
    gets its own, larger one (`sibling`, see `server.application.api_runtime`)."""
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    try:
        if url is None:
            embedded = EmbeddedPostgres(settings.postgres_dir)
            admin_url = await asyncio.to_thread(embedded.start)
            await create_database(admin_url, EMBEDDED_DATABASE)
            url = embedded.url(EMBEDDED_DATABASE)
        engine = create_engine(url, pool_size=pool_size)
    except BaseException:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    database = Database(url=url, engine=engine, sessions=session_factory(engine), embedded=embedded)
    try:
        yield database
    finally:
        await database.close()
