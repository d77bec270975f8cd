"""GPU samples (utilization, memory, temperature, power, inference speed), one row per interval."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class GPUStats(Base):
    """One time-series sample of the inference GPU; every metric is nullable (not all GPUs report all)."""

    __tablename__ = "gpu_stats"
    __table_args__ = (Index("idx_gpu_stats_recorded_at", "recorded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    gpu_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gpu_utilization: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_used: Mapped[int | None] = mapped_column(Integer, nullable=True)
    memory_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    power_usage: Mapped[float | None] = mapped_column(Float, nullable=True)
    inference_fps: Mapped[float | None] = mapped_column(Float, nullable=True)

    def __repr__(self) -> str:
        return f"<GPUStats id={self.id} at={self.recorded_at} util={self.gpu_utilization}>"
