"""Declarative base, naming convention and the small column helpers every model shares.

One `MetaData` with a naming convention means every constraint the models do not name explicitly
still gets a stable, predictable name: migrations can then drop or alter it by name, and the schema
tests can assert it, on any PostgreSQL version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    """Base of the 12 HSI models.

    `AsyncAttrs` gives every model `awaitable_attrs`, so async code can load a lazy relationship
    explicitly instead of tripping over an implicit (forbidden) lazy load.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware "now" for Python-side defaults (the database has `now()` as server default).

    Both exist on purpose: the Python default makes the value known right after flush without a round
    trip, the server default keeps raw SQL inserts (and the catalogue) honest.
    """
    return datetime.now(UTC)
