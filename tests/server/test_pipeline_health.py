"""Camera health, GPU sampling (without a GPU, and its loop on a stand-in NVML), and the `logs` table
handler, on real stores."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
import threading
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from server.health import WorkerHealth, health_report
from server.models import Camera, GPUStats, Log
from server.pipeline.broadcast import CHANNEL
from server.pipeline.camera_health import mark_silent_cameras_offline
from server.pipeline.cameras import ensure_camera, record_uploads
from server.pipeline.gpu import GPUSample, GPUSampler, gpu_probe, run_gpu_sampler, write_sample
from server.pipeline.intake import submit_file
from server.pipeline.streams import DETECT_STREAM
from server.runtime import Runtime
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path, camera_offline_seconds=600), db_url, redis) as rt:
        yield rt


async def _camera(runtime: Runtime, camera_id: str) -> Camera:
    async with runtime.database.sessions() as session:
        return await session.get_one(Camera, camera_id)


async def test_silent_cameras_go_offline_and_come_back_with_an_upload(runtime: Runtime) -> None:
    await ensure_camera(runtime, "porch", "Porch", "/x/Porch")
    await ensure_camera(runtime, "garage", "Garage", "/x/Garage")
    now = datetime.now(UTC)
    async with runtime.database.sessions() as session, session.begin():
        (await session.get_one(Camera, "porch")).last_seen_at = now - timedelta(hours=2)
        (await session.get_one(Camera, "garage")).last_seen_at = now - timedelta(seconds=30)
    pubsub = runtime.redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscription confirmation

    changed = await mark_silent_cameras_offline(runtime)

    assert [camera.id for camera in changed] == ["porch"]
    assert (await _camera(runtime, "porch")).status == "offline"
    assert (await _camera(runtime, "garage")).status == "online"
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert json.loads(message["data"]) == {
        "type": "camera.updated",
        "data": {**json.loads(message["data"])["data"], "id": "porch", "status": "offline"},
    }
    await pubsub.aclose()
    assert await mark_silent_cameras_offline(runtime) == []  # already offline: no repeat

    # An old file (catch-up) moves last_seen_at but does not make the camera online; a fresh one does.
    # Either is a change to broadcast (the camera's latest upload); a file older than that is not.
    offline_after = timedelta(seconds=runtime.settings.camera_offline_seconds)
    async with runtime.database.sessions() as session, session.begin():
        [stale] = await record_uploads(session, {"porch": [(now - timedelta(hours=1), "/x/Porch/a.jpg")]}, offline_after)
    assert stale.status == "offline"
    async with runtime.database.sessions() as session, session.begin():
        [fresh] = await record_uploads(session, {"porch": [(now, "/x/Porch/b.jpg")]}, offline_after)
        older = await record_uploads(session, {"porch": [(now - timedelta(minutes=5), "/x/Porch/c.jpg")]}, offline_after)
    assert fresh.status == "online" and older == []
    porch = await _camera(runtime, "porch")
    assert porch.last_seen_at == now and porch.last_upload_path == "/x/Porch/b.jpg"  # the newest, not the last
    # The two-hour silence that took it offline was an outage (over the 10 minutes), not its pattern.
    assert porch.upload_gap_seconds is None


async def _history(runtime: Runtime, camera_id: str, uploads: list[datetime]) -> Camera:
    """A camera added at its first upload that then uploaded at each of `uploads` (oldest first)."""
    await ensure_camera(runtime, camera_id, camera_id.title(), f"/x/{camera_id}")
    default = timedelta(seconds=runtime.settings.camera_offline_seconds)
    async with runtime.database.sessions() as session, session.begin():
        (await session.get_one(Camera, camera_id)).created_at = uploads[0]
    for index, moment in enumerate(uploads):
        async with runtime.database.sessions() as session, session.begin():
            await record_uploads(session, {camera_id: [(moment, f"/x/{camera_id}/{index}.jpg")]}, default)
    return await _camera(runtime, camera_id)


def _every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    moments = []
    while start <= end:
        moments.append(start)
        start += step
    return moments


async def test_a_camera_whose_fresh_upload_waits_for_detection_stays_online(runtime: Runtime) -> None:
    """A review's finding, tried: a camera that uploads every minute and just uploaded again, its file
    waiting for a detector behind on a backlog (restarting, loading its model), went offline: a repair
    issue told the user to check a working camera."""
    folder = runtime.settings.cameras_dir / "Porch"
    await ensure_camera(runtime, "porch", "Porch", str(folder))
    now = datetime.now(UTC)
    async with runtime.database.sessions() as session, session.begin():
        camera = await session.get_one(Camera, "porch")
        camera.created_at = now - timedelta(days=3)
        camera.upload_gap_seconds = 60.0  # uploads every minute: offline after 10 min of silence
        camera.last_seen_at = now - timedelta(minutes=15)  # the last upload the detector finished
    path = write_jpeg(folder / "new.jpg")
    queued = await submit_file(runtime, path, camera_folder="Porch", source="watcher")
    assert queued.status == "queued" and queued.camera_id == "porch"

    assert await mark_silent_cameras_offline(runtime) == []
    assert (await _camera(runtime, "porch")).status == "online"
    await runtime.redis.xtrim(DETECT_STREAM, maxlen=0)  # no upload waiting: silent after all
    assert [camera.id for camera in await mark_silent_cameras_offline(runtime)] == ["porch"]


async def test_connectivity_is_learned_from_each_cameras_own_uploads(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """Done-when of the connectivity item: a 30-minute camera stays connected; one silent a day past
    its pattern is disconnected; a motion camera's quiet night is its pattern, not an outage."""
    settings = pipeline_settings(tmp_path)  # the product's default delay before a pattern is learned
    assert settings.camera_offline_seconds == 86_400
    now = datetime.now(UTC).replace(microsecond=0)
    half_hour = timedelta(minutes=30)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        # Every 30 minutes for three days, the last upload 10 minutes ago.
        timelapse = await _history(runtime, "timelapse", _every(now - timedelta(days=3), now, half_hour)[:-1])
        # The same camera, silent since a day and its half hour.
        stalled = await _history(
            runtime, "stalled", _every(now - timedelta(days=3), now - timedelta(days=1, minutes=30), half_hour)
        )
        # Motion only: bursts of uploads seconds apart through the day, nothing for 10 hours each night;
        # now 9 hours into a quiet night.
        motion_uploads = [
            day_start + timedelta(hours=hour, seconds=second)
            for day_start in (now - timedelta(days=d, hours=9 + 14) for d in (2, 1, 0))
            for hour in range(0, 15, 2)
            for second in (0, 3, 6)
        ]
        motion = await _history(runtime, "motion", motion_uploads)
        # Added 20 hours ago and silent since: nothing learned yet, the generous default applies.
        newcomer = await _history(runtime, "newcomer", [now - timedelta(hours=20), now - timedelta(hours=20)])
        # The user's own setting wins over what was learned: one hour.
        await _history(runtime, "strict", _every(now - timedelta(days=3), now - timedelta(hours=2), half_hour))
        async with runtime.database.sessions() as session, session.begin():
            (await session.get_one(Camera, "strict")).offline_after_seconds = 3600

        assert timelapse.upload_gap_seconds == pytest.approx(1800, rel=0.01)
        assert motion.upload_gap_seconds == pytest.approx(10 * 3600, rel=0.1)  # the night, not the bursts
        assert newcomer.upload_gap_seconds is None or newcomer.upload_gap_seconds == 0

        changed = await mark_silent_cameras_offline(runtime)

        assert sorted(camera.id for camera in changed) == ["stalled", "strict"]
        statuses = {c: (await _camera(runtime, c)).status for c in ("timelapse", "stalled", "motion", "newcomer")}
        assert statuses == {"timelapse": "online", "stalled": "offline", "motion": "online", "newcomer": "online"}
        assert stalled.last_seen_at == now - timedelta(days=1, minutes=30)  # "since when", for the repair

        # Back after its outage: online again, and the day-long silence is not learned as its pattern.
        async with runtime.database.sessions() as session, session.begin():
            [back] = await record_uploads(session, {"stalled": [(now, "/x/stalled/back.jpg")]}, timedelta(days=1))
        assert back.status == "online"
        assert (await _camera(runtime, "stalled")).upload_gap_seconds == pytest.approx(1800, rel=0.01)


