"""The fault suite's accounting: for every upload, what the stores say became of it.

- processed: the upload's (camera, SHA-256) has detection rows, or is in the processed ledger (a file
  with nothing in it leaves no rows);
- rejected: a bad upload with a rejection log row naming its path (the reason is in the row);
- lost: a good upload neither processed nor rejected, or a bad one with no rejection row;
- duplicated: an upload whose detections were stored twice (same box, time and label), or a bad one
  rejected more than once;
- batches: every event's batch id once (the events table allows no other), and every detection in
  exactly one event;
- dead letters: what is left in every queue's dead-letter stream.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Detection, Event, Log
from server.pipeline import dead_letters, dedup
from tests.reliability.uploads import Upload


@dataclass
class Figures:
    uploads: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    processed: int = 0
    processed_without_objects: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    detections: int = 0
    events: int = 0
    batches: int = 0
    detections_in_no_event: int = 0
    detections_in_several_events: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    http_attempts: int = 0
    seconds: float = 0.0

    @property
    def events_per_batch(self) -> float:
        return self.events / self.batches if self.batches else 0.0

    def report(self) -> str:
        rejected = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.rejected.items())) or "none"
        return "\n".join(
            [
                f"uploads in: {self.uploads} ({dict(self.by_route)}; {dict(self.by_kind)}; "
                f"{self.http_attempts} HTTP attempts)",
                f"processed: {self.processed} ({self.processed_without_objects} without objects)",
                f"rejected: {sum(self.rejected.values())} ({rejected})",
                f"lost: {len(self.lost)} {self.lost[:10]}",
                f"duplicated: {len(self.duplicated)} {self.duplicated[:10]}",
                f"detections: {self.detections}; events: {self.events}; closed batches: {self.batches}; "
                f"events per closed batch: {self.events_per_batch:.2f}; detections in no event: "
                f"{self.detections_in_no_event}, in several: {self.detections_in_several_events}",
                f"dead letters left: {self.dead_letters}",
                f"faults: {dict(self.faults)}",
                f"wall time: {self.seconds:.0f} s",
            ]
        )


async def rejection_rows(session: AsyncSession) -> dict[str, list[str]]:
    """Rejection log rows by the path they name: path -> reasons."""
    rows = await session.execute(
        select(Log.extra).where(Log.message.like("rejected %"), Log.extra.is_not(None))
    )
    found: dict[str, list[str]] = {}
    for (extra,) in rows:
        if isinstance(extra, dict) and extra.get("file_path"):
            found.setdefault(str(extra["file_path"]), []).append(str(extra.get("reason", "")))
    return found


async def account(
    uploads: list[Upload], session: AsyncSession, redis: aioredis.Redis, cameras_dir: Path
) -> Figures:
    figures = Figures(uploads=len(uploads))
    figures.by_route.update(upload.route for upload in uploads)
    figures.by_kind.update("bad" if upload.bad else upload.kind for upload in uploads)
    stored = Counter(
        (camera, file_hash)
        for camera, file_hash in (await session.execute(select(Detection.camera_id, Detection.file_hash))).all()
    )
    twice = {
        (camera, file_hash)
        for camera, file_hash, _n in (
            await session.execute(
                select(Detection.camera_id, Detection.file_hash, func.count())
                .group_by(
                    Detection.camera_id, Detection.file_hash, Detection.detected_at, Detection.object_type,
                    Detection.bbox_x, Detection.bbox_y, Detection.bbox_width, Detection.bbox_height,
                )
                .having(func.count() > 1)
            )
        ).all()
    }
    ledger = {member.decode() for member in await redis.zrange(dedup.LEDGER_KEY, 0, -1)}
    rejections = await rejection_rows(session)
    for upload in uploads:
        key = (upload.camera_id, upload.sha256)
        label = f"#{upload.index} {upload.route} {upload.name}"
        if upload.bad is not None:
            reasons = rejections.get(str(cameras_dir / upload.camera_id / upload.name), [])
            if not reasons:
                figures.lost.append(label)
            elif len(reasons) > 1:
                figures.duplicated.append(label)
            else:
                figures.rejected[reasons[0]] += 1
            continue
        if key in stored:
            figures.processed += 1
        elif dedup.ledger_member(*key) in ledger:
            figures.processed += 1
            figures.processed_without_objects += 1
        else:
            figures.lost.append(label)
        if key in twice:
            figures.duplicated.append(label)
    ids = set(await session.scalars(select(Detection.id)))
    figures.detections = len(ids)
    events = (await session.execute(select(Event.batch_id, Event.detection_ids))).all()
    figures.events = len(events)
    figures.batches = len({batch_id for batch_id, _ in events})
    membership = Counter(int(i) for _, text in events for i in json.loads(text or "[]"))
    figures.detections_in_no_event = len(ids - set(membership))
    figures.detections_in_several_events = sum(1 for n in membership.values() if n > 1)
    figures.dead_letters = {
        queue: int(await redis.xlen(stream)) for queue, stream in dead_letters.dead_letter_streams().items()
    }
    return figures


def as_json(figures: Figures) -> dict[str, Any]:
    return {
        "uploads": figures.uploads,
        "by_route": dict(figures.by_route),
        "by_kind": dict(figures.by_kind),
        "processed": figures.processed,
        "rejected": dict(figures.rejected),
        "lost": len(figures.lost),
        "duplicated": len(figures.duplicated),
        "events": figures.events,
        "closed_batches": figures.batches,
        "events_per_closed_batch": figures.events_per_batch,
        "dead_letters": figures.dead_letters,
        "faults": dict(figures.faults),
        "seconds": round(figures.seconds),
    }
