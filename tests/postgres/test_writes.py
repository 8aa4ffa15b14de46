"""Group commit: many write transactions per PostgreSQL commit, each still all-or-nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import (
    answer,
    append,
    load,
    load_snapshot,
    open_bank,
    opened,
    run,
)
from tests.postgres.helpers import (
    CODEC,
    BankPostgresStore,
    connect,
    execute,
    rows,
    running_store,
    wait_until,
    waiting,
)
from trio_eventsourcing import (
    ConcurrencyConflict,
    Error,
    EventStoreError,
    Ok,
    Snapshot,
    StoreFailure,
    StoreResult,
    postgres_store,
)
from trio_eventsourcing._stores.postgres.writer import PostgresWriteConnection
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountEvent,
    DepositMoney,
    OpenAccount,
)


async def test_concurrent_commands_are_group_committed(dsn: str, schema: str) -> None:
    accounts = [f"acc-{n}" for n in range(100)]
    async with running_store(dsn, schema) as store, open_bank(store) as bank:
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
    assert rows(dsn, f'SELECT count(*), max(position) FROM "{schema}".trio_es_events') == [
        (200, 200)
    ]


async def write_together(
    store: BankPostgresStore, count: int, write: object
) -> dict[int, StoreResult[object]]:
    """Run ``write(n)`` for ``n`` in ``range(count)``, all queued before the writer wakes."""
    outcomes: dict[int, StoreResult[object]] = {}
    go = trio.Event()
    assert callable(write)

    async def writer(n: int) -> None:
        await go.wait()
        outcomes[n] = await write(n)

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(writer, n)
        await trio.testing.wait_all_tasks_blocked()
        go.set()
    return outcomes


async def test_a_stale_request_in_a_batch_does_not_fail_the_others(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        for n in range(20):
            assert isinstance(await append(store, f"acc-{n}", 0, [opened(f"acc-{n}")]), Ok)

        async def write(n: int) -> StoreResult[object]:
            # Every third request is stale (expects sequence 0 of an opened account).
            expected = 0 if n % 3 == 0 else 1
            return await append(store, f"acc-{n}", expected, [opened(f"again-{n}")])

        outcomes = await write_together(store, 20, write)
        assert store.eventstore.statistics().conflicts == 7
    for n, outcome in outcomes.items():
        if n % 3 == 0:
            assert outcome == Error(ConcurrencyConflict(f"acc-{n}", 0, 1))
        else:
            assert isinstance(outcome, Ok), outcome
    counts = dict(
        rows(dsn, f'SELECT aggregate_id, count(*) FROM "{schema}".trio_es_events GROUP BY 1')
    )
    assert counts == {f"acc-{n}": 1 if n % 3 == 0 else 2 for n in range(20)}


async def test_a_request_the_server_refuses_fails_alone(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
        # The server refuses this one aggregate's rows (a rule of the user's, say).
        execute(
            dsn,
            f'ALTER TABLE "{schema}".trio_es_events'
            " ADD CONSTRAINT no_poison CHECK (aggregate_id <> 'acc-poison')",
        )

        async def write(n: int) -> StoreResult[object]:
            aggregate_id = "acc-poison" if n == 5 else f"acc-{n}"
            return await append(store, aggregate_id, 0, [opened(aggregate_id)] * 2)

        outcomes = await write_together(store, 12, write)
        poisoned = outcomes.pop(5)
        assert isinstance(poisoned, Error)
        assert isinstance(poisoned.error, EventStoreError)
        assert poisoned.error.kind is StoreFailure.REFUSED
        assert "CheckViolation" in poisoned.error.message
        assert all(isinstance(outcome, Ok) for outcome in outcomes.values()), outcomes
        # The others were stored, with contiguous positions (the refused rows left no gap).
        log = (await postgres_store.read_log(store)).unwrap()
        assert [e.position for e in log] == list(range(1, 24))
        assert {e.envelope.aggregate_id for e in log} == {"warm"} | {
            f"acc-{n}" for n in range(12) if n != 5
        }


async def test_text_postgresql_cannot_hold_fails_that_command_only(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        for aggregate_id, problem in (("nul\x00id", "NUL"), ("bad\ud800id", "lone surrogate")):
            refused = await append(store, aggregate_id, 0, [opened("x")])
            assert isinstance(refused, Error)
            assert isinstance(refused.error, EventStoreError)
            assert refused.error.kind is StoreFailure.REFUSED
            assert problem in refused.error.message
        # In a payload, JSON escapes it.
        assert isinstance(await append(store, "acc-1", 0, [opened("nul\x00")]), Ok)
        assert [e.payload for e in await load(store, "acc-1")] == [opened("nul\x00")]


async def test_several_snapshots_of_one_aggregate_in_one_batch_are_stored(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema) as store:
        taken = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

        async def write(n: int) -> StoreResult[object]:
            async def body(
                tx: postgres_store.PostgresTransaction[BankAccount, BankAccountEvent],
            ) -> StoreResult[None]:
                snapshot = Snapshot("acc-1", BankAccount(True, Decimal(n)), n + 1, taken)
                return await store.save_snapshot(tx, snapshot)

            return await store.execute_transaction(body)

        # One upsert may not touch a row twice: the batch keeps the last of each aggregate.
        outcomes = await write_together(store, 5, write)
        assert all(isinstance(outcome, Ok) for outcome in outcomes.values()), outcomes
        assert store.eventstore.statistics().largest_batch == 5
        snapshot = await load_snapshot(store, "acc-1")
        assert snapshot is not None
        assert snapshot.entity.balance == snapshot.sequence - 1


# --- cancellation -------------------------------------------------------------------------


@contextlib.contextmanager
def position_lock_held(dsn: str, schema: str) -> Iterator[None]:
    """Hold the store's position lock from another connection, as another writer could."""
    with connect(dsn) as connection, connection.transaction():
        connection.execute(f'SELECT 1 FROM "{schema}".trio_es_store FOR UPDATE')
        yield


