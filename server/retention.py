"""Retention: what the store keeps, for how long, and the cleanup that enforces it.

Every API process runs `run_periodically`; each round, whichever process takes the PostgreSQL advisory
lock cleans up and the others skip the round. A round (`clean`, with `now` injected so tests move the
clock) removes, oldest first, in transactions of at most `retention_batch_size` rows — short locks, so
the pipeline's inserts never wait long:

1. events past their time, each with its detections and alerts: events with an alert after
   `retention_alert_days`; others after `retention_days`; reviewed low-risk ones after
   `retention_reviewed_low_risk_days`. Their thumbnails and clips go with them, and so does an HTTP
   upload once no detection refers to it any more;
2. detections older than `retention_days` that no kept event lists (a batch that never became one);
3. log lines after `retention_log_days`, audit entries after `retention_audit_days`;
4. GPU samples: after `retention_gpu_full_hours` one per `retention_gpu_bucket_minutes` remains (the
   mean of the bucket's samples); after `retention_gpu_days` none;
5. the rollups' delta rows folded into one row per hour and camera (server/models/rollups.py);
6. once a day, media files older than `retention_days` that no row refers to (what a crash between a
   commit and the file's removal left behind, and uploads in which nothing was detected);
7. the disk guard (server/disk_guard.py), first, and whatever the database does (`Cleanup.round`).

Files are removed only after the transaction that removed their rows has committed, so no kept row
ever points at a removed file; only files under the media folder are ever removed (a camera's own
upload folder belongs to the camera). Nothing younger than its setting is removed — except by the
disk guard, which only removes media, and says so in the health report. Each round that removed
anything logs one line saying what.
"""

from __future__ import annotations

import asyncio
import hashlib
from functools import partial
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ARRAY, Integer, and_, any_, bindparam, delete, exists, func, literal_column, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.rows import fetch_all
from server.config import Settings
from server.disk_guard import DiskUsage, guard_media
from server.models import Alert, AuditLog, Camera, Detection, Event, GPUStats, Log, json_list
from server.pipeline.intake import waiting_files
from server.models.rollups import EVENT_ROLLUPS, LEVEL_COLUMNS, UNREVIEWED_COLUMNS
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.retention")

#: Advisory lock of the cleanup ("HSI-RETN"): one process cleans at a time.
CLEANUP_LOCK = 0x485349_5245544E
#: Redis key with the last round's report (time and what it removed), read by the health report.
LAST_ROUND_KEY = "hsi:retention:last"
#: How often the sweep for unreferenced media files walks the media folder.
SWEEP_EVERY = timedelta(hours=24)
#: Files and rows within this of a cutoff are left to the next day's sweep (clock skew, slow batches).
SWEEP_MARGIN = timedelta(days=1)
#: Risk scores below this are "low" (server.analyze.risk: low is 0-29).
LOW_RISK_BELOW = 30


@dataclass
class Cutoffs:
    """What is old enough to go, at `now`."""

    now: datetime
    events: datetime
    reviewed_low_risk: datetime
    alerted: datetime
    logs: datetime
    audit: datetime
    gpu_full: datetime
    gpu: datetime

    @classmethod
    def at(cls, settings: Settings, now: datetime) -> Cutoffs:
        days = timedelta(days=1)
        return cls(
            now=now,
            events=now - settings.retention_days * days,
            reviewed_low_risk=now - settings.retention_reviewed_low_risk_days * days,
            alerted=now - settings.retention_alert_days * days,
            logs=now - settings.retention_log_days * days,
            audit=now - settings.retention_audit_days * days,
            gpu_full=now - timedelta(hours=settings.retention_gpu_full_hours),
            gpu=now - settings.retention_gpu_days * days,
        )


@dataclass
class Removed:
    """What one round removed (logged, and kept in Redis for the health report)."""

    events: int = 0
    alerts: int = 0
    detections: int = 0
    logs: int = 0
    audit_logs: int = 0
    gpu_samples: int = 0
    gpu_samples_merged: int = 0
    rollup_rows_folded: int = 0
    files: int = 0
    bytes: int = 0
    disk_guard: dict[str, Any] = field(default_factory=dict)

    def anything(self) -> bool:
        """Whether data went (folding the rollups' deltas removes none: it is bookkeeping)."""
        housekeeping = {"disk_guard", "rollup_rows_folded", "gpu_samples_merged"}
        return any(value for key, value in asdict(self).items() if key not in housekeeping) or bool(
            self.disk_guard.get("files")
        )


