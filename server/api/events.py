"""Events: list with filters, full-text search, statistics, export, review, and their media.

Reads go through `Database.read` (autocommit, Core rows, see server/api/rows.py). Every list is newest
first with ties by id, and each filter combination reads one index range: `(started_at, id)`,
`(camera_id, started_at, id)`, the unreviewed partial index, or the object types' GIN index.
"""

from __future__ import annotations

import csv
import io
import json
import operator
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat
from sqlalchemy import ARRAY, Integer, Select, Text, any_, bindparam, func, not_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from server.alerts.schedule import TimezoneName
from server.analyze.risk import RiskLevel, band_bounds
from server.api.audit import record
from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.detections import DetectionQuery, ObjectTypeFilter, page_of_detections
from server.api.errors import ApiError, not_found
from server.api.event_counts import UNSCORED, count_events
from server.api.media import file_response
from server.api.pagination import DbId, Keyset, Page, PageQuery, TimeRange, Where, fetch_page, page_of
from server.api.rows import fetch_all, first, selected
from server.models import SEARCH_CONFIG, AuditAction, Detection, Event, object_types_of
from server.pipeline import broadcast
from server.wire import DetectionOut, EventOut, json_list

routes = Routes("events")

#: `{event_id}` only matches digits, so `/api/events/search|stats|export` are never taken for an id.
EVENT = "/api/events/{event_id:\\d+}"


class EventPath(BaseModel):
    event_id: DbId


class EventFilters(TimeRange):
    """The filters shared by list, search, stats and export (`since`/`until` on `started_at`)."""

    camera_id: CameraId | None = None
    risk_level: RiskLevel | None = None
    min_risk: int | None = Field(None, ge=0, le=100, description="Lowest risk score.")
    max_risk: int | None = Field(None, ge=0, le=100, description="Highest risk score.")
    reviewed: bool | None = None
    object_type: ObjectTypeFilter | None = Field(None, description="Events that include this object type.")


class EventQuery(PageQuery, EventFilters):
    pass


_TEXT_ARRAY = ARRAY(Text())


def event_filters(q: EventFilters) -> Where:
    """The filters shared by list, search, stats and export."""
    # The risk band from the score, the one source of truth (risk_level is derived from it).
    low, high = band_bounds(q.risk_level) if q.risk_level is not None else (None, None)
    object_types = [q.object_type] if q.object_type is not None else None
    return (
        Where()
        .time_range(Event.started_at, q)
        .compare(Event.camera_id, q.camera_id)
        .compare(Event.risk_score, low, operator.ge, "band_low")
        .compare(Event.risk_score, high, operator.le, "band_high")
        .compare(Event.risk_score, q.min_risk, operator.ge, "min_risk")
        .compare(Event.risk_score, q.max_risk, operator.le, "max_risk")
        # `NOT reviewed` is the partial index's own predicate (`reviewed IS false` would not match it).
        .choice("reviewed", q.reviewed, lambda reviewed: Event.reviewed if reviewed else not_(Event.reviewed))
        .value(
            "object_types",
            object_types,
            lambda parameter: object_types_of(Event.object_types).contains(parameter),
            _TEXT_ARRAY,
        )
    )


def filtered(statement: Select[Any], q: EventFilters) -> Select[Any]:
    """`statement` with the filters of `q` (for statements built per request)."""
    return statement.where(*event_filters(q).clauses())


_KEYSET = Keyset("events", (Event.started_at, Event.id), (datetime, DbId))


@routes.get("/api/events", summary="List events", query=EventQuery, response=Page[EventOut])
async def list_events(call: Call) -> dict[str, Any]:
    """Newest first; filters combine with AND."""
    filters = event_filters(call.query)

    async def page(connection: AsyncConnection) -> tuple[list[Any], str | None]:
        return await fetch_page(
            connection, selected(Event), _KEYSET, call.query, lambda e: (e["started_at"], e["id"]), filters
        )

    rows, cursor = await call.runtime.database.read(page)
    return page_of(list(rows), cursor)


class SearchQuery(EventQuery):
    q: str = Field(
        min_length=1,
        max_length=500,
        description='Web-search syntax: words (AND), "quoted phrase", `or`, `-excluded`.',
    )


class SearchHit(EventOut):
    rank: float = Field(description="Relevance (higher first).")


