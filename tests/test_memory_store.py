"""The memory store: the shared store contract, plus what only the memory store promises."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.contracts.aggregate_types_contract import AggregateTypesContract
from tests.contracts.beside_another_type import beside_statements
from tests.contracts.durable_support import started
from tests.contracts.log_contract import LogContract, LogPage
from tests.contracts.process_manager_contract import ProcessManagerContract
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import (
    SNAPSHOT_TIME,
    BankStore,
    StoreContract,
    append,
    deposited,
    load,
    opened,
    save_snapshot,
)
from trio_eventsourcing import (
    Aggregate,
    Error,
    EventEnvelop,
    EventStoreError,
    MemoryStoreEventEnvelop,
    Ok,
    Result,
    Snapshot,
    StoreResult,
    memory_store,
    process,
)
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent
from trio_eventsourcing.projections import LogRecord
from trio_eventsourcing.static_supervisor import OneForOne

EventsName = process.Name[memory_store.GetEvents[BankAccountEvent]]
SnapshotName = process.Name[memory_store.GetSnapshot[BankAccount]]
Tx = memory_store.MemoryTransaction[BankAccount, BankAccountEvent]


def open_memory_store(
    events_name: EventsName | None = None, snapshot_name: SnapshotName | None = None
) -> contextlib.AbstractAsyncContextManager[
    memory_store.MemoryEventStore[BankAccount, BankAccountEvent]
]:
    """A memory store whose two actors run (in a nursery) for the duration of the block."""
    store, spec = memory_store.supervised(
        events_name or process.new_name("events"),
        snapshot_name or process.new_name("snapshots"),
        OneForOne,
    )
    return started(store, spec)


class _MemoryTypes:
    """Memory stores on one ``MemoryDatabase``, one per codec's aggregate type: the
    ``event_store(codec)`` of the aggregate-types contract."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.database = memory_store.MemoryDatabase()
        self._nursery = nursery
        self._stores: dict[object, BankStore] = {}

    def event_store(self, codec: JsonCodec[BankAccountEvent, BankAccount]) -> BankStore:
        store = self._stores.get(codec)
        if store is None:
            store, spec = memory_store.supervised(
                process.new_name("events"),
                process.new_name("snapshots"),
                OneForOne,
                database=self.database,
                aggregate_type=codec.aggregate_type,
            )
            # The store's tables work at once; its two query actors start meanwhile.
            self._nursery.start_soon(spec.start, self._nursery)
            self._stores[codec] = store
        return store


@contextlib.asynccontextmanager
async def _memory_types() -> AsyncIterator[_MemoryTypes]:
    async with trio.open_nursery() as nursery:
        yield _MemoryTypes(nursery)
        nursery.cancel_scope.cancel()


class TestMemoryAggregateTypes(AggregateTypesContract):
    has_writer = False

    def open_database(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Any]:
        return _memory_types()

    async def read_log(
        self, store: BankStore, start_from: int = 0, limit: int = 1_000
    ) -> Result[Sequence[LogRecord[BankAccountEvent]], Any]:
        return await memory_store.read_log(store, start_from, limit)


def test_a_store_on_a_memory_database_needs_its_own_aggregate_type() -> None:
    database = memory_store.MemoryDatabase()
    with pytest.raises(ValueError, match="needs an aggregate_type"):
        memory_store.supervised(
            process.new_name("e"), process.new_name("s"), OneForOne, database=database
        )
    memory_store.supervised(
        process.new_name("e"), process.new_name("s"), OneForOne, database=database,
        aggregate_type="account",
    )  # fmt: skip
    with pytest.raises(ValueError, match="'account' already has a store"):
        memory_store.supervised(
            process.new_name("e"), process.new_name("s"), OneForOne, database=database,
            aggregate_type="account",
        )  # fmt: skip
    with pytest.raises(TypeError, match="database must be a MemoryDatabase"):
        memory_store.supervised(
            process.new_name("e"), process.new_name("s"), OneForOne,
            database="shared", aggregate_type="x",  # type: ignore[arg-type]
        )  # fmt: skip
    assert repr(database) == "<MemoryDatabase [account], 0 events>"
    assert database.last_position == 0


class TestMemoryStore(StoreContract):
    is_durable = False

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return open_memory_store()


# --- memory only ------------------------------------------------------------------------


async def test_appends_extend_the_stored_stream_in_place() -> None:
    async with open_memory_store() as store:
        tables = store.eventstore
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        stream = tables.events["acc-1"]
        first = stream[0]
        for sequence in range(1, 50):
            assert isinstance(await append(store, "acc-1", sequence, [deposited(1, sequence)]), Ok)
        # The same list object, extended: an append does not copy the stream.
        assert tables.events["acc-1"] is stream
        assert stream[0] is first
        assert len(stream) == 50


async def test_loaded_events_are_a_copy_the_caller_may_change() -> None:
    async with open_memory_store() as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1"), deposited(1, 1)]), Ok)
        loaded = await load(store, "acc-1")
        loaded.clear()
        assert [e.sequence for e in await load(store, "acc-1")] == [1, 2]


async def test_envelopes_are_memory_store_envelopes() -> None:
    async with open_memory_store() as store:
        committed = await append(store, "acc-1", 0, [opened("acc-1")], [("k", "v")])
        expected = [MemoryStoreEventEnvelop("acc-1", 1, opened("acc-1"), [("k", "v")])]
        assert committed == Ok(expected)
        assert await load(store, "acc-1") == expected


