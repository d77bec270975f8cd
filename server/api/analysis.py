"""Analysis preview: what risk would the configured analyzer give this batch? Nothing is stored.

The request describes detections in the same terms the pipeline records them (pixels of an image of
a given size); zones of the camera are applied exactly as for a real batch, so a user can see how a
rule, a zone or a time of day changes the score before anything happens. It scores with the same
analyzer as the analyze role when that role runs in this process (one model in memory), else with one of
its own loaded on first use, and reads the time of day in the same home timezone by default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select

from server.alerts.schedule import TimezoneName
from server.alerts.zones import zones_hit
from server.analyze.analyzer import ResilientAnalyzer, SharedAnalyzer
from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.errors import AnalysisError
from server.analyze.risk import RiskLevel
from server.api.cameras import CameraId
from server.api.declare import Call, Routes
from server.api.errors import ApiError, not_found
from server.api.pagination import Instant
from server.models import Camera, Zone

#: The process's one analyzer, shared with the analyze role (see `server.application`).
ANALYZER = web.AppKey("analyzer", SharedAnalyzer)

routes = Routes("analysis")

Pixels = Annotated[int, Field(ge=0, le=100_000)]
Size = Annotated[int, Field(ge=1, le=100_000)]


class PreviewBox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: Pixels
    y: Pixels
    width: Size
    height: Size


class PreviewDetection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    bbox: PreviewBox
    image_width: Size
    image_height: Size
    detected_at: Instant

    @model_validator(mode="after")
    def _box_inside_image(self) -> PreviewDetection:
        if (
            self.bbox.x + self.bbox.width > self.image_width
            or self.bbox.y + self.bbox.height > self.image_height
        ):
            raise ValueError(
                "bbox must lie inside the image (x + width <= image_width, y + height <= image_height)"
            )
        return self


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: CameraId
    detections: list[PreviewDetection] = Field(min_length=1, max_length=500)
    timezone: TimezoneName | None = Field(
        None, description="What 'night' means; default: the server's home timezone, as the pipeline uses."
    )


class Preview(BaseModel):
    risk_score: int
    risk_level: RiskLevel
    summary: str
    reasoning: str
    risk_factors: list[str]
    backend: str = Field(description="Which analyzer answered (llama_cpp, openai, rules, fallback).")


class _Box:
    """A preview detection in the shape `zones_hit` reads (the `detections` row's column names; the
    class and confidence for zones with object filters)."""

    def __init__(self, camera_id: str, detection: PreviewDetection) -> None:
        self.camera_id = camera_id
        self.object_type = detection.object_type.lower()
        self.confidence = detection.confidence
        self.bbox_x, self.bbox_y = detection.bbox.x, detection.bbox.y
        self.bbox_width, self.bbox_height = detection.bbox.width, detection.bbox.height


def _analyzer(call: Call) -> ResilientAnalyzer:
    """This process's analyzer (the application's, or the app's own when it runs without one). Its
    model loads on the first `assess` (the heavy backends are imported only then)."""
    return call.request.app[ANALYZER].get()


@routes.post(
    "/api/analysis/preview",
    summary="Score a described batch without storing it",
    body=PreviewRequest,
    response=Preview,
    errors=(404, 503),
)
async def preview_analysis(call: Call) -> dict[str, Any]:
    body: PreviewRequest = call.body
    async with call.runtime.database.sessions() as session:
        camera = await session.get(Camera, body.camera_id)
        if camera is None:
            raise not_found("camera", body.camera_id)
        zones = list((await session.execute(select(Zone).where(Zone.camera_id == body.camera_id))).scalars())
    names = {zone.id: zone for zone in zones}
    detections = []
    for item in body.detections:
        hits = zones_hit(_Box(body.camera_id, item), (item.image_width, item.image_height), zones)
        detections.append(
            DetectionInfo(
                object_type=item.object_type.lower(),
                confidence=item.confidence,
                detected_at=item.detected_at,
                x=item.bbox.x,
                y=item.bbox.y,
                width=item.bbox.width,
                height=item.bbox.height,
                image_width=item.image_width,
                image_height=item.image_height,
                zones=tuple(ZoneHit(names[z].name, str(names[z].zone_type)) for z in hits),
            )
        )
    times: list[datetime] = [d.detected_at for d in detections]
    context = BatchContext(
        camera_id=body.camera_id,
        camera_name=camera.name,
        started_at=min(times),
        ended_at=max(times),
        detections=tuple(sorted(detections, key=lambda d: d.detected_at)),
        timezone=body.timezone or call.runtime.settings.timezone,
    )
    try:
        assessment, backend = await _analyzer(call).preview(context)
    except AnalysisError as err:
        raise ApiError(
            503, "analyzer_unavailable", f"the analyzer could not score the batch: {err}"
        ) from None
    return {
        "risk_score": assessment.risk_score,
        "risk_level": assessment.risk_level.value,
        "summary": assessment.summary,
        "reasoning": assessment.reasoning,
        "risk_factors": list(assessment.risk_factors),
        "backend": backend,
    }
