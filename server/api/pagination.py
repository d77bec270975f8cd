"""Cursor (keyset) pagination and the filter conventions every list endpoint shares.

Every list answers `{"items": [...], "next_cursor": str|null}`. The cursor is an opaque, URL-safe
encoding of the sort key of the last item returned, so the next page is `WHERE (k0, k1) < (v0, v1)` —
a row comparison, which PostgreSQL reads as one range of the composite index on the same columns:
constant cost at any depth, and no skipped or repeated rows when new rows arrive between pages (which
an OFFSET would do on a table the pipeline keeps inserting into).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from server.api.errors import ApiError
from server.api.rows import fetch_all

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

#: Integer primary keys are PostgreSQL `integer`: anything larger is an unknown id, not a 500.
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]

T = TypeVar("T")


class PageQuery(BaseModel):
    """`limit` and `cursor`, shared by every list endpoint."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(
        None, max_length=512, description="`next_cursor` of the previous page; omit for the first page."
    )


class TimeRange(BaseModel):
    """The half-open range `[since, until)` every list of time-stamped rows filters on."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(None, description="Only rows at or after this instant (ISO 8601).")
    until: AwareDatetime | None = Field(None, description="Only rows before this instant (ISO 8601).")


class TimeRangeQuery(PageQuery, TimeRange):
    """A page of time-stamped rows."""


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


def time_range(column: Any, query: TimeRange) -> list[ColumnElement[bool]]:
    """The WHERE clauses of `since`/`until` on `column` (invalid ranges are simply empty)."""
    clauses: list[ColumnElement[bool]] = []
    if query.since is not None:
        clauses.append(column >= query.since)
    if query.until is not None:
        clauses.append(column < query.until)
    return clauses


@dataclass(frozen=True)
class Keyset:
    """A list's sort order: SQL expressions (the last one unique) and the Python type of each value.

    All keys sort the same direction; `name` is written into cursors so a cursor of one list cannot be
    replayed against another.
    """

    name: str
    expressions: tuple[Any, ...]
    types: tuple[type, ...]
    descending: bool = True

    @functools.cached_property
    def order_by(self) -> tuple[Any, ...]:
        """The ORDER BY clauses, built once: every page of the list adds the same ones."""
        return tuple(e.desc() if self.descending else e.asc() for e in self.expressions)

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after `values` in this order: `(k0, k1) < (v0, v1)` (`>` ascending).

        A row comparison is one index range (start or stop key) on an index whose columns are the keys;
        an OR-expanded tie-break was a filter the planner could only partly push into the index.
        """
        keys = tuple_(*self.expressions)
        pairs = zip(self.expressions, values, strict=True)
        bound = tuple_(*(literal(value, expression.type) for expression, value in pairs))
        return keys < bound if self.descending else keys > bound

    def encode(self, values: Sequence[Any]) -> str:
        plain = [
            value.isoformat()
            if isinstance(value, datetime)
            else str(value)
            if isinstance(value, uuid.UUID)
            else value
            for value in values
        ]
        raw = json.dumps({"k": self.name, "v": plain}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(data, dict) or data.get("k") != self.name:
                raise ValueError("cursor of another list")
            values = data["v"]
            if not isinstance(values, list) or len(values) != len(self.types):
                raise ValueError("wrong number of values")
            return list(_adapter(self.types).validate_python(tuple(values)))
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, ValidationError):
            raise ApiError(
                400,
                "invalid_cursor",
                "cursor is not a next_cursor of this list",
                [{"field": "cursor", "message": "invalid cursor", "in": "query"}],
            ) from None


_ADAPTERS: dict[tuple[type, ...], TypeAdapter[Any]] = {}


def _adapter(types: tuple[type, ...]) -> TypeAdapter[Any]:
    if types not in _ADAPTERS:
        _ADAPTERS[types] = TypeAdapter(tuple[types])  # type: ignore[valid-type]
    return _ADAPTERS[types]


async def fetch_page(
    connection: AsyncConnection,
    statement: Select[Any],
    keyset: Keyset,
    page: PageQuery,
    key_of: Callable[[Any], Sequence[Any]],
) -> tuple[Sequence[Any], str | None]:
    """Run `statement` for one page; returns the rows (read by name) and the next page's cursor or None."""
    if page.cursor:
        statement = statement.where(keyset.after(keyset.decode(page.cursor)))
    statement = statement.order_by(*keyset.order_by).limit(page.limit + 1)
    rows = await fetch_all(connection, statement)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = keyset.encode(key_of(rows[-1])) if more and rows else None
    return rows, next_cursor


def page_of(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
