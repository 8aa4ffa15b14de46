"""What the two durable stores (SQLite, PostgreSQL) do the same way, around their own rows.

Both stage a write transaction's encoded rows on the Trio side, in the transaction handle
(:class:`DurableTransaction`), and hand them to their writer thread in one request; both
load an aggregate's snapshot and the events after it in one read (the events are kept in
the handle until ``load_events`` asks for them). What differs, each store gives
:func:`make_event_store`: how it encodes and checks rows (``commit_events``,
``save_snapshot``, the hot path, left whole to each store), and its running connections
(:class:`Running`), which write and read. The rest of a store's plumbing is here too: its
reads on a reader connection (:class:`DurableRunning`), its statistics' writer counts, its
"not started" error and the child specification that starts it (:func:`store_child`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import trio
from typing_extensions import Never, Self

from .._core.errors import EventStoreError, StoreFailure
from .._core.records import Aggregate, EventEnvelop, Metadata, Snapshot
from .._core.store import EventStore, StoreResult, Transaction
from .._runtime.actor import Started, StartError, StartResult
from .._runtime.result import Error, Ok, Result
from .._runtime.static_supervisor import OneForOne, Supervisor, new
from .._runtime.static_supervisor import supervised as supervised_builder
from .._runtime.supervision import ChildSpecification, worker

EntityT = TypeVar("EntityT")
EntityT_co = TypeVar("EntityT_co", covariant=True)
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")
AppendT = TypeVar("AppendT")
SnapshotRowT = TypeVar("SnapshotRowT")
StoreT = TypeVar("StoreT")
ConnectionT = TypeVar("ConnectionT")
ConnectionT_co = TypeVar("ConnectionT_co", covariant=True)
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

    def read_command(self, aggregate_id: str, idempotency_key: str) -> Awaitable[StoreResult[bool]]:
        """Whether a command with ``idempotency_key`` is stored for ``aggregate_id``."""
        ...


class ReadRunner(Protocol[ConnectionT_co]):
    """A store's readers: they run a read on one of their connections, in a thread."""

    def run(
        self, operation: str, work: Callable[[ConnectionT_co], Result[ValueT, EventStoreError]]
    ) -> Awaitable[Result[ValueT, EventStoreError]]:
        """Run ``work`` on a read connection and return what it returns."""
        ...


