"""One PostgreSQL database for many aggregate types: the shared contract, and the upgrade."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
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
from tests.postgres.helpers import require_server, rows, throwaway_schema
from tests.postgres.old_versions import version_2_tables, version_3_tables
from trio_eventsourcing import Ok, Result, postgres_store
from trio_eventsourcing.examples.bank_account import BankAccountEvent
from trio_eventsourcing.projections import LogRecord


@contextlib.asynccontextmanager
async def running_database(dsn: str, schema: str) -> AsyncIterator[postgres_store.PostgresDatabase]:
    """A database in ``schema`` whose child runs for the duration of the block."""
    database, spec = postgres_store.supervised_database(dsn, schema=schema)
    async with trio.open_nursery() as nursery:
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield database
        finally:
            supervisor.shutdown()


@contextlib.asynccontextmanager
async def _throwaway_database(dsn: str) -> AsyncIterator[postgres_store.PostgresDatabase]:
    with throwaway_schema(dsn) as schema:
        async with running_database(dsn, schema) as database:
            yield database


class TestPostgresAggregateTypes(AggregateTypesContract):
    @pytest.fixture(autouse=True)
    def _server(self) -> None:
        self.dsn = require_server()

    def open_database(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Any]:
        return _throwaway_database(self.dsn)

    async def read_log(
        self, store: BankStore, start_from: int = 0, limit: int = 1_000
    ) -> Result[Sequence[LogRecord[BankAccountEvent]], Any]:
        return await postgres_store.read_log(store, start_from, limit)


async def test_version_2_tables_are_upgraded_keeping_everything_they_held(
    dsn: str, schema: str
) -> None:
    version_2_tables(dsn, schema)
    async with running_database(dsn, schema) as database:
        accounts = database.event_store(ACCOUNTS)
        statements = database.event_store(STATEMENTS)
        assert [e.sequence for e in await load(accounts, "acc-1")] == [1, 2]
        assert await is_stored(accounts, "acc-1", "opening")
        snapshot = await load_snapshot(accounts, "acc-1")
        assert snapshot is not None
        assert snapshot.sequence == 2
        # What version 2 refused: the same id in another aggregate type, and its key.
        both: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5)]
        assert isinstance(await append(statements, "acc-1", 0, both, key="opening"), Ok)
        assert isinstance(await append(accounts, "acc-1", 2, [deposited(1, 6)]), Ok)
    assert rows(dsn, f'SELECT schema_version FROM "{schema}"."trio_es_store"') == [(4,)]


async def test_version_3_tables_are_upgraded_and_their_events_have_no_trace(
    dsn: str, schema: str
) -> None:
    version_3_tables(dsn, schema)
    async with running_database(dsn, schema) as database:
        accounts = database.event_store(ACCOUNTS)
        before = await load(accounts, "acc-1")
        assert [(e.sequence, e.metadata) for e in before] == [
            (1, [("user", "alice")]),
            (2, [("user", "alice")]),
        ]
        assert {(e.correlation_id, e.causation_id) for e in before} == {("", "")}
        assert await is_stored(accounts, "acc-1", "opening")
        traced = [("$correlation_id", "order-9"), ("$causation_id", "pay-1")]
        assert isinstance(await append(accounts, "acc-1", 2, [deposited(1, 6)], traced), Ok)
        after = await load(accounts, "acc-1")
        assert (after[-1].metadata, after[-1].correlation_id, after[-1].causation_id) == (
            [],
            "order-9",
            "pay-1",
        )
    assert rows(dsn, f'SELECT schema_version FROM "{schema}"."trio_es_store"') == [(4,)]
