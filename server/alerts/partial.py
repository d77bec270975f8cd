"""Derive a PATCH model from a full spec model, so updates are validated by the very same field rules.

Field rules live in the field annotations (Annotated constraints and AfterValidators), never in
`@field_validator` methods, precisely so this derivation can carry them over: each field keeps its
annotation and gets `None` as an *unvalidated* default. Consequences, on purpose:

* an omitted field is "unchanged" (`model_dump(exclude_unset=True)` leaves it out);
* an explicit `null` is accepted only where the full model accepts `null` (clears `risk_threshold`),
  and rejected with the usual type error where it does not (`name`);
* cross-field rules (model validators) run in `apply_update`, on the merged result, because a patch
  alone cannot know e.g. whether a webhook is configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

M = TypeVar("M", bound=BaseModel)


def partial_model(model: type[BaseModel], name: str, exclude: Iterable[str] = ()) -> type[BaseModel]:
    """A model with `model`'s fields, all optional, minus `exclude` (fields that must not change)."""
    skipped = set(exclude)
    fields: dict[str, Any] = {
        field_name: (info.rebuild_annotation(), Field(default=None, description=info.description))
        for field_name, info in model.model_fields.items()
        if field_name not in skipped
    }
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Partial update of {model.__name__}: only the fields given change.",
        **fields,
    )


def apply_update(existing: M, patch: BaseModel) -> M:
    """Merge a validated patch into `existing` and validate the result as a whole (cross-field rules)."""
    merged = existing.model_dump(mode="json")
    merged.update(patch.model_dump(mode="json", exclude_unset=True))
    return type(existing).model_validate(merged)
