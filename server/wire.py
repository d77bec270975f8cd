"""The JSON shapes of HSI's resources: what the REST API returns and what the WebSocket pushes.

One pydantic model per resource, the only declaration of its fields: the REST registry validates a
handler's result against the endpoint's declared model and encodes that (`server.api.registry`), a
broadcast sends `dump(Model, row)`, and the OpenAPI document, from which the integration's types are
generated (`scripts/ha/gen_api_types.py`), is rendered from the same models. A client sees one shape
for a resource whichever way it arrives.

A model is validated from a row as the code holds it: an ORM object (read by attribute) or a driver
record or row mapping (read by name, see server/api/rows.py); its fields are read by name, and the few
that are not columns are derived in the model's `derived` (a detection's box and URLs, an event's
thumbnail URL, a rule's webhook without its secret). A plain dict is taken as already shaped (a camera
with its activity, a handler's own composition). Columns that hold a JSON list as text (`events.
detection_ids`, `events.object_types`) are decoded by their field types (`JsonTextInts`, `JsonTextStrings`).

The long lists (events, detections, alerts, logs, audit entries: `rows_as_json`) write a page of driver
rows straight to JSON (`json_rows`): the same fields, read and derived the same way, without building and
then serializing a model per row. For a page of 50 events that took about 270 us of the 1.1 ms of server
CPU a request costs; from the rows it takes about 110. Their fields are typed columns (the database
holds them to their types) or `derived` values; tests/server/api/test_rows_as_json.py checks on real
rows of each table that both ways give the same JSON.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import asyncpg
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy.engine import RowMapping

from server.alerts.schedule import Schedule
from server.analyze.risk import RiskLevel
from server.models import AlertSeverity, AlertStatus, Base, CameraStatus, json_list
from server.vocabulary import ZoneShape, ZoneType

#: Rows read by name (driver records, row mappings); ORM objects are read by attribute.
_BY_NAME = (asyncpg.Record, RowMapping)  # the concrete class first: RowMapping's check is an ABC's

#: A row's field by name (None when the row has no such field: a derived one).
Get = Callable[[str], Any]


def _attribute(row: Base, name: str) -> Any:
    return getattr(row, name, None)


#: Lists stored as JSON text in their column.
JsonTextInts = Annotated[list[int], BeforeValidator(json_list)]
JsonTextStrings = Annotated[list[str], BeforeValidator(json_list)]


class Wire(BaseModel):
    """A resource's JSON shape, validated from a row (see the module docstring)."""

    model_config = ConfigDict(from_attributes=False)

    #: Whether a page of driver rows is written straight to JSON (`json_rows`) rather than validated.
    rows_as_json: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if type(data) is dict:  # already shaped (checked first: the common case of nested values)
            return data
        if isinstance(data, _BY_NAME):
            values = dict(data.items())  # every column at C speed: cheaper than picking fields one by one
            get: Get = values.get
        elif isinstance(data, Base):
            # Only what the shape names (an unloaded column would need I/O the caller did not plan).
            get = functools.partial(_attribute, data)
            values = {name: get(name) for name in cls.model_fields}
        else:
            return data
        values.update(cls.derived(get))
        return values

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        """The fields that are not columns of the row (none unless a model says otherwise): the same
        fields for every row, whatever their values."""
        return {}

    @classmethod
    def json_rows(cls, rows: Sequence[asyncpg.Record | RowMapping]) -> list[dict[str, Any]]:
        """The items of a JSON page for driver rows of one statement: what validating them would give,
        as plain values (`orjson` writes them as pydantic would, datetimes with `OPT_UTC_Z`; the keys
        in column order). Raises KeyError when the statement does not select a field of the shape."""
        if not rows:
            return []
        first = rows[0]
        unused, decoders = _row_plan(cls, tuple(first.keys()), tuple(cls.derived(first.get)))
        items = []
        for row in rows:
            item = dict(row.items())
            derived = cls.derived(item.get)
            for name, decode in decoders:
                item[name] = decode(item[name])
            for name in unused:
                del item[name]
            item.update(derived)
            items.append(item)
        return items

    @classmethod
    def dump(cls, row: Any) -> dict[str, Any]:
        """The JSON-ready form of `row` (what a broadcast sends and a webhook posts); a stored document
        in it (a rule's schedule) as it was written, without its model's unset defaults."""
        return cls.model_validate(row).model_dump(mode="json", exclude_unset=True)


