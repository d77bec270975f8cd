"""One way to raise a validation error with a clean, human message.

Validators of the alert specs raise `invalid(...)` rather than a bare `ValueError` because pydantic
prefixes plain `ValueError`s with "Value error, "; the API shows these messages to people verbatim.
`PydanticCustomError` is itself a `ValueError`, so the pure helpers (polygon checks, template parsing)
stay usable, and catchable, outside pydantic.
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError


def invalid(code: str, message: str) -> PydanticCustomError:
    """Build the error for rule/zone/schedule validation; `code` is a stable machine-readable type."""
    return PydanticCustomError(code, message)
