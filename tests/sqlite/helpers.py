"""What the SQLite store tests share: the bank-account codec and a running store."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from trio_eventsourcing import sqlite_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)
from trio_eventsourcing.sqlite_store import Synchronous

CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)

BankSqliteStore = sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent]

WRITER_THREAD_PREFIX = "trio-eventsourcing SQLite writer"


@contextlib.asynccontextmanager
async def running_store(
    path: Path,
    codec: JsonCodec[BankAccountEvent, BankAccount] = CODEC,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: int = 5_000,
    max_readers: int = 4,
) -> AsyncIterator[BankSqliteStore]:
    """An SQLite store on ``path`` whose child runs for the duration of the block."""
    store, spec = sqlite_store.supervised(
        path, codec, synchronous=synchronous, busy_timeout=busy_timeout, max_readers=max_readers
    )
    async with trio.open_nursery() as nursery:
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield store
        finally:
            supervisor.shutdown()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run one query on the file with a plain connection (for checks from outside)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return [tuple(row) for row in connection.execute(sql).fetchall()]


def execute(path: Path, *statements: str) -> None:
    """Change the file from outside the store, as a person with the sqlite3 shell might."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for statement in statements:
            connection.execute(statement)


def writer_threads() -> list[str]:
    """The names of the SQLite writer threads alive now."""
    return [t.name for t in threading.enumerate() if t.name.startswith(WRITER_THREAD_PREFIX)]
