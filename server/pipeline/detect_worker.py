"""The detect worker: `hsi:detect` entries → detector (micro-batched) → thumbnails → detection rows.

Per entry, in this order, so a crash at any point loses nothing and duplicates nothing:

1. skip if the processed ledger has the file (a redelivery of finished work);
2. decode the image, or sample the video (a frame every 2 s, at most 30) — only if the file still
   holds the bytes that were queued (see below);
3. detect (micro-batched with other entries), write one thumbnail per detection, named by file hash
   and index, so a redelivery rewrites the same files;
4. in one transaction, under `pg_advisory_xact_lock(camera|hash)`: insert the rows unless rows with
   that (camera_id, file_hash) exist; advance the camera's `last_seen_at`; commit;
5. broadcast `detection.created` per row and call `runtime.detection_sink` (the batcher);
6. add the file to the ledger; the stream then acknowledges the entry.

A crash before 4 redoes the file; between 4 and 6 the redelivery finds the rows, hands the same rows
on again (at-least-once: the sink must tolerate a detection id it has seen) and finishes. A file
that is gone or undecodable now is logged and acknowledged (retrying cannot help); any other error
(database or Redis down) propagates, so the stream retries the entry with backoff.

Rows are stored under the entry's `file_hash`, so the worker must decode exactly those bytes. A camera
may re-upload other bytes under the same name between queueing and processing: the worker hashes the
file around the decode (unchanged inode, size and times before the hash and after the decode prove the
decoded bytes are the hashed ones; a file written meanwhile is read again). Other bytes than the
entry's are skipped with a log row: the watcher queues the new content as its own entry, and the
entry's dedup claim is released, so the old bytes can be queued again should they come back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, text

from server.detect import DetectedObject, Detector
from server.models import Camera, Detection
from server.pipeline import dedup, media
from server.pipeline.broadcast import publish
from server.pipeline.cameras import record_upload
from server.pipeline.detect_stats import DetectStats
from server.pipeline.intake import pipeline_stream
from server.pipeline.microbatch import MicroBatcher
from server.pipeline.streams import RedisStream
from server.runtime import Runtime
from server.serialize import camera_to_dict, detection_to_dict

_LOGGER = logging.getLogger("hsi.detector")


class DetectWorker:
    """One consumer of `hsi:detect` feeding one detector; run several (any host) to scale out."""

    def __init__(
        self,
        runtime: Runtime,
        detector: Detector,
        *,
        consumer: str,
        stats: DetectStats | None = None,
        stream: RedisStream | None = None,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.detector = detector
        self.consumer = consumer
        self.stats = stats or DetectStats()
        self.stream = stream or pipeline_stream(runtime)
        self.batcher = MicroBatcher(
            detector,
            max_batch=settings.detector_batch_size,
            max_wait_ms=settings.detector_batch_wait_ms,
            stats=self.stats,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; entries are read a detector batch at a time."""
        serving = asyncio.create_task(self.batcher.run(), name=f"hsi-microbatch-{self.consumer}")
        try:
            await self.stream.consume(
                self.consumer,
                self.handle,
                stop=stop,
                count=self.runtime.settings.detector_batch_size,
                block_ms=500,
            )
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Process one stream entry (see the module docstring for the order of steps)."""
        camera_id, file_hash = fields["camera_id"], fields["file_hash"]
        path = Path(fields["file_path"])
        redis = self.runtime.redis
        if await dedup.is_processed(redis, camera_id, file_hash):
            return
        existing = await self._existing(camera_id, file_hash)
        if existing:
            await self._hand_on(camera_id, existing, None)
            await dedup.mark_processed(redis, camera_id, file_hash)
            return
        dequeued_at = time.time()
        try:
            frames = await asyncio.to_thread(_load_frames, path, fields["media_type"], file_hash)
        except media.MediaError as err:
            self._reject(path, camera_id, err.reason, fields)
            return
        except ContentChanged as changed:
            await dedup.release(redis, camera_id, file_hash)
            self._skip_changed(path, camera_id, file_hash, changed.found)
            return
        objects, detector_seconds = await self.batcher.detect([image for _, image in frames])
        rows = await asyncio.to_thread(self._build_rows, fields, frames, objects)
        commit_started = time.time()
        rows, camera = await self._store(camera_id, file_hash, rows, _timestamp(fields), fields["file_path"])
        committed_at = time.time()
        await self._hand_on(camera_id, rows, camera)
        await dedup.mark_processed(redis, camera_id, file_hash)
        self._record(fields, path, rows, len(frames), dequeued_at, detector_seconds, commit_started, committed_at)

    # -- steps -------------------------------------------------------------------------------------

    async def _existing(self, camera_id: str, file_hash: str) -> list[Detection]:
        async with self.runtime.database.sessions() as session:
            result = await session.scalars(
                select(Detection)
                .where(Detection.camera_id == camera_id, Detection.file_hash == file_hash)
                .order_by(Detection.id)
            )
            return list(result)

    def _build_rows(
        self,
        fields: dict[str, str],
        frames: list[tuple[float, Image.Image]],
        objects: list[list[DetectedObject]],
    ) -> list[Detection]:
        """Detection rows (not yet added) and their thumbnails; blocking, runs in a thread."""
        settings = self.runtime.settings
        camera_id, file_hash = fields["camera_id"], fields["file_hash"]
        base_time = _timestamp(fields)
        video = fields["media_type"] == "video"
        thumbnails = settings.thumbnails_dir / camera_id
        rows: list[Detection] = []
        for (offset, image), found in zip(frames, objects, strict=True):
            for obj in found:
                thumbnail = thumbnails / f"{file_hash}_{len(rows)}.jpg"
                media.make_thumbnail(image, [obj], thumbnail)
                rows.append(
                    Detection(
                        camera_id=camera_id,
                        file_path=fields["file_path"],
                        file_type=fields.get("file_type"),
                        file_hash=file_hash,
                        detected_at=base_time + timedelta(seconds=offset),
                        object_type=obj.object_type,
                        confidence=obj.confidence,
                        bbox_x=obj.x,
                        bbox_y=obj.y,
                        bbox_width=obj.width,
                        bbox_height=obj.height,
                        thumbnail_path=str(thumbnail),
                        media_type=fields["media_type"],
                        duration=_float(fields.get("duration")) if video else None,
                        video_codec=fields.get("video_codec") if video else None,
                        video_width=_int(fields.get("video_width")) if video else None,
                        video_height=_int(fields.get("video_height")) if video else None,
                    )
                )
        return rows

    async def _store(
        self, camera_id: str, file_hash: str, rows: list[Detection], uploaded_at: datetime, file_path: str
    ) -> tuple[list[Detection], Camera | None]:
        """Insert the rows unless another delivery already did; returns the file's rows as stored."""
        offline_after = timedelta(seconds=self.runtime.settings.camera_offline_seconds)
        async with self.runtime.database.sessions() as session, session.begin():
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"detections|{camera_id}|{file_hash}"},
            )
            stored = await session.scalar(
                select(func.count())
                .select_from(Detection)
                .where(Detection.camera_id == camera_id, Detection.file_hash == file_hash)
            )
            camera = await record_upload(session, camera_id, uploaded_at, file_path, offline_after)
            if stored:
                result = await session.scalars(
                    select(Detection)
                    .where(Detection.camera_id == camera_id, Detection.file_hash == file_hash)
                    .order_by(Detection.id)
                )
                rows = list(result)
            else:
                session.add_all(rows)
        return rows, camera

    async def _hand_on(self, camera_id: str, rows: list[Detection], camera: Camera | None) -> None:
        redis = self.runtime.redis
        if camera is not None:
            await publish(redis, "camera.updated", camera_to_dict(camera))
        for row in rows:
            await publish(redis, "detection.created", detection_to_dict(row))
        sink = self.runtime.detection_sink
        if sink is not None and rows:
            await sink(camera_id, rows)

    def _reject(self, path: Path, camera_id: str, reason: str, fields: dict[str, str]) -> None:
        if reason == "file not found":
            reason = "file not found (deleted before it could be processed)"
        self.stats.rejected += 1
        _LOGGER.warning(
            "rejected %s: %s",
            path,
            reason,
            extra={
                "component": "detector",
                "camera_id": camera_id,
                "data": {"file_path": str(path), "reason": reason, "file_hash": fields.get("file_hash")},
            },
        )

    def _skip_changed(self, path: Path, camera_id: str, queued: str, found: str) -> None:
        _LOGGER.warning(
            "skipped %s: its content changed after it was queued (the new content is queued on its own)",
            path,
            extra={
                "component": "detector",
                "camera_id": camera_id,
                "data": {"file_path": str(path), "file_hash": queued, "found_hash": found},
            },
        )

    def _record(
        self,
        fields: dict[str, str],
        path: Path,
        rows: list[Detection],
        frames: int,
        dequeued_at: float,
        detector_seconds: float,
        commit_started: float,
        committed_at: float,
    ) -> None:
        queued_at = _float(fields.get("queued_at")) or dequeued_at
        seen_at = _float(fields.get("seen_at")) or queued_at
        stages = {
            "watch_to_queue": max(0.0, queued_at - seen_at),
            "queue_to_detector": max(0.0, dequeued_at - queued_at),
            "detector": detector_seconds,
            "commit": committed_at - commit_started,
        }
        self.stats.record_file(stages, len(rows))
        counts = Counter(row.object_type for row in rows)
        _LOGGER.info(
            "%d objects in %s (%s, %d frame%s, %.0f ms inference)",
            len(rows),
            path,
            fields["media_type"],
            frames,
            "" if frames == 1 else "s",
            detector_seconds * 1000,
            extra={
                "component": "detector",
                "camera_id": fields["camera_id"],
                "detection_id": rows[0].id if rows else None,
                "duration_ms": detector_seconds * 1000,
                "data": {
                    "file_path": str(path),
                    "file_hash": fields["file_hash"],
                    "detection_ids": [row.id for row in rows],
                    "objects": dict(counts),
                    "frames": frames,
                    "backend": self.detector.name,
                    "stages_ms": {k: round(v * 1000, 1) for k, v in stages.items()},
                },
            },
        )