async def test_the_events_actor_answers_get_events_by_name() -> None:
    events_name: EventsName = process.new_name("events")
    async with open_memory_store(events_name=events_name) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1"), deposited(4, 4)]), Ok)
        actor = process.named_subject(events_name)
        events: list[MemoryStoreEventEnvelop[BankAccountEvent]] = await process.call(
            actor, 1000, lambda reply_to: memory_store.GetEvents("acc-1", reply_to)
        )
        assert [(e.sequence, e.payload) for e in events] == [
            (1, opened("acc-1")),
            (2, deposited(4, 4)),
        ]
        nothing: list[MemoryStoreEventEnvelop[BankAccountEvent]] = await process.call(
            actor, 1000, lambda reply_to: memory_store.GetEvents("nobody", reply_to)
        )
        assert nothing == []


async def test_the_snapshot_actor_answers_get_snapshot_by_name() -> None:
    snapshot_name: SnapshotName = process.new_name("snapshots")
    async with open_memory_store(snapshot_name=snapshot_name) as store:
        actor = process.named_subject(snapshot_name)
        none: Snapshot[BankAccount] | None = await process.call(
            actor, 1000, lambda reply_to: memory_store.GetSnapshot("acc-1", reply_to)
        )
        assert none is None
        snapshot = Snapshot("acc-1", BankAccount(True, Decimal(3)), 2, SNAPSHOT_TIME)
        assert await save_snapshot(store, snapshot) == Ok(None)
        got: Snapshot[BankAccount] | None = await process.call(
            actor, 1000, lambda reply_to: memory_store.GetSnapshot("acc-1", reply_to)
        )
        assert got == snapshot


async def test_every_store_function_checkpoints() -> None:
    async with open_memory_store() as store:

        async def commit(tx: Tx) -> StoreResult[None]:
            with trio.testing.assert_checkpoints():
                result = await store.commit_events(
                    tx, Aggregate("acc-1", BankAccount(), 0), [opened("acc-1")], [], None
                )
            assert isinstance(result, Ok)
            with trio.testing.assert_checkpoints():
                snapshot = Snapshot("acc-1", BankAccount(True), 1, SNAPSHOT_TIME)
                return await store.save_snapshot(tx, snapshot)

        assert await store.execute_transaction(commit) == Ok(None)

        async def read(tx: Tx) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
            with trio.testing.assert_checkpoints():
                await store.load_events(store.eventstore, tx, "nobody", 0)
            with trio.testing.assert_checkpoints():
                await store.load_snapshot(tx, "acc-1")
            with trio.testing.assert_checkpoints():
                return await store.load_events(store.eventstore, tx, "acc-1", 0)

        loaded = await store.load_events_transaction(read)
        assert [e.sequence for e in loaded.unwrap()] == [1]

        async def read_nothing(tx: Tx) -> StoreResult[Snapshot[BankAccount] | None]:
            return Ok(None)

        async def write_nothing(tx: Tx) -> StoreResult[None]:
            return Ok(None)

        async def refuse(tx: Tx) -> StoreResult[None]:
            return Error(EventStoreError("no"))

        # The transaction functions checkpoint even when their body does not.
        with trio.testing.assert_checkpoints():
            await store.get_latest_snapshot_transaction(read_nothing)
        with trio.testing.assert_checkpoints():
            await store.execute_transaction(write_nothing)
        with trio.testing.assert_checkpoints():
            await store.execute_transaction(refuse)


def test_supervised_rejects_the_same_name_twice() -> None:
    name: process.Name[memory_store.GetEvents[int]] = process.new_name("both")
    with pytest.raises(ValueError, match="two different Names"):
        memory_store.supervised(name, name, OneForOne)  # type: ignore[arg-type]


def test_supervised_rejects_a_non_name() -> None:
    with pytest.raises(TypeError, match="events_name and snapshot_name"):
        memory_store.supervised("events", process.new_name("snapshots"), OneForOne)  # type: ignore[arg-type]


class TestMemoryLog(LogContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return open_memory_store()

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await memory_store.read_log(store, start_from, limit)


class TestMemoryProjections(ProjectionContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return open_memory_store()


class TestMemoryProcessManagers(ProcessManagerContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return open_memory_store()

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await memory_store.read_log(store, start_from, limit)


def _beside(*, fill: bool) -> contextlib.AbstractAsyncContextManager[BankStore]:
    return beside_statements(
        _memory_types(), lambda types, codec: types.event_store(codec), fill=fill
    )


class TestMemoryStoreBesideAnotherType(StoreContract):
    is_durable = False

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(fill=True)


class TestMemoryLogBesideAnotherType(LogContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(fill=False)

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        return await memory_store.read_log(store, start_from, limit)


class TestMemoryProjectionsBesideAnotherType(ProjectionContract):
    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        return _beside(fill=False)


async def test_the_events_of_one_commit_share_its_time() -> None:
    # Not a promise of every store: PostgreSQL records each row's own clock_timestamp().
    async with open_memory_store() as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1"), deposited(3, 3)]), Ok)
        entries = (await memory_store.read_log(store)).unwrap()
    assert entries[0].recorded_at == entries[1].recorded_at
