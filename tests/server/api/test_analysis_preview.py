"""`POST /api/analysis/preview`: scores without storing, in the home timezone unless told otherwise;
422 for bad boxes or no detections, 404 for an unknown camera."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.analyze.analyzer import FALLBACK_NAME, build_analyzer
from server.api.analysis import ANALYZER
from server.config import Settings
from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of
from tests.server.scenarios import SCENARIOS
from tests.support.llm_http import GOOD_ANSWER, LLMServer, Sleeps

#: Summer there (UTC+13): 02:10 UTC is mid-afternoon at home, deep night in UTC.
HOME = "Pacific/Auckland"


@pytest.fixture
def home_in_auckland(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's home timezone (TZ, as Home Assistant's Supervisor sets it), before its settings load."""
    monkeypatch.setenv("TZ", HOME)


def _detection(at: str = "2025-12-31T02:10:00Z", confidence: float = 0.93, x: int = 300) -> dict[str, Any]:
    return {
        "object_type": "person",
        "confidence": confidence,
        "bbox": {"x": x, "y": 200, "width": 80, "height": 200},
        "image_width": 640,
        "image_height": 480,
        "detected_at": at,
    }


def _batch(camera_id: str, *detections: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"camera_id": camera_id, "detections": list(detections) or [_detection()], **extra}


async def test_preview_scores_without_storing(client: TestClient, seeded: Seeded) -> None:
    batch = _batch(
        "front_door",
        _detection(),
        _detection("2025-12-31T02:10:40Z", confidence=0.88, x=320),
        timezone="Europe/Berlin",
    )
    before = await (await client.get("/api/events/stats")).json()
    response = await client.post("/api/analysis/preview", json=batch)
    preview = await response.json()
    assert response.status == 200, preview
    assert preview["backend"] == "rules" and 0 <= preview["risk_score"] <= 100 and preview["summary"]
    assert (await (await client.get("/api/events/stats")).json())["total"] == before["total"]
    bad_box = {
        **batch,
        "detections": [{**_detection(), "bbox": {"x": 600, "y": 0, "width": 100, "height": 10}}],
    }
    await error_of(await client.post("/api/analysis/preview", json=bad_box), 422)
    await error_of(await client.post("/api/analysis/preview", json={**batch, "detections": []}), 422)


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


async def test_failing_previews_do_not_send_real_events_to_the_fallback(
    runtime: Runtime, client: TestClient, seeded: Seeded, llm_server: LLMServer
) -> None:
    """Finding: the preview shared the pipeline's circuit breaker, so a user previewing against a
    struggling LLM opened it and the next real batches were scored by the rules fallback."""
    settings = Settings(llm="openai", llm_url=llm_server.url, llm_timeout_seconds=5.0)
    # The process's one analyzer, as the application hands it to the app.
    analyzer = client.server.app[ANALYZER].install(build_analyzer(settings, sleep=Sleeps()))
    try:
        llm_server.default = "error"
        for _ in range(3):
            response = await client.post("/api/analysis/preview", json=_batch("front_door"))
            assert (await response.json())["backend"] == FALLBACK_NAME
        llm_server.default = "valid"
        assessment, backend = await analyzer.assess(SCENARIOS[0].ctx)  # a real batch, meanwhile
        assert backend == "openai" and assessment.risk_score == GOOD_ANSWER["risk_score"]
        status = analyzer.status()
        assert status["status"] == "healthy" and status["breaker"] == "closed"
        assert status["fallbacks"] == 0 and status["last_error"] is None
        # The preview's own breaker is open: previews spare the LLM until it recovers.
        assert status["preview_breaker"] == "open"
        llm_server.requests.clear()
        response = await client.post("/api/analysis/preview", json=_batch("front_door"))
        assert (await response.json())["backend"] == FALLBACK_NAME and llm_server.requests == []
    finally:
        await analyzer.close()


async def test_preview_in_a_zone_with_object_filters(client: TestClient, seeded: Seeded) -> None:
    """A zone's own object filters read the detection's class and confidence: the preview's boxes
    lacked both (a 500, AttributeError, for any detection inside such a zone). A person too small for
    the zone is outside it; one large enough is in it."""
    patched = await client.patch(
        "/api/cameras/front_door/zones/porch",
        json={"object_filters": {"classes": {"person": {"min_area": 0.05}}}},
    )
    assert patched.status == 200, await patched.text()
    small = _detection(x=300) | {"bbox": {"x": 300, "y": 200, "width": 20, "height": 40}}
    response = await client.post("/api/analysis/preview", json=_batch("front_door", small))
    assert response.status == 200, await response.text()
    assert "Porch" not in (await response.json())["summary"]
    large = _detection(x=300)
    response = await client.post("/api/analysis/preview", json=_batch("front_door", large))
    assert response.status == 200, await response.text()
    assert "person at Porch" in (await response.json())["reasoning"]
