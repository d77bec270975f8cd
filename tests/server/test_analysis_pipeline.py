"""End to end with real parts: uploads → detections → batch → scored event → alert → pub/sub.

PostgreSQL, Redis, the file watcher, OpenCV's HOG detector on a real street photo, llama.cpp running a
tiny random-weight GGUF under the schema grammar; nothing is mocked. The roles run through
`server.runner.serve`, exactly as `python -m server run` starts them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.rule_row import row_values
from server.alerts.rule_spec import AlertRuleSpec
from server.analyze import clip as event_clip
from server.analyze.analyzer import FALLBACK_NAME
from server.analyze.risk import risk_level
from server.analyze.schema import RiskAssessment
from server.config import Settings
from server.db import session_factory
from server.health import health_report
from server.models import Alert, AlertRule, Camera, Detection, Event, Log, Zone
from server.pipeline.media.video import probe_video
from server.pipeline.batcher import BatchAggregator
from server.pipeline.broadcast import CHANNEL
from server.runner import serve
from server.runtime import Runtime
from tests.support.gguf import TINY_MODEL_CONTEXT, write_corrupt_gguf, write_tiny_gguf
from tests.support.media import write_vtest_clip, write_vtest_snapshots
from tests.support.photos import people_walking
from tests.support.pipeline import eventually
from tests.support.processes import free_port

CAMERA = "front_door"
TIMEOUT = 90.0
#: How long each event clip takes in the test of events closing together (a long recording's clip).
CLIP_SECONDS = 1.5


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def _tiny_llm(model: Path) -> dict[str, Any]:
    """llama.cpp on the tiny model, with the context that never cuts its answers off (see its module)."""
    return {"llm": "llama_cpp", "llm_model": model, "llm_context": TINY_MODEL_CONTEXT}


def _settings(tmp_path: Path, db_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "cameras_dir": tmp_path / "cameras",
        "database_url": db_url,
        "redis_url": redis_url,
        "detector": "hog",
        "llm": "rules",
        "batch_window_seconds": 3.0,
        "batch_idle_timeout_seconds": 1.0,
        "fast_path_confidence": 1.0,  # the normal path unless a test asks for the fast one
        "file_stable_seconds": 0.3,
        "llm_timeout_seconds": 20.0,
        "api_key_enabled": False,
        "detect_process": "inline",  # every role in the test's process (tests/support/pipeline.py)
    }
    values.update(overrides)
    (tmp_path / "cameras").mkdir(parents=True, exist_ok=True)
    return Settings(**values)


class Server:
    """`serve()` in a task; `runtime` once every role has started."""

    def __init__(self, settings: Settings, roles: list[str]) -> None:
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.runtime: Runtime | None = None
        self._task = asyncio.create_task(serve(settings, roles, stop=self.stop, on_ready=self._on_ready))

    async def _on_ready(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.ready.set()

    async def started(self) -> Runtime:
        waiter = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            self._task.result()  # raise the start-up error
        assert self.runtime is not None, "the server did not start in time"
        return self.runtime

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self._task, 60)


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[[Settings, list[str]], Awaitable[Runtime]]]:
    servers: list[Server] = []

    async def start(settings: Settings, roles: list[str]) -> Runtime:
        server = Server(settings, roles)
        servers.append(server)
        return await server.started()

    yield start
    for server in reversed(servers):
        await server.close()


@pytest.fixture
async def subscriber(redis: aioredis.Redis) -> AsyncIterator[aioredis.client.PubSub]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    yield pubsub
    await pubsub.aclose()


async def _wait_for(
    pubsub: aioredis.client.PubSub, wanted: set[str], timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The first message of each wanted type (others are skipped)."""
    found: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while wanted - set(found) and loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            decoded = json.loads(message["data"])
            found.setdefault(decoded["type"], decoded["data"])
    assert not wanted - set(found), f"missing {wanted - set(found)}; got {sorted(found)}"
    return found


