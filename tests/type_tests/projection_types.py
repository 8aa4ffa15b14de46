"""Static type tests of projections and log selections: checked by mypy and pyright, never run.

A selection's entries are typed by what it selects: ``only`` narrows the event type to
the classes given, ``|`` joins two selections into the union of their events, and the
store's kind gives the entry and transaction types. Each ``# type: ignore[code]`` line is
a negative test (mypy runs with ``--warn-unused-ignores``).
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import Never, assert_type

from trio_eventsourcing import memory_store, projections, sqlite_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)


@dataclass(frozen=True)
class TransferStarted:
    amount: int


@dataclass(frozen=True)
class Transfer:
    amount: int


def sqlite_selections(
    accounts: sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent],
    transfers: sqlite_store.SqliteEventStore[Transfer, TransferStarted],
) -> None:
    every = projections.select(accounts)
    assert_type(every, projections.LogSelection[BankAccountEvent, sqlite3.Connection])
    deposits = every.only(CustomerDepositedCash)
    assert_type(deposits, projections.LogSelection[CustomerDepositedCash, sqlite3.Connection])
    moves = every.only(CustomerDepositedCash, CustomerWithdrewCash)
    assert_type(
        moves,
        projections.LogSelection[CustomerDepositedCash | CustomerWithdrewCash, sqlite3.Connection],
    )
    joined = deposits | projections.select(transfers)
    assert_type(
        joined,
        projections.LogSelection[CustomerDepositedCash | TransferStarted, sqlite3.Connection],
    )

    def on_joined(entry: sqlite_store.LogEntry[CustomerDepositedCash | TransferStarted]) -> None:
        assert_type(entry.envelope.payload, CustomerDepositedCash | TransferStarted)

    def on_transfers(entry: sqlite_store.LogEntry[TransferStarted]) -> None: ...

    def in_transaction(
        db: sqlite3.Connection,
        entries: Sequence[sqlite_store.LogEntry[CustomerDepositedCash | TransferStarted]],
    ) -> None: ...

    projections.supervised(joined, projections.per_event("joined", on_joined))
    projections.supervised(joined, projections.transactional("joined", in_transaction))
    # A handler of less than the selection reads is refused.
    projections.supervised(joined, projections.per_event("t", on_transfers))  # type: ignore[arg-type]


def memory_selections(
    accounts: memory_store.MemoryEventStore[BankAccount, BankAccountEvent],
) -> None:
    opened = projections.select(accounts).only(AccountOpened)
    assert_type(opened, projections.LogSelection[AccountOpened, Never])

    def on_opened(entry: memory_store.MemoryLogEntry[AccountOpened]) -> None: ...

    projections.supervised(opened, projections.per_event("opened", on_opened))


def mixed_stores(
    accounts: memory_store.MemoryEventStore[BankAccount, BankAccountEvent],
    codec: JsonCodec[TransferStarted, Transfer],
) -> None:
    transfers, _ = sqlite_store.supervised("bank.db", codec)
    # Two kinds of store are never one database.
    _ = projections.select(accounts) | projections.select(transfers)  # type: ignore[operator]


def projections_held_in_variables(
    accounts: sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent],
    in_memory: memory_store.MemoryEventStore[BankAccount, BankAccountEvent],
) -> None:
    # A projection made first and run later, as a projection module would export it.
    def on_batch(entries: Sequence[projections.LogRecord[BankAccountEvent]]) -> None: ...

    def on_sqlite(entry: sqlite_store.LogEntry[BankAccountEvent]) -> None: ...

    def on_memory(entry: memory_store.MemoryLogEntry[BankAccountEvent]) -> None: ...

    def on_deposit(entry: projections.LogRecord[CustomerDepositedCash]) -> None: ...

    def on_anything(entry: projections.LogRecord[object]) -> None: ...

    every_store = projections.per_batch("search", on_batch)
    assert_type(
        every_store, projections.Projection[projections.LogRecord[BankAccountEvent], object]
    )
    handle, _ = projections.supervised(accounts, every_store)
    assert_type(handle, projections.ProjectionHandle)
    projections.supervised(in_memory, every_store)
    projections.supervised(projections.select(accounts), every_store)
    projections.supervised(accounts, projections.per_event("any", on_anything))
    projections.supervised(in_memory, projections.per_event("any", on_anything))
    sqlite_only = projections.per_event("sqlite", on_sqlite)
    projections.supervised(accounts, sqlite_only)
    memory_only = projections.per_event("memory", on_memory)
    projections.supervised(in_memory, memory_only)
    deposits = projections.per_event("deposits", on_deposit)
    projections.supervised(projections.select(accounts).only(CustomerDepositedCash), deposits)
    # Still refused: a store's entries the handler cannot take, or fewer events than read.
    projections.supervised(in_memory, sqlite_only)  # type: ignore[arg-type]
    projections.supervised(accounts, memory_only)  # type: ignore[arg-type]
    projections.supervised(accounts, deposits)  # type: ignore[arg-type]


def where_the_checkpoint_is_kept(
    accounts: sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent],
) -> None:
    balances: dict[str, int] = {}

    def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
        balances[entry.envelope.aggregate_id] = entry.position

    in_memory = projections.per_event(
        "balances", on_event, on_reset=balances.clear, checkpoint=projections.InMemory
    )
    assert_type(in_memory.checkpoint_storage, projections.CheckpointStorage)
    projections.supervised(accounts, in_memory)
    projections.per_batch("b", print, checkpoint=projections.InStore)
    projections.per_event("x", on_event, checkpoint=True)  # type: ignore[arg-type]
    # A transactional read model is in the store's database: so is its checkpoint.
    projections.transactional("t", print, checkpoint=projections.InMemory)  # type: ignore[call-arg]
