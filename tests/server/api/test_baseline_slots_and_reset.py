"""Baselines: a reset waits for a fold running on the camera (and does not get the old view back), and the
trailing hour is compared with both slots it spans (the usual evening is not unusual after a busy hour)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.analyze import baseline_store
from server.analyze.baseline_store import default_grace, fold_completed_hours
from server.db import session_factory
from server.models import ActivityBaseline, Camera, Detection
from server.runtime import Runtime


UTC_ZONE = ZoneInfo("UTC")
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, 00:00
GRACE = default_grace(90)  # 10 minutes with the default 90 s batch window


def _rows(camera: str, moments: list[datetime], kind: str = "person") -> list[dict[str, object]]:
    return [
        {
            "camera_id": camera,
            "file_path": f"/{camera}/{n}.jpg",
            "detected_at": moment,
            "object_type": kind,
            "confidence": 0.8,
            "stationary": False,
        }
        for n, moment in enumerate(moments)
    ]


async def test_a_reset_during_a_fold_does_not_bring_the_old_view_back(
    runtime: Runtime,  # noqa: F811
    client: TestClient,  # noqa: F811
    monkeypatch,
) -> None:
    """A review's finding: DELETE /api/cameras/{id}/baselines (the camera was moved) while an analyze worker
    folded the camera's hours took no lock: the fold went on from the watermark it read before the reset and
    wrote the old view's hours into the fresh baselines."""
    now = datetime.now(UTC)
    created = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    async with runtime.database.sessions() as session:
        session.add(Camera(id="yard", name="Yard", folder_path="/export/foscam/yard", created_at=created))
        await session.commit()
    # Learned up to 5 hours ago.
    async with runtime.database.sessions() as session:
        await fold_completed_hours(session, "yard", UTC_ZONE, now - timedelta(hours=5) + GRACE, GRACE)
    # The old view: busy 3 hours ago (before the camera was moved).
    busy = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    async with runtime.database.sessions() as session:
        await session.execute(
            insert(Detection), _rows("yard", [busy + timedelta(minutes=2 * n) for n in range(20)])
        )
        await session.commit()

    read_detections = baseline_store._detections
    paused, resume = asyncio.Event(), asyncio.Event()

    async def slow_detections(*args, **kwargs):  # the fold, between reading its watermark and writing
        rows = await read_detections(*args, **kwargs)
        if not paused.is_set():
            paused.set()
            await resume.wait()
        return rows

    monkeypatch.setattr(baseline_store, "_detections", slow_detections)

    async def fold() -> None:
        async with runtime.database.sessions() as session:
            await fold_completed_hours(session, "yard", UTC_ZONE, now, GRACE)

    folding = asyncio.create_task(fold())
    await asyncio.wait_for(paused.wait(), 10)
    resetting = asyncio.create_task(client.delete("/api/cameras/yard/baselines"))
    await asyncio.sleep(0.5)
    assert not resetting.done(), "the reset did not wait for the fold running on the camera"
    resume.set()
    await asyncio.wait_for(folding, 10)
    reset = await asyncio.wait_for(resetting, 10)
    assert reset.status == 204

    async with runtime.database.sessions() as session:
        reset_at = await session.scalar(select(Camera.baselines_reset_at).where(Camera.id == "yard"))
        rows = list(
            await session.scalars(select(ActivityBaseline).where(ActivityBaseline.camera_id == "yard"))
        )
    before_reset = [row for row in rows if row.last_updated <= reset_at]
    assert before_reset == [], (
        f"after DELETE /api/cameras/yard/baselines at {reset_at:%H:%M:%S}, the baselines hold "
        f"{len(before_reset)} slots learned from hours before the reset (the old view), e.g. avg "
        f"{max(row.avg_count for row in before_reset)} detections/hour"
    )


async def test_the_usual_evening_is_not_unusual_just_after_a_busy_hour(engine: AsyncEngine) -> None:
    """A review's finding: every evening for five weeks, 20 detections between 21:00 and 22:00 and two
    between 22:00 and 23:00. Tonight's usual 22:05 sighting, counted over the trailing hour (almost all of
    the busy 21:00 hour), was compared with slot 22 alone: "unusual for this hour", "person rarely seen
    here at this hour" (+15, +5 risk), every night."""
    sessions = session_factory(engine)
    weeks = 5
    async with sessions() as session:
        session.add(Camera(id="yard", name="Yard", folder_path="/export/foscam/yard", created_at=START))
        await session.commit()
    moments: list[datetime] = []
    for day in range(weeks * 7 + 1):
        evening = START + timedelta(days=day, hours=21)
        moments += [evening + timedelta(minutes=3 * n) for n in range(20)]  # 21:00 .. 21:57
        if day < weeks * 7:
            moments += [evening + timedelta(hours=1, minutes=m) for m in (5, 40)]  # 22:05, 22:40
    tonight = START + timedelta(days=weeks * 7, hours=22, minutes=5)
    moments.append(tonight)  # the usual 22:05 sighting
    async with sessions() as session:
        await session.execute(insert(Detection), _rows("yard", moments))
        await session.commit()
    async with sessions() as session:
        await fold_completed_hours(session, "yard", UTC_ZONE, tonight, GRACE)
    async with sessions() as session:
        slot = await session.scalar(
            select(ActivityBaseline).where(
                ActivityBaseline.camera_id == "yard",
                ActivityBaseline.hour == 22,
                ActivityBaseline.day_of_week == 0,
            )
        )
        result = await baseline_store.compare_batch(session, "yard", UTC_ZONE, tonight)
    assert slot is not None and slot.sample_count == weeks and slot.avg_count == 2.0  # the slot is right
    assert result.status not in ("unusual", "elevated") and "person" not in result.unusual_classes, (
        f"an evening like every other: at 22:05 the batch is '{result.status}' (anomaly {result.anomaly_score}, "
        f"unusual classes {result.unusual_classes}): {result.observed_count} detections 'in the last hour' "
        f"(21:05-22:05, the busy 21:00 hour) compared with slot 22's usual {result.expected_count:.1f}"
    )
