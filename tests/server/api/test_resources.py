"""Every resource over HTTP on the real app: happy paths, filters, pagination, media, audit rows."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import select, update

from server.analyze.baseline_store import default_grace, fold_completed_hours
from server.models import (
    ActivityBaseline,
    Alert,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    AuditLog,
    Camera,
    ClassBaseline,
    Detection,
    Event,
    GPUStats,
    Log,
    Zone,
)
from server.logs import DatabaseLogHandler
from server.pipeline.streams import CLIP_STREAM, DETECT_STREAM, REFINE_STREAM
from server.health import WorkerHealth
from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of
from tests.support.media import write_h264_clip, write_jpeg


async def _json(response: Any, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body


async def _all_pages(client: TestClient, path: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    separator = "&" if "?" in path else "?"
    while True:
        url = f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = await _json(await client.get(url))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _audit(runtime: Runtime, action: str) -> list[AuditLog]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action)))


async def _healthy_probe() -> dict[str, Any]:
    return {"status": "healthy"}


async def test_system_stats_and_gpu(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    async with runtime.database.sessions() as session:
        now = datetime.now(UTC)
        for minutes in range(10):
            session.add(
                GPUStats(
                    recorded_at=now - timedelta(minutes=minutes),
                    gpu_name="H100",
                    gpu_utilization=10.0 + minutes,
                    memory_used=1000,
                    memory_total=80000,
                    temperature=50.0,
                    inference_fps=12.0,
                )
            )
        await session.commit()
    stats = await _json(await client.get("/api/system/stats"))
    assert stats["cameras"] == 2 and stats["events_unreviewed"] == 6 and stats["alerts_pending"] == 2
    assert stats["queues"] == {"detect": 0, "analyze": 0, "refine": 0, "clips": 0, "dead_letter": 0}
    # Each queue counted as its own: events waiting for the AI's text and for their clip too.
    for stream, entries in ((DETECT_STREAM, 1), (REFINE_STREAM, 2), (CLIP_STREAM, 3)):
        for _ in range(entries):
            await runtime.redis.xadd(stream, {"event_id": "1"})
    queues = (await _json(await client.get("/api/system/stats")))["queues"]
    assert queues == {"detect": 1, "analyze": 0, "refine": 2, "clips": 3, "dead_letter": 0}
    assert stats["gpu"]["utilization"] == 10.0 and stats["gpu"]["memory_total"] == 80000
    assert stats["pipeline_healthy"] is True  # no detect or analyze worker yet, as the server starts
    runtime.started_at -= runtime.settings.worker_start_grace_seconds  # the start-up grace is over
    stats = await _json(await client.get("/api/system/stats"))
    assert stats["pipeline_healthy"] is False  # this app runs no detect or analyze worker
    detect = WorkerHealth(runtime.redis, "detect", "gpu-host:1", {"detector": _healthy_probe})
    analyze = WorkerHealth(runtime.redis, "analyze", "gpu-host:2", {"analyzer": _healthy_probe})
    await detect.publish()
    await analyze.publish()
    try:
        assert (await _json(await client.get("/api/system/stats")))["pipeline_healthy"] is True
    finally:
        await detect.withdraw()
        await analyze.withdraw()
    gpu = await _json(await client.get("/api/system/gpu?minutes=30&points=4"))
    assert gpu["current"]["gpu_name"] == "H100"
    assert 1 <= len(gpu["history"]) <= 4
    assert [s["recorded_at"] for s in gpu["history"]] == sorted(s["recorded_at"] for s in gpu["history"])
    # A review's finding, tried: with no sample for long (the sampler stopped: the detect worker down,
    # the driver not answering) the last one was shown as the GPU now, until retention removed it.
    async with runtime.database.sessions() as session, session.begin():
        await session.execute(update(GPUStats).values(recorded_at=GPUStats.recorded_at - timedelta(days=1)))
    stale = await _json(await client.get("/api/system/stats"))
    assert set(stale["gpu"].values()) == {None}
    assert (await _json(await client.get("/api/system/gpu?minutes=30")))["current"] is None


async def test_cameras_crud_list_and_snapshot(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    cameras = await _all_pages(client, "/api/cameras", 1)
    assert [c["id"] for c in cameras] == ["backyard", "front_door"]
    front = cameras[1]
    assert (
        front["last_event"]["id"] == seeded.events[4] and front["last_detection_id"] == seeded.detections[4]
    )
    assert front["last_event"]["object_types"] == ["cat"]

    created = await _json(await client.post("/api/cameras", json={"name": "Garage Side"}), 201)
    assert created["id"] == "garage_side" and created["last_event"] is None
    assert created["folder_path"].endswith("Garage Side")
    await error_of(await client.post("/api/cameras", json={"name": "garage side"}), 409)
    await error_of(await client.post("/api/cameras", json={"name": "x", "folder_path": "/etc"}), 422)
    updated = await _json(
        await client.patch("/api/cameras/garage_side", json={"name": "Garage", "status": "offline"})
    )
    assert updated["name"] == "Garage" and updated["status"] == "offline"
    offline = await _json(await client.get("/api/cameras?status=offline"))
    assert [c["id"] for c in offline["items"]] == ["garage_side"]
    assert (await client.delete("/api/cameras/garage_side")).status == 204
    await error_of(await client.get("/api/cameras/garage_side"), 404)
    assert {row.action for row in await _audit(runtime, "camera_created")} == {"camera_created"}
    assert (
        len(await _audit(runtime, "camera_updated")) == 1
        and len(await _audit(runtime, "camera_deleted")) == 1
    )

    snapshot = await client.get("/api/cameras/front_door/snapshot")
    assert snapshot.status == 200 and snapshot.content_type == "image/jpeg"
    assert (await snapshot.read())[:2] == b"\xff\xd8"
    await error_of(await client.get("/api/cameras/nothing_here/snapshot"), 404)

    # The snapshot is the latest upload, also when nothing was detected in it (the camera tile must
    # not keep showing the last picture that had detections).
    empty_scene = write_jpeg(runtime.settings.cameras_dir / "front_door" / "empty.jpg", seed=99)
    async with runtime.database.sessions() as session, session.begin():
        (await session.get_one(Camera, "front_door")).last_upload_path = str(empty_scene)
    latest = await client.get("/api/cameras/front_door/snapshot")
    assert latest.status == 200 and await latest.read() == empty_scene.read_bytes()
    # A camera whose latest upload is a recording shows its first frame.
    recording = write_h264_clip(runtime.settings.cameras_dir / "front_door" / "motion.mp4", size=(320, 240))
    async with runtime.database.sessions() as session, session.begin():
        (await session.get_one(Camera, "front_door")).last_upload_path = str(recording)
    poster = await client.get("/api/cameras/front_door/snapshot")
    assert poster.status == 200 and poster.content_type == "image/jpeg"
    with Image.open(io.BytesIO(await poster.read())) as frame:
        assert (frame.format, frame.size) == ("JPEG", (320, 240))
    recording.unlink()  # gone: the newest image instead
    fallback = await client.get("/api/cameras/front_door/snapshot")
    assert fallback.status == 200 and fallback.content_type == "image/jpeg"

    # Each camera's own offline delay: set, then back to the learned one with null (other fields
    # still refuse null).
    strict = await _json(await client.patch("/api/cameras/front_door", json={"offline_after_seconds": 7200}))
    assert strict["offline_after_seconds"] == 7200
    learned = await _json(await client.patch("/api/cameras/front_door", json={"offline_after_seconds": None}))
    assert learned["offline_after_seconds"] is None
    await error_of(await client.patch("/api/cameras/front_door", json={"offline_after_seconds": 5}), 422)
    refused = await error_of(await client.patch("/api/cameras/front_door", json={"name": None}), 422)
    assert refused["details"] == [{"field": "name", "message": "cannot be null", "in": "body"}]


async def test_zones_crud_and_polygon_validation(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    body = {
        "name": "Driveway",
        "zone_type": "driveway",
        "shape": "polygon",
        "coordinates": [[0.1, 0.5], [0.9, 0.5], [0.5, 0.95]],
    }
    zone = await _json(await client.post("/api/cameras/front_door/zones", json=body), 201)
    assert zone["id"] == "front_door_driveway" and zone["camera_id"] == "front_door"
    again = await _json(await client.post("/api/cameras/front_door/zones", json=body), 201)
    assert again["id"] == "front_door_driveway-2"
    listing = await _all_pages(client, "/api/cameras/front_door/zones", 2)
    assert {z["id"] for z in listing} == {"porch", "front_door_driveway", "front_door_driveway-2"}
    patched = await _json(
        await client.patch(
            f"/api/cameras/front_door/zones/{zone['id']}", json={"color": "#ff0000", "priority": 5}
        )
    )
    assert patched["color"] == "#FF0000" and patched["priority"] == 5
    assert (await _json(await client.get(f"/api/cameras/front_door/zones/{zone['id']}")))["priority"] == 5
    await error_of(await client.get(f"/api/cameras/backyard/zones/{zone['id']}"), 404)
    assert (await client.delete(f"/api/cameras/front_door/zones/{zone['id']}")).status == 204
    bad = [
        {**body, "coordinates": [[0.1, 0.1], [0.2, 0.2]]},
        {**body, "coordinates": [[0.1, 0.1], [1.5, 0.2], [0.3, 0.9]]},
        {**body, "shape": "rectangle"},
        {**body, "color": "red"},
        {**body, "camera_id": "backyard"},
    ]
    for payload in bad:
        await error_of(await client.post("/api/cameras/front_door/zones", json=payload), 422)
    await error_of(await client.post("/api/cameras/nope/zones", json=body), 404)
    await error_of(
        await client.patch("/api/cameras/front_door/zones/porch", json={"coordinates": [[0, 0], [1, 1]]}), 422
    )
    assert len(await _audit(runtime, "settings_changed")) == 4


async def test_a_self_intersecting_zone_is_refused_naming_the_crossing(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    bowtie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    created = await client.post(
        "/api/cameras/front_door/zones", json={"name": "Bowtie", "shape": "polygon", "coordinates": bowtie}
    )
    patched = await client.patch(
        "/api/cameras/front_door/zones/porch", json={"shape": "polygon", "coordinates": bowtie}
    )
    for response in (created, patched):
        error = await error_of(response, 422)
        assert error["code"] == "validation_error"
        [problem] = error["details"]
        assert problem["field"] == "coordinates" and problem["in"] == "body"
        assert "crosses itself" in problem["message"] and "crosses itself" in error["message"]
    async with runtime.database.sessions() as session:
        zones = list(await session.scalars(select(Zone)))
    assert [(z.id, z.coordinates) for z in zones] == [
        ("porch", [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    ]


async def test_baselines_read_and_reset(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    async with runtime.database.sessions() as session:
        session.add(
            ActivityBaseline(camera_id="front_door", hour=3, day_of_week=1, avg_count=2.5, sample_count=4)
        )
        session.add(
            ClassBaseline(
                camera_id="front_door", detection_class="person", hour=3, frequency=0.4, sample_count=4
            )
        )
        await session.commit()
    baselines = await _json(await client.get("/api/cameras/front_door/baselines"))
    assert (
        baselines["activity"][0]["avg_count"] == 2.5
        and baselines["classes"][0]["detection_class"] == "person"
    )
    assert (await client.delete("/api/cameras/front_door/baselines")).status == 204
    empty = await _json(await client.get("/api/cameras/front_door/baselines"))
    assert empty["activity"] == [] and empty["classes"] == []
    [cleared] = await _audit(runtime, "data_cleared")
    assert cleared.details == {"activity_rows": 1, "class_rows": 1}


async def test_forgotten_baselines_are_not_learned_again_from_the_old_view(
    runtime: Runtime, client: TestClient
) -> None:
    """A review's finding, tried: the baseline rows were also where the hourly fold read how far it had
    come; the reset deleted them, so the next fold started again from the camera's creation and learned
    the old view back from the detections still kept (338 hours of it here)."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=14)
    grace = default_grace(90)
    async with runtime.database.sessions() as session:
        session.add(Camera(id="yard", name="Yard", folder_path="/export/foscam/yard", created_at=start))
        await session.flush()
        session.add_all(
            Detection(camera_id="yard", file_path="/x.jpg", detected_at=start + timedelta(minutes=3 * n),
                      object_type="person", confidence=0.8)
            for n in range(14 * 24 * 20)
        )  # fmt: skip
        await session.commit()
    async with runtime.database.sessions() as session:
        learned = await fold_completed_hours(session, "yard", ZoneInfo("UTC"), now + grace, grace)
    assert learned.hours >= 14 * 24
    assert (await client.delete("/api/cameras/yard/baselines")).status == 204
    async with runtime.database.sessions() as session:
        later = now + timedelta(hours=2) + grace
        folded = await fold_completed_hours(session, "yard", ZoneInfo("UTC"), later, grace)
        rows = list(await session.scalars(select(ActivityBaseline).where(ActivityBaseline.camera_id == "yard")))
    assert folded.hours <= 3 and all(row.avg_count == 0 for row in rows)


