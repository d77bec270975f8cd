"""Detections: list and filter, one detection, its thumbnail and its source image (or clip)."""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.errors import not_found
from server.api.media import file_response
from server.api.pagination import DbId, Keyset, Page, TimeRangeQuery, Where, fetch_page, page_of
from server.api.rows import first, selected
from server.models import Detection
from server.vocabulary import IMAGE_MIME_TYPES, VIDEO_MIME_TYPES
from server.wire import DetectionOut

routes = Routes("detections")


class DetectionPath(BaseModel):
    detection_id: DbId


#: An object type to filter by, in any case: stored labels are lower case ("Person" finds people). An
#: empty one is refused: events' stored lists would all match it, detections none.
ObjectTypeFilter = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True, to_lower=True)]


class DetectionQuery(TimeRangeQuery):
    camera_id: CameraId | None = None
    object_type: ObjectTypeFilter | None = None
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    media_type: Literal["image", "video"] | None = None
    stationary: bool | None = Field(None, description="Only stationary (true) or only moving (false) objects.")


KEYSET = Keyset("detections", (Detection.detected_at, Detection.id), (datetime, DbId))


def filtered(q: DetectionQuery, where: Where | None = None) -> Where:
    """The list's filters, added to `where` (the caller's own, if any)."""
    return (
        (where if where is not None else Where())
        .time_range(Detection.detected_at, q)
        .compare(Detection.camera_id, q.camera_id)
        .compare(Detection.object_type, q.object_type)
        .compare(Detection.confidence, q.min_confidence, operator.ge, "min_confidence")
        .compare(Detection.media_type, q.media_type)
        .choice("stationary", q.stationary, Detection.stationary.is_)
    )


async def page_of_detections(connection: AsyncConnection, q: DetectionQuery, where: Where | None = None) -> dict[str, Any]:
    """One page of detections matching `where` and the list's filters."""
    rows, cursor = await fetch_page(
        connection, selected(Detection), KEYSET, q, lambda d: (d["detected_at"], d["id"]), filtered(q, where)
    )
    return page_of(list(rows), cursor)


@routes.get("/api/detections", summary="List detections", query=DetectionQuery, response=Page[DetectionOut])
async def list_detections(call: Call) -> dict[str, Any]:
    """Newest first."""
    return await call.runtime.database.read(lambda connection: page_of_detections(connection, call.query))


async def _detection(call: Call) -> Any:
    detection_id = call.path.detection_id
    detection = await call.runtime.database.read(
        lambda connection: first(connection, selected(Detection).where(Detection.id == detection_id))
    )
    if detection is None:
        raise not_found("detection", detection_id)
    return detection


@routes.get(
    "/api/detections/{detection_id}",
    summary="Get a detection",
    path_params=DetectionPath,
    response=DetectionOut,
)
async def read_detection(call: Call) -> Any:
    return await _detection(call)


@routes.get(
    "/api/detections/{detection_id}/thumbnail",
    summary="Thumbnail of a detection (box drawn)",
    path_params=DetectionPath,
    media=("image/jpeg",),
)
async def detection_thumbnail(call: Call) -> web.StreamResponse:
    detection = await _detection(call)
    return await file_response(call.runtime.settings, detection["thumbnail_path"], "thumbnail")


@routes.get(
    "/api/detections/{detection_id}/image",
    summary="Source image (or clip) of a detection",
    path_params=DetectionPath,
    media=IMAGE_MIME_TYPES + VIDEO_MIME_TYPES,
)
async def detection_image(call: Call) -> web.StreamResponse:
    detection = await _detection(call)
    return await file_response(call.runtime.settings, detection["file_path"], "source media")
