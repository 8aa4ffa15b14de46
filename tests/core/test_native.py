"""The Trio-native API: ``open_system`` and a :class:`System` that awaits and raises.

Every test runs the tally domain on a memory store wrapped in a :class:`FaultyStore`,
opened with ``memory_store.open()`` and ``eventsourcing.open_system`` exactly as a user
would, and checks what the store holds, not only what the call said.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import cast

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.faulty_store import Conflict, FaultyStore, Raise, Refuse
from tests.core.conftest import (
    Added,
    Clear,
    Envelope,
    Explode,
    Nothing,
    Poison,
    Rejected,
    Tally,
    TallyCommand,
    TallyEvent,
    TallyFaulty,
    TallyMessage,
    TallyStore,
    add,
    apply,
    handle,
)
from trio_eventsourcing import (
    Aggregate,
    AggregateNotFound,
    AggregateStats,
    CallbackFailed,
    CommandOutcomeUnknown,
    CommandRejected,
    ConflictAfterRetries,
    DomainError,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    Receipt,
    StoreFailure,
    StoreUnavailable,
    SystemStats,
    memory_store,
    process,
)

TallySystem = eventsourcing.System[Tally, TallyCommand, TallyEvent, Rejected]
TallyQuery = Callable[[str, list[Envelope]], None]


@dataclass
class Opened:
    """A running tally system, the fault-injecting store under it, and the real store."""

    system: TallySystem
    faulty: TallyFaulty
    store: TallyStore

    def stored(self, aggregate_id: str = "t-1") -> list[tuple[int, TallyEvent]]:
        """``(sequence, payload)`` of every event the store holds for ``aggregate_id``."""
        return stored(self.store, aggregate_id)


def stored(store: TallyStore, aggregate_id: str = "t-1") -> list[tuple[int, TallyEvent]]:
    return [
        (envelope.sequence, envelope.payload)
        for envelope in store.eventstore.database._log
        if envelope.aggregate_id == aggregate_id
    ]


@contextlib.asynccontextmanager
async def opened(
    *,
    snapshot_every: int | None = None,
    queries: Sequence[TallyQuery] = (),
    max_retries: int = 3,
    shutdown_timeout: float = 5.0,
    max_workers: int = 10_000,
    idle_timeout: float = 60.0,
) -> AsyncIterator[Opened]:
    """A tally system on a fresh memory store, both opened the Trio-native way."""
    async with memory_store.open() as store:
        faulty: TallyFaulty = FaultyStore(store)
        async with eventsourcing.open_system(
            faulty.store,
            handle,
            apply,
            Tally(),
            snapshot_every=snapshot_every,
            queries=queries,
            max_retries=max_retries,
            shutdown_timeout=shutdown_timeout,
            max_workers=max_workers,
            idle_timeout=idle_timeout,
        ) as system:
            yield Opened(system, faulty, store)


@contextlib.asynccontextmanager
async def reopened_after_one_command() -> AsyncIterator[tuple[Opened, TallySystem]]:
    """A store holding t-1 after one command, and a new system on it: t-1 is not cached.

    ``Opened`` is the first system's, closed; its ``faulty`` store serves the new one.
    """
    async with opened() as bank:
        await bank.system.execute("t-1", add(1))
    async with eventsourcing.open_system(bank.faulty.store, handle, apply, Tally()) as system:
        yield bank, system


# --- execute ----------------------------------------------------------------------------------


async def test_execute_returns_a_receipt_with_the_sequence_and_positions() -> None:
    async with opened() as es:
        assert await es.system.execute("t-1", add(1, 2)) == Receipt("t-1", 2, (1, 2), False)
        assert await es.system.execute("t-2", add(5)) == Receipt("t-2", 1, (3,), False)
        assert await es.system.execute("t-1", add(3)) == Receipt("t-1", 3, (4,), False)
        assert es.stored("t-1") == [(1, Added(1)), (2, Added(2)), (3, Added(3))]
        assert es.stored("t-2") == [(1, Added(5))]


async def test_a_command_that_decides_no_events_returns_a_receipt_with_no_positions() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(4))
        receipt = await es.system.execute("t-1", Nothing())
        assert receipt == Receipt("t-1", 1, (), False)
        assert receipt.position == 0
        assert es.stored() == [(1, Added(4))]


async def test_metadata_is_stored_with_every_event_of_the_command() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1, 2), metadata=[("user", "ann")])
        envelopes = es.store.eventstore.database._log
        assert [envelope.metadata for envelope in envelopes] == [[("user", "ann")]] * 2


async def test_a_rejected_command_raises_command_rejected_and_stores_nothing() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1))
        with pytest.raises(CommandRejected) as info:
            await es.system.execute("t-1", add(2, -7))
        assert info.value.error == Rejected(-7)
        assert info.value.aggregate_id == "t-1"
        assert info.value.reason == DomainError(Rejected(-7))
        assert es.stored() == [(1, Added(1))]
        assert es.faulty.write_transactions == 1


async def test_a_handle_that_raises_gives_callback_failed_and_stores_nothing() -> None:
    async with opened() as es:
        with pytest.raises(CallbackFailed) as info:
            await es.system.execute("t-1", Explode("kaboom"))
        assert info.value.callback == "handle"
        assert info.value.exception_type == "ValueError"
        assert "kaboom" in info.value.message
        assert es.stored() == []
        # The aggregate carries on.
        assert await es.system.execute("t-1", add(1)) == Receipt("t-1", 1, (1,), False)


async def test_an_apply_that_raises_gives_callback_failed_and_stores_nothing() -> None:
    async with opened() as es:
        with pytest.raises(CallbackFailed) as info:
            await es.system.execute("t-1", Poison())
        assert info.value.callback == "apply"
        assert info.value.exception_type == "PoisonError"
        assert es.stored() == []


@pytest.mark.parametrize("kind", list(StoreFailure))
async def test_a_store_error_raises_store_unavailable_with_its_kind(kind: StoreFailure) -> None:
    async with opened() as es:
        es.faulty.fail_commits("t-1", Refuse(EventStoreError("disk says no", kind)))
        with pytest.raises(StoreUnavailable) as info:
            await es.system.execute("t-1", add(1))
        assert info.value.kind is kind
        assert info.value.message == "disk says no"
        assert info.value.aggregate_id == "t-1"
        assert es.stored() == []


async def test_a_store_that_raises_gives_store_unavailable_failed() -> None:
    async with opened() as es:
        es.faulty.fail_commits("t-1", Raise(OSError("disk on fire")))
        with pytest.raises(StoreUnavailable) as info:
            await es.system.execute("t-1", add(1))
        assert info.value.kind is StoreFailure.FAILED
        assert "disk on fire" in info.value.message
        assert es.stored() == []


async def test_an_unknown_outcome_carries_the_key_whose_retry_is_already_stored() -> None:
    async with opened() as es:
        es.faulty.after_commit_faults.append(Refuse(OutcomeUnknown("t-1", "?", "link lost")))
        with pytest.raises(CommandOutcomeUnknown) as info:
            await es.system.execute("t-1", add(3), idempotency_key="op-1")
        assert info.value.idempotency_key == "op-1"
        assert info.value.aggregate_id == "t-1"
        # It was stored: the retry under its key stores nothing more.
        assert es.stored() == [(1, Added(3))]
        receipt = await es.system.execute("t-1", add(3), idempotency_key=info.value.idempotency_key)
        assert receipt == Receipt("t-1", None, (), True)
        assert es.stored() == [(1, Added(3))]
        assert (await es.system.load("t-1")).entity == Tally(3, (3,))


async def test_a_key_sent_again_after_success_is_already_stored() -> None:
    async with opened() as es:
        first = await es.system.execute("t-1", add(2), idempotency_key="op-1")
        again = await es.system.execute("t-1", add(2), idempotency_key="op-1")
        assert first == Receipt("t-1", 1, (1,), False)
        assert again.already_stored
        assert es.stored() == [(1, Added(2))]


async def test_repeated_conflicts_raise_conflict_after_retries_and_store_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with opened(max_retries=2) as es:
        await es.system.execute("t-1", add(1))
        es.faulty.fail_commits("t-1", *[Conflict()] * 3)
        with pytest.raises(ConflictAfterRetries) as info:
            await es.system.execute("t-1", add(2))
        assert (info.value.expected_sequence, info.value.actual_sequence) == (1, 2)
        assert es.stored() == [(1, Added(1))]
        # The first attempt and two retries.
        assert es.faulty.committed_keys[1:] == [es.faulty.committed_keys[1]] * 3


async def test_conflicts_within_max_retries_are_retried_and_stored_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with opened(max_retries=2) as es:
        es.faulty.fail_commits("t-1", Conflict(), Conflict())
        assert await es.system.execute("t-1", add(2)) == Receipt("t-1", 1, (1,), False)
        assert es.stored() == [(1, Added(2))]


# --- reads ------------------------------------------------------------------------------------


async def test_loading_an_unknown_aggregate_raises_aggregate_not_found() -> None:
    async with opened() as es:
        with pytest.raises(AggregateNotFound) as info:
            await es.system.load("t-404")
        assert info.value.aggregate_id == "t-404"


async def test_loading_an_aggregate_back_in_its_empty_state_raises_aggregate_not_found() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1))
        await es.system.execute("t-1", Clear())
        with pytest.raises(AggregateNotFound):
            await es.system.load("t-1")
        assert len(es.stored()) == 2


async def test_load_returns_the_state_and_sequence_after_the_commands() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1, 2))
        await es.system.execute("t-1", add(3))
        assert await es.system.load("t-1") == Aggregate("t-1", Tally(6, (1, 2, 3)), 3)


async def test_events_returns_the_envelopes_after_start_from() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1, 2))
        await es.system.execute("t-1", add(3), metadata=[("k", "v")])
        every = await es.system.events("t-1")
        assert [(e.sequence, e.payload) for e in every] == es.stored()
        later = await es.system.events("t-1", start_from=2)
        assert [(e.sequence, e.payload, e.metadata) for e in later] == [(3, Added(3), [("k", "v")])]
        assert await es.system.events("t-404") == []


async def test_latest_snapshot_is_none_until_a_commit_crosses_snapshot_every() -> None:
    async with opened(snapshot_every=2) as es:
        await es.system.execute("t-1", add(1))
        assert await es.system.latest_snapshot("t-1") is None
        await es.system.execute("t-1", add(2, 3))
        snapshot = await es.system.latest_snapshot("t-1")
        assert snapshot is not None
        assert (snapshot.aggregate_id, snapshot.sequence) == ("t-1", 3)
        assert snapshot.entity == Tally(6, (1, 2, 3))
        assert es.faulty.saved_snapshots == [snapshot]


async def test_aggregate_stats_counts_the_events_and_the_snapshot() -> None:
    async with opened(snapshot_every=3) as es:
        assert await es.system.aggregate_stats("t-1") == AggregateStats("t-1", 0, 0, False)
        await es.system.execute("t-1", add(1, 2))
        assert await es.system.aggregate_stats("t-1") == AggregateStats("t-1", 2, 2, False)
        await es.system.execute("t-1", add(3))
        assert await es.system.aggregate_stats("t-1") == AggregateStats("t-1", 3, 3, True)


async def test_stats_count_the_commands_processed_and_the_queries() -> None:
    def ignore(aggregate_id: str, envelopes: list[Envelope]) -> None:
        pass

    async with opened(queries=[ignore, ignore]) as es:
        await es.system.execute("t-1", add(1))
        await es.system.execute("t-2", add(2))
        with pytest.raises(CommandRejected):
            await es.system.execute("t-1", add(-1))
        assert await es.system.stats() == SystemStats(2, 3)


async def test_reads_after_commands_see_them() -> None:
    async with opened() as es:
        for n in range(1, 6):
            await es.system.execute("t-1", add(n))
            assert (await es.system.load("t-1")).sequence == n
            assert len(await es.system.events("t-1")) == n
            assert (await es.system.aggregate_stats("t-1")).event_count == n


async def test_a_read_after_a_fire_and_forget_command_sees_it() -> None:
    async with opened() as es:
        eventsourcing.execute(es.system.subject, "t-1", add(7))
        assert await es.system.load("t-1") == Aggregate("t-1", Tally(7, (7,)), 1)
        assert es.stored() == [(1, Added(7))]


# --- concurrency and cancellation ---------------------------------------------------------------


async def test_concurrent_callers_of_one_aggregate_each_apply_once_without_gaps() -> None:
    count = 60
    receipts: list[Receipt] = []

    async def caller(system: TallySystem, n: int) -> None:
        receipts.append(await system.execute("t-1", add(n)))

    async with opened() as es:
        async with trio.open_nursery() as nursery:
            for n in range(count):
                nursery.start_soon(caller, es.system, n)
        held = es.stored()
        assert [sequence for sequence, _ in held] == list(range(1, count + 1))
        amounts = tuple(event.amount for _, event in held if isinstance(event, Added))
        assert sorted(amounts) == list(range(count))
        assert sorted(receipt.sequence or 0 for receipt in receipts) == list(range(1, count + 1))
        assert sorted(receipt.position for receipt in receipts) == list(range(1, count + 1))
        # Each state was the one before it plus the command: applied once, in stored order.
        assert await es.system.load("t-1") == Aggregate("t-1", Tally(sum(amounts), amounts), count)


async def test_concurrent_callers_of_many_aggregates_are_all_stored() -> None:
    async with opened() as es:
        async with trio.open_nursery() as nursery:
            for n in range(40):
                nursery.start_soon(es.system.execute, f"t-{n % 4}", add(n))
        for k in range(4):
            held = es.stored(f"t-{k}")
            assert [sequence for sequence, _ in held] == list(range(1, 11))
            amounts = [event.amount for _, event in held if isinstance(event, Added)]
            assert sorted(amounts) == list(range(k, 40, 4))


async def test_a_command_cancelled_while_queued_is_skipped_and_never_stored() -> None:
    async with opened() as es:
        gate = es.faulty.commit_gates["t-1"] = trio.Event()
        first: list[Receipt] = []
        queued_scope = trio.CancelScope()
        reached_end: list[bool] = []

        async def first_caller() -> None:
            first.append(await es.system.execute("t-1", add(1)))

        async def queued_caller() -> None:
            with queued_scope:
                await es.system.execute("t-1", add(2))
                reached_end.append(True)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_caller)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(queued_caller)
            await trio.testing.wait_all_tasks_blocked()
            queued_scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
        assert queued_scope.cancelled_caught
        assert reached_end == []
        assert first == [Receipt("t-1", 1, (1,), False)]
        # The next command follows the first: the skipped one left no trace.
        assert await es.system.execute("t-1", add(3)) == Receipt("t-1", 2, (2,), False)
        assert es.stored() == [(1, Added(1)), (2, Added(3))]
        assert es.faulty.write_transactions == 2


async def test_a_command_cancelled_while_in_the_routers_mailbox_is_skipped() -> None:
    # Not an aggregate message: the router takes it in its own task (and crashes on it),
    # so the command sent next waits in the router's mailbox until it is restarted.
    async with opened() as es:
        process.send(es.system.subject, cast("TallyMessage", object()))
        waiting = len(es.faulty.committed_keys)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def cancel_it() -> None:
                    # Runs before the router's restart, which takes several schedulings.
                    assert len(es.faulty.committed_keys) == waiting
                    scope.cancel()

                nursery.start_soon(cancel_it)
                await es.system.execute("t-1", add(1))
        assert scope.cancelled_caught
        assert await es.system.execute("t-1", add(2)) == Receipt("t-1", 1, (1,), False)
        assert es.stored() == [(1, Added(2))]


async def test_a_command_cancelled_after_it_began_in_the_callers_task_is_stored_whole() -> None:
    async with opened() as es:
        gate = es.faulty.commit_gates["t-1"] = trio.Event()
        scope = trio.CancelScope()
        receipts: list[Receipt] = []

        async def caller() -> None:
            with scope:
                receipts.append(await es.system.execute("t-1", add(1, 2)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            assert es.faulty.committed_keys != []  # it began: it waits in its commit
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert receipts == []  # still waiting for its commit, cancelled or not
            gate.set()
        assert receipts == [Receipt("t-1", 2, (1, 2), False)]
        assert es.stored() == [(1, Added(1)), (2, Added(2))]


async def test_a_queued_command_cancelled_after_it_began_is_stored_whole() -> None:
    # The second command queues behind the first, then begins on the aggregate's worker
    # and waits in its own commit; only then is its caller cancelled.
    async with opened() as es:
        first_gate = es.faulty.commit_gates["t-1"] = trio.Event()
        scope = trio.CancelScope()
        receipts: list[Receipt] = []

        async def second_caller() -> None:
            with scope:
                receipts.append(await es.system.execute("t-1", add(2)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(es.system.execute, "t-1", add(1))
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(second_caller)
            await trio.testing.wait_all_tasks_blocked()
            second_gate = es.faulty.commit_gates["t-1"] = trio.Event()
            first_gate.set()
            await trio.testing.wait_all_tasks_blocked()
            assert len(es.faulty.committed_keys) == 2  # the second began
            assert es.stored() == [(1, Added(1))]
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            second_gate.set()
        assert receipts == [Receipt("t-1", 2, (2,), False)]
        assert es.stored() == [(1, Added(1)), (2, Added(2))]


async def test_fail_after_raises_too_slow_for_a_command_stuck_behind_a_gate_unstored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcomes: list[tuple[float, object]] = []

    async def impatient_caller(system: TallySystem) -> None:
        try:
            with trio.fail_after(3):
                outcomes.append((trio.current_time(), await system.execute("t-1", add(2))))
        except trio.TooSlowError as too_slow:
            outcomes.append((trio.current_time(), too_slow))

    async with opened() as es:
        gate = es.faulty.commit_gates["t-1"] = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(es.system.execute, "t-1", add(1))
            await trio.testing.wait_all_tasks_blocked()
            started = trio.current_time()
            nursery.start_soon(impatient_caller, es.system)
            await trio.sleep(5)
            seen = list(outcomes)
            gate.set()
        [(when, outcome)] = seen
        assert isinstance(outcome, trio.TooSlowError)
        assert when - started == pytest.approx(3)
        assert await es.system.execute("t-1", add(3)) == Receipt("t-1", 2, (2,), False)
        assert es.stored() == [(1, Added(1)), (2, Added(3))]


async def test_an_already_cancelled_caller_runs_nothing() -> None:
    async with opened() as es:
        with trio.CancelScope() as scope:
            scope.cancel()
            await es.system.execute("t-1", add(1))
        assert scope.cancelled_caught
        assert es.faulty.write_transactions == 0
        assert es.stored() == []


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_fire_and_forget_then_execute_from_one_task_keep_their_order(warm: bool) -> None:
    async with opened() as es:
        if warm:
            await es.system.execute("t-1", Nothing())
        expected: list[TallyEvent] = []
        for n in range(0, 20, 2):
            eventsourcing.execute(es.system.subject, "t-1", add(n))
            receipt = await es.system.execute("t-1", add(n + 1))
            expected += [Added(n), Added(n + 1)]
            assert receipt.sequence == len(expected)
        assert [event for _, event in es.stored()] == expected


async def test_an_execute_waits_behind_a_fire_and_forget_command_not_yet_routed() -> None:
    # Not an aggregate message: the router takes it in its own task (and crashes on it,
    # to be restarted), so the command sent next waits in the router's mailbox, unrouted.
    async with opened() as es:
        process.send(es.system.subject, cast("TallyMessage", object()))
        eventsourcing.execute(es.system.subject, "t-1", add(1))
        receipt = await es.system.execute("t-1", add(2))
        assert receipt == Receipt("t-1", 2, (2,), False)
        assert [event for _, event in es.stored()] == [Added(1), Added(2)]


async def test_execute_then_fire_and_forget_keep_their_order() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1))
        eventsourcing.execute(es.system.subject, "t-1", add(2))
        await es.system.execute("t-1", add(3))
        assert [event for _, event in es.stored()] == [Added(1), Added(2), Added(3)]


# --- queries ------------------------------------------------------------------------------------


async def test_queries_receive_the_committed_envelopes_of_each_command() -> None:
    batches: list[tuple[str, list[tuple[int, TallyEvent]]]] = []

    def record(aggregate_id: str, envelopes: list[Envelope]) -> None:
        batches.append((aggregate_id, [(e.sequence, e.payload) for e in envelopes]))

    async with opened(queries=[record]) as es:
        await es.system.execute("t-1", add(1, 2))
        with pytest.raises(CommandRejected):
            await es.system.execute("t-1", add(-1))
        await es.system.execute("t-2", add(9))
        await es.system.execute("t-1", Nothing())
        await es.system.execute("t-1", add(3))
        await trio.testing.wait_all_tasks_blocked()
        assert batches == [
            ("t-1", [(1, Added(1)), (2, Added(2))]),
            ("t-2", [(1, Added(9))]),
            ("t-1", [(3, Added(3))]),
        ]


# --- the block ----------------------------------------------------------------------------------


async def test_every_method_raises_store_unavailable_not_running_after_the_block() -> None:
    async with opened() as es:
        await es.system.execute("t-1", add(1))
    system = es.system
    calls = [
        lambda: system.execute("t-1", add(2)),
        lambda: system.load("t-1"),
        lambda: system.events("t-1"),
        lambda: system.latest_snapshot("t-1"),
        lambda: system.aggregate_stats("t-1"),
        system.stats,
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable) as info:
            await call()
        assert info.value.kind is StoreFailure.NOT_RUNNING
    assert "closed" in repr(system)
    assert es.stored() == [(1, Added(1))]


async def test_commands_accepted_before_the_block_ends_are_run() -> None:
    async with opened() as es:
        for n in range(5):
            eventsourcing.execute(es.system.subject, "t-1", add(n))
    assert [event for _, event in es.stored()] == [Added(n) for n in range(5)]


async def test_an_exception_raised_in_the_block_comes_out_as_itself() -> None:
    problem = KeyError("mine")
    stores: list[TallyStore] = []

    async def raise_in_the_block() -> None:
        async with opened() as es:
            stores.append(es.store)
            await es.system.execute("t-1", add(1))
            raise problem

    with pytest.raises(KeyError) as info:
        await raise_in_the_block()
    assert info.value is problem  # itself, not an exception group holding it
    assert stored(stores[0]) == [(1, Added(1))]


async def test_a_cancellation_of_the_block_comes_out_as_itself() -> None:
    with trio.CancelScope() as scope:
        async with opened() as es:
            await es.system.execute("t-1", add(1))
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert es.stored() == [(1, Added(1))]


async def test_a_shutdown_stops_a_command_that_never_ends_with_outcome_unknown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcomes: list[BaseException] = []
    async with memory_store.open() as store:
        faulty: TallyFaulty = FaultyStore(store)
        faulty.commit_gates["t-1"] = trio.Event()  # never set: the commit never ends
        async with trio.open_nursery() as callers:
            async with eventsourcing.open_system(
                faulty.store, handle, apply, Tally(), shutdown_timeout=2.0
            ) as system:

                async def caller() -> None:
                    try:
                        await system.execute("t-1", add(1))
                    except eventsourcing.EventSourcingException as failure:
                        outcomes.append(failure)

                callers.start_soon(caller)
                await trio.testing.wait_all_tasks_blocked()
                assert len(faulty.committed_keys) == 1  # in its commit
                started = trio.current_time()
            assert trio.current_time() - started == pytest.approx(2.0)
        assert stored(store) == []
    [outcome] = outcomes
    assert isinstance(outcome, CommandOutcomeUnknown)
    assert outcome.aggregate_id == "t-1"
    assert outcome.idempotency_key == faulty.committed_keys[0]


async def test_a_shutdown_waits_for_a_command_in_a_callers_task_that_ends_in_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    receipts: list[Receipt] = []
    async with memory_store.open() as store:
        faulty: TallyFaulty = FaultyStore(store)
        gate = faulty.commit_gates["t-1"] = trio.Event()
        async with (
            trio.open_nursery() as nursery,
            eventsourcing.open_system(
                faulty.store, handle, apply, Tally(), shutdown_timeout=10.0
            ) as system,
        ):

            async def caller() -> None:
                receipts.append(await system.execute("t-1", add(1)))

            async def open_gate_later() -> None:
                await trio.sleep(1)
                gate.set()

            nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(open_gate_later)
        assert receipts == [Receipt("t-1", 1, (1,), False)]
        assert stored(store) == [(1, Added(1))]


@pytest.mark.parametrize(
    "warm",
    [
        pytest.param(False, id="cold"),
        pytest.param(True, id="warm"),
    ],
)
@pytest.mark.parametrize("fire_and_forget", [False, True], ids=["execute", "fire_and_forget"])
async def test_a_command_queued_behind_one_in_a_callers_task_runs_in_the_shutdown(
    warm: bool, fire_and_forget: bool, autojump_clock: trio.testing.MockClock
) -> None:
    outcomes: list[object] = []
    async with memory_store.open() as store:
        faulty: TallyFaulty = FaultyStore(store)
        gate = trio.Event()
        async with (
            trio.open_nursery() as callers,
            eventsourcing.open_system(
                faulty.store, handle, apply, Tally(), shutdown_timeout=10.0
            ) as system,
        ):

            async def caller(n: int) -> None:
                try:
                    outcomes.append(await system.execute("t-1", add(n)))
                except eventsourcing.EventSourcingException as failure:
                    outcomes.append(failure)

            async def open_gate_later() -> None:
                await trio.sleep(1)
                gate.set()

            if warm:
                await system.execute("t-1", Nothing())  # its worker keeps it cached
            faulty.commit_gates["t-1"] = gate
            callers.start_soon(caller, 1)
            await trio.testing.wait_all_tasks_blocked()
            if fire_and_forget:
                eventsourcing.execute(system.subject, "t-1", add(2))
            else:
                callers.start_soon(caller, 2)
            await trio.testing.wait_all_tasks_blocked()
            callers.start_soon(open_gate_later)
        assert stored(store) == [(1, Added(1)), (2, Added(2))]
    receipts = [Receipt("t-1", 1, (1,), False), Receipt("t-1", 2, (2,), False)]
    assert outcomes == (receipts[:1] if fire_and_forget else receipts)


# --- bad arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize("aggregate_id", ["", 42])
async def test_a_bad_aggregate_id_is_refused_naming_it(aggregate_id: str) -> None:
    async with opened() as es:
        with pytest.raises(ValueError, match="aggregate_id"):
            await es.system.execute(aggregate_id, add(1))
        with pytest.raises(ValueError, match="aggregate_id"):
            await es.system.load(aggregate_id)
        with pytest.raises(ValueError, match="aggregate_id"):
            await es.system.events(aggregate_id)
        assert es.faulty.write_transactions == 0


async def test_a_bad_idempotency_key_is_refused_naming_it() -> None:
    async with opened() as es:
        with pytest.raises(ValueError, match="idempotency_key"):
            await es.system.execute("t-1", add(1), idempotency_key="")
        assert es.stored() == []


async def test_a_bad_consistency_is_refused_naming_it() -> None:
    async with opened() as es:
        with pytest.raises(TypeError, match="consistency"):
            await es.system.execute("t-1", add(1), consistency=[object()])  # type: ignore[list-item]
        assert es.stored() == []


@pytest.mark.parametrize("snapshot_every", [0, -2])
async def test_a_non_positive_snapshot_every_is_refused_naming_it(snapshot_every: int) -> None:
    with pytest.raises(ValueError, match="snapshot_every"):
        async with opened(snapshot_every=snapshot_every):
            pass


async def test_a_query_that_is_not_callable_is_refused_naming_it() -> None:
    def fine(aggregate_id: str, envelopes: list[Envelope]) -> None:
        pass

    with pytest.raises(TypeError, match=r"queries\[1\]"):
        async with opened(queries=[fine, "not a function"]):  # type: ignore[list-item]
            pass


async def test_queries_that_are_not_a_sequence_are_refused_naming_them() -> None:
    def fine(aggregate_id: str, envelopes: list[Envelope]) -> None:
        pass

    with pytest.raises(TypeError, match="queries"):
        async with opened(queries=fine):  # type: ignore[arg-type]
            pass


async def test_a_negative_max_retries_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        async with opened(max_retries=-1):
            pass


async def test_an_empty_name_is_refused_naming_it() -> None:
    async with memory_store.open() as store:
        with pytest.raises(ValueError, match="name"):
            async with eventsourcing.open_system(store, handle, apply, Tally(), name=""):
                pass


async def test_a_bad_shutdown_timeout_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="shutdown_timeout"):
        async with opened(shutdown_timeout=0):
            pass


# --- the state cached between commands ----------------------------------------------------


async def test_a_second_command_of_an_aggregate_uses_its_cached_state() -> None:
    async with opened() as bank:
        await bank.system.execute("t-1", add(1))
        await bank.system.execute("t-1", add(2))
        assert bank.faulty.aggregate_loads == 1
        assert (await bank.system.load("t-1")).entity == Tally(3, (1, 2))


async def test_loading_a_stored_aggregate_caches_it_for_the_next_load_and_command() -> None:
    # t-1 is read from the store once, then cached.
    async with reopened_after_one_command() as (bank, system):
        loads = bank.faulty.aggregate_loads
        assert await system.load("t-1") == Aggregate("t-1", Tally(1, (1,)), 1)
        assert await system.load("t-1") == Aggregate("t-1", Tally(1, (1,)), 1)
        await system.execute("t-1", add(2))
        assert bank.faulty.aggregate_loads == loads + 1
        assert await system.load("t-1") == Aggregate("t-1", Tally(3, (1, 2)), 2)


async def test_a_load_is_a_checkpoint_from_the_cache_and_from_the_store() -> None:
    async with reopened_after_one_command() as (bank, system):
        loads = bank.faulty.aggregate_loads
        for _ in ("from the store", "from the cache"):
            with trio.testing.assert_checkpoints():
                assert await system.load("t-1") == Aggregate("t-1", Tally(1, (1,)), 1)
        assert bank.faulty.aggregate_loads == loads + 1


async def test_a_load_in_a_cancelled_scope_raises_cancelled_and_reads_nothing() -> None:
    async with reopened_after_one_command() as (bank, system):
        loads = bank.faulty.aggregate_loads
        for _ in ("from the store", "from the cache"):
            with trio.CancelScope() as scope:
                scope.cancel()
                await system.load("t-1")
            assert scope.cancelled_caught
            assert bank.faulty.aggregate_loads == loads
            await system.load("t-1")
            loads = bank.faulty.aggregate_loads


async def test_a_command_sent_during_a_load_runs_after_it_on_the_loaded_state() -> None:
    async with reopened_after_one_command() as (bank, system):
        bank.faulty.load_gate = gate = trio.Event()
        loaded: list[Aggregate[Tally]] = []
        async with trio.open_nursery() as nursery:

            async def load() -> None:
                loaded.append(await system.load("t-1"))

            nursery.start_soon(load)
            await trio.testing.wait_all_tasks_blocked()
            receipts: list[Receipt] = []

            async def execute() -> None:
                receipts.append(await system.execute("t-1", add(2)))

            nursery.start_soon(execute)
            await trio.testing.wait_all_tasks_blocked()
            assert not receipts  # queued behind the load
            gate.set()
        assert loaded == [Aggregate("t-1", Tally(1, (1,)), 1)]
        assert receipts[0].sequence == 2
        assert bank.stored() == [(1, Added(1)), (2, Added(2))]


async def test_a_load_cancelled_while_it_reads_leaves_the_aggregate_to_load_again() -> None:
    async with reopened_after_one_command() as (bank, system):
        bank.faulty.load_gate = gate = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.load, "t-1")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        gate.set()
        assert await system.load("t-1") == Aggregate("t-1", Tally(1, (1,)), 1)
        assert (await system.execute("t-1", add(2))).sequence == 2


async def test_an_idle_aggregate_is_loaded_in_the_callers_task_a_busy_one_after_its_queue() -> None:
    async with opened() as bank:
        await bank.system.execute("t-1", add(1))
        inner = bank.system._system
        assert await inner.load_in_caller("t-1") == Ok(Aggregate("t-1", Tally(1, (1,)), 1))
        bank.faulty.commit_gate = gate = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bank.system.execute, "t-1", add(2))
            await trio.testing.wait_all_tasks_blocked()
            # A command is running: a load waits for it, through the aggregate's queue.
            assert await inner.load_in_caller("t-1") is None
            gate.set()
        assert await bank.system.load("t-1") == Aggregate("t-1", Tally(3, (1, 2)), 2)


async def test_no_more_aggregates_stay_cached_than_max_workers() -> None:
    async with opened(max_workers=2) as bank:
        for aggregate_id in ("t-1", "t-2", "t-3"):
            await bank.system.execute(aggregate_id, add(1))
        loads = bank.faulty.aggregate_loads
        # The oldest was dropped to keep two: it loads again, and is right.
        await bank.system.execute("t-1", add(2))
        assert bank.faulty.aggregate_loads == loads + 1
        assert bank.stored("t-1") == [(1, Added(1)), (2, Added(2))]


async def test_an_aggregate_idle_past_idle_timeout_is_loaded_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with opened(idle_timeout=10.0) as bank:
        await bank.system.execute("t-1", add(1))
        await trio.sleep(30)
        await bank.system.execute("t-1", add(2))
        assert bank.faulty.aggregate_loads == 2
        assert bank.stored("t-1") == [(1, Added(1)), (2, Added(2))]


# --- the exceptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exception",
    [
        eventsourcing.CommandRejected("t-1", Rejected(-1)),
        AggregateNotFound("t-1"),
        StoreUnavailable("t-1", EventStoreError("down", StoreFailure.UNREACHABLE)),
        CommandOutcomeUnknown("t-1", OutcomeUnknown("t-1", "key-1", "lost touch")),
        ConflictAfterRetries("t-1", eventsourcing.ConcurrencyConflict("t-1", 3, 4)),
        CallbackFailed("t-1", eventsourcing.CallbackRaised("handle", "ValueError", "boom")),
    ],
    ids=lambda exception: type(exception).__name__,
)
def test_an_exception_survives_pickling_with_its_fields(
    exception: eventsourcing.EventSourcingException,
) -> None:
    copy = pickle.loads(pickle.dumps(exception))
    assert type(copy) is type(exception)
    assert vars(copy) == vars(exception)
    assert str(copy) == str(exception)
