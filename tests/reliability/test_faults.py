"""The fault suite: uploads keep coming while processes are killed and the stores and the disk fail.

One `python -m server` process per role (api, watcher, detect, analyze) on a PostgreSQL and a Redis of
the test's own. While the uploads arrive (snapshots and clips, into camera folders and over HTTP
ingest, a few bad files among them), at random points (seeded: `HSI_FAULT_SEED`):

- `SIGKILL` hits the detect, the analyze and the API process (each is started again, as a supervisor
  would: also any process that fails to start while a store is down);
- PostgreSQL is stopped and started again after `postgres_seconds`;
- Redis is restarted;
- the media disk (a tmpfs) is filled to the last byte for a while;
- and the LLM hangs throughout (every refinement times out to the rules' assessment).

At the end every upload has exactly one set of detections or one rejection log row, every closed batch
exactly one event (each detection in exactly one), and no dead letter is left. The figures are printed
(run with `-s`) and written to `figures.json` in the test's folder.

Profiles (`HSI_FAULT_PROFILE`): `short` (default; `make test-server` runs it, a few minutes) and
`full` (1 000 uploads, every fault several times; documented in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from server.db import create_engine, session_factory
from server.models import Log
from server.pipeline import dedup
from server.pipeline.batcher import DEADLINES_KEY
from server.pipeline.dead_letters import QUEUES
from tests.reliability.figures import Figures, account, as_json, rejection_rows
from tests.reliability.stack import Stack
from tests.reliability.uploads import Upload, deliver, plan
from tests.support.llm_http import LLMServer


@dataclass(frozen=True)
class Profile:
    uploads: int
    interval: float
    rounds: int  # how many times each fault happens
    postgres_seconds: float
    disk_full_seconds: float
    settle_timeout: float
    #: The media tmpfs: room for every thumbnail, clip and HTTP upload of the profile (the disk guard is
    #: off), so that the disk is full only while the fault fills it.
    media_megabytes: int


PROFILES = {
    "short": Profile(
        uploads=45, interval=1.0, rounds=1, postgres_seconds=15, disk_full_seconds=8, settle_timeout=300,
        media_megabytes=48,
    ),
    "full": Profile(
        uploads=1000, interval=0.3, rounds=3, postgres_seconds=30, disk_full_seconds=15, settle_timeout=1800,
        media_megabytes=768,
    ),
}


def _profile() -> tuple[str, Profile]:
    name = os.environ.get("HSI_FAULT_PROFILE", "short")
    return name, PROFILES[name]


async def _faults(stack: Stack, profile: Profile, rng: random.Random, figures: Figures, until: float) -> None:
    """Every fault `rounds` times, in a random order with random pauses, spread over the upload phase."""
    kinds: dict[str, Callable[[], Awaitable[object]]] = {
        "kill detect": lambda: stack.kill("detect"),
        "kill analyze": lambda: stack.kill("analyze"),
        "kill api": lambda: stack.kill("api"),
        "restart redis": stack.restart_redis,
        "stop postgres": lambda: stack.stop_postgres(profile.postgres_seconds),
        "fill media disk": lambda: stack.fill_disk(profile.disk_full_seconds),
    }
    order = [kind for kind in kinds for _ in range(profile.rounds)]
    rng.shuffle(order)
    budget = until - time.monotonic() - profile.rounds * (profile.postgres_seconds + profile.disk_full_seconds)
    pause = max(1.0, budget / (len(order) + 1))
    for kind in order:
        await asyncio.sleep(rng.uniform(0.5 * pause, 1.5 * pause))
        done = await kinds[kind]()
        figures.faults[kind if done is not False else f"{kind} (skipped: no tmpfs)"] += 1


async def _settled(redis: aioredis.Redis, uploads: list[Upload], stack: Stack) -> bool:
    """Nothing queued or open anywhere, and every good upload processed."""
    try:
        for stream in (*QUEUES.values(),):
            if await redis.xlen(stream):
                return False
        if await redis.zcard(DEADLINES_KEY):
            return False
        ledger = {member.decode() for member in await redis.zrange(dedup.LEDGER_KEY, 0, -1)}
    except Exception:  # Redis restarting
        return False
    good = [u for u in uploads if u.bad is None]
    return all(dedup.ledger_member(u.camera_id, u.sha256) in ledger for u in good)


@pytest.mark.timeout(3600)
async def test_nothing_is_lost_or_duplicated_under_faults(tmp_path: Path) -> None:
    name, profile = _profile()
    rng = random.Random(int(os.environ.get("HSI_FAULT_SEED", "14")))
    uploads = plan(profile.uploads, rng)
    llm = LLMServer()
    llm.default = "hang"
    await llm.start()
    stack = Stack(tmp_path, llm.url, media_megabytes=profile.media_megabytes)
    figures = Figures()
    started = time.monotonic()
    keeper_stop = asyncio.Event()
    keeper: asyncio.Task[None] | None = None
    try:
        await stack.start_stores()
        stack.start_all()
        key = await stack.ready()
        keeper = asyncio.create_task(stack.keep_running(keeper_stop))
        staging = tmp_path / "staging"
        staging.mkdir()
        api = f"http://127.0.0.1:{stack.port}"
        upload_phase = profile.uploads * profile.interval
        faults = asyncio.create_task(_faults(stack, profile, rng, figures, time.monotonic() + upload_phase))
        in_flight: set[asyncio.Task[int]] = set()
        for upload in uploads:
            in_flight.add(asyncio.create_task(deliver(upload, stack.cameras_dir, staging, api, key)))
            await asyncio.sleep(profile.interval)
        figures.http_attempts = sum(await asyncio.gather(*in_flight)) - sum(u.route == "folder" for u in uploads)
        await faults

        redis = aioredis.from_url(stack.redis_url)
        try:
            deadline = time.monotonic() + profile.settle_timeout
            while not await _settled(redis, uploads, stack):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            await asyncio.sleep(3.0)  # the last log rows and refinements
            engine = create_engine(stack.database_url, pool_size=1)
            try:
                async with session_factory(engine)() as session:
                    bad = sum(u.bad is not None for u in uploads)
                    for _ in range(30):  # the watcher rejects a cut-short file only after its grace
                        if len(await rejection_rows(session)) >= bad:
                            break
                        await asyncio.sleep(1.0)
                    figures_now = await account(uploads, session, redis, stack.cameras_dir)
                    errors = await session.scalar(select(func.count()).where(Log.level == "ERROR"))
            finally:
                await engine.dispose()
        finally:
            await redis.aclose()
        figures_now.faults = figures.faults
        figures_now.http_attempts = figures.http_attempts
        figures_now.seconds = time.monotonic() - started
        figures = figures_now
    finally:
        keeper_stop.set()
        if keeper is not None:
            await keeper
        await asyncio.to_thread(stack.stop)
        await llm.stop()
    report = (
        f"fault suite, profile {name} (seed {os.environ.get('HSI_FAULT_SEED', '14')}):\n{figures.report()}\n"
        f"process kills: {stack.kills}; restarts: {stack.restarts}; ERROR log rows: {errors}"
    )
    print(report)
    (tmp_path / "figures.json").write_text(json.dumps({"profile": name, **as_json(figures)}, indent=2))
    assert not figures.lost, report + "\n" + stack.log_tails()
    assert not figures.duplicated, report
    assert figures.processed + sum(figures.rejected.values()) == figures.uploads, report
    assert figures.detections_in_no_event == 0 and figures.detections_in_several_events == 0, report
    assert figures.events == figures.batches, report
    assert sum(figures.dead_letters.values()) == 0, report
    assert stack.kills.keys() >= {"detect", "analyze", "api"}, report
