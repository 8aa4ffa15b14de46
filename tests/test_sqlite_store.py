"""The SQLite store: the shared contracts, run on a file of the test's own.

More SQLite tests live in ``tests/sqlite``: the file and its schema, WAL, bad data of
SQLite's own, the writer's batches and readers, a full disk, and paths that are no file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.contracts.bad_data_contract import BadDataContract
from tests.contracts.beside_another_type import beside_statements
from tests.contracts.durable_contract import DurableBackend, DurableStoreContract
from tests.contracts.durable_support import CODEC, Spec, started
from tests.contracts.log_contract import LogContract, LogPage
from tests.contracts.process_manager_contract import ProcessManagerContract
from tests.contracts.processes_contract import ProcessesContract
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import BankStore, StoreContract
from tests.sqlite.helpers import (
    execute,
    file_bytes,
    rows,
    running_store,
    write_lock_held,
    writer_threads,
)
from tests.sqlite.old_versions import version_2_file
from trio_eventsourcing import sqlite_store
from trio_eventsourcing._stores.sqlite import writer as writer_module
from trio_eventsourcing._stores.sqlite.schema import COMMAND_KEYS_TABLE


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


class TestSqliteProcessManagers(ProcessManagerContract):
    is_durable = True

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(tmp_path / "processes.db")

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await sqlite_store.read_log(store, start_from, limit)


def _beside(path: Path, *, fill: bool) -> contextlib.AbstractAsyncContextManager[BankStore]:
    return beside_statements(
        started(*sqlite_store.supervised_database(path)),
        lambda database, codec: database.event_store(codec),
        fill=fill,
    )


class TestSqliteStoreBesideAnotherType(StoreContract):
    is_durable = True

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(tmp_path / "events.db", fill=True)


class TestSqliteLogBesideAnotherType(LogContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(tmp_path / "log.db", fill=False)

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await sqlite_store.read_log(store, start_from, limit)


class TestSqliteProjectionsBesideAnotherType(ProjectionContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(tmp_path / "projections.db", fill=False)


class _CrashAfterCommit:
    """A write connection whose first ``COMMIT`` succeeds, then raises a bug's error."""

    def __init__(self, connection: Any, crashes: list[object]) -> None:
        self._connection = connection
        self._crashes = crashes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def execute(self, sql: str, *parameters: Any) -> Any:
        cursor = self._connection.execute(sql, *parameters)
        if sql == "COMMIT" and not self._crashes:
            self._crashes.append(sql)
            raise RuntimeError("a bug in the writer, after the commit")
        return cursor


class SqliteBackend(DurableBackend):
    """The durable contracts' hooks: one file per test, in the test's ``tmp_path``."""

    logger_name = "trio_eventsourcing.sqlite_store"
    current_version = sqlite_store.SCHEMA_VERSION
    path: Path

    @pytest.fixture(autouse=True)
    def _file_of_the_test(self, tmp_path: Path) -> None:
        self.path = tmp_path / "store.db"

    def describe(self, codec: Any = CODEC) -> tuple[Any, Spec]:
        # A long busy timeout: tests hold the write lock from another connection.
        return sqlite_store.supervised(self.path, codec, busy_timeout=30.0)

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await sqlite_store.read_log(store, start_from, limit)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return rows(self.path, sql)

    def execute(self, sql: str) -> None:
        execute(self.path, sql)

    def where(self, store: BankStore) -> str:
        path: str = store.eventstore.path
        return path

    def not_started(self, store: BankStore) -> str:
        return (
            f"the SQLite store {store.eventstore.path!r} is not started: start the child "
            "specification from sqlite_store.supervised() under a supervisor first"
        )

    async def nothing_left_running(self) -> None:
        await trio.lowlevel.checkpoint()
        assert writer_threads() == []

    def check_backend_integrity(self) -> None:
        assert rows(self.path, "PRAGMA integrity_check") == [("ok",)]

    def fingerprint(self) -> object:
        return file_bytes(self.path)

    def set_version(self, version: int) -> None:
        execute(self.path, f"PRAGMA user_version = {version}")

    def version(self) -> int:
        ((version,),) = rows(self.path, "PRAGMA user_version")
        return int(version)

    def write_version_before_keys(self) -> int:
        version_2_file(self.path)
        return 2

    def stored_keys(self) -> list[tuple[str, str]]:
        found = rows(self.path, "SELECT aggregate_id, command_key FROM command_keys ORDER BY 1, 2")
        return [(aggregate_id, key) for aggregate_id, key in found]

    def drop_keys(self) -> str:
        execute(self.path, f"DROP TABLE {COMMAND_KEYS_TABLE}")
        return COMMAND_KEYS_TABLE

    def write_lock_held(self) -> contextlib.AbstractContextManager[object]:
        return write_lock_held(self.path)

    def refuse(self, aggregate_id: str) -> str:
        execute(
            self.path,
            "CREATE TRIGGER refuse BEFORE INSERT ON events"
            f" WHEN NEW.aggregate_id = '{aggregate_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        return "IntegrityError: refused"

    def crash_writer_once(self, monkeypatch: pytest.MonkeyPatch) -> list[int]:
        real_store = writer_module.SqliteWriteConnection.store
        crashes: list[int] = []

        def crash_once(self: writer_module.SqliteWriteConnection, batch: list[Any]) -> None:
            if not crashes:
                crashes.append(len(batch))
                raise RuntimeError("a bug in the writer")
            real_store(self, batch)

        monkeypatch.setattr(writer_module.SqliteWriteConnection, "store", crash_once)
        return crashes

    def crash_after_commit_once(self, monkeypatch: pytest.MonkeyPatch) -> list[object]:
        crashes: list[object] = []
        make = writer_module.SqliteWriteConnection.__init__

        def crashing(
            self: writer_module.SqliteWriteConnection, connection: Any, *rest: Any
        ) -> None:
            make(self, _CrashAfterCommit(connection, crashes), *rest)  # type: ignore[arg-type]

        monkeypatch.setattr(writer_module.SqliteWriteConnection, "__init__", crashing)
        return crashes

    def child_args(self) -> list[str]:
        return ["sqlite", str(self.path)]


class TestSqliteDurable(SqliteBackend, DurableStoreContract):
    pass


class TestSqliteBadData(SqliteBackend, BadDataContract):
    pass


class TestSqliteProcesses(SqliteBackend, ProcessesContract):
    @pytest.fixture(params=[40, 3_000])
    def acknowledgements(self, request: pytest.FixtureRequest) -> int:
        value: int = request.param
        return value
