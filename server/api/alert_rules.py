"""Alert rules: CRUD validated by the engine's own `AlertRuleSpec`, and a dry run against recent events.

Validation is the engine's: the body is an `AlertRuleSpec` (or its partial `AlertRuleUpdate`), ids are
checked with `check_references`, rows are written with `rule_row.row_values`, and `/test` answers with
`matching.evaluate` — so "the API accepted it" and "the engine applies it" cannot disagree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.alerts.matching import DetectionFacts, EventFacts, evaluate
from server.alerts.partial import apply_update
from server.alerts.rule_row import row_values, spec_from_row
from server.alerts.rule_spec import AlertRuleSpec, AlertRuleUpdate, check_references
from server.alerts.zones import zones_hit
from server.api.audit import record
from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.errors import ApiError, not_found
from server.api.pagination import Keyset, Page, PageQuery, Where, fetch_page, page_of
from server.api.rows import selected
from server.models import AlertRule, AuditAction, Camera, Detection, Event, Zone
from server.pipeline.batcher import image_size_of
from server.wire import AlertRuleOut

routes = Routes("alert-rules")


class RulePath(BaseModel):
    rule_id: uuid.UUID


class RuleQuery(PageQuery):
    enabled: bool | None = None


_KEYSET = Keyset("alert_rules", (AlertRule.created_at, AlertRule.id), (datetime, uuid.UUID), descending=False)


async def _check(session: AsyncSession, spec: AlertRuleSpec) -> None:
    """Unknown cameras/zones, or zones outside the rule's cameras, are 422s listing each problem.

    The rows named are locked (FOR KEY SHARE) until the rule is committed: a camera or zone being
    deleted meanwhile is either seen gone here, or its deletion waits for this rule and then takes the
    id out of it (`forget_deleted`), so a stored rule never names an object that no longer exists."""
    if not spec.camera_ids and not spec.zone_ids:
        return
    named_cameras = select(Camera.id).where(Camera.id.in_(spec.camera_ids or ()))
    named_zones = select(Zone.id, Zone.camera_id).where(Zone.id.in_(spec.zone_ids or ()))
    cameras = set((await session.scalars(named_cameras.with_for_update(key_share=True))).all())
    zones = {row.id: row.camera_id for row in await session.execute(named_zones.with_for_update(key_share=True))}
    problems = check_references(spec, cameras, zones)
    if problems:
        details = [
            {"field": p.split(":", 1)[0], "message": p.split(":", 1)[1].strip(), "in": "body"}
            for p in problems
        ]
        raise ApiError(422, "validation_error", "; ".join(problems), details)


async def _rule(session: AsyncSession, rule_id: uuid.UUID, *, lock: bool = False) -> AlertRule:
    rule = await session.get(AlertRule, rule_id, with_for_update=lock)
    if rule is None:
        raise not_found("alert rule", rule_id)
    return rule


@routes.get("/api/alert-rules", summary="List alert rules", query=RuleQuery, response=Page[AlertRuleOut])
async def list_rules(call: Call) -> dict[str, Any]:
    """Oldest first (the order they were created in)."""
    filters = Where().choice("enabled", call.query.enabled, AlertRule.enabled.is_)
    rows, cursor = await call.runtime.database.read(
        lambda connection: fetch_page(
            connection, selected(AlertRule), _KEYSET, call.query, lambda r: (r["created_at"], r["id"]), filters
        )
    )
    return page_of(list(rows), cursor)


@routes.post(
    "/api/alert-rules", summary="Create an alert rule", body=AlertRuleSpec, response=AlertRuleOut, status=201
)
async def create_rule(call: Call) -> dict[str, Any]:
    spec: AlertRuleSpec = call.body
    async with call.runtime.database.sessions() as session:
        await _check(session, spec)
        rule = AlertRule(**row_values(spec))
        session.add(rule)
        await session.flush()
        record(
            session,
            call.request,
            AuditAction.RULE_CREATED,
            "alert_rule",
            rule.id,
            details={"name": spec.name},
        )
        await session.commit()
        return AlertRuleOut.dump(rule)


@routes.get(
    "/api/alert-rules/{rule_id}", summary="Get an alert rule", path_params=RulePath, response=AlertRuleOut
)
async def read_rule(call: Call) -> dict[str, Any]:
    async with call.runtime.database.sessions() as session:
        return AlertRuleOut.dump(await _rule(session, call.path.rule_id))


@routes.patch(
    "/api/alert-rules/{rule_id}",
    summary="Update an alert rule",
    path_params=RulePath,
    body=AlertRuleUpdate,
    response=AlertRuleOut,
)
async def update_rule(call: Call) -> dict[str, Any]:
    """Only the fields given change; the merged rule is validated as a whole."""
    async with call.runtime.database.sessions() as session:
        # Locked: two updates at once each merged into the rule as it was, and together stored a rule
        # neither validated (the webhook channel of one, no webhook of the other): the engine skipped it.
        rule = await _rule(session, call.path.rule_id, lock=True)
        merged = apply_update(spec_from_row(rule), call.body)
        await _check(session, merged)
        for name, value in row_values(merged).items():
            setattr(rule, name, value)
        record(
            session,
            call.request,
            AuditAction.RULE_UPDATED,
            "alert_rule",
            rule.id,
            details={"fields": sorted(call.body.model_dump(exclude_unset=True))},
        )
        await session.commit()
        return AlertRuleOut.dump(rule)


@routes.delete("/api/alert-rules/{rule_id}", summary="Delete an alert rule", path_params=RulePath)
async def delete_rule(call: Call) -> None:
    """Alerts it raised stay (their rule_id becomes null)."""
    async with call.runtime.database.sessions() as session:
        rule = await _rule(session, call.path.rule_id)
        await session.delete(rule)
        record(
            session,
            call.request,
            AuditAction.RULE_DELETED,
            "alert_rule",
            rule.id,
            details={"name": rule.name},
        )
        await session.commit()


class RuleTestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=200, description="How many of the most recent events to test.")
    camera_id: CameraId | None = None


class RuleTestResult(BaseModel):
    event_id: int
    camera_id: str
    started_at: datetime
    risk_score: int | None
    matched: bool
    reasons: list[str] = Field(description="Why not (empty when matched).")
    matched_object_types: list[str]
    matched_zone_ids: list[str]
    top_confidence: float | None


class RuleTest(BaseModel):
    rule_id: uuid.UUID
    results: list[RuleTestResult]


async def event_facts(session: AsyncSession, events: list[Event]) -> list[EventFacts]:
    """What matching needs for each event: its detections with the zones their boxes stand in."""
    detection_ids = {i for event in events for i in event.detection_id_list}
    detections = (
        {
            d.id: d
            for d in (
                await session.execute(select(Detection).where(Detection.id.in_(detection_ids)))
            ).scalars()
        }
        if detection_ids
        else {}
    )
    cameras = {event.camera_id for event in events}
    zones = (
        list((await session.execute(select(Zone).where(Zone.camera_id.in_(cameras)))).scalars())
        if cameras
        else []
    )
    facts = []
    for event in events:
        items = []
        for detection_id in event.detection_id_list:
            detection = detections.get(detection_id)
            if detection is None or detection.object_type is None or detection.confidence is None:
                continue
            size = image_size_of(detection) if zones else None
            hit = zones_hit(detection, size, zones) if size is not None else []
            items.append(DetectionFacts(detection.object_type, detection.confidence, frozenset(hit)))
        facts.append(EventFacts(event.id, event.camera_id, event.risk_score, event.started_at, tuple(items)))
    return facts


@routes.post(
    "/api/alert-rules/{rule_id}/test",
    summary="Which recent events would this rule match, and why not",
    path_params=RulePath,
    query=RuleTestQuery,
    response=RuleTest,
)
async def test_rule(call: Call) -> dict[str, Any]:
    """A dry run: nothing is raised or delivered (audited as a notification test)."""
    q: RuleTestQuery = call.query
    async with call.runtime.database.sessions() as session:
        rule = await _rule(session, call.path.rule_id)
        spec = spec_from_row(rule).in_home_zone(call.runtime.settings.timezone)
        statement = select(Event).order_by(Event.started_at.desc(), Event.id.desc()).limit(q.limit)
        if q.camera_id is not None:
            statement = statement.where(Event.camera_id == q.camera_id)
        events = list((await session.execute(statement)).scalars())
        facts = await event_facts(session, events)
        results = []
        for fact in facts:
            match = evaluate(spec, fact)
            results.append(
                {
                    "event_id": fact.event_id,
                    "camera_id": fact.camera_id,
                    "started_at": fact.started_at.isoformat(),
                    "risk_score": fact.risk_score,
                    "matched": match.matched,
                    "reasons": list(match.reasons_failed),
                    "matched_object_types": list(match.matched_object_types),
                    "matched_zone_ids": list(match.matched_zone_ids),
                    "top_confidence": match.top_confidence,
                }
            )
        record(
            session,
            call.request,
            AuditAction.NOTIFICATION_TEST,
            "alert_rule",
            rule.id,
            details={"events": len(results), "matched": sum(r["matched"] for r in results)},
        )
        await session.commit()
    return {"rule_id": str(rule.id), "results": results}
