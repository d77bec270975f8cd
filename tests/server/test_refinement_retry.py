"""A refinement whose alert step failed is finished when its job is delivered again.

The finding (a review, then tried): the refinement commits the model's score on the event first, then
runs the alert step (update the alerts raised, raise those the new score calls for). When that step
failed (PostgreSQL restarting, a crash), the stream delivered the job again, the worker saw the event
refined already and returned: the alerts the refined score called for were never raised, and those
already raised kept the first score. The analyzer here is a stand-in that answers a fixed high score
(a real model's score cannot be chosen); the worker, the alert engine and the stores are the real ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select

from server.alerts.engine import AlertEngine
from server.alerts.rule_row import row_values
from server.alerts.rule_spec import AlertRuleSpec
from server.analyze.context import BatchContext
from server.analyze.schema import RiskAssessment
from server.analyze.worker import AnalyzeWorker
from server.models import Alert, AlertRule, Camera, Detection, Event
from server.pipeline.event_job import EventJob
from tests.support.pipeline import pipeline_runtime, pipeline_settings

LLM_SCORE = 75


class HighScoringModel:
    """Answers every batch with the same high risk, as a model that saw a stranger would."""

    primary_name = "openai"

    async def assess(self, ctx: BatchContext) -> tuple[RiskAssessment, str]:
        return (
            RiskAssessment(
                risk_factors=["stranger at the door"],
                reasoning="A person tried the door.",
                risk_score=LLM_SCORE,
                summary="A person tried the front door.",
            ),
            "openai",
        )


async def _seed(runtime: Any) -> list[int]:
    at = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
    async with runtime.database.sessions() as session, session.begin():
        session.add(Camera(id="front", name="Front", folder_path="/x/front"))
        await session.flush()
        rows = [
            Detection(
                camera_id="front", file_path="/x/front/a.jpg", detected_at=at, object_type="person",
                confidence=0.8, bbox_x=10, bbox_y=10, bbox_width=50, bbox_height=100,
                media_type="image", image_width=640, image_height=480,
            )
        ]
        session.add_all(rows)
        rule = AlertRule(**row_values(AlertRuleSpec.model_validate(
            {"name": "high risk", "risk_threshold": 60, "cooldown_seconds": 0})))
        session.add(rule)
        await session.flush()
        return [row.id for row in rows]


async def test_a_refinement_delivered_again_after_its_alert_step_failed_raises_the_alert(
    db_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        ids = await _seed(runtime)
        alerts = AlertEngine(runtime.database.sessions, redis)
        worker = AnalyzeWorker(runtime, HighScoringModel(), alerts)
        try:
            await worker.handle("1-0", {
                "batch_id": "b1", "camera_id": "front", "detection_ids": json.dumps(ids),
                "is_fast_path": "0", "close_reason": "idle", "opened_at": "1", "closed_at": "2",
            })
            async with runtime.database.sessions() as session:
                event = await session.scalar(select(Event))
            assert event is not None and event.risk_score < 60  # rules: no high-risk alert yet
            fields = EventJob(event.id, 0.0).to_fields()

            # The alert step of the refinement fails once (PostgreSQL restarting, a crash, ...).
            real_refine = alerts.refine
            calls = 0

            async def failing_once(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise ConnectionRefusedError("PostgreSQL is restarting")
                return await real_refine(*args, **kwargs)

            alerts.refine = failing_once  # type: ignore[method-assign]
            try:
                await worker.refine("2-0", fields)
            except ConnectionRefusedError:
                pass  # the stream keeps the entry and delivers it again
            await worker.refine("2-0", fields)  # the redelivery

            async with runtime.database.sessions() as session:
                refined = await session.get(Event, event.id)
                raised = list(await session.scalars(select(Alert)))
            assert refined.risk_score == LLM_SCORE
            assert len(raised) == 1, "the refined score's high-risk alert was never raised"
        finally:
            await alerts.close()
