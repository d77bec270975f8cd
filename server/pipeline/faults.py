"""Which failures are the world's and which are the work's: transient faults never dead-letter an entry.

A database that refuses connections, a Redis restarting, a full disk: retrying the same entry later
succeeds once they are back, and the entry must not be given up on however long that takes (PostgreSQL
refusing connections for 21 s once moved 41 good uploads to the dead letters). Anything else that a
handler raises again and again is something about the entry itself, which a retry cannot mend.

The exception is followed through its causes, because SQLAlchemy wraps the driver's errors and the
driver wraps the socket's. An OS error raised inside a store's client is the store's (a stopped
PostgreSQL removes its Unix socket: connecting raises `FileNotFoundError`, which from anywhere else
would mean an upload that is gone).
"""

from __future__ import annotations

import errno
import re
from types import TracebackType

import asyncpg
import redis.exceptions
import sqlalchemy.exc

#: Errors that say a store cannot be reached (or answered too late), whatever the statement was.
_STORE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (Redis replaying its AOF)
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the pool had no connection to give
    sqlalchemy.exc.DisconnectionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    # Operator intervention (SQLSTATE 57P0x), not a connection error to asyncpg: the server shutting
    # down, crashed, or still starting up (a connection made while it replays its WAL).
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    # SQLSTATE class 53: a full disk (53100), out of memory, too many connections.
    asyncpg.exceptions.InsufficientResourcesError,
    redis.exceptions.OutOfMemoryError,  # at its maxmemory (noeviction, as a queue needs): writes refused
    ConnectionError,
    TimeoutError,
)
#: Redis's own error replies that say the server cannot take writes now, as a script's error (where
#: redis-py raises a plain ResponseError, "Error running script ... -OOM command not allowed ...") or
#: bare: out of memory, a failed save on a full disk, a read-only replica, loading its data, a busy script.
_REDIS_STATE_REPLY = re.compile(r"(?:^|-)(?:OOM|MISCONF|READONLY|LOADING|BUSY) ")
#: OS errors about the machine rather than the file: full disk, quota, I/O, out of memory or handles.
_MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.EROFS}
)


#: Modules of the stores' clients: an OS error raised in them is a store's, not an upload's.
_STORE_CLIENTS = ("asyncpg", "redis", "sqlalchemy")


def _raised_in_store_client(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in _STORE_CLIENTS:
            return True
        tb = tb.tb_next
    return False


def is_transient(err: BaseException) -> bool:
    """True when `err` (or any exception it was raised from) is a store or the machine failing."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _STORE_ERRORS):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, redis.exceptions.ResponseError) and _REDIS_STATE_REPLY.search(str(current)):
            return True
        if isinstance(current, OSError) and (
            current.errno in _MACHINE_ERRNOS or _raised_in_store_client(current.__traceback__)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def describe(err: BaseException) -> str:
    """`Type: message`, on one line (for log rows and the dead-letter entry's `error` field)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
