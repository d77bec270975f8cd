"""Audit resource: the `record` helper every mutating route calls, and `GET /api/audit`.

An audit row is added to the same session as the change it describes, so both commit or neither does:
the trail cannot claim a change that was rolled back, nor miss one that happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.pagination import DbId, Keyset, Page, TimeRangeQuery, Where, fetch_page, page_of
from server.api.declare import Call, Routes
from server.api.rows import selected
from server.api.state import AUTH
from server.models import AuditAction, AuditLog, AuditStatus
from server.logs import USER_AGENT_MAX
from server.storable import storable_json, storable_or_none
from server.wire import AuditEntry

routes = Routes("audit")


def client_ip(request: web.Request) -> str | None:
    """The peer address (proxies are not trusted: a forged X-Forwarded-For must not hide a client)."""
    remote = request.remote
    return remote[:45] if remote else None


def record(
    session: AsyncSession,
    request: web.Request,
    action: AuditAction,
    resource_type: str,
    resource_id: object | None,
    *,
    details: dict[str, Any] | None = None,
    success: bool = True,
    actor: str | None = None,
) -> AuditLog:
    """Add one audit row for `request` to `session` (the caller's commit writes it)."""
    principal = request.get(AUTH)
    row = AuditLog(
        action=action.value,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id)[:255],
        actor=(actor or (principal.actor if principal is not None else "anonymous"))[:100],
        ip_address=client_ip(request),
        user_agent=storable_or_none(request.headers.get("User-Agent"), USER_AGENT_MAX),
        details=None if details is None else storable_json(details),
        status=(AuditStatus.SUCCESS if success else AuditStatus.FAILURE).value,
    )
    session.add(row)
    return row


class AuditQuery(TimeRangeQuery):
    action: AuditAction | None = None
    resource_type: str | None = Field(None, max_length=50)
    resource_id: str | None = Field(None, max_length=255)
    actor: str | None = Field(None, max_length=100)
    status: AuditStatus | None = None


_KEYSET = Keyset("audit", (AuditLog.timestamp, AuditLog.id), (datetime, DbId))


@routes.get("/api/audit", summary="List audit entries", query=AuditQuery, response=Page[AuditEntry])
async def list_audit(call: Call) -> dict[str, Any]:
    """Newest first; filter by action, resource, actor, status and time range."""
    q: AuditQuery = call.query
    filters = (
        Where()
        .time_range(AuditLog.timestamp, q)
        .equal((AuditLog.action, q.action), (AuditLog.status, q.status), (AuditLog.actor, q.actor))
        .equal_planned((AuditLog.resource_type, q.resource_type), (AuditLog.resource_id, q.resource_id))
    )
    rows, cursor = await call.runtime.database.read(
        lambda connection: fetch_page(
            connection, selected(AuditLog), _KEYSET, q, lambda r: (r["timestamp"], r["id"]), filters
        )
    )
    return page_of(list(rows), cursor)
