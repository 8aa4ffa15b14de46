"""Idempotent commands: every command runs under a key its store keeps, and runs once."""

from __future__ import annotations

import logging

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.faulty_store import Refuse
from tests.core.conftest import Added, Tally, TallyEvent, TallyStore, add, open_system
from trio_eventsourcing import (
    ConcurrencyConflict,
    Error,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    memory_store,
)


async def test_a_command_without_a_key_commits_a_generated_one() -> None:
    async with open_system() as system:
        for n in range(3):
            assert await system.run("t-1", add(n)) == Ok(None)
        keys = system.faulty.committed_keys
        assert len(keys) == 3
        assert all(isinstance(key, str) and key for key in keys)
        assert len(set(keys)) == 3


async def test_generated_keys_differ_between_systems() -> None:
    async with open_system() as first:
        assert await first.run("t-1", add(1)) == Ok(None)
    async with open_system(first.store) as second:
        assert await second.run("t-1", add(2)) == Ok(None)
    assert first.faulty.committed_keys[0] != second.faulty.committed_keys[0]


async def test_a_generated_key_is_not_looked_up_before_the_command_runs() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert system.faulty.key_lookups == []


async def test_a_callers_key_is_committed_with_the_command_without_a_look_up() -> None:
    # The store's unique key guards the commit: no read before it.
    async with open_system() as system:
        assert await system.run("t-1", add(1), key="op-1") == Ok(None)
        assert system.faulty.committed_keys == ["op-1"]
        assert system.faulty.key_lookups == []


async def test_a_command_sent_again_with_its_key_is_not_stored_again() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(5), key="op-1") == Ok(None)
        assert await system.run("t-1", add(5), key="op-1") == Ok(None)
        assert await system.payloads("t-1") == [Added(5)]
        # Decided again, refused by the store's unique key: answered as stored.
        assert system.faulty.committed_keys == ["op-1", "op-1"]
        assert await system.load("t-1") == Ok(eventsourcing.Aggregate("t-1", Tally(5, (5,)), 1))


async def test_a_rejection_of_a_command_sent_again_is_answered_with_its_stored_outcome() -> None:
    # Sent again under its key, the command is decided again and rejected this time (a
    # negative amount stands in for any rejection the new state brings): its key is
    # stored, so the answer is the original outcome.
    async with open_system() as system:
        assert await system.run("t-1", add(5), key="op-1") == Ok(None)
        assert await system.run("t-1", add(-1), key="op-1") == Ok(None)
        assert system.faulty.key_lookups == [("t-1", "op-1")]
        assert await system.payloads("t-1") == [Added(5)]


async def test_a_key_is_per_aggregate() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(5), key="op") == Ok(None)
        assert await system.run("t-2", add(6), key="op") == Ok(None)
        assert await system.payloads("t-2") == [Added(6)]


async def test_a_rejected_command_stores_no_key_and_runs_again_when_sent_again() -> None:
    async with open_system() as system:
        rejected = await system.run("t-1", add(-1), key="op-1")
        assert isinstance(rejected, Error)
        assert not (
            await system.store.command_stored(system.store.eventstore, "t-1", "op-1")
        ).unwrap()
        assert await system.run("t-1", add(-1), key="op-1") == rejected


async def test_a_command_that_stores_no_events_stores_no_key() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(), key="op-1") == Ok(None)
        assert system.faulty.committed_keys == []


async def test_a_rejection_whose_key_cannot_be_looked_up_reports_the_store_failure() -> None:
    async with open_system() as system:
        system.faulty.lookup_faults.append(Refuse(EventStoreError("lookup failed")))
        assert await system.run("t-1", add(-1), key="op-1") == Error(
            EventStoreError("lookup failed")
        )
        assert await system.payloads("t-1") == []


async def test_a_commit_stored_but_reported_as_a_conflict_is_not_run_again() -> None:
    # A store that lost its answer after COMMIT and (wrongly) reports a conflict: the core
    # asks for the key before deciding again, finds it and answers Ok, so nothing doubles.
    async with open_system() as system:
        system.faulty.after_commit_faults.append(Refuse(ConcurrencyConflict("t-1", 0, 1)))
        assert await system.run("t-1", add(7)) == Ok(None)
        assert await system.payloads("t-1") == [Added(7)]
        assert len(system.faulty.key_lookups) == 1
        assert await system.load("t-1") == Ok(eventsourcing.Aggregate("t-1", Tally(7, (7,)), 1))


async def test_a_real_conflict_is_retried_after_the_key_is_found_absent() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        # Another writer commits behind this system's back: its cache is now stale.
        other = system.faulty.inner
        appended = await other.execute_transaction(
            lambda tx: _commit_one(other, tx, "t-1", 1, Added(100))
        )
        assert appended == Ok(None)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert await system.payloads("t-1") == [Added(1), Added(100), Added(2)]
        assert len(system.faulty.key_lookups) == 1


