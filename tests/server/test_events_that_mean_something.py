"""Stationary objects, loitering and object filters on real frames through the real pipeline.

`serve` runs the watcher, a detect worker with the default detector (SSD-MobileNet-V2 COCO) and the
analyze role (rules scorer) on real PostgreSQL and Redis. The uploads are still sequences built from real
photos (`var/media`): darknet's dog.jpg car and person.jpg woman cut out with their margins and placed on
scikit-image's gravel (a driveway) and brick (a wall by a door), with a camera-style timestamp drawn in
the corner so no two uploads have the same bytes. Each file is given its simulated upload time as its
modification time (what the pipeline reads as the detection time) and moved into its camera's folder,
one at a time, as a camera uploads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from server.config import Settings
from server.db import create_engine, session_factory
from server.models import Camera, Detection, Event, Zone
from server.pipeline import dedup
from server.pipeline.batcher import LATE_SUFFIX, batch_key
from server.runner import serve
from server.runtime import Runtime
from tests.support.pipeline import eventually
from tests.support.real_media import media_path

SIZE = (768, 576)
#: Where the detector finds the car in dog.jpg and the woman in person.jpg (x, y, width, height).
CAR_IN_DOG = (451, 79, 243, 88)
PERSON_IN_PERSON = (186, 100, 85, 273)
CAR_ROW = 380
PERSON_ROW = 250
#: The door: around where the person placed at x=200 stands (bottom-centre ~ (0.34, 0.94)).
DOOR = [[0.25, 0.8], [0.45, 0.8], [0.45, 1.0], [0.25, 1.0]]


def _cut(photo: str, box: tuple[int, int, int, int], margin: int = 12) -> Image.Image:
    image = Image.open(media_path(photo)).convert("RGB")
    x, y, w, h = box
    return image.crop((max(0, x - margin), max(0, y - margin), min(image.width, x + w + margin), min(image.height, y + h + margin)))


def _background(photo: str) -> Image.Image:
    return Image.open(media_path(photo)).convert("RGB").resize(SIZE)


def _frame(background: Image.Image, at: datetime, cutout: Image.Image | None, x: int, y: int) -> Image.Image:
    frame = background.copy()
    if cutout is not None:
        frame.paste(cutout, (x, y))
    ImageDraw.Draw(frame).text((8, 8), at.strftime("%Y-%m-%d %H:%M:%S"), fill=(255, 255, 255))
    return frame


class Camera_:
    """Uploads into one camera folder, each with its simulated time, waiting until it is processed."""

    def __init__(self, runtime: Runtime, staging: Path, camera_id: str) -> None:
        self.runtime = runtime
        self.staging = staging
        self.folder = runtime.settings.cameras_dir / camera_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def upload(self, image: Image.Image, at: datetime) -> None:
        staged = self.staging / f"{self.folder.name}_{self.count:04d}.jpg"
        image.save(staged, "JPEG", quality=90)
        os.utime(staged, (at.timestamp(), at.timestamp()))
        before = await self.runtime.redis.zcard(dedup.LEDGER_KEY)
        os.rename(staged, self.folder / staged.name)
        self.count += 1

        async def processed() -> bool:
            return int(await self.runtime.redis.zcard(dedup.LEDGER_KEY)) > before

        await eventually(processed, timeout=60, interval=0.02)


def _settings(tmp_path: Path, db_url: str, redis_url: str, **overrides: Any) -> Settings:
    (tmp_path / "cameras").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "cameras_dir": tmp_path / "cameras",
        "database_url": db_url,
        "redis_url": redis_url,
        "detector": "ssd_mobilenet",
        "llm": "rules",
        "timezone": "UTC",
        # The default window: it bounds both the batcher's clock (real seconds, long enough for a car's
        # arrival, nine uploads one at a time, to be one batch on a busy 2-core machine) and the span of
        # a batch's detections (the uploads' simulated times: the arrival spans 72 s).
        "batch_window_seconds": 90.0,
        "batch_idle_timeout_seconds": 4.0,
        "file_stable_seconds": 0.0,
        "api_key_enabled": False,
        "retention_enabled": False,
        "stationary_seconds": 60.0,
        "detect_process": "inline",  # every role in the test's process (tests/support/pipeline.py)
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def server(tmp_path: Path, db_url: str, redis_url: str) -> AsyncIterator[Runtime]:
    stop, ready = asyncio.Event(), asyncio.Event()
    holder: list[Runtime] = []

    async def on_ready(runtime: Runtime) -> None:
        holder.append(runtime)
        ready.set()

    settings = _settings(tmp_path, db_url, redis_url)
    task = asyncio.create_task(serve(settings, ["watcher", "detect", "analyze"], stop=stop, on_ready=on_ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({waiter, task}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    (tmp_path / "staging").mkdir()
    yield holder[0]
    stop.set()
    await asyncio.wait_for(task, 60)


async def _add(db_url: str, *rows: Any) -> None:
    engine = create_engine(db_url, pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            for row in rows:
                session.add(row)
                await session.flush()
    finally:
        await engine.dispose()


async def _events(runtime: Runtime, camera_id: str) -> list[Event]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(Event).where(Event.camera_id == camera_id).order_by(Event.id)))


async def _detections(runtime: Runtime, camera_id: str) -> list[Detection]:
    async with runtime.database.sessions() as session:
        return list(
            await session.scalars(
                select(Detection).where(Detection.camera_id == camera_id).order_by(Detection.detected_at, Detection.id)
            )
        )


async def _settled(runtime: Runtime, camera_id: str, count: int) -> list[Event]:
    """The camera's events once there are `count` and its batch has closed (nothing more comes)."""

    async def done() -> list[Event] | None:
        events = await _events(runtime, camera_id)
        # Its live batch, and its late one (these uploads' times are simulated, days ago).
        open_batch = await runtime.redis.exists(batch_key(camera_id), batch_key(camera_id + LATE_SUFFIX))
        return events if len(events) >= count and not open_batch else None

    await eventually(done, timeout=60, interval=0.2)
    await asyncio.sleep(runtime.settings.batch_idle_timeout_seconds + 1.0)
    return await _events(runtime, camera_id)


