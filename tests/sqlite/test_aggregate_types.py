"""One SQLite file for many aggregate types: the shared contract, and the file's upgrade."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import trio

from tests.contracts.aggregate_types_contract import (
    ACCOUNTS,
    STATEMENTS,
    AggregateTypesContract,
)
from tests.contracts.store_contract import (
    BankStore,
    append,
    deposited,
    is_stored,
    load,
    load_snapshot,
    opened,
)
from tests.sqlite.old_versions import version_3_file, version_4_file
from trio_eventsourcing import Ok, Result, sqlite_store
from trio_eventsourcing.examples.bank_account import BankAccountEvent
from trio_eventsourcing.projections import LogRecord


@contextlib.asynccontextmanager
async def running_database(path: Path) -> AsyncIterator[sqlite_store.SqliteDatabase]:
    """A database on ``path`` whose child runs for the duration of the block."""
    database, spec = sqlite_store.supervised_database(path)
    async with trio.open_nursery() as nursery:
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield database
        finally:
            supervisor.shutdown()


class TestSqliteAggregateTypes(AggregateTypesContract):
    def open_database(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Any]:
        return running_database(tmp_path / "types.db")

    async def read_log(
        self, store: BankStore, start_from: int = 0, limit: int = 1_000
    ) -> Result[Sequence[LogRecord[BankAccountEvent]], Any]:
        return await sqlite_store.read_log(store, start_from, limit)


async def test_a_version_3_file_is_upgraded_keeping_everything_it_held(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    version_3_file(path)
    async with running_database(path) as database:
        accounts = database.event_store(ACCOUNTS)
        statements = database.event_store(STATEMENTS)
        assert [e.sequence for e in await load(accounts, "acc-1")] == [1, 2]
        assert await is_stored(accounts, "acc-1", "opening")
        snapshot = await load_snapshot(accounts, "acc-1")
        assert snapshot is not None
        assert snapshot.sequence == 2
        log = (await sqlite_store.read_log(accounts)).unwrap()
        assert [entry.position for entry in log] == [1, 2]
        # What version 3 refused: the same id in another aggregate type.
        assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")]), Ok)
        assert isinstance(await append(accounts, "acc-1", 2, [opened("acc-1")]), Ok)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (
            sqlite_store.SCHEMA_VERSION,
        )
        checkpoints = connection.execute(
            "SELECT aggregate_type, name, position FROM projection_checkpoints"
        ).fetchall()
        assert checkpoints == [("bank_account", "balances", 2)]
    finally:
        connection.close()


async def test_an_upgrade_that_fails_leaves_the_version_3_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    version_3_file(path)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A table in the way of the rebuild makes the upgrade fail half-way.
        connection.execute("CREATE TABLE events_v4 (x)")
    finally:
        connection.close()
    _, spec = sqlite_store.supervised_database(path)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
        assert not isinstance(started, Ok)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (3,)
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (2,)
        assert connection.execute("SELECT count(*) FROM command_keys").fetchone() == (1,)
    finally:
        connection.close()


async def test_a_version_4_file_is_upgraded_and_its_events_have_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    version_4_file(path)
    async with running_database(path) as database:
        accounts = database.event_store(ACCOUNTS)
        before = await load(accounts, "acc-1")
        assert [(e.sequence, e.metadata) for e in before] == [
            (1, [("user", "alice")]),
            (2, [("user", "alice")]),
        ]
        assert {(e.correlation_id, e.causation_id) for e in before} == {("", "")}
        assert await is_stored(accounts, "acc-1", "opening")
        snapshot = await load_snapshot(accounts, "acc-1")
        assert snapshot is not None
        assert snapshot.sequence == 2
        traced = [("$correlation_id", "order-9"), ("$causation_id", "pay-1")]
        assert isinstance(await append(accounts, "acc-1", 2, [deposited(1, 6)], traced), Ok)
        after = await load(accounts, "acc-1")
        assert (after[-1].metadata, after[-1].correlation_id, after[-1].causation_id) == (
            [],
            "order-9",
            "pay-1",
        )
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (
            sqlite_store.SCHEMA_VERSION,
        )
    finally:
        connection.close()