def test_the_learned_gap_is_a_decaying_maximum() -> None:
    from server.pipeline.upload_pattern import GAP_HALF_LIFE, learn_gap

    assert learn_gap(None, 60.0) == 60.0
    assert learn_gap(3600.0, 5.0) == pytest.approx(3600.0, rel=1e-4)  # a burst does not erase the night
    assert learn_gap(3600.0, 7200.0) == 7200.0  # a longer silence is remembered at once
    # Without longer silences, a long one fades: half of it after a week of short gaps.
    gap = 36_000.0
    for _ in range(int(GAP_HALF_LIFE.total_seconds() // 60)):
        gap = learn_gap(gap, 60.0)
    assert gap == pytest.approx(18_000.0, rel=0.01)


async def test_without_a_gpu_the_sampler_says_unavailable_and_nothing_breaks(runtime: Runtime) -> None:
    sampler = GPUSampler()
    opened = await asyncio.to_thread(sampler.open)
    try:
        report = await gpu_probe(sampler)()
        if opened:  # a machine with an NVIDIA GPU: real readings
            sample = await asyncio.to_thread(sampler.sample)
            assert sample.gpu_name and sample.memory_total and report["status"] == "healthy"
        else:
            assert report["status"] == "unavailable" and "no NVIDIA GPU" in report["reason"]
    finally:
        sampler.close()
    publisher = WorkerHealth(runtime.redis, "detect", "test", {"gpu": gpu_probe(sampler)})
    await publisher.publish()
    try:
        health = await health_report(runtime)
    finally:
        await publisher.withdraw()
    assert health["status"] == "healthy"  # "unavailable" is information, not degradation
    await write_sample(runtime, GPUSample("Test GPU", 12.5, 1024, 8192, 55.0, 70.2), inference_fps=31.0)
    async with runtime.database.sessions() as session:
        [row] = list(await session.scalars(select(GPUStats)))
    assert (row.gpu_name, row.memory_used, row.inference_fps) == ("Test GPU", 1024, 31.0)


class FakeNVML:
    """Stands in for the `pynvml` module (no NVIDIA library or GPU here): one device whose readings
    grow with each sample; during the samples numbered in `lost`, every call fails the way NVML does
    for a GPU that fell off the bus."""

    class NVMLError(Exception):
        pass

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, lost: set[int]) -> None:
        self.lost = lost
        self.samples = 0
        self.shut_down = False

    def module(self) -> types.ModuleType:
        module = types.ModuleType("pynvml")
        for name in ("NVMLError", "NVML_TEMPERATURE_GPU"):
            setattr(module, name, getattr(self, name))
        module.nvmlInit = lambda: None  # type: ignore[attr-defined]
        module.nvmlShutdown = self._shutdown  # type: ignore[attr-defined]
        module.nvmlDeviceGetHandleByIndex = lambda index: f"device-{index}"  # type: ignore[attr-defined]
        module.nvmlDeviceGetName = self._name  # type: ignore[attr-defined]
        module.nvmlDeviceGetUtilizationRates = lambda _h: types.SimpleNamespace(gpu=self._read(10))  # type: ignore[attr-defined]
        module.nvmlDeviceGetMemoryInfo = lambda _h: types.SimpleNamespace(  # type: ignore[attr-defined]
            used=self._read(1024) * 1024 * 1024, total=8192 * 1024 * 1024
        )
        module.nvmlDeviceGetTemperature = lambda _h, _sensor: self._read(1) + 40  # type: ignore[attr-defined]
        module.nvmlDeviceGetPowerUsage = lambda _h: self._read(1000) + 50_000  # type: ignore[attr-defined]
        return module

    def _name(self, _handle: str) -> bytes:
        self.samples += 1  # the first reading of each sample
        self._read(1)
        return b"Fake GPU"

    def _read(self, step: int) -> int:
        if self.samples in self.lost:
            raise self.NVMLError("GPU is lost")
        return self.samples * step

    def _shutdown(self) -> None:
        self.shut_down = True


async def _gpu_rows(runtime: Runtime) -> list[GPUStats]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(GPUStats).order_by(GPUStats.id)))


