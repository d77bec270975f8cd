"""When the model cannot answer, the event keeps the rules scorer's first assessment.

worker.py's contract: "An event stays with the rules' assessment, marked `rules_fallback`, when the model
cannot answer." The finding (a review, then tried): the refinement rebuilds the batch's context minutes later, though: the other cameras'
window reaches 300 s *past* the batch's end, so detections made after the event was written (and after
its alerts were raised) join it, and the fallback's fresh rules score replaced the first one: with the
LLM down (HTTP 500 here), an event's risk, summary and alerts changed without any model. A fallback now
only marks the event.

The LLM server is a stand-in on 127.0.0.1 answering 500; backend, analyzer, worker, alert engine and
stores are the real ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import select

from server.alerts.engine import AlertEngine
from server.analyze.analyzer import build_analyzer
from server.analyze.worker import AnalyzeWorker
from server.config import Settings
from server.models import Camera, Detection, Event
from server.pipeline.event_job import EventJob
from tests.support.llm_http import Clock, LLMServer, Sleeps
from tests.support.pipeline import pipeline_runtime, pipeline_settings


def _detection(camera: str, at: datetime) -> Detection:
    return Detection(
        camera_id=camera,
        file_path=f"/x/{camera}/{at:%H%M%S}.jpg",
        detected_at=at,
        object_type="person",
        confidence=0.8,
        bbox_x=10,
        bbox_y=10,
        bbox_width=50,
        bbox_height=100,
        media_type="image",
        image_width=640,
        image_height=480,
    )


async def test_a_failed_refinement_keeps_the_first_rules_score(
    db_url: str, redis: aioredis.Redis, tmp_path: Path, llm_server: LLMServer
) -> None:
    llm_server.default = "error"  # HTTP 500 on every chat completion
    analyzer = build_analyzer(
        Settings(llm="openai", llm_url=llm_server.url, llm_timeout_seconds=5), sleep=Sleeps(), clock=Clock()
    )
    settings = pipeline_settings(tmp_path, timezone="UTC")
    at = datetime.now(UTC).replace(hour=2, minute=14, second=0, microsecond=0) - timedelta(days=1)
    try:
        await analyzer.start()
        async with pipeline_runtime(settings, db_url, redis) as runtime:
            async with runtime.database.sessions() as session, session.begin():
                session.add_all(
                    [
                        Camera(id="front", name="Front", folder_path="/x/front"),
                        Camera(id="back", name="Back", folder_path="/x/back"),
                    ]
                )
                await session.flush()
                row = _detection("front", at)
                session.add(row)
                await session.flush()
                ids = [row.id]
            alerts = AlertEngine(runtime.database.sessions, redis)
            worker = AnalyzeWorker(runtime, analyzer, alerts)
            try:
                await worker.handle(
                    "1-0",
                    {
                        "batch_id": "b1",
                        "camera_id": "front",
                        "detection_ids": json.dumps(ids),
                        "is_fast_path": "0",
                        "close_reason": "idle",
                        "opened_at": "1",
                        "closed_at": "2",
                    },
                )
                async with runtime.database.sessions() as session:
                    first = await session.scalar(select(Event))
                assert first is not None and first.analysis_backend == "rules"
                # Two minutes after the event was written, the back camera sees someone.
                async with runtime.database.sessions() as session, session.begin():
                    session.add(_detection("back", at + timedelta(seconds=120)))
                await worker.refine("2-0", EventJob(first.id, 0.0).to_fields())
                async with runtime.database.sessions() as session:
                    refined = await session.get(Event, first.id)
                assert refined is not None and refined.analysis_backend == "rules_fallback"
                assert (refined.risk_score, refined.summary) == (first.risk_score, first.summary), (
                    f"fallback changed the rules' first score {first.risk_score} -> {refined.risk_score}; "
                    f"reasoning now: {refined.reasoning!r}"
                )
            finally:
                await alerts.close()
    finally:
        await analyzer.close()
