"""Cameras that stop uploading go `offline` after `HSI_CAMERA_OFFLINE_SECONDS` of silence.

The detect worker sets them back `online` with the next upload (`cameras.record_upload`). Both
directions are broadcast as `camera.updated`, which Home Assistant turns into a connectivity sensor.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update

from server.models import Camera, CameraStatus
from server.pipeline.broadcast import publish
from server.runtime import Runtime
from server.serialize import camera_to_dict

_LOGGER = logging.getLogger("hsi.cameras")


async def mark_silent_cameras_offline(runtime: Runtime) -> list[Camera]:
    """One pass: every online camera silent for longer than the setting becomes offline."""
    cutoff = datetime.now(UTC) - timedelta(seconds=runtime.settings.camera_offline_seconds)
    statement = (
        update(Camera)
        .where(
            Camera.status == CameraStatus.ONLINE.value,
            func.coalesce(Camera.last_seen_at, Camera.created_at) < cutoff,
        )
        .values(status=CameraStatus.OFFLINE.value)
        .returning(Camera)
        .execution_options(synchronize_session=False)
    )
    async with runtime.database.sessions() as session, session.begin():
        changed = list((await session.scalars(statement)).all())
    for camera in changed:
        _LOGGER.warning(
            "camera %s offline: nothing uploaded since %s",
            camera.id,
            camera.last_seen_at or "it was added",
            extra={"component": "cameras", "camera_id": camera.id},
        )
        await publish(runtime.redis, "camera.updated", camera_to_dict(camera))
    return changed


async def run_camera_health(runtime: Runtime, stop: asyncio.Event) -> None:
    """Check every quarter of the offline delay (at most once a minute) until `stop` is set."""
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