class Cleanup:
    """One process's cleanup: the rounds, and when it last swept the media folder."""

    def __init__(self, runtime: Runtime, disk_usage: DiskUsage | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.disk_usage = disk_usage
        self.last_sweep: datetime | None = None

    async def round(self, now: datetime | None = None) -> Removed | None:
        """One round at `now` (default: the wall clock); None when another process holds the lock.

        The disk guard goes first, in every process and whatever the database does: the media disk is
        by default the embedded PostgreSQL's too, and on a full one the database refuses the round's
        writes; freeing media is what lets it write again. (Two processes guarding at once may free
        more than the headroom; never a file still waiting for detection.)"""
        now = now or datetime.now(UTC)
        guard = await self._guard()
        async with self.runtime.database.reader.connect() as lock:
            if not await lock.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": CLEANUP_LOCK}):
                return None
            try:
                removed = await self._clean(Cutoffs.at(self.settings, now))
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CLEANUP_LOCK})
        removed.disk_guard = guard
        if removed.anything():
            _LOGGER.info(
                "retention removed %s",
                ", ".join(f"{value} {key}" for key, value in asdict(removed).items() if value and key != "disk_guard")
                or "media (disk guard)",
                extra={"component": "retention", "data": asdict(removed)},
            )
        report = {"at": now.isoformat(), "removed": asdict(removed)}
        try:
            await self.runtime.redis.set(LAST_ROUND_KEY, orjson.dumps(report))
        except Exception as err:  # the report is informational; the round itself is done
            _LOGGER.warning("could not store the retention report: %s", err)
        return removed

    async def _clean(self, cutoffs: Cutoffs) -> Removed:
        removed = Removed()
        await self._events(cutoffs, removed)
        await self._orphan_detections(cutoffs, removed)
        removed.logs = await self._delete_older(Log.__table__, Log.timestamp, cutoffs.logs)
        removed.audit_logs = await self._delete_older(AuditLog.__table__, AuditLog.timestamp, cutoffs.audit)
        removed.gpu_samples = await self._delete_older(GPUStats.__table__, GPUStats.recorded_at, cutoffs.gpu)
        removed.gpu_samples_merged = await self._downsample_gpu(cutoffs)
        removed.rollup_rows_folded = await fold_counts(self.runtime)
        if self.last_sweep is None or cutoffs.now - self.last_sweep >= SWEEP_EVERY:
            await self._sweep(cutoffs, removed)
            self.last_sweep = cutoffs.now
        return removed

    async def _guard(self) -> dict[str, Any]:
        """7. The disk guard (its report; empty when Redis, which names the uploads it must keep, is
        not there: it removes nothing then, and the next round tries again)."""
        try:
            waiting = partial(waiting_files, self.runtime.redis)  # asked only when media must go
            return await guard_media(self.settings, waiting, self.disk_usage)
        except Exception as err:
            _LOGGER.warning("disk guard skipped this round: %s", err, extra={"component": "retention"})
            return {}

    # -- 1. events ---------------------------------------------------------------------------------

    def _expired(self, row: Any, cutoffs: Cutoffs) -> bool:
        started_at = row["started_at"]
        if started_at < cutoffs.alerted:
            return True
        if row["has_alert"]:
            return False
        if started_at < cutoffs.events:
            return True
        score = row["risk_score"]
        low_risk = score is not None and score < LOW_RISK_BELOW
        return bool(row["reviewed"]) and low_risk and started_at < cutoffs.reviewed_low_risk

    async def _events(self, cutoffs: Cutoffs, removed: Removed) -> None:
        """Walk the events old enough to be candidates, a batch at a time, and remove the expired ones."""
        loosest = max(cutoffs.events, cutoffs.reviewed_low_risk, cutoffs.alerted)
        has_alert = exists().where(Alert.event_id == Event.id).label("has_alert")
        candidates = select(
            Event.id, Event.started_at, Event.reviewed, Event.risk_score, Event.detection_ids, has_alert
        ).where(Event.started_at < loosest)
        after: tuple[datetime, int] | None = None
        while True:
            statement = candidates
            if after is not None:
                statement = statement.where(tuple_(Event.started_at, Event.id) > after)
            statement = statement.order_by(Event.started_at, Event.id).limit(self.settings.retention_batch_size)
            rows = await self.runtime.database.read(lambda connection: fetch_all(connection, statement))
            if not rows:
                return
            after = (rows[-1]["started_at"], rows[-1]["id"])
            expired = [row for row in rows if self._expired(row, cutoffs)]
            if expired:
                await self._remove_events(expired, removed)
            await asyncio.sleep(0)

    async def _remove_events(self, events: Sequence[Any], removed: Removed) -> None:
        event_ids = [row["id"] for row in events]
        detection_ids = [int(value) for row in events for value in json_list(row["detection_ids"])]
        async with self.runtime.database.engine.begin() as connection:
            removed.alerts += await connection.scalar(
                select(func.count()).select_from(Alert).where(Alert.event_id == any_(_ids(event_ids)))
            )
            gone = await _delete_detections(connection, Detection.id == any_(_ids(detection_ids)))
            clips = (
                await connection.execute(
                    delete(Event).where(Event.id == any_(_ids(event_ids))).returning(Event.clip_path)
                )
            ).scalars().all()
        removed.events += len(event_ids)
        removed.detections += len(gone)
        await self._remove_files(gone, clips, removed)

    # -- 2. detections no event lists ----------------------------------------------------------------

    async def _orphan_detections(self, cutoffs: Cutoffs, removed: Removed) -> None:
        """Detections past `retention_days` that no kept event lists (the only events that old)."""
        kept_events = await self.runtime.database.read(
            lambda connection: fetch_all(
                connection,
                select(Event.detection_ids).where(Event.started_at < cutoffs.events + SWEEP_MARGIN),
            )
        )
        kept = {int(value) for row in kept_events for value in json_list(row["detection_ids"])}
        candidates = select(Detection.id, Detection.detected_at).where(Detection.detected_at < cutoffs.events)
        after: tuple[datetime, int] | None = None
        while True:
            statement = candidates
            if after is not None:
                statement = statement.where(tuple_(Detection.detected_at, Detection.id) > after)
            statement = statement.order_by(Detection.detected_at, Detection.id).limit(
                self.settings.retention_batch_size
            )
            rows = await self.runtime.database.read(lambda connection: fetch_all(connection, statement))
            if not rows:
                return
            after = (rows[-1]["detected_at"], rows[-1]["id"])
            orphans = [row["id"] for row in rows if row["id"] not in kept]
            if orphans:
                async with self.runtime.database.engine.begin() as connection:
                    gone = await _delete_detections(connection, Detection.id == any_(_ids(orphans)))
                removed.detections += len(gone)
                await self._remove_files(gone, [], removed)
            await asyncio.sleep(0)

    # -- files ---------------------------------------------------------------------------------------

    async def _remove_files(self, detections: Sequence[Any], clips: Iterable[str | None], removed: Removed) -> None:
        """The thumbnails and clips of removed rows, and the HTTP uploads no detection refers to any more."""
        paths = [row["thumbnail_path"] for row in detections] + list(clips)
        uploads = {
            (row["camera_id"], row["file_hash"]): row["file_path"]
            for row in detections
            if _inside(row["file_path"], self.settings.ingest_dir)
        }
        if uploads:
            still_used = await self.runtime.database.read(
                lambda connection: fetch_all(
                    connection,
                    select(Detection.camera_id, Detection.file_hash)
                    .where(tuple_(Detection.camera_id, Detection.file_hash).in_(list(uploads)))
                    .distinct(),
                )
            )
            for row in still_used:
                uploads.pop((row["camera_id"], row["file_hash"]), None)
            latest = await self.runtime.database.read(
                lambda connection: fetch_all(
                    connection,
                    select(Camera.last_upload_path).where(Camera.last_upload_path.in_(list(uploads.values()))),
                )
            )
            kept = {row["last_upload_path"] for row in latest}
            paths += [path for path in uploads.values() if path not in kept]
        count, size = await asyncio.to_thread(_unlink, paths, self.settings.media_root)
        removed.files += count
        removed.bytes += size

    async def _sweep(self, cutoffs: Cutoffs, removed: Removed) -> None:
        """Media files older than `retention_days` (with a day's margin) that no row refers to, except
        uploads still waiting for detection: queued behind a long outage, or dead-lettered and kept
        for their replay (work, not media, as for the disk guard)."""
        older_than = (cutoffs.events - SWEEP_MARGIN).timestamp()
        settings = self.settings
        old = await asyncio.to_thread(_old_files, [settings.thumbnails_dir, settings.clips_dir, settings.ingest_dir], older_than)
        waiting = await waiting_files(self.runtime.redis) if old else set()
        orphans = []
        for path in old:
            if path not in waiting and not await self._referenced(path):
                orphans.append(str(path))
        count, size = await asyncio.to_thread(_unlink, orphans, settings.media_root)
        removed.files += count
        removed.bytes += size

    async def _referenced(self, path: Path) -> bool:
        """Whether a row still refers to `path`; unknown names count as referenced (left alone).

        Thumbnails are `thumbnails/<camera>/<file hash>_<n>.jpg` (detect worker), clips
        `clips/<camera>/<batch id>.mp4` (analyze worker), uploads `ingest/<camera>/<stem>.<ext>`, whose
        detections carry the upload's SHA-256 and the newest of which is its camera's picture
        (`cameras.last_upload_path`: what the camera entity shows of a quiet camera)."""
        settings = self.settings
        camera = path.parent.name
        if path.is_relative_to(settings.thumbnails_dir):
            file_hash, _, index = path.stem.rpartition("_")
            if len(file_hash) != 64 or not index.isdigit():
                return True
            condition = and_(Detection.camera_id == camera, Detection.file_hash == file_hash)
            statement = select(literal_column("1")).select_from(Detection).where(condition)
        elif path.is_relative_to(settings.clips_dir):
            statement = select(literal_column("1")).select_from(Event).where(Event.batch_id == path.stem)
        elif path.is_relative_to(settings.ingest_dir):
            digest = await asyncio.to_thread(_sha256, path)
            if digest is None:
                return True
            condition = and_(Detection.camera_id == camera, Detection.file_hash == digest)
            statement = (
                select(literal_column("1"))
                .select_from(Detection)
                .where(condition)
                .union_all(select(literal_column("1")).select_from(Camera).where(Camera.last_upload_path == str(path)))
            )
        else:
            return True
        rows = await self.runtime.database.read(lambda connection: fetch_all(connection, statement.limit(1)))
        return bool(rows)

    # -- 3./4. logs, audit, GPU samples ----------------------------------------------------------------

    async def _delete_older(self, table: Any, column: Any, cutoff: datetime) -> int:
        """Delete rows of `table` with `column` before `cutoff`, oldest first, a batch per transaction."""
        total = 0
        batch = select(table.c.id).where(column < cutoff).order_by(column).limit(self.settings.retention_batch_size)
        while True:
            async with self.runtime.database.engine.begin() as connection:
                result = await connection.execute(delete(table).where(table.c.id.in_(batch.scalar_subquery())))
            total += result.rowcount
            if result.rowcount < self.settings.retention_batch_size:
                return total
            await asyncio.sleep(0)

    async def _downsample_gpu(self, cutoffs: Cutoffs) -> int:
        """Samples older than the full-resolution window become one per bucket (their mean), a day of
        samples per transaction; returns how many samples were merged away."""
        oldest = await self.runtime.database.read(
            lambda connection: connection.scalar(select(func.min(GPUStats.recorded_at)))
        )
        if oldest is None:
            return 0
        width = timedelta(minutes=self.settings.retention_gpu_bucket_minutes)
        # Whole buckets only, in every transaction: a bucket split by the window's edge would be merged
        # in two parts, and the mean of a merged row and raw samples weighs the row as one sample.
        cutoff = _bucket_start(cutoffs.gpu_full, width)
        merged = 0
        start = _bucket_start(oldest, width)
        while start < cutoff:
            end = min(max(_bucket_start(start + timedelta(days=1), width), start + width), cutoff)
            async with self.runtime.database.engine.begin() as connection:
                result = await connection.execute(
                    text(_DOWNSAMPLE_SQL), {"start": start, "end": end, "width": width, "origin": _BUCKET_ORIGIN}
                )
                merged += sum(count - 1 for (count,) in result)
            start = end
            await asyncio.sleep(0)
        return merged