async def test_the_gpu_sampler_writes_a_row_per_interval_survives_nvml_errors_and_stops(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNVML(lost={2})
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    interval = 0.25
    settings = pipeline_settings(tmp_path, gpu_stats_interval_seconds=interval)
    fps_readings = itertools.chain([None], itertools.count(12.5, 12.5))
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        sampler = GPUSampler()
        assert await asyncio.to_thread(sampler.open)
        stop = asyncio.Event()
        task = asyncio.create_task(run_gpu_sampler(runtime, sampler, stop, lambda: next(fps_readings)))

        async def five() -> list[GPUStats] | None:
            rows = await _gpu_rows(runtime)
            return rows if len(rows) >= 5 else None

        await eventually(five, timeout=20, interval=0.05)
        stopping = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert asyncio.get_running_loop().time() - stopping < 1.0  # not an interval's sleep, nor a hang
        sampler.close()
        rows = await _gpu_rows(runtime)
        await asyncio.sleep(3 * interval)
        assert len(await _gpu_rows(runtime)) == len(rows)  # stopped: no more rows

    assert nvml.shut_down
    first, lost, *later = rows
    assert (first.gpu_name, first.gpu_utilization, first.inference_fps) == ("Fake GPU", 10.0, None)
    assert (first.memory_used, first.memory_total) == (1024, 8192)  # MiB
    assert (first.temperature, first.power_usage) == (41.0, 51.0)  # °C, W
    # The failed readings are NULL; the row (and the loop) goes on with what is known.
    metrics = ("gpu_name", "gpu_utilization", "memory_used", "memory_total", "temperature", "power_usage")
    assert {name: getattr(lost, name) for name in metrics} == dict.fromkeys(metrics)
    assert lost.inference_fps == 12.5
    assert [row.gpu_utilization for row in later] == [10.0 * n for n in range(3, 3 + len(later))]
    assert [row.inference_fps for row in later] == [12.5 * n for n in range(2, 2 + len(later))]
    gaps = [(b.recorded_at - a.recorded_at).total_seconds() for a, b in itertools.pairwise(rows)]
    assert min(gaps) >= interval - 0.05, gaps  # one row per interval, not faster


async def test_hsi_logs_reach_the_logs_table_without_blocking(runtime: Runtime) -> None:
    logger = logging.getLogger("hsi.test.component")
    logger.info(
        "inference took %d ms", 42,
        extra={"component": "detector", "camera_id": "porch", "detection_id": 7, "duration_ms": 41.6,
               "data": {"file_path": Path("/x/a.jpg"), "objects": {"person": 2}}},
    )
    logging.getLogger("elsewhere").warning("not an hsi record")
    thread = threading.Thread(target=lambda: logging.getLogger("hsi.thread").warning("from a thread"))
    thread.start()
    thread.join()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("hsi.test.component").exception("it failed")

    async def three() -> list[Log] | None:
        rows = await log_rows(runtime)
        return rows if len(rows) >= 3 else None

    rows = {row.message.splitlines()[0]: row for row in await eventually(three, timeout=10)}
    first = rows["inference took 42 ms"]
    assert (first.level, first.component, first.camera_id, first.detection_id, first.duration_ms) == (
        "INFO", "detector", "porch", 7, 42
    )
    assert first.extra == {"file_path": "/x/a.jpg", "objects": {"person": 2}}
    assert rows["from a thread"].component == "thread"
    assert "ValueError: boom" in rows["it failed"].message and rows["it failed"].level == "ERROR"
    assert "not an hsi record" not in rows
