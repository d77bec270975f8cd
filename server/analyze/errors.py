"""Errors of the analysis part, in one module so backends and the parser share them without cycles."""

from __future__ import annotations


class AnalysisError(Exception):
    """An analysis backend could not score a batch; the resilient analyzer falls back to rules."""


class AnalysisOutputError(AnalysisError):
    """A backend answered, but its answer is not a valid risk assessment (bad JSON or bad fields)."""


class BackendUnavailableError(AnalysisError):
    """A backend cannot be used at all (model file missing or corrupt, server unreachable)."""
