"""Which errors never dead-letter an entry (`server.pipeline.faults.is_transient`), checked on the
chains the stores' clients raise: SQLAlchemy's `DBAPIError` raised from the driver's error."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc

from server.pipeline.faults import is_transient


def _wrapped(driver_error: Exception) -> sqlalchemy.exc.DBAPIError:
    """`driver_error` as SQLAlchemy hands it on: a DBAPIError raised from it."""
    try:
        try:
            raise driver_error
        except asyncpg.PostgresError as raised:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", None, raised) from raised
    except sqlalchemy.exc.DBAPIError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "driver_error",
    [
        # A connection made while PostgreSQL replays its WAL after a restart (the pipeline outage
        # test once dead-lettered four uploads on it).
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another server process"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_database_that_cannot_serve_now_is_transient(driver_error: Exception) -> None:
    assert is_transient(_wrapped(driver_error))


@pytest.mark.parametrize(
    "driver_error",
    [
        asyncpg.exceptions.InvalidTextRepresentationError('invalid input syntax for type integer: "x"'),
        asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_about_the_work_itself_is_not(driver_error: Exception) -> None:
    assert not is_transient(_wrapped(driver_error))
