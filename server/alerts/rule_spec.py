"""What an alert rule may say, validated once for both the API (create/update) and the engine.

Every field of the `alert_rules` row a client controls is here, with its limits; unknown fields are
rejected (`extra="forbid"`) so a typo such as `min_confidance` is an error, not a silently ignored
condition. Checks that need the database (does that camera exist? is that zone on those cameras?) are
in `check_references`, a plain function the API calls with what it loaded whenever a rule is created or
changed. The engine does not call it: deleting a camera or zone takes it out of the rules that name it
(`server.api.rule_references`), so a stored rule never names one that is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.alerts.dedup import DEFAULT_TEMPLATE, MAX_COOLDOWN_SECONDS, template_placeholders
from server.alerts.errors import invalid
from server.alerts.partial import partial_model
from server.alerts.schedule import Schedule
from server.alerts.webhook import webhook_target


class AlertSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


Channel = Literal["ha", "webhook"]
"""`ha`: the alert is published (Redis pub/sub → WebSocket → Home Assistant, which notifies phones).
`webhook`: additionally POSTed, HMAC-signed, to `webhook.url`."""


def _unique(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise invalid("duplicate", f"'{item}' is listed more than once")
        seen.add(item)
    return value


def _lower(value: list[str]) -> list[str]:
    return [item.lower() for item in value]


def _check_template(value: str) -> str:
    template_placeholders(value)
    return value


def _check_url(value: str) -> str:
    try:
        webhook_target(value)
    except ValueError as err:
        raise invalid("webhook_url", f"webhook url '{value}' cannot be delivered to: {err}") from None
    return value


def _default_channels() -> list[Channel]:
    return ["ha"]


Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
IdList = Annotated[list[Token], AfterValidator(_unique)]
ObjectTypeList = Annotated[list[Token], AfterValidator(_lower), AfterValidator(_unique)]
ChannelList = Annotated[list[Channel], AfterValidator(_unique)]
RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
DedupTemplate = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_check_template)
]
WebhookUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_check_url)]


class WebhookConfig(BaseModel):
    """Where a `webhook` channel POSTs, and the shared secret the receiver verifies signatures with."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    secret: str = Field(
        min_length=16,
        max_length=256,
        description="HMAC-SHA256 key; at least 16 characters so the signature cannot be guessed.",
    )


class AlertRuleSpec(BaseModel):
    """The client-controlled fields of an alert rule (the row adds id and timestamps)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: RuleName
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = True
    severity: AlertSeverity | None = Field(
        default=None,
        description="Severity of the rule's alerts; null: each alert takes its event's risk level.",
    )
    risk_threshold: int | None = Field(default=None, ge=0, le=100, description="Minimum event risk score.")
    object_types: ObjectTypeList | None = Field(default=None, description="Any of these; null/[] = any.")
    camera_ids: IdList | None = Field(default=None, description="Any of these cameras; null/[] = any.")
    zone_ids: IdList | None = Field(default=None, description="Detection in any of these; null/[] = any.")
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    schedule: Schedule | None = None
    dedup_key_template: DedupTemplate = DEFAULT_TEMPLATE
    cooldown_seconds: int = Field(default=300, ge=0, le=MAX_COOLDOWN_SECONDS)
    channels: ChannelList = Field(default_factory=_default_channels)
    webhook: WebhookConfig | None = None

    def in_home_zone(self, home_timezone: str) -> AlertRuleSpec:
        """The rule as matching needs it: a schedule without a zone of its own in the home's zone."""
        if self.schedule is None or self.schedule.timezone is not None:
            return self
        return self.model_copy(update={"schedule": self.schedule.in_home_zone(home_timezone)})

    @model_validator(mode="after")
    def _webhook_configured(self) -> AlertRuleSpec:
        if "webhook" in self.channels and self.webhook is None:
            raise invalid(
                "webhook_missing",
                "channel 'webhook' needs a 'webhook' object with 'url' and 'secret'",
            )
        return self


AlertRuleUpdate = partial_model(AlertRuleSpec, "AlertRuleUpdate")
"""PATCH body: any subset of `AlertRuleSpec`'s fields, same per-field rules; merge with `apply_update`."""


def check_references(
    spec: AlertRuleSpec, known_cameras: set[str], known_zones: Mapping[str, str]
) -> list[str]:
    """Errors for ids the rule names that do not exist, or zones no listed camera can see.

    `known_zones` maps zone id → camera id. An empty list means the rule is consistent. A zone on a
    camera outside `camera_ids` would make the rule unsatisfiable (zones belong to one camera), so it
    is an error rather than a rule that silently never fires.
    """
    errors: list[str] = []
    for camera_id in spec.camera_ids or []:
        if camera_id not in known_cameras:
            errors.append(f"camera_ids: unknown camera '{camera_id}'")
    for zone_id in spec.zone_ids or []:
        owner = known_zones.get(zone_id)
        if owner is None:
            errors.append(f"zone_ids: unknown zone '{zone_id}'")
        elif spec.camera_ids and owner not in spec.camera_ids:
            errors.append(
                f"zone_ids: zone '{zone_id}' belongs to camera '{owner}', which is not in camera_ids"
            )
    return errors
