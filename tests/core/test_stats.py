"""``system_stats`` is answered at once; ``aggregate_stats`` after the aggregate's commands."""

from __future__ import annotations

import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.faulty_store import Raise
from tests.core.conftest import Explode, Nothing, QueryName, add, open_system, reply
from trio_eventsourcing import AggregateStats, Error, Ok, SystemStats, process


async def test_system_stats_is_answered_while_commands_are_in_flight() -> None:
    async with open_system() as system:
        system.faulty.commit_gate = trio.Event()  # every commit hangs
        pending = [system.send(f"t-{n}", add(n)) for n in range(3)]
        await trio.testing.wait_all_tasks_blocked()
        stats = await reply(eventsourcing.system_stats(system.subject), within=1)
        assert stats.total_commands_processed == 0  # none has finished
        assert [subject.pending() for subject in pending] == [0, 0, 0]


async def test_system_stats_counts_finished_commands_including_domain_errors() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert await system.run("t-1", add(-1)) != Ok(None)  # domain error: counted
        assert await system.run("t-2", Nothing()) == Ok(None)  # no-op: counted
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        assert isinstance(await system.run("t-1", add(2)), Error)  # store failure: not counted
        assert await system.system_stats() == SystemStats(1, 3)


async def test_system_stats_does_not_count_a_callback_that_raised() -> None:
    async with open_system() as system:
        assert isinstance(await system.run("t-1", Explode("bug")), Error)
        assert (await system.system_stats()).total_commands_processed == 0


async def test_system_stats_counts_live_query_actors() -> None:
    names: list[QueryName] = [process.new_name(f"q{n}") for n in range(3)]

    def ignore(aggregate_id: str, events: object) -> None:
        pass

    async with open_system(queries=[(name, ignore) for name in names], record=False) as system:
        assert await system.system_stats() == SystemStats(3, 0)


async def test_aggregate_stats_of_an_unknown_aggregate_is_ok_with_zeros() -> None:
    async with open_system() as system:
        result = await reply(eventsourcing.aggregate_stats(system.subject, "nobody"))
        assert result == Ok(AggregateStats("nobody", 0, 0, has_snapshot=False))


async def test_aggregate_stats_counts_the_events_of_the_aggregate() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1, 2, 3)) == Ok(None)
        assert await system.run("t-1", add(4)) == Ok(None)
        assert await system.run("t-2", add(5)) == Ok(None)
        assert await system.stats("t-1") == AggregateStats("t-1", 4, 4, has_snapshot=False)
        assert await system.stats("t-2") == AggregateStats("t-2", 1, 1, has_snapshot=False)
