"""Wire types of the Home Security Intelligence server, generated from its OpenAPI document.

Do not edit: run `.venv/bin/python scripts/ha/gen_api_types.py` after changing the server's models
(tests/server/test_ha_api_types.py fails while this file is stale).
"""

from __future__ import annotations

from typing import Any, Final, Generic, Literal, NotRequired, TypedDict, TypeVar

_T = TypeVar("_T")


class ComponentHealth(TypedDict):
    """One component's status; components add their own fields (latency, workers...). The fields
    declared below are those a client reads (the integration's repair issues).
    """

    # The server may add fields of its own (not typed here).
    status: str
    #: detector, analyzer: the backend running.
    backend: NotRequired[str | None]
    #: detector: where it runs (cpu, cuda...).
    device: NotRequired[str | None]
    #: detector: true while it stands in for the configured one.
    fallback: NotRequired[bool | None]
    #: Why the component is not healthy (with a key only).
    reason: NotRequired[str | None]
    #: storage: the free space it keeps, in %.
    min_free_percent: NotRequired[float | None]


class Health(TypedDict):
    """The server's `Health`."""

    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    instance_id: str
    components: dict[str, ComponentHealth]


class QueueDepths(TypedDict):
    """The server's `QueueDepths`."""

    #: Files waiting for detection.
    detect: int
    #: Closed batches waiting for their event.
    analyze: int
    #: Events waiting for the AI's assessment (their alerts went out already).
    refine: int
    #: Events waiting for their clip.
    clips: int
    #: Entries of every queue set aside after repeated failures.
    dead_letter: int


class GpuNow(TypedDict):
    """The server's `GpuNow`."""

    utilization: float | None
    #: MiB
    memory_used: int | None
    #: MiB
    memory_total: int | None
    temperature: float | None
    inference_fps: float | None


class Stats(TypedDict):
    """The server's `Stats`."""

    cameras: int
    events_unreviewed: int
    alerts_pending: int
    queues: QueueDepths
    gpu: GpuNow
    pipeline_healthy: bool


CameraStatus = Literal["online", "offline", "error"]


class EventSummary(TypedDict):
    """The short form of an event embedded in a camera (its latest event)."""

    id: int
    risk_score: int | None
    risk_level: str | None
    summary: str | None
    started_at: str
    #: The last detection's time; null while none is known.
    ended_at: str | None
    object_types: list[str]


class Camera(TypedDict):
    """A camera with its activity: the REST API's camera and the payload of `camera.updated`."""

    id: str
    name: str
    folder_path: str
    status: CameraStatus
    created_at: str
    #: The latest upload (with or without detections).
    last_seen_at: str | None
    #: Learned longest recent silence between uploads.
    upload_gap_seconds: float | None
    #: The camera's own offline delay; null: learned.
    offline_after_seconds: int | None
    last_event: EventSummary | None
    last_detection_id: int | None


RiskLevel = Literal["low", "medium", "high", "critical"]


class Event(TypedDict):
    """The server's `EventOut`."""

    id: int
    batch_id: str
    camera_id: str
    started_at: str
    ended_at: str | None
    risk_score: int | None
    risk_level: RiskLevel | None
    summary: str | None
    reasoning: str | None
    detection_ids: list[int]
    reviewed: bool
    notes: str | None
    is_fast_path: bool
    object_types: list[str]
    clip_path: str | None
    analysis_backend: str | None
    thumbnail_url: str | None
    has_clip: bool


class SearchHit(Event):
    """The server's `SearchHit`."""

    #: Relevance (higher first).
    rank: float


class Box(TypedDict):
    """The server's `Box`."""

    x: int
    y: int
    width: int
    height: int


class Detection(TypedDict):
    """The server's `DetectionOut`."""

    id: int
    camera_id: str
    file_path: str
    file_type: str | None
    detected_at: str
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
    #: The object across the camera's uploads (null: not tracked).
    track_id: int | None
    #: The object had stayed put: stored, but in no event and no alert.
    stationary: bool


Severity = Literal["low", "medium", "high", "critical"]


