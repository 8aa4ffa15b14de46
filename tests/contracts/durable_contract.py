"""The contract of the durable stores, written once and run against SQLite and PostgreSQL.

What only a store that keeps its data outside the process promises, beyond
``StoreContract``: envelopes that say how their events were stored; a lifetime (a store
is started, stopped, cancelled, and refuses storage it cannot use); group commit,
counted in its statistics; waiters cancelled at any moment; a writer that crashes;
idempotency keys in one batch and in storage written before keys existed; several
stores on one storage. Two more contracts build on the same hooks: stored data the
codec cannot read (``bad_data_contract.py``), and several processes on one storage, one
of them killed (``processes_contract.py``).

A backend's test module implements the hooks of :class:`DurableBackend` once, in a class
of its own, and runs each contract by subclassing it together with that class (the
name starting with ``Test``)::

    class SqliteBackend(DurableBackend):
        def describe(self, codec: Any = CODEC) -> tuple[Any, Spec]: ...

    class TestSqliteDurable(SqliteBackend, DurableStoreContract):
        pass

The hooks say how a store of the test's own storage is described, how that storage is
read and changed from outside (as a person with ``sqlite3`` or ``psql`` might), and the
few things each backend does its own way: which lock another connection holds to make
the writer wait, how the database is told to refuse a row, how a writer is made to
crash. SQL given to :meth:`DurableBackend.rows` and :meth:`DurableBackend.execute` names
the store's tables through :meth:`DurableBackend.table`, and takes no parameters.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.durable_support import (
    CODEC,
    BankCodec,
    Spec,
    bank_codec,
    in_one_batch,
    started,
    wait_until_taken,
)
from tests.contracts.log_contract import (
    Entry,
    LogPage,
    sequences_by_aggregate,
    tail,
    whole_log,
    write_concurrently,
)
from tests.contracts.store_contract import (
    BankMessage,
    BankStore,
    answer,
    append,
    deposited,
    is_stored,
    load,
    load_snapshot,
    open_bank,
    opened,
    run,
)
from trio_eventsourcing import (
    Aggregate,
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    EventEnvelop,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    Result,
    SerializedEventEnvelop,
    Snapshot,
    StoreFailure,
    StoreResult,
    process,
)
from trio_eventsourcing.actor import StartError
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountEvent,
    DepositMoney,
    OpenAccount,
)

T = TypeVar("T")
Write = Callable[[], Awaitable[StoreResult[object]]]

SNAPSHOT_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def write(
    store: BankStore,
    aggregate_id: str,
    expected: int,
    key: str | None,
    events: list[BankAccountEvent] | None = None,
) -> Write:
    """A write to run later: ``events`` (a deposit, by default) after ``expected``."""

    async def run() -> StoreResult[object]:
        return await append(
            store, aggregate_id, expected, events or [deposited(1, expected + 1)], key=key
        )

    return run


async def write_together(count: int, write: Callable[[int], Awaitable[T]]) -> dict[int, T]:
    """Run ``write(n)`` for ``n`` in ``range(count)``, all queued before the writer wakes."""
    outcomes: dict[int, T] = {}
    go = trio.Event()

    async def writer(n: int) -> None:
        await go.wait()
        outcomes[n] = await write(n)

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        go.set()
    return outcomes


async def open_account(store: BankStore, account_id: str) -> None:
    """Open a new account in its own write transaction (a task for ``start_soon``)."""
    assert isinstance(await append(store, account_id, 0, [opened(account_id)]), Ok)


class DurableBackend:
    """The hooks a durable backend implements for the contracts, and what they build on them.

    A hook that is not implemented raises ``NotImplementedError``.
    """

    logger_name: ClassVar[str]
    """The store's logger."""

    current_version: ClassVar[int]
    """The schema version the store writes (its ``SCHEMA_VERSION``)."""

    table_prefix: ClassVar[str] = ""
    """What the store puts before the name of each of its tables."""

    # --- hooks: the storage of the test ---------------------------------------------------

    def describe(self, codec: Any = CODEC) -> tuple[Any, Spec]:
        """A store (not started) on the test's own storage, and the child that runs it.

        Called more than once in a test, the stores share that storage. ``codec`` may be
        another domain's (the writer child's).
        """
        raise NotImplementedError

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        """One page of the log with the store's own ``read_log``."""
        raise NotImplementedError

    @property
    def qualifier(self) -> str:
        """What SQL puts before a table's name (a schema, say), with its dot."""
        return ""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one query on the storage with a plain connection (for checks from outside)."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        """Run one statement on the storage with a plain connection."""
        raise NotImplementedError

    def where(self, store: BankStore) -> str:
        """How the store's error messages name its storage."""
        raise NotImplementedError

    def not_started(self, store: BankStore) -> str:
        """The message of the error a store that never started gives."""
        raise NotImplementedError

    async def nothing_left_running(self) -> None:
        """Check (waiting a bounded time, if need be) that no store left anything running."""
        raise NotImplementedError

    def check_backend_integrity(self) -> None:
        """Check what the backend itself can say about the storage's consistency."""
        raise NotImplementedError

    def fingerprint(self) -> object:
        """What the storage holds, to compare before and after a store refused it."""
        raise NotImplementedError

    def set_version(self, version: int) -> None:
        """Mark the storage as written by schema version ``version``."""
        raise NotImplementedError

    def version(self) -> int:
        """The schema version the storage is marked with."""
        raise NotImplementedError

    def write_version_before_keys(self) -> int:
        """Create the storage as the last version before keys left it; return that version.

        It holds one account, ``acc-1``: opened, then a deposit of 5.
        """
        raise NotImplementedError

    def stored_keys(self) -> list[tuple[str, str]]:
        """Every ``(aggregate_id, key)`` the storage holds, in order."""
        raise NotImplementedError

    def drop_keys(self) -> str:
        """Drop what the storage keeps keys in; return its name."""
        raise NotImplementedError

    # --- hooks: the backend's own ways ----------------------------------------------------

    def write_lock_held(self) -> contextlib.AbstractContextManager[object]:
        """Hold, from another connection, the lock the writer needs, as another process could."""
        raise NotImplementedError

    async def wait_until_taken(self, store: BankStore, batches_before: int) -> None:
        """Wait until the writer has taken a new batch (and waits for the lock, if held)."""
        await wait_until_taken(store, batches_before)

    def refuse(self, aggregate_id: str) -> str:
        """Make the database refuse the rows of ``aggregate_id`` (a rule of the user's, say).

        Returns what the refusal's message holds.
        """
        raise NotImplementedError

    def crash_writer_once(self, monkeypatch: pytest.MonkeyPatch) -> list[int]:
        """Make the writer raise, as a bug would, before its next commit; only once.

        Returns a list that gets one item, the requests of the batch, when it raised.
        """
        raise NotImplementedError

    def crash_after_commit_once(self, monkeypatch: pytest.MonkeyPatch) -> list[object]:
        """Make the writer raise, as a bug would, just after its next ``COMMIT``; only once.

        Call it before the store starts. Returns a list that gets one item when it raised.
        """
        raise NotImplementedError

    def child_args(self) -> list[str]:
        """The arguments that name the storage to ``writer_process``: backend and where."""
        raise NotImplementedError

    # --- shared by the tests --------------------------------------------------------------

    def table(self, name: str) -> str:
        """The store's table ``name`` (``events``, ``snapshots``) as SQL names it."""
        return f"{self.qualifier}{self.table_prefix}{name}"

    def open_store(
        self, codec: BankCodec = CODEC
    ) -> contextlib.AbstractAsyncContextManager[BankStore]:
        """A store on the test's storage whose child runs for the duration of the block."""
        return started(*self.describe(codec))

    def assert_consistent(self) -> None:
        """The storage is whole: positions and each aggregate's sequences have no gaps."""
        self.check_backend_integrity()
        positions = [row[0] for row in self.rows(f"SELECT position FROM {self.table('events')}")]
        assert sorted(positions) == list(range(1, len(positions) + 1))
        sequences: dict[str, list[int]] = defaultdict(list)
        for aggregate_id, sequence in self.rows(
            f"SELECT aggregate_id, sequence FROM {self.table('events')} ORDER BY position"
        ):
            sequences[aggregate_id].append(sequence)
        for aggregate_id, stored in sequences.items():
            assert stored == list(range(1, len(stored) + 1)), aggregate_id

    async def start_error(self) -> str:
        """Start a store that must fail to start; return the reason."""
        store, spec = self.describe()
        async with trio.open_nursery() as nursery:
            with trio.fail_after(10):
                result = await spec.start(nursery)
        assert isinstance(result, Error), result
        assert isinstance(result.error, StartError)
        assert not store.eventstore.statistics().running
        # The store never ran: its functions say so.
        assert await append(store, "acc-1", 0, [opened("acc-1")]) == Error(
            EventStoreError(self.not_started(store), StoreFailure.NOT_RUNNING)
        )
        await self.nothing_left_running()
        return result.error.reason

    async def in_one_batch(
        self, store: BankStore, writes: list[Write]
    ) -> list[StoreResult[object]]:
        """Run ``writes``, in order, so that the writer stores them in one batch.

        A first write (of the aggregate ``barrier``) is taken while another connection
        holds the lock the writer needs; the others queue behind it, one at a time, and
        are taken together once it is free.
        """
        barrier = write(store, "barrier", 0, None, [opened("barrier")])
        return await in_one_batch(
            store, self.write_lock_held, lambda b: self.wait_until_taken(store, b), barrier, writes
        )


