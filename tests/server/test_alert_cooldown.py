"""Cooldown on a real Redis: atomic under concurrency, counted between the events as the rule says now,
expires by itself, 0 never suppresses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

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
    assert 59 < await Cooldown(redis).remaining("front:rule-1", 60) <= 60


async def test_keys_are_independent(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert await cooldown.acquire("front:rule-1", 60, holder="event-1")
    assert await cooldown.acquire("back:rule-1", 60, holder="event-1")
    assert not await cooldown.acquire("front:rule-1", 60, holder="event-2")
    assert await cooldown.acquire("front:rule-1", 60, holder="event-1")  # its own (a job delivered again)


async def test_acquire_succeeds_again_after_the_cooldown_expires(redis: aioredis.Redis) -> None:
    cooldown = Cooldown(redis)
    assert await cooldown.acquire("k", 1, holder="event-1")
    assert not await cooldown.acquire("k", 1, holder="event-2")
    await asyncio.sleep(1.2)
    assert await cooldown.remaining("k", 1) == 0.0
    assert await cooldown.acquire("k", 1, holder="event-3")


async def test_the_cooldown_counts_between_the_events_and_as_the_rule_says_now(redis: aioredis.Redis) -> None:
    """Reviews' findings: the cooldown ran from when a worker got to the event (a backlog analysed in a
    second raised one alert for people an hour apart), and the expiry was the cooldown of the claim's time
    (lowered from a day to a minute, the rule stayed silent for the rest of the day)."""
    cooldown = Cooldown(redis)
    t0 = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert await cooldown.acquire("k", 300, holder="a", at=t0)
    assert not await cooldown.acquire("k", 300, holder="b", at=t0 + timedelta(minutes=4))
    assert await cooldown.acquire("k", 300, holder="c", at=t0 + timedelta(hours=1))
    assert not await cooldown.acquire("k", 300, holder="d", at=t0 + timedelta(minutes=58))  # before c's
    assert not await cooldown.acquire("k", 86_400, holder="e", at=t0 + timedelta(hours=1, minutes=10))
    assert await cooldown.acquire("k", 60, holder="f", at=t0 + timedelta(hours=1, minutes=10))


async def test_a_claim_of_the_earlier_format_is_honoured_until_it_expires(redis: aioredis.Redis) -> None:
    """Redis kept across the upgrade: a claim was a string (its holder) expiring with its cooldown."""
    await redis.set("hsi:cooldown:k", "event-1", ex=60)
    cooldown = Cooldown(redis, prefix="hsi:cooldown:")
    assert not await cooldown.acquire("k", 60, holder="event-2")
    assert await cooldown.acquire("k", 60, holder="event-1")
    assert await cooldown.release("k", holder="event-1")
    assert await cooldown.acquire("k", 60, holder="event-2")


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
