"""Camera rows as the pipeline sees them: created on the first upload, online while they upload.

A camera is a folder under the upload root; its id is `normalize_camera_id(folder name)` and its name
the folder name as the user typed it. Changes are broadcast as `camera.updated`, carrying the camera
with its activity (`with_activity`), the same shape the REST API lists.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.api.rows import columns, fetch_all
from server.models import Camera, CameraStatus, Detection, Event
from server.pipeline import upload_pattern
from server.pipeline.broadcast import publish
from server.runtime import Runtime
from server.wire import CameraOut, EventSummary

_LOGGER = logging.getLogger("hsi.cameras")


async def ensure_camera(runtime: Runtime, camera_id: str, name: str, folder_path: str) -> bool:
    """Create the camera unless it exists (concurrency-safe); True if this call created it."""
    statement = (
        insert(Camera)
        .values(id=camera_id, name=name, folder_path=folder_path, status=CameraStatus.ONLINE.value)
        .on_conflict_do_nothing(index_elements=[Camera.id])
        .returning(Camera)
    )
    async with runtime.database.sessions() as session, session.begin():
        created = (await session.scalars(statement)).one_or_none()
        shown = await cameras_out(await session.connection(), [camera_id]) if created is not None else {}
    if created is None:
        return False
    _LOGGER.info(
        "new camera %s from folder %s",
        camera_id,
        folder_path,
        extra={"component": "cameras", "camera_id": camera_id, "data": {"folder_path": folder_path}},
    )
    await publish(runtime.redis, "camera.updated", shown[camera_id])
    return True


@functools.cache
def with_activity() -> Select[Any]:
    """Cameras, each with its latest event (`event_<field>` columns: `EventSummary`'s fields) and
    detection, in one statement: per camera the first entry of its range of `(camera_id, started_at,
    id)` and of `(camera_id, detected_at, id)` — one index probe each, no sort, whatever the number of
    events. Built once (statements are immutable); `CameraOut` reads its rows."""
    summary = list(EventSummary.model_fields)
    last_event = (
        select(*(getattr(Event, name) for name in summary))
        .where(Event.camera_id == Camera.id)
        .order_by(Event.started_at.desc(), Event.id.desc())
        .limit(1)
        .lateral("last_event")
    )
    last_detection = (
        select(Detection.id)
        .where(Detection.camera_id == Camera.id)
        .order_by(Detection.detected_at.desc(), Detection.id.desc())
        .limit(1)
        .lateral("last_detection")
    )
    return (
        select(
            *columns(Camera),
            *(last_event.c[name].label(f"event_{name}") for name in summary),
            last_detection.c.id.label("last_detection_id"),
        )
        .select_from(Camera)
        .outerjoin(last_event, true())
        .outerjoin(last_detection, true())
    )


async def cameras_out(connection: AsyncConnection, camera_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The cameras of `camera_ids` with their activity, by id, as `camera.updated` carries them."""
    rows = await fetch_all(connection, with_activity().where(Camera.id.in_(list(camera_ids))))
    return {row["id"]: CameraOut.dump(row) for row in rows}


async def record_upload(
    session: AsyncSession, camera_id: str, uploaded_at: datetime, file_path: str, default_offline_after: timedelta
) -> Camera | None:
    """Note an upload: advance `last_seen_at` and `last_upload_path` (never backwards: catch-up files
    are old), learn the gap since the previous upload (`upload_pattern`), and mark the camera online if
    the upload is recent. Returns the camera when it changed (a newer upload, or back online: the
    caller broadcasts it after commit, so Home Assistant's camera shows the new upload and its time),
    else None. Runs inside the caller's transaction, locking the camera row."""
    camera = (
        await session.scalars(select(Camera).where(Camera.id == camera_id).with_for_update(key_share=True))
    ).one_or_none()
    if camera is None:
        return None
    newer = camera.last_seen_at is None or uploaded_at > camera.last_seen_at
    if newer:
        gap = None if camera.last_seen_at is None else uploaded_at - camera.last_seen_at
        # A silence long enough to disconnect the camera is an outage, not the camera's pattern.
        if gap is not None and gap < upload_pattern.offline_after(camera, default_offline_after):
            camera.upload_gap_seconds = upload_pattern.learn_gap(camera.upload_gap_seconds, gap.total_seconds())
        camera.last_seen_at = uploaded_at
        camera.last_upload_path = file_path
    recent = datetime.now(UTC) - uploaded_at < upload_pattern.offline_after(camera, default_offline_after)
    back_online = recent and camera.status != CameraStatus.ONLINE.value
    if back_online:
        camera.status = CameraStatus.ONLINE.value
    return camera if newer or back_online else None
