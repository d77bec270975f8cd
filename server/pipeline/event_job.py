"""An entry of `hsi:refine` or `hsi:clips`: an event already out, for work that must not hold up the next one.

The analyze worker writes each event at once with the rules scorer's assessment, so its alerts go out
without waiting for anything slow, and queues this job twice: on `hsi:refine` for the LLM to refine the
event and its alerts when the model has answered, and on `hsi:clips` for the event's clip to be encoded
(seconds of video work per event). Each stream has its own consumers (server/analyze/worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventJob:
    event_id: int
    #: Wall-clock seconds when the event was written (for the latency figures in the log row).
    queued_at: float

    def to_fields(self) -> dict[str, str]:
        return {"event_id": str(self.event_id), "queued_at": f"{self.queued_at:.6f}"}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> EventJob:
        return cls(event_id=int(fields["event_id"]), queued_at=float(fields.get("queued_at") or 0.0))