async def _in_order(
    pubsub: aioredis.client.PubSub, done: Any, timeout: float = TIMEOUT
) -> list[tuple[str, dict[str, Any]]]:
    """Every message (batches unpacked) in the order published, until `done(messages so far)` holds."""
    seen: list[tuple[str, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(seen) and loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            decoded = json.loads(message["data"])
            for inner in decoded["data"] if decoded["type"] == "batch" else [decoded]:
                seen.append((inner["type"], inner["data"]))
    assert done(seen), f"got {[kind for kind, _ in seen]}"
    return seen


async def _camera_with_zone_and_rule(sessions: async_sessionmaker[AsyncSession]) -> AlertRule:
    """The camera of the upload folder, a zone over the street, a rule for people in that zone."""
    async with sessions() as session, session.begin():
        session.add(Camera(id=CAMERA, name="Front Door", folder_path=CAMERA))
        await session.flush()
        session.add(
            Zone(
                id="street",
                camera_id=CAMERA,
                name="Street",
                zone_type="sidewalk",
                coordinates=[[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]],
            )
        )
        rule = AlertRule(
            **row_values(
                AlertRuleSpec(
                    name="people on the street",
                    object_types=["person"],
                    zone_ids=["street"],
                    severity="high",
                    cooldown_seconds=0,
                )
            )
        )
        session.add(rule)
    return rule


async def _upload_photo(settings: Settings, name: str = "snap_0001.jpg") -> None:
    folder = settings.cameras_dir / CAMERA
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(people_walking(), folder / name)


async def test_upload_becomes_an_llm_scored_event_and_an_alert(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    tiny_gguf: Path,
    start_server: Any,
) -> None:
    rule = await _camera_with_zone_and_rule(sessions)
    settings = _settings(tmp_path, db_url, redis_url, **_tiny_llm(tiny_gguf))
    runtime = await start_server(settings, ["watcher", "detect", "analyze"])
    assert (await health_report(runtime))["components"]["analyzer"]["status"] == "healthy"
    await _upload_photo(settings)

    # Notify first: the event and its alert go out with the rules scorer's assessment, before any model
    # has answered; then the LLM's refinement updates both in place.
    order = await _in_order(
        subscriber, lambda seen: any(kind == "alert.updated" and "initial" in data["metadata"] for kind, data in seen)
    )
    kinds = [kind for kind, _data in order]
    assert kinds.index("event.created") < kinds.index("alert.created") < kinds.index("event.updated")
    event_data = next(data for kind, data in order if kind == "event.created")
    alert_data = next(data for kind, data in order if kind == "alert.created")
    refined = next(data for kind, data in order if kind == "event.updated")
    assert event_data["analysis_backend"] == "rules" and refined["analysis_backend"] == "llama_cpp"
    assert refined["id"] == event_data["id"]
    assert alert_data["event_id"] == event_data["id"] and alert_data["rule_id"] == str(rule.id)
    updated_alert = next(
        data for kind, data in order if kind == "alert.updated" and "initial" in data["metadata"]
    )
    assert updated_alert["id"] == alert_data["id"]
    assert updated_alert["metadata"]["initial"]["risk_score"] == event_data["risk_score"]
    assert updated_alert["metadata"]["risk_score"] == refined["risk_score"]
    assert updated_alert["metadata"]["summary"] == refined["summary"]
    assert updated_alert["metadata"]["analysis_backend"] == "llama_cpp"

    async with sessions() as session:
        event = await session.get(Event, event_data["id"])
        assert event is not None
        detections = list(
            await session.scalars(select(Detection).where(Detection.id.in_(event.detection_id_list)))
        )
        alert = await session.scalar(select(Alert).where(Alert.event_id == event.id))
    # The LLM's answer went through the strict schema, and the level comes from the one band definition.
    RiskAssessment.model_validate(
        {
            "risk_score": event.risk_score,
            "summary": event.summary,
            "reasoning": event.reasoning,
            "risk_factors": [],
        }
    )
    assert event.risk_score is not None and event.risk_level == risk_level(event.risk_score).value
    assert not event.is_fast_path and event.camera_id == CAMERA
    assert detections and {d.object_type for d in detections} == {"person"}
    assert json.loads(event.object_types or "[]") == ["person"]
    assert event.started_at == min(d.detected_at for d in detections)
    assert event.ended_at == max(d.detected_at for d in detections)
    assert alert is not None and (alert.alert_metadata or {})["zone_ids"] == ["street"]
    assert (alert.alert_metadata or {})["thumbnail_url"].startswith("/api/detections/")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("never_loads", "cannot load llama_cpp: "),
        # The model loads and would answer, but never within the time budget: every call times out.
        ("times_out", "llama_cpp timed out after 0.001 s"),
    ],
)
async def test_a_broken_llm_still_gives_an_event_scored_by_the_fallback_and_a_log_row(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    tiny_gguf: Path,
    start_server: Any,
    failure: str,
    reason: str,
) -> None:
    await _camera_with_zone_and_rule(sessions)
    if failure == "never_loads":
        llm = _tiny_llm(write_corrupt_gguf(tmp_path / "corrupt.gguf"))
    else:
        llm = {**_tiny_llm(tiny_gguf), "llm_timeout_seconds": 0.001}
    settings = _settings(tmp_path, db_url, redis_url, **llm)
    runtime = await start_server(settings, ["watcher", "detect", "analyze"])
    health = await health_report(runtime)
    analyzer = health["components"]["analyzer"]
    assert analyzer["loaded"] is (failure == "times_out")
    if failure == "never_loads":
        assert health["status"] == analyzer["status"] == "degraded"
    await _upload_photo(settings)

    # The alert does not wait for the model; the refinement that never comes marks the event.
    order = await _in_order(
        subscriber, lambda seen: {"event.updated", "alert.created"} <= {kind for kind, _data in seen}
    )
    kinds = [kind for kind, _data in order]
    assert kinds.index("alert.created") < kinds.index("event.updated")
    created = next(data for kind, data in order if kind == "event.created")
    updated = next(data for kind, data in order if kind == "event.updated")
    assert created["analysis_backend"] == "rules" and updated["analysis_backend"] == FALLBACK_NAME
    assert updated["risk_score"] == created["risk_score"]  # the fallback is the same rules scorer
    async with sessions() as session:
        event = await session.get(Event, created["id"])
    assert event is not None and event.summary and event.risk_level == risk_level(event.risk_score or 0).value

    async def fallback_logged() -> list[Log]:
        async with sessions() as session:
            statement = select(Log).where(Log.message.contains("scored by rules fallback"))
            return list(await session.scalars(statement))

    [row] = await eventually(fallback_logged, timeout=10)
    assert (row.level, row.component, row.camera_id) == ("WARNING", "analyze", CAMERA)
    assert reason in row.message




