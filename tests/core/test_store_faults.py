"""Store failures inside a command: nothing of it is committed, the caller is told, and the
system (queued commands included) carries on."""

from __future__ import annotations

import logging
from typing import cast

import pytest
import trio
import trio.testing

from tests.contracts.faulty_store import Raise, Refuse
from tests.core.conftest import Added, Tally, TallyMessage, add, open_system, reply
from trio_eventsourcing import (
    Aggregate,
    Error,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    TransactionFailed,
    TransactionRolledBack,
    process,
)


async def test_a_store_that_raises_in_commit_is_reported_as_event_store_error() -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        result = await system.run("t-1", add(1))
        assert isinstance(result, Error)
        assert isinstance(result.error, EventStoreError)
        assert "disk on fire" in result.error.message
        assert await system.payloads("t-1") == []


async def test_a_store_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="trio_eventsourcing.eventsourcing")
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        assert isinstance(await system.run("t-1", add(1)), Error)
    [record] = [r for r in caplog.records if r.exc_info is not None]
    assert "the event store raised in execute_transaction" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], OSError)


@pytest.mark.parametrize(
    "error", [EventStoreError("read-only"), TransactionFailed(), TransactionRolledBack()]
)
async def test_an_error_the_store_reports_reaches_the_caller_unchanged(
    error: EventStoreError | TransactionFailed | TransactionRolledBack,
) -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Refuse(error))
        assert await system.run("t-1", add(1)) == Error(error)
        assert await system.payloads("t-1") == []


async def test_commands_queued_behind_a_failed_commit_still_run() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        queued = [system.send("t-1", add(n)) for n in (2, 3, 4)]
        results = [await reply(subject) for subject in queued]
        assert isinstance(results[0], Error)
        assert results[1:] == [Ok(None), Ok(None)]
        assert await system.payloads("t-1") == [Added(1), Added(3), Added(4)]
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(8, (1, 3, 4)), 3))
        assert system.restarts() == 0


async def test_a_failed_commit_does_not_disturb_other_aggregates() -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        failing = system.send("t-1", add(1))
        other = system.send("t-2", add(2))
        failed = await reply(failing)
        assert isinstance(failed, Error)
        assert await reply(other) == Ok(None)
        assert await system.payloads("t-2") == [Added(2)]


async def test_a_failed_snapshot_save_commits_nothing_of_the_command() -> None:
    async with open_system(snapshot_every=2) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        system.faulty.snapshot_faults.append(Raise(OSError("no room for the snapshot")))
        result = await system.run("t-1", add(2))
        assert isinstance(result, Error)
        assert isinstance(result.error, EventStoreError)
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.snapshot("t-1") is None
        assert await system.delivered("t-1") == [[Added(1)]]
        # The next try commits the events and the snapshot together.
        assert await system.run("t-1", add(2)) == Ok(None)
        snapshot = await system.snapshot("t-1")
        assert snapshot is not None
        assert (snapshot.entity, snapshot.sequence) == (Tally(3, (1, 2)), 2)


async def test_a_store_that_fails_a_load_is_reported_and_the_next_command_reloads() -> None:
    async with open_system() as system:
        system.faulty.fail_loads("t-1", Raise(OSError("cannot read")))
        result = await system.run("t-1", add(1))
        assert isinstance(result, Error)
        assert isinstance(result.error, EventStoreError)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert await system.payloads("t-1") == [Added(2)]


async def test_a_failed_load_reaches_a_read_as_its_error() -> None:
    async with open_system() as system:
        system.faulty.fail_loads("t-1", Refuse(EventStoreError("cannot read")))
        assert await system.load("t-1") == Error(EventStoreError("cannot read"))


async def test_a_crashed_event_sourcing_actor_loses_no_queued_commands() -> None:
    async with open_system() as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        in_flight = system.send("t-1", add(1))
        await trio.testing.wait_all_tasks_blocked()
        queued_before = [system.send("t-1", add(n)) for n in (2, 3, 4)]
        # Not an AggregateMessage: the router raises TypeError and is restarted.
        process.send(system.subject, cast("TallyMessage", object()))
        sent_after = [system.send("t-1", add(n)) for n in (5, 6, 7)]
        await trio.testing.wait_all_tasks_blocked()
        assert system.restarts() == 1
        # The command that was running when its worker stopped: its outcome is unknown.
        stopped = await reply(in_flight)
        assert isinstance(stopped, Error)
        assert isinstance(stopped.error, OutcomeUnknown)
        assert stopped.error.aggregate_id == "t-1"
        assert "may or may not have been stored" in stopped.error.message
        gate.set()
        for subject in [*queued_before, *sent_after]:
            assert await reply(subject) == Ok(None)
        assert await system.payloads("t-1") == [Added(n) for n in range(2, 8)]
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(27, (2, 3, 4, 5, 6, 7)), 6))


async def test_reads_survive_a_crash_of_the_event_sourcing_actor() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        process.send(system.subject, cast("TallyMessage", object()))
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.run("t-2", add(2)) == Ok(None)
        assert (await system.system_stats()).total_commands_processed == 2
        assert system.restarts() == 1
