"""Query actors get every committed batch, in commit order per aggregate, and nothing else."""

from __future__ import annotations

import logging
from typing import cast

import pytest
import trio
import trio.testing

from tests.contracts.faulty_store import Raise, Refuse
from tests.core.conftest import (
    Added,
    Envelope,
    Explode,
    Nothing,
    Poison,
    QueryName,
    TallyEvent,
    add,
    open_system,
    payloads,
    reply,
)
from trio_eventsourcing import Error, EventStoreError, Ok, Query, QueryMessage, process


def recorder(prefix: str) -> tuple[Query[TallyEvent], list[tuple[str, list[TallyEvent]]]]:
    """A query that records what it is given, and the list it records into."""
    seen: list[tuple[str, list[TallyEvent]]] = []

    def record(aggregate_id: str, events: list[Envelope]) -> None:
        seen.append((aggregate_id, payloads(events)))

    name: QueryName = process.new_name(prefix)
    return (name, record), seen


async def test_every_query_gets_every_committed_batch_in_commit_order() -> None:
    first, first_seen = recorder("first")
    second, second_seen = recorder("second")
    async with open_system(queries=[first, second], record=False) as system:
        for n in range(12):
            assert await system.run(f"t-{n % 3}", add(n, n + 100)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
    expected = [(f"t-{n % 3}", [Added(n), Added(n + 100)]) for n in range(12)]
    assert first_seen == expected
    assert second_seen == expected


async def test_batches_carry_the_committed_envelopes() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1), [("user", "bob")]) == Ok(None)
        assert await system.run("t-1", add(2, 3)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        [(_, first), (_, second)] = system.batches
        assert [(e.sequence, e.payload, e.metadata) for e in first] == [
            (1, Added(1), [("user", "bob")])
        ]
        assert [(e.sequence, e.payload, e.metadata) for e in second] == [
            (2, Added(2), []),
            (3, Added(3), []),
        ]
        assert [e.sequence for e in await system.events("t-1")] == [1, 2, 3]


async def test_concurrent_commands_are_delivered_in_commit_order_per_aggregate() -> None:
    async with open_system() as system:
        replies = [system.send(f"t-{n % 4}", add(n)) for n in range(40)]
        for subject in replies:
            assert await reply(subject) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        for k in range(4):
            committed = await system.events(f"t-{k}")
            delivered = [
                e for batch_id, batch in system.batches if batch_id == f"t-{k}" for e in batch
            ]
            assert [e.sequence for e in delivered] == [e.sequence for e in committed]
            assert payloads(delivered) == payloads(committed)


async def test_rejected_failed_and_empty_commands_are_never_delivered() -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        system.faulty.fail_commits("t-2", Refuse(EventStoreError("read-only")))
        outcomes = [
            await system.run("t-1", add(1)),  # the store raises
            await system.run("t-2", add(2)),  # the store refuses
            await system.run("t-1", add(-1)),  # a domain error
            await system.run("t-1", Nothing()),  # no events
            await system.run("t-1", Explode("bug")),  # handle raises
            await system.run("t-1", Poison()),  # apply raises
            await system.run("t-1", add(3)),
            await system.run("t-2", add(4)),
        ]
        assert [isinstance(outcome, Ok) for outcome in outcomes] == [
            False, False, False, True, False, False, True, True,
        ]  # fmt: skip
        await trio.testing.wait_all_tasks_blocked()
        assert [(batch_id, payloads(events)) for batch_id, events in system.batches] == [
            ("t-1", [Added(3)]),
            ("t-2", [Added(4)]),
        ]


async def test_a_query_that_raises_does_not_stop_other_queries_or_later_deliveries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="trio_eventsourcing.eventsourcing")
    calls: list[str] = []

    def fragile(aggregate_id: str, events: list[Envelope]) -> None:
        calls.append(aggregate_id)
        if aggregate_id == "bad":
            raise RuntimeError("read model is broken")

    fragile_name: QueryName = process.new_name("fragile")
    async with open_system(queries=[(fragile_name, fragile)]) as system:
        for aggregate_id in ("good", "bad", "good", "bad", "good"):
            assert await system.run(aggregate_id, add(1)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        assert calls == ["good", "bad", "good", "bad", "good"]
        assert [batch_id for batch_id, _ in system.batches] == calls
        assert system.restarts() == 0
        assert (await system.system_stats()).query_actors_count == 2
    failures = [r for r in caplog.records if "read model is broken" in str(r.exc_info)]
    assert len(failures) == 2
    assert all("raised on 1 events of 'bad'" in r.getMessage() for r in failures)


async def test_a_crashed_query_actor_is_restarted_and_loses_no_later_batches() -> None:
    watcher, seen = recorder("watcher")
    watcher_name = watcher[0]
    async with open_system(queries=[watcher], record=False) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        # Not a ProcessEvents: the query actor raises, and its supervisor restarts it.
        process.send(
            process.named_subject(watcher_name), cast("QueryMessage[TallyEvent]", object())
        )
        # Sent while the actor crashes and restarts: these wait in the Name's mailbox.
        for n in range(2, 6):
            assert await system.run("t-1", add(n)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        assert seen == [("t-1", [Added(n)]) for n in range(1, 6)]
        assert system.restarts() == 1
        assert watcher_name.is_held
        assert (await system.system_stats()).query_actors_count == 1
        assert await system.run("t-1", add(6)) == Ok(None)
        await trio.testing.wait_all_tasks_blocked()
        assert seen[-1] == ("t-1", [Added(6)])


async def test_a_query_actor_crash_does_not_disturb_commands() -> None:
    watcher, _ = recorder("watcher")
    async with open_system(queries=[watcher]) as system:
        process.send(process.named_subject(watcher[0]), cast("QueryMessage[TallyEvent]", object()))
        replies = [system.send("t-1", add(n)) for n in range(5)]
        assert [await reply(subject) for subject in replies] == [Ok(None)] * 5
        await trio.testing.wait_all_tasks_blocked()
        assert await system.delivered("t-1") == [[Added(n)] for n in range(5)]
        assert not isinstance(await system.load("t-1"), Error)