async def test_api_and_analyze_in_one_process_load_the_model_once(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tiny_gguf: Path,
    start_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hsi.analyze")
    await _detections(sessions, [])  # the camera
    port = free_port()
    settings = _settings(tmp_path, db_url, redis_url, **_tiny_llm(tiny_gguf), host="127.0.0.1", port=port)
    await start_server(settings, ["api", "analyze"])
    batch = {
        "camera_id": CAMERA,
        "timezone": "UTC",
        "detections": [
            {
                "object_type": "person",
                "confidence": 0.9,
                "bbox": {"x": 10, "y": 10, "width": 50, "height": 100},
                "image_width": 640,
                "image_height": 480,
                "detected_at": "2025-12-31T02:10:00Z",
            }
        ],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/api/analysis/preview", json=batch) as response,
    ):
        preview = await response.json()
    assert response.status == 200, preview
    assert preview["backend"] == "llama_cpp"
    loads = [r for r in caplog.records if r.getMessage().startswith("llama.cpp model ")]
    assert len(loads) == 1, [r.getMessage() for r in loads]


async def _detections(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]], camera: str = CAMERA
) -> list[Detection]:
    async with sessions() as session, session.begin():
        if await session.get(Camera, camera) is None:
            session.add(Camera(id=camera, name=camera, folder_path=camera))
            await session.flush()
        objects = [Detection(camera_id=camera, detected_at=datetime.now(UTC), **row) for row in rows]
        session.add_all(objects)
    return objects