async def test_detections_list_filters_get_and_media(client: TestClient, seeded: Seeded) -> None:
    everything = await _all_pages(client, "/api/detections", 4)
    assert [d["id"] for d in everything] == list(reversed(seeded.detections))
    persons = await _json(await client.get("/api/detections?object_type=person&camera_id=front_door"))
    assert {d["object_type"] for d in persons["items"]} == {"person"}
    assert all(d["camera_id"] == "front_door" for d in persons["items"])
    confident = await _json(await client.get("/api/detections?min_confidence=0.7"))
    assert all(d["confidence"] >= 0.7 for d in confident["items"]) and confident["items"]
    since = (seeded.base_time + timedelta(minutes=2)).isoformat()
    until = (seeded.base_time + timedelta(minutes=4)).isoformat()
    window = await _json(await client.get("/api/detections", params={"since": since, "until": until}))
    assert [d["id"] for d in window["items"]] == [seeded.detections[3], seeded.detections[2]]
    one = await _json(await client.get(f"/api/detections/{seeded.detections[0]}"))
    assert one["bbox"] == {"x": 100, "y": 100, "width": 80, "height": 160}
    thumb = await client.get(one["thumbnail_url"])
    assert thumb.status == 200 and thumb.content_type == "image/jpeg"
    image = await client.get(one["image_url"])
    assert image.status == 200 and image.content_type == "image/jpeg"
    await error_of(await client.get("/api/detections/999999"), 404)