#: How many of the newest matches are ranked together. Ranking every match of a common word at a year's
#: scale costs seconds; ranking the newest few hundred costs a millisecond and shows what a person looks
#: for first (the recent events that match), most relevant first.
SEARCH_WINDOW = 200

#: Search cursors: the window (the older-than bound of its newest match, none for the first; and its
#: oldest match as first read, none when the next page starts a window), the last hit returned within
#: it (its rank and id; none when the next page starts a window), and the newest event id when the first
#: page was read: events stored while a client pages are left out, or a newer match would push one
#: already returned into the next window, to be returned again. A window keeps the bounds it was first
#: read with, so an event committed late with an older id (two writers) may join it but never pushes a
#: match already returned into the next one. (The newest id is 0 while there are no events.)
_NEWEST_ID = Annotated[int, Field(ge=0, le=2**31 - 1)]
_SEARCH_CURSOR = Keyset(
    "search",
    (),
    (
        datetime | None,
        DbId | None,
        datetime | None,
        DbId | None,
        FiniteFloat | None,
        DbId | None,
        _NEWEST_ID,
    ),
)


@routes.get(
    "/api/events/search", summary="Full-text search of events", query=SearchQuery, response=Page[SearchHit]
)
async def search_events(call: Call) -> dict[str, Any]:
    """Most relevant first among the newest matches, window by window: the 200 newest matches ranked
    by relevance over summary, object types, reasoning and notes, then the next 200 older ones, and so
    on. Web-search syntax (`websearch_to_tsquery`): words, "phrases", `or`, `-word`."""
    q: SearchQuery = call.query
    # The text is rendered into the statement, not bound: the planner then sees the words (and how
    # common they are) and chooses between walking the newest events and the GIN index per query;
    # a prepared statement's generic plan would guess, and guess badly for the common words.
    tsquery = func.websearch_to_tsquery(SEARCH_CONFIG, bindparam("q", q.q, literal_execute=True))
    rank = func.ts_rank(Event.search_vector, tsquery).label("rank")
    matches = filtered(select(Event.id, Event.started_at, rank), q).where(Event.search_vector.op("@@")(tsquery))
    start: tuple[Any, Any] = (None, None)
    start_low: tuple[Any, Any] | None = None
    start_after: tuple[float, int] | None = None
    newest_id: int | None = None
    if q.cursor:
        started_at, event_id, low_at, low_id, last_rank, last_id, newest_id = _SEARCH_CURSOR.decode(q.cursor)
        start = (started_at, event_id)
        start_low = (low_at, low_id) if low_at is not None and low_id is not None else None
        start_after = (last_rank, last_id) if last_rank is not None and last_id is not None else None

    async def search(connection: AsyncConnection) -> dict[str, Any]:
        # From the cursor again if `read` retries on a fresh connection.
        window, low, after = start, start_low, start_after
        ceiling = newest_id
        if ceiling is None:
            ceiling = await connection.scalar(select(func.coalesce(func.max(Event.id), 0)))
        hits: list[Any] = []
        next_cursor = None
        while True:
            statement = matches.where(Event.id <= ceiling)
            if window[0] is not None:
                statement = statement.where(tuple_(Event.started_at, Event.id) < tuple_(*window))
            statement = statement.order_by(Event.started_at.desc(), Event.id.desc())
            if low is not None:  # the window as first read: from its oldest match on
                statement = statement.where(tuple_(Event.started_at, Event.id) >= tuple_(*low))
            else:
                statement = statement.limit(SEARCH_WINDOW)
            candidates = list(await connection.execute(statement))
            # Older matches may follow: this window was full when first read.
            more = low is not None or len(candidates) == SEARCH_WINDOW
            if low is None and candidates:
                low = (candidates[-1].started_at, candidates[-1].id)
            ranked = sorted(candidates, key=lambda row: (row.rank, row.id), reverse=True)
            if after is not None:
                ranked = [row for row in ranked if (row.rank, row.id) < after]
            wanted = q.limit - len(hits)
            hits += ranked[:wanted]
            if len(ranked) > wanted:
                bounds = [*window, *(low or (None, None))]  # low: set, a hit was taken from this window
                next_cursor = _SEARCH_CURSOR.encode([*bounds, hits[-1].rank, hits[-1].id, ceiling])
                break
            if not more or low is None:
                break
            window, low, after = low, None, None
            if len(hits) == q.limit:
                next_cursor = _SEARCH_CURSOR.encode([*window, None, None, None, None, ceiling])
                break
        events = {}
        if hits:
            ids = bindparam("ids", [hit.id for hit in hits], ARRAY(Integer))
            found = await fetch_all(connection, selected(Event).where(Event.id == any_(ids)))
            events = {row["id"]: row for row in found}
        hits = [hit for hit in hits if hit.id in events]  # removed meanwhile
        shaped = EventOut.json_rows([events[hit.id] for hit in hits])
        items = [{**event, "rank": float(hit.rank)} for event, hit in zip(shaped, hits, strict=True)]
        return page_of(items, next_cursor)

    return await call.runtime.database.read(search)


