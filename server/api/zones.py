"""Zones of a camera: CRUD, validated by the alert engine's own `ZoneSpec` (polygon, colour, shape).

The API never re-implements a zone rule: the body model below is `ZoneSpec` without `camera_id`
(which comes from the path), and the merged zone is validated as a `ZoneSpec` before it is stored.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.alerts.object_filters import stored
from server.alerts.partial import apply_update
from server.alerts.zones import ZoneSpec, ZoneUpdate
from server.api.audit import record
from server.api.cameras import CameraId, get_camera
from server.api.declare import Call, Routes
from server.api.errors import conflict, not_found
from server.api.pagination import Keyset, Page, PageQuery, Where, fetch_page, page_of
from server.api.rows import first, selected
from server.api.rule_references import forget_deleted
from server.models import AuditAction, Camera, Zone
from server.wire import ZoneOut

routes = Routes("zones")

#: POST body: every ZoneSpec field with its own rules, except `camera_id` (the path names the camera).
ZoneCreate: type[BaseModel] = create_model(
    "ZoneCreate",
    __config__=ConfigDict(extra="forbid"),
    __doc__="A new zone of the camera in the path.",
    **{name: (info.annotation, info) for name, info in ZoneSpec.model_fields.items() if name != "camera_id"},
)


class CameraZonesPath(BaseModel):
    camera_id: CameraId


class ZonePath(CameraZonesPath):
    zone_id: str


_KEYSET = Keyset("zones", (Zone.id,), (str,), descending=False)


def _spec_of(zone: Zone) -> ZoneSpec:
    return ZoneSpec.model_validate(
        {
            "id": zone.id,
            "camera_id": zone.camera_id,
            "name": zone.name,
            "zone_type": str(zone.zone_type),
            "coordinates": zone.coordinates,
            "shape": str(zone.shape),
            "color": zone.color,
            "enabled": zone.enabled,
            "priority": zone.priority,
            "loitering_seconds": zone.loitering_seconds,
            "loitering_classes": zone.loitering_classes,
            "object_filters": zone.object_filters,
        }
    )


def _columns(spec: ZoneSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "zone_type": spec.zone_type,
        "coordinates": [[x, y] for x, y in spec.coordinates],
        "shape": spec.shape,
        "color": spec.color,
        "enabled": spec.enabled,
        "priority": spec.priority,
        "loitering_seconds": spec.loitering_seconds,
        "loitering_classes": spec.loitering_classes,
        "object_filters": stored(spec.object_filters),
    }


async def _free_id(session: AsyncSession, camera_id: str, name: str) -> str:
    """`<camera>_<name>` as a slug, numbered if taken (zone ids are unique across cameras)."""
    base = re.sub(r"[^a-z0-9_-]+", "_", f"{camera_id}_{name}".lower()).strip("_-")[:60] or "zone"
    candidate, number = base, 1
    while await session.get(Zone, candidate) is not None:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


async def _get_zone(session: AsyncSession, camera_id: str, zone_id: str) -> Zone:
    zone = await session.get(Zone, zone_id)
    if zone is None or zone.camera_id != camera_id:
        raise not_found("zone", zone_id)
    return zone


@routes.get(
    "/api/cameras/{camera_id}/zones",
    summary="List a camera's zones",
    path_params=CameraZonesPath,
    query=PageQuery,
    response=Page[ZoneOut],
)
async def list_zones(call: Call) -> dict[str, Any]:
    camera_id = call.path.camera_id

    async def page(connection: AsyncConnection) -> tuple[list[Any], str | None]:
        if await first(connection, select(Camera.id).where(Camera.id == camera_id)) is None:
            raise not_found("camera", camera_id)
        of_camera = Where().compare(Zone.camera_id, camera_id)
        return await fetch_page(connection, selected(Zone), _KEYSET, call.query, lambda z: (z["id"],), of_camera)

    rows, cursor = await call.runtime.database.read(page)
    return page_of(list(rows), cursor)


@routes.post(
    "/api/cameras/{camera_id}/zones",
    summary="Create a zone",
    path_params=CameraZonesPath,
    body=ZoneCreate,
    response=ZoneOut,
    status=201,
    errors=(409,),
)
async def create_zone(call: Call) -> dict[str, Any]:
    """Coordinates are [x, y] fractions of the image (0–1), at least 3 points, not self-intersecting."""
    spec = ZoneSpec.model_validate({**call.body.model_dump(mode="json"), "camera_id": call.path.camera_id})
    async with call.runtime.database.sessions() as session:
        await get_camera(session, spec.camera_id)
        zone_id = spec.id or await _free_id(session, spec.camera_id, spec.name)
        if spec.id is not None and await session.get(Zone, zone_id) is not None:
            raise conflict(f"zone {zone_id} already exists")
        zone = Zone(id=zone_id, camera_id=spec.camera_id, **_columns(spec))
        session.add(zone)
        record(
            session,
            call.request,
            AuditAction.SETTINGS_CHANGED,
            "zone",
            zone_id,
            details={"change": "created", "camera_id": spec.camera_id, "name": spec.name},
        )
        await session.commit()
        return ZoneOut.dump(zone)


@routes.get(
    "/api/cameras/{camera_id}/zones/{zone_id}", summary="Get a zone", path_params=ZonePath, response=ZoneOut
)
async def read_zone(call: Call) -> dict[str, Any]:
    async with call.runtime.database.sessions() as session:
        return ZoneOut.dump(await _get_zone(session, call.path.camera_id, call.path.zone_id))


@routes.patch(
    "/api/cameras/{camera_id}/zones/{zone_id}",
    summary="Update a zone",
    path_params=ZonePath,
    body=ZoneUpdate,
    response=ZoneOut,
)
async def update_zone(call: Call) -> dict[str, Any]:
    async with call.runtime.database.sessions() as session:
        zone = await _get_zone(session, call.path.camera_id, call.path.zone_id)
        merged = apply_update(_spec_of(zone), call.body)
        for name, value in _columns(merged).items():
            setattr(zone, name, value)
        record(
            session,
            call.request,
            AuditAction.SETTINGS_CHANGED,
            "zone",
            zone.id,
            details={"change": "updated", "fields": sorted(call.body.model_dump(exclude_unset=True))},
        )
        await session.commit()
        return ZoneOut.dump(zone)


@routes.delete("/api/cameras/{camera_id}/zones/{zone_id}", summary="Delete a zone", path_params=ZonePath)
async def delete_zone(call: Call) -> None:
    """Alert rules naming the zone lose it; one left with no zone is disabled, not widened to any."""
    async with call.runtime.database.sessions() as session:
        zone = await _get_zone(session, call.path.camera_id, call.path.zone_id)
        # Locked before the rules are read: a rule being saved with this zone (it holds the zone's row,
        # `alert_rules._check`) commits first and is then read here.
        await session.execute(select(Zone.id).where(Zone.id == zone.id).with_for_update())
        rules = await forget_deleted(session, call.request, zones={zone.id})
        await session.delete(zone)
        record(
            session,
            call.request,
            AuditAction.SETTINGS_CHANGED,
            "zone",
            zone.id,
            details={"change": "deleted", "camera_id": zone.camera_id, "alert_rules_changed": rules},
        )
        await session.commit()
