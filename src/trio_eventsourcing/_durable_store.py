"""What the two durable stores (SQLite, PostgreSQL) do the same way, around their own rows.

Both stage a write transaction's encoded rows on the Trio side, in the transaction handle
(:class:`DurableTransaction`), and hand them to their writer thread in one request; both
load an aggregate's snapshot and the events after it in one read (the events are kept in
the handle until ``load_events`` asks for them). What differs, each store gives
:func:`make_event_store`: how it encodes and checks rows (``commit_events``,
``save_snapshot``, the hot path, left whole to each store), and its running connections
(:class:`Running`), which write and read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import trio
from typing_extensions import Never, Self

from ._errors import EventStoreError
from ._result import Error, Ok
from ._store import EventStore, StoreResult, Transaction
from ._types import Aggregate, EventEnvelop, Metadata, Snapshot

EntityT = TypeVar("EntityT")
EntityT_co = TypeVar("EntityT_co", covariant=True)
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")
AppendT = TypeVar("AppendT")
SnapshotRowT = TypeVar("SnapshotRowT")
StoreT = TypeVar("StoreT")
TxT = TypeVar("TxT", bound="DurableTransaction[Any, Any, Any, Any]")

OK: StoreResult[None] = Ok(None)
"""The one ``Ok(None)``: writers compare results against it by identity."""


class DurableTransaction(Generic[EntityT, EventT, AppendT, SnapshotRowT]):
    """The state of a durable store's transaction handle (each store names its own class).

    A write transaction stages encoded rows for the writer (``AppendT`` and
    ``SnapshotRowT`` are the store's row types); a read transaction that loads an
    aggregate keeps the events read together with its snapshot.
    """

    __slots__ = ("_appends", "_prefetch", "_prefetched", "_snapshots", "_writes")
    _writes: bool
    _appends: list[AppendT]
    _snapshots: list[SnapshotRowT]
    _prefetch: bool
    _prefetched: tuple[str, int, StoreResult[list[EventEnvelop[EventT]]]] | None

    def __init__(self, _private: Never) -> None:
        raise TypeError(f"{type(self).__name__} has no public constructor")

    @classmethod
    def _make(cls, *, writes: bool, prefetch: bool) -> Self:
        self = object.__new__(cls)
        self._writes = writes
        self._appends = []
        self._snapshots = []
        self._prefetch = prefetch
        self._prefetched = None
        return self


class Running(Protocol[EntityT_co, EventT, AppendT, SnapshotRowT]):
    """The connections of a started durable store: its writer and its readers."""

    def write(
        self, appends: list[AppendT], snapshots: list[SnapshotRowT]
    ) -> Awaitable[StoreResult[None]]:
        """Store one write transaction's rows, all or none."""
        ...

    def read_snapshot(
        self, aggregate_id: str
    ) -> Awaitable[StoreResult[Snapshot[EntityT_co] | None]]:
        """The latest snapshot of ``aggregate_id``, or ``None``."""
        ...

    def read_aggregate(
        self, aggregate_id: str
    ) -> Awaitable[
        StoreResult[tuple[Snapshot[EntityT_co] | None, StoreResult[list[EventEnvelop[EventT]]]]]
    ]:
        """The latest snapshot of ``aggregate_id`` and the events after it, in one read."""
        ...

    def read_events(
        self, aggregate_id: str, start_from: int
    ) -> Awaitable[StoreResult[list[EventEnvelop[EventT]]]]:
        """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
        ...


def outside_write(function: str, store: str) -> Error[EventStoreError]:
    """The error of a write function called in a read transaction; ``store`` names it."""
    return Error(
        EventStoreError(
            f"{function} was called outside a write transaction of {store}: "
            "call it in the body given to execute_transaction"
        )
    )


def make_event_store(
    store: StoreT,
    transaction: type[TxT],
    running: Callable[[StoreT], Running[EntityT, EventT, Any, Any] | None],
    not_started: Callable[[StoreT], Error[EventStoreError]],
    commit_events: Callable[
        [TxT, Aggregate[EntityT], list[EventT], Metadata],
        Awaitable[StoreResult[tuple[list[EventEnvelop[EventT]], int]]],
    ],
    save_snapshot: Callable[[TxT, Snapshot[EntityT]], Awaitable[StoreResult[None]]],
) -> EventStore[StoreT, EntityT, EventT, TxT]:
    """The event store of ``store``, whose handles are ``transaction``.

    ``running(store)`` is its connections (``None`` when it is not started, and then
    every function returns ``not_started(store)``).
    """
    checkpoint = trio.lowlevel.checkpoint

    async def execute_transaction(body: Transaction[TxT, None]) -> StoreResult[None]:
        tx = transaction._make(writes=True, prefetch=False)
        result = await body(tx)
        connections = running(store)
        if isinstance(result, Error) or connections is None or not (tx._appends or tx._snapshots):
            await checkpoint()
            if isinstance(result, Error):
                return result
            return not_started(store) if connections is None else OK
        return await connections.write(tx._appends, tx._snapshots)

    async def load_aggregate_transaction(
        body: Transaction[TxT, Aggregate[EntityT]],
    ) -> StoreResult[Aggregate[EntityT]]:
        await checkpoint()
        return await body(transaction._make(writes=False, prefetch=True))

    async def run_read(body: Transaction[TxT, ValueT]) -> StoreResult[ValueT]:
        await checkpoint()
        return await body(transaction._make(writes=False, prefetch=False))

    async def load_snapshot(tx: TxT, aggregate_id: str) -> StoreResult[Snapshot[EntityT] | None]:
        connections = running(store)
        if connections is None:
            await checkpoint()
            return not_started(store)
        if not tx._prefetch:
            return await connections.read_snapshot(aggregate_id)
        # Loading an aggregate: its events follow at once, so read them in the same
        # thread round trip and the same read (see load_events).
        tx._prefetch = False
        loaded = await connections.read_aggregate(aggregate_id)
        if isinstance(loaded, Error):
            return loaded
        snapshot, events = loaded.value
        start = 0 if snapshot is None else snapshot.sequence
        tx._prefetched = (aggregate_id, start, events)
        return Ok(snapshot)

    async def load_events(
        eventstore: StoreT, tx: TxT, aggregate_id: str, start_from: int
    ) -> StoreResult[list[EventEnvelop[EventT]]]:
        prefetched: tuple[str, int, StoreResult[list[EventEnvelop[EventT]]]] | None
        prefetched = tx._prefetched
        if prefetched is not None:
            tx._prefetched = None
            if prefetched[0] == aggregate_id and prefetched[1] == start_from:
                await checkpoint()
                return prefetched[2]
        connections = running(eventstore)
        if connections is None:
            await checkpoint()
            return not_started(eventstore)
        return await connections.read_events(aggregate_id, start_from)

    return EventStore(
        execute_transaction=execute_transaction,
        load_aggregate_transaction=load_aggregate_transaction,
        load_events_transaction=run_read,
        get_latest_snapshot_transaction=run_read,
        commit_events=commit_events,
        load_events=load_events,
        load_snapshot=load_snapshot,
        save_snapshot=save_snapshot,
        eventstore=store,
    )
