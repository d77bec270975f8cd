"""Alert rule specs: every validation message, the partial update model and reference checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from server.alerts.dedup import render_dedup_key
from server.alerts.partial import apply_update
from server.alerts.rule_spec import AlertRuleSpec, AlertRuleUpdate, check_references

WEBHOOK = {"url": "https://hooks.example.org/hsi?token=abc", "secret": "0123456789abcdef"}
NIGHT = {"days": ["mon", "fri"], "start_time": "22:00", "end_time": "06:00", "timezone": "America/Chicago"}


def errors_of(model: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.value.errors()]


def single_error(data: dict[str, Any]) -> tuple[str, str]:
    errors = errors_of(AlertRuleSpec, {"name": "rule", **data})
    assert len(errors) == 1, errors
    return errors[0]


def test_minimal_rule_gets_the_documented_defaults() -> None:
    spec = AlertRuleSpec.model_validate({"name": "Any activity"})
    assert spec.model_dump(mode="json") == {
        "name": "Any activity",
        "description": None,
        "enabled": True,
        "severity": None,  # the alert takes the event's risk level
        "risk_threshold": None,
        "object_types": None,
        "camera_ids": None,
        "zone_ids": None,
        "min_confidence": None,
        "schedule": None,
        "dedup_key_template": "{camera_id}:{rule_id}",
        "cooldown_seconds": 300,
        "channels": ["ha"],
        "webhook": None,
    }


def test_full_rule_round_trips() -> None:
    data = {
        "name": "Person at night",
        "description": "Front door after 22:00",
        "enabled": False,
        "severity": "critical",
        "risk_threshold": 50,
        "object_types": ["person"],
        "camera_ids": ["front_door"],
        "zone_ids": ["front_door_entry"],
        "min_confidence": 0.7,
        "schedule": NIGHT,
        "dedup_key_template": "{camera_id}:{rule_id}:{object_type}:{zone_id}",
        "cooldown_seconds": 600,
        "channels": ["ha", "webhook"],
        "webhook": WEBHOOK,
    }
    assert AlertRuleSpec.model_validate(data).model_dump(mode="json") == data


def test_object_types_are_normalised_to_lower_case() -> None:
    spec = AlertRuleSpec.model_validate({"name": "r", "object_types": [" Person ", "CAR"]})
    assert spec.object_types == ["person", "car"]


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        ({"name": ""}, "name", "String should have at least 1 character"),
        ({"name": "   "}, "name", "String should have at least 1 character"),
        ({"name": "x" * 256}, "name", "String should have at most 255 characters"),
        ({"description": "x" * 10_001}, "description", "String should have at most 10000 characters"),
        ({"severity": "urgent"}, "severity", "Input should be 'low', 'medium', 'high' or 'critical'"),
        ({"risk_threshold": 101}, "risk_threshold", "Input should be less than or equal to 100"),
        ({"risk_threshold": -1}, "risk_threshold", "Input should be greater than or equal to 0"),
        ({"risk_threshold": 50.5}, "risk_threshold", "Input should be a valid integer"),
        ({"min_confidence": 1.5}, "min_confidence", "Input should be less than or equal to 1"),
        ({"min_confidence": -0.1}, "min_confidence", "Input should be greater than or equal to 0"),
        ({"min_confidence": float("nan")}, "min_confidence", "Input should be a finite number"),
        ({"object_types": ["person", "Person"]}, "object_types", "'person' is listed more than once"),
        ({"object_types": [""]}, "object_types.0", "String should have at least 1 character"),
        ({"object_types": "person"}, "object_types", "Input should be a valid list"),
        ({"camera_ids": ["front", "front"]}, "camera_ids", "'front' is listed more than once"),
        ({"zone_ids": ["door", "door"]}, "zone_ids", "'door' is listed more than once"),
        ({"cooldown_seconds": -5}, "cooldown_seconds", "Input should be greater than or equal to 0"),
        ({"cooldown_seconds": 604_801}, "cooldown_seconds", "Input should be less than or equal to 604800"),
        ({"channels": ["email"]}, "channels.0", "Input should be 'ha' or 'webhook'"),
        ({"channels": ["ha", "ha"]}, "channels", "'ha' is listed more than once"),
        (
            {"channels": ["webhook"]},
            "",
            "channel 'webhook' needs a 'webhook' object with 'url' and 'secret'",
        ),
        (
            {"webhook": {"url": "ftp://example.org/x", "secret": WEBHOOK["secret"]}},
            "webhook.url",
            "webhook url 'ftp://example.org/x' cannot be delivered to: must be an absolute http:// or https:// URL",
        ),
        (
            {"webhook": {"url": "/relative", "secret": WEBHOOK["secret"]}},
            "webhook.url",
            "must be an absolute http:// or https:// URL",
        ),
        (
            {"webhook": {"url": "http://example.org:99999/x", "secret": WEBHOOK["secret"]}},
            "webhook.url",
            "cannot be delivered to: Port out of range 0-65535",
        ),
        (
            {"webhook": {"url": "http://example.org:abc/x", "secret": WEBHOOK["secret"]}},
            "webhook.url",
            "port can't be converted to integer",
        ),
        (
            {"webhook": {"url": "http://example.org:0/x", "secret": WEBHOOK["secret"]}},
            "webhook.url",
            "port 0 cannot be reached",
        ),
        (
            {"webhook": {"url": WEBHOOK["url"], "secret": "short"}},
            "webhook.secret",
            "String should have at least 16 characters",
        ),
        ({"webhook": {"url": WEBHOOK["url"]}}, "webhook.secret", "Field required"),
        (
            {"webhook": {**WEBHOOK, "headers": {}}},
            "webhook.headers",
            "Extra inputs are not permitted",
        ),
        (
            {"dedup_key_template": "{camera_id}:{person}"},
            "dedup_key_template",
            "dedup_key_template uses unknown placeholder '{person}'; allowed: "
            "{camera_id}, {object_type}, {rule_id}, {zone_id}",
        ),
        ({"dedup_key_template": "{}"}, "dedup_key_template", "unknown placeholder '{}'"),
        ({"dedup_key_template": "{0}"}, "dedup_key_template", "unknown placeholder '{0}'"),
        (
            {"dedup_key_template": "{camera_id.__class__}"},
            "dedup_key_template",
            "unknown placeholder '{camera_id.__class__}'",
        ),
        (
            {"dedup_key_template": "{camera_id:>40}"},
            "dedup_key_template",
            "placeholder '{camera_id}' must be plain, without '!' or ':' parts",
        ),
        (
            {"dedup_key_template": "{rule_id!r}"},
            "dedup_key_template",
            "placeholder '{rule_id}' must be plain",
        ),
        (
            {"dedup_key_template": "{camera_id"},
            "dedup_key_template",
            "dedup_key_template has unbalanced braces (expected '}' before end of string)",
        ),
        (
            {"dedup_key_template": "camera_id}"},
            "dedup_key_template",
            "dedup_key_template has unbalanced braces (Single '}' encountered in format string)",
        ),
        ({"dedup_key_template": ""}, "dedup_key_template", "String should have at least 1 character"),
        (
            {"schedule": {**NIGHT, "start_time": "25:00"}},
            "schedule.start_time",
            "'25:00' is not a valid time",
        ),
        ({"schedule": {**NIGHT, "timezone": "Nowhere/City"}}, "schedule.timezone", "unknown timezone"),
        ({"schedule": {**NIGHT, "days": ["someday"]}}, "schedule.days", "unknown day 'someday'"),
        ({"conditions": {"legacy": True}}, "conditions", "Extra inputs are not permitted"),
        ({"min_confidance": 0.5}, "min_confidance", "Extra inputs are not permitted"),
    ],
)
def test_each_invalid_field_gives_a_clear_message(data: dict[str, Any], location: str, message: str) -> None:
    loc, msg = single_error(data)
    assert loc == location
    assert message in msg


def test_several_errors_are_reported_together() -> None:
    locations = {loc for loc, _ in errors_of(AlertRuleSpec, {"risk_threshold": 300, "channels": ["sms"]})}
    assert locations == {"name", "risk_threshold", "channels.0"}


def test_literal_braces_are_allowed_in_templates() -> None:
    spec = AlertRuleSpec.model_validate({"name": "r", "dedup_key_template": "{{hsi}}:{camera_id}"})
    assert render_dedup_key(spec.dedup_key_template, "front", "r1", None, None) == "{hsi}:front"


# --- partial update ---------------------------------------------------------------------------------


def existing_rule() -> AlertRuleSpec:
    return AlertRuleSpec.model_validate(
        {"name": "Night", "risk_threshold": 60, "object_types": ["person"], "schedule": NIGHT}
    )


def test_update_changes_only_the_given_fields() -> None:
    patch = AlertRuleUpdate.model_validate({"severity": "high", "cooldown_seconds": 0})
    merged = apply_update(existing_rule(), patch)
    assert (merged.severity, merged.cooldown_seconds) == ("high", 0)
    assert (merged.name, merged.risk_threshold, merged.object_types) == ("Night", 60, ["person"])
    assert merged.schedule == existing_rule().schedule


def test_update_null_clears_optional_conditions_only() -> None:
    merged = apply_update(
        existing_rule(), AlertRuleUpdate.model_validate({"risk_threshold": None, "schedule": None})
    )
    assert (merged.risk_threshold, merged.schedule) == (None, None)
    assert errors_of(AlertRuleUpdate, {"name": None}) == [("name", "Input should be a valid string")]
    assert errors_of(AlertRuleUpdate, {"cooldown_seconds": None}) == [
        ("cooldown_seconds", "Input should be a valid integer")
    ]


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        ({"name": ""}, "name", "String should have at least 1 character"),
        ({"risk_threshold": 101}, "risk_threshold", "less than or equal to 100"),
        ({"schedule": {**NIGHT, "end_time": "24:00"}}, "schedule.end_time", "'24:00' is not a valid time"),
        ({"dedup_key_template": "{who}"}, "dedup_key_template", "unknown placeholder '{who}'"),
        ({"camera_ids": ["a", "a"]}, "camera_ids", "'a' is listed more than once"),
        ({"object_types": ["Dog", "dog"]}, "object_types", "'dog' is listed more than once"),
        ({"webhook": {"url": "mailto:me@example.org", "secret": "x" * 16}}, "webhook.url", "absolute http"),
        ({"id": "abc"}, "id", "Extra inputs are not permitted"),
    ],
)
def test_update_applies_the_same_field_rules(data: dict[str, Any], location: str, message: str) -> None:
    errors = errors_of(AlertRuleUpdate, data)
    assert len(errors) == 1 and errors[0][0] == location and message in errors[0][1], errors


def test_update_is_checked_as_a_whole_after_merging() -> None:
    rule = existing_rule()
    patch = AlertRuleUpdate.model_validate({"channels": ["ha", "webhook"]})  # fine on its own
    with pytest.raises(ValidationError, match="channel 'webhook' needs a 'webhook' object"):
        apply_update(rule, patch)
    merged = apply_update(rule, AlertRuleUpdate.model_validate({"channels": ["webhook"], "webhook": WEBHOOK}))
    assert merged.webhook is not None and merged.webhook.url == WEBHOOK["url"]


def test_empty_update_changes_nothing() -> None:
    rule = existing_rule()
    assert apply_update(rule, AlertRuleUpdate.model_validate({})) == rule


# --- references -------------------------------------------------------------------------------------

CAMERAS = {"front", "back"}
ZONES = {"front-door": "front", "back-yard": "back"}


def test_references_that_exist_give_no_errors() -> None:
    spec = AlertRuleSpec.model_validate({"name": "r", "camera_ids": ["front"], "zone_ids": ["front-door"]})
    assert check_references(spec, CAMERAS, ZONES) == []
    assert check_references(AlertRuleSpec.model_validate({"name": "r"}), set(), {}) == []
    # Zones without camera_ids: any camera, so any existing zone is reachable.
    spec = AlertRuleSpec.model_validate({"name": "r", "zone_ids": ["front-door", "back-yard"]})
    assert check_references(spec, CAMERAS, ZONES) == []


def test_unknown_cameras_and_zones_and_unreachable_zones_are_reported() -> None:
    spec = AlertRuleSpec.model_validate(
        {"name": "r", "camera_ids": ["front", "garage"], "zone_ids": ["back-yard", "pool"]}
    )
    assert check_references(spec, CAMERAS, ZONES) == [
        "camera_ids: unknown camera 'garage'",
        "zone_ids: zone 'back-yard' belongs to camera 'back', which is not in camera_ids",
        "zone_ids: unknown zone 'pool'",
    ]
