"""Concurrent commands: order, contiguous sequences, group commit, cancellation, shutdown."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import BankMessage, answer, append, load, opened, run
from tests.sqlite.helpers import CODEC, BankSqliteStore, rows, running_store, writer_threads
from trio_eventsourcing import (
    ConcurrencyConflict,
    Error,
    EventStoreError,
    Ok,
    process,
    sqlite_store,
    static_supervisor,
)
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)


@contextlib.asynccontextmanager
async def bank_system(
    store: BankSqliteStore, max_retries: int = 3
) -> AsyncIterator[process.Subject[BankMessage]]:
    name: process.Name[BankMessage] = process.new_name("bank")
    spec = eventsourcing.supervised(
        name, store, handle, apply, BankAccount(), [], None, max_retries=max_retries
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield process.named_subject(name)


def stored_metadata(path: Path) -> dict[str, list[tuple[int, str]]]:
    """Per aggregate, ``(sequence, metadata)`` of every stored event in sequence order."""
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for aggregate_id, sequence, metadata in rows(
        path, "SELECT aggregate_id, sequence, metadata FROM events ORDER BY aggregate_id, sequence"
    ):
        found[aggregate_id].append((sequence, metadata))
    return found


def integrity_ok(path: Path) -> bool:
    return rows(path, "PRAGMA integrity_check") == [("ok",)]


async def test_many_tasks_on_many_aggregates_keep_per_aggregate_order(tmp_path: Path) -> None:
    path = tmp_path / "order.db"
    accounts = [f"acc-{n}" for n in range(12)]
    senders, commands_each = 3, 8
    async with running_store(path) as store, bank_system(store) as bank:
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
    stored = stored_metadata(path)
    assert sorted(stored) == sorted(accounts)
    for account, events in stored.items():
        assert [sequence for sequence, _ in events] == list(range(1, senders * commands_each + 2))
        seen: dict[str, list[int]] = defaultdict(list)
        for _, metadata in events[1:]:
            index, n = json.loads(metadata)[0][1].split(":")
            seen[index].append(int(n))
        assert all(ns == list(range(commands_each)) for ns in seen.values()), (account, seen)
    assert integrity_ok(path)


async def test_two_systems_with_their_own_stores_on_one_file(tmp_path: Path) -> None:
    """Optimistic concurrency across writers: every acknowledged command stored once."""
    path = tmp_path / "shared.db"
    accounts = [f"acc-{n}" for n in range(4)]
    clients_per_system, commands_each = 3, 8
    acknowledged: set[str] = set()
    refused: set[str] = set()
    async with running_store(path) as first, running_store(path) as second:
        async with (
            bank_system(first, max_retries=50) as bank_a,
            bank_system(second, max_retries=50) as bank_b,
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
    assert len(acknowledged) + len(refused) == 2 * clients_per_system * commands_each * len(
        accounts
    )
    stored = stored_metadata(path)
    commands = [m for events in stored.values() for _, m in events if m != "[]"]
    stored_ids = [json.loads(m)[0][1] for m in commands]
    assert sorted(stored_ids) == sorted(acknowledged)  # each exactly once, no refused one
    for events in stored.values():
        assert [sequence for sequence, _ in events] == list(range(1, len(events) + 1))
    assert conflicts > 0  # the two writers did race
    assert integrity_ok(path)


async def test_concurrent_commands_are_group_committed(tmp_path: Path) -> None:
    path = tmp_path / "group.db"
    accounts = [f"acc-{n}" for n in range(100)]
    async with running_store(path) as store, bank_system(store) as bank:
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
    assert rows(path, "SELECT count(*) FROM events") == [(200,)]


async def test_one_failing_request_in_a_batch_does_not_fail_the_others(tmp_path: Path) -> None:
    path = tmp_path / "mixed.db"
    async with running_store(path) as store:
        for n in range(20):
            assert isinstance(await append(store, f"acc-{n}", 0, [opened(f"acc-{n}")]), Ok)
        go = trio.Event()
        outcomes: dict[int, object] = {}

        async def writer(n: int) -> None:
            await go.wait()
            # Every third request is stale (expects sequence 0 of an opened account).
            expected = 0 if n % 3 == 0 else 1
            outcomes[n] = await append(store, f"acc-{n}", expected, [opened(f"again-{n}")])

        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(writer, n)
            await trio.testing.wait_all_tasks_blocked()
            go.set()
    for n, outcome in outcomes.items():
        if n % 3 == 0:
            assert outcome == Error(ConcurrencyConflict(f"acc-{n}", 0, 1))
        else:
            assert isinstance(outcome, Ok), outcome
    counts = dict(rows(path, "SELECT aggregate_id, count(*) FROM events GROUP BY aggregate_id"))
    assert counts == {f"acc-{n}": 1 if n % 3 == 0 else 2 for n in range(20)}


# --- cancellation -------------------------------------------------------------------------


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold the file's write lock from another connection, as another process could."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("COMMIT")
    finally:
        connection.close()


async def open_account(store: BankSqliteStore, account_id: str) -> None:
    """Open a new account in its own write transaction (a task for ``start_soon``)."""
    assert isinstance(await append(store, account_id, 0, [opened(account_id)]), Ok)


async def wait_until_taken(store: BankSqliteStore, batches_before: int) -> None:
    """Wait until the writer thread has closed a new batch and begun storing it."""
    running = store.eventstore._running
    assert running is not None
    counters = store.eventstore._counters
    # The writer is a real thread with no Trio event to wait on: poll its counter.
    while counters.batches_begun <= batches_before:  # noqa: ASYNC110
        await trio.sleep(0.001)


async def test_a_waiter_cancelled_after_the_writer_took_its_request_stops_waiting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cancel-taken.db"
    async with running_store(path, busy_timeout=30.0) as store:
        assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
        batches = store.eventstore._counters.batches_begun
        with write_lock_held(path):
            # The writer takes the request and is stuck on the lock; the waiter is not:
            # cancelling it returns at once (or this test would never end).
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(open_account, store, "acc-1")
                    await wait_until_taken(store, batches)
                    scope.cancel()
            assert scope.cancelled_caught
        # The request was taken: it commits with its batch once the lock is free.
        assert isinstance(await append(store, "barrier", 0, [opened("barrier")]), Ok)
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
        assert isinstance(await append(store, "acc-1", 1, [opened("acc-1")]), Ok)
    assert integrity_ok(path)


async def test_a_waiter_cancelled_before_the_writer_took_its_request_stores_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cancel-queued.db"
    async with running_store(path, busy_timeout=30.0) as store:
        before = store.eventstore.statistics()
        batches = store.eventstore._counters.batches_begun
        second = trio.CancelScope()

        async def second_append() -> None:
            with second:
                await append(store, "second", 0, [opened("second")])

        async with trio.open_nursery() as nursery:
            with write_lock_held(path):
                nursery.start_soon(open_account, store, "first")
                # The writer holds "first" and waits for the lock: what comes now queues.
                await wait_until_taken(store, batches)
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


async def test_many_waiters_cancelled_at_once_leave_a_consistent_file(tmp_path: Path) -> None:
    path = tmp_path / "cancel-many.db"
    async with running_store(path) as store:
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
    assert integrity_ok(path)


# --- shutdown -----------------------------------------------------------------------------


async def test_shutdown_with_writes_in_flight_answers_every_writer(tmp_path: Path) -> None:
    path = tmp_path / "shutdown.db"
    store, spec = sqlite_store.supervised(path, CODEC)
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
    stored = {row[0] for row in rows(path, "SELECT aggregate_id FROM events")}
    for n, outcome in outcomes.items():
        if isinstance(outcome, Ok):
            assert f"acc-{n}" in stored
        else:
            assert isinstance(outcome, Error)
            assert isinstance(outcome.error, EventStoreError)
            assert f"acc-{n}" not in stored
    assert writer_threads() == []
    assert integrity_ok(path)
