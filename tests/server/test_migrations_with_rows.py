"""Databases that hold real rows: upgraded from every older revision, downgraded and back, migrated by
two commands at once; rows out of the value ranges repaired by 0010; an older release on a newer
database refused in one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import create_engine
from server.migrate import downgrade, head_revision, upgrade
from tests.server.test_migrations import _revision_chain, _schema_diff
from server.models import Base

REPO_ROOT = Path(__file__).resolve().parents[2]
OLD_REVISIONS = [rev for rev in _revision_chain() if rev != head_revision()]


@pytest.fixture
async def empty_engine(empty_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_db_url, pool_size=2)
    yield engine
    await engine.dispose()


async def _version(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()


#: Rows as an installation of revision 0001 wrote them (columns every later revision still has),
#: with the edge values the code of that time stored: a NaN confidence (an fp16 overflow on a GPU,
#: stored until 8bb1724), the ends of every range, NULL risk (not yet scored), a text with quotes.
SEED = [
    "INSERT INTO cameras (id, name, folder_path) VALUES "
    "('front_door', 'Front Door', '/cameras/front_door'), ('garage', 'Garage', '/cameras/garage')",
    "INSERT INTO detections (camera_id, file_path, file_type, detected_at, object_type, confidence, "
    "bbox_x, bbox_y, bbox_width, bbox_height) VALUES "
    "('front_door', '/cameras/front_door/a.jpg', 'image/jpeg', '2025-06-01 22:59:59+00', 'person', 1.0, 1, 2, 3, 4), "
    "('front_door', '/cameras/front_door/b.jpg', 'image/jpeg', '2025-06-01 23:00:00+00', 'car', 0.0, 1, 2, 3, 4), "
    "('garage', '/cameras/garage/c.jpg', 'image/jpeg', '2025-06-02 00:00:00+00', 'dog', 'NaN', 1, 2, 3, 4)",
    "INSERT INTO events (batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary, "
    "reasoning, detection_ids, reviewed, object_types) VALUES "
    "('b1', 'front_door', '2025-06-01 22:59:59+00', '2025-06-01 23:00:30+00', 0, 'low', 'It''s a \"person\"', "
    "'r', '[1]', false, '[\"person\"]'), "
    "('b2', 'front_door', '2025-06-01 23:00:00+00', NULL, 100, 'critical', 'car', 'r', '[2]', true, '[\"car\"]'), "
    "('b3', 'garage', '2025-06-02 00:00:00+00', NULL, NULL, NULL, NULL, NULL, '[3]', false, NULL), "
    "('b4', 'garage', '2025-06-02 00:30:00+00', NULL, 59, 'medium', 'dog', 'r', '[3]', false, '[\"dog\"]')",
    "INSERT INTO alert_rules (id, name, severity, risk_threshold, channels) VALUES "
    "('11111111-1111-4111-8111-111111111111', 'My rule', 'high', 50, '[\"ha\"]')",
    "INSERT INTO alerts (event_id, rule_id, severity, status, dedup_key) VALUES "
    "(1, '11111111-1111-4111-8111-111111111111', 'low', 'pending', 'k1'), "
    "(2, '11111111-1111-4111-8111-111111111111', 'critical', 'delivered', 'k2'), "
    "(4, NULL, 'medium', 'acknowledged', 'k3')",
    "INSERT INTO activity_baselines (camera_id, hour, day_of_week, avg_count, sample_count) VALUES "
    "('front_door', 0, 0, 1.5, 3), ('front_door', 23, 6, 0.25, 4)",
    "INSERT INTO class_baselines (camera_id, detection_class, hour, frequency, sample_count) VALUES "
    "('garage', 'dog', 23, 0.5, 2)",
    "INSERT INTO zones (id, camera_id, name, coordinates) VALUES ('z1', 'front_door', 'Porch', "
    "'[[0.1, 0.1], [0.5, 0.5]]')",
    "INSERT INTO api_keys (key_hash, name) VALUES ('" + "a" * 64 + "', 'ha')",
]


async def _seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for statement in SEED:
            await conn.execute(text(statement))


async def _counts(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        result: dict[str, Any] = {}
        for table in (
            "cameras",
            "detections",
            "events",
            "alerts",
            "alert_rules",
            "activity_baselines",
            "class_baselines",
            "zones",
            "api_keys",
        ):
            result[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
        return result


@pytest.mark.parametrize("start", OLD_REVISIONS)
async def test_upgrade_with_real_rows_from_each_revision(
    start: str, empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    """A user's database at each older revision, holding rows (with the edge values the code of that time
    wrote), upgrades to head: nothing lost, rollups and counters agree with the rows, the user's own
    rule stays the only rule, and the schema equals the models."""
    await asyncio.to_thread(upgrade, empty_db_url, "0001")
    await _seed(empty_engine)
    await asyncio.to_thread(upgrade, empty_db_url, start)
    before = await _counts(empty_engine)
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _version(empty_engine) == head_revision()
    assert await _counts(empty_engine) == before, "rows changed by the upgrade"
    assert await _schema_diff(empty_engine, Base.metadata) == []
    async with empty_engine.connect() as conn:
        total = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(low + medium + high + critical + unscored), 0), "
                    "coalesce(sum(unreviewed_low + unreviewed_medium + unreviewed_high + unreviewed_critical "
                    "+ unreviewed_unscored), 0) FROM event_counts_daily"
                )
            )
        ).one()
        assert tuple(total) == (4, 3), f"daily rollup after upgrade from {start}: {tuple(total)}"
        unreviewed = (
            await conn.execute(
                text("SELECT coalesce(sum(value), 0) FROM store_counters WHERE name = 'events.unreviewed'")
            )
        ).scalar()
        open_alerts = (
            await conn.execute(
                text("SELECT coalesce(sum(value), 0) FROM store_counters WHERE name = 'alerts.open'")
            )
        ).scalar()
        assert (unreviewed, open_alerts) == (3, 2)
        rules = (await conn.execute(text("SELECT name FROM alert_rules"))).scalars().all()
        assert rules == ["My rule"], f"rules after the upgrade: {rules}"
    # What the running server writes afterwards, to the rows kept from before.
    async with empty_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET reviewed = true, notes = 'seen'"))
        await conn.execute(text("UPDATE alerts SET status = 'dismissed'"))
        await conn.execute(text("UPDATE activity_baselines SET avg_count = avg_count + 1"))


@pytest.mark.parametrize("target", ["0001", "0003", "0004", "0007"])
async def test_downgrade_with_real_rows_and_back(
    target: str, empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    """An operator going back to an older release (and forward again) keeps every row."""
    await asyncio.to_thread(upgrade, empty_db_url, "0001")
    await _seed(empty_engine)
    await asyncio.to_thread(upgrade, empty_db_url)
    async with empty_engine.begin() as conn:  # rows of the head schema: a severity taken from risk, a track
        await conn.execute(
            text("INSERT INTO alert_rules (name, severity, channels) VALUES ('From risk', NULL, '[\"ha\"]')")
        )
        await conn.execute(text("UPDATE detections SET track_id = 7, stationary = true WHERE id = 1"))
    before = await _counts(empty_engine)
    await asyncio.to_thread(downgrade, empty_db_url, target)
    assert await _version(empty_engine) == target
    assert await _counts(empty_engine) == before
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _counts(empty_engine) == before
    assert await _schema_diff(empty_engine, Base.metadata) == []


def _migrate_command(url: str, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "migrate"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "HSI_DATABASE_URL": url,
            "HSI_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(REPO_ROOT),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_migrate_commands_at_once_on_an_old_database(
    empty_db_url: str, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    """`python -m server migrate` started twice at once (an operator and the add-on's start) on a database
    at 0003 holding rows: both succeed, the backfill counts every event once."""
    await asyncio.to_thread(upgrade, empty_db_url, "0001")
    await _seed(empty_engine)
    await asyncio.to_thread(upgrade, empty_db_url, "0003")
    processes = [_migrate_command(empty_db_url, tmp_path / f"d{i}") for i in range(2)]
    results = [await asyncio.to_thread(p.communicate, timeout=180) for p in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    assert await _version(empty_engine) == head_revision()
    async with empty_engine.connect() as conn:
        total = (
            await conn.execute(
                text("SELECT sum(low + medium + high + critical + unscored) FROM event_counts_daily")
            )
        ).scalar()
    assert total == 4, f"events counted {total} times for 4 events"


# ---- rows out of range, from before 0008 -----------------------------------------------------------

#: Rows 0008's constraints refuse, as a database of before it could hold them (by hand, a restore).
OUT_OF_RANGE = [
    "UPDATE events SET risk_score = 150 WHERE batch_id = 'b2'",
    "UPDATE events SET risk_score = -5 WHERE batch_id = 'b1'",
    "UPDATE detections SET confidence = 1.5 WHERE id = 1",
    "INSERT INTO activity_baselines (camera_id, hour, day_of_week, avg_count, sample_count) VALUES "
    "('garage', 24, 0, 1.0, 1), ('garage', 3, 7, 1.0, 1)",
    "INSERT INTO class_baselines (camera_id, detection_class, hour, frequency, sample_count) VALUES "
    "('garage', 'cat', 24, 0.5, 2)",
]


async def test_rows_out_of_range_from_before_0008_are_repaired_and_can_be_written(
    empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    """0008 added its checks NOT VALID, keeping such rows; PostgreSQL checks them again at every write of
    the row, so an event scored 150 could never be marked reviewed (409). 0010 brings the rows into
    range and validates the checks: the rows are written to as any other."""
    await asyncio.to_thread(upgrade, empty_db_url, "0001")
    await _seed(empty_engine)  # with a NaN confidence, as the detector stored before 8bb1724
    async with empty_engine.begin() as conn:
        for statement in OUT_OF_RANGE:
            await conn.execute(text(statement))
    await asyncio.to_thread(upgrade, empty_db_url)
    async with empty_engine.begin() as conn:
        scores = dict((await conn.execute(text("SELECT batch_id, risk_score FROM events"))).all())
        assert (scores["b1"], scores["b2"]) == (0, 100), scores
        confidences = (
            (await conn.execute(text("SELECT confidence FROM detections ORDER BY id"))).scalars().all()
        )
        assert confidences == [None, 0.0, None], confidences
        hours = (await conn.execute(text("SELECT max(hour), max(day_of_week) FROM activity_baselines"))).one()
        assert tuple(hours) == (23, 6)
        assert (await conn.execute(text("SELECT max(hour) FROM class_baselines"))).scalar() == 23
        unchecked = (
            (
                await conn.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c' AND NOT convalidated")
                )
            )
            .scalars()
            .all()
        )
        assert unchecked == [], f"constraints still NOT VALID: {unchecked}"
        await conn.execute(text("UPDATE events SET reviewed = true, notes = 'checked'"))
        await conn.execute(text("UPDATE detections SET stationary = true"))


async def test_an_older_release_on_a_newer_database_says_so(
    empty_db_url: str, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    """A user who goes back to the previous release (image tag, add-on version) after this one migrated the
    database: the migrate command (and the server's start, which runs the same upgrade) should say in one
    line that the database is newer than this release, not end in a traceback through alembic."""
    await asyncio.to_thread(upgrade, empty_db_url)
    async with empty_engine.begin() as conn:  # what the next release's revision leaves in the database
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    process = _migrate_command(empty_db_url, tmp_path / "data")
    _, stderr = await asyncio.to_thread(process.communicate, timeout=120)
    assert process.returncode != 0
    assert "Traceback" not in stderr, (
        "an older release on a newer database ends in a traceback:\n"
        + "\n".join(stderr.strip().splitlines()[-3:])
    )
    assert "newer HSI release" in stderr, stderr[-2000:]
