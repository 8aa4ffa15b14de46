"""The contract every event store keeps, written once and run against each store.

A store's test module subclasses :class:`StoreContract` (its class name starting with
``Test`` so pytest collects it) and implements :meth:`StoreContract.open_store`::

    class TestMemoryStore(StoreContract):
        is_durable = False

        def open_store(self, tmp_path: Path) -> AbstractAsyncContextManager[BankStore]:
            ...

The tests talk to the store through its own functions (``execute_transaction``,
``commit_events``, ``load_events``, ...) and, at the end, through
``eventsourcing.supervised`` with the bank-account example domain. Envelopes are compared
by ``aggregate_id``, ``sequence``, ``payload`` and ``metadata`` only: durable stores hand
back ``SerializedEventEnvelop``, the memory store ``MemoryStoreEventEnvelop``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    CommandAlreadyStored,
    ConcurrencyConflict,
    DomainError,
    EntityNotFound,
    Error,
    EventEnvelop,
    EventSourcingError,
    EventStore,
    EventStoreError,
    Metadata,
    Ok,
    Result,
    Snapshot,
    SnapshotConfig,
    StoreResult,
    process,
    projections,
    static_supervisor,
)
from trio_eventsourcing.examples.bank_account import (
    AccountAlreadyOpened,
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CantOperateOnUnopenedAccount,
    CantWithdrawMoreThanCurrentBalance,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
    apply,
    handle,
)

BankStore = EventStore[Any, BankAccount, BankAccountEvent, Any]
"""A store of the bank-account domain, whatever its own state and transaction types."""

T = TypeVar("T")
TestT = TypeVar("TestT", bound=Callable[..., object])

BankMessage = AggregateMessage[BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError]
EnvelopeView = tuple[str, int, BankAccountEvent, Metadata]

REPLY_MS = 5_000
"""How long a test waits for any one answer (only a failing test waits that long)."""

# A whole second, so that a store that keeps timestamps to the millisecond round-trips it.
SNAPSHOT_TIME = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def opened(account_id: str) -> AccountOpened:
    return AccountOpened(account_id)


def deposited(amount: int, new_balance: int) -> CustomerDepositedCash:
    return CustomerDepositedCash(Decimal(amount), Decimal(new_balance))


def withdrew(amount: int, new_balance: int) -> CustomerWithdrewCash:
    return CustomerWithdrewCash(Decimal(amount), Decimal(new_balance))


def view(envelopes: Sequence[EventEnvelop[BankAccountEvent]]) -> list[EnvelopeView]:
    """The parts of envelopes every store must hand back unchanged."""
    return [(e.aggregate_id, e.sequence, e.payload, e.metadata) for e in envelopes]


def fold(events: Sequence[BankAccountEvent], start: BankAccount | None = None) -> BankAccount:
    return reduce(apply, events, BankAccount() if start is None else start)


# --- the store's own functions ------------------------------------------------------------


async def append(
    store: BankStore,
    aggregate_id: str,
    expected_sequence: int,
    events: list[BankAccountEvent],
    metadata: Metadata | None = None,
    key: str | None = None,
) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
    """Commit ``events`` after ``expected_sequence`` in one write transaction."""
    committed: list[EventEnvelop[BankAccountEvent]] = []

    async def body(tx: object) -> StoreResult[None]:
        aggregate = Aggregate(aggregate_id, BankAccount(), expected_sequence)
        result = await store.commit_events(tx, aggregate, events, metadata or [], key)
        if isinstance(result, Error):
            return result
        committed.extend(result.value[0])
        return Ok(None)

    done = await store.execute_transaction(body)
    if isinstance(done, Error):
        return done
    return Ok(committed)


async def is_stored(store: BankStore, aggregate_id: str, key: str) -> bool:
    """Whether the store holds ``key`` for ``aggregate_id``."""
    return (await store.command_stored(store.eventstore, aggregate_id, key)).unwrap()


async def load(
    store: BankStore, aggregate_id: str, start_from: int = 0
) -> list[EventEnvelop[BankAccountEvent]]:
    """Every event of the aggregate with a sequence greater than ``start_from``."""

    async def body(tx: object) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
        return await store.load_events(store.eventstore, tx, aggregate_id, start_from)

    result = await store.load_events_transaction(body)
    assert isinstance(result, Ok), result
    return result.value


async def load_snapshot(store: BankStore, aggregate_id: str) -> Snapshot[BankAccount] | None:
    async def body(tx: object) -> StoreResult[Snapshot[BankAccount] | None]:
        return await store.load_snapshot(tx, aggregate_id)

    result = await store.get_latest_snapshot_transaction(body)
    assert isinstance(result, Ok), result
    return result.value


async def save_snapshot(store: BankStore, snapshot: Snapshot[BankAccount]) -> StoreResult[None]:
    async def body(tx: object) -> StoreResult[None]:
        return await store.save_snapshot(tx, snapshot)

    return await store.execute_transaction(body)


async def read_from_snapshot(
    store: BankStore, tx: object, aggregate_id: str
) -> tuple[Snapshot[BankAccount], list[EventEnvelop[BankAccountEvent]]]:
    """In ``tx``: the aggregate's snapshot, which must exist, and the events after it."""
    snapshot = await store.load_snapshot(tx, aggregate_id)
    assert isinstance(snapshot, Ok), snapshot
    assert snapshot.value is not None
    after = await store.load_events(store.eventstore, tx, aggregate_id, snapshot.value.sequence)
    assert isinstance(after, Ok), after
    return snapshot.value, after.value