#: Where the grid of GPU sample buckets starts (`date_bin`'s origin).
_BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def _bucket_start(at: datetime, width: timedelta) -> datetime:
    """The start of the bucket `at` falls in, as `date_bin` computes it."""
    return _BUCKET_ORIGIN + (at - _BUCKET_ORIGIN) // width * width


#: One bucket's samples replaced by one sample at the bucket's start holding their means (per GPU name);
#: buckets with one sample are left as they are. Returns each merged bucket's former number of samples.
_DOWNSAMPLE_SQL = """
WITH buckets AS (
    SELECT date_bin(:width, recorded_at, CAST(:origin AS timestamptz)) AS bucket, gpu_name
    FROM gpu_stats WHERE recorded_at >= :start AND recorded_at < :end
    GROUP BY 1, 2 HAVING count(*) > 1
), merged AS (
    DELETE FROM gpu_stats g USING buckets b
    WHERE g.recorded_at >= :start AND g.recorded_at < :end
      AND date_bin(:width, g.recorded_at, CAST(:origin AS timestamptz)) = b.bucket
      AND g.gpu_name IS NOT DISTINCT FROM b.gpu_name
    RETURNING b.bucket, g.*
), inserted AS (
    INSERT INTO gpu_stats (recorded_at, gpu_name, gpu_utilization, memory_used, memory_total, temperature,
                           power_usage, inference_fps)
    SELECT bucket, gpu_name, avg(gpu_utilization), round(avg(memory_used)), max(memory_total),
           avg(temperature), avg(power_usage), avg(inference_fps)
    FROM merged GROUP BY bucket, gpu_name
    RETURNING 1
)
SELECT count(*) FROM merged GROUP BY bucket, gpu_name
"""