async def test_events_list_filters_and_pagination(client: TestClient, seeded: Seeded) -> None:
    pages = await _all_pages(client, "/api/events", 2)
    assert [e["id"] for e in pages] == list(reversed(seeded.events))
    event = pages[-1]
    assert event["detection_ids"] == [seeded.detections[0]] and event["object_types"] == ["cat"]
    assert event["thumbnail_url"] == f"/api/events/{event['id']}/thumbnail" and event["has_clip"] is False
    checks = {
        "camera_id=backyard": lambda e: e["camera_id"] == "backyard",
        "risk_level=high": lambda e: e["risk_level"] == "high",
        "min_risk=50": lambda e: e["risk_score"] >= 50,
        "max_risk=30": lambda e: e["risk_score"] <= 30,
        "reviewed=false": lambda e: e["reviewed"] is False,
        "object_type=person": lambda e: "person" in e["object_types"],
    }
    for query, predicate in checks.items():
        items = await _all_pages(client, f"/api/events?{query}", 2)
        assert items and all(predicate(e) for e in items), query
    assert (await _json(await client.get("/api/events?reviewed=true")))["items"] == []
    combined = await _json(await client.get("/api/events?camera_id=front_door&min_risk=60"))
    assert [e["risk_score"] for e in combined["items"]] == [65]