async def test_fast_path_event_arrives_long_before_the_window_closes(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    tiny_gguf: Path,
    start_server: Any,
) -> None:
    settings = _settings(
        tmp_path,
        db_url,
        redis_url,
        **_tiny_llm(tiny_gguf),
        batch_window_seconds=60.0,
        batch_idle_timeout_seconds=30.0,
        fast_path_confidence=0.9,
    )
    runtime = await start_server(settings, ["analyze"])
    batcher = BatchAggregator(runtime.redis, settings)  # what the detect role's sink is
    photo = str(people_walking())
    box = {"bbox_x": 350, "bbox_y": 200, "bbox_width": 34, "bbox_height": 76, "file_path": photo}
    car = await _detections(sessions, [{"object_type": "car", "confidence": 0.8, **box}])
    await batcher.add_detections(CAMERA, car)
    loop = asyncio.get_running_loop()
    began = loop.time()
    person = await _detections(sessions, [{"object_type": "person", "confidence": 0.95, **box}])
    await batcher.add_detections(CAMERA, person)

    event = (await _wait_for(subscriber, {"event.created"}, timeout=20))["event.created"]
    elapsed = loop.time() - began
    assert elapsed < 10, f"fast path took {elapsed:.1f} s"  # the window would take 60 s
    assert event["is_fast_path"] is True and event["analysis_backend"] == "rules"  # the LLM refines after
    assert event["detection_ids"] == [car[0].id, person[0].id]


async def test_racing_analyze_processes_make_one_event_per_batch(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    start_server: Any,
) -> None:
    # Two analyze processes (own data dirs → own consumer names), each with its closer and worker.
    settings = [
        _settings(tmp_path / name, db_url, redis_url, batch_idle_timeout_seconds=0.5)
        for name in ("one", "two")
    ]
    runtimes = [await start_server(s, ["analyze"]) for s in settings]
    box = {"bbox_x": 10, "bbox_y": 10, "bbox_width": 50, "bbox_height": 100, "file_path": str(people_walking())}
    for n in range(4):
        rows = await _detections(
            sessions, [{"object_type": "dog", "confidence": 0.7, **box}], camera=f"cam{n}"
        )
        await BatchAggregator(runtimes[n % 2].redis, settings[n % 2]).add_detections(f"cam{n}", rows)

    async def count_events() -> int:
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Event)) or 0)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await count_events() < 4 and loop.time() < deadline:
        await asyncio.sleep(0.2)
    # Replay one closed batch as a redelivered entry would look: still one event for it.
    async with sessions() as session:
        first = (await session.scalars(select(Event).order_by(Event.id))).first()
    assert first is not None
    await redis.xadd(
        "hsi:analyze",
        {
            "batch_id": first.batch_id,
            "camera_id": first.camera_id,
            "detection_ids": first.detection_ids or "[]",
            "image_sizes": "{}",
            "is_fast_path": "0",
            "close_reason": "idle",
        },
    )
    deadline = loop.time() + 15
    while await redis.xlen("hsi:analyze") and loop.time() < deadline:  # acknowledged entries are deleted
        await asyncio.sleep(0.1)
    assert await redis.xlen("hsi:analyze") == 0, "the replayed entry was not handled"
    async with sessions() as session:
        cameras = list(await session.scalars(select(Event.camera_id).order_by(Event.camera_id)))
    assert cameras == [f"cam{n}" for n in range(4)]


async def test_a_video_batch_gets_a_clip_at_the_cameras_frame_rate_after_its_event(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    start_server: Any,
) -> None:
    """Real frames (vtest.avi, 10 fps): the clip keeps 10 fps and the recording's 4 s, and it comes as an
    `event.updated` after `event.created` (encoding never delays the event and its alerts)."""
    settings = _settings(tmp_path, db_url, redis_url, batch_idle_timeout_seconds=0.5)
    runtime = await start_server(settings, ["analyze"])
    video = write_vtest_clip(tmp_path / "cameras" / CAMERA / "motion.mp4", seconds=4.0)
    detection = {
        "object_type": "person",
        "confidence": 0.8,
        "file_path": str(video),
        "media_type": "video",
        "bbox_x": 100,
        "bbox_y": 60,
        "bbox_width": 40,
        "bbox_height": 120,
        "video_width": 768,
        "video_height": 576,
        "video_codec": "h264",
        "duration": 4.0,
    }
    rows = await _detections(sessions, [detection, detection])
    await BatchAggregator(runtime.redis, settings).add_detections(CAMERA, rows)
    messages = await _wait_for(subscriber, {"event.created", "event.updated"}, timeout=30)
    assert messages["event.created"]["has_clip"] is False
    updated = messages["event.updated"]
    assert updated["id"] == messages["event.created"]["id"] and updated["has_clip"] is True
    clip = Path(updated["clip_path"])
    assert clip.is_file() and clip.is_relative_to(settings.clips_dir)
    info = probe_video(clip)
    assert info.codec == "h264" and (info.width, info.height) == (768, 576)
    assert info.duration == pytest.approx(4.0, abs=0.2)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].frames == 40  # every frame of the 10 fps recording
    async with sessions() as session:
        stored = await session.get(Event, updated["id"])
    assert stored is not None and stored.clip_path == str(clip)


