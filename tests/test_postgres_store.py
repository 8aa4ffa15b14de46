"""The PostgreSQL store: the shared store contract, plus what PostgreSQL adds to it.

More PostgreSQL tests live in ``tests/postgres``: the tables and their versions, the
global log and its ordering under concurrent writers, NOTIFY, lost connections and
secrets, two processes at once and ``kill -9``. They all need a server: see
``tests/postgres/helpers.py`` for how it is found, and when the tests skip or fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.log_contract import LogContract, LogPage
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import (
    BankStore,
    StoreContract,
    answer,
    append,
    deposited,
    load,
    open_bank,
    opened,
    run,
)
from tests.postgres.helpers import require_server, running_store, throwaway_schema
from trio_eventsourcing import Ok, SerializedEventEnvelop, postgres_store
from trio_eventsourcing.examples.bank_account import DepositMoney, OpenAccount


@pytest.fixture
def dsn() -> str:
    return require_server()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    with throwaway_schema(dsn) as name:
        yield name


class OnThrowawaySchema:
    """A store in a schema of the test's own, whatever ``tmp_path`` a contract passes.

    A durable store reopened in the same test must find what it stored, so the schema
    belongs to the test, not to one ``open_store``.
    """

    dsn: str
    schema: str

    @pytest.fixture(autouse=True)
    def _schema_of_the_test(self) -> Iterator[None]:
        self.dsn = require_server()
        with throwaway_schema(self.dsn) as schema:
            self.schema = schema
            yield

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return running_store(self.dsn, self.schema)


class TestPostgresStore(OnThrowawaySchema, StoreContract):
    is_durable = True


class TestPostgresLog(OnThrowawaySchema, LogContract):
    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await postgres_store.read_log(store, start_from, limit)


class TestPostgresProjections(OnThrowawaySchema, ProjectionContract):
    pass


async def test_events_come_back_as_serialized_envelopes(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        committed = await append(
            store, "acc-1", 0, [opened("acc-1"), deposited(5, 5)], [("k", "v")]
        )
        assert isinstance(committed, Ok), committed
        expected = [
            SerializedEventEnvelop(
                "acc-1", 1, opened("acc-1"), [("k", "v")], "AccountOpened", "1", "bank_account"
            ),
            SerializedEventEnvelop(
                "acc-1",
                2,
                deposited(5, 5),
                [("k", "v")],
                "CustomerDepositedCash",
                "1",
                "bank_account",
            ),
        ]
        assert committed.value == expected
        assert await load(store, "acc-1") == expected


async def test_a_bank_runs_on_the_store_and_reopens_with_its_state(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store, open_bank(store, snapshot_every=5) as bank:
        assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
        for amount in range(1, 13):
            assert await run(bank, "acc-1", DepositMoney(Decimal(amount))) == Ok(None)
        before = await answer(eventsourcing.load_aggregate(bank, "acc-1"))
        snapshot = await answer(eventsourcing.latest_snapshot(bank, "acc-1"))
    assert isinstance(snapshot, Ok)
    assert snapshot.value is not None
    assert snapshot.value.sequence == 10
    async with running_store(dsn, schema) as store, open_bank(store) as bank:
        assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == before
        assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == snapshot
