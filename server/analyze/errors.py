"""Errors of the analysis part, in one module so backends and the parser share them without cycles."""

from __future__ import annotations


class AnalysisError(Exception):
    """An analysis backend could not score a batch; the resilient analyzer falls back to rules."""


class AnalysisOutputError(AnalysisError):
    """A backend answered, but its answer is not a valid risk assessment (bad JSON or bad fields)."""


class BackendUnavailableError(AnalysisError):
    """A backend cannot be used at all (model file missing or corrupt, server unreachable)."""


class PromptTooLongError(AnalysisError):
    """This batch's prompt does not fit the model's context: a property of the batch, not of the
    backend. Not tried again, and no failure of the backend (its circuit breaker stays closed)."""


class RequestRefusedError(AnalysisError):
    """The server refused the request (HTTP 4xx other than 408 and 429: a model it does not have, a
    key it does not take): the same request gets the same answer, so it is not tried again."""


class RateLimitedError(AnalysisError):
    """The server is busy (HTTP 429, or 503): try again after `retry_after` seconds when it said how
    long. Not a failure of the backend."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