@functools.cache
def _row_plan(
    model: type[Wire], columns: tuple[str, ...], derived: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[tuple[str, Callable[[Any], Any]], ...]]:
    """What `json_rows` does to a row of these columns whose `derived` gives these fields, worked out
    once: the columns the shape does not show (or derives), and the columns decoded before validation
    (their fields' `BeforeValidator`s)."""
    missing = set(model.model_fields) - set(columns) - set(derived)
    if missing:
        raise KeyError(", ".join(sorted(missing)))
    unused = tuple(name for name in columns if name not in model.model_fields or name in derived)
    decoders = tuple(
        (name, meta.func)
        for name in columns
        if name in model.model_fields and name not in derived
        for meta in model.model_fields[name].metadata
        if isinstance(meta, BeforeValidator)
    )
    return unused, decoders


def is_row(value: Any) -> bool:
    """Whether `value` is a row read by name (a driver record or a row mapping)."""
    return isinstance(value, _BY_NAME)


# --- cameras ------------------------------------------------------------------------------------


class EventSummary(BaseModel):
    """The short form of an event embedded in a camera (its latest event)."""

    id: int
    risk_score: int | None
    risk_level: str | None
    summary: str | None
    started_at: datetime
    ended_at: datetime | None = Field(description="The last detection's time; null while none is known.")
    object_types: JsonTextStrings


class CameraOut(Wire):
    """A camera with its activity: the REST API's camera and the payload of `camera.updated`."""

    id: str
    name: str
    folder_path: str
    status: CameraStatus
    created_at: datetime
    last_seen_at: datetime | None = Field(description="The latest upload (with or without detections).")
    upload_gap_seconds: float | None = Field(description="Learned longest recent silence between uploads.")
    offline_after_seconds: int | None = Field(description="The camera's own offline delay; null: learned.")
    last_event: EventSummary | None
    last_detection_id: int | None

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        # A row of `server.pipeline.cameras.with_activity`: the latest event as `event_<field>` columns.
        if get("event_id") is None:
            return {"last_event": None}
        return {"last_event": {name: get(f"event_{name}") for name in EventSummary.model_fields}}


# --- detections -----------------------------------------------------------------------------------


class Box(BaseModel):
    x: int
    y: int
    width: int
    height: int


class DetectionOut(Wire):
    rows_as_json = True

    id: int
    camera_id: str
    file_path: str
    file_type: str | None
    detected_at: datetime
    object_type: str | None
    confidence: float | None
    bbox: Box | None
    thumbnail_path: str | None
    thumbnail_url: str | None
    image_url: str
    media_type: str | None
    duration: float | None
    video_codec: str | None
    video_width: int | None
    video_height: int | None
    track_id: int | None = Field(description="The object across the camera's uploads (null: not tracked).")
    stationary: bool = Field(description="The object had stayed put: stored, but in no event and no alert.")

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        detection_id = get("id")
        x = get("bbox_x")
        box = None if x is None else {"x": x, "y": get("bbox_y"), "width": get("bbox_width"), "height": get("bbox_height")}
        return {
            "bbox": box,
            "thumbnail_url": f"/api/detections/{detection_id}/thumbnail" if get("thumbnail_path") else None,
            "image_url": f"/api/detections/{detection_id}/image",
            "stationary": bool(get("stationary")),
        }


# --- events and alerts ----------------------------------------------------------------------------


