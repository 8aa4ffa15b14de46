"""The PostgreSQL store: the shared contracts, run in a schema of the test's own.

More PostgreSQL tests live in ``tests/postgres``: the tables, keys and names of their
own, the global log's order under writers on several connections, NOTIFY, lost
connections and commits in doubt, secrets, and projections across processes. They all
need a server: see ``tests/postgres/helpers.py`` for how it is found, and when the tests
skip or fail.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.contracts.bad_data_contract import BadDataContract
from tests.contracts.beside_another_type import beside_statements
from tests.contracts.durable_contract import DurableBackend, DurableStoreContract
from tests.contracts.durable_support import CODEC, Spec, started
from tests.contracts.log_contract import LogContract, LogPage
from tests.contracts.process_manager_contract import ProcessManagerContract
from tests.contracts.processes_contract import ProcessesContract
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import BankStore, StoreContract
from tests.postgres.helpers import (
    ThrowawaySchema,
    execute,
    position_lock_held,
    rows,
    running_store,
    store_backends,
    wait_until,
    waiting,
)
from tests.postgres.old_versions import version_1_tables
from trio_eventsourcing import postgres_store
from trio_eventsourcing._stores.postgres.writer import PostgresWriteConnection

KEY_INDEX = "trio_es_events_by_command_key"


class OnThrowawaySchema(ThrowawaySchema):
    """A store in the test's schema, whatever ``tmp_path`` a contract passes."""

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(self.dsn, self.schema)


class TestPostgresStore(OnThrowawaySchema, StoreContract):
    is_durable = True


class TestPostgresLog(OnThrowawaySchema, LogContract):
    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await postgres_store.read_log(store, start_from, limit)


class TestPostgresProjections(OnThrowawaySchema, ProjectionContract):
    pass


class TestPostgresProcessManagers(OnThrowawaySchema, ProcessManagerContract):
    is_durable = True

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await postgres_store.read_log(store, start_from, limit)


class BesideAnotherType(ThrowawaySchema):
    """The accounts' store of a database of the test's schema, beside the statements'."""

    statements_hold_events: ClassVar[bool] = False

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return beside_statements(
            started(*postgres_store.supervised_database(self.dsn, schema=self.schema)),
            lambda database, codec: database.event_store(codec),
            fill=self.statements_hold_events,
        )


class TestPostgresStoreBesideAnotherType(BesideAnotherType, StoreContract):
    is_durable = True
    statements_hold_events = True


class TestPostgresLogBesideAnotherType(BesideAnotherType, LogContract):
    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await postgres_store.read_log(store, start_from, limit)


class TestPostgresProjectionsBesideAnotherType(BesideAnotherType, ProjectionContract):
    pass


class PostgresBackend(ThrowawaySchema, DurableBackend):
    """The durable contracts' hooks: the tables of the test's own schema."""

    logger_name = "trio_eventsourcing.postgres_store"
    current_version = postgres_store.SCHEMA_VERSION
    table_prefix = "trio_es_"

    @property
    def qualifier(self) -> str:
        return f'"{self.schema}".'

    def describe(self, codec: Any = CODEC) -> tuple[Any, Spec]:
        return postgres_store.supervised(self.dsn, codec, schema=self.schema)

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await postgres_store.read_log(store, start_from, limit)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return rows(self.dsn, sql)

    def execute(self, sql: str) -> None:
        execute(self.dsn, sql)

    def where(self, store: BankStore) -> str:
        return f"PostgreSQL {store.eventstore.server}"

    def not_started(self, store: BankStore) -> str:
        return (
            f'the PostgreSQL store {store.eventstore.server} ("{self.schema}"."trio_es_events")'
            " is not started: start the child specification from postgres_store.supervised()"
            " under a supervisor first"
        )

    async def nothing_left_running(self) -> None:
        # The server ends a backend a moment after its client closes the connection.
        await wait_until(lambda: store_backends(self.dsn, self.schema) == [])

    def check_backend_integrity(self) -> None:
        # The store row numbers the positions: it holds the last one given.
        (last,) = self.rows(f"SELECT last_position FROM {self.table('store')}")
        (top,) = self.rows(f"SELECT coalesce(max(position), 0) FROM {self.table('events')}")
        assert last == top

    def fingerprint(self) -> object:
        tables = rows(
            self.dsn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            (self.schema,),
        )
        return {
            name: self.rows(f'SELECT * FROM "{self.schema}"."{name}" ORDER BY 1')
            for (name,) in tables
        }

    def set_version(self, version: int) -> None:
        self.execute(f"UPDATE {self.table('store')} SET schema_version = {version}")

    def version(self) -> int:
        ((version,),) = self.rows(f"SELECT schema_version FROM {self.table('store')}")
        return int(version)

    def write_version_before_keys(self) -> int:
        version_1_tables(self.dsn, self.schema)
        return 1

    def stored_keys(self) -> list[tuple[str, str]]:
        found = self.rows(
            f"SELECT aggregate_id, command_key FROM {self.table('events')}"
            " WHERE command_key IS NOT NULL ORDER BY 1, 2"
        )
        return [(aggregate_id, key) for aggregate_id, key in found]

    def drop_keys(self) -> str:
        self.execute(f'DROP INDEX "{self.schema}".{KEY_INDEX}')
        return KEY_INDEX

    def write_lock_held(self) -> contextlib.AbstractContextManager[object]:
        return position_lock_held(self.dsn, self.schema)

    async def wait_until_taken(self, store: BankStore, batches_before: int) -> None:
        await super().wait_until_taken(store, batches_before)
        # The writer's transaction waits for the position lock.
        await wait_until(lambda: waiting(self.dsn, self.schema, {"transactionid", "tuple"}) == 1)

    def refuse(self, aggregate_id: str) -> str:
        self.execute(
            f"ALTER TABLE {self.table('events')}"
            f" ADD CONSTRAINT refuse CHECK (aggregate_id <> '{aggregate_id}')"
        )
        return "CheckViolation"

    def crash_writer_once(self, monkeypatch: pytest.MonkeyPatch) -> list[int]:
        # The writer raises inside its transaction, as it decides a request.
        decide = PostgresWriteConnection._decide
        crashes: list[int] = []

        def crash_once(self: PostgresWriteConnection, request: Any, *checks: Any) -> bool:
            if not crashes:
                crashes.append(1)
                raise RuntimeError("a bug in the writer")
            return decide(self, request, *checks)

        monkeypatch.setattr(PostgresWriteConnection, "_decide", crash_once)
        return crashes

    def crash_after_commit_once(self, monkeypatch: pytest.MonkeyPatch) -> list[object]:
        commit = PostgresWriteConnection._commit
        crashes: list[object] = []

        def crash_once(self: PostgresWriteConnection, connection: Any, batch: list[Any]) -> None:
            commit(self, connection, batch)
            if not crashes:
                crashes.append(len(batch))
                raise RuntimeError("a bug in the writer, after the commit")

        monkeypatch.setattr(PostgresWriteConnection, "_commit", crash_once)
        return crashes

    def child_args(self) -> list[str]:
        return ["postgres", self.dsn, self.schema]


class TestPostgresDurable(PostgresBackend, DurableStoreContract):
    @pytest.fixture(
        params=[("bad\ud800id", "lone surrogate"), ("nul\x00id", "NUL")], ids=["surrogate", "nul"]
    )
    def unreadable_id(self, request: pytest.FixtureRequest) -> tuple[str, str]:
        value: tuple[str, str] = request.param
        return value


class TestPostgresBadData(PostgresBackend, BadDataContract):
    pass


class TestPostgresProcesses(PostgresBackend, ProcessesContract):
    pass
