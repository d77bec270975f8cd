"""Alembic environment for HSI: async (asyncpg), configured in code by `server.migrate`.

The database URL comes from `config.attributes["url"]` (set by `server.migrate`; no configparser
escaping of `%`-encoded socket paths), else the `sqlalchemy.url` option, else `HSI_DATABASE_URL`.
A caller that already holds a synchronous connection (e.g. inside `AsyncConnection.run_sync`) may
pass it as `config.attributes["connection"]`.

Online runs take a transaction-scoped advisory lock first: when several HSI processes (API, detect
and analyze workers) start at once against one database, they upgrade one after another instead of
racing to create the same tables. The lock is taken inside alembic's transaction, before it reads
the current revision, so the second process sees the first one's result and does nothing.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from server.models import Base

config = context.config
target_metadata = Base.metadata

#: Advisory lock key shared by every process that migrates an HSI database ("HSI-MIGR" in ASCII).
MIGRATION_LOCK_KEY = 0x4853492D4D494752


def _database_url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    url = url or os.environ.get("HSI_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: call server.migrate.upgrade(url) or set HSI_DATABASE_URL")
    return str(url)


def _configure(**kwargs: object) -> None:
    """Options shared by online, offline and autogenerate runs (types and defaults are compared)."""
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade --sql`) without connecting."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a synchronous connection, serialised by the advisory lock."""
    _configure(connection=connection)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an asyncpg engine just for this run (NullPool: nothing lingers afterwards)."""
    engine = create_async_engine(_database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