class DurableRunning(Generic[EntityT, EventT, ConnectionT]):
    """The reads of a store's :class:`Running` connections, on its reader connections.

    Each store's class gives ``readers`` and how to read on one connection (``_snapshot``,
    ``_aggregate``, ``_events``). Each method returns the readers' awaitable as it is, so
    that the shared store functions add no coroutine of their own to a call.
    """

    __slots__ = ()
    readers: ReadRunner[ConnectionT]

    def _snapshot(
        self, connection: ConnectionT, aggregate_id: str
    ) -> Result[Snapshot[EntityT] | None, EventStoreError]:
        raise NotImplementedError

    def _aggregate(
        self, connection: ConnectionT, aggregate_id: str
    ) -> Result[
        tuple[Snapshot[EntityT] | None, Result[list[EventEnvelop[EventT]], EventStoreError]],
        EventStoreError,
    ]:
        raise NotImplementedError

    def _events(
        self, connection: ConnectionT, aggregate_id: str, start_from: int
    ) -> Result[list[EventEnvelop[EventT]], EventStoreError]:
        raise NotImplementedError

    def _command(
        self, connection: ConnectionT, aggregate_id: str, idempotency_key: str
    ) -> Result[bool, EventStoreError]:
        raise NotImplementedError

    def read_snapshot(self, aggregate_id: str) -> Awaitable[StoreResult[Snapshot[EntityT] | None]]:
        """The latest snapshot of ``aggregate_id``, or ``None``."""
        read = self._snapshot
        return self.readers.run(
            "loading a snapshot", lambda connection: read(connection, aggregate_id)
        )

    def read_aggregate(
        self, aggregate_id: str
    ) -> Awaitable[
        StoreResult[tuple[Snapshot[EntityT] | None, StoreResult[list[EventEnvelop[EventT]]]]]
    ]:
        """The latest snapshot of ``aggregate_id`` and the events after it, in one read."""
        read = self._aggregate
        return self.readers.run(
            "loading an aggregate", lambda connection: read(connection, aggregate_id)
        )

    def read_events(
        self, aggregate_id: str, start_from: int
    ) -> Awaitable[StoreResult[list[EventEnvelop[EventT]]]]:
        """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
        read = self._events
        return self.readers.run(
            "loading events", lambda connection: read(connection, aggregate_id, start_from)
        )

    def read_command(self, aggregate_id: str, idempotency_key: str) -> Awaitable[StoreResult[bool]]:
        """Whether a command with ``idempotency_key`` is stored for ``aggregate_id``."""
        read = self._command
        return self.readers.run(
            "looking up an idempotency key",
            lambda connection: read(connection, aggregate_id, idempotency_key),
        )


class WriterCounts(Protocol):
    """The counters of a store's writer that both stores' statistics show."""

    @property
    def transactions(self) -> int: ...
    @property
    def commits(self) -> int: ...
    @property
    def largest_batch(self) -> int: ...
    @property
    def conflicts(self) -> int: ...


def writer_counts(running: object, counters: WriterCounts) -> tuple[bool, int, int, int, int]:
    """The first fields of a store's statistics, in their order.

    They are ``running`` (whether ``running``, the store's connections, is not ``None``),
    ``transactions``, ``commits``, ``largest_batch`` and ``conflicts``.
    """
    return (
        running is not None,
        counters.transactions,
        counters.commits,
        counters.largest_batch,
        counters.conflicts,
    )


def running_state(running: object) -> str:
    """A store's state in its ``repr``, by its connections (``None`` when not started)."""
    return "running" if running is not None else "not running"


def not_started(store: str, module: str, *, stopped: bool = False) -> Error[EventStoreError]:
    """The error of a store function while ``store`` is not running; ``module`` makes it.

    ``stopped`` says the store ran before, so the caller learns it stopped rather than
    that it was never started.
    """
    if stopped:
        message = (
            f"{store} has stopped: start the child specification from {module}.supervised() "
            "under a supervisor again"
        )
    else:
        message = (
            f"{store} is not started: start the child specification from {module}.supervised() "
            "under a supervisor first"
        )
    return Error(EventStoreError(message, StoreFailure.NOT_RUNNING))


def store_child(
    store: StoreT, serve: Callable[..., Awaitable[None]], refused: type[Exception]
) -> ChildSpecification[Supervisor]:
    """The child specification that runs ``store``: its task is ``serve``.

    Starting it returns ``Error(StartError(reason))`` if ``serve`` raises ``refused``
    before it has started.
    """

    async def start(nursery: trio.Nursery) -> StartResult[StoreT]:
        try:
            await nursery.start(serve)
        except refused as exc:
            return Error(StartError(str(exc)))
        return Ok(Started(store))

    return supervised_builder(new(OneForOne).add(worker(start)))


def outside_write(function: str, store: str) -> Error[EventStoreError]:
    """The error of a write function called in a read transaction; ``store`` names it."""
    return Error(
        EventStoreError(
            f"{function} was called outside a write transaction of {store}: "
            "call it in the body given to execute_transaction",
            StoreFailure.FAILED,
        )
    )


def make_event_store(
    store: StoreT,
    transaction: type[TxT],
    running: Callable[[StoreT], Running[EntityT, EventT, Any, Any] | None],
    not_started: Callable[[StoreT], Error[EventStoreError]],
    commit_events: Callable[
        [TxT, Aggregate[EntityT], list[EventT], Metadata, str | None],
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

    async def command_stored(
        eventstore: StoreT, aggregate_id: str, idempotency_key: str
    ) -> StoreResult[bool]:
        connections = running(eventstore)
        if connections is None:
            await checkpoint()
            return not_started(eventstore)
        return await connections.read_command(aggregate_id, idempotency_key)

    return EventStore(
        execute_transaction=execute_transaction,
        load_aggregate_transaction=load_aggregate_transaction,
        load_events_transaction=run_read,
        get_latest_snapshot_transaction=run_read,
        commit_events=commit_events,
        load_events=load_events,
        load_snapshot=load_snapshot,
        save_snapshot=save_snapshot,
        command_stored=command_stored,
        eventstore=store,
    )
