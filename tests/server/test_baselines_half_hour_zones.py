"""Baselines in a home whose time zone is offset from UTC by a half hour (India, Adelaide, Newfoundland).
The finding (a review, then tried): learning put each UTC hour in the slot of its start in local time
(05:30-06:30 in Kolkata: slot 5), while a batch at 06:21 was compared with slot 6, learned from
06:30-07:30: the same daily routine was "unusual" every day. Both take the slot from one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from server.analyze.baseline_store import compare_batch, default_grace, fold_completed_hours
from server.db import session_factory
from server.models import Camera, Detection

GRACE = default_grace(90)
DAYS = 70


def _routine(tz: ZoneInfo, day: datetime) -> list[dict[str, object]]:
    """The newspaper round: 8 detections of a person between 06:00 and 06:24 local, every day."""
    start = day.replace(hour=6, minute=0, tzinfo=tz)
    return [
        {
            "camera_id": "porch",
            "file_path": "/x.jpg",
            "detected_at": start + timedelta(minutes=3 * i),
            "object_type": "person",
            "confidence": 0.9,
            "stationary": False,
        }
        for i in range(8)
    ]


@pytest.mark.parametrize("zone", ["Asia/Dubai", "Asia/Kolkata"])
async def test_the_same_daily_routine_is_normal_whatever_the_offset(engine: AsyncEngine, zone: str) -> None:
    """Every morning at 06:00-06:24 local the same person passes the porch camera. After ten weeks the
    06:24 batch must be 'normal' for its slot. In Dubai (UTC+4) it is. In Kolkata (UTC+5:30) the
    routine's detections are folded into the slot of the UTC hour they fall in, which starts at 05:30
    local (slot 5), while `compare_batch` compares 06:24 with slot 6 (learned from 06:30-07:30, always
    empty): the daily newspaper is 'unusual' every single day."""
    tz = ZoneInfo(zone)
    first_day = datetime(2025, 1, 6)
    sessions = session_factory(engine)
    async with sessions() as session:
        session.add(
            Camera(
                id="porch",
                name="Porch",
                folder_path="/export/foscam/porch",
                created_at=first_day.replace(tzinfo=tz),
            )
        )
        await session.commit()
        rows = [row for d in range(DAYS) for row in _routine(tz, first_day + timedelta(days=d))]
        await session.execute(insert(Detection), rows)
        await session.commit()

    today = first_day + timedelta(days=DAYS)
    batch_end = today.replace(hour=6, minute=21, tzinfo=tz)
    async with sessions() as session:
        await fold_completed_hours(session, "porch", tz, batch_end, GRACE)
    async with sessions() as session:
        await session.execute(insert(Detection), _routine(tz, today))
        await session.commit()
    async with sessions() as session:
        comparison = await compare_batch(session, "porch", tz, batch_end)
    assert comparison.status == "normal", (zone, comparison)
