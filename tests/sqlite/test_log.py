"""The global log: every event once, in commit order, readable from any position."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from contracts.store_contract import append, deposited, opened
from trio_eventsourcing import Error, EventStoreError, Ok, SerializedEventEnvelop, sqlite_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)

from .helpers import BankSqliteStore, execute, running_store


async def whole_log(
    store: BankSqliteStore, start_from: int = 0, limit: int = 7
) -> list[sqlite_store.LogEntry[BankAccountEvent]]:
    """Read the log page by page from ``start_from`` to its end."""
    entries: list[sqlite_store.LogEntry[BankAccountEvent]] = []
    position = start_from
    while True:
        page = await sqlite_store.read_log(store, position, limit)
        assert isinstance(page, Ok), page
        assert len(page.value) <= limit
        if not page.value:
            return entries
        entries += page.value
        position = page.value[-1].position


async def test_the_log_holds_every_event_in_commit_order(tmp_path: Path) -> None:
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    async with running_store(tmp_path / "log.db") as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], [("n", "1")]), Ok)
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2"), deposited(3, 3)]), Ok)
        assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)
        entries = await whole_log(store)
        assert [e.position for e in entries] == [1, 2, 3, 4]
        assert [e.envelope for e in entries] == [
            SerializedEventEnvelop(
                "acc-1", 1, opened("acc-1"), [("n", "1")], "AccountOpened", "1", "bank_account"
            ),
            SerializedEventEnvelop(
                "acc-2", 1, opened("acc-2"), [], "AccountOpened", "1", "bank_account"
            ),
            SerializedEventEnvelop(
                "acc-2", 2, deposited(3, 3), [], "CustomerDepositedCash", "1", "bank_account"
            ),
            SerializedEventEnvelop(
                "acc-1", 2, deposited(1, 1), [], "CustomerDepositedCash", "1", "bank_account"
            ),
        ]
        assert all(started <= e.recorded_at <= datetime.now(timezone.utc) for e in entries)
        # From any position: the events after it.
        for position in range(5):
            tail = await sqlite_store.read_log(store.eventstore, position, 100)
            assert isinstance(tail, Ok)
            assert tail.value == entries[position:]
        assert await sqlite_store.read_log(store, 4) == Ok([])
        assert await sqlite_store.read_log(store, 400) == Ok([])


async def test_the_log_only_has_the_codecs_aggregate_type(tmp_path: Path) -> None:
    # Two aggregate types share a file; each store's log holds its own type's events.
    path = tmp_path / "two-types.db"
    savings: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[BankAccount],
        aggregate_type="savings_account",
    )
    async with running_store(path) as checking, running_store(path, savings) as saving:
        assert isinstance(await append(checking, "chk-1", 0, [opened("chk-1")]), Ok)
        assert isinstance(await append(saving, "sav-1", 0, [opened("sav-1")]), Ok)
        assert isinstance(await append(checking, "chk-2", 0, [opened("chk-2")]), Ok)
        checking_log = await whole_log(checking)
        saving_log = await whole_log(saving)
    assert [(e.position, e.envelope.aggregate_id) for e in checking_log] == [
        (1, "chk-1"),
        (3, "chk-2"),
    ]
    assert [(e.position, e.envelope.aggregate_type) for e in saving_log] == [(2, "savings_account")]


async def test_a_reader_tailing_the_log_under_concurrent_writers_misses_nothing(
    tmp_path: Path,
) -> None:
    writers, commits_each = 10, 15
    async with running_store(tmp_path / "tail.db") as store:
        seen: list[sqlite_store.LogEntry[BankAccountEvent]] = []
        done = trio.Event()

        async def writer(index: int) -> None:
            aggregate_id = f"acc-{index}"
            for sequence in range(commits_each):
                events: list[BankAccountEvent] = [deposited(1, sequence + 1)] * 2
                assert isinstance(await append(store, aggregate_id, 2 * sequence, events), Ok)

        async def tail() -> None:
            position = 0
            while True:
                finished = done.is_set()
                page = await sqlite_store.read_log(store, position, 13)
                assert isinstance(page, Ok), page
                seen.extend(page.value)
                if page.value:
                    position = page.value[-1].position
                elif finished:
                    return
                else:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tail)
            async with trio.open_nursery() as writing:
                for index in range(writers):
                    writing.start_soon(writer, index)
            done.set()
    positions = [e.position for e in seen]
    assert positions == list(range(1, writers * commits_each * 2 + 1))
    per_aggregate: dict[str, list[int]] = {}
    for entry in seen:
        per_aggregate.setdefault(entry.envelope.aggregate_id, []).append(entry.envelope.sequence)
    assert all(s == list(range(1, 2 * commits_each + 1)) for s in per_aggregate.values())


async def test_an_unreadable_event_in_the_log_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad-log.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1"), deposited(2, 2)]), Ok)
    execute(path, "UPDATE events SET event_type = 'Nope' WHERE position = 2")
    async with running_store(path) as store:
        assert isinstance(await sqlite_store.read_log(store, 0, 1), Ok)
        failed = await sqlite_store.read_log(store, 0, 10)
        assert isinstance(failed, Error)
        assert isinstance(failed.error, EventStoreError)
        assert "'Nope'" in failed.error.message
        assert "'acc-1'" in failed.error.message
        assert "sequence 2" in failed.error.message


async def test_read_log_checks_its_arguments(tmp_path: Path) -> None:
    async with running_store(tmp_path / "args.db") as store:
        with pytest.raises(ValueError, match="start_from"):
            await sqlite_store.read_log(store, -1)
        with pytest.raises(ValueError, match="limit"):
            await sqlite_store.read_log(store, 0, 0)
        with pytest.raises(TypeError, match="read_log"):
            await sqlite_store.read_log(object())  # type: ignore[arg-type]


async def test_read_log_is_a_checkpoint(tmp_path: Path) -> None:
    async with running_store(tmp_path / "checkpoint.db") as store:
        with trio.testing.assert_checkpoints():
            await sqlite_store.read_log(store)
    with trio.testing.assert_checkpoints():
        await sqlite_store.read_log(store)  # not running: still a checkpoint


async def test_large_amounts_round_trip_through_the_log(tmp_path: Path) -> None:
    amount = Decimal("12345678901234567890.123456789")
    async with running_store(tmp_path / "decimal.db") as store:
        assert isinstance(await append(store, "acc-1", 0, [deposited(1, 1)]), Ok)
        event = CustomerDepositedCash(amount, amount)
        assert isinstance(await append(store, "acc-1", 1, [event]), Ok)
        entries = await whole_log(store)
    assert entries[-1].envelope.payload == event
