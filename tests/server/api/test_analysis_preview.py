"""`POST /api/analysis/preview`: scored in the home timezone unless told otherwise, 404 for an unknown camera."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.server.api.conftest import error_of

#: Summer there (UTC+13): 02:10 UTC is mid-afternoon at home, deep night in UTC.
HOME = "Pacific/Auckland"


@pytest.fixture
def home_in_auckland(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's home timezone (TZ, as Home Assistant's Supervisor sets it), before its settings load."""
    monkeypatch.setenv("TZ", HOME)


def _batch(camera_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "detections": [
            {
                "object_type": "person",
                "confidence": 0.93,
                "bbox": {"x": 300, "y": 200, "width": 80, "height": 200},
                "image_width": 640,
                "image_height": 480,
                "detected_at": "2025-12-31T02:10:00Z",
            }
        ],
        **extra,
    }


async def test_preview_reads_the_time_of_day_in_the_home_timezone_by_default(
    home_in_auckland: None, client: TestClient
) -> None:
    camera = await (await client.post("/api/cameras", json={"name": "Porch"})).json()

    async def score(**extra: Any) -> int:
        response = await client.post("/api/analysis/preview", json=_batch(camera["id"], **extra))
        body = await response.json()
        assert response.status == 200, body
        return int(body["risk_score"])

    at_home, in_utc = await score(timezone=HOME), await score(timezone="UTC")
    assert in_utc > at_home  # the rules add points at night
    assert await score() == at_home


async def test_preview_of_an_unknown_camera_is_a_404(client: TestClient) -> None:
    error = await error_of(await client.post("/api/analysis/preview", json=_batch("nowhere")), 404)
    assert error["code"] == "not_found" and "nowhere" in error["message"]