async def fold_counts(runtime: Runtime) -> int:
    """Fold the delta rows of each rollup key into one (zero rows vanish); returns the rows removed."""
    folded = 0
    async with runtime.database.engine.begin() as connection:
        for sql in _FOLD_SQL:
            folded += sum(count for (count,) in await connection.execute(text(sql)))
    return folded


def _fold_rollup(table: str, keys: tuple[str, ...]) -> str:
    """Fold each key's delta rows of an event rollup into one row (a key summing to zero: none)."""
    columns = [*LEVEL_COLUMNS, *UNREVIEWED_COLUMNS]
    sums = ", ".join(f"sum({column})" for column in columns)
    zeros = ", ".join("0" for _ in columns)
    key = ", ".join(keys)
    match = " AND ".join(f"r.{column} = k.{column}" for column in keys)
    return f"""
    WITH keys AS (
        SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1 OR ({sums}) = ({zeros})
    ), folded AS (
        DELETE FROM {table} r USING keys k WHERE {match} RETURNING r.*
    ), kept AS (
        INSERT INTO {table} ({key}, {", ".join(columns)})
        SELECT {key}, {sums} FROM folded GROUP BY {key} HAVING ({sums}) <> ({zeros})
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM folded) - (SELECT count(*) FROM kept)
    """


