"""Per-aggregate workers: cached state, idle eviction, and the cap on live workers."""

from __future__ import annotations

import gc

import trio
import trio.testing

from tests.core.conftest import Added, Tally, add, open_system, reply
from trio_eventsourcing import Aggregate, Ok


async def test_a_command_does_not_replay_the_stream_once_the_aggregate_is_cached() -> None:
    async with open_system() as system:
        for amount in range(10):
            assert await system.run("t-1", add(amount)) == Ok(None)
        # One cold load (of an empty stream) for the first command, none after.
        assert system.faulty.aggregate_loads == 1
        assert system.faulty.event_loads == [("t-1", 0)]


async def test_a_cold_aggregate_is_loaded_once_from_the_store() -> None:
    async with open_system() as first:
        for amount in (1, 2, 3):
            assert await first.run("t-1", add(amount)) == Ok(None)
        # A second system on the same store starts cold.
        async with open_system(first.store) as second:
            assert await second.run("t-1", add(4)) == Ok(None)
            assert await second.run("t-1", add(5)) == Ok(None)
            assert second.faulty.aggregate_loads == 1
            assert await second.load("t-1") == Ok(Aggregate("t-1", Tally(15, (1, 2, 3, 4, 5)), 5))


async def test_an_idle_worker_is_evicted_after_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_system(idle_timeout=1.0) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        await trio.sleep(0.4)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert system.faulty.aggregate_loads == 1  # still cached: not idle for long enough
        await trio.sleep(5)
        assert await system.run("t-1", add(3)) == Ok(None)
        assert system.faulty.aggregate_loads == 2  # evicted, so loaded again
        assert await system.payloads("t-1") == [Added(1), Added(2), Added(3)]


async def test_a_busy_worker_is_not_evicted(autojump_clock: trio.testing.MockClock) -> None:
    async with open_system(idle_timeout=1.0) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        command = system.send("t-1", add(1))
        await trio.sleep(10)  # far past the idle timeout, but the command is in flight
        gate.set()
        assert await reply(command) == Ok(None)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert system.faulty.aggregate_loads == 1


async def test_live_workers_never_exceed_max_workers() -> None:
    async with open_system(max_workers=2) as system:
        gate = system.faulty.commit_gate = trio.Event()
        replies = [system.send(f"t-{n}", add(n)) for n in range(6)]
        await trio.testing.wait_all_tasks_blocked()
        assert system.faulty.commits_in_flight == 2
        gate.set()
        for subject in replies:
            assert await reply(subject) == Ok(None)
        assert system.faulty.max_commits_in_flight == 2
        for n in range(6):
            assert await system.payloads(f"t-{n}") == [Added(n)]


async def test_an_idle_worker_makes_room_for_a_new_aggregate_at_the_cap() -> None:
    async with open_system(max_workers=1) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert await system.run("t-2", add(2)) == Ok(None)  # t-1's idle worker gives way
        assert await system.run("t-1", add(3)) == Ok(None)  # so t-1 is loaded again
        assert system.faulty.aggregate_loads == 3
        assert await system.payloads("t-1") == [Added(1), Added(3)]
        assert await system.payloads("t-2") == [Added(2)]


async def test_commands_queued_for_a_waiting_aggregate_all_run_in_order() -> None:
    async with open_system(max_workers=1) as system:
        gate = system.faulty.commit_gates["busy"] = trio.Event()
        busy = system.send("busy", add(0))
        await trio.testing.wait_all_tasks_blocked()
        waiting = [system.send("waiting", add(n)) for n in range(1, 6)]
        await trio.testing.wait_all_tasks_blocked()
        assert [subject.pending() for subject in waiting] == [0] * 5
        gate.set()
        assert await reply(busy) == Ok(None)
        for subject in waiting:
            assert await reply(subject) == Ok(None)
        assert await system.payloads("waiting") == [Added(n) for n in range(1, 6)]


def tasks_alive() -> int:
    """The tasks of this run, counted from its root."""

    def count(task: trio.lowlevel.Task) -> int:
        children = [child for nursery in task.child_nurseries for child in nursery.child_tasks]
        return 1 + sum(map(count, children))

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return count(root)


async def test_an_aggregate_at_rest_keeps_its_state_without_a_task() -> None:
    async with open_system() as system:
        for n in range(5):
            assert await system.run(f"t-{n}", add(n)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        tasks = tasks_alive()
        for n in range(5, 100):
            assert await system.run(f"t-{n}", add(n)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        # A worker left each aggregate once its queue was empty, and served the next.
        assert tasks_alive() == tasks
        # Each stayed cached all the same: a second command loads nothing.
        for n in range(100):
            assert await system.run(f"t-{n}", add(n)) == Ok(None)
        assert system.faulty.aggregate_loads == 100


async def test_concurrent_aggregates_take_a_worker_each_and_leave_them_idle() -> None:
    async with open_system() as system:
        assert await system.run("warm-up", add(0)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        before = tasks_alive()
        gate = system.faulty.commit_gate = trio.Event()
        replies = [system.send(f"t-{n}", add(n)) for n in range(10)]
        await trio.testing.wait_all_tasks_blocked()
        assert system.faulty.commits_in_flight == 10
        gate.set()
        for subject in replies:
            assert await reply(subject) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        # Ten workers ran at once (one was idle already); idle now, they wait for more.
        assert tasks_alive() == before + 9
        gate = system.faulty.commit_gate = trio.Event()
        replies = [system.send(f"u-{n}", add(n)) for n in range(10)]
        await trio.testing.wait_all_tasks_blocked()
        assert system.faulty.commits_in_flight == 10
        assert tasks_alive() == before + 9
        gate.set()
        for subject in replies:
            assert await reply(subject) == Ok(None)


async def test_the_cap_drops_the_least_recently_used_aggregate() -> None:
    async with open_system(max_workers=2) as system:
        for aggregate_id in ("a", "b", "a", "c"):
            assert await system.run(aggregate_id, add(1)) == Ok(None)
        # "b" was used longest ago: "c" took its place, and "a" stayed cached.
        assert system.faulty.aggregate_loads == 3
        assert await system.run("a", add(1)) == Ok(None)
        assert system.faulty.aggregate_loads == 3
        assert await system.run("b", add(1)) == Ok(None)
        assert system.faulty.aggregate_loads == 4


async def test_an_aggregate_dropped_from_the_cache_leaves_no_state_behind() -> None:
    async with open_system(max_workers=3) as system:
        # Three workers at once, idle after; then the cap drops their aggregates for
        # others, run in the caller's task.
        gate = system.faulty.commit_gate = trio.Event()
        replies = [system.send(f"w-{n}", add(8_000 + n)) for n in range(3)]
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        for subject in replies:
            assert await reply(subject) == Ok(None)
        for n in range(10):
            assert await system.run(f"t-{n}", add(7_000 + n)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        gc.collect()
        # Neither an idle worker nor a dropped slot keeps an aggregate's state alive (a
        # slot is left out of the cyclic GC: a reference cycle through one would).
        held = [
            obj.total for obj in gc.get_objects() if isinstance(obj, Tally) and obj.total >= 7_000
        ]
        assert sorted(held) == [7_007, 7_008, 7_009]
