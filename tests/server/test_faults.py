"""Which errors never dead-letter an entry (`server.pipeline.faults.is_transient`), checked on the
chains the stores' clients raise: SQLAlchemy's `DBAPIError` raised from the driver's error."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
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
        asyncpg.exceptions.DiskFullError('could not extend file "base/16384/2619": No space left on device'),
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


@pytest.mark.parametrize(
    "reply",
    [
        redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        # A script's error reply: redis-py raises a plain ResponseError that quotes the reply.
        redis.exceptions.ResponseError(
            "Error running script (call to f_1a2b): @user_script:12: -OOM command not allowed when used memory "
            "> 'maxmemory'."
        ),
        redis.exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's not able to"),
    ],
    ids=["oom", "oom in a script", "misconf"],
)
def test_a_redis_that_cannot_take_writes_now_is_transient(reply: Exception) -> None:
    """A review's finding: Redis at its maxmemory answered an upload's queueing script with -OOM, taken
    for the upload's own fault: a 500 to the client (and an entry dead-lettered) where a retry later works."""
    assert is_transient(reply)


def test_a_script_error_of_the_work_itself_is_not() -> None:
    assert not is_transient(redis.exceptions.ResponseError("Error running script: @user_script:3: WRONGTYPE Operation"))
