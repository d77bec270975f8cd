"""Instants that pass `AwareDatetime` but fall outside what UTC (Python's datetime) can hold, and time
zones Python knows but PostgreSQL does not, are precise 4xx errors (a review's findings).

`0001-01-01T00:00:00+01:00` is 31 Dec of year 0 in UTC; `9999-12-31T23:30:00Z` has no next whole
hour. Lists on the asyncpg fast path answered 422 (`invalid_value`); the routes below answered 500, or
a 200 cut short. Every instant a request names now lies within `pagination.Instant`'s range.
"""

from __future__ import annotations

import base64
import json
import zoneinfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.server.api.conftest import Seeded, error_of

BEFORE_YEAR_1_UTC = "0001-01-01T00:00:00+01:00"
AFTER_YEAR_9999_UTC = "9999-12-31T23:59:59-01:00"


def _cursor(name: str, values: list) -> str:
    raw = json.dumps({"k": name, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _is_4xx_json(response: aiohttp.ClientResponse) -> None:
    body = await response.json()
    assert 400 <= response.status < 500, (response.status, body)
    assert set(body) == {"error"}, body


async def test_search_since_out_of_utc_range_is_4xx(client: TestClient, seeded: Seeded) -> None:
    response = await client.get("/api/events/search", params={"q": "person", "since": BEFORE_YEAR_1_UTC})
    await _is_4xx_json(response)


async def test_search_cursor_out_of_utc_range_is_400(client: TestClient, seeded: Seeded) -> None:
    cursor = _cursor("search", [BEFORE_YEAR_1_UTC, 1, None, None])
    response = await client.get("/api/events/search", params={"q": "person", "cursor": cursor})
    await _is_4xx_json(response)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "9999-12-31T23:30:00+00:00"},  # _ceil: the next whole hour overflows
        {"since": BEFORE_YEAR_1_UTC},  # _floor: astimezone(UTC) overflows
        {"until": AFTER_YEAR_9999_UTC},
    ],
)
async def test_stats_extreme_bounds_are_4xx(client: TestClient, seeded: Seeded, params: dict) -> None:
    await _is_4xx_json(await client.get("/api/events/stats", params=params))


async def test_export_since_out_of_utc_range_is_4xx_not_a_cut_200(
    client: TestClient, seeded: Seeded
) -> None:
    response = await client.get("/api/events/export", params={"since": BEFORE_YEAR_1_UTC})
    # Before: 200 with headers sent, then the body was cut short (ClientPayloadError on read).
    assert response.status != 200, "export started a 200 for input the database then refused"
    await _is_4xx_json(response)


async def test_audit_resource_filter_with_out_of_range_since_is_4xx(
    client: TestClient, seeded: Seeded
) -> None:
    # `resource_id` is rendered literally (equal_planned), so the page runs through SQLAlchemy, whose
    # asyncpg dialect maps the driver's DataError to a plain DBAPIError: it was not caught as a 422.
    response = await client.get("/api/audit", params={"resource_id": "x", "since": BEFORE_YEAR_1_UTC})
    await _is_4xx_json(response)


@pytest.mark.parametrize("detected_at", [BEFORE_YEAR_1_UTC, "9999-12-31T23:59:59-14:00"])
async def test_preview_with_out_of_range_detected_at_is_422(
    client: TestClient, seeded: Seeded, detected_at: str
) -> None:
    body = {
        "camera_id": "front_door",
        "detections": [
            {
                "object_type": "person",
                "confidence": 0.9,
                "bbox": {"x": 0, "y": 0, "width": 10, "height": 10},
                "image_width": 100,
                "image_height": 100,
                "detected_at": detected_at,
            }
        ],
    }
    await error_of(await client.post("/api/analysis/preview", json=body), 422)


@pytest.mark.parametrize("extra", [{}, {"object_type": "person"}], ids=["rollup", "events"])
@pytest.mark.parametrize("timezone", ["right/UTC", "posix/UTC", "posixrules"])
async def test_stats_timezone_postgres_does_not_know_is_422_validation_error(
    client: TestClient, seeded: Seeded, timezone: str, extra: dict
) -> None:
    """`TimezoneName` asked Python's zoneinfo (the host's /usr/share/zoneinfo, which has right/ and
    posix/ trees); the statement hands the name to PostgreSQL's timezone(), which refused it: a 422
    `invalid_value` on the rollup path, a 500 on the events path (`object_type` given)."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except Exception:
        pytest.skip(f"this host's zoneinfo has no {timezone}")
    response = await client.get("/api/events/stats", params={"timezone": timezone, **extra})
    error = await error_of(response, 422)
    assert error["code"] == "validation_error" and error["details"][0]["field"] == "timezone", error
