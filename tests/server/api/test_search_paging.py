"""Search pages never repeat an event when a newer match arrives between two pages (a review's finding).

`/api/events/search` ranks "window by window": the SEARCH_WINDOW newest matches, then the next older
ones. The first window had no bound of its own (its cursor held `None` for it), so it was recomputed
from "now" on every page: a newer match pushed the oldest match of window 1 into window 2, and if that
one was already returned (it ranked highest), it was returned again. The pipeline inserts events all
the time. The cursor now carries the newest event id of the first page: later events wait for a new
search.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from server.api import events as events_api
from server.models import Camera, Event
from server.runtime import Runtime


async def _event(runtime: Runtime, started_at: datetime, summary: str, event_id: int | None = None) -> int:
    async with runtime.database.sessions() as session:
        event = Event(
            id=event_id,
            batch_id=str(uuid.uuid4()),
            camera_id="porch",
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=10),
            risk_score=50,
            risk_level="medium",
            summary=summary,
            reasoning="",
            detection_ids=json.dumps([]),
            object_types=json.dumps(["person"]),
            analysis_backend="rules",
        )
        session.add(event)
        await session.commit()
        return event.id


async def test_search_pages_never_repeat_an_event_when_a_newer_match_arrives(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_api, "SEARCH_WINDOW", 3)  # 200 in production: same logic, fewer rows
    async with runtime.database.sessions() as session:
        session.add(Camera(id="porch", name="Porch", folder_path=str(runtime.settings.cameras_dir / "porch")))
        await session.commit()
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    # The oldest of the first window ranks highest, so it is the first page's hit.
    oldest = await _event(runtime, base, "burglar burglar burglar burglar at the door")
    for minute in (1, 2):
        await _event(runtime, base + timedelta(minutes=minute), "burglar")

    seen: list[int] = []
    first = await (await client.get("/api/events/search", params={"q": "burglar", "limit": 1})).json()
    seen += [hit["id"] for hit in first["items"]]
    assert seen == [oldest]
    cursor = first["next_cursor"]
    # A new matching event is stored while the client reads the first page.
    await _event(runtime, base + timedelta(minutes=3), "burglar")
    while cursor:
        page = await (
            await client.get("/api/events/search", params={"q": "burglar", "limit": 1, "cursor": cursor})
        ).json()
        seen += [hit["id"] for hit in page["items"]]
        cursor = page["next_cursor"]
        assert len(seen) < 20
    assert len(seen) == len(set(seen)) == 3, f"an event came back twice across pages: {seen}"


async def test_search_pages_never_repeat_an_event_committed_out_of_id_order(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor keeps out events stored after the first page by their id (`id <= newest id at the
    first page`). Ids are taken at INSERT and become visible at COMMIT: with two writers (two analyze
    workers, the API and a worker) an event holding a lower id commits after one with a higher id. Such
    an event, newer by `started_at`, entered the first window on page 2 and pushed the window's oldest
    match, already returned, into the next window, where it was returned again ([100, 300, 250, 200,
    100]). A window keeps the bounds it was first read with."""
    monkeypatch.setattr(events_api, "SEARCH_WINDOW", 3)
    async with runtime.database.sessions() as session:
        session.add(Camera(id="porch", name="Porch", folder_path=str(runtime.settings.cameras_dir / "porch")))
        await session.commit()
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    oldest = await _event(runtime, base, "burglar burglar burglar burglar at the door", 100)
    await _event(runtime, base + timedelta(minutes=1), "burglar", 200)
    await _event(runtime, base + timedelta(minutes=2), "burglar", 300)

    first = await (await client.get("/api/events/search", params={"q": "burglar", "limit": 1})).json()
    seen = [hit["id"] for hit in first["items"]]
    assert seen == [oldest]
    cursor = first["next_cursor"]
    # A writer that took id 250 before the first page was read commits now.
    await _event(runtime, base + timedelta(minutes=3), "burglar", 250)
    while cursor:
        page = await (
            await client.get("/api/events/search", params={"q": "burglar", "limit": 1, "cursor": cursor})
        ).json()
        seen += [hit["id"] for hit in page["items"]]
        cursor = page["next_cursor"]
        assert len(seen) < 20
    assert len(seen) == len(set(seen)), f"an event came back twice across pages: {seen}"
    assert set(seen) >= {100, 200, 300}