async def test_a_parked_car_across_200_uploads_is_one_event_and_driving_off_one_more(
    server: Runtime, tmp_path: Path
) -> None:
    camera = Camera_(server, tmp_path / "staging", "driveway")
    car, gravel = _cut("dog.jpg", CAR_IN_DOG), _background("gravel.png")
    start = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    every = timedelta(seconds=9)  # 200 uploads over 30 minutes
    # Upload 0: the empty driveway; 1-2: the car arriving; 3-196: parked; 197-198: driving off; 199: gone.
    places: list[int | None] = [None, 520, 420, *[300] * 194, 180, 100, None]
    assert len(places) == 200
    for index, x in enumerate(places[:197]):
        at = start + index * every
        await camera.upload(_frame(gravel, at, car if x is not None else None, x or 0, CAR_ROW), at)
    arrival = await _settled(server, "driveway", 1)
    assert len(arrival) == 1, [(e.id, e.detection_ids) for e in arrival]

    for index, x in enumerate(places[197:], start=197):
        at = start + index * every
        await camera.upload(_frame(gravel, at, car if x is not None else None, x or 0, CAR_ROW), at)
    events = await _settled(server, "driveway", 2)
    rows = await _detections(server, "driveway")

    assert len(events) == 2, [(e.id, e.detection_ids) for e in events]
    cars = [row for row in rows if row.object_type in ("car", "truck")]
    assert len(cars) == 198  # every upload with the car in it is stored, stationary or not
    assert len({row.track_id for row in cars}) == 1  # one car, followed from arrival to departure
    stationary = [row for row in cars if row.stationary]
    # Parked at 300 from upload 3 (27 s); stationary once it has stood there 60 s: uploads 10-196.
    assert len(stationary) == 187
    assert all(row.detected_at >= start + timedelta(seconds=27 + 60) for row in stationary)
    in_events = {int(i) for event in events for i in event.detection_id_list}
    assert not in_events & {row.id for row in stationary}  # marked rows are in no event
    moving = {row.id for row in cars if not row.stationary}
    assert in_events == moving  # and every moving one is in one
    arrival_ids, departure_ids = (set(event.detection_id_list) for event in events)
    assert max(r.detected_at for r in cars if r.id in arrival_ids) < start + 10 * every
    assert min(r.detected_at for r in cars if r.id in departure_ids) == start + 197 * every