async def test_event_review_detections_clip_and_thumbnail(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    event_id = seeded.events[3]
    updated = await _json(
        await client.patch(f"/api/events/{event_id}", json={"reviewed": True, "notes": "courier"})
    )
    assert updated["reviewed"] is True and updated["notes"] == "courier"
    found = await _json(await client.get("/api/events/search?q=courier"))
    assert [e["id"] for e in found["items"]] == [event_id]
    [audit] = await _audit(runtime, "event_reviewed")
    assert audit.resource_id == str(event_id) and audit.actor == "key 1 (initial)"
    detections = await _json(await client.get(f"/api/events/{event_id}/detections"))
    assert [d["id"] for d in detections["items"]] == [seeded.detections[3]]
    thumbnail = await client.get(f"/api/events/{event_id}/thumbnail")
    assert thumbnail.status == 200 and thumbnail.content_type == "image/jpeg"

    clip = await client.get(f"/api/events/{event_id}/clip")
    assert clip.status == 200 and clip.content_type == "video/mp4"
    full = await clip.read()
    ranged = await client.get(f"/api/events/{event_id}/clip", headers={"Range": "bytes=10-109"})
    assert ranged.status == 206 and await ranged.read() == full[10:110]
    assert ranged.headers["Content-Range"] == f"bytes 10-109/{len(full)}"
    await error_of(await client.get(f"/api/events/{seeded.events[0]}/clip"), 404)
    await error_of(await client.get("/api/events/999999"), 404)


async def test_one_event_camera_and_rule_read_back_as_stored(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    base = seeded.base_time
    async with runtime.database.sessions() as session:
        stored_event = await session.get(Event, seeded.events[3])
        stored_rule = await session.get(AlertRule, uuid.UUID(seeded.rule_id))
    assert stored_event is not None and stored_rule is not None

    event = await _json(await client.get(f"/api/events/{seeded.events[3]}"))
    assert datetime.fromisoformat(event.pop("started_at")) == base + timedelta(minutes=3)
    assert datetime.fromisoformat(event.pop("ended_at")) == base + timedelta(minutes=3, seconds=30)
    assert event == {
        "id": seeded.events[3],
        "batch_id": stored_event.batch_id,
        "camera_id": "backyard",
        "risk_score": 90,
        "risk_level": "critical",
        "summary": "A person near the backyard",
        "reasoning": "seen at noon",
        "detection_ids": [seeded.detections[3]],
        "reviewed": False,
        "notes": None,
        "is_fast_path": False,
        "object_types": ["person"],
        "clip_path": str(seeded.clip),
        "analysis_backend": "rules",
        "thumbnail_url": f"/api/events/{seeded.events[3]}/thumbnail",
        "has_clip": True,
    }

    camera = await _json(await client.get("/api/cameras/backyard"))
    assert datetime.fromisoformat(camera.pop("created_at")).tzinfo is not None
    assert datetime.fromisoformat(camera["last_event"].pop("started_at")) == base + timedelta(minutes=5)
    assert datetime.fromisoformat(camera["last_event"].pop("ended_at")) == base + timedelta(minutes=5, seconds=30)
    assert camera == {
        "id": "backyard",
        "name": "Backyard",
        "folder_path": str(runtime.settings.cameras_dir / "backyard"),
        "status": "online",
        "last_seen_at": None,
        "upload_gap_seconds": None,
        "offline_after_seconds": None,
        "last_event": {
            "id": seeded.events[5],
            "risk_score": 50,
            "risk_level": "medium",
            "summary": "A person near the backyard",
            "object_types": ["person"],
        },
        "last_detection_id": seeded.detections[5],
    }

    rule = await _json(await client.get(f"/api/alert-rules/{seeded.rule_id}"))
    assert datetime.fromisoformat(rule.pop("created_at")) == stored_rule.created_at
    assert datetime.fromisoformat(rule.pop("updated_at")) == stored_rule.updated_at
    assert rule == {
        "id": seeded.rule_id,
        "name": "people",
        "description": None,
        "enabled": True,
        "severity": "high",
        "risk_threshold": 60,
        "object_types": ["person"],
        "camera_ids": None,
        "zone_ids": None,
        "min_confidence": None,
        "schedule": None,
        "dedup_key_template": stored_rule.dedup_key_template,
        "cooldown_seconds": stored_rule.cooldown_seconds,
        "channels": ["ha"],
        "webhook": None,
    }
    sent = {
        "name": "porch at night",
        "description": "anyone on the porch",
        "severity": "critical",
        "risk_threshold": 40,
        "object_types": ["person", "dog"],
        "camera_ids": ["front_door"],
        "zone_ids": ["porch"],
        "min_confidence": 0.6,
        "schedule": {"days": ["sat", "sun"], "start_time": "22:00", "end_time": "06:00", "timezone": "UTC"},
        "dedup_key_template": "{camera_id}:{zone_id}",
        "cooldown_seconds": 120,
        "channels": ["ha", "webhook"],
        "webhook": {"url": "https://example.org/hook", "secret": "s" * 20},
    }
    created = await _json(await client.post("/api/alert-rules", json=sent), 201)
    read = await _json(await client.get(f"/api/alert-rules/{created['id']}"))
    assert read == created
    assert {name: read[name] for name in sent if name != "webhook"} == {
        name: value for name, value in sent.items() if name != "webhook"
    }
    assert read["webhook"] == {"url": "https://example.org/hook", "has_secret": True}


async def test_event_search_ranking_and_websearch_syntax(client: TestClient, seeded: Seeded) -> None:
    persons = await _all_pages(client, "/api/events/search?q=person", 1)
    assert {e["id"] for e in persons} == {seeded.events[i] for i in (2, 3, 5)}
    assert [e["rank"] for e in persons] == sorted((e["rank"] for e in persons), reverse=True)
    phrase = await _json(await client.get("/api/events/search", params={"q": '"package delivery"'}))
    assert {e["id"] for e in phrase["items"]} == {seeded.events[i] for i in (0, 2, 4)}
    excluded = await _json(await client.get("/api/events/search", params={"q": "person -package"}))
    assert {e["id"] for e in excluded["items"]} == {seeded.events[3], seeded.events[5]}
    either = await _json(
        await client.get("/api/events/search", params={"q": "cat or noon", "camera_id": "backyard"})
    )
    assert all(e["camera_id"] == "backyard" for e in either["items"]) and either["items"]
    odd = await _json(await client.get("/api/events/search", params={"q": '"( & | ! :*'}))
    assert odd["items"] == []


async def test_event_stats(client: TestClient, seeded: Seeded) -> None:
    stats = await _json(await client.get("/api/events/stats"))
    assert stats["total"] == 6
    assert stats["by_level"] == {"low": 2, "medium": 2, "high": 1, "critical": 1}
    assert stats["by_camera"] == [
        {"camera_id": "backyard", "count": 3},
        {"camera_id": "front_door", "count": 3},
    ]
    assert stats["by_day"] == [{"day": "2025-12-31", "count": 6}]
    tokyo = await _json(await client.get("/api/events/stats?timezone=Asia/Tokyo&camera_id=backyard"))
    assert tokyo["by_day"] == [{"day": "2025-12-31", "count": 3}] and tokyo["total"] == 3
    await error_of(await client.get("/api/events/stats?timezone=Mars/Olympus"), 422)


async def test_event_export_csv_and_json(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    response = await client.get("/api/events/export?format=csv&min_risk=30")
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert sorted(int(r["risk_score"]) for r in rows) == [35, 50, 65, 90]
    as_json = await client.get("/api/events/export?format=json&camera_id=backyard")
    exported = json.loads(await as_json.read())
    assert [e["camera_id"] for e in exported] == ["backyard"] * 3
    assert len(await _audit(runtime, "media_exported")) == 2


async def test_export_neutralises_spreadsheet_formulas(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    await client.patch(f"/api/events/{seeded.events[0]}", json={"notes": '=HYPERLINK("http://x")'})
    text = await (await client.get("/api/events/export?format=csv")).text()
    assert "'=HYPERLINK" in text


async def test_alerts_list_acknowledge_dismiss(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    alerts = await _all_pages(client, "/api/alerts", 1)
    assert {a["id"] for a in alerts} == set(seeded.alerts)
    filtered = await _json(
        await client.get(f"/api/alerts?status=pending&severity=high&event_id={seeded.events[2]}")
    )
    assert [a["id"] for a in filtered["items"]] == [seeded.alerts[0]]
    by_camera = await _json(await client.get("/api/alerts?camera_id=backyard"))
    assert [a["event_id"] for a in by_camera["items"]] == [seeded.events[3]]
    acknowledged = await _json(await client.post(f"/api/alerts/{seeded.alerts[0]}/acknowledge"))
    assert acknowledged["status"] == "acknowledged"
    assert (await _json(await client.post(f"/api/alerts/{seeded.alerts[0]}/acknowledge")))[
        "status"
    ] == "acknowledged"
    dismissed = await _json(await client.post(f"/api/alerts/{seeded.alerts[1]}/dismiss"))
    assert dismissed["status"] == "dismissed"
    await error_of(await client.post(f"/api/alerts/{seeded.alerts[1]}/acknowledge"), 409)
    assert (await _json(await client.get(f"/api/alerts/{seeded.alerts[1]}")))["status"] == "dismissed"
    await error_of(await client.post("/api/alerts/00000000-0000-0000-0000-000000000000/dismiss"), 404)
    await error_of(await client.post("/api/alerts/not-a-uuid/dismiss"), 422)
    assert (
        len(await _audit(runtime, "event_reviewed")) == 1
        and len(await _audit(runtime, "event_dismissed")) == 1
    )


async def test_an_alert_handled_before_its_webhook_went_out_says_so(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    """An alert acknowledged while its webhook receiver was down is not sent to it later (the receiver
    would hear of an alert somebody has dealt with); that was silent, a log row now says it. An alert
    without a webhook, or one already delivered, says nothing."""
    async with runtime.database.sessions() as session, session.begin():
        alert = await session.get(Alert, uuid.UUID(seeded.alerts[0]))
        assert alert is not None and alert.status == AlertStatus.PENDING
        alert.channels = ["ha", "webhook"]
    await _json(await client.post(f"/api/alerts/{seeded.alerts[0]}/acknowledge"))
    await _json(await client.post(f"/api/alerts/{seeded.alerts[1]}/acknowledge"))  # no webhook
    await _json(await client.post(f"/api/alerts/{seeded.alerts[0]}/dismiss"))  # handled already
    handler = next(h for h in logging.getLogger("hsi").handlers if isinstance(h, DatabaseLogHandler))
    await handler.flush_async()
    async with runtime.database.sessions() as session:
        rows = list(await session.scalars(select(Log).where(Log.component == "alerts")))
    said = [(row.level, (row.extra or {}).get("alert_id")) for row in rows]
    assert said == [("WARNING", seeded.alerts[0])]
    assert "before its webhook went out" in rows[0].message


async def test_alert_rules_crud_and_test(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    body = {
        "name": "night people",
        "severity": "critical",
        "risk_threshold": 50,
        "object_types": ["Person"],
        "camera_ids": ["front_door"],
        "zone_ids": ["porch"],
        "schedule": {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start_time": "22:00",
            "end_time": "06:00",
            "timezone": "Europe/Berlin",
        },
        "channels": ["ha", "webhook"],
        "webhook": {"url": "https://example.org/hook", "secret": "s" * 20},
    }
    rule = await _json(await client.post("/api/alert-rules", json=body), 201)
    assert rule["object_types"] == ["person"] and rule["webhook"] == {
        "url": "https://example.org/hook",
        "has_secret": True,
    }
    assert "s" * 20 not in json.dumps(rule)
    rules = await _all_pages(client, "/api/alert-rules", 1)
    assert [r["name"] for r in rules] == ["people", "night people"]
    patched = await _json(
        await client.patch(f"/api/alert-rules/{rule['id']}", json={"enabled": False, "schedule": None})
    )
    assert patched["enabled"] is False and patched["schedule"] is None and patched["webhook"]["has_secret"]
    assert [
        r["name"] for r in (await _json(await client.get("/api/alert-rules?enabled=false")))["items"]
    ] == ["night people"]

    tested = await _json(await client.post(f"/api/alert-rules/{seeded.rule_id}/test?limit=10"))
    assert tested["rule_id"] == seeded.rule_id and len(tested["results"]) == 6
    by_event = {r["event_id"]: r for r in tested["results"]}
    assert by_event[seeded.events[3]]["matched"] is True and by_event[seeded.events[3]]["reasons"] == []
    low = by_event[seeded.events[0]]
    assert low["matched"] is False and any("below the threshold" in reason for reason in low["reasons"])
    assert any("no detection of type person" in reason for reason in low["reasons"])
    zone_rule = await _json(await client.post(f"/api/alert-rules/{rule['id']}/test?camera_id=front_door"))
    assert {r["camera_id"] for r in zone_rule["results"]} == {"front_door"}
    assert any(r["matched"] for r in zone_rule["results"])  # the porch zone covers the whole image

    assert (await client.delete(f"/api/alert-rules/{rule['id']}")).status == 204
    await error_of(await client.get(f"/api/alert-rules/{rule['id']}"), 404)
    for action in ("rule_created", "rule_updated", "rule_deleted", "notification_test"):
        assert await _audit(runtime, action), action


async def test_alert_rule_validation(client: TestClient, seeded: Seeded) -> None:
    base = {"name": "r"}
    cases = [
        {**base, "risk_threshold": 101},
        {**base, "min_confidence": 1.5},
        {**base, "risk_threshold": "50"},
        {**base, "unknown_field": 1},
        {
            **base,
            "schedule": {"days": ["mon"], "start_time": "25:00", "end_time": "06:00", "timezone": "UTC"},
        },
        {
            **base,
            "schedule": {"days": ["funday"], "start_time": "22:00", "end_time": "06:00", "timezone": "UTC"},
        },
        {
            **base,
            "schedule": {
                "days": ["mon"],
                "start_time": "22:00",
                "end_time": "06:00",
                "timezone": "Nowhere/City",
            },
        },
        {**base, "camera_ids": ["no_such_camera"]},
        {**base, "zone_ids": ["porch"], "camera_ids": ["backyard"]},
        {**base, "channels": ["webhook"]},
        {"description": "no name"},
    ]
    for payload in cases:
        error = await error_of(await client.post("/api/alert-rules", json=payload), 422)
        assert error["code"] == "validation_error" and error["details"], payload
        assert all({"field", "message"} <= set(item) for item in error["details"])
    await error_of(await client.patch(f"/api/alert-rules/{seeded.rule_id}", json={"name": None}), 422)


async def test_logs_list_post_and_access_log(
    runtime: Runtime, client: TestClient, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Client lines land in `logs`; the access log goes to the process log, never to `logs` (issue 13:
    `logs` keeps the application's events, and a request costs no write)."""
    caplog.set_level(logging.INFO, logger="server.api.access")
    created = await _json(
        await client.post(
            "/api/logs",
            json={"level": "WARNING", "message": "ha lost push", "source": "ha", "extra": {"retry": 3}},
        ),
        201,
    )
    assert created["source"] == "ha" and created["request_id"] and created["user_agent"]
    await error_of(await client.post("/api/logs", json={"message": "x", "source": "backend"}), 422)
    await client.get("/api/events", headers={"X-Request-ID": "trace-123"})

    (line,) = [r for r in caplog.records if r.name == "server.api.access" and "request_id=trace-123" in r.message]
    assert line.levelname == "INFO" and line.message.startswith("GET /api/events 200 ")
    assert 'actor="key 1 (initial)"' in line.message and 'user_agent="Python/' in line.message
    handler = next(h for h in logging.getLogger("hsi").handlers if isinstance(h, DatabaseLogHandler))
    await handler.flush_async()
    async with runtime.database.sessions() as session:
        assert (await session.scalars(select(Log).where(Log.request_id == "trace-123"))).first() is None
        assert (await session.scalars(select(Log).where(Log.component == "api"))).first() is None
    from_ha = await _json(await client.get("/api/logs?source=ha"))
    assert [r["message"] for r in from_ha["items"]] == ["ha lost push"]
    warnings = await _json(await client.get("/api/logs?min_level=WARNING&q=lost"))
    assert [r["id"] for r in warnings["items"]] == [created["id"]]


async def test_audit_list_filters(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    await client.post("/api/keys", json={"name": "one"})
    await client.post("/api/keys", json={"name": "two"})
    created = await _json(
        await client.get("/api/audit", params={"action": "api_key_created", "actor": "key 1 (initial)"})
    )
    assert [r["details"]["name"] for r in created["items"]] == ["two", "one"]
    system = await _json(await client.get("/api/audit?actor=system"))
    assert [r["details"]["name"] for r in system["items"]] == ["initial"]
    assert (await _json(await client.get("/api/audit?status=failure")))["items"] == []
    paged = await _all_pages(client, "/api/audit?resource_type=api_key", 1)
    assert len(paged) == 3


async def test_since_until_return_exactly_the_rows_in_range(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    """`[since, until)` on alerts, logs and audit: the row at `since` is in, the row at `until` is out."""
    stamps = [seeded.base_time + timedelta(minutes=k) for k in range(4)]
    async with runtime.database.sessions() as session:
        alerts = [await session.get(Alert, uuid.UUID(alert_id)) for alert_id in seeded.alerts]
        for event_id in seeded.events[4:6]:
            alerts.append(
                Alert(
                    event_id=event_id,
                    rule_id=uuid.UUID(seeded.rule_id),
                    severity=AlertSeverity.HIGH,
                    status=AlertStatus.PENDING,
                    dedup_key=f"range{event_id}",
                    channels=["ha"],
                )
            )
        logs = [
            Log(timestamp=at, level="INFO", component="range", message=f"row {k}")
            for k, at in enumerate(stamps)
        ]
        audit = [
            AuditLog(timestamp=at, action="settings_changed", resource_type="range", actor="test")
            for at in stamps
        ]
        for alert, at in zip(alerts, stamps, strict=True):
            assert alert is not None
            alert.created_at = at
        session.add_all([*alerts, *logs, *audit])
        await session.commit()
        rows = {
            "alerts": [str(alert.id) for alert in alerts if alert is not None],
            "logs": [log.id for log in logs],
            "audit": [entry.id for entry in audit],
        }

    async def ids(path: str, **bounds: datetime) -> list[Any]:
        params = {name: value.isoformat() for name, value in bounds.items()} | {"limit": "100"}
        return [
            item["id"] for item in (await _json(await client.get(f"/api/{path}", params=params)))["items"]
        ]

    # `since` in another time zone names the same instant.
    since = stamps[1].astimezone(timezone(timedelta(hours=2)))
    for path, expected in rows.items():
        assert await ids(path, since=since, until=stamps[3]) == [expected[2], expected[1]], path
        assert await ids(path, until=stamps[1]) == [expected[0]], path
        later = await ids(path, since=stamps[3])
        assert expected[3] in later and not set(expected[:3]) & set(later), path
        assert await ids(path, since=stamps[2], until=stamps[2]) == [], path


def _circle(points: int) -> list[list[float]]:
    angles = [2 * math.pi * i / points for i in range(points)]
    return [[round(0.5 + 0.4 * math.cos(a), 6), round(0.5 + 0.4 * math.sin(a), 6)] for a in angles]


async def test_zone_outlines_are_capped_at_100_points(client: TestClient, seeded: Seeded) -> None:
    """Finding: no vertex cap, and an O(n²) check on the event loop (5 000 points took minutes)."""
    body = {"name": "Lawn", "shape": "polygon", "coordinates": _circle(100)}
    assert (await client.post("/api/cameras/front_door/zones", json=body)).status == 201
    closed = {**body, "name": "Closed lawn", "coordinates": [*_circle(100), _circle(100)[0]]}
    assert (await client.post("/api/cameras/front_door/zones", json=closed)).status == 201
    for points in (101, 5_000):
        error = await error_of(
            await client.post("/api/cameras/front_door/zones", json={**body, "coordinates": _circle(points)}), 422
        )
        [problem] = error["details"]
        assert problem["field"] == "coordinates"
        assert problem["message"] == f"a zone has at most 100 points, got {points}: simplify the outline"
    schema = (await (await client.get("/api/openapi.json")).json())["components"]["schemas"]
    assert schema["ZoneCreate"]["properties"]["coordinates"]["maxItems"] == 101
