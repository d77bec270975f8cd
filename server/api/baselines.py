"""Baselines of a camera: what it usually sees per hour and weekday (read, and reset)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select

from server.analyze.baseline_store import lock_baselines
from server.api.audit import record
from server.api.cameras import CameraPath, get_camera
from server.api.declare import Call, Routes
from server.models import ActivityBaseline, AuditAction, ClassBaseline
from server.wire import ActivitySlot, ClassSlot

routes = Routes("baselines")


class Baselines(BaseModel):
    """At most 168 activity slots and 24 per class: small enough to return whole."""

    camera_id: str
    activity: list[ActivitySlot]
    classes: list[ClassSlot]


@routes.get(
    "/api/cameras/{camera_id}/baselines",
    summary="A camera's learned baselines",
    path_params=CameraPath,
    response=Baselines,
)
async def read_baselines(call: Call) -> dict[str, Any]:
    camera_id = call.path.camera_id
    async with call.runtime.database.sessions() as session:
        await get_camera(session, camera_id)
        activity = (
            await session.execute(
                select(ActivityBaseline)
                .where(ActivityBaseline.camera_id == camera_id)
                .order_by(ActivityBaseline.day_of_week, ActivityBaseline.hour)
            )
        ).scalars()
        classes = (
            await session.execute(
                select(ClassBaseline)
                .where(ClassBaseline.camera_id == camera_id)
                .order_by(ClassBaseline.detection_class, ClassBaseline.hour)
            )
        ).scalars()
        return {
            "camera_id": camera_id,
            "activity": [ActivitySlot.dump(row) for row in activity],
            "classes": [ClassSlot.dump(row) for row in classes],
        }


@routes.delete(
    "/api/cameras/{camera_id}/baselines", summary="Forget a camera's baselines", path_params=CameraPath
)
async def reset_baselines(call: Call) -> None:
    """After moving a camera its history no longer describes the view; learning starts again."""
    camera_id = call.path.camera_id
    async with call.runtime.database.sessions() as session:
        camera = await get_camera(session, camera_id)
        await lock_baselines(session, camera_id)  # after a fold running now, which would undo this
        camera.baselines_reset_at = datetime.now(UTC)  # the fold learns from now on (migration 0009)
        activity = await session.execute(
            delete(ActivityBaseline).where(ActivityBaseline.camera_id == camera_id)
        )
        classes = await session.execute(delete(ClassBaseline).where(ClassBaseline.camera_id == camera_id))
        record(
            session,
            call.request,
            AuditAction.DATA_CLEARED,
            "baselines",
            camera_id,
            details={"activity_rows": activity.rowcount, "class_rows": classes.rowcount},
        )
        await session.commit()
