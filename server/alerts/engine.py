"""AlertEngine: every new event against every enabled rule, on the live path (as each event is written).

For each rule that matches (`matching.evaluate`, facts from the event and its detections' zones):

1. the dedup key is rendered from the rule's template with the top matching detection's type and zone;
2. the cooldown is taken atomically in Redis (`Cooldown.acquire`, holder = the event id), so two
   workers handling events of the same situation raise one alert;
3. the alert row is committed (`pending`) and `alert.created` published;
4. channels are delivered: `ha` *is* the publish (Home Assistant listens on the WebSocket relay), a
   `webhook` is POSTed signed with HMAC-SHA256; then the alert becomes `delivered` with `delivered_at`
   and `alert.updated` is published.

When the event's assessment is refined later (`refine`: the LLM's text and score after the rules
scorer's first one, so a notification never waits for a model), its alerts are updated in place
(`alert.updated`, the first figures kept) and rules that only the refined score satisfies raise theirs.

A failed delivery does not lose the alert: it stays `pending`, a log row says why, and
`redeliver_pending` (run periodically by the analyze role) tries again while the alert is recent.

Redelivery of the same analysis job (at-least-once streams) is safe: a rule that already has an alert
for the event is skipped, and a cooldown key held by the same event (a crash between taking it and
writing the alert) counts as this event's own claim.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.alerts import delivery, webhook
from server.alerts.dedup import Cooldown, render_dedup_key
from server.alerts.matching import DetectionFacts, EventFacts, RuleMatch, evaluate
from server.alerts.rule_row import spec_from_row
from server.alerts.rule_spec import AlertRuleSpec
from server.alerts.severity import alert_severity
from server.models import Alert, AlertRule, AlertStatus, Event, json_list
from server.pipeline import broadcast
from server.wire import AlertOut, EventOut

_LOGGER = logging.getLogger("hsi.alerts")

#: Pending alerts younger than this are retried by `redeliver_pending`; older ones are left as they are.
REDELIVERY_MAX_AGE = timedelta(hours=6)
#: ...and only once they are at least this old (the live path may still be delivering them).
REDELIVERY_MIN_AGE = timedelta(seconds=30)
#: Pending alerts read at a time by the redelivery (it goes through all of them, a page at a time).
REDELIVERY_PAGE = 100
COOLDOWN_PREFIX = "hsi:cooldown:"
#: `<prefix><event id>`: the rules a cooldown held back for that event (a set of rule ids). A later pass
#: over the event (its refinement, minutes later with an LLM on a CPU; a job delivered again) must not
#: raise them once the cooldown has run out: the user was told of this situation. Kept a day.
HELD_PREFIX = "hsi:alerts:held:"
HELD_SECONDS = 86_400


@dataclass(frozen=True)
class EventDetection:
    """A detection of the event as matching needs it, with its id (for the alert's thumbnail)."""

    detection_id: int
    facts: DetectionFacts


def thumbnail_url(detection_id: int) -> str:
    return f"/api/detections/{detection_id}/thumbnail"


class AlertEngine:
    """Evaluates events against the enabled rules and delivers the alerts; one per analyze process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        *,
        webhook_timeout_seconds: float = webhook.DEFAULT_TIMEOUT_SECONDS,
        webhook_allowed_networks: Collection[webhook.IPNetwork] = (),
        home_timezone: str = "UTC",
    ) -> None:
        self._sessions = sessions
        self._home_timezone = home_timezone  # for schedules that name no zone (`HSI_TIMEZONE`)
        self._redis = redis
        self._cooldown = Cooldown(redis, prefix=COOLDOWN_PREFIX)
        self._webhook_timeout = webhook_timeout_seconds
        self._webhook_allowed = tuple(webhook_allowed_networks)
        self._http: aiohttp.ClientSession | None = None
        #: Who holds an alert's delivery lock when `redeliver_pending` takes it.
        self._holder = f"redelivery-{uuid.uuid4().hex}"

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _rules(self) -> list[tuple[AlertRule, AlertRuleSpec]]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)))).all()
        rules = []
        for row in rows:
            try:
                rules.append((row, spec_from_row(row).in_home_zone(self._home_timezone)))
            except ValidationError as err:
                _LOGGER.warning(
                    "alert rule %s (%s) is invalid and was skipped: %s",
                    row.id,
                    row.name,
                    err,
                    extra={"component": "alerts", "data": {"rule_id": str(row.id)}},
                )
        return rules

    async def process_event(self, event: Event, detections: Sequence[EventDetection]) -> list[Alert]:
        """Evaluate one committed event against every enabled rule; returns the alerts it raised."""
        facts = EventFacts(
            event_id=event.id,
            camera_id=event.camera_id,
            risk_score=event.risk_score,
            started_at=event.started_at,
            detections=[item.facts for item in detections],
        )
        raised: list[Alert] = []
        for row, spec in await self._rules():
            match = evaluate(spec, facts)
            if not match.matched:
                continue
            alert = await self._raise(event, row, spec, match, detections)
            if alert is not None:
                raised.append(alert)
                await delivery.hand_over(self._redis, self, alert, event, spec)  # webhooks: queued
        return raised

    async def refine(
        self, event: Event, detections: Sequence[EventDetection], *, raise_new: bool = True
    ) -> list[Alert]:
        """The event's assessment was refined (the LLM's, after the rules scorer's first one): update the
        alerts it already raised — new score, level and summary, the first figures kept under
        `metadata.initial`, a severity taken from the risk follows it, `metadata.refined_at` equal to
        the update's `updated_at` (so a client tells this update from a later change of status) — and,
        with `raise_new`, raise the alerts the refined score now calls for (a rule on risk the first
        score did not reach). An alert that already carries this assessment (refined with it, or raised
        with it by an earlier pass: a refine job delivered again) is left as it is. Returns the new
        alerts."""
        now = datetime.now(UTC)
        refined = {
            "summary": event.summary,
            "risk_score": event.risk_score,
            "risk_level": event.risk_level,
            "analysis_backend": event.analysis_backend,
        }
        changed: list[Alert] = []
        async with self._sessions() as session, session.begin():
            alerts = list(
                await session.scalars(select(Alert).where(Alert.event_id == event.id).order_by(Alert.created_at))
            )
            for alert in alerts:
                metadata = dict(alert.alert_metadata or {})
                if all(metadata.get(k) == value for k, value in refined.items()):
                    continue  # refined with this assessment, or raised with it: the job delivered again
                metadata.setdefault(
                    "initial", {key: metadata.get(key) for key in ("risk_score", "risk_level", "summary")}
                )
                metadata |= refined | {"refined_at": now.isoformat()}
                if metadata.get("severity_source") == "risk":
                    alert.severity = alert_severity(None, event.risk_score).severity
                alert.alert_metadata = metadata
                alert.updated_at = now
                changed.append(alert)
        for alert in changed:  # announced once: a client takes each announcement for a new refinement
            await broadcast.publish(self._redis, "alert.updated", AlertOut.dump(alert))
        return await self.process_event(event, detections) if raise_new else []

    async def _raise(
        self,
        event: Event,
        row: AlertRule,
        spec: AlertRuleSpec,
        match: RuleMatch,
        detections: Sequence[EventDetection],
    ) -> Alert | None:
        # The most confident detection that satisfies the rule (`evaluate` found it): its picture is
        # the alert's, its type and zone (none: "-") the dedup key's, never another detection's.
        top = detections[match.top_index] if match.top_index is not None else None
        zone_ids = list(match.matched_zone_ids)
        dedup_key = render_dedup_key(
            spec.dedup_key_template, event.camera_id, str(row.id), match.top_object_type, match.top_zone_id
        )
        # The event and the rule: another rule sharing the key (a template without {rule_id}) is held by
        # it as any other event is; only this pass again (a job delivered again) finds it its own.
        holder = f"event:{event.id}:rule:{row.id}"
        held = HELD_PREFIX + str(event.id)
        claimed = False
        try:
            async with self._sessions() as session, session.begin():
                # One pass over an event at a time from its check to its insert: two passes (a job
                # delivered again and its refinement) must not both find no alert yet and both insert.
                await session.execute(select(Event.id).where(Event.id == event.id).with_for_update())
                existing = await session.scalar(
                    select(Alert.id).where(Alert.event_id == event.id, Alert.rule_id == row.id)
                )
                if existing is not None:
                    return None  # a redelivered job: this event already alerted for this rule
                if await self._redis.sismember(held, str(row.id)):
                    return None  # held back by the cooldown on an earlier pass (see HELD_PREFIX)
                won = await self._cooldown.acquire(
                    dedup_key, spec.cooldown_seconds, holder=holder, at=event.started_at
                )
                if not won:
                    async with self._redis.pipeline(transaction=True) as pipe:
                        await pipe.sadd(held, str(row.id)).expire(held, HELD_SECONDS).execute()
                    _LOGGER.info(
                        "rule %s matched event %s but %s is cooling down",
                        spec.name,
                        event.id,
                        dedup_key,
                        extra={"component": "alerts", "event_id": event.id, "camera_id": event.camera_id},
                    )
                    return None
                claimed = True  # ours (a redelivered job's: ours already), given back if the insert fails
                alert = self._new_alert(event, row, spec, match, top, zone_ids, dedup_key)
                session.add(alert)
        except Exception:
            if claimed:
                await self._cooldown.release(dedup_key, holder=holder)
            raise
        _LOGGER.info(
            "alert %s raised by rule %s for event %s (%s)",
            alert.id,
            spec.name,
            event.id,
            f"{alert.severity.value} from the {alert.alert_metadata['severity_source']}",
            extra={"component": "alerts", "event_id": event.id, "camera_id": event.camera_id},
        )
        await broadcast.publish(self._redis, "alert.created", AlertOut.dump(alert))
        return alert

    @staticmethod
    def _new_alert(
        event: Event,
        row: AlertRule,
        spec: AlertRuleSpec,
        match: RuleMatch,
        top: EventDetection | None,
        zone_ids: list[str],
        dedup_key: str,
    ) -> Alert:
        """The alert row `_raise` stores: severity, channels and what the notification shows."""
        severity = alert_severity(spec.severity, event.risk_score)
        metadata: dict[str, Any] = {
            "rule_name": spec.name,
            "object_types": list(match.matched_object_types)
            or [str(t) for t in json_list(event.object_types)],
            "top_confidence": match.top_confidence,
            "zone_ids": zone_ids,
            "thumbnail_url": thumbnail_url(top.detection_id) if top else None,
            "summary": event.summary,
            "risk_score": event.risk_score,
            "risk_level": event.risk_level,
            # Which assessment raised it: the rules scorer's first one, or the refinement's.
            "analysis_backend": event.analysis_backend,
            "severity_source": severity.source,
            "camera_id": event.camera_id,
        }
        alert = Alert(
            event_id=event.id,
            rule_id=row.id,
            severity=severity.severity,
            status=AlertStatus.PENDING,
            channels=list(spec.channels),
            dedup_key=dedup_key,
            alert_metadata=metadata,
        )
        return alert

    async def deliver(self, alert: Alert, event: Event, spec: AlertRuleSpec) -> bool:
        """Send the alert to its channels; `delivered` only if every channel took it."""
        if "webhook" in spec.channels and spec.webhook is not None:
            payload = {"type": "alert", "alert": AlertOut.dump(alert), "event": EventOut.dump(event)}
            try:
                await webhook.deliver(
                    self._http_session(),
                    spec.webhook.url,
                    spec.webhook.secret,
                    payload,
                    timeout_seconds=self._webhook_timeout,
                    allowed_networks=self._webhook_allowed,
                )
            except webhook.WebhookDeliveryError as err:
                _LOGGER.warning(
                    "alert %s stays pending: %s",
                    alert.id,
                    err,
                    extra={
                        "component": "alerts",
                        "event_id": event.id,
                        "camera_id": event.camera_id,
                        "data": {"alert_id": str(alert.id), "channel": "webhook"},
                    },
                )
                return False
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            stored = await session.get(Alert, alert.id)
            if stored is None or stored.status != AlertStatus.PENDING:
                return stored is not None
            stored.status = AlertStatus.DELIVERED
            stored.delivered_at = now
            stored.updated_at = now
        alert.status, alert.delivered_at, alert.updated_at = AlertStatus.DELIVERED, now, now
        await broadcast.publish(self._redis, "alert.updated", AlertOut.dump(stored))
        return True

    async def redeliver_pending(self, now: datetime | None = None) -> int:
        """Try again for recent alerts still `pending` (a webhook was down), oldest first, every one of
        them; returns how many went out. A receiver that fails is not tried again in the same pass:
        hundreds of alerts for one that is down cost one timeout, and never keep other receivers'
        alerts from their turn."""
        now = now or datetime.now(UTC)
        delivered = 0
        down: set[str] = set()
        after = (now - REDELIVERY_MAX_AGE, uuid.UUID(int=0))
        while page := await self._pending_page(after, now - REDELIVERY_MIN_AGE):
            for alert_id, created_at in page:
                after = (created_at, alert_id)
                # One process per alert at a time, and what it finds once it holds the lock: two analyze
                # workers, or this pass and the stream's deliverer, must not POST an alert twice.
                if not await delivery.take_lock(self._redis, alert_id, self._holder):
                    continue
                try:
                    loaded = await delivery.load_pending(self._sessions, alert_id)
                    receiver = delivery.receiver(loaded[2]) if loaded is not None else None
                    if loaded is None or receiver in down:
                        continue
                    if await self.deliver(*loaded):
                        delivered += 1
                    elif receiver is not None:
                        down.add(receiver)
                finally:
                    await delivery.release_lock(self._redis, alert_id, self._holder)
        return delivered

    async def _pending_page(
        self, after: tuple[datetime, uuid.UUID], until: datetime
    ) -> Sequence[tuple[uuid.UUID, datetime]]:
        """The next pending alerts (id, created_at) raised after `after` and by `until`, oldest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                delivery.pending_alerts()
                .with_only_columns(Alert.id, Alert.created_at)
                .where(tuple_(Alert.created_at, Alert.id) > after, Alert.created_at <= until)
                .order_by(Alert.created_at, Alert.id)
                .limit(REDELIVERY_PAGE)
            )
            return [(row.id, row.created_at) for row in rows]
