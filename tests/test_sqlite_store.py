"""The SQLite store: the shared store contract, plus what SQLite adds to it.

More SQLite tests live in ``tests/sqlite``: the file and its schema, bad data, concurrency
and group commit, the global log, and crash safety.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path

import trio_eventsourcing as eventsourcing
from tests.contracts.log_contract import LogContract, LogPage
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import (
    BankStore,
    StoreContract,
    answer,
    append,
    deposited,
    load,
    open_bank,
    opened,
    run,
)
from tests.sqlite.helpers import CODEC, running_store
from trio_eventsourcing import Ok, SerializedEventEnvelop, sqlite_store
from trio_eventsourcing.examples.bank_account import DepositMoney, OpenAccount


class TestSqliteStore(StoreContract):
    is_durable = True

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(tmp_path / "events.db")


class TestSqliteLog(LogContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(tmp_path / "log.db")

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await sqlite_store.read_log(store, start_from, limit)


class TestSqliteProjections(ProjectionContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(tmp_path / "projections.db")


async def test_events_come_back_as_serialized_envelopes(tmp_path: Path) -> None:
    async with running_store(tmp_path / "events.db") as store:
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


async def test_a_bank_runs_on_the_store_and_reopens_with_its_state(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    async with running_store(path) as store, open_bank(store, snapshot_every=5) as bank:
        assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
        for amount in range(1, 13):
            assert await run(bank, "acc-1", DepositMoney(Decimal(amount))) == Ok(None)
        before = await answer(eventsourcing.load_aggregate(bank, "acc-1"))
        snapshot = await answer(eventsourcing.latest_snapshot(bank, "acc-1"))
    assert isinstance(snapshot, Ok)
    assert snapshot.value is not None
    assert snapshot.value.sequence == 10
    async with running_store(path, CODEC) as store, open_bank(store) as bank:
        assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == before
        assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == snapshot
