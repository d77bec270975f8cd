"""Logs: list and filter the `logs` table; clients (Home Assistant, scripts) POST their own lines."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.pagination import DbId, Keyset, Page, TimeRangeQuery, Where, fetch_page, page_of
from server.api.rows import selected
from server.api.state import REQUEST_ID
from server.logs import USER_AGENT_MAX
from server.models import Log
from server.storable import storable_or_none
from server.wire import LogOut

routes = Routes("logs")

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


#: A client names itself (`ha`, `frontend`, `script`); `backend` is reserved for the server's own lines.
def _not_backend(value: str) -> str:
    if value == "backend":
        raise ValueError("'backend' is reserved for the server's own log lines")
    return value


ClientSource = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,9}$"), AfterValidator(_not_backend)
]


class LogQuery(TimeRangeQuery):
    level: Level | None = Field(None, description="Exactly this level.")
    min_level: Level | None = Field(None, description="This level or more severe.")
    component: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=10)
    camera_id: CameraId | None = None
    event_id: DbId | None = None
    request_id: str | None = Field(None, max_length=36)
    q: str | None = Field(None, min_length=1, max_length=200, description="Substring of the message.")


_ORDER = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_KEYSET = Keyset("logs", (Log.timestamp, Log.id), (datetime, DbId))


@routes.get("/api/logs", summary="List log lines", query=LogQuery, response=Page[LogOut])
async def list_logs(call: Call) -> dict[str, Any]:
    """Newest first."""
    q: LogQuery = call.query
    pattern = None
    if q.q is not None:
        escaped = q.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
    filters = (
        Where()
        .time_range(Log.timestamp, q)
        .equal((Log.level, q.level), (Log.component, q.component), (Log.source, q.source))
        .equal((Log.camera_id, q.camera_id), (Log.event_id, q.event_id), (Log.request_id, q.request_id))
        .choice("min_level", q.min_level, lambda level: Log.level.in_(_ORDER[_ORDER.index(level) :]))
        .value("message", pattern, lambda like: Log.message.ilike(like, escape="\\"), Log.message.expression.type)
    )
    rows, cursor = await call.runtime.database.read(
        lambda connection: fetch_page(
            connection, selected(Log), _KEYSET, q, lambda r: (r["timestamp"], r["id"]), filters
        )
    )
    return page_of(list(rows), cursor)


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """`value` if the database stores it as it is: JSONB refuses integers beyond 64 bits (a 500
    before), and would store NaN or an infinity as null."""
    try:
        same = orjson.loads(orjson.dumps(value)) == value
    except (orjson.JSONEncodeError, TypeError):
        same = False
    if not same:
        raise ValueError("must be plain JSON the database can store: finite numbers, integers within 64 bits")
    return value


class ClientLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level = "INFO"
    message: str = Field(min_length=1, max_length=10_000)
    source: ClientSource = Field(description="Who logs: e.g. `ha`, `frontend` (not `backend`).")
    component: str = Field("client", min_length=1, max_length=50)
    camera_id: CameraId | None = None
    event_id: DbId | None = None
    detection_id: DbId | None = None
    extra: Annotated[dict[str, Any], AfterValidator(_storable)] | None = None


@routes.post(
    "/api/logs", summary="Record a client-side log line", body=ClientLog, response=LogOut, status=201
)
async def create_log(call: Call) -> dict[str, Any]:
    """Written at once (not batched): the client wants to see its line in the list right away."""
    body: ClientLog = call.body
    row = Log(
        **body.model_dump(),
        request_id=call.request.get(REQUEST_ID),
        user_agent=storable_or_none(call.request.headers.get("User-Agent"), USER_AGENT_MAX),
    )
    async with call.runtime.database.sessions() as session:
        session.add(row)
        await session.commit()
        return LogOut.dump(row)
