"""Sensor platform: per-camera risk figures and the server's counters and GPU figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfInformation,
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api_types import Camera, Stats
from .const import SEVERITIES
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSICameraEntity, HSIHubEntity, async_setup_camera_entities

PARALLEL_UPDATES = 0
MAX_STATE_LENGTH = 255


@dataclass(frozen=True, kw_only=True)
class HSICameraSensorDescription(SensorEntityDescription):
    """A camera sensor and how to read it from the camera resource."""

    value_fn: Callable[[Camera], StateType]


@dataclass(frozen=True, kw_only=True)
class HSIHubSensorDescription(SensorEntityDescription):
    """A server sensor and how to read it from the stats resource."""

    value_fn: Callable[[Stats], StateType]


def _risk_score(camera: Camera) -> int | None:
    last = camera.get("last_event")
    return last["risk_score"] if last else None


def _risk_level(camera: Camera) -> str | None:
    last = camera.get("last_event")
    return last["risk_level"] if last else None


def _summary(camera: Camera) -> str | None:
    last = camera.get("last_event")
    if last is None or not last.get("summary"):
        return None
    return str(last["summary"])[:MAX_STATE_LENGTH]


CAMERA_SENSORS: tuple[HSICameraSensorDescription, ...] = (
    HSICameraSensorDescription(
        key="risk_score",
        translation_key="risk_score",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_risk_score,
    ),
    HSICameraSensorDescription(
        key="risk_level",
        translation_key="risk_level",
        device_class=SensorDeviceClass.ENUM,
        options=list(SEVERITIES),
        value_fn=_risk_level,
    ),
    HSICameraSensorDescription(
        key="last_event_summary",
        translation_key="last_event_summary",
        value_fn=_summary,
    ),
)


type GpuKey = Literal["utilization", "memory_used", "memory_total", "temperature", "inference_fps"]
type QueueKey = Literal["detect", "analyze", "dead_letter"]
QUEUES: tuple[QueueKey, ...] = ("detect", "analyze", "dead_letter")


def _gpu(key: GpuKey) -> Callable[[Stats], StateType]:
    return lambda stats: stats.get("gpu", {}).get(key)


def _queue(key: QueueKey) -> Callable[[Stats], StateType]:
    return lambda stats: stats.get("queues", {}).get(key)


HUB_SENSORS: tuple[HSIHubSensorDescription, ...] = (
    HSIHubSensorDescription(
        key="events_unreviewed",
        translation_key="events_unreviewed",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda s: s["events_unreviewed"],
    ),
    HSIHubSensorDescription(
        key="alerts_pending",
        translation_key="alerts_pending",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda s: s["alerts_pending"],
    ),
    *(
        HSIHubSensorDescription(
            key=f"queue_{name}",
            translation_key=f"queue_{name}",
            state_class=SensorStateClass.MEASUREMENT,
            entity_category=EntityCategory.DIAGNOSTIC,
            # The work queues go up and down with every upload (a state change each time, for
            # the recorder to keep); only the dead-letter queue says something is wrong.
            entity_registry_enabled_default=name == "dead_letter",
            value_fn=_queue(name),
        )
        for name in QUEUES
    ),
    HSIHubSensorDescription(
        key="gpu_utilization",
        translation_key="gpu_utilization",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gpu("utilization"),
    ),
    HSIHubSensorDescription(
        key="gpu_memory_used",
        translation_key="gpu_memory_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gpu("memory_used"),
    ),
    HSIHubSensorDescription(
        key="gpu_memory_total",
        translation_key="gpu_memory_total",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gpu("memory_total"),
    ),
    HSIHubSensorDescription(
        key="gpu_temperature",
        translation_key="gpu_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gpu("temperature"),
    ),
    HSIHubSensorDescription(
        key="inference_fps",
        translation_key="inference_fps",
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_gpu("inference_fps"),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the server's sensors and every camera's sensors."""
    coordinator = entry.runtime_data
    async_add_entities(HSIHubSensor(coordinator, desc) for desc in HUB_SENSORS)
    async_setup_camera_entities(
        entry,
        async_add_entities,
        lambda coord, camera_id: [
            HSICameraSensor(coord, camera_id, desc) for desc in CAMERA_SENSORS
        ],
    )


class HSIHubSensor(HSIHubEntity, SensorEntity):
    """A counter or GPU figure of the server."""

    entity_description: HSIHubSensorDescription

    def __init__(
        self, coordinator: HSICoordinator, description: HSIHubSensorDescription
    ) -> None:
        """Bind the description."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> StateType:
        """The figure from the latest stats."""
        return self.entity_description.value_fn(self.coordinator.data.stats)


class HSICameraSensor(HSICameraEntity, SensorEntity):
    """A figure of a camera's latest event."""

    entity_description: HSICameraSensorDescription

    def __init__(
        self,
        coordinator: HSICoordinator,
        camera_id: str,
        description: HSICameraSensorDescription,
    ) -> None:
        """Bind the description."""
        super().__init__(coordinator, camera_id, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> StateType:
        """The figure from the camera's latest event (None before the first event)."""
        camera = self.camera
        return None if camera is None else self.entity_description.value_fn(camera)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The latest event's id, start and object types (for templates and cards)."""
        if self.entity_description.key != "last_event_summary":
            return None
        camera = self.camera
        if camera is None or (last := camera.get("last_event")) is None:
            return None
        return {
            "event_id": last["id"],
            "started_at": last["started_at"],
            "object_types": list(last.get("object_types") or []),
        }
