"""The protocol every analysis backend implements; the resilient analyzer only knows this."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from server.analyze.context import BatchContext
from server.analyze.schema import RiskAssessment


@runtime_checkable
class Analyzer(Protocol):
    """Scores one batch. Raises AnalysisError (or a subclass) when it cannot; never returns junk."""

    name: str
    #: How many calls the backend serves at once (None: no limit it knows of). The resilient analyzer
    #: queues callers beyond it itself, so that time spent waiting for a busy model is not taken for
    #: the model failing (server/analyze/analyzer.py).
    concurrency: int | None

    async def assess(self, ctx: BatchContext) -> RiskAssessment:
        """The risk assessment of `ctx`, schema-valid."""
        ...

    async def close(self) -> None:
        """Release the model, sessions and threads; the analyzer is not used afterwards."""
        ...