async def _commit_one(
    store: TallyStore,
    tx: memory_store.MemoryTransaction[Tally, TallyEvent],
    aggregate_id: str,
    sequence: int,
    event: TallyEvent,
) -> eventsourcing.StoreResult[None]:
    committed = await store.commit_events(
        tx, eventsourcing.Aggregate(aggregate_id, Tally(), sequence), [event], [], None
    )
    return committed if isinstance(committed, Error) else Ok(None)


async def test_outcome_unknown_reaches_the_caller_with_the_commands_key() -> None:
    async with open_system() as system:
        system.faulty.after_commit_faults.append(
            Refuse(OutcomeUnknown("t-1", "whatever the store said", "connection lost"))
        )
        outcome = await system.run("t-1", add(3))
        assert isinstance(outcome, Error)
        assert isinstance(outcome.error, OutcomeUnknown)
        key = system.faulty.committed_keys[0]
        assert key is not None
        assert outcome.error == OutcomeUnknown("t-1", key, "connection lost")
        # Not retried by the core: one commit only.
        assert len(system.faulty.committed_keys) == 1


async def test_sending_again_after_outcome_unknown_stores_the_command_once() -> None:
    async with open_system() as system:
        system.faulty.after_commit_faults.append(
            Refuse(OutcomeUnknown("t-1", "k", "connection lost"))
        )
        outcome = await system.run("t-1", add(3), key="op-9")
        assert isinstance(outcome, Error)
        assert isinstance(outcome.error, OutcomeUnknown)
        assert await system.run("t-1", add(3), key=outcome.error.idempotency_key) == Ok(None)
        assert await system.payloads("t-1") == [Added(3)]


async def test_outcome_unknown_of_an_uncommitted_command_runs_it_when_sent_again() -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Refuse(OutcomeUnknown("t-1", "k", "lost")))
        outcome = await system.run("t-1", add(4), key="op-4")
        assert isinstance(outcome, Error)
        assert isinstance(outcome.error, OutcomeUnknown)
        assert await system.run("t-1", add(4), key="op-4") == Ok(None)
        assert await system.payloads("t-1") == [Added(4)]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "non-empty str"),
        (b"op".decode() * 101, "at most 200"),
        ("op\x00", "NUL"),
        ("op\ud800", "lone surrogate"),
    ],
)
async def test_a_bad_key_is_refused_before_anything_is_sent(key: str, problem: str) -> None:
    async with open_system() as system:
        with pytest.raises(ValueError, match=problem):
            system.send("t-1", add(1), key=key)
        with pytest.raises(ValueError, match=problem):
            eventsourcing.execute(system.subject, "t-1", add(1), idempotency_key=key)
        with pytest.raises(ValueError, match=problem):
            eventsourcing.execute_with_metadata(
                system.subject, "t-1", add(1), [], idempotency_key=key
            )
        assert system.faulty.write_transactions == 0


async def test_a_key_that_is_not_a_str_is_refused() -> None:
    async with open_system() as system:
        with pytest.raises(ValueError, match="idempotency_key must be a non-empty str"):
            system.send("t-1", add(1), key=42)  # type: ignore[arg-type]


async def test_a_fire_and_forget_command_that_fails_is_logged_with_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_system() as system:
        system.faulty.fail_commits("t-1", Refuse(EventStoreError("disk on fire")))
        eventsourcing.execute(system.subject, "t-1", add(1), idempotency_key="op-1")
        assert await system.payloads("t-1") == []
    assert any(
        "a fire-and-forget command for 't-1' failed and stored nothing (idempotency key "
        "'op-1'): event store error (failed): disk on fire" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


async def test_a_fire_and_forget_command_of_unknown_outcome_is_logged_with_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_system() as system:
        system.faulty.after_commit_faults.append(Refuse(OutcomeUnknown("t-1", "k", "lost")))
        eventsourcing.execute(system.subject, "t-1", add(1))
        assert await system.payloads("t-1") == [Added(1)]
    key = system.faulty.committed_keys[0]
    assert any(
        f"may or may not be stored (lost): send it again with idempotency key {key!r}"
        in r.getMessage()
        for r in caplog.records
    )


async def test_a_rejected_fire_and_forget_command_is_logged_as_information(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.eventsourcing")
    async with open_system() as system:
        eventsourcing.execute(system.subject, "t-1", add(-5))
        assert await system.payloads("t-1") == []
    (record,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert "Rejected(amount=-5)" in record.getMessage()