async def open_account(store: BankPostgresStore, account_id: str) -> None:
    assert isinstance(await append(store, account_id, 0, [opened(account_id)]), Ok)


async def test_a_waiter_cancelled_after_the_writer_took_its_request_stops_waiting(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
        with position_lock_held(dsn, schema):
            # The writer takes the request and waits for the lock; the waiter does not:
            # cancelling it returns at once (or this test would never end).
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(open_account, store, "acc-1")
                    await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
                    scope.cancel()
            assert scope.cancelled_caught
        # The request was taken: it commits with its batch once the lock is free.
        assert isinstance(await append(store, "barrier", 0, [opened("barrier")]), Ok)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]


async def test_a_waiter_cancelled_before_the_writer_took_its_request_stores_nothing(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema) as store:
        before = store.eventstore.statistics()
        second = trio.CancelScope()

        async def second_append() -> None:
            with second:
                await append(store, "second", 0, [opened("second")])

        async with trio.open_nursery() as nursery:
            with position_lock_held(dsn, schema):
                nursery.start_soon(open_account, store, "first")
                # The writer holds "first" and waits for the lock: what comes now queues.
                await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
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


async def test_shutdown_with_writes_in_flight_answers_every_writer(dsn: str, schema: str) -> None:
    store, spec = postgres_store.supervised(dsn, CODEC, schema=schema)
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
    stored = {row[0] for row in rows(dsn, f'SELECT aggregate_id FROM "{schema}".trio_es_events')}
    for n, outcome in outcomes.items():
        if isinstance(outcome, Ok):
            assert f"acc-{n}" in stored
        else:
            assert isinstance(outcome, Error)
            assert isinstance(outcome.error, EventStoreError)
            assert f"acc-{n}" not in stored


async def test_a_crashed_writer_fails_its_batch_and_the_store_restarts(
    dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)

        def broken(self: PostgresWriteConnection, request: object, *checks: object) -> bool:
            raise RuntimeError("a bug in the writer")

        before = store.eventstore._running
        with monkeypatch.context() as patch:
            patch.setattr(PostgresWriteConnection, "_decide", broken)
            crashed = await append(store, "acc-1", 0, [opened("acc-1")])
        # Never acknowledged: the batch was interrupted before its commit.
        assert isinstance(crashed, Error)
        assert isinstance(crashed.error, EventStoreError)
        assert crashed.error.kind is StoreFailure.NOT_RUNNING
        assert "has stopped" in crashed.error.message
        # The store's supervisor restarts it (new connections, in threads: poll).
        with trio.fail_after(10):
            while store.eventstore._running in (None, before):  # noqa: ASYNC110
                await trio.sleep(0.001)
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
