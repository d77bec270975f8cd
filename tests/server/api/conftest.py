"""API test fixtures: the real app on a Runtime over the test PostgreSQL and Redis, a key, seed rows.

Every response is built from its declared model (`server.api.registry`), so every test that reads a
response also reads what the OpenAPI document promises.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.api.app import create_app
from server.api.protocol import ApiRunner
from server.api.state import ApiSettings
from server.apikeys import KEY_FILE_NAME
from server.models import Alert, AlertRule, AlertSeverity, AlertStatus, Camera, Detection, Event, Zone
from server.runtime import Runtime
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.pipeline import pipeline_runtime, pipeline_settings

TEST_API_SETTINGS = ApiSettings(auth_failure_delay=0.001, auth_failure_max_delay=0.002)


class ApiTestServer(TestServer):
    """aiohttp's test server on the production runner (malformed requests answered as JSON)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return ApiRunner(self.app, **kwargs)


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    settings = pipeline_settings(tmp_path, llm="rules")
    settings.cameras_dir.mkdir(parents=True)
    async with pipeline_runtime(settings, db_url, redis) as rt:
        yield rt


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[TestClient]:
    """A client on the running app whose requests carry the first-start key."""
    app = create_app(runtime, TEST_API_SETTINGS)
    async with TestClient(ApiTestServer(app)) as test_client:
        key = (runtime.settings.data_dir / KEY_FILE_NAME).read_text().strip()
        test_client.session.headers["X-API-Key"] = key
        yield test_client


@pytest.fixture
def api_key(runtime: Runtime, client: TestClient) -> str:
    return (runtime.settings.data_dir / KEY_FILE_NAME).read_text().strip()


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """Assert the JSON error shape and status; return the inner error object."""
    body = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


@dataclass
class Seeded:
    """Rows of a small home: two cameras, detections with media, events across the risk bands."""

    cameras: list[str]
    detections: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    rule_id: str = ""
    clip: Path | None = None
    base_time: datetime = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
async def seeded(runtime: Runtime) -> Seeded:
    settings = runtime.settings
    base = Seeded.base_time
    data = Seeded(cameras=["front_door", "backyard"])
    settings.clips_dir.mkdir(parents=True, exist_ok=True)
    clip = write_h264_clip(settings.clips_dir / "event.mp4", seconds=2, fps=10)
    data.clip = clip
    async with runtime.database.sessions() as session:
        for camera_id in data.cameras:
            session.add(
                Camera(
                    id=camera_id,
                    name=camera_id.replace("_", " ").title(),
                    folder_path=str(settings.cameras_dir / camera_id),
                    status="online",
                )
            )
        await session.flush()
        scores = [5, 35, 65, 90, 20, 50]
        for index, score in enumerate(scores):
            camera_id = data.cameras[index % 2]
            image = write_jpeg(settings.cameras_dir / camera_id / f"img{index}.jpg", seed=index)
            thumb = write_jpeg(settings.thumbnails_dir / f"t{index}.jpg", size=(320, 240), seed=index)
            detection = Detection(
                camera_id=camera_id,
                file_path=str(image),
                file_type="image/jpeg",
                detected_at=base + timedelta(minutes=index),
                object_type="person" if score >= 50 else "cat",
                confidence=0.5 + index * 0.05,
                bbox_x=100,
                bbox_y=100,
                bbox_width=80,
                bbox_height=160,
                thumbnail_path=str(thumb),
                media_type="image",
            )
            session.add(detection)
            await session.flush()
            data.detections.append(detection.id)
            level = "low" if score < 30 else "medium" if score < 60 else "high" if score < 85 else "critical"
            event = Event(
                batch_id=str(uuid.uuid4()),
                camera_id=camera_id,
                started_at=detection.detected_at,
                ended_at=detection.detected_at + timedelta(seconds=30),
                risk_score=score,
                risk_level=level,
                summary=f"A {detection.object_type} near the {camera_id.replace('_', ' ')}",
                reasoning="seen at noon" if index % 2 else "package delivery suspected",
                detection_ids=json.dumps([detection.id]),
                object_types=json.dumps([detection.object_type]),
                clip_path=str(clip) if index == 3 else None,
                analysis_backend="rules",
            )
            session.add(event)
            await session.flush()
            data.events.append(event.id)
        rule = AlertRule(
            name="people",
            severity=AlertSeverity.HIGH,
            risk_threshold=60,
            object_types=["person"],
            channels=["ha"],
        )
        session.add(rule)
        await session.flush()
        data.rule_id = str(rule.id)
        for event_id in data.events[2:4]:
            alert = Alert(
                event_id=event_id,
                rule_id=rule.id,
                severity=AlertSeverity.HIGH,
                status=AlertStatus.PENDING,
                dedup_key=f"k{event_id}",
                channels=["ha"],
                alert_metadata={"camera_id": "front_door", "risk_score": 65},
            )
            session.add(alert)
            await session.flush()
            data.alerts.append(str(alert.id))
        session.add(
            Zone(
                id="porch",
                camera_id="front_door",
                name="Porch",
                coordinates=[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            )
        )
        await session.commit()
    return data