# --- the store under eventsourcing.supervised ---------------------------------------------


@contextlib.asynccontextmanager
async def open_bank(
    store: BankStore,
    snapshot_every: int | None = None,
    shutdown_timeout: float = 60.0,
    max_retries: int = 3,
    decide: Callable[
        [BankAccount, BankAccountCommand], Result[Sequence[BankAccountEvent], BankAccountError]
    ] = handle,
) -> AsyncIterator[process.Subject[BankMessage]]:
    """Run the bank-account system on ``store`` for the duration of the block.

    ``max_retries``: how often a command that meets a concurrency conflict is retried;
    ``decide``: the system's ``handle`` (the example's by default).
    """
    name: process.Name[BankMessage] = process.new_name("bank")
    config = (
        None
        if snapshot_every is None
        else SnapshotConfig(eventsourcing.frequency(snapshot_every).unwrap())
    )
    spec = eventsourcing.supervised(
        name=name,
        eventstore=store,
        handle=decide,
        apply=apply,
        empty_state=BankAccount(),
        queries=[],
        snapshot_config=config,
        shutdown_timeout=shutdown_timeout,
        max_retries=max_retries,
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield process.named_subject(name)


async def answer(subject: process.Subject[T]) -> T:
    received = await process.receive(subject, REPLY_MS)
    assert isinstance(received, Ok), "no answer in time"
    return received.value


async def run(
    bank: process.Subject[BankMessage],
    aggregate_id: str,
    command: BankAccountCommand,
    metadata: Metadata | None = None,
    key: str | None = None,
) -> Result[None, EventSourcingError[BankAccountError]]:
    return await answer(
        eventsourcing.execute_with_response(
            bank, aggregate_id, command, metadata or [], idempotency_key=key
        )
    )


async def bank_events(bank: process.Subject[BankMessage], aggregate_id: str) -> list[EnvelopeView]:
    result = await answer(eventsourcing.load_events(bank, aggregate_id))
    assert isinstance(result, Ok), result
    return view(result.value)


def durable_only(test: TestT) -> TestT:
    """Mark a contract test that reopens the store: skipped unless ``is_durable``."""
    setattr(test, "durable_only", True)  # noqa: B010 - a plain attribute on a function
    return test


class TaskSteps(trio.abc.Instrument):
    """Counts the times one task is resumed while the instrument is added."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.count += 1


class StoreContract:
    """What every event store must do; subclass it and implement :meth:`open_store`."""

    is_durable: ClassVar[bool] = False
    """Whether what a store stores survives closing and reopening it on the same path."""

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        """Open a ready store kept under ``tmp_path``; its child spec (if any) runs inside.

        It may be entered more than once in a test, one after the other, on the same
        ``tmp_path``: a durable store must then hand back what it stored before.
        """
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _skip_reopen_tests_unless_durable(self, request: pytest.FixtureRequest) -> None:
        # At setup, outside the test's Trio run, so the report keeps the reason.
        if getattr(request.function, "durable_only", False) and not self.is_durable:
            pytest.skip(f"{type(self).__name__} is not durable: nothing survives reopening it")

    # --- empty reads ----------------------------------------------------------------------

    async def test_unknown_aggregate_has_no_events(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert await load(store, "nobody") == []
            assert await load(store, "nobody", start_from=3) == []

    async def test_unknown_aggregate_has_no_snapshot(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert await load_snapshot(store, "nobody") is None

    async def test_store_functions_are_checkpoints(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            with trio.testing.assert_checkpoints():
                assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            with trio.testing.assert_checkpoints():
                await load(store, "acc-1")

    async def test_an_aggregate_load_is_a_checkpoint_whether_or_not_its_body_reads(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)

            async def reads(tx: object) -> StoreResult[Aggregate[BankAccount]]:
                snapshot = await store.load_snapshot(tx, "acc-1")
                assert isinstance(snapshot, Ok), snapshot
                events = await store.load_events(store.eventstore, tx, "acc-1", 0)
                assert isinstance(events, Ok), events
                entity = fold([envelope.payload for envelope in events.value])
                return Ok(Aggregate("acc-1", entity, len(events.value)))

            async def reads_nothing(tx: object) -> StoreResult[Aggregate[BankAccount]]:
                return Ok(Aggregate("acc-1", BankAccount(), 0))

            for body in (reads, reads_nothing):
                with trio.testing.assert_checkpoints():
                    loaded = await store.load_aggregate_transaction(body)
                assert isinstance(loaded, Ok), loaded

    async def test_an_aggregate_load_resumes_its_task_once(self, tmp_path: Path) -> None:
        # One pass through Trio's scheduler for the whole load (on a durable store, the
        # read of the snapshot and the events after it): each further pass would add
        # its cost to every cold load.
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            snapshot = Snapshot("acc-1", BankAccount(True), 1, SNAPSHOT_TIME)
            assert await save_snapshot(store, snapshot) == Ok(None)
            assert isinstance(await append(store, "acc-1", 1, [deposited(5, 5)]), Ok)

            async def reads(tx: object) -> StoreResult[Aggregate[BankAccount]]:
                found, events = await read_from_snapshot(store, tx, "acc-1")
                assert [envelope.sequence for envelope in events] == [2]
                return Ok(Aggregate("acc-1", found.entity, 2))

            loading = trio.lowlevel.current_task()
            steps = TaskSteps(loading)
            trio.lowlevel.add_instrument(steps)
            try:
                loaded = await store.load_aggregate_transaction(reads)
            finally:
                trio.lowlevel.remove_instrument(steps)
            assert isinstance(loaded, Ok), loaded
            assert steps.count == 1

    async def test_an_aggregate_load_in_a_cancelled_scope_raises_cancelled(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            ran: list[str] = []

            async def body(tx: object) -> StoreResult[Aggregate[BankAccount]]:
                ran.append("body")
                return Ok(Aggregate("acc-1", BankAccount(), 0))

            with trio.CancelScope() as scope:
                scope.cancel()
                await store.load_aggregate_transaction(body)
            assert scope.cancelled_caught
            assert ran == []

    async def test_events_read_with_their_snapshot_are_those_read_alone(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            events: list[BankAccountEvent] = [opened("acc-1"), deposited(10, 10)]
            assert isinstance(await append(store, "acc-1", 0, events), Ok)
            assert isinstance(
                await save_snapshot(
                    store, Snapshot("acc-1", fold(events[:1]), 1, datetime.now(timezone.utc))
                ),
                Ok,
            )
            seen: list[object] = []

            async def body(tx: object) -> StoreResult[Aggregate[BankAccount]]:
                snapshot, after = await read_from_snapshot(store, tx, "acc-1")
                seen.append(view(after))
                return Ok(Aggregate("acc-1", snapshot.entity, 2))

            assert isinstance(await store.load_aggregate_transaction(body), Ok)
            assert seen == [view(await load(store, "acc-1", start_from=1))]

    # --- round trips ----------------------------------------------------------------------

    async def test_commit_returns_envelopes_numbered_from_one_and_the_new_sequence(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            events: list[BankAccountEvent] = [opened("acc-1"), deposited(10, 10)]
            sequence_seen: list[int] = []

            async def body(tx: object) -> StoreResult[None]:
                result = await store.commit_events(
                    tx, Aggregate("acc-1", BankAccount(), 0), events, [("user", "alice")], None
                )
                assert isinstance(result, Ok), result
                envelopes, sequence = result.value
                assert view(envelopes) == [
                    ("acc-1", 1, opened("acc-1"), [("user", "alice")]),
                    ("acc-1", 2, deposited(10, 10), [("user", "alice")]),
                ]
                sequence_seen.append(sequence)
                return Ok(None)

            assert await store.execute_transaction(body) == Ok(None)
            assert sequence_seen == [2]

    async def test_committed_events_load_back_with_payload_sequence_and_metadata(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            metadata = [("user_id", "alice"), ("session_id", "abc123")]
            committed = await append(
                store, "acc-1", 0, [opened("acc-1"), deposited(10, 10)], metadata
            )
            assert isinstance(committed, Ok), committed
            expected = [
                ("acc-1", 1, opened("acc-1"), metadata),
                ("acc-1", 2, deposited(10, 10), metadata),
            ]
            assert view(committed.value) == expected
            assert view(await load(store, "acc-1")) == expected

    async def test_events_of_each_commit_keep_their_own_metadata(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], [("n", "1")]), Ok)
            assert isinstance(await append(store, "acc-1", 1, [deposited(5, 5)]), Ok)
            assert [e.metadata for e in await load(store, "acc-1")] == [[("n", "1")], []]

    async def test_load_events_returns_sequences_greater_than_start_from(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            events: list[BankAccountEvent] = [opened("acc-1")]
            events += [deposited(1, n) for n in range(1, 5)]
            assert isinstance(await append(store, "acc-1", 0, events), Ok)
            sequences = {n: [e.sequence for e in await load(store, "acc-1", n)] for n in range(7)}
            assert sequences == {
                0: [1, 2, 3, 4, 5],  # 0 means every event
                1: [2, 3, 4, 5],
                2: [3, 4, 5],
                3: [4, 5],
                4: [5],
                5: [],
                6: [],
            }

    async def test_events_keep_commit_order_across_many_commits(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            balance = 0
            expected: list[BankAccountEvent] = [opened("acc-1")]
            for amount in (7, 3, 11, 2, 5):
                balance += amount
                event = deposited(amount, balance)
                assert isinstance(await append(store, "acc-1", len(expected), [event]), Ok)
                expected.append(event)
            loaded = await load(store, "acc-1")
            assert [e.payload for e in loaded] == expected
            assert [e.sequence for e in loaded] == list(range(1, len(expected) + 1))

    async def test_aggregates_have_separate_streams(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            assert isinstance(
                await append(store, "acc-2", 0, [opened("acc-2"), deposited(4, 4)]), Ok
            )
            assert isinstance(await append(store, "acc-1", 1, [deposited(9, 9)]), Ok)
            assert view(await load(store, "acc-1")) == [
                ("acc-1", 1, opened("acc-1"), []),
                ("acc-1", 2, deposited(9, 9), []),
            ]
            assert view(await load(store, "acc-2")) == [
                ("acc-2", 1, opened("acc-2"), []),
                ("acc-2", 2, deposited(4, 4), []),
            ]

    # --- optimistic concurrency -------------------------------------------------------------

    async def test_stale_expected_sequence_is_refused_with_concurrency_conflict(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(
                await append(store, "acc-1", 0, [opened("acc-1"), deposited(1, 1)]), Ok
            )
            refused = await append(store, "acc-1", 1, [deposited(50, 51)])
            assert refused == Error(ConcurrencyConflict("acc-1", 1, 2))
            assert [e.payload for e in await load(store, "acc-1")] == [
                opened("acc-1"),
                deposited(1, 1),
            ]

    async def test_commit_to_a_new_aggregate_that_exists_already_is_refused(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            refused = await append(store, "acc-1", 0, [opened("acc-1")])
            assert refused == Error(ConcurrencyConflict("acc-1", 0, 1))
            assert [e.sequence for e in await load(store, "acc-1")] == [1]

    async def test_expected_sequence_ahead_of_the_store_is_refused(self, tmp_path: Path) -> None:
        # Sequences have no gaps: a commit after sequence 5 of a 1-event stream is refused.
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            refused = await append(store, "acc-1", 5, [deposited(1, 1)])
            assert refused == Error(ConcurrencyConflict("acc-1", 5, 1))
            assert [e.sequence for e in await load(store, "acc-1")] == [1]

    async def test_concurrent_appends_exactly_one_wins_per_expected_sequence(
        self, tmp_path: Path
    ) -> None:
        writers = 8
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            go = trio.Event()
            outcomes: dict[int, StoreResult[list[EventEnvelop[BankAccountEvent]]]] = {}

            async def race(writer: int) -> None:
                await go.wait()
                outcomes[writer] = await append(
                    store, "acc-1", 1, [deposited(writer + 1, writer + 1)]
                )

            async with trio.open_nursery() as nursery:
                for writer in range(writers):
                    nursery.start_soon(race, writer)
                await trio.testing.wait_all_tasks_blocked()
                go.set()
            winners = [w for w, outcome in outcomes.items() if isinstance(outcome, Ok)]
            assert len(winners) == 1, outcomes
            losers = [outcome for w, outcome in outcomes.items() if w not in winners]
            assert losers == [Error(ConcurrencyConflict("acc-1", 1, 2))] * (writers - 1)
            [winner] = winners
            assert view(await load(store, "acc-1", 1)) == [
                ("acc-1", 2, deposited(winner + 1, winner + 1), [])
            ]

    async def test_concurrent_writers_that_retry_all_land_with_contiguous_sequences(
        self, tmp_path: Path
    ) -> None:
        writers, commits_each = 6, 4
        async with self.open_store(tmp_path) as store:
            wins: dict[int, list[int]] = {w: [] for w in range(writers)}
            conflicts = 0

            async def writer(index: int) -> None:
                nonlocal conflicts
                for round_ in range(commits_each):
                    marker = opened(f"writer-{index}-round-{round_}")
                    while True:
                        current = len(await load(store, "acc-1"))
                        outcome = await append(store, "acc-1", current, [marker])
                        if isinstance(outcome, Ok):
                            wins[index].append(outcome.value[0].sequence)
                            break
                        assert isinstance(outcome.error, ConcurrencyConflict), outcome
                        conflicts += 1

            async with trio.open_nursery() as nursery:
                for index in range(writers):
                    nursery.start_soon(writer, index)
            stored = await load(store, "acc-1")
            assert [e.sequence for e in stored] == list(range(1, writers * commits_each + 1))
            # Every commit that was acknowledged is stored exactly once, where it was told.
            payloads = [e.payload for e in stored]
            for index, sequences in wins.items():
                for round_, sequence in enumerate(sequences):
                    assert payloads[sequence - 1] == opened(f"writer-{index}-round-{round_}")
            assert len(set(payloads)) == len(payloads)

    # --- all or nothing -----------------------------------------------------------------------

    async def test_transaction_whose_body_returns_error_stores_none_of_its_events(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:

            async def body(tx: object) -> StoreResult[None]:
                result = await store.commit_events(
                    tx,
                    Aggregate("acc-1", BankAccount(), 0),
                    [opened("acc-1"), deposited(3, 3)],
                    [],
                    None,
                )
                assert isinstance(result, Ok), result
                return Error(EventStoreError("changed my mind"))

            assert await store.execute_transaction(body) == Error(
                EventStoreError("changed my mind")
            )
            assert await load(store, "acc-1") == []
            # The aggregate is still at sequence 0: a commit after 0 is accepted.
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)

    async def test_transaction_whose_body_raises_stores_none_of_its_events(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:

            async def body(tx: object) -> StoreResult[None]:
                result = await store.commit_events(
                    tx, Aggregate("acc-1", BankAccount(), 0), [opened("acc-1")], [], None
                )
                assert isinstance(result, Ok), result
                raise RuntimeError("the body failed")

            # However the store reports it, nothing of the transaction is stored.
            with contextlib.suppress(RuntimeError):
                outcome = await store.execute_transaction(body)
                assert isinstance(outcome, Error), outcome
            assert await load(store, "acc-1") == []

    async def test_transaction_over_two_aggregates_with_one_conflict_stores_neither(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)

            async def body(tx: object) -> StoreResult[None]:
                for aggregate_id in ("acc-2", "acc-1"):  # acc-1 at 0 is stale
                    aggregate = Aggregate(aggregate_id, BankAccount(), 0)
                    result = await store.commit_events(
                        tx, aggregate, [opened(aggregate_id)], [], None
                    )
                    if isinstance(result, Error):
                        return result
                return Ok(None)

            assert await store.execute_transaction(body) == Error(
                ConcurrencyConflict("acc-1", 0, 1)
            )
            assert await load(store, "acc-2") == []
            assert [e.payload for e in await load(store, "acc-1")] == [opened("acc-1")]

    async def test_transaction_over_two_aggregates_stores_both(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:

            async def body(tx: object) -> StoreResult[None]:
                for aggregate_id in ("acc-1", "acc-2"):
                    aggregate = Aggregate(aggregate_id, BankAccount(), 0)
                    result = await store.commit_events(
                        tx, aggregate, [opened(aggregate_id)], [], None
                    )
                    if isinstance(result, Error):
                        return result
                return Ok(None)

            assert await store.execute_transaction(body) == Ok(None)
            assert view(await load(store, "acc-1")) == [("acc-1", 1, opened("acc-1"), [])]
            assert view(await load(store, "acc-2")) == [("acc-2", 1, opened("acc-2"), [])]

    async def test_snapshot_saved_in_a_failed_transaction_is_not_stored(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:

            async def body(tx: object) -> StoreResult[None]:
                committed = await store.commit_events(
                    tx, Aggregate("acc-1", BankAccount(), 0), [opened("acc-1")], [], None
                )
                assert isinstance(committed, Ok), committed
                snapshot = Snapshot("acc-1", BankAccount(opened=True), 1, SNAPSHOT_TIME)
                assert await store.save_snapshot(tx, snapshot) == Ok(None)
                return Error(EventStoreError("roll it all back"))

            assert isinstance(await store.execute_transaction(body), Error)
            assert await load_snapshot(store, "acc-1") is None
            assert await load(store, "acc-1") == []

    # --- snapshots ------------------------------------------------------------------------------

    async def test_saved_snapshot_loads_back(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            entity = BankAccount(opened=True, balance=Decimal("12.50"))
            assert await save_snapshot(store, Snapshot("acc-1", entity, 3, SNAPSHOT_TIME)) == Ok(
                None
            )
            loaded = await load_snapshot(store, "acc-1")
            assert loaded is not None
            assert (loaded.aggregate_id, loaded.entity, loaded.sequence) == ("acc-1", entity, 3)
            assert loaded.timestamp == SNAPSHOT_TIME
            assert loaded.timestamp.utcoffset() == timedelta(0)

    async def test_latest_snapshot_replaces_older_ones(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            for sequence in (2, 4, 6):
                entity = BankAccount(opened=True, balance=Decimal(sequence))
                snapshot = Snapshot(
                    "acc-1", entity, sequence, SNAPSHOT_TIME + timedelta(seconds=sequence)
                )
                assert await save_snapshot(store, snapshot) == Ok(None)
            loaded = await load_snapshot(store, "acc-1")
            assert loaded is not None
            assert (loaded.entity, loaded.sequence) == (BankAccount(True, Decimal(6)), 6)
            assert loaded.timestamp == SNAPSHOT_TIME + timedelta(seconds=6)

    async def test_snapshots_are_kept_per_aggregate(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            first = Snapshot("acc-1", BankAccount(True, Decimal(1)), 1, SNAPSHOT_TIME)
            second = Snapshot("acc-2", BankAccount(True, Decimal(2)), 2, SNAPSHOT_TIME)
            assert await save_snapshot(store, first) == Ok(None)
            assert await save_snapshot(store, second) == Ok(None)
            one, two = await load_snapshot(store, "acc-1"), await load_snapshot(store, "acc-2")
            assert one is not None
            assert two is not None
            assert (one.entity, one.sequence) == (first.entity, 1)
            assert (two.entity, two.sequence) == (second.entity, 2)
            assert await load_snapshot(store, "acc-3") is None

    async def test_snapshot_and_events_of_one_transaction_are_stored_together(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:

            async def body(tx: object) -> StoreResult[None]:
                committed = await store.commit_events(
                    tx,
                    Aggregate("acc-1", BankAccount(), 0),
                    [opened("acc-1"), deposited(8, 8)],
                    [],
                    None,
                )
                if isinstance(committed, Error):
                    return committed
                entity = fold([opened("acc-1"), deposited(8, 8)])
                return await store.save_snapshot(tx, Snapshot("acc-1", entity, 2, SNAPSHOT_TIME))

            assert await store.execute_transaction(body) == Ok(None)
            snapshot = await load_snapshot(store, "acc-1")
            assert snapshot is not None
            assert (snapshot.entity, snapshot.sequence) == (BankAccount(True, Decimal(8)), 2)
            assert [e.sequence for e in await load(store, "acc-1")] == [1, 2]

    # --- durability -------------------------------------------------------------------------------

    @durable_only
    async def test_events_and_snapshots_survive_reopening(self, tmp_path: Path) -> None:
        metadata = [("user", "alice")]
        async with self.open_store(tmp_path) as store:
            assert isinstance(
                await append(store, "acc-1", 0, [opened("acc-1"), deposited(2, 2)], metadata), Ok
            )
            snapshot = Snapshot("acc-1", BankAccount(True, Decimal(2)), 2, SNAPSHOT_TIME)
            assert await save_snapshot(store, snapshot) == Ok(None)
        async with self.open_store(tmp_path) as store:
            assert view(await load(store, "acc-1")) == [
                ("acc-1", 1, opened("acc-1"), metadata),
                ("acc-1", 2, deposited(2, 2), metadata),
            ]
            reloaded = await load_snapshot(store, "acc-1")
            assert reloaded is not None
            assert (reloaded.entity, reloaded.sequence, reloaded.timestamp) == (
                snapshot.entity,
                2,
                SNAPSHOT_TIME,
            )
            # Optimistic concurrency holds across the reopen too.
            assert await append(store, "acc-1", 1, [deposited(1, 3)]) == Error(
                ConcurrencyConflict("acc-1", 1, 2)
            )
            assert isinstance(await append(store, "acc-1", 2, [deposited(1, 3)]), Ok)

    # --- idempotency keys -----------------------------------------------------------------

    async def test_a_committed_key_is_stored_for_its_aggregate(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert not await is_stored(store, "acc-1", "op-1")
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="op-1"), Ok)
            assert await is_stored(store, "acc-1", "op-1")
            assert not await is_stored(store, "acc-2", "op-1")
            assert not await is_stored(store, "acc-1", "op-2")

    async def test_a_commit_with_a_stored_key_is_refused_as_already_stored(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="op-1"), Ok)
            again = await append(store, "acc-1", 1, [deposited(5, 5)], key="op-1")
            assert again == Error(CommandAlreadyStored("acc-1", "op-1"))
            assert view(await load(store, "acc-1")) == [("acc-1", 1, opened("acc-1"), [])]

    async def test_a_stale_commit_with_a_stored_key_is_already_stored_not_a_conflict(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="op-1"), Ok)
            again = await append(store, "acc-1", 0, [opened("acc-1")], key="op-1")
            assert again == Error(CommandAlreadyStored("acc-1", "op-1"))

    async def test_one_key_on_two_aggregates_is_stored_for_each(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="op"), Ok)
            assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")], key="op"), Ok)
            assert await is_stored(store, "acc-2", "op")

    async def test_commits_without_a_key_are_never_refused_for_one(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)
            assert len(await load(store, "acc-1")) == 2

    async def test_a_failed_transaction_stores_no_key(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            stale = await append(store, "acc-1", 0, [opened("acc-1")], key="op-1")
            assert stale == Error(ConcurrencyConflict("acc-1", 0, 1))
            assert not await is_stored(store, "acc-1", "op-1")
            assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)], key="op-1"), Ok)

    async def test_many_keyed_commits_at_once_store_each_key_once(self, tmp_path: Path) -> None:
        # Many writers at once (a durable store batches them), then the same keys again.
        async with self.open_store(tmp_path) as store:
            outcomes: dict[tuple[int, int], object] = {}

            async def write(round_: int, n: int) -> None:
                outcomes[round_, n] = await append(
                    store, f"acc-{n}", round_, [deposited(1, round_ + 1)], key=f"k{n}"
                )

            for round_ in range(2):
                async with trio.open_nursery() as nursery:
                    for n in range(25):
                        nursery.start_soon(write, round_, n)
            for n in range(25):
                assert isinstance(outcomes[0, n], Ok), outcomes[0, n]
                assert outcomes[1, n] == Error(CommandAlreadyStored(f"acc-{n}", f"k{n}"))
                assert len(await load(store, f"acc-{n}")) == 1

    @durable_only
    async def test_keys_survive_reopening(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="op-1"), Ok)
        async with self.open_store(tmp_path) as store:
            assert await is_stored(store, "acc-1", "op-1")
            again = await append(store, "acc-1", 1, [deposited(5, 5)], key="op-1")
            assert again == Error(CommandAlreadyStored("acc-1", "op-1"))

    async def test_a_command_sent_again_with_its_key_is_answered_ok_and_not_run_again(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1"), key="open") == Ok(None)
            deposit = DepositMoney(Decimal(10))
            assert await run(bank, "acc-1", deposit, key="deposit-1") == Ok(None)
            # Sent again: the original outcome, not a second deposit, and not the domain
            # error a second OpenAccount would meet.
            assert await run(bank, "acc-1", deposit, key="deposit-1") == Ok(None)
            assert await run(bank, "acc-1", OpenAccount("acc-1"), key="open") == Ok(None)
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(
                Aggregate("acc-1", BankAccount(True, Decimal(10)), 2)
            )

    async def test_a_key_sent_by_another_system_is_answered_ok(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            async with open_bank(store) as first:
                assert await run(first, "acc-1", OpenAccount("acc-1")) == Ok(None)
                assert await run(first, "acc-1", DepositMoney(Decimal(7)), key="d") == Ok(None)
            async with open_bank(store) as second:
                assert await run(second, "acc-1", DepositMoney(Decimal(7)), key="d") == Ok(None)
                assert len(await bank_events(second, "acc-1")) == 2

    # --- shutdown ---------------------------------------------------------------------------

    async def test_commands_sent_before_the_block_ends_are_all_stored(self, tmp_path: Path) -> None:
        accounts, per_account = 20, 100
        async with self.open_store(tmp_path) as store:
            async with open_bank(store) as bank:
                for a in range(accounts):
                    eventsourcing.execute(bank, f"acc-{a}", OpenAccount(f"acc-{a}"))
                for n in range(per_account - 1):
                    for a in range(accounts):
                        eventsourcing.execute(bank, f"acc-{a}", DepositMoney(Decimal(n + 1)))
                # Leave at once: nothing has been stored yet.
            async with open_bank(store) as bank:
                for a in range(accounts):
                    assert len(await bank_events(bank, f"acc-{a}")) == per_account
                    loaded = await answer(eventsourcing.load_aggregate(bank, f"acc-{a}"))
                    assert isinstance(loaded, Ok)
                    assert loaded.value.entity.balance == Decimal(
                        per_account * (per_account - 1) // 2
                    )

    # --- end to end through eventsourcing.supervised ----------------------------------------------

    async def test_bank_account_commands_and_domain_errors_through_supervised(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(bank, "acc-1", DepositMoney(Decimal(100))) == Ok(None)
            assert await run(bank, "acc-1", WithdrawMoney(Decimal(30))) == Ok(None)
            assert await run(bank, "acc-1", WithdrawMoney(Decimal(1000))) == Error(
                DomainError(CantWithdrawMoreThanCurrentBalance())
            )
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Error(
                DomainError(AccountAlreadyOpened())
            )
            assert await run(bank, "acc-2", DepositMoney(Decimal(5))) == Error(
                DomainError(CantOperateOnUnopenedAccount())
            )
            assert await bank_events(bank, "acc-1") == [
                ("acc-1", 1, opened("acc-1"), []),
                ("acc-1", 2, deposited(100, 100), []),
                ("acc-1", 3, withdrew(30, 70), []),
            ]
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(
                Aggregate("acc-1", BankAccount(True, Decimal(70)), 3)
            )
            assert await answer(eventsourcing.load_aggregate(bank, "acc-2")) == Error(
                EntityNotFound()
            )
            assert await bank_events(bank, "acc-2") == []

    async def test_metadata_is_stored_with_every_event_through_supervised(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            metadata = [("user_id", "alice"), ("session_id", "abc123")]
            assert await run(bank, "acc-1", OpenAccount("acc-1"), metadata) == Ok(None)
            eventsourcing.execute_with_metadata(
                bank, "acc-1", DepositMoney(Decimal(1)), [("k", "v")]
            )
            eventsourcing.execute(bank, "acc-1", DepositMoney(Decimal(2)))
            assert [m for _, _, _, m in await bank_events(bank, "acc-1")] == [
                metadata,
                [("k", "v")],
                [],
            ]

    async def test_events_carry_their_command_s_key_as_correlation_and_causation(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1"), key="open-1") == Ok(None)
            assert await run(bank, "acc-1", DepositMoney(Decimal(1))) == Ok(None)
            events = await load(store, "acc-1")
        assert (events[0].correlation_id, events[0].causation_id) == ("open-1", "open-1")
        # A generated key names the second command: its own process, caused by itself.
        assert events[1].correlation_id == events[1].causation_id
        assert events[1].causation_id not in ("", "open-1")

    async def test_given_correlation_and_causation_ids_are_stored_with_every_event(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            reply = eventsourcing.execute_with_response(
                bank,
                "acc-1",
                OpenAccount("acc-1"),
                [("user", "alice")],
                correlation_id="checkout-7",
                causation_id="click-3",
            )
            assert await answer(reply) == Ok(None)
            (event,) = await load(store, "acc-1")
        assert (event.metadata, event.correlation_id, event.causation_id) == (
            [("user", "alice")],
            "checkout-7",
            "click-3",
        )

    async def test_a_command_caused_by_an_event_continues_its_correlation(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            reply = eventsourcing.execute_with_response(
                bank, "acc-1", OpenAccount("acc-1"), [], correlation_id="order-9"
            )
            assert await answer(reply) == Ok(None)
            async with projections.follow_log(store) as entries:
                opening = await entries.receive()
            reply = eventsourcing.execute_with_response(
                bank, "acc-2", OpenAccount("acc-2"), [], caused_by=opening
            )
            assert await answer(reply) == Ok(None)
            (event,) = await load(store, "acc-2")
        assert event.correlation_id == "order-9"
        assert event.causation_id == eventsourcing.event_reference(opening)
        assert event.causation_id.endswith("/acc-1/1")

    async def test_bad_trace_ids_are_refused_naming_what_is_wrong(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            with pytest.raises(ValueError, match="correlation_id must be a non-empty str"):
                eventsourcing.execute(bank, "acc-1", OpenAccount("acc-1"), correlation_id="")
            with pytest.raises(ValueError, match="causation_id is 201 characters long"):
                eventsourcing.execute(bank, "acc-1", OpenAccount("acc-1"), causation_id="c" * 201)
            with pytest.raises(ValueError, match="metadata key '\\$correlation_id'"):
                eventsourcing.execute_with_metadata(
                    bank, "acc-1", OpenAccount("acc-1"), [("$correlation_id", "x")]
                )
            with pytest.raises(TypeError, match="caused_by takes an entry of the log"):
                eventsourcing.execute(
                    bank,
                    "acc-1",
                    OpenAccount("acc-1"),
                    caused_by="acc-0",  # type: ignore[arg-type]
                )
            assert await load(store, "acc-1") == []

    async def test_snapshots_through_supervised_are_taken_at_each_multiple(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store, snapshot_every=2) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == Ok(None)
            stats = await answer(eventsourcing.aggregate_stats(bank, "acc-1"))
            assert stats == Ok(AggregateStats("acc-1", 1, 1, has_snapshot=False))
            for amount in (10, 20, 30, 40):
                assert await run(bank, "acc-1", DepositMoney(Decimal(amount))) == Ok(None)
            result = await answer(eventsourcing.latest_snapshot(bank, "acc-1"))
            assert isinstance(result, Ok), result
            snapshot = result.value
            assert snapshot is not None
            assert snapshot.sequence == 4
            payloads = [payload for _, _, payload, _ in await bank_events(bank, "acc-1")]
            assert snapshot.entity == fold(payloads[:4])
            stats = await answer(eventsourcing.aggregate_stats(bank, "acc-1"))
            assert stats == Ok(AggregateStats("acc-1", 5, 5, has_snapshot=True))

    async def test_load_aggregate_equals_a_fold_of_the_events(self, tmp_path: Path) -> None:
        commands: list[BankAccountCommand] = [
            OpenAccount("acc-1"),
            DepositMoney(Decimal("10.25")),
            WithdrawMoney(Decimal(4)),
            WithdrawMoney(Decimal(100)),  # refused
            DepositMoney(Decimal(3)),
            WithdrawMoney(Decimal("0.25")),
        ]
        async with self.open_store(tmp_path) as store:
            async with open_bank(store, snapshot_every=3) as bank:
                for command in commands:
                    await run(bank, "acc-1", command)
                payloads = [payload for _, _, payload, _ in await bank_events(bank, "acc-1")]
                expected = Aggregate("acc-1", fold(payloads), len(payloads))
                assert expected.entity == BankAccount(True, Decimal(9))
                assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(expected)
            # A new system on the same store loads it cold: latest snapshot plus the tail.
            async with open_bank(store, snapshot_every=3) as bank:
                assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(expected)

    @durable_only
    async def test_state_survives_reopening_through_supervised(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store, snapshot_every=2) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
            for amount in (5, 6, 7):
                assert await run(bank, "acc-1", DepositMoney(Decimal(amount))) == Ok(None)
            before = await answer(eventsourcing.load_aggregate(bank, "acc-1"))
            assert before == Ok(Aggregate("acc-1", BankAccount(True, Decimal(18)), 4))
        async with self.open_store(tmp_path) as store, open_bank(store, snapshot_every=2) as bank:
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == before
            assert await answer(eventsourcing.aggregate_stats(bank, "acc-1")) == Ok(
                AggregateStats("acc-1", 4, 4, has_snapshot=True)
            )
            # The reopened system carries on from sequence 4.
            assert await run(bank, "acc-1", WithdrawMoney(Decimal(8))) == Ok(None)
            assert (await bank_events(bank, "acc-1"))[-1] == ("acc-1", 5, withdrew(8, 10), [])
