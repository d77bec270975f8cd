"""A photo stored sideways with an EXIF orientation: detected, stored and zoned as people see it, upright.

Many phones and some cameras write the sensor's pixels as they come and an EXIF tag saying how to turn
them. The real bus.jpg (810x1080 upright) is stored turned a quarter with orientation 6, queued by
intake and detected by the default detector in the real worker: the rows must carry the upright size
with boxes in upright coordinates (they match the photo's hand-marked people), and a zone drawn on the
upright picture must contain the people, which it would not with the stored (sideways) size.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from PIL import Image
from sqlalchemy import select

from server.alerts.zones import zones_hit
from server.detect import DetectedObject, load_detector
from server.models import Detection, Zone, ZoneType
from server.pipeline.batcher import image_size_of
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.intake import pipeline_stream, submit_file
from tests.support.detection_scoring import iou
from tests.support.photos import LABELLED
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.real_media import media_path

BUS_PEOPLE = [
    obj.box
    for obj in next(i for i in LABELLED if i.name == "bus.jpg").objects
    if obj.label == "person" and not obj.difficult
]
#: The pavement in the lower part of the upright photo, where the people stand (not its bottom edge,
#: where a point measured against the wrong height would be clamped to).
PAVEMENT = [[0.0, 0.7], [1.0, 0.7], [1.0, 0.95], [0.0, 0.95]]


def _sideways(out: Path) -> Path:
    """bus.jpg's pixels turned a quarter counter-clockwise, tagged "turn 90° clockwise to display"."""
    with Image.open(media_path("bus.jpg")) as upright:
        stored = upright.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out.parent.mkdir(parents=True, exist_ok=True)
    stored.save(out, "JPEG", quality=92, exif=exif)
    return out


async def test_a_sideways_photo_is_detected_and_zoned_upright(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path, detector="ssd_mobilenet", detection_confidence=0.5)
    path = _sideways(settings.cameras_dir / "porch" / "sideways.jpg")
    with Image.open(path) as stored:
        assert stored.size == (1080, 810)  # what the file's header says
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"
        stop = asyncio.Event()
        worker = DetectWorker(runtime, load_detector(settings), consumer="exif")
        task = asyncio.create_task(worker.run(stop))
        try:
            await eventually(lambda: _drained(runtime), timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        async with runtime.database.sessions() as session:
            rows = list(await session.scalars(select(Detection).where(Detection.object_type == "person")))
    assert len(rows) >= 3
    assert {(row.image_width, row.image_height) for row in rows} == {(810, 1080)}
    for marked in BUS_PEOPLE:  # each hand-marked person is found where it stands in the upright photo
        assert max(iou(marked, _box(row)) for row in rows) >= 0.5, marked
    pavement = Zone(id="pavement", camera_id="porch", name="Pavement", zone_type=ZoneType.SIDEWALK,
                    coordinates=PAVEMENT, enabled=True, priority=0)  # fmt: skip
    standing = [row for row in rows if max(iou(marked, _box(row)) for marked in BUS_PEOPLE) >= 0.5]
    for row in standing:
        size = image_size_of(row)
        assert size == (810, 1080)
        assert zones_hit(row, size, [pavement]) == ["pavement"]
        assert zones_hit(row, (1080, 810), [pavement]) == []  # the header's size would miss them


def _box(row: Detection) -> DetectedObject:
    return DetectedObject(
        "person",
        row.confidence or 0.0,
        row.bbox_x or 0,
        row.bbox_y or 0,
        row.bbox_width or 0,
        row.bbox_height or 0,
    )


async def _drained(runtime: object) -> bool:
    return await pipeline_stream(runtime).depth() == 0  # type: ignore[arg-type]
