"""Shared fixtures: real PostgreSQL and Redis (embedded by default, external when a URL is given).

`HSI_TEST_DATABASE_URL` / `HSI_TEST_REDIS_URL` point the suite at external servers; otherwise one
embedded cluster and one embedded Redis serve the whole session, and each test gets its own database
cloned from a migrated template (milliseconds, and no test sees another's rows).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server.db import create_database, create_engine, drop_database, session_factory
from server.detect import Detector, load_detector
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.llm_http import LLMServer
from tests.support.pipeline import pipeline_settings

TEMPLATE_DB = f"hsi_template_{os.getpid()}"


def _database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("HSI_TEST_DATABASE_URL")
    if external:
        yield external.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    url = cluster.start()
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
async def _template_db(pg_admin_url: str) -> AsyncIterator[str]:
    """Migrated, then emptied of the default alert rules (migration 0005): each test writes the rules
    it is about, and no test's alerts depend on whether it runs at night. The default rules are tested
    on freshly migrated databases (`empty_db_url`)."""
    from server.migrate import upgrade

    await drop_database(pg_admin_url, TEMPLATE_DB)
    await create_database(pg_admin_url, TEMPLATE_DB)
    template_url = _database_url(pg_admin_url, TEMPLATE_DB)
    await asyncio.to_thread(upgrade, template_url)
    engine = create_engine(template_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alert_rules"))
    finally:
        await engine.dispose()
    yield TEMPLATE_DB
    await drop_database(pg_admin_url, TEMPLATE_DB)


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    name = f"hsi_test_{uuid.uuid4().hex[:12]}"
    await create_database(pg_admin_url, name)
    yield _database_url(pg_admin_url, name)
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def db_url(pg_admin_url: str, _template_db: str) -> AsyncIterator[str]:
    name = f"hsi_test_{uuid.uuid4().hex[:12]}"
    await create_database(pg_admin_url, name, template=_template_db)
    yield _database_url(pg_admin_url, name)
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as sess:
        yield sess


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("HSI_TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    yield server.start()
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def llm_server() -> AsyncIterator[LLMServer]:
    """A scripted OpenAI-compatible LLM server on 127.0.0.1 (tests.support.llm_http)."""
    server = LLMServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def hog(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """The HOG people detector, warmed up: real and quick, for tests about the pipeline around it."""
    detector = load_detector(pipeline_settings(tmp_path_factory.mktemp("hog")))
    detector.warmup()
    return detector
