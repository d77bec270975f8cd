"""API benchmark: requests/s and p50/p95 latency of the main list endpoints and search, at scale.

    python -m bench.api [--events 100000] [--detections 1000000] [--seconds 5] [--concurrency 8] [--output FILE]

Real parts: PostgreSQL and Redis (`HSI_DATABASE_URL` / `HSI_REDIS_URL`, else embedded ones in a temp
dir), the schema migrated by alembic, rows bulk-loaded with `generate_series` (10 cameras, detections
spread over 30 days, each event pointing at 10 detections, summaries from a small vocabulary so full-text
search has realistic hits), and the production app (`create_app`, auth and access log on) served by
aiohttp on 127.0.0.1. The load generator is an aiohttp client in the same process, `--concurrency`
requests in flight; client and server share this machine's CPUs, which the report prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import text

from server.api.app import create_app
from server.api.state import ApiSettings
from server.config import Settings
from server.db import Database, create_database, create_engine, session_factory
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.migrate import upgrade
from server.runtime import Runtime

CAMERAS = 10

LOAD_SQL = [
    """INSERT INTO cameras (id, name, folder_path, status)
       SELECT 'cam_' || c, 'Camera ' || c, '/export/foscam/cam_' || c, 'online' FROM generate_series(0, :cameras - 1) c""",
    """INSERT INTO detections (id, camera_id, file_path, file_type, detected_at, object_type, confidence,
                              bbox_x, bbox_y, bbox_width, bbox_height, media_type)
       SELECT i, 'cam_' || (i % :cameras), '/export/foscam/cam_' || (i % :cameras) || '/img' || i || '.jpg', 'image/jpeg',
              now() - make_interval(secs => (:detections - i) * 2.5),
              (ARRAY['person','car','dog','cat','truck','bicycle','bird','person','person','car'])[1 + (i / 3) % 10],
              0.3 + (i % 70) / 100.0, i % 600, i % 400, 40 + i % 80, 80 + i % 120, 'image'
       FROM generate_series(1, :detections) i""",
    """INSERT INTO events (id, batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary, reasoning,
                          detection_ids, reviewed, object_types, is_fast_path, analysis_backend)
       SELECT e, 'batch-' || e, 'cam_' || (e % :cameras),
              now() - make_interval(secs => (:events - e) * 25), now() - make_interval(secs => (:events - e) * 25 - 20),
              (e * 37) % 101,
              CASE WHEN (e * 37) % 101 < 30 THEN 'low' WHEN (e * 37) % 101 < 60 THEN 'medium'
                   WHEN (e * 37) % 101 < 85 THEN 'high' ELSE 'critical' END,
              (ARRAY['A person walks up to the front door', 'A car parks in the driveway',
                     'A dog crosses the yard', 'Two people linger near the garage at night',
                     'A delivery driver leaves a package', 'A cat on the fence',
                     'Someone tries the back gate handle', 'A truck stops on the street'])[1 + e % 8],
              (ARRAY['usual daytime activity', 'unfamiliar person at an entry point late at night',
                     'vehicle matches a frequent visitor', 'animal, no threat'])[1 + e % 4],
              (SELECT json_agg(d)::text FROM generate_series((e - 1) * (:detections / :events) + 1,
                                                              (e - 1) * (:detections / :events) + 10) d),
              e % 3 = 0,
              (ARRAY['["person"]', '["car"]', '["dog"]', '["person","car"]'])[1 + e % 4],
              false, 'rules'
       FROM generate_series(1, :events) e""",
    """INSERT INTO alert_rules (id, name, severity, risk_threshold) VALUES (gen_random_uuid(), 'bench', 'high', 60)""",
    """INSERT INTO alerts (event_id, rule_id, severity, status, dedup_key, channels, metadata)
       SELECT e, (SELECT id FROM alert_rules LIMIT 1), 'high',
              (ARRAY['pending','delivered','acknowledged','dismissed'])[1 + e % 4]::alert_status,
              'k' || e, '["ha"]', '{}'
       FROM generate_series(1, :events, 10) e""",
    "SELECT setval(pg_get_serial_sequence('detections', 'id'), :detections)",
    "SELECT setval(pg_get_serial_sequence('events', 'id'), :events)",
    "ANALYZE",
]


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def load(engine: Any, events: int, detections: int) -> float:
    started = time.perf_counter()
    async with engine.begin() as connection:
        for statement in LOAD_SQL:
            sql = statement.replace(":cameras", str(CAMERAS)).replace(":detections", str(detections))
            sql = sql.replace(":events", str(events))
            await connection.execute(text(sql))
    return time.perf_counter() - started


async def measure(http: aiohttp.ClientSession, url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="hsi-bench-api-"))
    pg = redis_server = None
    db_url, redis_url = os.environ.get("HSI_DATABASE_URL"), os.environ.get("HSI_REDIS_URL")
    if db_url is None:
        pg = EmbeddedPostgres(workdir / "pg")
        admin = await asyncio.to_thread(pg.start)
        await create_database(admin, "hsi_bench")
        db_url = pg.url("hsi_bench")
    if redis_url is None:
        redis_server = EmbeddedRedis(workdir / "redis")
        redis_url = await asyncio.to_thread(redis_server.start)
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url, pool_size=10)
    redis = aioredis.from_url(redis_url)
    try:
        async with engine.connect() as connection:
            existing = (await connection.execute(text("SELECT count(*) FROM events"))).scalar_one()
            pg_version = (await connection.execute(text("SHOW server_version"))).scalar_one()
        load_seconds = 0.0 if existing else await load(engine, args.events, args.detections)
        settings = Settings(
            data_dir=workdir / "data",
            cameras_dir=workdir / "cameras",
            database_url=db_url,
            redis_url=redis_url,
            log_level="WARNING",
        )
        runtime = Runtime(settings, Database(db_url, engine, session_factory(engine)), redis, "bench")
        app = create_app(runtime, ApiSettings())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        key = (settings.data_dir / "api_key.txt").read_text().strip()
        base = f"http://127.0.0.1:{port}"
        results: dict[str, Any] = {}
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(base, headers={"X-API-Key": key}, connector=connector) as http:
            first = await (await http.get("/api/events?limit=50")).json()
            deep = first["next_cursor"]
            for _ in range(20):  # 1 000 events deep
                deep = (await (await http.get(f"/api/events?limit=50&cursor={deep}")).json())["next_cursor"]
            targets = {
                "GET /api/events?limit=50": "/api/events?limit=50",
                "GET /api/events (page 21, cursor)": f"/api/events?limit=50&cursor={deep}",
                "GET /api/events?camera_id&min_risk=60&reviewed=false": "/api/events?camera_id=cam_3&min_risk=60&reviewed=false&limit=50",
                "GET /api/events?risk_level=critical&since=7d": "/api/events?risk_level=critical&limit=50&since="
                + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 86400)),
                "GET /api/detections?limit=50": "/api/detections?limit=50",
                "GET /api/detections?camera_id&object_type=person": "/api/detections?camera_id=cam_3&object_type=person&limit=50",
                "GET /api/alerts?status=pending": "/api/alerts?status=pending&limit=50",
                "GET /api/cameras": "/api/cameras",
                "GET /api/events/search?q=person door": "/api/events/search?q=person%20door&limit=50",
                'GET /api/events/search?q="back gate" -cat': "/api/events/search?q=%22back%20gate%22%20-cat&limit=50",
                "GET /api/events/stats (30 days)": "/api/events/stats",
                "GET /api/system/stats": "/api/system/stats",
            }
            for name, url in targets.items():
                await measure(http, url, 0.5, args.concurrency)  # warm caches and the pool
                results[name] = await measure(http, url, args.seconds, args.concurrency)
                print(f"{name:60} {results[name]}", file=sys.stderr)
        await runner.cleanup()
    finally:
        await redis.aclose()
        await engine.dispose()
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if redis_server is not None:
            await asyncio.to_thread(redis_server.stop)
    return {
        "benchmark": "api",
        "machine": machine_info(),
        "postgres": pg_version,
        "rows": {
            "events": args.events,
            "detections": args.detections,
            "cameras": CAMERAS,
            "alerts": args.events // 10,
        },
        "load_seconds": round(load_seconds, 1),
        "concurrency": args.concurrency,
        "seconds_per_endpoint": args.seconds,
        "results": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.detections < args.events * 10:
        parser.error("--detections must be at least 10 x --events (each event points at 10 detections)")
    report = asyncio.run(run(args))
    text_report = json.dumps(report, indent=2)
    print(text_report)
    if args.output:
        args.output.write_text(text_report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
