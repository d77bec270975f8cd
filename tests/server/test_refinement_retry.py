"""A refinement delivered again finishes what failed and repeats nothing; a reviewed event raises nothing new.

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


def _job(ids: list[int]) -> dict[str, str]:
    return {
        "batch_id": "b1", "camera_id": "front", "detection_ids": json.dumps(ids),
        "is_fast_path": "0", "close_reason": "idle", "opened_at": "1", "closed_at": "2",
    }


async def test_a_refine_job_delivered_again_leaves_the_alert_it_raised_as_it_is(
    db_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """The refinement raised the high-risk alert (the rules score did not reach 60). Its job is
    delivered again (a crash before the acknowledgement): `AlertEngine.refine` then took that alert,
    raised *with* the refined assessment, for one never refined (no `refined_at`), stamped
    `metadata.initial` = the refined figures and `refined_at`, bumped `updated_at` and published
    `alert.updated` — which Home Assistant reads as "the AI refined this alert" and fires the alert
    entity again."""
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        ids = await _seed(runtime)
        alerts = AlertEngine(runtime.database.sessions, redis)
        worker = AnalyzeWorker(runtime, HighScoringModel(), alerts)
        try:
            await worker.handle("1-0", _job(ids))
            async with runtime.database.sessions() as session:
                event = await session.scalar(select(Event))
            assert event is not None and event.risk_score < 60
            fields = EventJob(event.id, 0.0).to_fields()
            await worker.refine("2-0", fields)
            async with runtime.database.sessions() as session:
                (raised,) = list(await session.scalars(select(Alert)))
            before = (dict(raised.alert_metadata), raised.updated_at)

            await worker.refine("2-0", fields)  # delivered again

            async with runtime.database.sessions() as session:
                again = list(await session.scalars(select(Alert)))
            assert len(again) == 1
            assert (dict(again[0].alert_metadata), again[0].updated_at) == before, (
                "a redelivered refinement re-announced an alert raised with the refined assessment: "
                f"{again[0].alert_metadata}"
            )
        finally:
            await alerts.close()


async def test_a_refinement_raises_no_new_alert_for_an_event_the_user_has_reviewed(
    db_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    """The rules scorer's first figures raised nothing; the user looked at the event and marked it
    reviewed (a model on a CPU answers minutes later). The refinement then raised a fresh high-risk
    alert, a new phone notification, for an event the user had already dealt with."""
    settings = pipeline_settings(tmp_path)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        ids = await _seed(runtime)
        alerts = AlertEngine(runtime.database.sessions, redis)
        worker = AnalyzeWorker(runtime, HighScoringModel(), alerts)
        try:
            await worker.handle("1-0", _job(ids))
            async with runtime.database.sessions() as session, session.begin():
                event = await session.scalar(select(Event))
                assert event is not None and event.risk_score < 60
                event.reviewed = True  # PATCH /api/events/{id} {"reviewed": true}
            await worker.refine("2-0", EventJob(event.id, 0.0).to_fields())
            async with runtime.database.sessions() as session:
                raised = list(await session.scalars(select(Alert)))
            assert raised == [], "a new alert was raised for an event the user had reviewed"
        finally:
            await alerts.close()
