"""Loading a cold aggregate is bounded by ``load_timeout``, apart from the caller's wait."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.core.conftest import Added, add, open_system, reply
from trio_eventsourcing import ActorTimeout, Error, Ok


async def test_a_load_that_never_finishes_is_an_actor_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(load_timeout=0.25) as system:
        system.faulty.load_gate = trio.Event()  # never set: the store hangs
        start = trio.current_time()
        assert await system.run("t-1", add(1)) == Error(ActorTimeout("load_aggregate", 250))
        assert trio.current_time() - start == pytest.approx(0.25)
        assert await system.load("t-1") == Error(ActorTimeout("load_aggregate", 250))


async def test_the_aggregate_is_usable_once_the_store_answers_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(load_timeout=0.25) as system:
        gate = system.faulty.load_gate = trio.Event()
        assert await system.run("t-1", add(1)) == Error(ActorTimeout("load_aggregate", 250))
        gate.set()
        assert await system.run("t-1", add(2)) == Ok(None)
        assert await system.payloads("t-1") == [Added(2)]


async def test_a_slow_load_within_load_timeout_succeeds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery, open_system(load_timeout=1.0) as system:
        gate = system.faulty.load_gate = trio.Event()

        async def open_gate_later() -> None:
            await trio.sleep(0.9)
            gate.set()

        nursery.start_soon(open_gate_later)
        assert await system.run("t-1", add(1)) == Ok(None)


async def test_a_load_timeout_in_seconds_is_reported_in_the_seeds_milliseconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(load_timeout=0.04) as system:
        system.faulty.load_gate = trio.Event()
        assert await system.run("t-1", add(1)) == Error(ActorTimeout("load_aggregate", 40))


async def test_a_hung_load_of_one_aggregate_does_not_stall_another(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(load_timeout=60.0) as system:
        assert await system.run("warm", add(1)) == Ok(None)  # cached: no load needed
        system.faulty.load_gate = trio.Event()
        cold = system.send("cold", add(1))
        await trio.testing.wait_all_tasks_blocked()
        assert await system.run("warm", add(2)) == Ok(None)
        assert cold.pending() == 0
        system.faulty.load_gate.set()
        assert await reply(cold) == Ok(None)