class EventOut(Wire):
    rows_as_json = True

    id: int
    batch_id: str
    camera_id: str
    started_at: datetime
    ended_at: datetime | None
    risk_score: int | None
    risk_level: RiskLevel | None
    summary: str | None
    reasoning: str | None
    detection_ids: JsonTextInts
    reviewed: bool
    notes: str | None
    is_fast_path: bool
    object_types: JsonTextStrings
    clip_path: str | None
    analysis_backend: str | None
    thumbnail_url: str | None
    has_clip: bool

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        detection_ids = json_list(get("detection_ids"))  # decoded once: the field takes the list as is
        return {
            "detection_ids": detection_ids,
            "thumbnail_url": f"/api/events/{get('id')}/thumbnail" if detection_ids else None,
            "has_clip": get("clip_path") is not None,
        }


class AlertOut(Wire):
    rows_as_json = True

    id: uuid.UUID
    event_id: int
    rule_id: uuid.UUID | None
    severity: AlertSeverity
    status: AlertStatus
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    channels: list[str]
    dedup_key: str | None
    metadata: dict[str, Any] = Field(
        description="object_types, top_confidence, zone_ids, thumbnail_url, summary, risk_score, camera_id"
    )

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        # `metadata` is reserved on SQLAlchemy models: the column's attribute is `alert_metadata`.
        return {"metadata": dict(get("alert_metadata") or {}), "channels": list(get("channels") or [])}


class WebhookOut(BaseModel):
    url: str
    has_secret: bool


class AlertRuleOut(Wire):
    """A rule; a webhook's secret is never shown again after it was set (`has_secret` says it is)."""

    id: uuid.UUID
    name: str
    description: str | None
    enabled: bool
    severity: AlertSeverity | None = Field(description="null: each alert takes its event's risk level.")
    risk_threshold: int | None
    object_types: list[str] | None
    camera_ids: list[str] | None
    zone_ids: list[str] | None
    min_confidence: float | None
    schedule: Schedule | None
    dedup_key_template: str
    cooldown_seconds: int
    channels: list[Literal["ha", "webhook"]]
    webhook: WebhookOut | None = Field(description="The secret is never returned.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        conditions = get("conditions")
        webhook = conditions.get("webhook") if isinstance(conditions, Mapping) else None
        return {
            "channels": list(get("channels") or []),
            "webhook": (
                {"url": webhook.get("url"), "has_secret": bool(webhook.get("secret"))}
                if isinstance(webhook, Mapping)
                else None
            ),
        }


# --- zones ----------------------------------------------------------------------------------------


class ZoneOut(Wire):
    id: str
    camera_id: str
    name: str
    zone_type: ZoneType
    coordinates: list[list[float]]
    shape: ZoneShape
    color: str
    enabled: bool
    priority: int
    loitering_seconds: int | None
    loitering_classes: list[str] | None
    object_filters: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


# --- baselines ------------------------------------------------------------------------------------


class ActivitySlot(Wire):
    hour: int
    day_of_week: int
    avg_count: float
    sample_count: int
    last_updated: datetime


class ClassSlot(Wire):
    detection_class: str
    hour: int
    frequency: float
    sample_count: int
    last_updated: datetime


# --- system, logs, audit, keys --------------------------------------------------------------------


class GpuSample(Wire):
    recorded_at: datetime
    gpu_name: str | None
    utilization: float | None
    memory_used: int | None
    memory_total: int | None
    temperature: float | None
    power_usage: float | None
    inference_fps: float | None

    @classmethod
    def derived(cls, get: Get) -> dict[str, Any]:
        return {"utilization": get("gpu_utilization")}


class LogOut(Wire):
    rows_as_json = True

    id: int
    timestamp: datetime
    level: str
    component: str
    message: str
    camera_id: str | None
    event_id: int | None
    detection_id: int | None
    request_id: str | None
    duration_ms: int | None
    extra: dict[str, Any] | None
    source: str
    user_agent: str | None


class AuditEntry(Wire):
    rows_as_json = True

    id: int
    timestamp: datetime
    action: str
    resource_type: str
    resource_id: str | None
    actor: str
    ip_address: str | None
    user_agent: str | None
    details: dict[str, Any] | None
    status: str


class KeyOut(Wire):
    """A key without its hash: the hash is a credential-equivalent for offline guessing."""

    id: int
    name: str
    created_at: datetime
    is_active: bool
