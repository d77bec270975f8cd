"""A store outage in the middle of work: nothing lost, nothing dead-lettered, the log rows kept.

Each test runs its own embedded PostgreSQL cluster or Redis (the session's are shared with every other
test), really stopped and started again: connections are refused (its socket is gone) while it is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from server.api.app import create_app
from server.api.key_cache import API_KEYS
from server.api.system import api_health, collect_stats
from server.apikeys import KEY_FILE_NAME
from server.db import create_database
from server.detect import Detector
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.logs import DatabaseLogHandler
from server.migrate import upgrade
from server.models import Log
from server.pipeline import dedup
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.intake import submit_file
from server.pipeline.streams import DETECT_STREAM
from server.pipeline.supervision import supervise
from server.runner import serve
from server.runtime import Runtime
from tests.server.api.conftest import TEST_API_SETTINGS, ApiTestServer, error_of
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.tcp_relay import TcpRelay

UPLOADS = 60
#: With `stream_max_retries=1` an entry was dead-lettered at its first failure; the outage outlasts many.
OUTAGE_SECONDS = 12.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    own = EmbeddedPostgres(tmp_path / "pg")
    own.start()
    yield own
    own.stop()


@pytest.fixture
async def own_db_url(cluster: EmbeddedPostgres) -> AsyncIterator[str]:
    await create_database(cluster.url("postgres"), "hsi")
    url = cluster.url("hsi")
    await asyncio.to_thread(upgrade, url)
    yield url


async def _log_count(runtime: Runtime, component: str, text: str) -> int:
    async with runtime.database.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).where(Log.component == component, Log.message.contains(text))
            )
            or 0
        )


async def _flush_once_up(runtime: Runtime, handler: DatabaseLogHandler) -> None:
    """Wait for the restarted database, then let the handler write what it kept."""

    async def up() -> bool:
        try:
            async with runtime.database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    await eventually(up, timeout=30, interval=0.5)
    await handler.flush_async()


async def test_postgres_refusing_connections_with_60_uploads_queued_loses_and_dead_letters_nothing(
    tmp_path: Path, cluster: EmbeddedPostgres, own_db_url: str, redis: aioredis.Redis, hog: Detector
) -> None:
    """The finding: PostgreSQL refusing connections for 21 s with 60 uploads queued moved 41 of them to
    `hsi:detect:dead` in 11 s, `pipeline_healthy` stayed true and the errors never reached `logs`."""
    settings = pipeline_settings(tmp_path, stream_max_retries=1)
    async with pipeline_runtime(settings, own_db_url, redis) as runtime:
        for n in range(UPLOADS):  # intake needs Redis only: uploads keep being queued during the outage
            path = write_jpeg(settings.cameras_dir / "porch" / f"{n:03}.jpg", size=(320, 240), seed=n)
            assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"
        await asyncio.to_thread(cluster.stop)
        stop = asyncio.Event()
        worker = asyncio.create_task(DetectWorker(runtime, hog, consumer="outage-worker").run(stop))
        try:
            await asyncio.sleep(OUTAGE_SECONDS)
            assert await redis.xlen(f"{DETECT_STREAM}:dead") == 0
            assert await redis.xlen(DETECT_STREAM) == UPLOADS  # nothing finished, nothing given up
            # Health says what the work waits for (the database component says it is down).
            report = await api_health(runtime)
            during = report["components"]["pipeline"]
            assert during["status"] == "degraded" and "waits for a store" in during["reason"], during
            assert report["components"]["database"]["status"] == "unhealthy"
            await asyncio.to_thread(cluster.start)

            async def all_processed() -> bool:
                return await dedup.processed_count(redis) == UPLOADS and await redis.xlen(DETECT_STREAM) == 0

            await eventually(all_processed, timeout=120, interval=0.5)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        assert await redis.xlen(f"{DETECT_STREAM}:dead") == 0
        # The warning written while the database refused everything reached the table afterwards.
        handler = next(h for h in logging.getLogger("hsi").handlers if isinstance(h, DatabaseLogHandler))

        async def outage_logged() -> int:
            await handler.flush_async()
            return await _log_count(runtime, "streams", "wait for a store or the disk")

        await eventually(outage_logged, timeout=30)
        stats = await collect_stats(runtime)
        assert stats["queues"] == {"detect": 0, "analyze": 0, "refine": 0, "clips": 0, "dead_letter": 0}


@pytest.mark.parametrize("keys", [True, False], ids=["in-the-key-lookup", "in-the-handler"])
async def test_the_api_answers_503_not_500_while_postgres_is_stopped(
    tmp_path: Path, cluster: EmbeddedPostgres, own_db_url: str, redis: aioredis.Redis, keys: bool
) -> None:
    """The finding (the fault suite's full profile): while PostgreSQL was stopped, 1 440 HTTP uploads
    were answered 500, each with a traceback in the log: the auth middleware looked the key up (the key
    cache is not trusted while its listener is down) on a refused connection. A store away is no
    defect of ours: 503 `unavailable`, which clients retry, whether the key lookup or the route's own
    query meets it; and the same requests work once it is back."""
    settings = pipeline_settings(tmp_path, llm="rules", api_key_enabled=keys)
    async with pipeline_runtime(settings, own_db_url, redis) as runtime:
        app = create_app(runtime, TEST_API_SETTINGS)
        async with TestClient(ApiTestServer(app)) as client:
            headers = {"X-API-Key": (settings.data_dir / KEY_FILE_NAME).read_text().strip()} if keys else {}
            assert (await client.get("/api/cameras", headers=headers)).status == 200  # a key is cached
            await asyncio.to_thread(cluster.stop)
            if keys:

                async def keys_untrusted() -> bool:
                    return not app[API_KEYS].listening

                await eventually(keys_untrusted, timeout=30)
            requests = [client.get("/api/cameras", headers=headers), client.get("/api/events", headers=headers)]
            if keys:  # the upload route goes on without the database: only its key lookup meets the outage
                photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
                requests.append(
                    client.post(
                        "/api/ingest?camera_id=porch", data=photo, headers={**headers, "Content-Type": "image/jpeg"}
                    )
                )
            for request in requests:
                error = await error_of(await request, 503)
                assert error["code"] == "unavailable", error
            if not keys:  # the WebSocket's login audit: refused before the handshake, not after it
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await client.ws_connect("/api/ws", headers=headers)
                assert refused.value.status == 503
            await asyncio.to_thread(cluster.start)

            async def answered() -> bool:
                return (await client.get("/api/cameras", headers=headers)).status == 200

            await eventually(answered, timeout=30, interval=0.5)


async def test_the_api_answers_503_not_500_while_postgres_over_tcp_resets_connections(
    tmp_path: Path, own_db_url: str, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The finding (a review, then tried): a PostgreSQL reached over TCP that resets connections (a
    restart behind a proxy or a container network) makes asyncpg, and SQLAlchemy after it, raise a bare
    `ConnectionResetError` when connecting. The error middleware took it for the client hanging up and
    let it through; aiohttp answered 500 with a traceback. The client is still there: 503."""
    unix_socket = next(Path(make_url(own_db_url).query["host"]).glob(".s.PGSQL.*[0-9]"))
    async with TcpRelay(unix_socket) as relay:
        over_tcp = make_url(own_db_url).set(host="127.0.0.1", port=relay.port, query={}).render_as_string(False)
        settings = pipeline_settings(tmp_path, llm="rules", api_key_enabled=False)
        async with pipeline_runtime(settings, over_tcp, redis) as runtime:
            async with TestClient(ApiTestServer(create_app(runtime, TEST_API_SETTINGS))) as client:
                assert (await client.get("/api/cameras")).status == 200
                relay.resetting = True
                with caplog.at_level(logging.INFO, logger="server.api.access"):
                    for path in ("/api/cameras", "/api/events", "/api/cameras", "/api/events"):
                        error = await error_of(await client.get(path), 503)
                        assert error["code"] == "unavailable", error
                relay.resetting = False
                # An outage is a WARNING per request in the access log, not an ERROR (kept for real 5xx).
                levels = {r.levelname for r in caplog.records if r.name == "server.api.access" and " 503 " in r.message}
                assert levels == {"WARNING"}, levels

                async def answered() -> bool:
                    return (await client.get("/api/cameras")).status == 200

                await eventually(answered, timeout=30, interval=0.5)


async def test_a_detect_worker_run_again_after_redis_went_away_processes_what_comes_next(
    tmp_path: Path, db_url: str, hog: Detector, caplog: pytest.LogCaptureFixture
) -> None:
    """The finding (the fault suite, in CI): Redis restarted, the detect worker's run ended with the
    connection error and `supervise` ran it again, but the first run had shut the worker's picture
    threads down: every later upload failed ("cannot schedule new futures after shutdown") until it was
    dead-lettered."""
    own = EmbeddedRedis(tmp_path / "redis")
    redis = aioredis.from_url(await asyncio.to_thread(own.start), decode_responses=False)
    settings = pipeline_settings(tmp_path)
    try:
        async with pipeline_runtime(settings, db_url, redis) as runtime:

            async def queue(n: int) -> None:
                path = write_jpeg(settings.cameras_dir / "porch" / f"{n:03}.jpg", size=(320, 240), seed=n)
                assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"

            async def processed(count: int) -> bool:
                return await dedup.processed_count(redis) == count and await redis.xlen(DETECT_STREAM) == 0

            async def crashed() -> bool:
                return any("stopped unexpectedly" in record.getMessage() for record in caplog.records)

            worker = DetectWorker(runtime, hog, consumer="run-again")
            stop = asyncio.Event()
            supervised = asyncio.create_task(supervise("hsi-detect-worker", stop, lambda: worker.run(stop)))
            try:
                await queue(0)
                await eventually(lambda: processed(1), timeout=60)  # the picture threads have worked
                with caplog.at_level(logging.ERROR, logger="hsi.pipeline"):
                    await asyncio.to_thread(own.stop)
                    await eventually(crashed, timeout=60, interval=0.5)
                await asyncio.to_thread(own.start)
                for n in range(1, 5):
                    await queue(n)
                await eventually(lambda: processed(5), timeout=60, interval=0.5)
            finally:
                stop.set()
                await asyncio.wait_for(supervised, 30)
            assert await redis.xlen(f"{DETECT_STREAM}:dead") == 0
    finally:
        await redis.aclose()
        await asyncio.to_thread(own.stop)


async def test_log_rows_written_while_the_database_refuses_reach_it_afterwards(
    cluster: EmbeddedPostgres, own_db_url: str, tmp_path: Path, redis: aioredis.Redis
) -> None:
    """The log writer dropped 295 rows during the outage: a refused batch was popped and forgotten."""
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, own_db_url, redis, database_logs=False) as runtime:
        handler = DatabaseLogHandler(runtime.database.sessions, batch_size=100)
        logger = logging.getLogger("hsi.test-outage")
        logger.addHandler(handler)
        try:
            await asyncio.to_thread(cluster.stop)
            for n in range(295):
                logger.warning("line %d during the outage", n)
            await handler.flush_async()
            await handler.flush_async()  # retried, still refused: still kept
            assert handler.dropped == 0
            await asyncio.to_thread(cluster.start)
            await _flush_once_up(runtime, handler)
        finally:
            logger.removeHandler(handler)
        async with runtime.database.sessions() as session:
            messages = list(
                await session.scalars(
                    select(Log.message).where(Log.message.like("line % during the outage")).order_by(Log.id)
                )
            )
        assert messages == [f"line {n} during the outage" for n in range(295)]  # all, in order
        assert handler.buffered == 0


