"""The detect worker: `hsi:detect` entries → decode → detector (micro-batched) → rows + thumbnails → hand-on.

Stages overlap: the stream keeps a window of entries in flight (`RedisStream.consume`, refilled a
detector batch at a time), so one file decodes in a thread while others wait in the detector's
micro-batch and others commit. Per file:

1. decode the queued bytes once (`_load`, in one of the worker's picture threads, one per CPU; a
   recording in the loop's shared pool, see `_in_thread`): the image read from disk once, decoded at a
   reduced scale when it is far larger than a detector needs (boxes are scaled back to the upright
   full size), or a video's frames sampled across its whole length and scaled down as they are
   converted. The bytes must be the ones intake hashed: an unchanged file identity proves it, otherwise
   the bytes read are hashed (other bytes are skipped with a log row, see below);
2. detect (micro-batched with other files), then drop what the camera's object filters and masks reject
   (`camera_filters`), and match what is left to the camera's tracks (`stationary`): each row gets its
   track, and is marked stationary when the object has stayed put (the batcher leaves it out);
3. thumbnails, drawn from the decoded picture (in a thread) before the rows are committed: a row that
   anyone can read or is told about (REST, the WebSocket, an alert's picture) has its thumbnail. They
   are named by content hash and index, so a redelivery finds them drawn;
4. commit (`Committer`): the rows of every file that reached this stage within a few milliseconds go
   into one transaction, under `pg_advisory_xact_lock(camera|hash)` per file, each file's rows inserted
   only if none with that (camera_id, file_hash) exist; the cameras are created if new and their
   `last_seen_at` advanced. Then, in one Redis round trip, one broadcast per file (its rows, and its
   camera when that changed); the batcher gets each file's rows, then the file's ledger entry is
   written (only then: a hand-on that failed is done again by the redelivery), then the stream
   acknowledges the entry.

Entries in flight are bounded by count (the window) and by the memory their decoded pictures hold until
their thumbnails are drawn (`decoded_bytes`, at most `DECODE_BUDGET_BYTES` together): a window of 4K
recordings waits for room instead of holding gigabytes. A recording is sampled over its whole length,
at most 30 pictures; when its length makes the stride noticeably wider, a log row says so.

A crash before 4 redoes the file; after it, the redelivery finds the rows and (unless the ledger says
they were handed on, or they already belong to an event) hands the same rows on again (at-least-once:
the batcher tolerates a detection id it has seen). The same
look-up stops a file re-uploaded after the ledger forgot it from making a second event. A file that is
gone, undecodable or malformed is logged and acknowledged (retrying cannot help), and its dedup claim
given back, so the same bytes uploaded again are a new upload; any other error (database or Redis down)
propagates, so the stream retries the entry with backoff.

A camera may re-upload other bytes under the same name between queueing and processing; they are
skipped with a log row: the watcher queues the new content as its own entry, and this entry's dedup
claim is released, so the old bytes can be queued again should they come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image
from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from server import allocator, cpus
from server.alerts.object_filters import keep
from server.detect import DetectedObject, Detector
from server.models import Detection, Event
from server.pipeline import broadcast, dedup
from server.pipeline.byte_budget import ByteBudget
from server.pipeline.camera_filters import CameraFilters
from server.pipeline.media.errors import MediaError
from server.pipeline.media.image import decode_image, inspect_image
from server.pipeline.media.render import Canvas
from server.pipeline.media.video import SAMPLE_MAX_FRAMES, VideoSample, sample_video
from server.pipeline.cameras import cameras_out, create_cameras, record_uploads
from server.pipeline.detect_job import DetectJob, FileIdentity, MalformedJob
from server.pipeline.detect_stats import DetectStats
from server.pipeline.intake import check_inside, pipeline_stream, upload_root
from server.pipeline.microbatch import MicroBatcher, take_batch
from server.pipeline.stationary import StationaryTracker
from server.pipeline.streams import RedisStream
from server.runtime import Runtime
from server.wire import DetectionOut
from server.vocabulary import Rejection, logged_reason

_LOGGER = logging.getLogger("hsi.detector")
_T = TypeVar("_T")

#: Images are decoded (JPEG: in the DCT domain) down to this side when larger: above what any detector
#: here looks at (RT-DETR 640, SSD 300, HOG's 1280 window scale), far below a 4K camera's frame.
DECODE_MAX_SIDE = 1280
#: Entries in flight per worker, as a multiple of the detector's batch size: enough that decoding the
#: next batch overlaps inference of this one and the commit of the last.
WINDOW_BATCHES = 3
#: How long a worker has nothing decoded in flight before the picture buffers kept for reuse are freed
#: (`allocator.release_pictures`): longer than the gaps of a busy stream, so reuse survives them.
IDLE_RELEASE_SECONDS = 2.0
#: How long the committer waits for more files to share a transaction, and how many it takes at most.
COMMIT_WAIT_SECONDS = 0.005
COMMIT_MAX_FILES = 64
#: Reads of a file written to during each read, before the entry is retried later.
LOAD_ATTEMPTS = 3
#: Decoded pictures one worker holds at once, by estimate (`decoded_bytes`), on top of the count of
#: entries in flight: a window of 24 entries is ~60 MB of camera snapshots but would be ~4 GB of 4K
#: recordings (30 pictures each plus the decoder's full-size frames). 512 MiB keeps several
#: recordings and dozens of snapshots in flight.
DECODE_BUDGET_BYTES = 512 * 1024 * 1024
#: Full-size frames a video decoder holds (references, one per decoding thread, the frame being read).
_DECODER_FRAMES = 8
#: What an entry of unknown size (queued by an older release) is taken to be.
_UNKNOWN_SIZE = (1920, 1080)


class ContentChanged(Exception):
    """The file no longer holds the queued bytes; `found` is the hash of what it holds now."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