_FOLD_SQL = [
    *(_fold_rollup(model.__tablename__, model.KEYS) for model in EVENT_ROLLUPS),
    """
    WITH folded AS (
        DELETE FROM store_counters WHERE name IN (
            SELECT name FROM store_counters GROUP BY name HAVING count(*) > 1 OR sum(value) = 0
        ) RETURNING name, value
    ), kept AS (
        INSERT INTO store_counters (name, value) SELECT name, sum(value) FROM folded GROUP BY name
        HAVING sum(value) <> 0 RETURNING 1
    )
    SELECT (SELECT count(*) FROM folded) - (SELECT count(*) FROM kept)
    """,
]


async def run_periodically(runtime: Runtime, stop: asyncio.Event, disk_usage: DiskUsage | None = None) -> None:
    """A round every `retention_interval_seconds` until `stop` (the first one right away)."""
    cleanup = Cleanup(runtime, disk_usage)
    interval = runtime.settings.retention_interval_seconds
    while not stop.is_set():
        try:
            await cleanup.round()
        except Exception:  # a store restarting: the next round catches up
            _LOGGER.exception("retention round failed", extra={"component": "retention"})
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


async def last_round(runtime: Runtime) -> dict[str, Any] | None:
    """The last round's report (any process's), for the health report."""
    raw = await runtime.redis.get(LAST_ROUND_KEY)
    return orjson.loads(raw) if raw else None


async def _delete_detections(connection: AsyncConnection, condition: Any) -> Sequence[Any]:
    result = await connection.execute(
        delete(Detection)
        .where(condition)
        .returning(Detection.camera_id, Detection.file_hash, Detection.file_path, Detection.thumbnail_path)
    )
    return [row._mapping for row in result]


def _ids(values: list[int]) -> Any:
    return bindparam("ids", values, ARRAY(Integer))


def _inside(raw: str | None, root: Path) -> bool:
    if not raw:
        return False
    try:
        return Path(raw).resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def _unlink(paths: Iterable[str | None], root: Path) -> tuple[int, int]:
    """Remove the files among `paths` that lie under `root`; returns (count, bytes). Blocking."""
    count = size = 0
    for raw in paths:
        if not raw or not _inside(raw, root):
            continue
        path = Path(raw)
        try:
            length = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            _LOGGER.warning("could not remove %s: %s", path, err, extra={"component": "retention"})
            continue
        count += 1
        size += length
    return count, size


def _old_files(folders: Iterable[Path], older_than: float) -> list[Path]:
    """Files under `folders` last modified before `older_than` (epoch seconds). Blocking."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < older_than:
                    found.append(path)
            except OSError:
                continue
    return found


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
