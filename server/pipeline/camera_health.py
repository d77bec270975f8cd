"""Cameras silent far beyond their own upload pattern go `offline` (`upload_pattern.offline_after`).

The detect worker sets them back `online` with the next upload (`cameras.record_uploads`). Both
directions are broadcast as `camera.updated`, which Home Assistant turns into a connectivity sensor
and, while a camera stays offline, a repair issue naming it and its last upload.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from server.models import Camera, CameraStatus
from server.pipeline import upload_pattern
from server.pipeline.broadcast import publish
from server.pipeline.cameras import cameras_out
from server.pipeline.intake import waiting_cameras
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.cameras")


async def mark_silent_cameras_offline(runtime: Runtime) -> list[Camera]:
    """One pass: every online camera silent for longer than its own `offline_after` becomes offline.

    `last_seen_at` is set when the detector has committed an upload; one still queued (the detector
    behind on a backlog, restarting, loading its model) keeps its camera online too: the camera is not
    silent, the detector is late, and the health report says so. The update is guarded by the
    `last_seen_at` that was judged, so an upload committed meanwhile keeps its camera online.
    """
    now = datetime.now(UTC)
    default = timedelta(seconds=runtime.settings.camera_offline_seconds)
    async with runtime.database.sessions() as session:
        online = list(await session.scalars(select(Camera).where(Camera.status == CameraStatus.ONLINE.value)))
    changed: list[Camera] = []
    limits = [(camera, upload_pattern.offline_after(camera, default)) for camera in online]
    silent = [(camera, limit) for camera, limit in limits if now - upload_pattern.silent_since(camera) > limit]
    queued = await waiting_cameras(runtime.redis) if silent else set()
    for camera, limit in silent:
        if camera.id in queued:
            continue
        statement = (
            update(Camera)
            .where(
                Camera.id == camera.id,
                Camera.status == CameraStatus.ONLINE.value,
                Camera.last_seen_at.is_not_distinct_from(camera.last_seen_at),
            )
            .values(status=CameraStatus.OFFLINE.value)
            .returning(Camera)
            .execution_options(synchronize_session=False)
        )
        async with runtime.database.sessions() as session, session.begin():
            offline = (await session.scalars(statement)).one_or_none()
            shown = await cameras_out(await session.connection(), [camera.id]) if offline is not None else {}
        if offline is None:
            continue
        changed.append(offline)
        _LOGGER.warning(
            "camera %s offline: nothing uploaded since %s (offline after %s of silence)",
            offline.id,
            offline.last_seen_at or "it was added",
            limit,
            extra={
                "component": "cameras",
                "camera_id": offline.id,
                "data": {"offline_after_seconds": limit.total_seconds(), "upload_gap_seconds": offline.upload_gap_seconds},
            },
        )
        await publish(runtime.redis, "camera.updated", shown[offline.id])
    return changed


async def run_camera_health(runtime: Runtime, stop: asyncio.Event) -> None:
    """Check every quarter of the default offline delay (at most once a minute) until `stop` is set."""
    interval = min(60.0, runtime.settings.camera_offline_seconds / 4)
    while not stop.is_set():
        try:
            await mark_silent_cameras_offline(runtime)
        except Exception as err:  # the database may be restarting; try again next round
            _LOGGER.warning("camera health check failed: %s", err, extra={"component": "cameras"})
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


__all__ = ["mark_silent_cameras_offline", "run_camera_health"]
