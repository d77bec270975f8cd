"""The read API at its edges: stats days in zones PostgreSQL could take for abbreviations, empty and
contradictory filters, paging across shared instants and inserts, bad query values, conditional ranges."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.api import events as events_api
from server.models import Camera, Detection, Event
from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of


async def _camera(runtime: Runtime, camera_id: str = "porch") -> None:
    async with runtime.database.sessions() as session:
        session.add(
            Camera(id=camera_id, name=camera_id, folder_path=str(runtime.settings.cameras_dir / camera_id))
        )
        await session.commit()


async def _event(
    runtime: Runtime,
    started_at: datetime,
    summary: str = "a person",
    score: int | None = 50,
    object_types: str | None = '["person"]',
) -> int:
    async with runtime.database.sessions() as session:
        event = Event(
            batch_id=str(uuid.uuid4()),
            camera_id="porch",
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=10),
            risk_score=score,
            summary=summary,
            reasoning="",
            detection_ids=json.dumps([]),
            object_types=object_types,
            analysis_backend="rules",
        )
        session.add(event)
        await session.commit()
        return event.id


async def _ok(response: Any) -> Any:
    body = await response.json()
    assert response.status == 200, body
    return body


# --- stats by day in a time zone ------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"object_type": "person"}], ids=["rollup", "events"])
@pytest.mark.parametrize("zone", ["CET", "EET", "MET", "WET"])
async def test_stats_days_in_an_iana_zone_that_shares_its_name_with_an_abbreviation(
    runtime: Runtime, client: TestClient, zone: str, extra: dict
) -> None:
    """`timezone` is validated as an IANA name (Python's zoneinfo), whose CET/EET/MET/WET keep summer
    time; PostgreSQL's timezone() looks the name up in its abbreviation table first, where they are
    fixed offsets. An event at 22:30 UTC on 1 July is on 2 July in CET (CEST, +02:00) but is counted on
    1 July (or, for WET, on the wrong side of the midnight that WEST moves)."""
    from zoneinfo import ZoneInfo

    await _camera(runtime)
    # 00:30 local on 2 July in each zone's summer time (CEST/MEST +2, EEST +3, WEST +1); PostgreSQL's
    # abbreviations are CET/MET +1, EET +2, WET 0: 23:30 on 1 July.
    at = datetime(2025, 7, 1, {"WET": 23, "EET": 21}.get(zone, 22), 30, tzinfo=UTC)
    await _event(runtime, at)
    want = at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
    assert want == "2025-07-02"
    stats = await _ok(await client.get("/api/events/stats", params={"timezone": zone, **extra}))
    assert stats["by_day"] == [{"day": want, "count": 1}], (
        f"stats with timezone={zone} put an event of {at.isoformat()} (local {want}) on {stats['by_day']}: "
        "PostgreSQL read the zone name as a fixed-offset abbreviation"
    )


# --- filters that return wrong rows ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/events", "/api/detections", "/api/events/stats"])
async def test_an_empty_object_type_filter_is_refused(
    runtime: Runtime, client: TestClient, path: str
) -> None:
    """`object_type=` (empty) matched every event (the split of '["person"]' holds empty strings at
    both ends) and no detection: it is refused on every endpoint instead."""
    await _camera(runtime)
    await _event(runtime, datetime(2025, 7, 1, 12, tzinfo=UTC))
    response = await client.get(path, params={"object_type": " "})
    error = await error_of(response, 422)
    assert "object_type" in str(error), error


async def test_contradictory_risk_filters_are_empty_not_an_error(client: TestClient, seeded: Seeded) -> None:
    for params in (
        {"min_risk": 60, "max_risk": 29},
        {"risk_level": "low", "min_risk": 30},
        {"risk_level": "critical", "max_risk": 84},
    ):
        listed = await _ok(await client.get("/api/events", params=params))
        stats = await _ok(await client.get("/api/events/stats", params=params))
        assert listed["items"] == [] and stats["total"] == 0, (params, listed, stats)


async def test_stats_agree_with_the_list_for_band_edge_scores(client: TestClient, seeded: Seeded) -> None:
    for params in (
        {"min_risk": 30},
        {"max_risk": 59},
        {"min_risk": 0, "max_risk": 100},
        {"min_risk": 30, "max_risk": 84, "camera_id": "backyard"},
        {"risk_level": "medium", "camera_id": "front_door", "object_type": "person"},
    ):
        listed = await _ok(await client.get("/api/events", params={**params, "limit": 500}))
        stats = await _ok(await client.get("/api/events/stats", params=params))
        assert stats["total"] == len(listed["items"]), (params, stats, len(listed["items"]))


# --- pagination -----------------------------------------------------------------------------------


async def test_events_pages_with_shared_timestamps_and_inserts_between_pages(
    runtime: Runtime, client: TestClient
) -> None:
    await _camera(runtime)
    at = datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    ids = [await _event(runtime, at) for _ in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "since": "2025-03-30T03:30:00+02:00"}
        if cursor:
            params["cursor"] = cursor
        page = await _ok(await client.get("/api/events", params=params))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        await _event(runtime, at)  # a newer id at the same instant, between pages
        if not cursor:
            break
    assert set(ids) <= set(seen) and len(set(seen)) == len(seen), seen


async def test_search_pages_over_several_windows_return_every_match_once(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_api, "SEARCH_WINDOW", 3)
    await _camera(runtime)
    at = datetime(2025, 1, 1, 12, tzinfo=UTC)
    ids = []
    for n in range(11):
        ids.append(await _event(runtime, at + timedelta(minutes=n // 3), "burglar " * (1 + n % 4)))
    for limit in (1, 2, 3, 4, 5):
        seen: list[int] = []
        cursor = None
        for _ in range(30):
            params: dict[str, Any] = {"q": "burglar", "limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await _ok(await client.get("/api/events/search", params=params))
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(ids), f"limit {limit}: {seen}"


# --- bad parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/detections", {"min_confidence": "nan"}),
        ("/api/detections", {"min_confidence": "inf"}),
        ("/api/events", {"min_risk": "nan"}),
        ("/api/events", {"limit": "1e3"}),
        ("/api/events", {"limit": "-1"}),
        ("/api/events", {"limit": "99999999999999999999999"}),
        ("/api/events", {"since": "2025-01-01T00:00:00"}),
        ("/api/events", {"since": "nan"}),
        ("/api/events", {"risk_level": "LOW"}),
        ("/api/events", {"camera_id": "x" * 5000}),
        ("/api/events/search", {"q": "x" * 501}),
        (
            "/api/events/search",
            {"q": "a", "cursor": "eyJrIjoic2VhcmNoIiwidiI6W251bGwsbnVsbCxudWxsLG51bGwsIk5hTiIsMSwxXX0"},
        ),
        ("/api/events/stats", {"timezone": "Not/AZone"}),
        ("/api/events/export", {"limit": "0"}),
        ("/api/detections", {"media_type": "audio"}),
        ("/api/detections", {"stationary": "maybe"}),
    ],
)
async def test_bad_query_values_are_precise_4xx(
    client: TestClient, seeded: Seeded, path: str, params: dict
) -> None:
    response = await client.get(path, params=params)
    assert 400 <= response.status < 500, f"{path} {params}: {response.status} {await response.text()}"
    await error_of(response, response.status)


async def test_search_with_only_operators_or_stop_words(client: TestClient, seeded: Seeded) -> None:
    for q in ("the", "-", '"', "or", "!!", "a & b | c", "(((", "'", "\\", ":*", "<->"):
        response = await client.get("/api/events/search", params={"q": q})
        assert response.status == 200, (q, response.status, await response.text())


# --- media ----------------------------------------------------------------------------------------


async def test_event_clip_conditional_and_range(client: TestClient, seeded: Seeded) -> None:
    event_id = seeded.events[3]
    full = await client.get(f"/api/events/{event_id}/clip")
    body = await full.read()
    etag = full.headers["ETag"]
    again = await client.get(f"/api/events/{event_id}/clip", headers={"If-None-Match": etag})
    assert again.status == 304
    part = await client.get(f"/api/events/{event_id}/clip", headers={"Range": "bytes=-10", "If-Range": etag})
    assert part.status == 206 and await part.read() == body[-10:]
    huge = await client.get(f"/api/events/{event_id}/clip", headers={"Range": f"bytes={len(body)}-"})
    assert huge.status == 416


@pytest.mark.parametrize("validator", ["not-a-validator", "Tue, 99 Foo 2025 25:61:61 GMT"])
async def test_an_if_range_that_names_no_validator_gets_the_whole_file(
    client: TestClient, seeded: Seeded, validator: str
) -> None:
    """RFC 9110 13.1.5: an If-Range that is neither an entity tag nor an HTTP date is a false
    condition, the Range is ignored and the whole file sent (the client cannot know its copy is this
    file). Here an unparsable If-Range counts as "no If-Range" and a 206 part is sent."""
    event_id = seeded.events[3]
    response = await client.get(
        f"/api/events/{event_id}/clip", headers={"Range": "bytes=0-9", "If-Range": validator}
    )
    assert response.status == 200, (
        f"If-Range: {validator!r} (no validator of this file) answered {response.status} with "
        f"{len(await response.read())} bytes: a client splices a part of a file it cannot know is its own"
    )


# --- a camera's latest detection ------------------------------------------------------------------


async def test_a_cameras_latest_detection_is_its_newest_moving_one(runtime: Runtime, client: TestClient) -> None:
    """A car parked in the drive is detected (stationary) at every upload: the camera's latest detection,
    the picture Home Assistant shows, stays the person who walked by, as the push already keeps it."""
    await _camera(runtime)
    at = datetime(2025, 7, 1, 12, tzinfo=UTC)
    async with runtime.database.sessions() as session:
        rows = [
            Detection(
                camera_id="porch", file_path=f"/c/{n}.jpg", file_type="image/jpeg", detected_at=at + timedelta(seconds=n),
                object_type=kind, confidence=0.9, bbox_x=1, bbox_y=1, bbox_width=9, bbox_height=9, stationary=parked,
            )
            for n, (kind, parked) in enumerate([("car", True), ("person", False), ("car", True), ("car", True)])
        ]  # fmt: skip
        session.add_all(rows)
        await session.commit()
        person = rows[1].id
    camera = await _ok(await client.get("/api/cameras/porch"))
    listed = await _ok(await client.get("/api/cameras"))
    assert camera["last_detection_id"] == person, (
        f"the camera's latest detection is {camera['last_detection_id']}, a parked car, not the person {person}"
    )
    assert [c["last_detection_id"] for c in listed["items"]] == [person]
