"""Between an `AlertRuleSpec` and an `alert_rules` row, both ways; the API and the engine share it.

The spec has one field the table has no column for: `webhook` ({url, secret}). It is stored in the
free-form `conditions` JSON column as `{"webhook": {...}}` — the engine uses no other key of it, and a
schema migration for one optional object is not worth it. Everything else maps column for column.
"""

from __future__ import annotations

from typing import Any

from server.alerts.rule_spec import AlertRuleSpec
from server.models import AlertRule, Severity

WEBHOOK_KEY = "webhook"


def row_values(spec: AlertRuleSpec) -> dict[str, Any]:
    """Column values for INSERT/UPDATE of a rule from a validated spec."""
    return {
        "name": spec.name,
        "description": spec.description,
        "enabled": spec.enabled,
        "severity": Severity(spec.severity.value) if spec.severity is not None else None,
        "risk_threshold": spec.risk_threshold,
        "object_types": spec.object_types,
        "camera_ids": spec.camera_ids,
        "zone_ids": spec.zone_ids,
        "min_confidence": spec.min_confidence,
        "schedule": spec.schedule.model_dump() if spec.schedule is not None else None,
        "dedup_key_template": spec.dedup_key_template,
        "cooldown_seconds": spec.cooldown_seconds,
        "channels": list(spec.channels),
        "conditions": {WEBHOOK_KEY: spec.webhook.model_dump()} if spec.webhook is not None else None,
    }


def spec_from_row(rule: AlertRule) -> AlertRuleSpec:
    """Validate a stored rule (raises pydantic's ValidationError for a row edited behind the API's back)."""
    conditions = rule.conditions if isinstance(rule.conditions, dict) else {}
    return AlertRuleSpec.model_validate(
        {
            "name": rule.name,
            "description": rule.description,
            "enabled": rule.enabled,
            "severity": None if rule.severity is None else str(getattr(rule.severity, "value", rule.severity)),
            "risk_threshold": rule.risk_threshold,
            "object_types": rule.object_types,
            "camera_ids": rule.camera_ids,
            "zone_ids": rule.zone_ids,
            "min_confidence": rule.min_confidence,
            "schedule": rule.schedule,
            "dedup_key_template": rule.dedup_key_template,
            "cooldown_seconds": rule.cooldown_seconds,
            "channels": rule.channels if rule.channels is not None else ["ha"],
            "webhook": conditions.get(WEBHOOK_KEY),
        }
    )
