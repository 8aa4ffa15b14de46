"""Static type tests of the projections API: checked by mypy, never run (not ``test_*``).

``assert_type`` lines are positive tests; each ``# type: ignore[code]`` line is a negative
test (mypy runs with ``--warn-unused-ignores``: an error that goes away fails the check).
What must hold: a handler's entry type matches its store's, a ``transactional`` handler
takes its store's transaction handle and the memory store takes none, and a handler
written for ``LogRecord`` runs on every store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg
import trio
from typing_extensions import assert_type

from trio_eventsourcing import memory_store, postgres_store, projections, sqlite_store
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent
from trio_eventsourcing.projections import LogRecord, ProjectionHandle
from trio_eventsourcing.supervision import ChildSpecification

Memory = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]
Sqlite = sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent]
Postgres = postgres_store.PostgresEventStore[BankAccount, BankAccountEvent]
SqliteEntry = sqlite_store.LogEntry[BankAccountEvent]
MemoryEntry = memory_store.MemoryLogEntry[BankAccountEvent]


def on_any(entry: LogRecord[BankAccountEvent]) -> None: ...
def on_sqlite(entry: SqliteEntry) -> None: ...
def on_memory(entry: MemoryEntry) -> None: ...
async def on_batch(entries: Sequence[SqliteEntry]) -> None: ...
def in_sqlite(connection: sqlite3.Connection, entries: Sequence[SqliteEntry]) -> None: ...
def in_postgres(connection: psycopg.Connection[Any], entries: Sequence[SqliteEntry]) -> None: ...


def handlers_take_their_stores_entries(memory: Memory, sqlite: Sqlite, pg: Postgres) -> None:
    anywhere = projections.per_event("anywhere", on_any)
    assert_type(anywhere, projections.Projection[LogRecord[BankAccountEvent], object])
    spec = projections.supervised(memory, anywhere)
    assert_type(spec, tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]])
    projections.supervised(sqlite, anywhere)
    projections.supervised(pg, anywhere)
    for_sqlite = projections.per_event("s", on_sqlite)
    for_memory = projections.per_event("m", on_memory)
    projections.supervised(sqlite, for_sqlite)
    projections.supervised(pg, projections.per_batch("b", on_batch))
    projections.supervised(memory, for_memory)
    projections.supervised(sqlite, for_memory)  # type: ignore[arg-type]
    projections.supervised(memory, for_sqlite)  # type: ignore[arg-type]


def transactional_handlers_take_their_stores_handle(
    memory: Memory, sqlite: Sqlite, pg: Postgres
) -> None:
    in_file = projections.transactional("t", in_sqlite)
    assert_type(in_file, projections.Projection[SqliteEntry, sqlite3.Connection])
    in_server = projections.transactional("t", in_postgres)
    projections.supervised(sqlite, in_file)
    projections.supervised(pg, in_server)
    projections.supervised(memory, in_file)  # type: ignore[arg-type]
    projections.supervised(pg, in_file)  # type: ignore[arg-type]
    projections.supervised(sqlite, in_server)  # type: ignore[arg-type]


async def following_yields_the_stores_entries(memory: Memory, sqlite: Sqlite) -> None:
    async with projections.follow_log(sqlite, projections.Current) as entries:
        assert_type(entries, trio.abc.ReceiveChannel[SqliteEntry])
    async with projections.follow_log(memory.eventstore) as in_memory:
        assert_type(in_memory, trio.abc.ReceiveChannel[MemoryEntry])
    projections.follow_log(sqlite, "0")  # type: ignore[call-overload]


async def the_tools_are_store_neutral(memory: Memory, sqlite: Sqlite, pg: Postgres) -> None:
    for store in (memory, sqlite, pg):
        assert_type((await projections.checkpoint(store, "x")).unwrap(), int | None)
        await projections.reset(store, "x")
    assert_type(
        (await projections.dead_letters(sqlite, "x")).unwrap(), list[projections.DeadLetter]
    )