class DurableStoreContract(DurableBackend):
    """What every durable store must do; subclass it with a backend's ``DurableBackend``."""

    @pytest.fixture(params=[("bad\ud800id", "lone surrogate")], ids=["surrogate"])
    def unreadable_id(self, request: pytest.FixtureRequest) -> tuple[str, str]:
        """An aggregate id the database cannot take, and what is wrong with it."""
        value: tuple[str, str] = request.param
        return value

    def stored_metadata(self) -> dict[str, list[tuple[int, str]]]:
        """Per aggregate, ``(sequence, metadata)`` of every stored event in sequence order."""
        found: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for aggregate_id, sequence, metadata in self.rows(
            f"SELECT aggregate_id, sequence, metadata FROM {self.table('events')}"
            " ORDER BY aggregate_id, sequence"
        ):
            found[aggregate_id].append((sequence, metadata))
        return found

    async def restarted(self, store: BankStore, before: object) -> None:
        """Wait until the store's supervisor has restarted it after ``before`` (a running)."""
        # New connections, in threads: poll.
        with trio.fail_after(10):
            while store.eventstore._running in (None, before):  # noqa: ASYNC110
                await trio.sleep(0.001)

    # --- envelopes ------------------------------------------------------------------------

    async def test_events_come_back_as_serialized_envelopes(self) -> None:
        async with self.open_store() as store:
            committed = await append(
                store, "acc-1", 0, [opened("acc-1"), deposited(5, 5)], [("k", "v")]
            )
            assert isinstance(committed, Ok), committed
            expected = [
                SerializedEventEnvelop(
                    "acc-1", 1, opened("acc-1"), [("k", "v")], "AccountOpened", "1", "bank_account"
                ),
                SerializedEventEnvelop(
                    "acc-1",
                    2,
                    deposited(5, 5),
                    [("k", "v")],
                    "CustomerDepositedCash",
                    "1",
                    "bank_account",
                ),
            ]
            assert committed.value == expected
            assert await load(store, "acc-1") == expected

    async def test_a_bank_runs_on_the_store_and_reopens_with_its_state(self) -> None:
        async with self.open_store() as store, open_bank(store, snapshot_every=5) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
            for amount in range(1, 13):
                assert await run(bank, "acc-1", DepositMoney(Decimal(amount))) == Ok(None)
            before = await answer(eventsourcing.load_aggregate(bank, "acc-1"))
            snapshot = await answer(eventsourcing.latest_snapshot(bank, "acc-1"))
        assert isinstance(snapshot, Ok)
        assert snapshot.value is not None
        assert snapshot.value.sequence == 10
        async with self.open_store() as store, open_bank(store) as bank:
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == before
            assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == snapshot

    # --- the store's lifetime -------------------------------------------------------------

    async def test_store_functions_before_the_start_and_after_the_stop_say_not_running(
        self,
    ) -> None:
        store, spec = self.describe()

        async def every_function() -> list[Result[object, object]]:
            async def load_body(tx: Any) -> StoreResult[Aggregate[BankAccount]]:
                snapshot = await store.load_snapshot(tx, "acc-1")
                assert isinstance(snapshot, Error)
                events = await store.load_events(store.eventstore, tx, "acc-1", 0)
                assert isinstance(events, Error)
                return events

            return [
                await append(store, "acc-1", 1, [opened("acc-1")]),
                await store.load_aggregate_transaction(load_body),
                await self.read_log(store),
            ]

        assert not store.eventstore.statistics().running
        outcomes = await every_function()
        async with trio.open_nursery() as nursery:
            supervisor = (await spec.start(nursery)).unwrap().data
            assert store.eventstore.statistics().running
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            supervisor.shutdown()
        assert not store.eventstore.statistics().running
        after_stop = await every_function()
        for outcome, said in [(o, "is not started") for o in outcomes] + [
            (o, "has stopped") for o in after_stop
        ]:
            assert isinstance(outcome, Error), outcome
            assert isinstance(outcome.error, EventStoreError)
            assert outcome.error.kind is StoreFailure.NOT_RUNNING
            assert said in outcome.error.message
        await self.nothing_left_running()
        # The store can be started again and finds what it stored.
        async with trio.open_nursery() as nursery:
            supervisor = (await spec.start(nursery)).unwrap().data
            assert [e.sequence for e in await load(store, "acc-1")] == [1]
            supervisor.shutdown()

    async def test_one_store_cannot_run_twice_at_once(self) -> None:
        store, spec = self.describe()
        async with trio.open_nursery() as nursery:
            first = (await spec.start(nursery)).unwrap().data
            second = await spec.start(nursery)
            assert isinstance(second, Error)
            assert "already running" in second.error.reason
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            first.shutdown()

    async def test_cancelling_the_store_child_stops_it_cleanly(self) -> None:
        store, spec = self.describe()
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                (await spec.start(nursery)).unwrap()
                assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
                scope.cancel()
        assert not store.eventstore.statistics().running
        await self.nothing_left_running()
        assert self.rows(f"SELECT count(*) FROM {self.table('events')}") == [(1,)]

    async def test_commit_events_outside_a_write_transaction_is_an_error(self) -> None:
        async with self.open_store() as store:

            async def body(tx: Any) -> StoreResult[None]:
                committed = await store.commit_events(
                    tx, Aggregate("acc-1", BankAccount(), 0), [opened("acc-1")], [], None
                )
                assert isinstance(committed, Error)
                assert isinstance(committed.error, EventStoreError)
                assert "outside a write transaction" in committed.error.message
                return Ok(None)

            assert await store.load_events_transaction(body) == Ok(None)  # type: ignore[arg-type]
            assert await load(store, "acc-1") == []

    async def test_storage_of_a_newer_schema_version_is_refused_and_left_untouched(
        self,
    ) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        newer = self.current_version + 1
        self.set_version(newer)
        before = self.fingerprint()
        reason = await self.start_error()
        assert f"schema version {newer}" in reason
        assert "newer trio-eventsourcing" in reason
        assert self.fingerprint() == before
        assert self.version() == newer
        assert self.rows(f"SELECT count(*) FROM {self.table('events')}") == [(1,)]

    async def test_damaged_storage_of_this_version_is_refused(self) -> None:
        async with self.open_store():
            pass
        self.execute(f"DROP TABLE {self.table('snapshots')}")
        reason = await self.start_error()
        assert "damaged" in reason
        assert f"{self.table_prefix}snapshots" in reason

    # --- group commit ---------------------------------------------------------------------

    async def test_concurrent_commands_are_group_committed(self) -> None:
        accounts = [f"acc-{n}" for n in range(100)]
        async with self.open_store() as store, open_bank(store) as bank:
            async with trio.open_nursery() as nursery:
                for account in accounts:
                    nursery.start_soon(run, bank, account, OpenAccount(account))
            before = store.eventstore.statistics()
            replies = [
                eventsourcing.execute_with_response(bank, account, DepositMoney(Decimal(1)), [])
                for account in accounts
            ]
            for reply in replies:
                assert await answer(reply) == Ok(None)
            after = store.eventstore.statistics()
        assert after.transactions - before.transactions == 100
        commits = after.commits - before.commits
        assert commits <= 25, f"100 concurrent commands took {commits} commits"
        assert after.largest_batch >= 4
        assert self.rows(f"SELECT count(*), max(position) FROM {self.table('events')}") == [
            (200, 200)
        ]

    async def test_a_stale_request_in_a_batch_does_not_fail_the_others(self) -> None:
        async with self.open_store() as store:
            for n in range(20):
                assert isinstance(await append(store, f"acc-{n}", 0, [opened(f"acc-{n}")]), Ok)

            async def write(n: int) -> StoreResult[object]:
                # Every third request is stale (expects sequence 0 of an opened account).
                expected = 0 if n % 3 == 0 else 1
                return await append(store, f"acc-{n}", expected, [opened(f"again-{n}")])

            outcomes = await write_together(20, write)
            assert store.eventstore.statistics().conflicts == 7
        for n, outcome in outcomes.items():
            if n % 3 == 0:
                assert outcome == Error(ConcurrencyConflict(f"acc-{n}", 0, 1))
            else:
                assert isinstance(outcome, Ok), outcome
        counts = dict(
            self.rows(
                f"SELECT aggregate_id, count(*) FROM {self.table('events')} GROUP BY aggregate_id"
            )
        )
        assert counts == {f"acc-{n}": 1 if n % 3 == 0 else 2 for n in range(20)}

    async def test_a_request_the_database_refuses_fails_alone(self) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
            refusal = self.refuse("acc-poison")

            async def write(n: int) -> StoreResult[object]:
                aggregate_id = "acc-poison" if n == 5 else f"acc-{n}"
                return await append(store, aggregate_id, 0, [opened(aggregate_id)] * 2)

            outcomes = await write_together(12, write)
            poisoned = outcomes.pop(5)
            assert isinstance(poisoned, Error)
            assert isinstance(poisoned.error, EventStoreError)
            assert poisoned.error.kind is StoreFailure.REFUSED
            assert refusal in poisoned.error.message
            assert all(isinstance(outcome, Ok) for outcome in outcomes.values()), outcomes
            # The others were stored, with contiguous positions (the refused rows left no gap).
            log = (await self.read_log(store)).unwrap()
            assert [e.position for e in log] == list(range(1, 24))
            assert {e.envelope.aggregate_id for e in log} == {"warm"} | {
                f"acc-{n}" for n in range(12) if n != 5
            }

    async def test_several_snapshots_of_one_aggregate_in_one_batch_are_stored(self) -> None:
        async with self.open_store() as store:

            def snapshot_write(n: int) -> Write:
                async def body(tx: Any) -> StoreResult[None]:
                    snapshot = Snapshot(
                        "acc-1", BankAccount(True, Decimal(n)), n + 1, SNAPSHOT_TIME
                    )
                    return await store.save_snapshot(tx, snapshot)

                async def run() -> StoreResult[object]:
                    return await store.execute_transaction(body)

                return run

            outcomes = await self.in_one_batch(store, [snapshot_write(n) for n in range(5)])
            assert all(isinstance(outcome, Ok) for outcome in outcomes), outcomes
            assert store.eventstore.statistics().largest_batch == 5
            snapshot = await load_snapshot(store, "acc-1")
            assert snapshot is not None
            assert snapshot.entity.balance == snapshot.sequence - 1

    async def test_many_tasks_on_many_aggregates_keep_per_aggregate_order(self) -> None:
        accounts = [f"acc-{n}" for n in range(12)]
        senders, commands_each = 3, 8
        async with self.open_store() as store, open_bank(store) as bank:
            for account in accounts:
                assert await run(bank, account, OpenAccount(account)) == Ok(None)

            async def sender(account: str, index: int) -> None:
                # Fire them all without waiting, then wait for the last: per-aggregate order
                # must follow the order of sending.
                for n in range(commands_each - 1):
                    eventsourcing.execute_with_metadata(
                        bank, account, DepositMoney(Decimal(1)), [("sender", f"{index}:{n}")]
                    )
                last = [("sender", f"{index}:{commands_each - 1}")]
                reply = eventsourcing.execute_with_response(
                    bank, account, DepositMoney(Decimal(1)), last
                )
                assert await answer(reply) == Ok(None)

            async with trio.open_nursery() as nursery:
                for account in accounts:
                    for index in range(senders):
                        nursery.start_soon(sender, account, index)
        stored = self.stored_metadata()
        assert sorted(stored) == sorted(accounts)
        for account, events in stored.items():
            assert [sequence for sequence, _ in events] == list(
                range(1, senders * commands_each + 2)
            )
            seen: dict[str, list[int]] = defaultdict(list)
            for _, metadata in events[1:]:
                index, n = json.loads(metadata)[0][1].split(":")
                seen[index].append(int(n))
            assert all(ns == list(range(commands_each)) for ns in seen.values()), (account, seen)
        self.assert_consistent()

    async def test_two_systems_with_their_own_stores_on_one_storage(self) -> None:
        """Optimistic concurrency across writers: every acknowledged command stored once."""
        accounts = [f"acc-{n}" for n in range(4)]
        clients_per_system, commands_each = 3, 8
        acknowledged: set[str] = set()
        refused: set[str] = set()
        async with self.open_store() as first, self.open_store() as second:
            async with (
                open_bank(first, max_retries=50) as bank_a,
                open_bank(second, max_retries=50) as bank_b,
            ):
                for account in accounts:
                    assert await run(bank_a, account, OpenAccount(account)) == Ok(None)

                async def client(bank: process.Subject[BankMessage], label: str) -> None:
                    for n in range(commands_each):
                        for account in accounts:
                            command_id = f"{label}-{n}-{account}"
                            outcome = await run(
                                bank, account, DepositMoney(Decimal(1)), [("command", command_id)]
                            )
                            if outcome == Ok(None):
                                acknowledged.add(command_id)
                            else:
                                assert isinstance(outcome, Error), outcome
                                assert isinstance(outcome.error, ConcurrencyConflict), outcome
                                refused.add(command_id)

                async with trio.open_nursery() as nursery:
                    for index in range(clients_per_system):
                        nursery.start_soon(client, bank_a, f"a{index}")
                        nursery.start_soon(client, bank_b, f"b{index}")
            conflicts = (
                first.eventstore.statistics().conflicts + second.eventstore.statistics().conflicts
            )
        sent = 2 * clients_per_system * commands_each * len(accounts)
        assert len(acknowledged) + len(refused) == sent
        stored = self.stored_metadata()
        commands = [m for events in stored.values() for _, m in events if m != "[]"]
        stored_ids = [json.loads(m)[0][1] for m in commands]
        assert sorted(stored_ids) == sorted(acknowledged)  # each exactly once, no refused one
        for events in stored.values():
            assert [sequence for sequence, _ in events] == list(range(1, len(events) + 1))
        assert conflicts > 0  # the two writers did race
        self.assert_consistent()

    # --- cancellation ---------------------------------------------------------------------

    async def test_a_waiter_cancelled_after_the_writer_took_its_request_stops_waiting(
        self,
    ) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
            batches = store.eventstore.database._counters.batches_begun
            with self.write_lock_held():
                # The writer takes the request and waits for the lock; the waiter does not:
                # cancelling it returns at once (or this test would never end).
                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(open_account, store, "acc-1")
                        await self.wait_until_taken(store, batches)
                        scope.cancel()
                assert scope.cancelled_caught
            # The request was taken: it commits with its batch once the lock is free.
            assert isinstance(await append(store, "barrier", 0, [opened("barrier")]), Ok)
            assert [e.sequence for e in await load(store, "acc-1")] == [1]
            assert isinstance(await append(store, "acc-1", 1, [opened("acc-1")]), Ok)
        self.assert_consistent()

    async def test_a_waiter_cancelled_before_the_writer_took_its_request_stores_nothing(
        self,
    ) -> None:
        async with self.open_store() as store:
            before = store.eventstore.statistics()
            batches = store.eventstore.database._counters.batches_begun
            second = trio.CancelScope()

            async def second_append() -> None:
                with second:
                    await append(store, "second", 0, [opened("second")])

            async with trio.open_nursery() as nursery:
                with self.write_lock_held():
                    nursery.start_soon(open_account, store, "first")
                    # The writer holds "first" and waits for the lock: what comes now queues.
                    await self.wait_until_taken(store, batches)
                    nursery.start_soon(second_append)
                    nursery.start_soon(open_account, store, "third")
                    await trio.testing.wait_all_tasks_blocked()
                    second.cancel()
                    await trio.testing.wait_all_tasks_blocked()
                # The lock is free: "first" commits, then "third"; "second" is skipped.
            assert second.cancelled_caught
            after = store.eventstore.statistics()
            assert await load(store, "second") == []
            assert [e.sequence for e in await load(store, "first")] == [1]
            assert [e.sequence for e in await load(store, "third")] == [1]
        assert after.transactions - before.transactions == 2
        assert after.commits - before.commits == 2

    async def test_many_waiters_cancelled_at_once_leave_a_consistent_storage(self) -> None:
        async with self.open_store() as store:
            scopes = [trio.CancelScope() for _ in range(40)]

            async def write(n: int) -> None:
                with scopes[n]:
                    await append(store, f"acc-{n}", 0, [opened(f"acc-{n}"), opened(f"acc-{n}")])

            async with trio.open_nursery() as nursery:
                for n in range(40):
                    nursery.start_soon(write, n)
                await trio.testing.wait_all_tasks_blocked()
                for scope in scopes[::2]:
                    scope.cancel()
            assert isinstance(await append(store, "barrier", 0, [opened("barrier")]), Ok)
            for n in range(40):
                stored = [e.sequence for e in await load(store, f"acc-{n}")]
                assert stored in ([], [1, 2]), (n, stored)
                if n % 2:
                    assert stored == [1, 2]
                # Whatever happened, the aggregate carries on from what is stored.
                assert isinstance(await append(store, f"acc-{n}", len(stored), [opened("x")]), Ok)
        self.assert_consistent()

    # --- shutdown and crashes -------------------------------------------------------------

    async def test_shutdown_with_writes_in_flight_answers_every_writer(self) -> None:
        store, spec = self.describe()
        outcomes: dict[int, object] = {}

        async def write(n: int) -> None:
            outcomes[n] = await append(store, f"acc-{n}", 0, [opened(f"acc-{n}")])

        async with trio.open_nursery() as nursery:
            supervisor = (await spec.start(nursery)).unwrap().data
            async with trio.open_nursery() as writers:
                for n in range(50):
                    writers.start_soon(write, n)
                await trio.testing.wait_all_tasks_blocked()
                supervisor.shutdown()
        assert len(outcomes) == 50
        stored = {row[0] for row in self.rows(f"SELECT aggregate_id FROM {self.table('events')}")}
        for n, outcome in outcomes.items():
            if isinstance(outcome, Ok):
                assert f"acc-{n}" in stored
            else:
                assert isinstance(outcome, Error)
                assert isinstance(outcome.error, EventStoreError)
                assert f"acc-{n}" not in stored
        await self.nothing_left_running()
        self.assert_consistent()

    async def test_a_crashed_writer_fails_its_batch_and_the_supervisor_restarts_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
            crashes = self.crash_writer_once(monkeypatch)
            before = store.eventstore._running
            failed = await append(store, "acc-1", 0, [opened("acc-1")])
            # Never acknowledged: the batch was interrupted before its commit.
            assert isinstance(failed, Error)
            assert isinstance(failed.error, EventStoreError)
            assert failed.error.kind is StoreFailure.NOT_RUNNING
            assert "has stopped" in failed.error.message
            await self.restarted(store, before)
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            assert [e.sequence for e in await load(store, "acc-1")] == [1]
        assert crashes == [1]
        await self.nothing_left_running()

    async def test_a_writer_that_crashes_after_its_commit_says_the_outcome_is_unknown(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A bug between the COMMIT and the answers: the batch is stored, so "failed" would
        # be a lie; the request learns that it may be stored, and its key says it is.
        crashes = self.crash_after_commit_once(monkeypatch)
        async with self.open_store() as store:
            before = store.eventstore._running
            outcome = await append(store, "acc-1", 0, [opened("acc-1")], key="k1")
            assert isinstance(outcome, Error), outcome
            assert isinstance(outcome.error, OutcomeUnknown), outcome
            assert (outcome.error.aggregate_id, outcome.error.idempotency_key) == ("acc-1", "k1")
            await self.restarted(store, before)
            assert await is_stored(store, "acc-1", "k1")
            assert [e.sequence for e in await load(store, "acc-1")] == [1]
        assert len(crashes) == 1
        assert self.rows(
            f"SELECT sequence FROM {self.table('events')} WHERE aggregate_id = 'acc-1'"
        ) == [(1,)]

    # --- idempotency keys -----------------------------------------------------------------

    async def test_one_key_twice_in_one_batch_is_stored_once(self) -> None:
        async with self.open_store() as store:
            for account in ("acc-1", "acc-2"):
                assert isinstance(await append(store, account, 0, [opened(account)]), Ok)
            before = store.eventstore.statistics()
            outcomes = await self.in_one_batch(
                store,
                [
                    write(store, "acc-1", 1, "k1"),
                    write(store, "acc-1", 1, "k1"),  # the same command again: stale too
                    write(store, "acc-2", 1, "k2"),
                    write(store, "acc-2", 2, "k2"),  # the same key on a current sequence
                    write(store, "acc-2", 2, "k3"),
                ],
            )
            after = store.eventstore.statistics()
            assert outcomes == [
                outcomes[0],
                Error(CommandAlreadyStored("acc-1", "k1")),
                outcomes[2],
                Error(CommandAlreadyStored("acc-2", "k2")),
                outcomes[4],
            ]
            assert all(isinstance(outcomes[n], Ok) for n in (0, 2, 4)), outcomes
            assert [e.sequence for e in await load(store, "acc-1")] == [1, 2]
            assert [e.sequence for e in await load(store, "acc-2")] == [1, 2, 3]
        assert after.largest_batch >= 5
        assert after.conflicts == before.conflicts  # a key stored already is no conflict
        assert after.transactions - before.transactions == 4  # the barrier and three

    async def test_stale_requests_in_a_batch_are_already_stored_by_their_key_or_conflicts(
        self,
    ) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="open"), Ok)
            assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)], key="d1"), Ok)
            before = store.eventstore.statistics()
            outcomes = await self.in_one_batch(
                store,
                [
                    write(store, "acc-1", 0, "open", [opened("acc-1")]),
                    write(store, "acc-1", 1, "d1"),
                    write(store, "acc-1", 1, "d2"),  # stale, key not stored: a conflict
                    write(store, "acc-1", 2, "d3"),
                    write(store, "acc-1", 2, "d4"),  # made stale by d3, in the same batch
                ],
            )
            assert outcomes == [
                Error(CommandAlreadyStored("acc-1", "open")),
                Error(CommandAlreadyStored("acc-1", "d1")),
                Error(ConcurrencyConflict("acc-1", 1, 2)),
                outcomes[3],
                Error(ConcurrencyConflict("acc-1", 2, 3)),
            ]
            assert isinstance(outcomes[3], Ok), outcomes
            after = store.eventstore.statistics()
            assert [e.sequence for e in await load(store, "acc-1")] == [1, 2, 3]
        assert after.largest_batch >= 5
        assert after.conflicts == before.conflicts + 2  # a key stored already is no conflict
        assert after.transactions - before.transactions == 2  # the barrier and d3

    async def test_a_stored_key_on_a_current_sequence_fails_alone_in_its_batch(self) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="k1"), Ok)
            outcomes = await self.in_one_batch(
                store,
                [
                    write(store, "acc-2", 0, "k1", [opened("acc-2")]),  # another aggregate's
                    write(store, "acc-1", 1, "k1"),
                    write(store, "acc-3", 0, "k9", [opened("acc-3")]),
                ],
            )
            assert isinstance(outcomes[0], Ok), outcomes
            assert outcomes[1] == Error(CommandAlreadyStored("acc-1", "k1"))
            assert isinstance(outcomes[2], Ok), outcomes
            assert [e.sequence for e in await load(store, "acc-1")] == [1]
            assert await is_stored(store, "acc-2", "k1")
        assert [k for k in self.stored_keys() if k[1] == "k1"] == [("acc-1", "k1"), ("acc-2", "k1")]

    async def test_a_request_that_fails_alone_leaves_its_key_free(self) -> None:
        async with self.open_store() as store:
            assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
            self.refuse("acc-poison")
            outcomes = await self.in_one_batch(
                store,
                [
                    write(store, "acc-poison", 0, "k", [opened("x")]),
                    write(store, "acc-1", 0, "k", [opened("acc-1")]),
                    write(store, "acc-1", 1, "k"),  # after the batch failed: one by one
                ],
            )
            assert isinstance(outcomes[0], Error), outcomes
            assert isinstance(outcomes[0].error, EventStoreError), outcomes
            assert isinstance(outcomes[1], Ok), outcomes
            assert outcomes[2] == Error(CommandAlreadyStored("acc-1", "k"))
            assert not await is_stored(store, "acc-poison", "k")
            assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")], key="k"), Ok)

    async def test_storage_written_before_keys_existed_is_upgraded_and_keeps_its_events(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger=self.logger_name)
        old = self.write_version_before_keys()
        async with self.open_store() as store:
            assert [e.payload for e in await load(store, "acc-1")] == [
                opened("acc-1"),
                deposited(5, 5),
            ]
            assert isinstance(await append(store, "acc-1", 2, [deposited(1, 6)], key="d"), Ok)
            again = await append(store, "acc-1", 3, [deposited(1, 7)], key="d")
            assert again == Error(CommandAlreadyStored("acc-1", "d"))
            assert not await is_stored(store, "acc-1", "never")
            log = (await self.read_log(store)).unwrap()
            assert [entry.position for entry in log] == [1, 2, 3]
        assert self.version() == self.current_version
        assert self.rows(f"SELECT sequence FROM {self.table('events')} ORDER BY sequence") == [
            (1,),
            (2,),
            (3,),
        ]
        assert self.stored_keys() == [("acc-1", "d")]
        self.assert_consistent()
        assert f"from schema version {old} to {self.current_version}" in caplog.text

    async def test_storage_of_this_version_without_its_keys_is_refused(self) -> None:
        async with self.open_store():
            pass
        missing = self.drop_keys()
        reason = await self.start_error()
        assert "damaged" in reason
        assert missing in reason

    async def test_reads_of_an_id_the_database_cannot_take_are_refused_cleanly(
        self, caplog: pytest.LogCaptureFixture, unreadable_id: tuple[str, str]
    ) -> None:
        aggregate_id, problem = unreadable_id
        async with self.open_store() as store:

            async def events(tx: Any) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
                return await store.load_events(store.eventstore, tx, aggregate_id, 0)

            async def snapshot(tx: Any) -> StoreResult[Snapshot[BankAccount] | None]:
                return await store.load_snapshot(tx, aggregate_id)

            async def aggregate(tx: Any) -> StoreResult[Aggregate[BankAccount]]:
                loaded = await store.load_snapshot(tx, aggregate_id)
                assert isinstance(loaded, Error), loaded
                return loaded

            outcomes: list[StoreResult[object]] = [
                await store.load_events_transaction(events),
                await store.get_latest_snapshot_transaction(snapshot),
                await store.load_aggregate_transaction(aggregate),
                await store.command_stored(store.eventstore, aggregate_id, "k"),
                await store.command_stored(store.eventstore, "acc-1", "k\ud800"),
            ]
            # The store answers the next read as usual.
            assert await store.command_stored(store.eventstore, "acc-1", "k") == Ok(False)
        messages = []
        for outcome in outcomes:
            assert isinstance(outcome, Error), outcome
            assert isinstance(outcome.error, EventStoreError), outcome
            assert outcome.error.message.startswith("cannot")
            messages.append(outcome.error.message)
        for message in messages[:4]:
            assert problem in message
            assert repr(aggregate_id) in message
        assert "lone surrogate" in messages[4]
        assert not [record for record in caplog.records if record.exc_info]
        assert "UnicodeEncodeError" not in caplog.text

    # --- the log --------------------------------------------------------------------------

    async def test_the_log_only_has_the_codecs_aggregate_type(self) -> None:
        # Two aggregate types share the storage; each store's log holds its own type's events.
        savings = bank_codec("savings_account")
        async with self.open_store() as checking, self.open_store(savings) as saving:
            assert isinstance(await append(checking, "chk-1", 0, [opened("chk-1")]), Ok)
            assert isinstance(await append(saving, "sav-1", 0, [opened("sav-1")]), Ok)
            assert isinstance(await append(checking, "chk-2", 0, [opened("chk-2")]), Ok)
            checking_log = await whole_log(self.read_log, checking)
            saving_log = await whole_log(self.read_log, saving)
        assert [(e.position, e.envelope.aggregate_id) for e in checking_log] == [
            (1, "chk-1"),
            (3, "chk-2"),
        ]
        saving_types = []
        for entry in saving_log:
            assert isinstance(entry.envelope, SerializedEventEnvelop)
            saving_types.append((entry.position, entry.envelope.aggregate_type))
        assert saving_types == [(2, "savings_account")]

    async def test_an_unreadable_event_in_the_log_is_an_error_naming_it(self) -> None:
        async with self.open_store() as store:
            events: list[BankAccountEvent] = [opened("acc-1"), deposited(2, 2)]
            assert isinstance(await append(store, "acc-1", 0, events), Ok)
        self.execute(f"UPDATE {self.table('events')} SET event_type = 'Nope' WHERE position = 2")
        async with self.open_store() as store:
            assert isinstance(await self.read_log(store, 0, 1), Ok)
            failed = await self.read_log(store, 0, 10)
            assert isinstance(failed, Error)
            assert isinstance(failed.error, EventStoreError)
            assert "'Nope'" in failed.error.message
            assert "'acc-1'" in failed.error.message
            assert "sequence 2" in failed.error.message

    async def test_a_reader_tailing_the_log_of_two_writing_stores_misses_nothing(self) -> None:
        # Two stores on one storage: two writers, as two processes have.
        writers, commits = 12, 10
        seen: list[Entry] = []
        done = trio.Event()
        async with (
            self.open_store() as first,
            self.open_store() as second,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(tail, self.read_log, first, done, seen)
            total = await write_concurrently([first, second], writers, commits)
            done.set()
        assert [e.position for e in seen] == list(range(1, total + 1))
        sequences = sequences_by_aggregate(seen).values()
        assert all(s == list(range(1, 2 * commits + 1)) for s in sequences)