AlertStatus = Literal["pending", "delivered", "acknowledged", "dismissed"]


class Alert(TypedDict):
    """The server's `AlertOut`."""

    id: str
    event_id: int
    rule_id: str | None
    severity: Severity
    status: AlertStatus
    created_at: str
    updated_at: str
    delivered_at: str | None
    channels: list[str]
    dedup_key: str | None
    #: object_types, top_confidence, zone_ids, thumbnail_url, summary, risk_score, camera_id
    metadata: dict[str, Any]


class Schedule(TypedDict):
    """A rule's active time; stored as JSON in `alert_rules.schedule` exactly as given.

    A schedule without a timezone follows the home's zone (the server's `HSI_TIMEZONE`), so a default
    rule such as "a person at night" means night where the home is, and keeps meaning it when the
    setting changes. Whoever evaluates such a schedule resolves it first (`in_home_zone`).
    """

    #: Days a window starts on: mon..sun, lower-case.
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    #: Local start, HH:MM (inclusive).
    start_time: str
    #: Local end, HH:MM (exclusive); earlier than start = overnight.
    end_time: str
    #: IANA timezone the times are in, e.g. America/Chicago; null: the home's zone (HSI_TIMEZONE).
    timezone: NotRequired[str | None]


class Webhook(TypedDict):
    """The server's `WebhookOut`."""

    url: str
    has_secret: bool


class AlertRule(TypedDict):
    """A rule; a webhook's secret is never shown again after it was set (`has_secret` says it is)."""

    id: str
    name: str
    description: str | None
    enabled: bool
    #: null: each alert takes its event's risk level.
    severity: Severity | None
    risk_threshold: int | None
    object_types: list[str] | None
    camera_ids: list[str] | None
    zone_ids: list[str] | None
    min_confidence: float | None
    schedule: Schedule | None
    dedup_key_template: str
    cooldown_seconds: int
    channels: list[Literal["ha", "webhook"]]
    #: The secret is never returned.
    webhook: Webhook | None
    created_at: str
    updated_at: str


ZoneType = Literal["entry_point", "driveway", "sidewalk", "yard", "other"]


ZoneShape = Literal["rectangle", "polygon"]


class Zone(TypedDict):
    """The server's `ZoneOut`."""

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
    created_at: str
    updated_at: str


class RuleTestResult(TypedDict):
    """The server's `RuleTestResult`."""

    event_id: int
    camera_id: str
    started_at: str
    risk_score: int | None
    matched: bool
    #: Why not (empty when matched).
    reasons: list[str]
    matched_object_types: list[str]
    matched_zone_ids: list[str]
    top_confidence: float | None


class RuleTest(TypedDict):
    """The server's `RuleTest`."""

    rule_id: str
    results: list[RuleTestResult]


class ClassFilter(TypedDict):
    """What a real object of one class looks like on this camera; an unset bound does not filter."""

    #: Smallest box area, as a share of the frame (0.01 = 1 %).
    min_area: NotRequired[float | None]
    #: Lowest detector confidence.
    min_score: NotRequired[float | None]
    #: Smallest width / height.
    min_ratio: NotRequired[float | None]
    #: Largest width / height.
    max_ratio: NotRequired[float | None]


class ObjectFilters(TypedDict):
    """A camera's (or zone's) filters: per class (`"*"` for every other class) and mask polygons."""

    #: Filters by class name ("person", "car"); "*" applies to classes without their own.
    classes: NotRequired[dict[str, ClassFilter]]
    #: Polygons ([[x, y], ...] fractions of the image) where detections are ignored.
    masks: NotRequired[list[list[list[float]]]]


class Page(TypedDict, Generic[_T]):
    """One page of a list endpoint."""

    items: list[_T]
    next_cursor: str | None


#: The WebSocket's message types (server/api/ws.py), all subscribed to.
PUSH_MESSAGE_TYPES: Final = (
    "event.created",
    "event.updated",
    "alert.created",
    "alert.updated",
    "detection.created",
    "camera.updated",
    "camera.deleted",
    "system.status",
)
