"""An entry of `hsi:analyze`: one closed batch of a camera's detections, to become one event.

The batcher's close script writes these fields in Lua (server/pipeline/batcher.py, `close`), atomically
with closing the batch; `AnalyzeJob.from_fields` is the Python side of that format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnalyzeJob:
    batch_id: str
    camera_id: str
    detection_ids: tuple[int, ...]
    is_fast_path: bool
    close_reason: str
    #: Redis clock, seconds: the batch opened, and closed.
    opened_at: float | None
    closed_at: float | None

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> AnalyzeJob:
        return cls(
            batch_id=fields["batch_id"],
            camera_id=fields["camera_id"],
            detection_ids=tuple(int(value) for value in json.loads(fields.get("detection_ids") or "[]")),
            is_fast_path=fields.get("is_fast_path") == "1",
            close_reason=fields.get("close_reason", ""),
            opened_at=float(fields["opened_at"]) if fields.get("opened_at") else None,
            closed_at=float(fields["closed_at"]) if fields.get("closed_at") else None,
        )
