"""The stores' Trio-native openers: ``memory_store.open``, ``sqlite_store.open`` and
``open_database``, ``postgres_store.open`` and ``open_database``.

Each runs its store for the length of an ``async with`` block, under an
``eventsourcing.open_system`` as a script would write it. A store that cannot start
raises ``StoreUnavailable`` before the block runs; what the block raises comes out as it
was raised. The PostgreSQL tests use a schema of their own (see
``tests/postgres/helpers.py`` for how the server is found, and when they skip or fail).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.durable_support import CODEC, BankCodec, bank_codec
from tests.postgres.helpers import (
    ThrowawaySchema,
    execute,
    require_driver,
    rows,
    store_backends,
    wait_until,
)
from tests.sqlite.helpers import file_bytes, writer_threads
from trio_eventsourcing import (
    Aggregate,
    EventStore,
    Receipt,
    StoreFailure,
    StoreUnavailable,
    memory_store,
    postgres_store,
    sqlite_store,
)
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)

Bank = eventsourcing.System[BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError]
AnyBankStore = EventStore[Any, BankAccount, BankAccountEvent, Any]

CHECKING = bank_codec("checking")
SAVINGS = bank_codec("savings")


def bank(store: AnyBankStore) -> AbstractAsyncContextManager[Bank]:
    return eventsourcing.open_system(store, handle, apply, BankAccount())


async def open_and_deposit(accounts: Bank, account_id: str, amount: int) -> Receipt:
    await accounts.execute(account_id, OpenAccount(account_id))
    return await accounts.execute(account_id, DepositMoney(Decimal(amount)))


def payloads(envelopes: list[Any]) -> list[BankAccountEvent]:
    return [envelope.payload for envelope in envelopes]


def opened_with(account_id: str, amount: int) -> list[BankAccountEvent]:
    return [
        AccountOpened(account_id),
        CustomerDepositedCash(Decimal(amount), Decimal(amount)),
    ]


# --- the memory store -----------------------------------------------------------------------


async def test_memory_store_open_runs_a_store_for_the_block() -> None:
    async with memory_store.open() as store, bank(store) as accounts:
        assert await open_and_deposit(accounts, "acc-1", 10) == Receipt("acc-1", 2, (2,), False)
        assert await accounts.load("acc-1") == Aggregate("acc-1", BankAccount(True, Decimal(10)), 2)
        log = (await memory_store.read_log(store)).unwrap()
        assert [(entry.position, entry.envelope.payload) for entry in log] == list(
            enumerate(opened_with("acc-1", 10), start=1)
        )


async def test_memory_stores_opened_on_one_database_share_its_global_log() -> None:
    database = memory_store.MemoryDatabase()
    async with (
        memory_store.open(database=database, aggregate_type="checking") as checking,
        memory_store.open(database=database, aggregate_type="savings") as savings,
        bank(checking) as checking_accounts,
        bank(savings) as savings_accounts,
    ):
        await checking_accounts.execute("acc-1", OpenAccount("acc-1"))
        await savings_accounts.execute("acc-1", OpenAccount("acc-1"))
        await savings_accounts.execute("acc-1", DepositMoney(Decimal(5)))
        checking_log = (await memory_store.read_log(checking)).unwrap()
        savings_log = (await memory_store.read_log(savings)).unwrap()
        assert [entry.position for entry in checking_log] == [1]
        assert [entry.position for entry in savings_log] == [2, 3]
        assert (await checking_accounts.load("acc-1")).sequence == 1
        assert (await savings_accounts.load("acc-1")).entity.balance == Decimal(5)


async def test_an_exception_in_a_memory_store_block_comes_out_as_itself() -> None:
    problem = LookupError("mine")
    with pytest.raises(LookupError) as info:
        async with memory_store.open():
            raise problem
    assert info.value is problem


# --- the SQLite store -----------------------------------------------------------------------


async def test_sqlite_store_open_keeps_what_was_stored_for_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    async with sqlite_store.open(path, CODEC) as store, bank(store) as accounts:
        await open_and_deposit(accounts, "acc-1", 25)
    assert writer_threads() == []
    async with sqlite_store.open(path, CODEC) as store, bank(store) as accounts:
        assert await accounts.load("acc-1") == Aggregate("acc-1", BankAccount(True, Decimal(25)), 2)
        assert payloads(await accounts.events("acc-1")) == opened_with("acc-1", 25)
        receipt = await accounts.execute("acc-1", DepositMoney(Decimal(5)))
        assert (receipt.sequence, receipt.positions) == (3, (3,))


async def test_sqlite_open_database_serves_two_aggregate_types_in_one_log(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    async with sqlite_store.open_database(path) as database:
        checking, savings = database.event_store(CHECKING), database.event_store(SAVINGS)
        async with bank(checking) as checking_accounts, bank(savings) as savings_accounts:
            await checking_accounts.execute("acc-1", OpenAccount("acc-1"))
            await open_and_deposit(savings_accounts, "acc-1", 7)
            await checking_accounts.execute("acc-1", DepositMoney(Decimal(3)))
    async with sqlite_store.open_database(path) as database:
        checking, savings = database.event_store(CHECKING), database.event_store(SAVINGS)
        checking_log = (await sqlite_store.read_log(checking)).unwrap()
        savings_log = (await sqlite_store.read_log(savings)).unwrap()
        # One global log: the positions of the two types interleave, in commit order.
        assert [entry.position for entry in checking_log] == [1, 4]
        assert [entry.position for entry in savings_log] == [2, 3]
        async with bank(checking) as checking_accounts, bank(savings) as savings_accounts:
            assert (await checking_accounts.load("acc-1")).entity.balance == Decimal(3)
            assert (await savings_accounts.load("acc-1")).entity.balance == Decimal(7)


SqliteOpener = Callable[[Path], AbstractAsyncContextManager[object]]
SQLITE_OPENERS: dict[str, SqliteOpener] = {
    "open": lambda path: sqlite_store.open(path, CODEC),
    "open_database": lambda path: sqlite_store.open_database(path),
}


@pytest.mark.parametrize("opener", SQLITE_OPENERS.values(), ids=SQLITE_OPENERS.keys())
async def test_sqlite_open_on_a_file_that_is_not_a_store_raises_store_unavailable_untouched(
    tmp_path: Path, opener: SqliteOpener
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"\x00not a database\xff" + os.urandom(4_000))
    before = file_bytes(path)
    ran: list[bool] = []
    with pytest.raises(StoreUnavailable) as info:
        async with opener(path):
            ran.append(True)
    assert type(info.value) is StoreUnavailable  # not an ExceptionGroup around it
    assert info.value.kind is StoreFailure.NOT_RUNNING
    assert "is not an SQLite database" in info.value.message
    assert str(path) in info.value.message
    assert ran == []
    assert file_bytes(path) == before
    assert writer_threads() == []


async def test_sqlite_open_on_a_database_of_another_application_leaves_it_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    connection.close()
    before = file_bytes(path)
    with pytest.raises(StoreUnavailable) as info:
        async with sqlite_store.open(path, CODEC):
            pass
    assert "another application" in info.value.message
    assert file_bytes(path) == before


async def test_an_exception_in_a_sqlite_block_comes_out_as_itself_and_closes_the_store(
    tmp_path: Path,
) -> None:
    problem = KeyError("mine")

    async def raise_in_the_block() -> None:
        async with sqlite_store.open(tmp_path / "bank.db", CODEC) as store, bank(store) as accounts:
            await accounts.execute("acc-1", OpenAccount("acc-1"))
            raise problem

    with pytest.raises(KeyError) as info:
        await raise_in_the_block()
    assert info.value is problem
    assert writer_threads() == []
    async with sqlite_store.open(tmp_path / "bank.db", CODEC) as store, bank(store) as accounts:
        assert (await accounts.load("acc-1")).sequence == 1


# --- the PostgreSQL store -------------------------------------------------------------------


async def test_postgres_open_on_a_server_that_is_down_raises_store_unavailable() -> None:
    require_driver()
    ran: list[bool] = []
    with pytest.raises(StoreUnavailable) as info:
        async with postgres_store.open(
            "postgresql://postgres@127.0.0.1:1/test", CODEC, connect_timeout=2
        ):
            ran.append(True)
    assert type(info.value) is StoreUnavailable
    assert info.value.kind is StoreFailure.NOT_RUNNING
    assert "connecting failed on PostgreSQL postgres@127.0.0.1:1/test" in info.value.message
    assert ran == []


class TestPostgresOpeners(ThrowawaySchema):
    """The PostgreSQL openers, in a schema of the test's own."""

    def open(self, codec: BankCodec = CODEC) -> AbstractAsyncContextManager[Any]:
        return postgres_store.open(self.dsn, codec, schema=self.schema)

    @asynccontextmanager
    async def open_database(self) -> AsyncIterator[postgres_store.PostgresDatabase]:
        async with postgres_store.open_database(self.dsn, schema=self.schema) as database:
            yield database

    async def test_open_keeps_what_was_stored_for_the_next_open(self) -> None:
        async with self.open() as store, bank(store) as accounts:
            await open_and_deposit(accounts, "acc-1", 25)
        async with self.open() as store, bank(store) as accounts:
            assert await accounts.load("acc-1") == Aggregate(
                "acc-1", BankAccount(True, Decimal(25)), 2
            )
            assert payloads(await accounts.events("acc-1")) == opened_with("acc-1", 25)
            receipt = await accounts.execute("acc-1", DepositMoney(Decimal(5)))
            assert (receipt.sequence, receipt.positions) == (3, (3,))

    async def test_leaving_the_block_closes_every_connection(self) -> None:
        async with self.open() as store, bank(store) as accounts:
            await open_and_deposit(accounts, "acc-1", 1)
            assert store_backends(self.dsn, self.schema) != []
        # The server ends a backend a moment after its client closes the connection.
        await wait_until(lambda: store_backends(self.dsn, self.schema) == [])

    async def test_open_database_serves_two_aggregate_types_in_one_log(self) -> None:
        async with self.open_database() as database:
            checking, savings = database.event_store(CHECKING), database.event_store(SAVINGS)
            async with bank(checking) as checking_accounts, bank(savings) as savings_accounts:
                await checking_accounts.execute("acc-1", OpenAccount("acc-1"))
                await open_and_deposit(savings_accounts, "acc-1", 7)
                await checking_accounts.execute("acc-1", DepositMoney(Decimal(3)))
        async with self.open_database() as database:
            checking, savings = database.event_store(CHECKING), database.event_store(SAVINGS)
            checking_log = (await postgres_store.read_log(checking)).unwrap()
            savings_log = (await postgres_store.read_log(savings)).unwrap()
            assert [entry.position for entry in checking_log] == [1, 4]
            assert [entry.position for entry in savings_log] == [2, 3]
            async with bank(checking) as checking_accounts, bank(savings) as savings_accounts:
                assert (await checking_accounts.load("acc-1")).entity.balance == Decimal(3)
                assert (await savings_accounts.load("acc-1")).entity.balance == Decimal(7)

    async def test_open_on_tables_that_are_not_a_store_raises_store_unavailable(self) -> None:
        execute(self.dsn, f'CREATE SCHEMA "{self.schema}"')
        execute(self.dsn, f'CREATE TABLE "{self.schema}".trio_es_events (id int)')
        ran: list[bool] = []
        with pytest.raises(StoreUnavailable) as info:
            async with self.open():
                ran.append(True)
        assert type(info.value) is StoreUnavailable
        assert "not a trio-eventsourcing store" in info.value.message
        assert ran == []
        found = rows(
            self.dsn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (self.schema,),
        )
        assert found == [("trio_es_events",)]

    async def test_an_exception_in_the_block_comes_out_as_itself(self) -> None:
        problem = KeyError("mine")

        async def raise_in_the_block() -> None:
            async with self.open() as store, bank(store) as accounts:
                await accounts.execute("acc-1", OpenAccount("acc-1"))
                raise problem

        with pytest.raises(KeyError) as info:
            await raise_in_the_block()
        assert info.value is problem
        async with self.open() as store, bank(store) as accounts:
            assert (await accounts.load("acc-1")).sequence == 1
