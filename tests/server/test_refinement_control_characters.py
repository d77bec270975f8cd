"""An LLM answer with a NUL character in its text is refined like any other.

The finding (a review, then tried): `"\\u0000"` is valid JSON and passed the schema, but PostgreSQL's text
cannot hold NUL: the refinement's UPDATE failed on every delivery (the model answers alike), the job went
to the dead letters, and the event kept the rules' first figures for good. The server here is a stand-in
on 127.0.0.1 answering as an OpenAI-compatible server that ignores `response_format` may; the backend,
the worker, the alert engine and the stores are the real ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import select

from server.alerts.engine import AlertEngine
from server.analyze.analyzer import build_analyzer
from server.analyze.worker import AnalyzeWorker
from server.config import Settings
from server.models import Camera, Detection, Event
from server.pipeline.event_job import EventJob
from tests.support.llm_http import Clock, Sleeps
from tests.support.pipeline import pipeline_runtime, pipeline_settings

# Valid JSON, valid against the schema: "\u0000" is a legal JSON escape (llama-cpp-python's server in
# json_object mode and any server ignoring response_format can produce it).
ANSWER = json.dumps(
    {
        "risk_factors": ["daytime visit"],
        "reasoning": "A person walked by.\u0000",
        "risk_score": 10,
        "summary": "A person walked past the front.\u0000",
    }
)


async def _chat(_request: web.Request) -> web.Response:
    return web.json_response(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            ],
        }
    )


async def _models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})


async def test_a_nul_in_the_model_answer_does_not_break_the_refinement(
    db_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    app = web.Application()
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    analyzer = build_analyzer(
        Settings(llm="openai", llm_url=url, llm_timeout_seconds=5), sleep=Sleeps(), clock=Clock()
    )
    settings = pipeline_settings(tmp_path)
    try:
        await analyzer.start()
        async with pipeline_runtime(settings, db_url, redis) as runtime:
            at = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
            async with runtime.database.sessions() as session, session.begin():
                session.add(Camera(id="front", name="Front", folder_path="/x/front"))
                await session.flush()
                row = Detection(
                    camera_id="front",
                    file_path="/x/front/a.jpg",
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
                    event = await session.scalar(select(Event))
                assert event is not None and event.analysis_backend == "rules"
                await worker.refine("2-0", EventJob(event.id, 0.0).to_fields())
                async with runtime.database.sessions() as session:
                    refined = await session.get(Event, event.id)
                assert refined is not None and refined.analysis_backend == "openai"
                assert refined.summary == "A person walked past the front."  # the NUL left out
            finally:
                await alerts.close()
    finally:
        await analyzer.close()
        await runner.cleanup()
