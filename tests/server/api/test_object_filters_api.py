"""Object filters and masks of a camera, and loitering and filters of a zone, through the API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of

MASK = [[0.55, 0.2], [0.95, 0.2], [0.95, 0.35], [0.55, 0.35]]


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_camera_filters_read_replace_validate_and_clear(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    assert await _json(await client.get("/api/cameras/front_door/filters")) == {"classes": {}, "masks": []}
    body = {"classes": {"Person": {"min_area": 0.01, "min_score": 0.6}, "*": {"max_ratio": 4}}, "masks": [MASK]}
    stored = await _json(await client.put("/api/cameras/front_door/filters", json=body))
    assert stored == {
        "classes": {"person": {"min_area": 0.01, "min_score": 0.6}, "*": {"max_ratio": 4.0}},
        "masks": [MASK],
    }
    assert await _json(await client.get("/api/cameras/front_door/filters")) == stored
    bad = [
        {"masks": [[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]]},  # crosses itself
        {"masks": [[[0.1, 0.1], [1.5, 0.2], [0.3, 0.9]]]},  # outside the image
        {"classes": {"car": {"min_area": 2}}},
        {"classes": {"car": {"min_ratio": 3, "max_ratio": 1}}},
        {"classes": {"car": {"min_size": 3}}},
    ]
    for payload in bad:
        await error_of(await client.put("/api/cameras/front_door/filters", json=payload), 422)
    await error_of(await client.put("/api/cameras/nope/filters", json={}), 404)
    await error_of(await client.get("/api/cameras/nope/filters"), 404)
    assert await _json(await client.get("/api/cameras/front_door/filters")) == stored  # refused: unchanged
    assert await _json(await client.put("/api/cameras/front_door/filters", json={})) == {"classes": {}, "masks": []}


async def test_zone_loitering_and_filters(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    body = {
        "name": "Door",
        "zone_type": "entry_point",
        "coordinates": [[0.25, 0.8], [0.45, 0.8], [0.45, 1.0], [0.25, 1.0]],
        "loitering_seconds": 60,
        "loitering_classes": ["Person", "car"],
        "object_filters": {"classes": {"person": {"min_score": 0.5}}},
    }
    zone = await _json(await client.post("/api/cameras/front_door/zones", json=body), 201)
    assert zone["loitering_seconds"] == 60 and zone["loitering_classes"] == ["person", "car"]
    assert zone["object_filters"] == {"classes": {"person": {"min_score": 0.5}}, "masks": []}
    patched = await _json(
        await client.patch(f"/api/cameras/front_door/zones/{zone['id']}", json={"loitering_seconds": None})
    )
    assert patched["loitering_seconds"] is None and patched["loitering_classes"] == ["person", "car"]
    for bad in ({"loitering_seconds": 0}, {"object_filters": {"masks": [body["coordinates"]]}}):
        await error_of(await client.patch(f"/api/cameras/front_door/zones/{zone['id']}", json=bad), 422)