class FileKeptChanging(OSError):
    """Written to during every attempt to read it; the stream retries the entry later."""


@dataclass(frozen=True)
class Loaded:
    """A file's pictures ready for the detector: (seconds into the file, picture), the upright full size
    the boxes are reported in, and the factor from that size to the pictures'."""

    frames: list[tuple[float, Image.Image]]
    size: tuple[int, int]
    scale: float
    #: How a recording was sampled (None for an image).
    sample: VideoSample | None = None


@dataclass(frozen=True)
class _Found:
    """What steps 1-3 leave for the commit, the pictures already freed: the rows, how many pictures
    were looked at, and the detector's time."""

    rows: list[Detection]
    frames: int
    detector_seconds: float


@dataclass
class _Pending:
    job: DetectJob
    rows: list[Detection]
    done: asyncio.Future[Committed] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True)
class Committed:
    """A file's rows as stored, and whether this delivery is the one that must hand them on."""

    rows: list[Detection]
    hand_on: bool
    created: bool


#: Where a file's committed detections go once (the batcher's `add_detections` in a server; a test's
#: recorder): (camera id, the file's rows); what it returns is not looked at.
DetectionSink = Callable[[str, list[Detection]], Awaitable[object]]


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
        sink: DetectionSink | None = None,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.sink = sink
        self.detector = detector
        self.consumer = consumer
        self.stats = stats or DetectStats()
        self.stream = stream or pipeline_stream(runtime)
        #: The threads a picture's work runs in: decoding, the detector's calls, thumbnails (a
        #: recording's sampling runs in the loop's shared pool instead: see `_in_thread`).
        self.threads = ThreadPoolExecutor(cpus.usable(), thread_name_prefix=f"hsi-detect-{consumer}")
        self.batcher = MicroBatcher(
            detector,
            max_batch=settings.detector_batch_size,
            max_wait_ms=settings.detector_batch_wait_ms,
            stats=self.stats,
            executor=self.threads,
        )
        self.committer = Committer(runtime)
        self.budget = ByteBudget(DECODE_BUDGET_BYTES)
        self.filters = CameraFilters(runtime.database)
        self.tracker = StationaryTracker(runtime.redis, settings)
        self._idle_release: asyncio.TimerHandle | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, a window of entries in flight; run again after a crash."""
        serving = [
            asyncio.create_task(self.batcher.run(), name=f"hsi-microbatch-{self.consumer}"),
            asyncio.create_task(self.committer.run(), name=f"hsi-commit-{self.consumer}"),
        ]
        try:
            await self.stream.consume(
                self.consumer,
                self.handle,
                stop=stop,
                count=WINDOW_BATCHES * self.runtime.settings.detector_batch_size,
                refill=self.runtime.settings.detector_batch_size,
                block_ms=500,
            )
        finally:
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)
            if stop.is_set():  # for good: after a crash (Redis gone) `supervise` runs this worker again
                self.threads.shutdown(wait=False, cancel_futures=True)
            if self._idle_release is not None:  # stopped: nothing to keep buffers for
                self._idle_release.cancel()
                allocator.release_pictures()

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Process one stream entry (see the module docstring for the order of steps)."""
        try:
            job = DetectJob.from_fields(fields)
        except MalformedJob as err:
            self._reject(Path(fields.get("file_path", "?")), fields.get("camera_id"), str(err), fields.get("file_hash"))
            return
        dequeued_at = time.time()
        # The decoded pictures live until the thumbnails are drawn: that is what the budget bounds, and
        # they are freed before the commit (a batch of files commits at once; their pictures need not
        # wait for it, nor be freed all together).
        async with self.budget.hold(decoded_bytes(job)):
            found = await self._detect(job)
        if job.media_type == "video":  # tens of MB freed at once: give them back (server/allocator.py)
            await asyncio.to_thread(allocator.release)
        elif self.budget.held == 0:
            self._release_when_idle()
        if found is not None:
            await self._store(job, found, dequeued_at)

    def _release_when_idle(self) -> None:
        """Free the kept picture buffers once nothing has been decoded for `IDLE_RELEASE_SECONDS`."""
        if self._idle_release is not None:
            self._idle_release.cancel()

        def release() -> None:
            self._idle_release = None
            if self.budget.held == 0:
                allocator.release_pictures()

        self._idle_release = asyncio.get_running_loop().call_later(IDLE_RELEASE_SECONDS, release)

    async def _detect(self, job: DetectJob) -> _Found | None:
        """Steps 1-3 of the module docstring; None when the file is skipped (with a log row)."""
        try:
            loaded = await self._in_thread(job, _load, job, upload_root(self.runtime, job.source))
        except MediaError as err:
            # The claim goes with the file: the same bytes uploaded again (an FTP client that deletes
            # and resends a file it got no answer for) are a new upload, not a duplicate of this one.
            await dedup.release(self.runtime.redis, job.camera_id, job.file_hash)
            self._reject(job.file_path, job.camera_id, err.reason, job.file_hash)
            return None
        except ContentChanged as changed:
            await dedup.release(self.runtime.redis, job.camera_id, job.file_hash)
            self._skip_changed(job, changed.found)
            return None
        if loaded.sample is not None and loaded.sample.widened:
            self._note_sampling(job, loaded.sample)
        objects, detector_seconds = await self.batcher.detect([image for _, image in loaded.frames])
        rows = await self._filtered(job, loaded, self._rows(job, loaded, objects))
        await self.tracker.mark(job.camera_id, rows)
        if _missing_thumbnails(rows):
            await self._in_thread(job, _draw_thumbnails, loaded, rows, _pictures_from(job, loaded))
        return _Found(rows, len(loaded.frames), detector_seconds)

    async def _in_thread(self, job: DetectJob, work: Callable[..., _T], *args: Any) -> _T:
        """Run a step's blocking work for `job`: a picture's in `threads`, one per CPU (more only take
        turns on the interpreter lock, at a cost, and a burst of snapshots then waits for the detector
        in larger batches); a recording's (seconds of sampling) in the loop's shared pool, so the
        snapshots that arrive meanwhile are not held up behind it."""
        if job.media_type == "video":
            return await asyncio.to_thread(work, *args)
        return await asyncio.get_running_loop().run_in_executor(self.threads, work, *args)

    async def _store(self, job: DetectJob, found: _Found, dequeued_at: float) -> None:
        """Step 4, then the rows handed on (when this delivery is the one that must)."""
        commit_started = time.time()
        committed = await self.committer.commit(job, found.rows)
        committed_at = time.time()
        if committed.hand_on and self.sink is not None and committed.rows:
            await self.sink(job.camera_id, committed.rows)
        # Done only once handed on: a delivery again after the hand-on failed (Redis away inside the
        # batcher, a crash) must find the file not done, and hand its rows on (the batcher ignores the
        # ids it has seen).
        await dedup.mark_processed(self.runtime.redis, job.camera_id, job.file_hash)
        self._record(
            job, committed.rows, found.frames, dequeued_at, found.detector_seconds, commit_started, committed_at
        )

    # -- steps -------------------------------------------------------------------------------------

    def _rows(self, job: DetectJob, loaded: Loaded, objects: list[list[DetectedObject]]) -> list[Detection]:
        """Detection rows (not yet added), boxes in the upright full-size image, thumbnail paths named
        by content hash and index so a redelivery names the same files."""
        rows: list[Detection] = []
        if not any(objects):
            return rows
        thumbnails = self.runtime.settings.thumbnails_dir / job.camera_id
        video = job.video
        width, height = loaded.size
        start = _pictures_from(job, loaded)
        for (offset, _image), found in zip(loaded.frames, objects, strict=True):
            for obj in found:
                x0, y0 = _unscale(obj.x, loaded.scale, width), _unscale(obj.y, loaded.scale, height)
                x1 = _unscale(obj.x + obj.width, loaded.scale, width)
                y1 = _unscale(obj.y + obj.height, loaded.scale, height)
                rows.append(
                    Detection(
                        camera_id=job.camera_id,
                        file_path=str(job.file_path),
                        file_type=job.file_type or None,
                        file_hash=job.file_hash,
                        detected_at=start + timedelta(seconds=offset),
                        object_type=obj.object_type,
                        confidence=obj.confidence,
                        bbox_x=x0,
                        bbox_y=y0,
                        bbox_width=max(1, x1 - x0),
                        bbox_height=max(1, y1 - y0),
                        thumbnail_path=str(thumbnails / f"{job.file_hash}_{len(rows)}.jpg"),
                        media_type=job.media_type,
                        duration=video.duration if video else None,
                        video_codec=video.codec if video else None,
                        video_width=width if video else None,
                        video_height=height if video else None,
                        image_width=width,
                        image_height=height,
                    )
                )
        return rows

    async def _filtered(self, job: DetectJob, loaded: Loaded, rows: list[Detection]) -> list[Detection]:
        """The rows the camera's object filters and masks keep (a log row says what they dropped)."""
        filters = await self.filters.of(job.camera_id) if rows else None
        if filters is None:
            return rows
        kept, dropped = keep(filters, rows, loaded.size)
        if dropped:
            _LOGGER.info(
                "%d of %d objects in %s dropped by the camera's filters (%s)",
                len(rows) - len(kept),
                len(rows),
                job.file_path,
                ", ".join(f"{reason} {count}" for reason, count in sorted(dropped.items())),
                extra={
                    "component": "detector",
                    "camera_id": job.camera_id,
                    "data": {"file_path": str(job.file_path), "dropped": dropped},
                },
            )
        return kept

    def _reject(self, path: Path, camera_id: str | None, reason: str, file_hash: str | None) -> None:
        reason = logged_reason(reason)
        self.stats.rejected += 1
        _LOGGER.warning(
            "rejected %s: %s",
            path,
            reason,
            extra={
                "component": "detector",
                "camera_id": camera_id,
                "data": {"file_path": str(path), "reason": reason, "file_hash": file_hash},
            },
        )

    def _note_sampling(self, job: DetectJob, sample: VideoSample) -> None:
        """Say that a long recording was looked at less often than the usual stride (a log row: a
        recording with nothing found in it then shows how closely it was looked at)."""
        duration = job.video.duration if job.video and job.video.duration else sample.covered_until
        _LOGGER.info(
            "sampled %s every %.1f s instead of %.1f s: %.0f s long, at most %d frames per recording",
            job.file_path,
            sample.every,
            sample.requested_every,
            duration,
            SAMPLE_MAX_FRAMES,
            extra={
                "component": "detector",
                "camera_id": job.camera_id,
                "data": {
                    "file_path": str(job.file_path),
                    "file_hash": job.file_hash,
                    "duration": duration,
                    "every": round(sample.every, 3),
                    "requested_every": sample.requested_every,
                    "frames": len(sample.frames),
                    "max_frames": SAMPLE_MAX_FRAMES,
                    "first_at": sample.frames[0][0] if sample.frames else None,
                    "last_at": sample.frames[-1][0] if sample.frames else None,
                },
            },
        )

    def _skip_changed(self, job: DetectJob, found: str) -> None:
        _LOGGER.warning(
            "skipped %s: its content changed after it was queued (the new content is queued on its own)",
            job.file_path,
            extra={
                "component": "detector",
                "camera_id": job.camera_id,
                "data": {"file_path": str(job.file_path), "file_hash": job.file_hash, "found_hash": found},
            },
        )

    def _record(
        self,
        job: DetectJob,
        rows: list[Detection],
        frames: int,
        dequeued_at: float,
        detector_seconds: float,
        commit_started: float,
        committed_at: float,
    ) -> None:
        queued_at = job.queued_at or dequeued_at
        seen_at = job.seen_at or queued_at
        stages = {
            "watch_to_queue": max(0.0, queued_at - seen_at),
            "queue_to_detector": max(0.0, dequeued_at - queued_at),
            "detector": detector_seconds,
            "commit": committed_at - commit_started,
        }
        self.stats.record_file(stages, len(rows))
        # One row per file that had objects; a file with nothing in it is a debug line, not a log row.
        level = logging.INFO if rows else logging.DEBUG
        if not _LOGGER.isEnabledFor(level):
            return
        counts = Counter(row.object_type for row in rows)
        _LOGGER.log(
            level,
            "%d objects in %s (%s, %d frame%s, %.0f ms inference)",
            len(rows),
            job.file_path,
            job.media_type,
            frames,
            "" if frames == 1 else "s",
            detector_seconds * 1000,
            extra={
                "component": "detector",
                "camera_id": job.camera_id,
                "detection_id": rows[0].id if rows else None,
                "duration_ms": detector_seconds * 1000,
                "data": {
                    "file_path": str(job.file_path),
                    "file_hash": job.file_hash,
                    "detection_ids": [row.id for row in rows],
                    "objects": dict(counts),
                    "frames": frames,
                    "backend": self.detector.name,
                    "stages_ms": {k: round(v * 1000, 1) for k, v in stages.items()},
                },
            },
        )


