"""`/api/events/stats` (hourly rollups, and the rows of the partial hours at a range's edges) against a
plain count of the events: 400 events over a European DST change, re-scored, reviewed and deleted (the
rollup triggers' update and delete deltas), 200 random queries in zones with half- and quarter-hour
offsets and DST of their own."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from server.api.event_counts import count_events
from server.api.events import StatsQuery, filtered
from server.db import session_factory
from server.models import Camera, Event

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
]
CAMERAS = ["front", "back", "side"]


def _level(score: int | None) -> str:
    if score is None:
        return "unscored"
    return "low" if score < 30 else "medium" if score < 60 else "high" if score < 85 else "critical"


async def test_the_stats_are_a_plain_count_of_the_events(engine: AsyncEngine) -> None:
    rng = random.Random(20261205)
    base = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # spans European DST change
    factory = session_factory(engine)
    async with factory() as session:
        for camera in CAMERAS:
            session.add(Camera(id=camera, name=camera, folder_path=f"/c/{camera}"))
        await session.commit()
        for n in range(400):
            at = base + timedelta(seconds=rng.randrange(0, 6 * 24 * 3600))
            if n % 10 == 0:
                at = at.replace(minute=0, second=0, microsecond=0)  # on the hour
            score = rng.choice([None, rng.randrange(0, 101), 29, 30, 59, 60, 84, 85, 0, 100])
            session.add(
                Event(
                    batch_id=f"b{n}",
                    camera_id=rng.choice(CAMERAS),
                    started_at=at,
                    risk_score=score,
                    reviewed=rng.random() < 0.3,
                )
            )
        await session.commit()
        # Re-score, review and delete some (the triggers' update/delete deltas).
        ids = list(await session.scalars(select(Event.id)))
        for event_id in rng.sample(ids, 60):
            await session.execute(
                update(Event)
                .where(Event.id == event_id)
                .values(risk_score=rng.choice([None, rng.randrange(0, 101)]), reviewed=rng.random() < 0.5)
            )
        await session.execute(delete(Event).where(Event.id.in_(rng.sample(ids, 40))))
        await session.commit()
        events = [
            (e.camera_id, e.started_at, e.risk_score, e.reviewed)
            for e in await session.scalars(select(Event))
        ]

    failures = []
    async with engine.connect() as connection:
        for _ in range(200):
            since = base + timedelta(seconds=rng.randrange(-3600, 6 * 24 * 3600))
            until = since + timedelta(
                seconds=rng.choice([1800, 3600, 5400, 86400, 2 * 86400 + 77, 4 * 86400])
            )
            if rng.random() < 0.3:
                since = since.replace(minute=0, second=0)
            params: dict[str, Any] = {"timezone": rng.choice(ZONES)}
            if rng.random() < 0.8:
                params["since"] = since
            if rng.random() < 0.8:
                params["until"] = until
            if rng.random() < 0.3:
                params["camera_id"] = rng.choice(CAMERAS)
            if rng.random() < 0.3:
                params["reviewed"] = rng.random() < 0.5
            if rng.random() < 0.3:
                params["risk_level"] = rng.choice(["low", "medium", "high", "critical"])
            q = StatsQuery(**params)
            counts = await count_events(connection, filtered(select(Event.id), q), q)
            zone = ZoneInfo(q.timezone)
            want_level, want_camera, want_day = Counter(), Counter(), Counter()
            for camera, at, score, reviewed in events:
                if q.since and at < q.since or q.until and at >= q.until:
                    continue
                if q.camera_id and camera != q.camera_id:
                    continue
                if q.reviewed is not None and reviewed != q.reviewed:
                    continue
                if q.risk_level is not None and _level(score) != q.risk_level.value:
                    continue
                want_level[_level(score)] += 1
                want_camera[camera] += 1
                want_day[at.astimezone(zone).strftime("%Y-%m-%d")] += 1
            got = (+counts.by_level, +counts.by_camera, +counts.by_day)
            if got != (want_level, want_camera, want_day):
                failures.append((params, got, (want_level, want_camera, want_day)))
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"
