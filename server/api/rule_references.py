"""Alert rules that name a deleted camera or zone: the id is taken out, and a rule is never widened.

Both delete routes (a camera, with the zones that go with it; a single zone) call `forget_deleted` in
their own transaction, so a stored rule never names an object that no longer exists — which is why the
API's `check_references` on create/update is enough and the engine need not check again per event.

An empty `camera_ids` or `zone_ids` means "any", so a rule whose only camera (or zone) is deleted would
silently start to fire for everything. Such a rule is disabled instead; its emptied list stays, so
turning it back on is an explicit choice. Each rule changed gets a `rule_updated` audit row (same
transaction as the deletion) and a log row; rules have no WebSocket push, clients re-read them.
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.audit import record
from server.models import AlertRule, AuditAction

_LOGGER = logging.getLogger("hsi.api.rules")


def _kept(ids: list[str] | None, gone: AbstractSet[str]) -> list[str] | None:
    return None if ids is None else [item for item in ids if item not in gone]


async def forget_deleted(
    session: AsyncSession,
    request: web.Request,
    *,
    cameras: AbstractSet[str] = frozenset(),
    zones: AbstractSet[str] = frozenset(),
) -> list[str]:
    """Take `cameras` and `zones` out of every rule that names them; the ids of the rules changed.

    Call it before the caller's commit: the rule changes, their audit rows and the deletion commit
    together. The rules are locked so a concurrent edit of one cannot write the old lists back.
    """
    statement = select(AlertRule).order_by(AlertRule.created_at, AlertRule.id).with_for_update()
    changed: list[str] = []
    for rule in (await session.scalars(statement)).all():
        camera_ids, zone_ids = _kept(rule.camera_ids, cameras), _kept(rule.zone_ids, zones)
        if camera_ids == rule.camera_ids and zone_ids == rule.zone_ids:
            continue
        removed_cameras = sorted(set(rule.camera_ids or ()) - set(camera_ids or ()))
        removed_zones = sorted(set(rule.zone_ids or ()) - set(zone_ids or ()))
        emptied = (bool(rule.camera_ids) and not camera_ids) or (bool(rule.zone_ids) and not zone_ids)
        disabled = rule.enabled and emptied
        details = {
            "change": "deleted references removed",
            "removed_camera_ids": removed_cameras,
            "removed_zone_ids": removed_zones,
            "disabled": disabled,
        }
        rule.camera_ids, rule.zone_ids = camera_ids, zone_ids
        if disabled:
            rule.enabled = False
        record(session, request, AuditAction.RULE_UPDATED, "alert_rule", rule.id, details=details)
        _LOGGER.log(
            logging.WARNING if disabled else logging.INFO,
            "alert rule %s (%s) no longer names deleted %s%s",
            rule.name,
            rule.id,
            ", ".join(removed_cameras + removed_zones),
            "; disabled rather than widened to any" if disabled else "",
            extra={"component": "alerts", "data": {"rule_id": str(rule.id), **details}},
        )
        changed.append(str(rule.id))
    return changed
