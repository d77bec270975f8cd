"""Alerts: list and filter, read, acknowledge, dismiss (each publishes `alert.updated`)."""

from __future__ import annotations

import logging
import operator
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import exists
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.audit import record
from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.errors import conflict, not_found
from server.api.pagination import DbId, Instant, Keyset, Page, TimeRangeQuery, Where, fetch_page, page_of
from server.api.rows import first, selected
from server.models import Alert, AlertSeverity, AlertStatus, AuditAction, Event
from server.pipeline import broadcast
from server.wire import AlertOut

_LOGGER = logging.getLogger("hsi.alerts")

routes = Routes("alerts")


class AlertPath(BaseModel):
    alert_id: uuid.UUID


class AlertQuery(TimeRangeQuery):
    status: AlertStatus | None = None
    severity: AlertSeverity | None = None
    camera_id: CameraId | None = None
    event_id: DbId | None = None
    rule_id: uuid.UUID | None = None
    updated_since: Instant | None = Field(
        None,
        description="Only alerts changed at or after this instant (refined, acknowledged, dismissed, "
        "delivered): what a client that was disconnected missed of alerts it already had.",
    )


_KEYSET = Keyset("alerts", (Alert.created_at, Alert.id), (datetime, uuid.UUID))


@routes.get("/api/alerts", summary="List alerts", query=AlertQuery, response=Page[AlertOut])
async def list_alerts(call: Call) -> dict[str, Any]:
    """Newest first; `camera_id` filters on the alert's event."""
    q: AlertQuery = call.query
    filters = (
        Where()
        .time_range(Alert.created_at, q)
        .compare(Alert.updated_at, q.updated_since, operator.ge, "updated_since")
        .equal((Alert.status, q.status), (Alert.severity, q.severity))
        .equal((Alert.event_id, q.event_id), (Alert.rule_id, q.rule_id))
        # Per alert, in list order: its event's camera by primary key (not every event of the camera).
        .value(
            "camera_id",
            q.camera_id,
            lambda camera_id: exists().where(Event.id == Alert.event_id, Event.camera_id == camera_id),
            Event.camera_id.expression.type,
        )
    )

    async def page(connection: AsyncConnection) -> tuple[list[Any], str | None]:
        return await fetch_page(
            connection, selected(Alert), _KEYSET, q, lambda a: (a["created_at"], a["id"]), filters
        )

    rows, cursor = await call.runtime.database.read(page)
    return page_of(list(rows), cursor)


@routes.get("/api/alerts/{alert_id}", summary="Get an alert", path_params=AlertPath, response=AlertOut)
async def read_alert(call: Call) -> Any:
    alert_id = call.path.alert_id
    alert = await call.runtime.database.read(
        lambda connection: first(connection, selected(Alert).where(Alert.id == alert_id))
    )
    if alert is None:
        raise not_found("alert", call.path.alert_id)
    return alert


async def _transition(call: Call, target: AlertStatus, action: AuditAction) -> dict[str, Any]:
    """Move an alert to acknowledged/dismissed; repeating the same action is a no-op, not an error.

    A dismissed alert cannot be acknowledged any more (dismissing is the final word on it). An alert
    handled while its webhook has not gone out (the receiver down) is not sent to it later: it would tell
    of an alert somebody has dealt with (a siren going off for it). A log row says so.
    """
    async with call.runtime.database.sessions() as session:
        alert = await session.get(Alert, call.path.alert_id, with_for_update=True)
        if alert is None:
            raise not_found("alert", call.path.alert_id)
        if alert.status == AlertStatus.DISMISSED and target != AlertStatus.DISMISSED:
            raise conflict(f"alert {alert.id} is dismissed and cannot be {target.value}")
        changed = alert.status != target
        previous = alert.status
        if changed:
            alert.status = target
            record(
                session,
                call.request,
                action,
                "alert",
                alert.id,
                details={"event_id": alert.event_id, "from": str(previous), "to": target.value},
            )
        await session.commit()
        data = AlertOut.dump(alert)
    if changed and previous == AlertStatus.PENDING and "webhook" in (alert.channels or []):
        _LOGGER.warning(
            "alert %s was %s before its webhook went out: the webhook is not sent",
            alert.id,
            target.value,
            extra={
                "component": "alerts",
                "event_id": alert.event_id,
                "data": {"alert_id": str(alert.id), "channel": "webhook", "status": target.value},
            },
        )
    if changed:
        await broadcast.publish(call.runtime.redis, "alert.updated", data)
    return data


@routes.post(
    "/api/alerts/{alert_id}/acknowledge",
    summary="Acknowledge an alert",
    path_params=AlertPath,
    response=AlertOut,
    errors=(409,),
)
async def acknowledge_alert(call: Call) -> dict[str, Any]:
    """Somebody has seen it (audited as the event being reviewed)."""
    return await _transition(call, AlertStatus.ACKNOWLEDGED, AuditAction.EVENT_REVIEWED)


@routes.post(
    "/api/alerts/{alert_id}/dismiss", summary="Dismiss an alert", path_params=AlertPath, response=AlertOut
)
async def dismiss_alert(call: Call) -> dict[str, Any]:
    """Not a concern (audited as the event being dismissed)."""
    return await _transition(call, AlertStatus.DISMISSED, AuditAction.EVENT_DISMISSED)
