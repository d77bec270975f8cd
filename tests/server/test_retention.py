"""Retention on real rows and real files, with the clock moved through 60 days of uploads.

Every simulated day writes what a home's pipeline writes — events with their detections, thumbnails,
clips and HTTP uploads (real JPEG and MP4 files, their SHA-256 in the rows), detections of a batch
that never became an event, an upload in which nothing was found, log lines, audit entries and GPU
samples every five minutes — all stamped with that day's times (file modification times included),
then runs one cleanup round at the end of the day (`Cleanup.round(now=...)`, the task's own code).
After every round the surviving rows and files must be exactly those the settings keep: nothing
younger than its setting is gone, nothing older is left, media bytes are those of the kept rows,
and the rollups and counters still agree with the rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, text

from server.api.event_counts import count_events
from server.api.events import StatsQuery, filtered
from server.config import Settings
from server.models import Alert, AlertRule, AuditLog, Camera, Detection, Event, GPUStats, Log
from server.pipeline.dead_letters import dead_letter_stream
from server.pipeline.intake import submit_file
from server.retention import CLEANUP_LOCK, SWEEP_MARGIN, Cleanup
from server.runtime import Runtime
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.pipeline import pipeline_runtime, pipeline_settings

DAY = timedelta(days=1)
START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 60
CAMERAS = ("front_door", "backyard")
RETENTION = {
    "retention_days": 30,
    "retention_reviewed_low_risk_days": 7,
    "retention_alert_days": 45,
    "retention_log_days": 7,
    "retention_audit_days": 20,
    "retention_gpu_full_hours": 24,
    "retention_gpu_bucket_minutes": 30,
    "retention_gpu_days": 10,
    "retention_batch_size": 7,  # several transactions per round
    "media_min_free_percent": 0.0,  # the disk guard has its own test
}


@dataclass
class Home:
    """What the simulated pipeline wrote, to compute what must survive at any moment."""

    settings: Settings
    clip_source: Path
    #: event id -> (kind, started_at, detection ids, files of its own)
    events: dict[int, tuple[str, datetime, list[int], list[Path]]] = field(default_factory=dict)
    #: detection id -> (detected_at, thumbnail)
    detections: dict[int, tuple[datetime, Path]] = field(default_factory=dict)
    #: upload file -> (uploaded_at, event id or None when nothing was detected in it)
    uploads: dict[Path, tuple[datetime, int | None]] = field(default_factory=dict)
    camera_files: list[Path] = field(default_factory=list)
    orphans: dict[int, datetime] = field(default_factory=dict)
    logs: list[datetime] = field(default_factory=list)
    audit: list[datetime] = field(default_factory=list)
    #: GPU samples: time -> utilisation
    gpu: dict[datetime, float] = field(default_factory=dict)

    def media_file(self, folder: Path, camera: str, name: str, at: datetime, *, clip: bool = False) -> Path:
        path = folder / camera / name
        if clip:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.clip_source, path)
        else:
            write_jpeg(path, size=(64, 48), seed=zlib.crc32(str(path).encode()))  # unique content, unique hash
        os.utime(path, (at.timestamp(), at.timestamp()))
        return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    settings = pipeline_settings(tmp_path, **RETENTION)
    async with pipeline_runtime(settings, db_url, redis, database_logs=False) as rt:
        yield rt


async def _home(runtime: Runtime, tmp_path: Path) -> tuple[Home, uuid.UUID]:
    """Two cameras and an alert rule, and the record of what the days will write."""
    home = Home(runtime.settings, write_h264_clip(tmp_path / "source.mp4", seconds=1, fps=5))
    async with runtime.database.sessions() as session:
        session.add_all(Camera(id=c, name=c, folder_path=str(runtime.settings.cameras_dir / c)) for c in CAMERAS)
        rule = AlertRule(name="people")
        session.add(rule)
        await session.commit()
    return home, rule.id


async def _write_day(runtime: Runtime, home: Home, day: int, rule_id: uuid.UUID) -> None:
    settings = home.settings
    base = START + day * DAY
    async with runtime.database.sessions() as session:
        for index, camera in enumerate(CAMERAS):
            kinds = ["plain", "reviewed_low"] + (["alerted"] if camera == "front_door" else [])
            for slot, kind in enumerate(kinds):
                at = base + timedelta(hours=6 + 4 * slot, minutes=index)
                if kind == "plain":  # an HTTP upload (snapshot of an HA camera)
                    source = home.media_file(settings.ingest_dir, camera, f"d{day}-{kind}.jpg", at)
                else:  # an FTP upload in the camera's own folder
                    source = home.media_file(settings.cameras_dir, camera, f"d{day}-{kind}.jpg", at)
                    home.camera_files.append(source)
                file_hash = _sha256(source)
                rows = []
                for n in range(1 if kind == "reviewed_low" else 2):
                    thumbnail = home.media_file(settings.thumbnails_dir, camera, f"{file_hash}_{n}.jpg", at)
                    rows.append(
                        Detection(
                            camera_id=camera,
                            file_path=str(source),
                            file_type="image/jpeg",
                            file_hash=file_hash,
                            detected_at=at + timedelta(seconds=n),
                            object_type="person",
                            confidence=0.9,
                            thumbnail_path=str(thumbnail),
                            media_type="image",
                        )
                    )
                session.add_all(rows)
                await session.flush()
                batch_id = f"d{day}-{camera}-{kind}"
                clip = (
                    home.media_file(settings.clips_dir, camera, f"{batch_id}.mp4", at, clip=True)
                    if kind == "alerted"
                    else None
                )
                score = {"plain": 50, "reviewed_low": 10, "alerted": 80}[kind]
                event = Event(
                    batch_id=batch_id,
                    camera_id=camera,
                    started_at=at,
                    ended_at=at + timedelta(seconds=30),
                    risk_score=score,
                    risk_level={"plain": "medium", "reviewed_low": "low", "alerted": "high"}[kind],
                    summary=f"{kind} on {camera}",
                    detection_ids=json.dumps([row.id for row in rows]),
                    object_types='["person"]',
                    reviewed=kind == "reviewed_low",
                    clip_path=str(clip) if clip else None,
                )
                session.add(event)
                await session.flush()
                if kind == "alerted":
                    session.add(Alert(event_id=event.id, rule_id=rule_id, dedup_key=batch_id, created_at=at))
                own = [Path(row.thumbnail_path or "") for row in rows] + ([clip] if clip else [])
                home.events[event.id] = (kind, at, [row.id for row in rows], own)
                for row in rows:
                    home.detections[row.id] = (row.detected_at, Path(row.thumbnail_path or ""))
                if kind == "plain":
                    home.uploads[source] = (at, event.id)
        # A batch that never became an event, and an upload in which nothing was found.
        at = base + timedelta(hours=20)
        orphan_hash = hashlib.sha256(f"orphan {day}".encode()).hexdigest()
        thumbnail = home.media_file(settings.thumbnails_dir, "front_door", f"{orphan_hash}_0.jpg", at)
        orphan = Detection(
            camera_id="front_door",
            file_path=str(settings.cameras_dir / "front_door" / "gone.jpg"),
            file_hash=orphan_hash,
            detected_at=at,
            object_type="cat",
            thumbnail_path=str(thumbnail),
        )
        session.add(orphan)
        await session.flush()
        home.orphans[orphan.id] = at
        home.detections[orphan.id] = (at, thumbnail)
        empty = home.media_file(settings.ingest_dir, "backyard", f"d{day}-nothing.jpg", base + timedelta(hours=21))
        home.uploads[empty] = (base + timedelta(hours=21), None)
        home.logs += [base + timedelta(hours=h) for h in range(24)]
        session.add_all(
            Log(timestamp=base + timedelta(hours=h), level="INFO", component="detect", message=f"d{day}h{h}")
            for h in range(24)
        )
        home.audit += [base + timedelta(hours=h) for h in (9, 17)]
        session.add_all(
            AuditLog(timestamp=base + timedelta(hours=h), action="camera_updated", resource_type="camera", actor="t")
            for h in (9, 17)
        )
        await session.commit()
    samples = {base + timedelta(minutes=5 * k): float(k % 10) for k in range(288)}
    home.gpu.update(samples)
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            insert(GPUStats),
            [{"recorded_at": at, "gpu_name": "GPU", "gpu_utilization": value} for at, value in samples.items()],
        )


async def _check(runtime: Runtime, home: Home, now: datetime) -> None:
    """The rows and files at `now` are exactly those the settings keep."""
    s = home.settings
    keep_for = {
        "plain": s.retention_days,
        "reviewed_low": s.retention_reviewed_low_risk_days,
        "alerted": s.retention_alert_days,
    }
    kept_events = {
        event_id for event_id, (kind, at, _, _) in home.events.items() if at >= now - keep_for[kind] * DAY
    }
    kept_detections = {d for event_id in kept_events for d in home.events[event_id][2]}
    kept_detections |= {d for d, at in home.orphans.items() if at >= now - s.retention_days * DAY}
    async with runtime.database.sessions() as session:
        assert set(await session.scalars(select(Event.id))) == kept_events
        assert set(await session.scalars(select(Detection.id))) == kept_detections
        alerts = set(await session.scalars(select(Alert.event_id)))
        assert alerts == {e for e in kept_events if home.events[e][0] == "alerted"}
        logs = sorted(await session.scalars(select(Log.timestamp)))
        assert logs == sorted(at for at in home.logs if at >= now - s.retention_log_days * DAY)
        audit = sorted(await session.scalars(select(AuditLog.timestamp)))
        assert audit == sorted(at for at in home.audit if at >= now - s.retention_audit_days * DAY)
        # GPU: the last day at full resolution; before it, back to retention_gpu_days, one sample per
        # bucket at the bucket's start holding the mean of its samples; nothing older.
        full, bucket = now - timedelta(hours=s.retention_gpu_full_hours), s.retention_gpu_bucket_minutes * 60
        merged: dict[datetime, list[float]] = {}
        for at, value in home.gpu.items():
            if now - s.retention_gpu_days * DAY <= at < full:
                start = datetime.fromtimestamp(int(at.timestamp()) // bucket * bucket, UTC)
                merged.setdefault(start, []).append(value)
        expected_gpu = {at: value for at, value in home.gpu.items() if at >= full}
        expected_gpu |= {start: sum(values) / len(values) for start, values in merged.items()}
        gpu = {row.recorded_at: row.gpu_utilization for row in await session.scalars(select(GPUStats))}
        assert gpu.keys() == expected_gpu.keys()
        assert all(abs(gpu[at] - value) < 1e-9 for at, value in expected_gpu.items())
        # The rollups and counters agree with the rows that are left.
        everything = "coalesce(sum(low + medium + high + critical + unscored), 0)"
        hourly, totals, daily, unreviewed, open_alerts = (
            await session.execute(
                text(
                    f"SELECT (SELECT {everything} FROM event_counts_hourly), "
                    f"(SELECT {everything} FROM event_counts_hourly_total), "
                    f"(SELECT {everything} FROM event_counts_daily), "
                    "(SELECT coalesce(sum(value), 0) FROM store_counters WHERE name = 'events.unreviewed'), "
                    "(SELECT coalesce(sum(value), 0) FROM store_counters WHERE name = 'alerts.open')"
                )
            )
        ).one()
        assert hourly == totals == daily == len(kept_events)
        assert unreviewed == len([e for e in kept_events if home.events[e][0] != "reviewed_low"])
        assert open_alerts == len(alerts)
    # Files: the kept rows' media and nothing else under the media folder; camera folders untouched.
    expected = {home.detections[d][1] for d in kept_detections}
    expected |= {f for e in kept_events for f in home.events[e][3] if f.parent.parent == s.clips_dir}
    # An upload goes with its event; one in which nothing was found, once older than retention_days
    # (and the sweep's margin).
    expected |= {
        path
        for path, (at, event_id) in home.uploads.items()
        if (event_id in kept_events if event_id is not None else at >= now - s.retention_days * DAY - SWEEP_MARGIN)
    }
    on_disk = {path for path in s.media_root.rglob("*") if path.is_file()}
    assert on_disk == expected
    assert all(path.is_file() for path in home.camera_files)
    media_bytes = sum(path.stat().st_size for path in on_disk)
    assert media_bytes == sum(path.stat().st_size for path in expected)


async def test_sixty_days_of_uploads_stay_within_the_settings(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hsi.retention")
    home, rule_id = await _home(runtime, tmp_path)
    cleanup = Cleanup(runtime)
    peak_events = 0
    for day in range(DAYS):
        await _write_day(runtime, home, day, rule_id)
        now = START + (day + 1) * DAY
        assert await cleanup.round(now=now) is not None
        await _check(runtime, home, now)
        async with runtime.database.sessions() as session:
            peak_events = max(peak_events, await session.scalar(select(func.count()).select_from(Event)))
        if day == 40:  # alerted events past retention_days are kept for their alert, with their media
            kept_for_alert = [
                files
                for kind, at, _, files in home.events.values()
                if kind == "alerted" and now - 45 * DAY <= at < now - 30 * DAY
            ]
            assert len(kept_for_alert) == 11
            assert all(path.is_file() for files in kept_for_alert for path in files)  # thumbnails and clip
    # Bounded by the settings: 30 days of plain events (2 cameras), 7 of reviewed ones, 45 of alerted ones.
    assert peak_events == 30 * 2 + 7 * 2 + 45
    assert any("retention removed" in record.message and "events" in record.message for record in caplog.records)


async def test_stats_from_the_rollup_match_the_rows_after_cleanup(runtime: Runtime, tmp_path: Path) -> None:
    """The rollups survive deletions and folding: the stats read from them equal a count of the rows."""
    home, rule_id = await _home(runtime, tmp_path)
    cleanup = Cleanup(runtime)
    for day in range(40):
        await _write_day(runtime, home, day, rule_id)
    await cleanup.round(now=START + 40 * DAY)
    # UTC+05:30: local midnights fall inside the rollup's hours; `since` is not on the hour either.
    query = StatsQuery(since=START + 5 * DAY + timedelta(minutes=7), timezone="Asia/Kolkata")
    async with runtime.database.reader.connect() as connection:
        counts = await count_events(connection, filtered(select(Event.id), query), query)
        raw = (
            await connection.execute(
                text(
                    "SELECT to_char(timezone('Asia/Kolkata', started_at), 'YYYY-MM-DD'), count(*) FROM events "
                    "WHERE started_at >= :since GROUP BY 1"
                ),
                {"since": query.since},
            )
        ).all()
    assert raw and {day: count for day, count in counts.by_day.items() if count} == dict(raw)
    assert sum(counts.by_level.values()) == sum(count for _, count in raw)


async def test_a_gpu_bucket_cut_by_the_full_resolution_window_keeps_the_mean_of_its_samples(runtime: Runtime) -> None:
    """The finding (a review, then tried): rounds run every few minutes, so the window's edge (now - 24 h)
    usually cuts a bucket; the part before it was merged into one row, and the next round averaged that
    row with the rest as if it were one sample. Only whole buckets are merged now."""
    bucket = START + timedelta(hours=10)  # [10:00, 10:30): 20 samples at 0 %, then 10 at 100 %
    samples = {bucket + timedelta(minutes=k): 0.0 if k < 20 else 100.0 for k in range(30)}
    async with runtime.database.sessions() as session, session.begin():
        await session.execute(
            insert(GPUStats),
            [{"recorded_at": at, "gpu_name": "GPU", "gpu_utilization": value} for at, value in samples.items()],
        )
    cleanup = Cleanup(runtime)
    await cleanup.round(now=bucket + timedelta(hours=24, minutes=20))  # the edge inside the bucket
    await cleanup.round(now=bucket + timedelta(hours=24, minutes=40))  # past it
    async with runtime.database.sessions() as session:
        rows = (await session.scalars(select(GPUStats))).all()
    assert [(row.recorded_at, row.gpu_utilization) for row in rows] == [(bucket, pytest.approx(100 / 3))]


async def test_the_disk_guard_removes_the_oldest_media_first(runtime: Runtime) -> None:
    """Below `media_min_free_percent` free, media go oldest first until there is headroom; rows stay."""
    settings = runtime.settings.model_copy(update={"media_min_free_percent": 10.0})
    runtime.settings = settings
    files = []
    for index in range(20):
        at = START + index * DAY
        path = settings.thumbnails_dir / "front_door" / f"{index:064d}_0.jpg"
        write_jpeg(path, size=(64, 48), seed=index)
        os.utime(path, (at.timestamp(), at.timestamp()))
        files.append(path)
    used = sum(path.stat().st_size for path in files)
    capacity = int(used / 0.95)  # 5 % free

    def usage(root: Path) -> tuple[int, int]:  # the disk as the media files on it fill it
        return capacity, capacity - sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    async with runtime.database.sessions() as session:
        session.add(Camera(id="front_door", name="Front", folder_path="/x"))
        session.add(Detection(camera_id="front_door", file_path="/x/a.jpg", thumbnail_path=str(files[0])))
        await session.commit()
    removed = await Cleanup(runtime, usage).round(now=START + 25 * DAY)
    assert removed is not None
    guard = removed.disk_guard
    assert guard["free_percent"] == pytest.approx(5.0, abs=0.1) and guard["files"] >= 1
    assert guard["free_percent_after"] >= 12.0  # the threshold plus the headroom
    gone = [path for path in files if not path.exists()]
    assert gone == files[: guard["files"]]  # exactly the oldest ones
    async with runtime.database.sessions() as session:  # the row stays; its thumbnail answers 404
        assert await session.scalar(select(func.count()).select_from(Detection)) == 1


async def test_the_disk_guard_keeps_uploads_still_waiting_for_detection(runtime: Runtime) -> None:
    """The finding (a review, then tried): with the disk filled by what the guard never touches (the
    cameras' folders, the database), it removed every media file, HTTP uploads the API had answered 202
    for and no detector had seen yet included, and `.part` files still being written: those uploads were
    lost. A file with a detect-queue entry or a dead letter, and a dotfile, now stay."""
    settings = runtime.settings.model_copy(update={"media_min_free_percent": 10.0})
    runtime.settings = settings
    folder = settings.ingest_dir / "front_door"
    done = write_jpeg(folder / "done.jpg", size=(320, 240), seed=1)  # detected: its rows refer to it
    queued = write_jpeg(folder / "queued.jpg", size=(320, 240), seed=2)
    dead = write_jpeg(folder / "dead.jpg", size=(320, 240), seed=3)
    writing = folder / ".upload.part"
    writing.write_bytes(b"\xff\xd8" + b"x" * 1000)
    for n, path in enumerate((done, queued, dead, writing)):
        os.utime(path, (START.timestamp() + n, START.timestamp() + n))
    assert (await submit_file(runtime, queued, camera_folder="front_door", source="ingest")).status == "queued"
    await runtime.redis.xadd(dead_letter_stream("detect"), {"file_path": str(dead), "error": "ValueError: x"})

    def usage(_root: Path) -> tuple[int, int]:  # 5 % free whatever the guard removes
        return 1_000_000, 50_000

    removed = await Cleanup(runtime, usage).round(now=START + DAY)
    assert removed is not None and removed.disk_guard["files"] == 1
    assert not done.exists()
    assert queued.exists() and dead.exists() and writing.exists()


async def test_the_disk_guard_runs_when_the_database_refuses_writes(runtime: Runtime) -> None:
    """The finding (a review, then tried): the media disk is by default the embedded PostgreSQL's
    too, and on a full one PostgreSQL refuses writes (SQLSTATE 53100); the round's first DELETE failed,
    the round ended there, and the guard, its last step and the one that frees the disk, never ran:
    the disk stayed full for good. (The refusal is a trigger raising `disk_full` on that DELETE.)"""
    settings = runtime.settings.model_copy(update={"media_min_free_percent": 10.0})
    runtime.settings = settings
    thumbnail = write_jpeg(settings.thumbnails_dir / "front_door" / f"{0:064d}_0.jpg", size=(64, 48), seed=1)
    os.utime(thumbnail, (START.timestamp(), START.timestamp()))

    def usage(_root: Path) -> tuple[int, int]:  # 5 % free
        return 1_000_000, 50_000

    async with runtime.database.sessions() as session:
        session.add(Log(timestamp=START, level="INFO", component="detect", message="old"))
        await session.commit()
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
                " 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
            )
        )
        await connection.execute(
            text("CREATE TRIGGER disk_full BEFORE DELETE ON logs FOR EACH ROW EXECUTE FUNCTION disk_full()")
        )
    with pytest.raises(Exception, match="No space left on device"):
        await Cleanup(runtime, usage).round(now=START + 10 * DAY)
    assert not thumbnail.exists(), "the disk was 5 % free and the guard removed nothing"


@pytest.mark.parametrize("waiting", ["queued", "dead-lettered"])
async def test_the_daily_sweep_keeps_uploads_still_waiting_for_detection(runtime: Runtime, waiting: str) -> None:
    """The finding (a review, then tried): the sweep of unreferenced media took an upload older than
    `retention_days` with no detection rows for an orphan, also one still queued behind a long detector
    outage (the API had answered 202) or dead-lettered and kept for its replay, which could then only
    fail. Such an upload is work, not media, for the sweep as for the disk guard."""
    settings = runtime.settings
    upload = write_jpeg(settings.ingest_dir / "front_door" / "upload.jpg", size=(320, 240), seed=4)
    if waiting == "queued":
        assert (await submit_file(runtime, upload, camera_folder="front_door", source="ingest")).status == "queued"
    else:
        await runtime.redis.xadd(dead_letter_stream("detect"), {"file_path": str(upload), "error": "RuntimeError: x"})
    orphan = write_jpeg(settings.ingest_dir / "front_door" / "nothing_found.jpg", size=(320, 240), seed=5)
    for path in (upload, orphan):
        os.utime(path, (START.timestamp(), START.timestamp()))
    removed = await Cleanup(runtime).round(now=START + 40 * DAY)
    assert removed is not None and removed.files == 1
    assert upload.exists() and not orphan.exists()


async def test_an_upload_left_half_written_by_a_crash_goes_with_the_daily_sweep(runtime: Runtime) -> None:
    """The finding (a review, then tried): the API writes an upload under a temporary dotfile name and
    renames it when complete; a crash in between left the dotfile, and every cleanup skipped dotfiles
    (in case one was still being written), so it stayed for good. One older than the retention is not."""
    settings = runtime.settings
    left = settings.ingest_dir / "front_door" / ".20260101T000000000000_deadbeef.part"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"\xff\xd8" + b"x" * 4096)
    recent = left.with_name(".20260301T000000000000_cafef00d.part")
    recent.write_bytes(b"\xff\xd8" + b"y" * 4096)
    now = START + 90 * DAY
    stale = (now - (settings.retention_days + 2) * DAY).timestamp()
    os.utime(left, (stale, stale))
    os.utime(recent, (now.timestamp(), now.timestamp()))
    removed = await Cleanup(runtime).round(now=now)
    assert removed is not None and removed.files == 1
    assert not left.exists() and recent.exists()


async def test_one_process_cleans_at_a_time(runtime: Runtime) -> None:
    async with runtime.database.reader.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": CLEANUP_LOCK})
        assert await Cleanup(runtime).round(now=START) is None
        await other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CLEANUP_LOCK})
    assert await Cleanup(runtime).round(now=START) is not None


async def test_a_quiet_cameras_latest_upload_stays_however_old(runtime: Runtime) -> None:
    """The finding (a review, then tried): the newest upload of a camera fed over HTTP is its picture
    (`cameras.last_upload_path`: the camera entity and `/snapshot` show it). A camera quiet for longer
    than the retention lost it twice over: to the expiry of the event whose detection named it, and to
    the daily sweep when nothing was detected in it. Older uploads still go."""
    settings = runtime.settings
    now = START + 90 * DAY
    old_at, latest_at = now - 60 * DAY, now - 45 * DAY
    folder = settings.ingest_dir / "garage"
    older = write_jpeg(folder / "older.jpg", size=(64, 48), seed=1)
    # A person was seen in this one: an event, expired by now.
    seen = write_jpeg(settings.ingest_dir / "porch" / "seen.jpg", size=(64, 48), seed=2)
    latest = write_jpeg(folder / "latest.jpg", size=(64, 48), seed=3)  # nothing detected
    for path, at in ((older, old_at), (seen, latest_at), (latest, latest_at)):
        os.utime(path, (at.timestamp(), at.timestamp()))
    cameras = {"garage": latest, "porch": seen}
    async with runtime.database.sessions() as session:
        session.add_all(
            Camera(id=c, name=c, folder_path=str(path.parent), last_seen_at=latest_at, last_upload_path=str(path))
            for c, path in cameras.items()
        )
        detection = Detection(
            camera_id="porch",
            file_path=str(seen),
            file_hash=_sha256(seen),
            detected_at=latest_at,
            object_type="person",
            media_type="image",
        )
        session.add(detection)
        await session.flush()
        session.add(
            Event(
                batch_id="porch-old",
                camera_id="porch",
                started_at=latest_at,
                risk_score=50,
                detection_ids=json.dumps([detection.id]),
            )
        )
        await session.commit()

    removed = await Cleanup(runtime).round(now=now)

    assert removed is not None and removed.events == 1  # the event and its detection expired ...
    assert not older.exists()  # ... an old upload no row names is swept ...
    assert seen.exists() and latest.exists()  # ... and each camera keeps its picture
