"""Cameras: list, create, read, update, delete, and the latest snapshot.

Cameras normally appear by themselves (the watcher or an ingest creates the row for a new folder);
the API creates them ahead of time, renames them, or marks them, and deletes them with everything
recorded for them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.api.audit import record
from server.api.declare import Call, Routes
from server.api.errors import ApiError, conflict, not_found
from server.api.media import file_response, safe_path
from server.api.pagination import Keyset, Page, PageQuery, Where, fetch_page, page_of
from server.api.rule_references import forget_deleted
from server.models import AuditAction, Camera, CameraStatus, Detection, Zone, normalize_camera_id
from server.pipeline import broadcast
from server.pipeline.cameras import cameras_out, with_activity
from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import media_type
from server.pipeline.media.render import first_frame_jpeg
from server.vocabulary import IMAGE_EXTENSIONS, IMAGE_MIME_TYPES
from server.wire import CameraOut

routes = Routes("cameras")

CameraId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,100}$")]
CameraName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CameraPath(BaseModel):
    camera_id: CameraId


class CameraQuery(PageQuery):
    status: CameraStatus | None = None


class CameraCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CameraName
    id: CameraId | None = Field(
        None, description="Defaults to the normalized name (`Front Door` → `front_door`)."
    )
    folder_path: str | None = Field(
        None,
        max_length=1024,
        description="Upload folder inside the cameras directory; defaults to <cameras_dir>/<name>.",
    )
    status: CameraStatus = CameraStatus.ONLINE


class CameraUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CameraName | None = None
    folder_path: str | None = Field(None, max_length=1024)
    status: CameraStatus | None = None
    offline_after_seconds: int | None = Field(
        None,
        ge=60,
        le=30 * 86_400,
        description="Offline after this much silence; null: learned from the camera's uploads.",
    )


#: Fields a PATCH may set to null (to go back to the default).
_NULLABLE = frozenset({"offline_after_seconds"})


_KEYSET = Keyset("cameras", (Camera.id,), (str,), descending=False)


async def read_camera_out(connection: AsyncConnection, camera_id: str) -> dict[str, Any]:
    """One camera with its activity (404 when there is no such camera)."""
    shown = await cameras_out(connection, [camera_id])
    if camera_id not in shown:
        raise not_found("camera", camera_id)
    return shown[camera_id]


async def get_camera(session: AsyncSession, camera_id: str) -> Camera:
    camera = await session.get(Camera, camera_id)
    if camera is None:
        raise not_found("camera", camera_id)
    return camera


def _folder(call: Call, raw: str | None, name: str) -> str:
    """A camera folder must be inside the cameras directory (or the ingest directory)."""
    settings = call.runtime.settings
    path = Path(raw) if raw else settings.cameras_dir / name
    if not path.is_absolute():
        path = settings.cameras_dir / path
    resolved = path.resolve()
    roots = [settings.cameras_dir.resolve(), settings.ingest_dir.resolve()]
    if "\x00" in str(path) or not any(resolved.is_relative_to(root) for root in roots):
        raise ApiError(
            422,
            "validation_error",
            "folder_path must be inside the cameras directory",
            [{"field": "folder_path", "message": f"must be inside {settings.cameras_dir}", "in": "body"}],
        )
    return str(resolved)


@routes.get("/api/cameras", summary="List cameras", query=CameraQuery, response=Page[CameraOut])
async def list_cameras(call: Call) -> dict[str, Any]:
    """Ordered by id; each with its latest event and detection."""
    q: CameraQuery = call.query
    filters = Where().compare(Camera.status, q.status.value if q.status is not None else None)

    async def page(connection: AsyncConnection) -> dict[str, Any]:
        rows, cursor = await fetch_page(connection, with_activity(), _KEYSET, q, lambda c: (c["id"],), filters)
        return page_of(list(rows), cursor)

    return await call.runtime.database.read(page)


@routes.post(
    "/api/cameras",
    summary="Create a camera",
    body=CameraCreate,
    response=CameraOut,
    status=201,
    errors=(409,),
)
async def create_camera(call: Call) -> dict[str, Any]:
    body: CameraCreate = call.body
    try:
        camera_id = body.id or normalize_camera_id(body.name)
    except ValueError as err:
        raise ApiError(
            422, "validation_error", str(err), [{"field": "name", "message": str(err), "in": "body"}]
        ) from None
    async with call.runtime.database.sessions() as session:
        if await session.get(Camera, camera_id) is not None:
            raise conflict(f"camera {camera_id} already exists")
        camera = Camera(
            id=camera_id,
            name=body.name,
            folder_path=_folder(call, body.folder_path, body.name),
            status=body.status.value,
        )
        session.add(camera)
        record(
            session,
            call.request,
            AuditAction.CAMERA_CREATED,
            "camera",
            camera_id,
            details={"name": body.name},
        )
        await session.commit()
        data = await read_camera_out(await session.connection(), camera.id)
    await broadcast.publish(call.runtime.redis, "camera.updated", data)
    return data


@routes.get("/api/cameras/{camera_id}", summary="Get a camera", path_params=CameraPath, response=CameraOut)
async def read_camera(call: Call) -> dict[str, Any]:
    camera_id = call.path.camera_id
    return await call.runtime.database.read(lambda connection: read_camera_out(connection, camera_id))


@routes.patch(
    "/api/cameras/{camera_id}",
    summary="Update a camera",
    path_params=CameraPath,
    body=CameraUpdate,
    response=CameraOut,
)
async def update_camera(call: Call) -> dict[str, Any]:
    changes = call.body.model_dump(exclude_unset=True)
    nulled = [name for name, value in changes.items() if value is None and name not in _NULLABLE]
    if nulled:
        raise ApiError(
            422,
            "validation_error",
            "fields cannot be set to null",
            [{"field": name, "message": "cannot be null", "in": "body"} for name in nulled],
        )
    async with call.runtime.database.sessions() as session:
        camera = await get_camera(session, call.path.camera_id)
        if "folder_path" in changes:
            changes["folder_path"] = _folder(call, changes["folder_path"], camera.name)
        if "status" in changes:
            changes["status"] = changes["status"].value
        for name, value in changes.items():
            setattr(camera, name, value)
        record(
            session,
            call.request,
            AuditAction.CAMERA_UPDATED,
            "camera",
            camera.id,
            details={"changes": changes},
        )
        await session.commit()
        data = await read_camera_out(await session.connection(), camera.id)
    await broadcast.publish(call.runtime.redis, "camera.updated", data)
    return data


@routes.delete(
    "/api/cameras/{camera_id}",
    summary="Delete a camera and everything recorded for it",
    path_params=CameraPath,
)
async def delete_camera(call: Call) -> None:
    """Detections, events (and their alerts), zones and baselines go with it; media files stay on disk.

    Alert rules naming the camera or its zones lose those ids; one left with no camera (or no zone) to
    narrow by is disabled, not widened to any (see `rule_references`; re-read the rules afterwards).
    """
    async with call.runtime.database.sessions() as session:
        camera = await get_camera(session, call.path.camera_id)
        # The camera and its zones locked before the rules are read: a rule being saved with one of them
        # (it holds its row, `alert_rules._check`) commits first and is then read here.
        await session.execute(select(Camera.id).where(Camera.id == camera.id).with_for_update())
        zones = set((await session.scalars(select(Zone.id).where(Zone.camera_id == camera.id).with_for_update())).all())
        rules = await forget_deleted(session, call.request, cameras={camera.id}, zones=zones)
        await session.delete(camera)
        record(
            session,
            call.request,
            AuditAction.CAMERA_DELETED,
            "camera",
            camera.id,
            details={"name": camera.name, "alert_rules_changed": rules},
        )
        await session.commit()
    await broadcast.publish(call.runtime.redis, "camera.deleted", {"id": camera.id})


_NO_CACHE = {"Cache-Control": "private, max-age=0", "X-Content-Type-Options": "nosniff"}


def _newest_image_in(folder: Path) -> Path | None:
    try:
        candidates = [
            (p.stat().st_mtime, p)
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS
        ]
    except OSError:
        return None
    return max(candidates, default=(0.0, None))[1]


@routes.get(
    "/api/cameras/{camera_id}/snapshot",
    summary="Latest image of a camera",
    path_params=CameraPath,
    media=IMAGE_MIME_TYPES,
)
async def camera_snapshot(call: Call) -> web.StreamResponse:
    """The camera's latest upload (whether or not anything was detected in it; of a video, its first
    frame), else the newest image with detections, else the newest image in its folder."""
    settings = call.runtime.settings
    async with call.runtime.database.sessions() as session:
        camera = await get_camera(session, call.path.camera_id)
        latest = camera.last_upload_path if media_type(camera.last_upload_path or "") == "image" else None
        if media_type(camera.last_upload_path or "") == "video":
            try:
                video = safe_path(settings, camera.last_upload_path, "snapshot")
                poster = await asyncio.to_thread(first_frame_jpeg, video)
                return web.Response(body=poster, content_type="image/jpeg", headers=_NO_CACHE)
            except (ApiError, MediaError):
                pass  # gone or unreadable: an image below
        if latest is None:
            statement = (
                select(Detection.file_path)
                .where(Detection.camera_id == camera.id, Detection.media_type == "image")
                .order_by(Detection.detected_at.desc(), Detection.id.desc())
                .limit(1)
            )
            latest = (await session.execute(statement)).scalar_one_or_none()
    if latest is not None:
        try:
            return await file_response(settings, latest, "snapshot", cache_seconds=0)
        except ApiError:
            pass  # the file was cleaned up: fall back to the folder
    newest = _newest_image_in(Path(camera.folder_path)) if "\x00" not in camera.folder_path else None
    if newest is None:
        raise not_found("snapshot of camera", camera.id)
    # file_response checks the folder's file is inside the allowed roots like any stored path.
    return await file_response(settings, str(newest), "snapshot", cache_seconds=0)
