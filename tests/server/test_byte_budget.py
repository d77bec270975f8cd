"""The detect worker's memory bound next to its count bound: `ByteBudget` holds concurrent tasks to a
number of bytes, in arrival order, and lets a task larger than the whole budget run alone."""

from __future__ import annotations

import asyncio

import pytest

from server.pipeline.byte_budget import ByteBudget


async def _run(budget: ByteBudget, sizes: list[int], log: list[tuple[str, int, int]]) -> None:
    async def task(index: int, size: int) -> None:
        async with budget.hold(size):
            log.append(("in", index, budget.held))
            await asyncio.sleep(0.01)
            log.append(("out", index, budget.held))

    await asyncio.gather(*(task(index, size) for index, size in enumerate(sizes)))


async def test_tasks_hold_no_more_bytes_than_the_budget_together() -> None:
    budget = ByteBudget(100)
    log: list[tuple[str, int, int]] = []
    await _run(budget, [40, 40, 40, 40, 40, 40], log)
    assert budget.peak == 80 and budget.held == 0
    assert max(held for _, _, held in log) <= 100
    # Two at a time: the third starts only when one of the first two is done.
    assert [index for kind, index, _ in log if kind == "in"][:2] == [0, 1]
    assert log.index(("in", 2, 80)) > min(log.index(entry) for entry in log if entry[0] == "out")


async def test_a_task_larger_than_the_budget_runs_alone_and_in_its_turn() -> None:
    budget = ByteBudget(100)
    log: list[tuple[str, int, int]] = []
    await _run(budget, [30, 500, 30, 30], log)
    starts = [index for kind, index, _ in log if kind == "in"]
    assert starts == [0, 1, 2, 3]  # arrival order: the small ones after it do not overtake it
    big_in, big_out = log.index(("in", 1, 500)), log.index(("out", 1, 500))
    assert all(entry[0] != "in" for entry in log[big_in + 1 : big_out])  # nothing runs beside it
    assert budget.peak == 500 and budget.held == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    budget = ByteBudget(100)
    async with budget.hold(80):
        waiting = asyncio.create_task(_hold(budget, 50))
        behind = asyncio.create_task(_hold(budget, 10))
        await asyncio.sleep(0.01)
        assert budget.waiting == 2 and budget.held == 80
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(behind, 1)  # 80 + 10 fits once the 50 in front of it is gone
    assert budget.held == 0 and budget.waiting == 0


async def _hold(budget: ByteBudget, size: int) -> None:
    async with budget.hold(size):
        await asyncio.sleep(0)
