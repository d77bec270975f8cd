"""Cooldown on a real Redis: atomic under concurrency, expires by itself, 0 never suppresses."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from server.alerts.dedup import DEFAULT_TEMPLATE, MAX_KEY_LENGTH, Cooldown, render_dedup_key


async def test_twenty_concurrent_acquires_give_exactly_one_winner(
    redis: aioredis.Redis, redis_url: str
) -> None:
    # Separate clients (separate connections), as separate workers would have.
    clients = [aioredis.from_url(redis_url) for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(Cooldown(c).acquire("front:rule-1", 60, holder=str(i)) for i, c in enumerate(clients))
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert results.count(True) == 1
    assert 59 < await Cooldown(redis).remaining("front:rule-1") <= 60


async def test_keys_are_independent(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert await cooldown.acquire("front:rule-1", 60)
    assert await cooldown.acquire("back:rule-1", 60)
    assert not await cooldown.acquire("front:rule-1", 60)


async def test_acquire_succeeds_again_after_the_cooldown_expires(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert await cooldown.acquire("k", 1)
    assert not await cooldown.acquire("k", 1)
    await asyncio.sleep(1.2)
    assert await cooldown.remaining("k") == 0.0
    assert await cooldown.acquire("k", 1)


async def test_zero_cooldown_never_suppresses_and_touches_nothing(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert all(await asyncio.gather(*(cooldown.acquire("k", 0) for _ in range(5))))
    assert await redis.keys("*") == []


async def test_out_of_range_cooldown_is_a_programming_error(redis: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match=r"cooldown_seconds must be 0\.\.604800, got -1"):
        await Cooldown(redis).acquire("k", -1)


async def test_release_only_undoes_the_holders_own_claim(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert await cooldown.acquire("k", 60, holder="event-1")
    assert not await cooldown.release("k", holder="event-2")  # someone else's claim stays
    assert not await cooldown.acquire("k", 60, holder="event-2")
    assert await cooldown.release("k", holder="event-1")
    assert await cooldown.acquire("k", 60, holder="event-2")


async def test_keys_are_namespaced(redis: aioredis.Redis) -> None:
    await Cooldown(redis, prefix="test:cd:").acquire("front:r", 60)
    assert await redis.keys("*") == [b"test:cd:front:r"]


def test_render_dedup_key() -> None:
    assert render_dedup_key(DEFAULT_TEMPLATE, "front", "r1", "person", "door") == "front:r1"
    template = "{camera_id}/{rule_id}/{object_type}/{zone_id}"
    assert render_dedup_key(template, "front", "r1", "person", "door") == "front/r1/person/door"
    assert render_dedup_key(template, "front", "r1", None, None) == "front/r1/-/-"


def test_long_dedup_keys_are_cut_but_stay_distinct() -> None:
    a = render_dedup_key("{camera_id}:{zone_id}", "c" * 300, "r", None, "zone-a")
    b = render_dedup_key("{camera_id}:{zone_id}", "c" * 300, "r", None, "zone-b")
    assert len(a) == len(b) == MAX_KEY_LENGTH
    assert a != b
