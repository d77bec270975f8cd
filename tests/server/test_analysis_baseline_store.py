"""Baselines persisted in PostgreSQL measure real rates on synthetic traffic, and flag the unusual."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server.analyze.baseline_store import compare_batch, default_grace, fold_completed_hours
from server.db import session_factory
from server.models import ActivityBaseline, Camera, ClassBaseline, Detection

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, 00:00
WEEKS = 10
GRACE = default_grace(90)
#: True rates (detections per hour): busy mid-afternoon, almost nothing at 3 AM, 1 otherwise.
RATES = {14: 6.0, 3: 0.1}


def _rate(hour: int) -> float:
    return RATES.get(hour, 1.0)


def _traffic(seed: int = 7) -> list[dict[str, object]]:
    """Poisson arrivals per hour; at 14:00 two thirds are people, one third cars."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for hour_index in range(WEEKS * 7 * 24):
        start = START + timedelta(hours=hour_index)
        for _ in range(rng.poisson(_rate(start.hour))):
            kind = "person" if start.hour != 14 or rng.random() < 2 / 3 else "car"
            rows.append(
                {
                    "camera_id": "yard",
                    "file_path": "/x.jpg",
                    "detected_at": start + timedelta(seconds=float(rng.uniform(0, 3599))),
                    "object_type": kind,
                    "confidence": 0.8,
                    "stationary": False,
                }
            )
    return rows


async def _camera(session: AsyncSession) -> None:
    session.add(Camera(id="yard", name="Yard", folder_path="/export/foscam/yard", created_at=START))
    await session.commit()


async def test_rates_converge_to_the_true_rate(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        await _camera(session)
        await session.execute(insert(Detection), _traffic())
        await session.commit()

    # Fold as a live server would: now and then, with irregular gaps (each fold catches up).
    moments = [START + timedelta(days=d, hours=h) for d, h in ((1, 3), (2, 0), (9, 11), (30, 0), (50, 5))]
    moments.append(START + timedelta(weeks=WEEKS) + GRACE)
    folded = 0
    for moment in moments:
        async with sessions() as session:
            folded += (await fold_completed_hours(session, "yard", UTC_ZONE, moment, GRACE)).hours
    assert folded == WEEKS * 7 * 24  # every hour exactly once, empty hours included
    async with sessions() as session:  # the same moment again folds nothing
        assert (await fold_completed_hours(session, "yard", UTC_ZONE, moments[-1], GRACE)).hours == 0

    async with sessions() as session:
        rows = list(
            await session.scalars(select(ActivityBaseline).where(ActivityBaseline.camera_id == "yard"))
        )
        assert len(rows) == 24 * 7 and {row.sample_count for row in rows} == {WEEKS}
        by_hour: dict[int, list[float]] = {}
        for row in rows:
            by_hour.setdefault(row.hour, []).append(row.avg_count)
        # Per slot, ten weekly samples: the EWMA is their exact mean, near the true rate.
        assert abs(np.mean(by_hour[14]) - 6.0) < 0.6
        assert all(abs(value - 6.0) < 2.5 for value in by_hour[14])
        assert np.mean(by_hour[3]) < 0.4  # a +1-per-observation counter would say 1.0 here
        assert abs(np.mean([np.mean(by_hour[h]) for h in range(24) if h not in RATES]) - 1.0) < 0.2

        classes = {
            (row.detection_class, row.hour): row
            for row in await session.scalars(select(ClassBaseline).where(ClassBaseline.camera_id == "yard"))
        }
        assert classes[("person", 14)].sample_count == WEEKS * 7
        assert abs(classes[("person", 14)].frequency - 4.0) < 1.3
        assert abs(classes[("car", 14)].frequency - 2.0) < 1.0
        assert ("car", 3) not in classes  # cars never come at 3 AM: no row, anomaly treats it as 0


async def test_batches_are_compared_with_their_slot(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        await _camera(session)
        await session.execute(insert(Detection), _traffic(seed=11))
        await session.commit()
    after = START + timedelta(weeks=WEEKS)
    async with sessions() as session:
        await fold_completed_hours(session, "yard", UTC_ZONE, after + GRACE, GRACE)

    async def batch(at: datetime, count: int, kind: str) -> None:
        async with sessions() as session:
            await session.execute(
                insert(Detection),
                [
                    {
                        "camera_id": "yard",
                        "file_path": "/y.jpg",
                        "object_type": kind,
                        "confidence": 0.9,
                        "detected_at": at - timedelta(seconds=10 * n),
                    }
                    for n in range(count)
                ],
            )
            await session.commit()

    night = after + timedelta(days=1, hours=3, minutes=20)
    await batch(night, 8, "person")
    afternoon = after + timedelta(days=2, hours=14, minutes=40)
    await batch(afternoon, 6, "person")
    async with sessions() as session:
        at_night = await compare_batch(session, "yard", UTC_ZONE, night)
        by_day = await compare_batch(session, "yard", UTC_ZONE, afternoon)
    assert at_night.status == "unusual" and "person" in at_night.unusual_classes
    assert at_night.anomaly_score is not None and at_night.anomaly_score > 0.99
    assert by_day.status == "normal" and by_day.unusual_classes == ()
    assert by_day.observed_count == 6


async def test_a_new_camera_says_unknown_and_concurrent_folds_count_once(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        await _camera(session)
        early = await compare_batch(session, "yard", UTC_ZONE, START + timedelta(hours=2))
    assert early.status == "unknown" and early.anomaly_score is None

    now = START + timedelta(days=3) + GRACE

    async def fold() -> int:
        async with sessions() as session:
            return (await fold_completed_hours(session, "yard", UTC_ZONE, now, GRACE)).hours

    results = await asyncio.gather(*(fold() for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 72]


async def test_a_parked_car_is_no_activity(engine: AsyncEngine) -> None:
    """Stationary rows (a car parked all night, uploads every minute) are stored but not counted."""
    sessions = session_factory(engine)
    parked = [
        {
            "camera_id": "yard", "file_path": "/p.jpg", "object_type": "car", "confidence": 0.8, "stationary": True,
            "detected_at": START + timedelta(days=day, hours=3, minutes=minute),
        }
        for day in range(WEEKS * 7)
        for minute in range(60)
    ]  # fmt: skip
    async with sessions() as session:
        await _camera(session)
        await session.execute(insert(Detection), _traffic() + parked)
        await session.commit()
    async with sessions() as session:
        await fold_completed_hours(session, "yard", UTC_ZONE, START + timedelta(weeks=WEEKS) + GRACE, GRACE)
    async with sessions() as session:
        night = [
            row.avg_count
            for row in await session.scalars(
                select(ActivityBaseline).where(ActivityBaseline.camera_id == "yard", ActivityBaseline.hour == 3)
            )
        ]
        car_at_3 = await session.scalar(
            select(ClassBaseline).where(ClassBaseline.detection_class == "car", ClassBaseline.hour == 3)
        )
    assert len(night) == 7 and np.mean(night) < 0.4  # 60 an hour if the parked car counted
    assert car_at_3 is None
