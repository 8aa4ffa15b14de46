"""Optimistic concurrency: a refused commit is reloaded and retried, up to ``max_retries``."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from tests.contracts.faulty_store import Conflict
from tests.core.conftest import (
    Added,
    CommandResult,
    Tally,
    add,
    open_system,
    open_tally_store,
    replay,
    reply,
)
from trio_eventsourcing import Aggregate, ConcurrencyConflict, Error, Ok


@pytest.mark.parametrize("conflicts", [1, 2, 3])
async def test_a_command_refused_up_to_max_retries_times_succeeds_after_reloading(
    conflicts: int, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_system(max_retries=3) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        system.faulty.fail_commits("t-1", *[Conflict()] * conflicts)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert await system.payloads("t-1") == [Added(1), Added(2)]
        # The first load, then one reload before each retry.
        assert system.faulty.aggregate_loads == 1 + conflicts
        assert await system.delivered("t-1") == [[Added(1)], [Added(2)]]


async def test_a_command_refused_more_than_max_retries_times_is_a_concurrency_conflict(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(max_retries=3) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        system.faulty.fail_commits("t-1", *[Conflict()] * 4)
        assert await system.run("t-1", add(2)) == Error(ConcurrencyConflict("t-1", 1, 2))
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.delivered("t-1") == [[Added(1)]]
        # Nothing is stuck: the next command goes through.
        assert await system.run("t-1", add(3)) == Ok(None)
        assert await system.payloads("t-1") == [Added(1), Added(3)]


async def test_max_retries_zero_reports_the_first_conflict() -> None:
    async with open_system(max_retries=0) as system:
        system.faulty.fail_commits("t-1", Conflict(ahead=3))
        assert await system.run("t-1", add(1)) == Error(ConcurrencyConflict("t-1", 0, 3))
        assert system.faulty.aggregate_loads == 1
        assert await system.payloads("t-1") == []


async def test_retries_back_off_with_growing_jittered_delays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(max_retries=5) as system:
        system.faulty.fail_commits("t-1", *[Conflict()] * 5)
        start = trio.current_time()
        assert await system.run("t-1", add(1)) == Ok(None)
        # Five sleeps of at most 2 ms * 2**attempt each: bounded, and never a busy loop.
        assert 0 < trio.current_time() - start <= sum(0.002 * 2**n for n in range(1, 6))


async def test_each_retry_is_logged(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.eventsourcing")
    async with open_system(max_retries=3) as system:
        system.faulty.fail_commits("t-1", Conflict(), Conflict())
        assert await system.run("t-1", add(1)) == Ok(None)
    retries = [r.getMessage() for r in caplog.records if "concurrency conflict" in r.getMessage()]
    assert retries == [
        "concurrency conflict on 't-1' (attempt 1 of 3): reloading and retrying",
        "concurrency conflict on 't-1' (attempt 2 of 3): reloading and retrying",
    ]


async def test_two_systems_on_one_store_store_every_acknowledged_command_once(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.eventsourcing")
    per_system = 25
    async with (
        open_tally_store() as store,
        open_system(store, max_retries=50) as one,
        open_system(store, max_retries=50) as two,
    ):
        # Both systems cache t-1 before the race, so every commit after this is contested.
        assert await one.run("t-1", add(0)) == Ok(None)
        assert await two.load("t-1") == Ok(Aggregate("t-1", Tally(0, (0,)), 1))
        results: dict[int, CommandResult] = {}

        async def drive(system_index: int) -> None:
            system = (one, two)[system_index]
            replies = {
                amount: system.send("t-1", add(amount))
                for amount in range(1 + system_index * 1000, 1 + system_index * 1000 + per_system)
            }
            for amount, subject in replies.items():
                results[amount] = await reply(subject)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drive, 0)
            nursery.start_soon(drive, 1)
        events = await one.events("t-1")
    acknowledged = sorted(amount for amount, result in results.items() if result == Ok(None))
    assert len(acknowledged) == 2 * per_system
    stored = [event.payload for event in events]
    assert sorted(e.amount for e in stored if isinstance(e, Added)) == [0, *acknowledged]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert replay(stored).total == sum(acknowledged)
    # Each system's commands took effect in the order it was sent them.
    amounts = replay(stored).amounts
    assert [a for a in amounts if 0 < a < 1000] == list(range(1, 1 + per_system))
    assert [a for a in amounts if a > 1000] == list(range(1001, 1001 + per_system))
    # The race was real: some commits were refused and retried.
    assert any("concurrency conflict" in r.getMessage() for r in caplog.records)