async def test_a_full_log_buffer_drops_its_oldest_rows_and_counts_them(
    cluster: EmbeddedPostgres, own_db_url: str, tmp_path: Path, redis: aioredis.Redis
) -> None:
    """The buffer stays bounded through a long outage: the oldest rows go first, and are counted."""
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, own_db_url, redis, database_logs=False) as runtime:
        handler = DatabaseLogHandler(runtime.database.sessions, batch_size=10, capacity=50)
        logger = logging.getLogger("hsi.test-outage-full")
        logger.addHandler(handler)
        try:
            await asyncio.to_thread(cluster.stop)
            for n in range(40):
                logger.warning("row %d", n)
            assert not await handler.flush_async()
            for n in range(40, 70):
                logger.warning("row %d", n)
            assert handler.dropped == 20
            await asyncio.to_thread(cluster.start)
            await _flush_once_up(runtime, handler)
        finally:
            logger.removeHandler(handler)
        async with runtime.database.sessions() as session:
            messages = list(await session.scalars(select(Log.message).where(Log.message.like("row %")).order_by(Log.id)))
        assert messages == [f"row {n}" for n in range(20, 70)]
        assert handler.buffered == 0


async def test_an_export_cut_short_by_postgres_ends_the_connection_without_a_second_response(
    tmp_path: Path, own_db_url: str, redis: aioredis.Redis
) -> None:
    """The finding (a review, then tried): once an export's headers and first rows are out, an error can
    only cut the stream. The error middleware answered a PostgreSQL lost mid-export with a 503 written into
    the body of the 200 already under way, on a connection kept open. Now the connection is closed and
    the chunked body never ends: an HTTP client sees a broken transfer, not a document with a response
    inside it."""
    unix_socket = next(Path(make_url(own_db_url).query["host"]).glob(".s.PGSQL.*[0-9]"))
    async with TcpRelay(unix_socket) as relay:
        over_tcp = make_url(own_db_url).set(host="127.0.0.1", port=relay.port, query={}).render_as_string(False)
        settings = pipeline_settings(tmp_path, llm="rules", api_key_enabled=False)
        async with pipeline_runtime(settings, over_tcp, redis) as runtime:
            async with runtime.database.sessions() as session:
                await session.execute(
                    text("INSERT INTO cameras (id, name, folder_path) VALUES ('porch', 'Porch', '/cameras/porch')")
                )
                await session.execute(
                    text(
                        "INSERT INTO events (batch_id, camera_id, started_at, summary)"
                        " SELECT 'b' || n, 'porch', now() - n * interval '1 minute', repeat('a person at the door ', 20)"
                        " FROM generate_series(1, 5000) AS n"
                    )
                )
                await session.commit()
            async with TestClient(ApiTestServer(create_app(runtime, TEST_API_SETTINGS))) as client:
                reader, writer = await asyncio.open_connection(client.host, client.port)
                writer.write(b"GET /api/events/export?format=csv HTTP/1.1\r\nHost: hsi\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
                first = await reader.read(1024)  # rows are flowing: the query has run
                relay.resetting = True
                rest = await asyncio.wait_for(reader.read(), 30)  # until the server closes the connection
                writer.close()
                body = first + rest
                assert b"HTTP/1.1" not in body and b"unavailable" not in body, body[-500:]
                assert not body.endswith(b"0\r\n\r\n"), "the cut export must not look complete"
                assert body.count(b"a person at the door") < 5000 * 20


async def test_a_server_started_before_its_stores_waits_for_them_then_runs(
    tmp_path: Path, cluster: EmbeddedPostgres, own_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A user's own PostgreSQL and Redis may come up after HSI (a compose stack, a host rebooting). The
    process exited with a traceback when either could not be reached at start-up, for a supervisor to
    start it again (the fault suite's API process: 7 to 8 times per short run). It now says what it waits
    for, and runs once they are there."""
    own_redis = EmbeddedRedis(tmp_path / "redis")
    redis_url = await asyncio.to_thread(own_redis.start)
    await asyncio.to_thread(own_redis.stop)
    await asyncio.to_thread(cluster.stop)
    settings = pipeline_settings(tmp_path, database_url=own_db_url, redis_url=redis_url)
    stop, ready = asyncio.Event(), asyncio.Event()

    async def on_ready(runtime: Runtime) -> None:
        ready.set()

    def waiting_for(store: str) -> bool:
        return any(record.getMessage().startswith(f"waiting for {store} (") for record in caplog.records)

    caplog.set_level(logging.WARNING, logger="hsi.runner")
    server = asyncio.create_task(serve(settings, [], stop=stop, on_ready=on_ready, signals=()))
    try:
        await eventually(lambda: asyncio.sleep(0, waiting_for("PostgreSQL")), timeout=30)
        await asyncio.to_thread(cluster.start)
        await eventually(lambda: asyncio.sleep(0, waiting_for("Redis")), timeout=60)
        assert not server.done() and not ready.is_set()
        await asyncio.to_thread(own_redis.start)
        await asyncio.wait_for(ready.wait(), 60)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
        await asyncio.to_thread(own_redis.stop)
