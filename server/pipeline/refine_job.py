"""An entry of `hsi:refine`: an event already out with the rules scorer's assessment, for the LLM to refine.

The analyze worker writes each event at once with the rules' score (so its alerts go out without waiting
for a model) and queues this job; the refinement updates the event and its alerts when the model has
answered (server/analyze/worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RefineJob:
    event_id: int
    #: Wall-clock seconds when the event was written (for the refinement's latency figures).
    queued_at: float

    def to_fields(self) -> dict[str, str]:
        return {"event_id": str(self.event_id), "queued_at": f"{self.queued_at:.6f}"}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> RefineJob:
        return cls(event_id=int(fields["event_id"]), queued_at=float(fields.get("queued_at") or 0.0))