async def test_a_person_loitering_at_the_door_after_dark_is_high_risk_and_one_passing_by_is_not(
    server: Runtime, tmp_path: Path, db_url: str
) -> None:
    cameras = ("door_night_loiter", "door_night_pass", "door_evening_loiter", "door_evening_pass")
    rows: list[Any] = []
    for camera_id in cameras:
        rows += [
            Camera(id=camera_id, name=camera_id.replace("_", " ").title(), folder_path=camera_id),
            Zone(
                id=f"{camera_id}_door",
                camera_id=camera_id,
                name="Door",
                zone_type="entry_point",
                coordinates=DOOR,
                loitering_seconds=60,
            ),
        ]
    await _add(db_url, *rows)
    person, brick = _cut("person.jpg", PERSON_IN_PERSON), _background("brick.png")
    night, evening = datetime(2026, 12, 3, 23, 30, tzinfo=UTC), datetime(2026, 12, 3, 21, 30, tzinfo=UTC)
    every = timedelta(seconds=5)
    walk = [0, 100, 200, 340, 480, 600]  # at the door (x=200) for one upload
    plan: dict[str, tuple[datetime, Sequence[int]]] = {
        "door_night_loiter": (night, [200] * 19),  # 90 s at the door
        "door_night_pass": (night, walk),
        "door_evening_loiter": (evening, [200] * 19),
        "door_evening_pass": (evening, walk),
    }
    for camera_id, (start, places) in plan.items():
        camera = Camera_(server, tmp_path / "staging", camera_id)
        for index, x in enumerate(places):
            at = start + index * every
            await camera.upload(_frame(brick, at, person, x, PERSON_ROW), at)
    found = {camera_id: await _settled(server, camera_id, 1) for camera_id in cameras}

    def loitering(events: list[Event]) -> list[Event]:
        # Events keep the assessment's reasoning, which names each factor's contribution (the factors
        # themselves: tests/server/test_loitering.py).
        return [e for e in events if "loitering time" in (e.reasoning or "")]

    for camera_id in ("door_night_loiter", "door_evening_loiter"):
        loitered = loitering(found[camera_id])
        assert loitered, [(e.risk_score, e.reasoning) for e in found[camera_id]]
        assert all(e.risk_level in ("high", "critical") for e in loitered), [(e.risk_score, e.reasoning) for e in loitered]
        people = [row for row in await _detections(server, camera_id) if row.object_type == "person"]
        assert len(people) == 19 and len({row.track_id for row in people}) == 1
        assert not any(row.stationary for row in people)  # people are never silenced as stationary
    for camera_id in ("door_night_pass", "door_evening_pass"):
        assert not loitering(found[camera_id]), [e.reasoning for e in found[camera_id]]
    # After dark but before the night: passing the door is routine, loitering there is not.
    assert all(e.risk_level == "low" for e in found["door_evening_pass"]), [e.reasoning for e in found["door_evening_pass"]]


async def test_a_camera_mask_drops_the_car_in_it_and_nothing_else(
    server: Runtime, tmp_path: Path, db_url: str
) -> None:
    # dog.jpg: a bicycle, a dog and a car; the mask covers the car's bottom-centre (the road beyond the
    # fence), a filter asks dogs for at least 20 % of the frame (this one is 13 %).
    mask = [[0.55, 0.2], [0.95, 0.2], [0.95, 0.35], [0.55, 0.35]]
    await _add(
        db_url,
        Camera(
            id="yard",
            name="Yard",
            folder_path="yard",
            object_filters={"masks": [mask], "classes": {"dog": {"min_area": 0.2}}},
        ),
        Camera(id="yard_unfiltered", name="Yard unfiltered", folder_path="yard_unfiltered"),
    )
    dog = Image.open(media_path("dog.jpg")).convert("RGB")
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    for camera_id in ("yard", "yard_unfiltered"):
        await Camera_(server, tmp_path / "staging", camera_id).upload(dog, at)
    kept = sorted(row.object_type or "" for row in await _detections(server, "yard"))
    everything = sorted(row.object_type or "" for row in await _detections(server, "yard_unfiltered"))
    assert everything == ["bicycle", "car", "dog"]
    assert kept == ["bicycle"]
