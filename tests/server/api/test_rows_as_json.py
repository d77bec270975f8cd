"""The long lists write their pages straight from the driver rows (`Wire.rows_as_json`): the same
JSON as validating each row with its model and dumping that, on real rows of every such table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from pydantic import TypeAdapter

from server.api.events import SearchHit
from server.api.pagination import Page
from server.api.registry import ResponseMismatch, _rows_page
from server.api.rows import fetch_all, selected
from server.models import Alert, AuditLog, Base, Detection, Event, Log
from server.runtime import Runtime
from server.wire import AlertOut, AuditEntry, DetectionOut, EventOut, LogOut, Wire

from .conftest import Seeded

TABLES: list[tuple[type[Wire], type[Base]]] = [
    (EventOut, Event),
    (DetectionOut, Detection),
    (AlertOut, Alert),
    (LogOut, Log),
    (AuditEntry, AuditLog),
]


async def _add_log_and_audit_rows(runtime: Runtime) -> None:
    """Rows with every optional column empty and with each one filled (JSON documents included)."""
    at = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    async with runtime.database.sessions() as session:
        session.add_all(
            [
                Log(level="INFO", component="api", message="bare", source="backend"),
                Log(
                    timestamp=at,
                    level="ERROR",
                    component="pipeline",
                    message="with everything: \u00e9\u4e2d \"quoted\"",
                    camera_id="front_door",
                    event_id=1,
                    detection_id=2,
                    request_id=str(uuid.uuid4()),
                    duration_ms=12,
                    extra={"nested": {"list": [1, 2.5, None, "x"]}, "flag": True},
                    source="frontend",
                    user_agent="curl/8",
                ),
                AuditLog(action="create", resource_type="rule", actor="api", status="success"),
                AuditLog(
                    timestamp=at,
                    action="update",
                    resource_type="event",
                    resource_id="7",
                    actor="key:1",
                    ip_address="::1",
                    user_agent="HA",
                    details={"changes": {"reviewed": [False, True]}},
                    status="failure",
                ),
            ]
        )
        await session.commit()


@pytest.mark.parametrize(("model", "table"), TABLES, ids=[model.__name__ for model, _ in TABLES])
async def test_rows_written_as_validation_would(
    runtime: Runtime, seeded: Seeded, model: type[Wire], table: type[Base]
) -> None:
    await _add_log_and_audit_rows(runtime)
    async with runtime.database.reader.connect() as connection:
        rows = await fetch_all(connection, selected(table))
    assert len(rows) >= 2  # the seed (or the rows above) gave this table rows to compare
    adapter = TypeAdapter(Page[model])  # type: ignore[valid-type]
    page = {"items": rows, "next_cursor": "next"}
    validated = orjson.loads(adapter.dump_json(adapter.validate_python(page), exclude_unset=True))
    assert orjson.loads(_rows_page(model, page, "test")) == validated


async def test_a_statement_without_a_field_of_the_shape_is_a_server_bug(
    runtime: Runtime, seeded: Seeded
) -> None:
    async with runtime.database.reader.connect() as connection:
        rows = await fetch_all(connection, selected(Event).with_only_columns(Event.id, Event.camera_id))
    with pytest.raises(ResponseMismatch, match="batch_id"):
        _rows_page(EventOut, {"items": rows, "next_cursor": None}, "test")


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/api/events", EventOut),
        ("/api/events/search?q=person", SearchHit),
        ("/api/detections", DetectionOut),
        ("/api/alerts", AlertOut),
        ("/api/logs", LogOut),
        ("/api/audit", AuditEntry),
    ],
)
async def test_pages_served_from_rows_keep_their_declared_shape(
    runtime: Runtime, client: TestClient, seeded: Seeded, path: str, model: type[Wire]
) -> None:
    await _add_log_and_audit_rows(runtime)
    response = await client.get(path)
    assert response.status == 200
    body: dict[str, Any] = orjson.loads(await response.read())
    assert body["items"]
    adapter = TypeAdapter(Page[model])  # type: ignore[valid-type]
    assert orjson.loads(adapter.dump_json(adapter.validate_python(body))) == body
