"""AnalyzeWorker: each closed batch from `hsi:analyze` becomes one event at once; the LLM refines it after.

Notify first, enrich after. For one `hsi:analyze` entry (format: `server.pipeline.analyze_job`):

1. load the batch's detections and camera, and the camera's enabled zones; each detection's zones are
   computed at the size of the image it was measured on (stored with the row), with the time its object
   had been in each of them (`dwell`, from its track's earlier detections);
2. fold the camera's completed hours into its baselines, then compare the batch with its slot
   (`baseline_store`; folding first means the comparison uses the freshest rates);
3. note other cameras' activity within `OTHER_CAMERAS_WINDOW` of the batch;
4. score the `BatchContext` with the rules scorer (instant), `INSERT … ON CONFLICT (batch_id) DO
   NOTHING` the event, publish `event.created` and run the alert engine: the phone hears of a person
   at the door without waiting for any model;
5. when an LLM is configured, queue the event on `hsi:refine`;
6. when its uploads are worth a clip, queue the event on `hsi:clips`.

For one `hsi:refine` entry (`event_job`), separately, so a slow model never holds up step 4 of the
next batch: the same context is scored by the resilient analyzer (the LLM bounded by the evidence, or
the rules fallback when it fails or times out), the event is updated in place if it still carries the
rules' first assessment (`analysis_backend = 'rules'`), `event.updated` is published, and the alert
engine refines its alerts (`AlertEngine.refine`). An event stays with the rules' assessment, marked
`rules_fallback`, when the model cannot answer.

For one `hsi:clips` entry, separately too, so that events closing together do not wait for each other's
clip (seconds of decoding and encoding each, one at a time): the event's clip is encoded
(`server.analyze.clip`), its `clip_path` set and `event.updated` published.

Redelivery (a crash anywhere above) is safe: an existing event for the batch is not scored again, only
the (idempotent) alert step is repeated, its refinement is queued again while it is still pending (a
refinement of an event already refined does nothing), and its clip is queued again while it has none (a
clip job for an event with a clip does nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server import allocator
from server.alerts.engine import AlertEngine, EventDetection
from server.alerts.matching import DetectionFacts
from server.alerts.schedule import load_timezone
from server.alerts.zones import zones_hit
from server.analyze import baseline_store, clip, dwell
from server.analyze.backends.rules import score_batch
from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.analyzer import FALLBACK_NAME
from server.analyze.risk import risk_level
from server.analyze.schema import RiskAssessment
from server.config import Settings
from server.models import Camera, Detection, Event, Zone, json_list
from server.pipeline import broadcast
from server.pipeline.media.errors import MediaError
from server.pipeline.analyze_job import AnalyzeJob
from server.pipeline.batcher import image_size_of
from server.pipeline.event_job import EventJob
from server.pipeline.streams import (
    ANALYZE_GROUP,
    ANALYZE_STREAM,
    CLIP_GROUP,
    CLIP_STREAM,
    REFINE_GROUP,
    REFINE_STREAM,
    RedisStream,
)
from server.runtime import Runtime
from server.wire import EventOut

_LOGGER = logging.getLogger("hsi.analyze")

#: Activity on other cameras this close to the batch is context ("someone walked round the house").
OTHER_CAMERAS_WINDOW = timedelta(seconds=300)
MAX_OTHER_CAMERA_LINES = 6
#: Batches turned into events concurrently per worker (the rules scorer and the database: quick).
CONCURRENCY = 4
#: Events refined concurrently per worker (a llama.cpp model serialises itself; a server may not).
REFINE_CONCURRENCY = 2
#: Event clips made at once per worker (`hsi:clips`). A clip holds a decoder at its source's size and an
#: encoder at 1080p (~100-400 MB for a 4K recording): clips wait for each other, events never do.
CLIPS_AT_ONCE = 1
#: How often pending alert deliveries are retried.
REDELIVERY_INTERVAL_SECONDS = 60.0


class RiskAnalyzer(Protocol):
    """The resilient analyzer (`server.analyze.analyzer.ResilientAnalyzer`) as the worker uses it."""

    #: The configured backend ("rules" when no model refines the rules scorer's assessment).
    primary_name: str

    async def assess(self, ctx: BatchContext) -> tuple[RiskAssessment, str]: ...


def home_timezone(settings: Settings) -> ZoneInfo:
    """The home's wall clock for "night" and baseline slots: `HSI_TIMEZONE`, validated at start-up
    (it defaults to TZ, which Home Assistant's Supervisor sets for add-ons, else UTC)."""
    return load_timezone(settings.timezone)


def analyze_stream(runtime: Runtime, name: str = ANALYZE_STREAM, group: str = ANALYZE_GROUP) -> RedisStream:
    """`hsi:analyze` as the batcher fills it and analyze workers consume it (or `hsi:refine`, `hsi:clips`)."""
    settings = runtime.settings
    return RedisStream(
        runtime.redis,
        name,
        group,
        max_len=settings.queue_max_len,
        max_retries=settings.stream_max_retries,
        dead_letter_name=f"{name}:dead",
    )


@dataclass(frozen=True)
class LoadedBatch:
    """A batch as the analysis needs it (see `AnalyzeWorker._batch`)."""

    camera: Camera
    rows: list[Detection]
    zones: list[Zone]
    zone_ids: list[list[str]]
    facts: list[EventDetection]
    #: Per detection: zone id → seconds its object had been in that zone (`server.analyze.dwell`).
    dwell: list[dict[str, float]]




class AnalyzeWorker:
    """Consumes `hsi:analyze`; one per analyze process (several may share the consumer group)."""

    def __init__(
        self,
        runtime: Runtime,
        analyzer: RiskAnalyzer,
        alerts: AlertEngine,
        *,
        consumer: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.analyzer = analyzer
        self.alerts = alerts
        self.consumer = consumer or f"analyze-{runtime.instance_id[:8]}-{os.getpid()}"
        self.stream = analyze_stream(runtime)
        self.refine_stream = analyze_stream(runtime, REFINE_STREAM, REFINE_GROUP)
        self.clip_stream = analyze_stream(runtime, CLIP_STREAM, CLIP_GROUP)
        self.tz = home_timezone(runtime.settings)
        self._grace = baseline_store.default_grace(runtime.settings.batch_window_seconds)

    @property
    def refines(self) -> bool:
        """Whether an LLM (or an OpenAI-compatible server) refines the rules scorer's first assessment."""
        return self.analyzer.primary_name != "rules"

    async def run(self, stop: asyncio.Event) -> None:
        await self.stream.consume(self.consumer, self.handle, stop=stop, count=CONCURRENCY)

    async def run_refinements(self, stop: asyncio.Event) -> None:
        await self.refine_stream.consume(self.consumer, self.refine, stop=stop, count=REFINE_CONCURRENCY)

    async def run_clips(self, stop: asyncio.Event) -> None:
        await self.clip_stream.consume(self.consumer, self.clip, stop=stop, count=CLIPS_AT_ONCE)

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """One closed batch → one event (idempotent on batch_id) → alerts → refinement and clip queued."""
        started = time.perf_counter()
        batch = AnalyzeJob.from_fields(fields)
        async with self.runtime.database.sessions() as session:
            existing = await session.scalar(select(Event).where(Event.batch_id == batch.batch_id))
        loaded = await self._batch(batch.camera_id, batch.detection_ids)
        if loaded is None:
            return
        if existing is not None:
            _LOGGER.info(
                "batch %s already has event %s; re-running alerts only", batch.batch_id, existing.id
            )
            await self.alerts.process_event(existing, loaded.facts)
            if self.refines and existing.analysis_backend == "rules":
                await self._queue_refinement(existing)
            if existing.clip_path is None:
                await self._queue_clip(existing, loaded.rows)
            return

        ctx = await self._context(loaded)
        assessment = score_batch(ctx)
        event = await self._insert_event(batch, ctx, loaded.rows, assessment, "rules")
        if event is None:  # another worker wrote it first (a reclaimed entry raced the original)
            return
        duration_ms = (time.perf_counter() - started) * 1000
        _LOGGER.info(
            "event %s: %s, risk %s (%s) by rules from %d detections%s%s",
            event.id,
            event.camera_id,
            event.risk_score,
            event.risk_level,
            len(loaded.rows),
            " (fast path)" if event.is_fast_path else "",
            "; the LLM refines it" if self.refines else "",
            extra={
                "component": "analyze",
                "camera_id": event.camera_id,
                "event_id": event.id,
                "duration_ms": duration_ms,
                "data": {"batch_id": event.batch_id, "backend": "rules"},
            },
        )
        await broadcast.publish(self.runtime.redis, "event.created", EventOut.dump(event))
        await self.alerts.process_event(event, loaded.facts)
        if self.refines:
            await self._queue_refinement(event)
        await self._queue_clip(event, loaded.rows)

    async def refine(self, entry_id: str, fields: dict[str, str]) -> None:
        """One event's refinement: the analyzer's assessment replaces the rules scorer's first one."""
        job = EventJob.from_fields(fields)
        async with self.runtime.database.sessions() as session:
            event = await session.get(Event, job.event_id)
        if event is None:
            return  # deleted meanwhile
        loaded = await self._batch(event.camera_id, tuple(json_list(event.detection_ids)))
        if loaded is None:
            return
        if event.analysis_backend != "rules":
            # Refined already: a job delivered again because its alert step failed (the event's update
            # was committed first). That step is idempotent, and nothing else would ever run it.
            await self.alerts.refine(event, loaded.facts, raise_new=not event.reviewed)
            return
        started = time.perf_counter()
        assessment, backend = await self.analyzer.assess(await self._context(loaded))
        refined = await self._update_event(event.id, assessment, backend)
        if refined is None:  # refined by another worker meanwhile
            return
        _LOGGER.info(
            "event %s refined by %s: risk %s (%s) → %s (%s) in %.1f s",
            refined.id,
            backend,
            event.risk_score,
            event.risk_level,
            refined.risk_score,
            refined.risk_level,
            time.perf_counter() - started,
            extra={
                "component": "analyze",
                "camera_id": refined.camera_id,
                "event_id": refined.id,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "data": {"backend": backend, "first_score": event.risk_score, "queued_at": job.queued_at},
            },
        )
        await broadcast.publish(self.runtime.redis, "event.updated", EventOut.dump(refined))
        # An event the user has reviewed meanwhile (a model on a CPU answers minutes later) gets the new
        # figures, and so do its alerts, but no new alert: the user has dealt with it.
        await self.alerts.refine(refined, loaded.facts, raise_new=not refined.reviewed)

    async def clip(self, entry_id: str, fields: dict[str, str]) -> None:
        """One event's clip, unless it has one already (a job delivered again) or is gone."""
        job = EventJob.from_fields(fields)
        async with self.runtime.database.sessions() as session:
            event = await session.get(Event, job.event_id)
            if event is None or event.clip_path is not None:
                return
            rows = list(
                await session.scalars(select(Detection).where(Detection.id.in_(json_list(event.detection_ids))))
            )
        await self._attach_clip(event, rows)

    async def _queue_refinement(self, event: Event) -> None:
        await self.refine_stream.add(EventJob(event.id, time.time()).to_fields())

    async def _queue_clip(self, event: Event, rows: Sequence[Detection]) -> None:
        if clip.worth_a_clip(await asyncio.to_thread(clip.event_uploads, rows)):
            await self.clip_stream.add(EventJob(event.id, time.time()).to_fields())

    async def _batch(self, camera_id: str, detection_ids: Sequence[int]) -> LoadedBatch | None:
        """The batch's detections (oldest first), camera and enabled zones, each detection's zones and
        the facts the alert engine matches on; None (with a log row) when they are gone."""
        async with self.runtime.database.sessions() as session:
            rows = list(
                await session.scalars(
                    select(Detection)
                    .where(Detection.id.in_(detection_ids))
                    .order_by(Detection.detected_at, Detection.id)
                )
            )
            camera = await session.get(Camera, camera_id)
            zones = list(
                await session.scalars(select(Zone).where(Zone.camera_id == camera_id, Zone.enabled.is_(True)))
            )
            earlier = await dwell.history(session, camera_id, rows, zones)
        if not rows or camera is None:
            _LOGGER.warning(
                "batch of %s: its detections or camera are gone; nothing to analyse",
                camera_id,
                extra={"component": "analyze", "camera_id": camera_id},
            )
            return None
        zone_ids = await self._zones_per_detection(rows, zones)
        batch_zones = {row.id: ids for row, ids in zip(rows, zone_ids, strict=True)}
        history_rows = [row for row in earlier if row.id not in batch_zones]
        history_ids = await self._zones_per_detection(history_rows, zones)
        history_zones = {row.id: ids for row, ids in zip(history_rows, history_ids, strict=True)}
        dwell_times = dwell.dwell_per_zone(
            rows,
            zone_ids,
            earlier,
            lambda row: batch_zones.get(row.id) or history_zones.get(row.id, []),
            dwell.max_gap(self.runtime.settings.batch_idle_timeout_seconds),
        )
        facts = [
            EventDetection(
                row.id, DetectionFacts(row.object_type or "unknown", row.confidence or 0.0, frozenset(ids))
            )
            for row, ids in zip(rows, zone_ids, strict=True)
        ]
        return LoadedBatch(camera, rows, zones, zone_ids, facts, dwell_times)

    async def _zones_per_detection(self, rows: Sequence[Detection], zones: Sequence[Zone]) -> list[list[str]]:
        """Zone ids of each detection, measured against that detection's own image size."""
        if not zones:
            return [[] for _ in rows]
        result: list[list[str]] = []
        file_sizes: dict[str, tuple[int, int] | None] = {}
        for row in rows:
            size = await self._image_size(row, file_sizes)
            if size is None:
                _LOGGER.warning(
                    "detection %s: image size unknown (%s unreadable); zones not evaluated",
                    row.id,
                    row.file_path,
                    extra={"component": "analyze", "camera_id": row.camera_id, "detection_id": row.id},
                )
                result.append([])
                continue
            result.append(zones_hit(row, size, zones))
        return result

    @staticmethod
    async def _image_size(row: Detection, file_sizes: dict[str, tuple[int, int] | None]) -> tuple[int, int] | None:
        """The row's stored size; rows from before it was stored read the file once per batch."""
        if row.file_path not in file_sizes:
            file_sizes[row.file_path] = (
                image_size_of(row)
                if row.image_width or row.media_type == "video"
                else await asyncio.to_thread(image_size_of, row)
            )
        return file_sizes[row.file_path]

    async def _context(self, loaded: LoadedBatch) -> BatchContext:
        camera, rows, zones, zone_ids = loaded.camera, loaded.rows, loaded.zones, loaded.zone_ids
        by_id = {zone.id: zone for zone in zones}
        file_sizes: dict[str, tuple[int, int] | None] = {}
        infos = []
        for row, ids, dwelt in zip(rows, zone_ids, loaded.dwell, strict=True):
            width, height = await self._image_size(row, file_sizes) or (1, 1)
            infos.append(
                DetectionInfo(
                    object_type=row.object_type or "unknown",
                    confidence=float(row.confidence or 0.0),
                    detected_at=row.detected_at,
                    x=row.bbox_x or 0,
                    y=row.bbox_y or 0,
                    width=row.bbox_width or 0,
                    height=row.bbox_height or 0,
                    image_width=width,
                    image_height=height,
                    zones=tuple(
                        ZoneHit(
                            by_id[z].name,
                            str(by_id[z].zone_type),
                            dwell_seconds=dwelt.get(z, 0.0),
                            loitering_seconds=dwell.loitering_limit(by_id[z], row.object_type),
                        )
                        for z in ids
                    ),
                )
            )
        started_at, ended_at = rows[0].detected_at, rows[-1].detected_at
        async with self.runtime.database.sessions() as session:
            # Completed by the wall clock, not by the batch's timestamps: a camera with a clock running
            # ahead must not close hours that are still to come.
            await baseline_store.fold_completed_hours(
                session, camera.id, self.tz, datetime.now(UTC), self._grace
            )
        async with self.runtime.database.sessions() as session:
            baseline = await baseline_store.compare_batch(session, camera.id, self.tz, ended_at)
            others = await self._other_cameras(session, camera.id, started_at, ended_at)
        return BatchContext(
            camera_id=camera.id,
            camera_name=camera.name,
            started_at=started_at,
            ended_at=ended_at,
            detections=tuple(infos),
            timezone=self.tz.key,
            baseline=baseline,
            other_cameras_activity=tuple(others),
        )

    async def _other_cameras(
        self, session: AsyncSession, camera_id: str, started: datetime, ended: datetime
    ) -> list[str]:
        """`Backyard: person ×3, dog (last 02:11:40)` for each other camera active near the batch."""
        result = await session.execute(
            select(Camera.name, Detection.object_type, Detection.detected_at)
            .join(Camera, Camera.id == Detection.camera_id)
            .where(
                Detection.camera_id != camera_id,
                Detection.object_type.is_not(None),
                Detection.stationary.is_(False),  # the car parked in front of another camera is no activity
                Detection.detected_at >= started - OTHER_CAMERAS_WINDOW,
                Detection.detected_at <= ended + OTHER_CAMERAS_WINDOW,
            )
            .order_by(Detection.detected_at)
        )
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        last: dict[str, datetime] = {}
        for name, object_type, moment in result.all():
            counts[name][object_type] += 1
            last[name] = moment
        lines = []
        for name in sorted(last, key=lambda n: last[n], reverse=True)[:MAX_OTHER_CAMERA_LINES]:
            kinds = ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in sorted(counts[name].items()))
            lines.append(f"{name}: {kinds} (last {last[name].astimezone(self.tz):%H:%M:%S})")
        return lines

    async def _attach_clip(self, event: Event, rows: Sequence[Detection]) -> None:
        """Make the event's clip, store its path and publish `event.updated` (nothing if not worth one)."""
        uploads = await asyncio.to_thread(clip.event_uploads, rows)
        if not clip.worth_a_clip(uploads):
            return
        out = self.runtime.settings.clips_dir / event.camera_id / f"{event.batch_id}.mp4"
        started = time.perf_counter()
        try:
            made = await asyncio.to_thread(clip.make_event_clip, uploads, out)
        except (MediaError, OSError, ValueError) as err:
            _LOGGER.warning(
                "event %s: no clip (%s)",
                event.id,
                err,
                extra={"component": "analyze", "camera_id": event.camera_id, "event_id": event.id},
            )
            return
        finally:  # the decoder's and encoder's buffers, freed: give them back (server/allocator.py)
            await asyncio.to_thread(allocator.release)
        if made is None:
            return
        async with self.runtime.database.sessions() as session, session.begin():
            stored = await session.get(Event, event.id)
            if stored is None:  # deleted meanwhile
                made.unlink(missing_ok=True)
                return
            stored.clip_path = str(made)
        event.clip_path = str(made)
        _LOGGER.info(
            "event %s: clip of %d uploads in %.1f s",
            event.id,
            len(uploads),
            time.perf_counter() - started,
            extra={"component": "analyze", "camera_id": event.camera_id, "event_id": event.id},
        )
        await broadcast.publish(self.runtime.redis, "event.updated", EventOut.dump(stored))

    async def _update_event(self, event_id: int, assessment: RiskAssessment, backend: str) -> Event | None:
        """The refined assessment, if the event still carries the rules scorer's first one. A fallback
        (the model could not answer) keeps that first one and says so: scored again now, the rules
        would count activity that came after the event and its alerts ("other cameras"), and change
        a score the model never looked at."""
        values: dict[str, Any] = {"analysis_backend": backend}
        if backend != FALLBACK_NAME:
            values.update(
                risk_score=assessment.risk_score,
                risk_level=risk_level(assessment.risk_score).value,
                summary=assessment.summary,
                reasoning=assessment.reasoning,
            )
        statement = (
            update(Event)
            .where(Event.id == event_id, Event.analysis_backend == "rules")
            .values(**values)
            .returning(Event)
        )
        async with self.runtime.database.sessions() as session, session.begin():
            return (await session.scalars(statement)).one_or_none()

    async def _insert_event(
        self,
        batch: AnalyzeJob,
        ctx: BatchContext,
        rows: Sequence[Detection],
        assessment: RiskAssessment,
        backend: str,
    ) -> Event | None:
        statement = (
            insert(Event)
            .values(
                batch_id=batch.batch_id,
                camera_id=ctx.camera_id,
                started_at=ctx.started_at,
                ended_at=ctx.ended_at,
                risk_score=assessment.risk_score,
                risk_level=risk_level(assessment.risk_score).value,
                summary=assessment.summary,
                reasoning=assessment.reasoning,
                detection_ids=json.dumps([row.id for row in rows]),
                object_types=json.dumps(sorted({row.object_type for row in rows if row.object_type})),
                is_fast_path=batch.is_fast_path,
                analysis_backend=backend,
            )
            .on_conflict_do_nothing(index_elements=[Event.batch_id])
            .returning(Event)
        )
        async with self.runtime.database.sessions() as session, session.begin():
            return (await session.scalars(statement)).one_or_none()


async def redeliver_pending_loop(alerts: AlertEngine, stop: asyncio.Event) -> None:
    """Retry pending alert deliveries every `REDELIVERY_INTERVAL_SECONDS` until `stop`."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=REDELIVERY_INTERVAL_SECONDS)
        except TimeoutError:
            try:
                await alerts.redeliver_pending()
            except Exception as err:  # retried next round; the alert rows are safe
                _LOGGER.warning("pending alert redelivery failed: %s", err)