async def test_a_snapshot_only_batch_gets_a_clip(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    start_server: Any,
) -> None:
    """A camera that uploads only stills: four real snapshots, 1.5 s apart, make a 5.5 s clip."""
    settings = _settings(tmp_path, db_url, redis_url, batch_idle_timeout_seconds=0.5)
    runtime = await start_server(settings, ["analyze"])
    snapshots = write_vtest_snapshots(tmp_path / "cameras" / CAMERA, count=4, every=1.5)
    rows = await _detections(
        sessions,
        [
            {"object_type": "person", "confidence": 0.8, "file_path": str(path), "media_type": "image",
             "bbox_x": 349, "bbox_y": 199, "bbox_width": 34, "bbox_height": 76}
            for path in snapshots
        ],
    )
    base = datetime.now(UTC)
    async with sessions() as session, session.begin():
        for index, row in enumerate(rows):
            (await session.get_one(Detection, row.id)).detected_at = base + timedelta(seconds=1.5 * index)
    await BatchAggregator(runtime.redis, settings).add_detections(CAMERA, rows)
    updated = (await _wait_for(subscriber, {"event.updated"}, timeout=30))["event.updated"]
    clip = Path(updated["clip_path"])
    assert probe_video(clip).duration == pytest.approx(4.5 + 1.0, abs=0.15)


async def test_events_closing_together_do_not_wait_for_each_others_clips(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: aioredis.client.PubSub,
    start_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six cameras' batches close at once, each worth a clip that takes 1.5 s to encode (slowed down
    here, as a long recording's is). Their events, and so their alerts, come at once; the clips follow
    one by one. Clips used to be encoded inside the event's handler (4 at a time, 1 clip at a time), so
    the fifth event waited for the first clip, the sixth for the second."""
    real_clip = event_clip.make_event_clip

    def slow_clip(*args: Any) -> Any:
        time.sleep(CLIP_SECONDS)
        return real_clip(*args)

    monkeypatch.setattr(event_clip, "make_event_clip", slow_clip)
    settings = _settings(tmp_path, db_url, redis_url, batch_idle_timeout_seconds=0.5)
    runtime = await start_server(settings, ["analyze"])
    batches = BatchAggregator(runtime.redis, settings)
    cameras = ["front", "yard", "drive", "garage", "porch", "garden"]
    for camera in cameras:
        snapshots = write_vtest_snapshots(tmp_path / "cameras" / camera, count=2, every=1.0)
        rows = await _detections(
            sessions,
            [{"object_type": "person", "confidence": 0.8, "file_path": str(path), "media_type": "image"}
             for path in snapshots],
            camera=camera,
        )
        await batches.add_detections(camera, rows)
    loop = asyncio.get_running_loop()
    started = loop.time()
    created: list[float] = []

    seen: list[tuple[str, dict[str, Any]]] = []
    deadline = started + TIMEOUT
    while sum(k == "event.updated" and d["has_clip"] for k, d in seen) < len(cameras) and loop.time() < deadline:
        message = await subscriber.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            decoded = json.loads(message["data"])
            for inner in decoded["data"] if decoded["type"] == "batch" else [decoded]:
                seen.append((inner["type"], inner["data"]))
                if inner["type"] == "event.created":
                    created.append(loop.time() - started)
    assert len(created) == len(cameras), seen
    clipped = [data for kind, data in seen if kind == "event.updated" and data["has_clip"]]
    assert len(clipped) == len(cameras), [kind for kind, _ in seen]
    assert max(created) - min(created) < 1.0, created
    async with sessions() as session:
        stored = list(await session.scalars(select(Event)))
    assert sorted(event.camera_id for event in stored) == sorted(cameras)
    assert all(event.clip_path and Path(event.clip_path).is_file() for event in stored)