class Committer:
    """Commits the rows of the files that reach it within a few milliseconds in one transaction, then
    broadcasts them and marks them processed in one Redis round trip (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()

    async def commit(self, job: DetectJob, rows: list[Detection]) -> Committed:
        pending = _Pending(job, rows)
        self._queue.put_nowait(pending)
        return await pending.done

    async def run(self) -> None:
        while True:
            batch = await take_batch(self._queue, COMMIT_MAX_FILES, COMMIT_WAIT_SECONDS)
            try:
                results = await self._commit(batch)
            except Exception as err:  # every file of the batch fails; the stream retries each
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(err)
                continue
            for pending, result in zip(batch, results, strict=True):
                if not pending.done.done():
                    pending.done.set_result(result)

    async def _commit(self, batch: list[_Pending]) -> list[Committed]:
        runtime = self.runtime
        keys = sorted({_lock_key(p.job) for p in batch})
        offline_after = timedelta(seconds=runtime.settings.camera_offline_seconds)
        changed_cameras: set[str] = set()  # created, or with a newer upload: broadcast after commit
        redis = runtime.redis
        identities = {(p.job.camera_id, p.job.file_hash) for p in batch}
        ordered = sorted(identities)
        handed_on = await redis.zmscore(dedup.LEDGER_KEY, [dedup.ledger_member(*identity) for identity in ordered])
        already = {identity for identity, score in zip(ordered, handed_on, strict=True) if score is not None}
        async with runtime.database.sessions() as session, session.begin():
            # Locks in one order everywhere, so two workers committing overlapping files cannot deadlock.
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) AS k"),
                {"keys": keys},
            )
            changed_cameras.update(await self._new_cameras(session, batch))
            stored = await session.scalars(
                select(Detection)
                .where(tuple_(Detection.camera_id, Detection.file_hash).in_(identities))
                .order_by(Detection.id)
            )
            existing: dict[tuple[str, str], list[Detection]] = {}
            for row in stored:
                existing.setdefault((row.camera_id, row.file_hash or ""), []).append(row)
            already |= await _in_events({key: rows for key, rows in existing.items() if key not in already}, session)
            # A file's rows, stored by the first of its deliveries in the batch (the same bytes queued
            # twice: a retry after the dedup window while the queue was behind, an entry redelivered).
            created: dict[tuple[str, str], list[Detection]] = {}
            for pending in batch:
                identity = (pending.job.camera_id, pending.job.file_hash)
                if identity in existing or identity in created:
                    continue
                session.add_all(pending.rows)
                created[identity] = pending.rows
            uploads: dict[str, list[tuple[datetime, str]]] = {}
            for pending in batch:  # each camera's uploads of the batch (a burst: one file each few ms)
                uploads.setdefault(pending.job.camera_id, []).append(
                    (pending.job.uploaded_at, str(pending.job.file_path))
                )
            changed_cameras.update(camera.id for camera in await record_uploads(session, uploads, offline_after))
            await session.flush()
            camera_dicts = await cameras_out(await session.connection(), changed_cameras)
        results: list[Committed] = []
        announced: set[str] = set()
        async with redis.pipeline(transaction=False) as pipe:
            for pending in batch:
                identity = (pending.job.camera_id, pending.job.file_hash)
                rows = created.get(identity) or existing.get(identity, [])
                hand_on = identity not in already
                already.add(identity)  # one delivery of a file hands it on, and its rows stored once
                first = created.get(identity) is pending.rows
                if hand_on:
                    messages: list[tuple[str, dict[str, Any]]] = []
                    camera_id = pending.job.camera_id
                    if camera_id in camera_dicts and camera_id not in announced:
                        announced.add(camera_id)
                        messages.append(("camera.updated", camera_dicts[camera_id]))
                    messages += [("detection.created", DetectionOut.dump(row)) for row in rows]
                    if messages:
                        broadcast.queue_many(pipe, messages)
                results.append(Committed(rows, hand_on, first))
            await pipe.execute()
        return results

    async def _new_cameras(self, session: AsyncSession, batch: list[_Pending]) -> list[str]:
        """Create the cameras of the batch that do not exist yet (a first upload into a new folder)."""
        settings = self.runtime.settings
        folders = {
            p.job.camera_id: (
                p.job.camera_name,
                str((settings.cameras_dir if p.job.source == "watcher" else settings.ingest_dir) / p.job.camera_name),
            )
            for p in batch
        }
        created = await create_cameras(session, folders)
        for camera_id, folder in created.items():
            _LOGGER.info(
                "new camera %s from folder %s",
                camera_id,
                folder,
                extra={"component": "cameras", "camera_id": camera_id, "data": {"folder_path": folder}},
            )
        return list(created)


async def _in_events(stored: dict[tuple[str, str], list[Detection]], session: AsyncSession) -> set[tuple[str, str]]:
    """Of files whose rows exist but whom the ledger does not remember, those whose rows already belong
    to an event: bytes processed longer ago than the ledger keeps (a camera re-uploading an old file).
    Handing their rows on again would build a second event from them. Rows in no event were committed
    by a run that stopped before handing them on, and are handed on now."""
    if not stored:
        return set()
    found: set[tuple[str, str]] = set()
    for (camera_id, file_hash), rows in stored.items():
        times = [row.detected_at for row in rows]
        ids = {row.id for row in rows}
        covering = await session.scalars(
            select(Event).where(
                Event.camera_id == camera_id, Event.started_at <= max(times), Event.ended_at >= min(times)
            )
        )
        if any(ids & set(event.detection_id_list) for event in covering):
            found.add((camera_id, file_hash))
    return found


def _lock_key(job: DetectJob) -> str:
    return f"detections|{job.camera_id}|{job.file_hash}"


def _pictures_from(job: DetectJob, loaded: Loaded) -> datetime:
    """When the file's first picture was taken: a snapshot's own time (the file's); a recording's time
    less its length, as a camera writes a recording while it records: the file's time is its end, or
    later when it was uploaded after. The length is the container's when its frames went about as far
    (the last pick is within a stride of it), else how far they went: 6 s of frames declaring 10 hours
    were dated 10 hours back."""
    if job.video is None:
        return job.uploaded_at
    sample, declared = loaded.sample, job.video.duration
    if sample is None:
        length = declared
    elif not declared:
        length = sample.covered_until
    else:
        length = min(declared, sample.covered_until + sample.every)
    return job.uploaded_at - timedelta(seconds=length)


def _unscale(value: int, scale: float, limit: int) -> int:
    return min(limit, max(0, round(value / scale)))


def _load(job: DetectJob, root: Path) -> Loaded:
    """The pictures to run detection on, from bytes whose SHA-256 is `job.file_hash` (blocking).

    Raises `ContentChanged` when the file holds other bytes, `MediaError` when it is gone, undecodable,
    or no longer what intake let in (not a regular file, or leading out of `root`: replaced since),
    `FileKeptChanging` when it was written to during every read.
    """
    path = job.file_path
    try:
        for _ in range(LOAD_ATTEMPTS):
            found = path.stat()
            if not stat.S_ISREG(found.st_mode):  # a fifo would block the read for good
                raise MediaError(Rejection.NOT_REGULAR_FILE)
            before = FileIdentity.of(found)
            if before != job.identity:  # replaced or written to since intake: its checks again
                check_inside(path, root)
            if job.media_type == "video":
                if before != job.identity and (found := dedup.file_sha256(path)) != job.file_hash:
                    raise ContentChanged(found)
                duration = job.video.duration if job.video else None
                sample = sample_video(path, duration=duration, max_side=DECODE_MAX_SIDE)
                frames = sample.frames
                size = (job.width, job.height) if job.width and job.height else frames[0][1].size
            else:
                sample = None
                data = path.read_bytes()
                if before != job.identity and (found := hashlib.sha256(data).hexdigest()) != job.file_hash:
                    raise ContentChanged(found)
                image = decode_image(data, max_side=DECODE_MAX_SIDE)
                frames = [(0.0, image)]
                if job.width and job.height:
                    size = (job.width, job.height)
                else:  # an entry of an older release: the header says
                    info = inspect_image(data, min_bytes=0)
                    size = (info.width, info.height)
            shown = frames[0][1]
            if (size[0] > size[1]) != (shown.width > shown.height) and size[0] != size[1]:
                # Turned upright by an orientation the size was taken without: a PNG's EXIF, which the
                # header check skips; a recording's display matrix, in an entry of an older release.
                size = (size[1], size[0])
            if FileIdentity.of(path.stat()) == before:
                return Loaded(frames, size, frames[0][1].width / size[0], sample)
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
    raise FileKeptChanging(f"{path} was written to during each of {LOAD_ATTEMPTS} reads")


def decoded_bytes(job: DetectJob) -> int:
    """An upper estimate of the memory `_load` and the steps after it hold for `job`: its pictures, as
    decoded at most `DECODE_MAX_SIDE` on a side, and for a recording the decoder's full-size frames."""
    width, height = (job.width, job.height) if job.width and job.height else _UNKNOWN_SIZE
    scale = min(1.0, DECODE_MAX_SIDE / max(width, height))
    picture = round(width * scale) * round(height * scale) * 3
    if job.media_type == "video":
        return SAMPLE_MAX_FRAMES * picture + _DECODER_FRAMES * width * height * 3 // 2
    if job.file_type == "image/jpeg":
        # Decoded in the DCT domain at 1/2, 1/4 or 1/8 (never below DECODE_MAX_SIDE): up to twice
        # the side asked for, and a turned copy when the EXIF orientation says so.
        reduced = min(1.0, 2 * scale)
        return 2 * round(width * reduced) * round(height * reduced) * 3
    return width * height * (4 + 3)  # PNG: decoded at full size (RGBA at worst), then converted to RGB


def _missing_thumbnails(rows: list[Detection]) -> bool:
    return any(row.thumbnail_path and not Path(row.thumbnail_path).exists() for row in rows)


def _draw_thumbnails(loaded: Loaded, rows: list[Detection], pictures_from: datetime) -> None:
    """One thumbnail per row, from the frame it was found in (`pictures_from`: the time of the file's
    first picture), drawn from one reduced copy per frame."""
    frames = {round(offset, 3): image for offset, image in loaded.frames}
    canvases: dict[float, Canvas] = {}
    for row in rows:
        if not row.thumbnail_path or Path(row.thumbnail_path).exists():
            continue
        offset = round((row.detected_at - pictures_from).total_seconds(), 3)
        image = frames.get(offset)
        if image is None:
            continue
        canvas = canvases.get(offset)
        if canvas is None:
            canvas = canvases[offset] = Canvas(image, loaded.size)
        box = DetectedObject(
            row.object_type or "", row.confidence or 0.0, row.bbox_x or 0, row.bbox_y or 0,
            row.bbox_width or 0, row.bbox_height or 0,
        )  # fmt: skip
        canvas.write([box], Path(row.thumbnail_path))
