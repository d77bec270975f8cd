"""API keys checked in memory: a request costs no database query for its key.

Each API process keeps the keys presented to it (digest → id, name, active). Any change to `api_keys`
— a key created, revoked or deleted, over the API, by `python -m server keys` or in SQL — makes the
database send a notification (the `hsi_api_keys` trigger of migration 0004 runs `pg_notify` in the
changing transaction, so it is delivered when, and only when, the change commits). Every process
LISTENs on one connection of its own and forgets its keys on each notification: a revocation holds
everywhere within the notification's delivery, milliseconds, not at some TTL. The process that revokes
also forgets at once itself, before it answers.

The cache is only trusted while that connection is up: when it drops (a database restart), keys are
looked up in the database on every request until the listener is back and the cache is emptied again.
A lookup that raced with a notification (read before the change, stored after the forget) is not kept:
every forget bumps a generation, and an entry is stored only if the generation did not move meanwhile.
Keys nobody has (wrong guesses) are never stored, so the cache holds at most the keys the table holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from server import apikeys
from server.apikeys import KeyCheck
from server.db import Database, asyncpg_dsn
from server.models import hash_api_key

_LOGGER = logging.getLogger("hsi.api.keys")

#: The channel migration 0004's trigger on `api_keys` notifies.
CHANNEL = "hsi_api_keys"
#: How often the idle listening connection is checked (a silently dropped one is noticed by this).
PING_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class KnownKey:
    """What a request needs of its key: the audit trail's actor, and whether it may be used."""

    id: int
    name: str
    is_active: bool


class KeyCache:
    """The keys this process has seen, kept while the change notifications flow."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._keys: dict[str, KnownKey] = {}
        self._generation = 0
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._on_change: list[Callable[[], None]] = []
        self.lookups = 0  # database lookups so far (tests and the curious)

    @property
    def listening(self) -> bool:
        return self._listening

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the keys may have changed (the WebSocket hub rechecks its clients)."""
        self._on_change.append(callback)

    async def start(self, timeout: float = 5.0) -> None:
        """Start listening; waits (up to `timeout`) for the first LISTEN, then carries on regardless."""
        self._task = asyncio.create_task(self._listen(), name="hsi-api-key-cache")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def forget(self) -> None:
        """Drop every cached key (a key changed somewhere); the next request of each looks it up again."""
        self._generation += 1
        self._keys.clear()
        for callback in self._on_change:
            callback()

    async def check(self, presented: str | None) -> KeyCheck:
        if not presented:
            return KeyCheck(None, "missing")
        digest = hash_api_key(presented)
        known = self._keys.get(digest) if self._listening else None
        if known is None:
            generation = self._generation
            self.lookups += 1
            async with self._database.sessions() as session:
                found = await apikeys.authenticate(session, presented)
            if found.key is None:
                return found
            known = KnownKey(found.key.id, found.key.name, found.key.is_active)
            if self._listening and generation == self._generation:
                self._keys[digest] = known
        return KeyCheck(known, None if known.is_active else "revoked")

    def _notified(self, *_: object) -> None:
        self.forget()

    async def _listen(self) -> None:
        """LISTEN until cancelled; reconnect with backoff, trusting the cache only while connected."""
        delay = 0.5
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(asyncpg_dsn(self._database.url))
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self.forget()  # whatever changed while nobody listened
                self._listening = True
                self._ready.set()
                delay = 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), PING_SECONDS)
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1")
                raise ConnectionError("the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the database restarting: look keys up directly meanwhile
                _LOGGER.warning("API key notifications lost (%s); retrying in %.1fs", err, delay)
            finally:
                self._listening = False
                self._ready.set()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


#: The app's in-memory keys; present while API keys are enabled (`api_key_enabled`).
API_KEYS = web.AppKey("api_keys", KeyCache)
