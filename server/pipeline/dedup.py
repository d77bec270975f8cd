"""Content identity of uploads: SHA-256, a short-lived Redis claim, and the long-lived processed ledger.

Three layers, from cheapest to authoritative:

1. `claim` — `SET hsi:dedup:<camera>:<sha> NX EX ttl`: the same bytes announced twice within the TTL
   (watchdog fires created+modified, an FTP client re-uploads, the catch-up scan meets a file the
   watcher is handling) are queued once.
2. the ledger — Redis sorted set `hsi:processed` of `<camera>|<sha>` scored by when, added by the
   detect worker after the file's rows are committed and handed on: the fast "already done?" check for
   redeliveries, re-uploads and the start-up scan. It keeps `LEDGER_RETENTION_SECONDS` (a week) and
   trims itself on every write, so Redis memory stays bounded however long the server runs.
3. `detections.file_hash` in PostgreSQL — authoritative: the worker writes a file's rows only if none
   exist (see `detect_worker`), so even with Redis wiped nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

LEDGER_KEY = "hsi:processed"
#: How long the ledger remembers a file; the watcher's start-up catch-up looks back as far.
LEDGER_RETENTION_SECONDS = 7 * 24 * 3600
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (blocking: call it in a thread)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def claim_key(camera_id: str, file_hash: str) -> str:
    return f"hsi:dedup:{camera_id}:{file_hash}"


def ledger_member(camera_id: str, file_hash: str) -> str:
    return f"{camera_id}|{file_hash}"


async def claim(
    redis: aioredis.Redis, camera_id: str, file_hash: str, path: Path, ttl_seconds: int
) -> bool:
    """True if this call is the first to announce these bytes for this camera within the TTL."""
    return bool(await redis.set(claim_key(camera_id, file_hash), str(path), nx=True, ex=ttl_seconds))


async def release(redis: aioredis.Redis, camera_id: str, file_hash: str) -> None:
    """Give a claim back (the file could not be queued, so a later attempt must not look duplicate)."""
    await redis.delete(claim_key(camera_id, file_hash))


async def is_processed(redis: aioredis.Redis, camera_id: str, file_hash: str) -> bool:
    return await redis.zscore(LEDGER_KEY, ledger_member(camera_id, file_hash)) is not None


async def mark_processed(redis: aioredis.Redis, camera_id: str, file_hash: str) -> None:
    """Record the file as done, and forget what is older than the retention."""
    async with redis.pipeline(transaction=False) as pipe:
        queue_mark_processed(pipe, [(camera_id, file_hash)])
        await pipe.execute()


def queue_mark_processed(pipe: Pipeline, files: Iterable[tuple[str, str]]) -> None:
    """`mark_processed` for several (camera_id, file_hash) files, added to a pipeline the caller runs."""
    now = time.time()
    pipe.zadd(LEDGER_KEY, {ledger_member(camera_id, file_hash): now for camera_id, file_hash in files})
    pipe.zremrangebyscore(LEDGER_KEY, "-inf", now - LEDGER_RETENTION_SECONDS)


async def processed_count(redis: aioredis.Redis) -> int:
    """How many files the ledger remembers."""
    return int(await redis.zcard(LEDGER_KEY))