class StatsQuery(EventFilters):
    timezone: TimezoneName = Field("UTC", description="IANA timezone the days of `by_day` are counted in.")


class CameraCount(BaseModel):
    camera_id: str
    count: int


class DayCount(BaseModel):
    day: str = Field(description="YYYY-MM-DD in the requested timezone.")
    count: int


class EventStats(BaseModel):
    total: int
    by_level: dict[str, int] = Field(description="Counts per risk level (unscored events under `unscored`).")
    by_camera: list[CameraCount]
    by_day: list[DayCount]


@routes.get(
    "/api/events/stats",
    summary="Event counts by level, camera and day",
    query=StatsQuery,
    response=EventStats,
)
async def event_stats(call: Call) -> dict[str, Any]:
    """Counted from the hourly rollup (server/api/event_counts.py): the same cost at any table size for
    whole hours; `object_type` or a `min_risk`/`max_risk` between band boundaries count events."""
    q: StatsQuery = call.query
    counts = await call.runtime.database.read(
        lambda connection: count_events(connection, filtered(select(Event.id), q), q)
    )
    by_level = {level.value: counts.by_level[level.value] for level in RiskLevel}
    if counts.by_level[UNSCORED]:
        by_level[UNSCORED] = counts.by_level[UNSCORED]
    return {
        "total": sum(by_level.values()),
        "by_level": by_level,
        "by_camera": [
            {"camera_id": camera, "count": count} for camera, count in sorted(counts.by_camera.items()) if count
        ],
        "by_day": [{"day": day, "count": count} for day, count in sorted(counts.by_day.items()) if count],
    }


class ExportQuery(EventFilters):
    format: Literal["csv", "json"] = "json"
    limit: int = Field(100_000, ge=1, le=1_000_000, description="Most events exported (newest first).")


EXPORT_COLUMNS = (
    "id",
    "camera_id",
    "started_at",
    "ended_at",
    "risk_score",
    "risk_level",
    "summary",
    "reasoning",
    "object_types",
    "detection_ids",
    "reviewed",
    "notes",
    "is_fast_path",
    "analysis_backend",
)


def _csv_cell(value: Any) -> Any:
    """Lists joined with `;`; text that a spreadsheet would run as a formula is quoted with `'`."""
    if isinstance(value, list):
        value = ";".join(str(item) for item in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@routes.get(
    "/api/events/export",
    summary="Export events as CSV or JSON (streamed)",
    query=ExportQuery,
    media=("text/csv", "application/json"),
    media_models={"application/json": list[EventOut]},
)
async def export_events(call: Call) -> web.StreamResponse:
    """Rows are streamed from a server-side cursor: memory stays flat whatever the size."""
    q: ExportQuery = call.query
    async with call.runtime.database.sessions() as session:
        record(
            session,
            call.request,
            AuditAction.MEDIA_EXPORTED,
            "events",
            None,
            details={"format": q.format, "filters": q.model_dump(mode="json", exclude_none=True)},
        )
        await session.commit()
    csv_format = q.format == "csv"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if csv_format else "application/json",
            "Content-Disposition": f'attachment; filename="events.{q.format}"',
        }
    )
    await response.prepare(call.request)
    statement = filtered(select(Event), q).order_by(Event.started_at.desc(), Event.id.desc()).limit(q.limit)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if csv_format:
        writer.writerow(EXPORT_COLUMNS)
    else:
        buffer.write("[")
    first = True
    async with call.runtime.database.sessions() as session:
        result = await session.stream(statement.execution_options(yield_per=1000))
        async for event in result.scalars():
            data = EventOut.dump(event)
            if csv_format:
                writer.writerow([_csv_cell(data[column]) for column in EXPORT_COLUMNS])
            else:
                buffer.write(("" if first else ",") + json.dumps(data, separators=(",", ":")))
            first = False
            if buffer.tell() > 64 * 1024:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
    if not csv_format:
        buffer.write("]")
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


