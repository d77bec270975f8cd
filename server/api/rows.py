"""Reading rows for JSON: Core selects run straight on the driver, no ORM objects, no result wrapping.

A read handler starts from `selected(Model)` — the mapped columns labelled with their attribute names, so
`alerts.metadata` arrives as `alert_metadata` like `Alert.alert_metadata`, without the deferred ones
(`events.search_vector` is only ever used inside SQL) — and runs it with `fetch_all`. The rows it
returns are read by name (`row["started_at"]`) and are shaped by the models of `server.wire`.

`fetch_all` compiles a statement once per shape (SQLAlchemy's cache key: the same filters, different
values) and then runs the SQL on the asyncpg connection itself, binding the values in order. asyncpg
hands back its records as they come off the wire. That skips what a page of fifty events otherwise
spends in SQLAlchemy's execution context and result rows (about as long as the database takes to find
them); the statement is still written, composed and compiled by SQLAlchemy. Statements whose values
need SQLAlchemy's conversions on the way back (any type but those of `_as_is`) or on the way in
(expanding `IN` lists, literal-rendered values) run through SQLAlchemy as usual, their rows as mappings:
the handler cannot tell the two apart.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg
from sqlalchemy import JSON, Boolean, DateTime, Enum, Float, Integer, Select, String, Uuid, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Label

from server.models import Base

_COLUMNS: dict[type[Base], list[Label[Any]]] = {}

#: Column types whose values asyncpg returns exactly as SQLAlchemy would (no result conversion; JSON
#: is decoded by the codec SQLAlchemy installs on each connection, UUIDs arrive as UUID objects).
_AS_IS = (Integer, String, DateTime, Boolean, Float, JSON, Uuid)


def _as_is(column_type: Any) -> bool:
    """Whether the driver's value of a column is the one a handler may read: one of `_AS_IS`, or a
    PostgreSQL enum of `StrEnum` members stored by value, whose label equals the member SQLAlchemy
    would return (`AlertStatus.PENDING == "pending"`; the wire models read either)."""
    if isinstance(column_type, _AS_IS):
        return True
    if isinstance(column_type, Enum) and column_type.enum_class is not None:
        members = list(column_type.enum_class)
        return issubclass(column_type.enum_class, StrEnum) and column_type.enums == [m.value for m in members]
    return False
#: Compiled statements by cache key; the key space is the code's finite set of filter combinations.
_PLANS: dict[Any, _Plan | None] = {}
_MAX_PLANS = 2000


def columns(model: type[Base]) -> list[Label[Any]]:
    """The mapped, non-deferred columns of `model`, labelled by attribute name (computed once)."""
    if model not in _COLUMNS:
        _COLUMNS[model] = [
            prop.columns[0].label(prop.key) for prop in inspect(model).column_attrs if not prop.deferred
        ]
    return _COLUMNS[model]


@functools.cache
def selected(model: type[Base]) -> Select[Any]:
    """`SELECT <columns(model)> FROM <its table>`, built once: statements are immutable, and building
    one with twenty labelled columns costs a request more than running it (filters, order and limit
    are added to this one per request)."""
    return select(*columns(model))


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement shape compiled for asyncpg: its SQL, and how to turn the cache key's values into args."""

    compiled: Any
    sql: str
    names: tuple[str, ...]
    processors: dict[str, Any]


def _plan(statement: Select[Any], cache_key: Any, dialect: Any) -> _Plan | None:
    compiled = statement.compile(dialect=dialect, cache_key=cache_key)
    direct = (
        not compiled.literal_execute_params
        and not compiled.post_compile_params
        and compiled.positiontup is not None
        and all(_as_is(column[3]) for column in compiled._result_columns)
    )
    if not direct:
        return None
    return _Plan(compiled, compiled.string, tuple(compiled.positiontup), dict(compiled._bind_processors))


async def fetch_all(
    connection: AsyncConnection, statement: Select[Any], params: dict[str, Any] | None = None
) -> Sequence[Any]:
    """The rows of `statement`, each read by column name (`row["id"]`).

    `params` gives the values of `bindparam`s declared without one: a statement built once and kept
    (its cache key is then computed once too) runs with new values each time."""
    cache_key = statement._generate_cache_key()
    plan = _PLANS.get(cache_key.key, False) if cache_key is not None else None
    if plan is False:
        plan = _plan(statement, cache_key, connection.dialect)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[cache_key.key] = plan
    if plan is None:
        return [row._mapping for row in await connection.execute(statement, params)]
    values = plan.compiled.construct_params(params, extracted_parameters=cache_key.bindparams)
    processors = plan.processors
    args = [processors[name](values[name]) if name in processors else values[name] for name in plan.names]
    raw = await connection.get_raw_connection()
    try:
        return await raw.driver_connection.fetch(plan.sql, *args)  # type: ignore[union-attr]
    except (asyncpg.PostgresError, *_LOST) as err:
        raise await _as_sqlalchemy_error(connection, plan.sql, args, err) from err


#: Driver errors that mean the connection is gone (a restart, a terminated backend). A backend
#: terminated while its connection sat in the pool can leave the driver's protocol mid-error
#: ("cannot switch to state ...; another operation is in progress": InternalClientError).
_LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    OSError,
)


async def _as_sqlalchemy_error(
    connection: AsyncConnection, sql: str, args: list[Any], err: Exception
) -> sa_exc.DBAPIError:
    """The error SQLAlchemy would have raised: a dropped connection is discarded from the pool (and
    `Database.read` retries on a fresh one); bad values are the client's (the middleware's 422)."""
    if isinstance(err, asyncpg.exceptions.DataError | asyncpg.exceptions._base.DataError):
        return sa_exc.DataError(sql, args, err)
    if isinstance(err, _LOST):
        # As SQLAlchemy does on a disconnect: every connection as old as this one is recycled at its
        # next checkout (a restart dropped them all), this one at once.
        raw = await connection.get_raw_connection()
        connection.sync_engine.pool._invalidate(raw, err, _checkin=False)
        await connection.invalidate(err)
        return sa_exc.DBAPIError(sql, args, err, connection_invalidated=True)
    return sa_exc.DBAPIError(sql, args, err)


async def first(connection: AsyncConnection, statement: Select[Any]) -> Any:
    """The first row of `statement` (read by name), or None."""
    rows = await fetch_all(connection, statement.limit(1))
    return rows[0] if rows else None
