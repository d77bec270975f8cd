"""The detect worker's commit of a batch of files: one transaction of a fixed set of statements.

Real PostgreSQL and Redis. The files of a batch may come from several cameras, some seen for the first
time: the cameras are created, each one's newest upload is recorded and each changed camera is
broadcast once, in the statements a batch of one file takes (their count does not grow with the files
or the cameras).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, select

from server.models import Camera, Detection
from server.pipeline.broadcast import CHANNEL
from server.pipeline.cameras import ensure_camera
from server.pipeline.detect_job import DetectJob
from server.pipeline.detect_worker import Committer
from server.runtime import Runtime
from tests.support.pipeline import pipeline_runtime, pipeline_settings


def _job(runtime: Runtime, folder: str, n: int, uploaded_at: datetime) -> DetectJob:
    path = runtime.settings.cameras_dir / folder / f"{n}.jpg"
    return DetectJob(
        camera_id=folder.lower(),
        camera_name=folder,
        file_path=path,
        file_hash=hashlib.sha256(str(path).encode()).hexdigest(),
        media_type="image",
        file_type="image/jpeg",
        uploaded_at=uploaded_at,
        source="watcher",
        seen_at=time.time(),
        queued_at=time.time(),
        width=640,
        height=480,
    )


async def _commit_all(runtime: Runtime, jobs: list[DetectJob]) -> list[str]:
    """Commit `jobs` (no objects found) through a running Committer; the SQL statements it sent."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    sync_engine = runtime.database.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    committer = Committer(runtime)
    task = asyncio.create_task(committer.run())
    try:
        results = await asyncio.gather(*(committer.commit(job, []) for job in jobs))
    finally:
        task.cancel()
        event.remove(sync_engine, "before_cursor_execute", record)
    assert all(result.hand_on and result.created for result in results)
    return statements


def _kinds(statements: Iterable[str]) -> list[str]:
    """Statements up to their conditions (an IN list has a parameter per value)."""
    return [statement.split(" WHERE ")[0] for statement in statements]


async def test_a_batch_over_several_cameras_takes_the_statements_of_one_file(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        await ensure_camera(runtime, "porch", "Porch", str(settings.cameras_dir / "Porch"))
        now = datetime.now(UTC)
        one = await _commit_all(runtime, [_job(runtime, "Porch", 0, now - timedelta(seconds=30))])

        pubsub = runtime.redis.pubsub()
        await pubsub.subscribe(CHANNEL)
        # Twelve files over four cameras, two of them new; each camera's newest upload is not its last.
        folders = ["Porch", "Drive", "Garden", "Gate"]
        times = {folder: [now - timedelta(seconds=s) for s in (5, 1, 9)] for folder in folders}
        jobs = [_job(runtime, folder, 1 + n, times[folder][n]) for n in range(3) for folder in folders]
        batch = await _commit_all(runtime, jobs)

        assert len([s for s in batch if "pg_advisory_xact_lock" in s]) == 1, batch  # one transaction
        # The same statements as for one file; the cameras' rows are written by one UPDATE per set of
        # changed columns (here one: each camera learns the gaps between its uploads of the batch),
        # whatever the number of cameras.
        updates = [s for s in batch if s.startswith("UPDATE cameras")]
        assert _kinds(s for s in batch if s not in updates) == _kinds(s for s in one if not s.startswith("UPDATE"))
        assert len(updates) == 1, updates

        async with runtime.database.sessions() as session:
            cameras = {c.id: c for c in await session.scalars(select(Camera))}
        assert sorted(cameras) == ["drive", "garden", "gate", "porch"]
        for folder in folders:
            camera = cameras[folder.lower()]
            assert camera.name == folder and camera.folder_path == str(settings.cameras_dir / folder)
            assert camera.last_seen_at == now - timedelta(seconds=1)
            assert camera.last_upload_path == str(settings.cameras_dir / folder / "2.jpg")
            assert camera.status == "online"
        # Each gap between uploads is learned (a review's finding: only the one from the last seen to the
        # batch's newest was, so a burst committed together was taken for one long silence). Porch had
        # uploaded 30 s before: 21 s, then 4 s twice (its longest recent silence stays 21 s); the new
        # cameras 4 s twice.
        assert cameras["porch"].upload_gap_seconds == pytest.approx(21, abs=0.01)
        assert cameras["drive"].upload_gap_seconds == 4

        announced = []
        deadline = time.monotonic() + 3  # a None is also the subscription's own confirmation: read on
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None and (payload := json.loads(message["data"]))["type"] == "camera.updated":
                announced.append(payload["data"]["id"])
        await pubsub.aclose()
        assert sorted(announced) == ["drive", "garden", "gate", "porch"]  # each changed camera, once


async def test_a_burst_committed_together_is_learned_as_its_gaps(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """The finding (a review, then tried): a camera uploading every 5 minutes whose catch-up after
    downtime committed twelve files together learned one 3 600 s silence (its last seen to the batch's
    newest), so it was reported offline only after three hours of silence, for weeks."""
    settings = pipeline_settings(tmp_path)
    start = datetime.now(UTC) - timedelta(hours=2)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        for n in range(2):  # one at a time: a gap of 300 s learned
            await _commit_all(runtime, [_job(runtime, "Drive", n, start + timedelta(minutes=5 * n))])
        burst = [_job(runtime, "Drive", n, start + timedelta(minutes=5 * n)) for n in range(2, 14)]
        await _commit_all(runtime, burst)
        async with runtime.database.sessions() as session:
            camera = await session.get_one(Camera, "drive")
    assert camera.last_seen_at == start + timedelta(minutes=65)
    assert camera.upload_gap_seconds == 300


async def test_the_same_file_twice_in_one_batch_is_stored_and_handed_on_once(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """A review's finding: the same bytes queued twice (a retry after the dedup window while the queue was
    behind, an entry delivered again) and committed in one batch were both handed on, the second with
    rows never stored: their broadcast failed on the missing ids, and every file of the batch was tried
    again."""
    settings = pipeline_settings(tmp_path)
    now = datetime.now(UTC)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        job = _job(runtime, "Porch", 1, now)

        def person() -> list[Detection]:
            return [
                Detection(
                    camera_id="porch", file_path=str(job.file_path), file_hash=job.file_hash, detected_at=now,
                    object_type="person", confidence=0.9, bbox_x=1, bbox_y=1, bbox_width=9, bbox_height=9,
                )
            ]  # fmt: skip

        committer = Committer(runtime)
        task = asyncio.create_task(committer.run())
        try:
            results = await asyncio.gather(committer.commit(job, person()), committer.commit(job, person()))
        finally:
            task.cancel()
        async with runtime.database.sessions() as session:
            stored = list(await session.scalars(select(Detection.id)))
    assert len(stored) == 1
    assert [result.hand_on for result in results] == [True, False]
    assert [[row.id for row in result.rows] for result in results] == [stored, stored]