class ContentChanged(Exception):
    """The file no longer holds the queued bytes; `found` is the hash of what it holds now."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


class FileKeptChanging(OSError):
    """Written to during every attempt to read it; the stream retries the entry later."""


#: Reads of a file that is written to while it is hashed and decoded, before the entry is retried.
LOAD_ATTEMPTS = 3


def _load_frames(path: Path, kind: str, file_hash: str) -> list[tuple[float, Image.Image]]:
    """The images to run detection on, decoded from bytes whose SHA-256 is `file_hash` (blocking).

    The image itself, or sampled video frames (offset seconds). Raises `ContentChanged` when the
    file holds other bytes, `media.MediaError` when it is gone or undecodable.
    """
    try:
        for _ in range(LOAD_ATTEMPTS):
            before = _identity(path)
            found = dedup.file_sha256(path)
            if found != file_hash:
                raise ContentChanged(found)
            frames = media.sample_video_frames(path) if kind == "video" else [(0.0, media.load_image(path))]
            if _identity(path) == before:
                return frames
    except FileNotFoundError:
        raise media.MediaError("file not found") from None
    raise FileKeptChanging(f"{path} was written to during each of {LOAD_ATTEMPTS} reads")


def _identity(path: Path) -> tuple[int, ...]:
    """Changes whenever the file's content can have: another inode, size, modification or change time."""
    stat = path.stat()
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _timestamp(fields: dict[str, str]) -> datetime:
    try:
        value = datetime.fromisoformat(fields["timestamp"])
    except (KeyError, ValueError):
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)
