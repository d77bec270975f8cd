"""Camera rows as the pipeline sees them: created on the first upload, online while they upload.

A camera is a folder under the upload root; its id is `normalize_camera_id(folder name)` and its name
the folder name as the user typed it. Changes are broadcast as `camera.updated`, carrying the camera
with its activity (`with_activity`), the same shape the REST API lists.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, bindparam, func, literal, not_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import ReturningInsert
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
    moving detection, in one statement: per camera the first entry of its range of `(camera_id,
    started_at, id)` and of `(camera_id, detected_at, id) WHERE NOT stationary` — one index probe each,
    no sort, whatever the number of events. Built once (statements are immutable); `CameraOut` reads its rows."""
    summary = list(EventSummary.model_fields)
    last_event = (
        select(*(getattr(Event, name) for name in summary))
        .where(Event.camera_id == Camera.id)
        .order_by(Event.started_at.desc(), Event.id.desc())
        .limit(1)
        .lateral("last_event")
    )
    last_detection = (  # a stationary object (a car parked in the drive) is not what last happened
        select(Detection.id)
        .where(Detection.camera_id == Camera.id, not_(Detection.stationary))
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


@functools.cache
def _create_cameras() -> ReturningInsert[tuple[str, str]]:
    """INSERT of the cameras in three arrays (ids, names, folders), skipping those that exist: one
    statement whatever the number of cameras, so it is compiled once (a VALUES list is compiled anew
    for each length). Core, on the table: the ORM's bulk INSERT does not take a SELECT."""
    table = Camera.__table__
    new = func.unnest(
        bindparam("ids", type_=ARRAY(String)),
        bindparam("names", type_=ARRAY(String)),
        bindparam("folders", type_=ARRAY(String)),
    ).table_valued("id", "name", "folder_path").render_derived("new")
    return (
        insert(table)
        .from_select(
            ["id", "name", "folder_path", "status"],
            select(new.c.id, new.c.name, new.c.folder_path, literal(CameraStatus.ONLINE.value)),
            include_defaults=False,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id, table.c.folder_path)
    )


async def create_cameras(session: AsyncSession, folders: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Create the cameras of `folders` (camera id -> (name, folder path)) that do not exist yet, in the
    caller's transaction (concurrency-safe); returns those this call created (id -> folder path)."""
    ids = sorted(folders)
    parameters = {
        "ids": ids,
        "names": [folders[camera_id][0] for camera_id in ids],
        "folders": [folders[camera_id][1] for camera_id in ids],
    }
    return {camera_id: folder for camera_id, folder in await session.execute(_create_cameras(), parameters)}


async def record_uploads(
    session: AsyncSession,
    uploads: Mapping[str, Sequence[tuple[datetime, str]]],
    default_offline_after: timedelta,
) -> list[Camera]:
    """Note each camera's uploads of a commit (`uploads`: camera id -> (time, file path) of each).

    For each camera: advance `last_seen_at` and `last_upload_path` to its newest (never backwards:
    catch-up files are old), learn each gap between its uploads newer than the last seen
    (`upload_pattern`; a burst committed together is as many gaps, not one from the last seen to its
    newest), and mark it online if the newest upload is recent. Returns the cameras that changed (a
    newer upload, or back online: the caller broadcasts them after commit, so Home Assistant's camera
    shows the new upload and its time). Runs
    inside the caller's transaction: one statement locks every camera row of the commit (in id order,
    as every writer does, so two commits cannot deadlock), and the flush writes them.
    """
    if not uploads:
        return []
    cameras = await session.scalars(
        select(Camera).where(Camera.id.in_(sorted(uploads))).order_by(Camera.id).with_for_update(key_share=True)
    )
    now = datetime.now(UTC)
    changed = []
    for camera in cameras:
        newest = max(uploads[camera.id])
        newer = camera.last_seen_at is None or newest[0] > camera.last_seen_at
        for uploaded_at, file_path in sorted(uploads[camera.id]):
            if camera.last_seen_at is not None and uploaded_at <= camera.last_seen_at:
                continue
            gap = None if camera.last_seen_at is None else uploaded_at - camera.last_seen_at
            # A silence long enough to disconnect the camera is an outage, not the camera's pattern.
            if gap is not None and gap < upload_pattern.offline_after(camera, default_offline_after):
                camera.upload_gap_seconds = upload_pattern.learn_gap(camera.upload_gap_seconds, gap.total_seconds())
            camera.last_seen_at = uploaded_at
            camera.last_upload_path = file_path
        recent = now - newest[0] < upload_pattern.offline_after(camera, default_offline_after)
        back_online = recent and camera.status != CameraStatus.ONLINE.value
        if back_online:
            camera.status = CameraStatus.ONLINE.value
        if newer or back_online:
            changed.append(camera)
    return changed