@routes.get(EVENT, summary="Get an event", path_params=EventPath, response=EventOut)
async def read_event(call: Call) -> Any:
    event_id = call.path.event_id
    row = await call.runtime.database.read(
        lambda connection: first(connection, selected(Event).where(Event.id == event_id))
    )
    if row is None:
        raise not_found("event", event_id)
    return row


async def _event(session: Any, event_id: int, *, lock: bool = False) -> Event:
    event = await session.get(Event, event_id, with_for_update=lock)
    if event is None:
        raise not_found("event", event_id)
    return event


class EventUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewed: bool | None = None
    notes: str | None = Field(None, max_length=10_000)


@routes.patch(
    EVENT,
    summary="Mark reviewed and/or set notes",
    path_params=EventPath,
    body=EventUpdate,
    response=EventOut,
)
async def update_event(call: Call) -> dict[str, Any]:
    changes = call.body.model_dump(exclude_unset=True)
    if changes.get("reviewed", False) is None:
        raise ApiError(
            422,
            "validation_error",
            "reviewed cannot be null",
            [{"field": "reviewed", "message": "cannot be null", "in": "body"}],
        )
    async with call.runtime.database.sessions() as session:
        # Locked, so two reviews at once are one change: the second finds nothing to change.
        event = await _event(session, call.path.event_id, lock=True)
        # A review repeated (a retried service call, two people tapping "reviewed") changes nothing:
        # no audit row, no `event.updated` for automations to act on.
        changed = {name: value for name, value in changes.items() if getattr(event, name) != value}
        for name, value in changed.items():
            setattr(event, name, value)
        if changed:
            record(
                session,
                call.request,
                AuditAction.EVENT_REVIEWED,
                "event",
                event.id,
                details={"reviewed": event.reviewed, "notes_changed": "notes" in changed},
            )
        await session.commit()
        data = EventOut.dump(event)
    if changed:
        await broadcast.publish(call.runtime.redis, "event.updated", data)
    return data


@routes.get(
    EVENT + "/detections",
    summary="Detections of an event",
    path_params=EventPath,
    query=DetectionQuery,
    response=Page[DetectionOut],
)
async def event_detections(call: Call) -> dict[str, Any]:
    event_id = call.path.event_id

    async def page(connection: AsyncConnection) -> dict[str, Any]:
        event = await first(connection, select(Event.detection_ids).where(Event.id == event_id))
        if event is None:
            raise not_found("event", event_id)
        ids = [int(value) for value in json_list(event["detection_ids"])]
        of_event = Where().value("ids", ids, lambda parameter: Detection.id == any_(parameter), ARRAY(Integer()))
        return await page_of_detections(connection, call.query, of_event)

    return await call.runtime.database.read(page)


@routes.get(EVENT + "/clip", summary="Video clip of an event", path_params=EventPath, media=("video/mp4",))
async def event_clip(call: Call) -> web.StreamResponse:
    """Supports HTTP Range, so players can seek."""
    async with call.runtime.database.sessions() as session:
        event = await _event(session, call.path.event_id)
    return await file_response(call.runtime.settings, event.clip_path, "clip")


@routes.get(
    EVENT + "/thumbnail", summary="Thumbnail of an event", path_params=EventPath, media=("image/jpeg",)
)
async def event_thumbnail(call: Call) -> web.StreamResponse:
    """The thumbnail of the event's most confident detection."""
    async with call.runtime.database.sessions() as session:
        event = await _event(session, call.path.event_id)
        statement = (
            select(Detection.thumbnail_path)
            .where(Detection.id.in_(event.detection_id_list), Detection.thumbnail_path.is_not(None))
            .order_by(Detection.confidence.desc().nulls_last(), Detection.id)
            .limit(1)
        )
        path = (await session.execute(statement)).scalar_one_or_none()
    return await file_response(call.runtime.settings, path, "thumbnail")
