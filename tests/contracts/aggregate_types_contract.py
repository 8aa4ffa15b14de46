"""The contract of a durable database that serves many aggregate types, run by each one.

A database (``sqlite_store.supervised_database``, ``postgres_store.supervised_database``,
or memory stores sharing a ``memory_store.MemoryDatabase``) gives one event store per
aggregate type; they share one global log, and an aggregate is its type and id
together; the durable ones also share one writer and its group commits. A backend's
test module subclasses :class:`AggregateTypesContract` and gives :meth:`open_database`
(something with ``event_store(codec)``) and :meth:`read_log`. The second aggregate
type is a bank statement: the bank account's events under another type name, so that
the same ids and the same events meet in one database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest
import trio

from tests.contracts.durable_support import CODEC, bank_codec
from tests.contracts.store_contract import (
    SNAPSHOT_TIME,
    BankStore,
    append,
    deposited,
    is_stored,
    load,
    load_snapshot,
    open_bank,
    opened,
    run,
    save_snapshot,
    view,
)
from trio_eventsourcing import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    Ok,
    Result,
    Snapshot,
)
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountEvent,
    DepositMoney,
    OpenAccount,
)
from trio_eventsourcing.projections import LogRecord

ACCOUNTS = CODEC
STATEMENTS = bank_codec("bank_statement")


class Statistics(Protocol):
    @property
    def transactions(self) -> int: ...
    @property
    def commits(self) -> int: ...


class Database(Protocol):
    """What the contract uses of a database."""

    def event_store(self, codec: JsonCodec[BankAccountEvent, BankAccount]) -> BankStore: ...
    def statistics(self) -> Statistics: ...


class AggregateTypesContract:
    """What a database of many aggregate types promises, whatever its backend."""

    has_writer: ClassVar[bool] = True
    """Whether the database has a writer that counts commits, and knows codecs."""

    def open_database(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Any]:
        """A running database (a fresh one for each test) for the duration of the block."""
        raise NotImplementedError

    async def read_log(
        self, store: BankStore, start_from: int = 0, limit: int = 1_000
    ) -> Result[Sequence[LogRecord[BankAccountEvent]], Any]:
        """The backend's ``read_log``."""
        raise NotImplementedError

    async def test_the_same_id_in_two_aggregate_types_is_two_aggregates(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            both: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5)]
            assert isinstance(await append(statements, "acc-1", 0, both), Ok)
            assert view(await load(accounts, "acc-1")) == [("acc-1", 1, opened("acc-1"), [])]
            assert [e.sequence for e in await load(statements, "acc-1")] == [1, 2]

    async def test_a_stale_sequence_is_a_conflict_within_its_aggregate_type_only(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            stale = await append(accounts, "acc-1", 0, [opened("acc-1")])
            assert isinstance(stale, Error)
            assert stale.error == ConcurrencyConflict("acc-1", 0, 1)
            assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")]), Ok)

    async def test_an_idempotency_key_is_kept_per_aggregate_type(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
            assert not await is_stored(statements, "acc-1", "k")
            assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
            again = await append(accounts, "acc-1", 1, [deposited(1, 1)], key="k")
            assert again == Error(CommandAlreadyStored("acc-1", "k"))
            assert await is_stored(accounts, "acc-1", "k")
            assert await is_stored(statements, "acc-1", "k")

    async def test_a_snapshot_is_kept_per_aggregate_type(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            taken = Snapshot("acc-1", BankAccount(), 1, SNAPSHOT_TIME)
            assert isinstance(await save_snapshot(accounts, taken), Ok)
            assert await load_snapshot(statements, "acc-1") is None
            assert await load_snapshot(accounts, "acc-1") == taken

    async def test_the_log_of_each_store_holds_its_aggregate_type_in_commit_order(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            for n in range(3):
                assert isinstance(await append(accounts, f"a-{n}", 0, [opened(f"a-{n}")]), Ok)
                assert isinstance(await append(statements, f"s-{n}", 0, [opened(f"s-{n}")]), Ok)
            account_log = (await self.read_log(accounts)).unwrap()
            statement_log = (await self.read_log(statements)).unwrap()
            assert [e.envelope.aggregate_id for e in account_log] == ["a-0", "a-1", "a-2"]
            assert [e.envelope.aggregate_id for e in statement_log] == ["s-0", "s-1", "s-2"]
            positions = sorted(e.position for e in [*account_log, *statement_log])
            assert positions == list(range(positions[0], positions[0] + 6))
            assert [e.position for e in account_log] == positions[0::2]

    async def test_one_writer_commits_the_aggregate_types_together(self, tmp_path: Path) -> None:
        if not self.has_writer:
            pytest.skip(f"{type(self).__name__} has no writer: commands commit one by one")
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            failures: list[object] = []

            async def open_one(store: BankStore, aggregate_id: str) -> None:
                outcome = await append(store, aggregate_id, 0, [opened(aggregate_id)])
                if not isinstance(outcome, Ok):
                    failures.append(outcome)

            async with trio.open_nursery() as nursery:
                for n in range(50):
                    nursery.start_soon(open_one, accounts, f"acc-{n}")
                    nursery.start_soon(open_one, statements, f"acc-{n}")
            assert failures == []
            stats = database.statistics()
            assert stats.transactions == 100
            # Group commit across the types: far fewer commits than transactions.
            assert stats.commits < stats.transactions
            assert accounts.eventstore.statistics() == stats
            assert statements.eventstore.statistics() == stats

    async def test_a_second_codec_for_one_aggregate_type_is_refused(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            assert database.event_store(ACCOUNTS) is accounts
            other = bank_codec()
            with pytest.raises(ValueError, match="'bank_account' already has a store"):
                database.event_store(other)
            if self.has_writer:
                with pytest.raises(TypeError, match="codec must be a Codec"):
                    database.event_store("bank_account")

    async def test_two_systems_run_on_one_database(self, tmp_path: Path) -> None:
        async with (
            self.open_database(tmp_path) as database,
            open_bank(database.event_store(ACCOUNTS)) as accounts,
            open_bank(database.event_store(STATEMENTS)) as statements,
        ):
            assert await run(accounts, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(statements, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(accounts, "acc-1", DepositMoney(Decimal(7))) == Ok(None)
            account_events = await load(database.event_store(ACCOUNTS), "acc-1")
            statement_events = await load(database.event_store(STATEMENTS), "acc-1")
            assert [e.sequence for e in account_events] == [1, 2]
            assert [e.sequence for e in statement_events] == [1]
