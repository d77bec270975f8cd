"""Async engine and sessions (asyncpg), and the embedded PostgreSQL bootstrap.

With `HSI_DATABASE_URL` set the server uses that database as is; without it, `open_database` starts an
embedded cluster under the data directory and creates the `hsi` database in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.config import Settings
from server.embedded import EMBEDDED_DATABASE, EmbeddedPostgres


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine with pre-ping, so a restarted database does not fail the next request."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


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


@dataclass
class Database:
    """The server's database: its URL, engine and session factory, and the embedded cluster if any."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    embedded: EmbeddedPostgres | None = field(default=None)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    def sibling(self, *, pool_size: int = 10) -> Database:
        """Another pool of connections to the same database; closing it leaves this one (and the
        embedded cluster) running."""
        engine = create_engine(self.url, pool_size=pool_size)
        return Database(url=self.url, engine=engine, sessions=session_factory(engine))


@asynccontextmanager
async def open_database(settings: Settings, *, pool_size: int = 10) -> AsyncIterator[Database]:
    """Connect to `HSI_DATABASE_URL`, or start the embedded cluster; always clean up on exit."""
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
