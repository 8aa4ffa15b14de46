"""What the SQLite store tests share: the bank-account codec and a running store."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio.testing

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

T = TypeVar("T")

WRITER_THREAD_PREFIX = "trio-eventsourcing SQLite writer"


@contextlib.asynccontextmanager
async def running_store(
    path: Path,
    codec: JsonCodec[BankAccountEvent, BankAccount] = CODEC,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
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


async def wait_until_taken(store: BankSqliteStore, batches_before: int) -> None:
    """Wait until the writer thread has closed a new batch and begun storing it."""
    counters = store.eventstore._counters
    # The writer is a real thread with no Trio event to wait on: poll its counter.
    while counters.batches_begun <= batches_before:  # noqa: ASYNC110
        await trio.sleep(0.001)


async def in_one_batch(
    store: BankSqliteStore,
    barrier: Callable[[], Awaitable[object]],
    writes: list[Callable[[], Awaitable[T]]],
) -> list[T]:
    """Run ``writes`` so that the writer stores them all in one batch; their outcomes.

    ``barrier`` is written first, while another connection holds the file's write lock
    (the store must wait for it: a long ``busy_timeout``): the writer takes it and
    waits, and ``writes`` queue behind it, in order, to be taken together once the lock
    is free.
    """
    outcomes: dict[int, T] = {}

    async def write(index: int) -> None:
        outcomes[index] = await writes[index]()

    batches = store.eventstore._counters.batches_begun
    async with trio.open_nursery() as nursery:
        with write_lock_held(Path(store.eventstore.path)):
            nursery.start_soon(barrier)
            await wait_until_taken(store, batches)
            for index in range(len(writes)):
                # One at a time, so that they queue in this order (Trio may start the
                # tasks of one batch in any order).
                nursery.start_soon(write, index)
                await trio.testing.wait_all_tasks_blocked()
    return [outcomes[index] for index in range(len(writes))]
