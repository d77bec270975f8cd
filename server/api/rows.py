"""Core selects that read like the ORM objects, for the read paths.

A read handler selects `columns(Model)`: the mapped columns labelled with their attribute names (so
`alerts.metadata` reads as `row.alert_metadata`, like `Alert.alert_metadata`), without the deferred
ones (`events.search_vector` is only ever used inside SQL). The rows go straight to `server.serialize`,
which reads attributes: no ORM identity map, no instance state, no unit of work for data that is only
turned into JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, inspect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Label

from server.models import Base

_COLUMNS: dict[type[Base], list[Label[Any]]] = {}


def columns(model: type[Base]) -> list[Label[Any]]:
    """The mapped, non-deferred columns of `model`, labelled by attribute name (computed once)."""
    if model not in _COLUMNS:
        _COLUMNS[model] = [
            prop.columns[0].label(prop.key) for prop in inspect(model).column_attrs if not prop.deferred
        ]
    return _COLUMNS[model]


async def first(connection: AsyncConnection, statement: Select[Any]) -> Any:
    """The first row of `statement`, or None."""
    return (await connection.execute(statement)).first()
