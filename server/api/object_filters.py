"""A camera's object filters and masks: read and replace, validated by `server.alerts.object_filters`.

The body is the whole `ObjectFilters` (per-class minimum area, score and ratio bounds, mask polygons):
a PUT replaces it, an empty body (`{}`) removes every filter. Detect workers read the stored value
again within `server.pipeline.camera_filters.REFRESH_SECONDS`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update

from server.alerts.object_filters import ObjectFilters, stored
from server.api.audit import record
from server.api.cameras import CameraId
from server.api.errors import not_found
from server.api.registry import Call, Routes
from server.models import AuditAction, Camera

routes = Routes("cameras")


class CameraFiltersPath(BaseModel):
    camera_id: CameraId


def _out(raw: dict[str, Any] | None) -> dict[str, Any]:
    return ObjectFilters.model_validate(raw or {}).model_dump(mode="json", exclude_none=True)


@routes.get(
    "/api/cameras/{camera_id}/filters",
    summary="A camera's object filters and masks",
    path_params=CameraFiltersPath,
    response=ObjectFilters,
)
async def read_filters(call: Call) -> dict[str, Any]:
    camera_id = call.path.camera_id
    async with call.runtime.database.sessions() as session:
        found = (await session.execute(select(Camera.id, Camera.object_filters).where(Camera.id == camera_id))).first()
    if found is None:
        raise not_found("camera", camera_id)
    return _out(found.object_filters)


@routes.route(
    "PUT",
    "/api/cameras/{camera_id}/filters",
    summary="Replace a camera's object filters and masks",
    path_params=CameraFiltersPath,
    body=ObjectFilters,
    response=ObjectFilters,
)
async def replace_filters(call: Call) -> dict[str, Any]:
    """Detections the filters reject (too small, too unsure, an odd shape, standing in a mask) are not
    stored; masks are polygons of [x, y] fractions of the image, tested at the box's bottom-centre."""
    camera_id = call.path.camera_id
    value = stored(call.body)
    async with call.runtime.database.sessions() as session:
        changed = await session.execute(
            update(Camera).where(Camera.id == camera_id).values(object_filters=value).returning(Camera.id)
        )
        if changed.first() is None:
            raise not_found("camera", camera_id)
        record(
            session,
            call.request,
            AuditAction.CAMERA_UPDATED,
            "camera",
            camera_id,
            details={
                "change": "object_filters",
                "classes": sorted((value or {}).get("classes", {})),
                "masks": len((value or {}).get("masks", [])),
            },
        )
        await session.commit()
    return _out(value)
