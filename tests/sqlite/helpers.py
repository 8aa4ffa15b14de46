"""What the SQLite store tests share: the bank-account codec, a running store, the file."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tests.contracts import durable_support
from tests.contracts.durable_support import CODEC as CODEC
from tests.contracts.durable_support import BankCodec, started
from tests.contracts.durable_support import wait_until_taken as wait_until_taken
from trio_eventsourcing import sqlite_store
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent
from trio_eventsourcing.sqlite_store import Synchronous

BankSqliteStore = sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent]

T = TypeVar("T")

WRITER_THREAD_PREFIX = "trio-eventsourcing SQLite writer"


def running_store(
    path: Path,
    codec: BankCodec = CODEC,
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
    max_readers: int = 4,
) -> contextlib.AbstractAsyncContextManager[BankSqliteStore]:
    """An SQLite store on ``path`` whose child runs for the duration of the block."""
    return started(
        *sqlite_store.supervised(
            path, codec, synchronous=synchronous, busy_timeout=busy_timeout, max_readers=max_readers
        )
    )


STORE_TABLES = [
    "command_keys",
    "events",
    "process_manager_instances",
    "process_manager_outbox",
    "process_manager_positions",
    "process_manager_timers",
    "projection_checkpoints",
    "projection_dead_letters",
    "snapshots",
]
"""The tables of a store file of this version, by name."""


def tables(path: Path) -> list[str]:
    """The names of the tables in the file, in order."""
    found = rows(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in found]


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


def file_bytes(path: Path) -> dict[str, bytes]:
    """The bytes of the database file and any companion (-wal, -shm) files."""
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            found[suffix] = candidate.read_bytes()
    return found


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
    path = Path(store.eventstore.path)
    return await durable_support.in_one_batch(
        store,
        lambda: write_lock_held(path),
        lambda batches: wait_until_taken(store, batches),
        barrier,
        writes,
    )
