"""Cursor (keyset) pagination and the filter conventions every list endpoint shares.

Every list answers `{"items": [...], "next_cursor": str|null}`. The cursor is an opaque, URL-safe
encoding of the sort key of the last item returned, so the next page is `WHERE (k0, k1) < (v0, v1)` —
a row comparison, which PostgreSQL reads as one range of the composite index on the same columns:
constant cost at any depth, and no skipped or repeated rows when new rows arrive between pages (which
an OFFSET would do on a table the pipeline keeps inserting into).

A list's filters are a `Where`: each filter's value is a named bind parameter, so the statement of a
page depends only on which filters a request uses, and `fetch_page` builds it once per combination.
Building a filtered select and its cache key for every request cost about a tenth of the request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import operator
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Integer, Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine

from server.api.errors import ApiError
from server.api.rows import fetch_all

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

#: Integer primary keys are PostgreSQL `integer`: anything larger is an unknown id, not a 500.
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]

#: The instants a request may name: a day inside what Python's UTC datetimes hold on either side, so
#: that turning one into UTC, into another zone, or rounding it to the hour or day never overflows.
EARLIEST_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 30, tzinfo=UTC)


def _check_instant(value: datetime) -> datetime:
    """`value` if it lies within [EARLIEST_INSTANT, LATEST_INSTANT] (compared as instants)."""
    try:
        inside = EARLIEST_INSTANT <= value <= LATEST_INSTANT
    except OverflowError:  # its offset takes it past year 1 or 9999
        inside = False
    if not inside:
        raise ValueError(f"must lie between {EARLIEST_INSTANT:%Y-%m-%d} and {LATEST_INSTANT:%Y-%m-%d} (UTC)")
    return value


#: An ISO 8601 instant with its offset, within the range above (a 422 outside it, never a 500).
Instant = Annotated[AwareDatetime, AfterValidator(_check_instant)]

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

    since: Instant | None = Field(None, description="Only rows at or after this instant (ISO 8601).")
    until: Instant | None = Field(None, description="Only rows before this instant (ISO 8601).")


class TimeRangeQuery(PageQuery, TimeRange):
    """A page of time-stamped rows."""


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


@dataclass
class Where:
    """The filters a request uses: each a WHERE clause on a named bind parameter, and its value.

    `shape` names the filters present (and the variant of a `choice`): two requests with the same
    shape run the same SQL with different `params`. `clauses()` writes the clauses with the values
    bound, so a statement built per request (search, stats, export) takes them as they are.
    """

    shape: list[Hashable] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    _writers: list[Callable[[], ColumnElement[bool]]] = field(default_factory=list)

    def value(
        self,
        name: str,
        value: Any,
        clause: Callable[[BindParameter[Any]], ColumnElement[bool]],
        type_: TypeEngine[Any],
        *,
        literal: bool = False,
    ) -> Where:
        """`clause(:name)` when `value` is given (the parameter of SQL type `type_`; with `literal`, the
        value is written into the SQL as the statement runs, see `equal_planned`)."""
        if value is not None:
            self.shape.append(name)
            self.params[name] = value
            self._writers.append(lambda: clause(bindparam(name, value, type_=type_, literal_execute=literal)))
        return self

    def compare(self, column: Any, value: Any, op: Callable[[Any, Any], Any] = operator.eq, name: str = "") -> Where:
        """`column <op> :name` (the column's key by default) when `value` is given."""
        if value is None:  # before touching the column: an ORM attribute's `.type` alone costs 6 us
            return self
        type_ = column.expression.type
        return self.value(name or column.key, value, lambda parameter: op(column, parameter), type_)

    def equal(self, *pairs: tuple[Any, Any]) -> Where:
        """`column = :key` for each `(column, value)` whose value is given."""
        for column, value in pairs:
            self.compare(column, value)
        return self

    def equal_planned(self, *pairs: tuple[Any, Any]) -> Where:
        """`column = value` for each `(column, value)` whose value is given, the value written into the
        SQL as the statement runs, so PostgreSQL plans each value on its own.

        For columns whose values are very unevenly common. A prepared statement soon settles on a
        generic plan, made for an average value: `audit_logs.resource_id` is one entry for most events
        and rules, so that plan expects one row and reads a camera's thousands of entries through the
        (resource_type, resource_id) index and sorts them all, where the (…, timestamp, id) index gives
        the newest at once (0.37 against 0.15 ms warm with 2 500 entries, and growing with them).
        """
        for column, value in pairs:
            if value is not None:
                type_ = column.expression.type
                self.value(column.key, value, lambda parameter, c=column: c == parameter, type_, literal=True)
        return self

    def choice(self, name: str, value: Hashable | None, clause: Callable[[Any], ColumnElement[bool]]) -> Where:
        """`clause(value)`, the value written into the SQL: one statement per value (a flag that must
        read as a partial index's own predicate, a short list of levels)."""
        if value is not None:
            self.shape.append((name, value))
            self._writers.append(lambda: clause(value))
        return self

    def time_range(self, column: Any, query: TimeRange) -> Where:
        """The half-open range `[since, until)` on `column` (an invalid range is simply empty)."""
        return self.compare(column, query.since, operator.ge, "since").compare(column, query.until, operator.lt, "until")

    def clauses(self) -> list[ColumnElement[bool]]:
        return [write() for write in self._writers]


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
        """Rows strictly after `values` in this order: `(k0, k1) < (v0, v1)` (`>` ascending), the values
        as parameters `after_0`, `after_1`, … (see `after_params`).

        A row comparison is one index range (start or stop key) on an index whose columns are the keys;
        an OR-expanded tie-break was a filter the planner could only partly push into the index.
        """
        keys = tuple_(*self.expressions)
        pairs = enumerate(zip(self.expressions, values, strict=True))
        bound = tuple_(*(bindparam(f"after_{i}", value, type_=expression.type) for i, (expression, value) in pairs))
        return keys < bound if self.descending else keys > bound

    @staticmethod
    def after_params(values: Sequence[Any]) -> dict[str, Any]:
        return {f"after_{i}": value for i, value in enumerate(values)}

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
            decoded = list(_adapter(self.types).validate_python(tuple(values)))
            for value in decoded:
                if isinstance(value, datetime):
                    _check_instant(value)
            return decoded
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


#: Page statements by (base statement, list, filters present, cursor or not): a finite set, as long as
#: the base statements are built once (`selected(Model)`); bounded all the same.
_PAGES: dict[tuple[Any, ...], Select[Any]] = {}
_MAX_PAGES = 2000


async def fetch_page(
    connection: AsyncConnection,
    statement: Select[Any],
    keyset: Keyset,
    page: PageQuery,
    key_of: Callable[[Any], Sequence[Any]],
    where: Where | None = None,
) -> tuple[Sequence[Any], str | None]:
    """One page of `statement` filtered by `where`: the rows (read by name) and the next page's cursor
    or None. `statement` is kept with the page statements built on it, so it must be one built once."""
    where = where if where is not None else Where()
    after = keyset.decode(page.cursor) if page.cursor else None
    key = (statement, keyset.name, tuple(where.shape), after is not None)
    paged = _PAGES.get(key)
    if paged is None:
        paged = statement.where(*where.clauses())
        if after is not None:
            paged = paged.where(keyset.after(after))
        paged = paged.order_by(*keyset.order_by).limit(bindparam("page_limit", type_=Integer()))
        if len(_PAGES) >= _MAX_PAGES:
            _PAGES.clear()
        _PAGES[key] = paged
    params = {**where.params, "page_limit": page.limit + 1}
    if after is not None:
        params.update(keyset.after_params(after))
    rows = await fetch_all(connection, paged, params)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = keyset.encode(key_of(rows[-1])) if more and rows else None
    return rows, next_cursor


def page_of(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
