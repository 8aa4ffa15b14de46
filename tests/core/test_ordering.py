"""Commands for one aggregate take effect in the order sent; aggregates run concurrently."""

from __future__ import annotations

import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.core.conftest import Added, Tally, add, open_system, payloads, reply
from trio_eventsourcing import Aggregate, AggregateStats, Ok


async def test_commands_to_one_aggregate_take_effect_in_the_order_sent() -> None:
    async with open_system() as system:
        for amount in range(1, 41):
            eventsourcing.execute(system.subject, "t-1", add(amount))
        last = system.send("t-1", add(41))
        assert await reply(last) == Ok(None)
        assert await system.payloads("t-1") == [Added(n) for n in range(1, 42)]
        assert await system.load("t-1") == Ok(
            Aggregate("t-1", Tally(sum(range(42)), tuple(range(1, 42))), 41)
        )


async def test_interleaved_commands_keep_per_aggregate_order() -> None:
    async with open_system() as system:
        replies = []
        for n in range(30):
            aggregate_id = f"t-{n % 3}"
            replies.append(system.send(aggregate_id, add(n)))
        for subject in replies:
            assert await reply(subject) == Ok(None)
        for k in range(3):
            assert await system.payloads(f"t-{k}") == [Added(n) for n in range(k, 30, 3)]


async def test_a_blocked_aggregate_does_not_stop_another_from_completing() -> None:
    async with open_system() as system:
        gate = system.faulty.commit_gates["slow"] = trio.Event()
        slow = system.send("slow", add(1))
        await trio.testing.wait_all_tasks_blocked()
        # "slow" is stuck in its commit; "fast" runs to the end meanwhile.
        for amount in (1, 2, 3):
            assert await system.run("fast", add(amount)) == Ok(None)
        assert await system.payloads("fast") == [Added(1), Added(2), Added(3)]
        assert slow.pending() == 0
        gate.set()
        assert await reply(slow) == Ok(None)
        assert await system.payloads("slow") == [Added(1)]


async def test_reads_are_answered_after_earlier_commands_to_the_aggregate() -> None:
    async with open_system(snapshot_every=1) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        command = system.send("t-1", add(5))
        events = eventsourcing.load_events(system.subject, "t-1")
        events_from = eventsourcing.load_events_from(system.subject, "t-1", 0)
        aggregate = eventsourcing.load_aggregate(system.subject, "t-1")
        stats = eventsourcing.aggregate_stats(system.subject, "t-1")
        snapshot = eventsourcing.latest_snapshot(system.subject, "t-1")
        await trio.testing.wait_all_tasks_blocked()
        answers = (events, events_from, aggregate, stats, snapshot)
        assert [subject.pending() for subject in (command, *answers)] == [0] * 6
        gate.set()
        assert await reply(command) == Ok(None)
        for loaded in (await reply(events), await reply(events_from)):
            assert isinstance(loaded, Ok)
            assert payloads(loaded.value) == [Added(5)]
        assert await reply(aggregate) == Ok(Aggregate("t-1", Tally(5, (5,)), 1))
        assert await reply(stats) == Ok(AggregateStats("t-1", 1, 1, has_snapshot=True))
        latest = await reply(snapshot)
        assert isinstance(latest, Ok)
        assert latest.value is not None
        assert latest.value.sequence == 1


async def test_a_read_sent_before_a_command_does_not_see_it() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        before = eventsourcing.load_events(system.subject, "t-1")
        after_command = system.send("t-1", add(2))
        assert await reply(after_command) == Ok(None)
        loaded = await reply(before)
        assert isinstance(loaded, Ok)
        assert payloads(loaded.value) == [Added(1)]
