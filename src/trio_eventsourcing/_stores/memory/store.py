"""The in-memory event store, as the seed's ``eventsourcing/memory_store``.

Its tables live in the :class:`MemoryStore` value, so a command costs no message hop;
the child specification runs two actors, on the Names given, that answer
:class:`GetEvents` and :class:`GetSnapshot` requests from any task. Appends are O(1)
amortised; the tables are lost when the process ends.

The global log is the list of every event in commit order (:func:`read_log`); each
commit wakes the projections and log followers of this process that wait on it. The
projections' checkpoints and dead letters are tables of the store too.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import trio
from typing_extensions import Never, final

from ..._core.envelopes import MemoryStoreEventEnvelop, Metadata
from ..._core.errors import CommandAlreadyStored, ConcurrencyConflict, EventStoreError
from ..._core.log import log_request
from ..._core.log_source import Checkpoint, DeadLetter, LogSource, SelectedType, Selection
from ..._core.log_watchers import LogWatchers
from ..._core.records import Aggregate, EventEnvelop, Snapshot, split_trace
from ..._core.store import EventStore, StoreResult, Transaction, mark_cancel_atomic
from ..._runtime import actor as actor
from ..._runtime.frozen import PicklableFrozen
from ..._runtime.process import Name, Subject, send
from ..._runtime.result import Error, Ok, Result
from ..._runtime.static_supervisor import Strategy, Supervisor, new
from ..._runtime.static_supervisor import supervised as supervised_builder
from ..._runtime.supervision import ChildSpecification, worker

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
EventT_co = TypeVar("EventT_co", covariant=True)
ValueT = TypeVar("ValueT")


@final
@dataclass(frozen=True)
class GetEvents(PicklableFrozen, Generic[EventT]):
    """Ask the events actor for an aggregate's events (an empty list if it has none)."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[list[MemoryStoreEventEnvelop[EventT]]]


@final
@dataclass(frozen=True)
class GetSnapshot(PicklableFrozen, Generic[EntityT]):
    """Ask the snapshot actor for an aggregate's latest snapshot (``None`` if none)."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[Snapshot[EntityT] | None]


EventsMessage = GetEvents
"""What the events actor accepts."""
SnapshotsMessage = GetSnapshot
"""What the snapshot actor accepts."""


@final
@dataclass(frozen=True)
class MemoryLogEntry(Generic[EventT_co]):
    """One event of the memory store's global log: its position, commit time and event.

    The memory store's counterpart of ``sqlite_store.LogEntry``: positions start at 1
    and have no gaps.

    Example::

        entries = (await memory_store.read_log(store, start_from=0, limit=10)).unwrap()
        print(entries[0].position, entries[0].envelope.payload)
    """

    __slots__ = ("aggregate_type", "envelope", "position", "recorded_at")
    position: int
    recorded_at: datetime
    envelope: MemoryStoreEventEnvelop[EventT_co]
    aggregate_type: str
    """The aggregate type of the event's store (``""`` for a store without a database)."""


@final
class MemoryDatabase:
    """The global log that the memory stores of several aggregate types share.

    Give it to :func:`supervised` with each store's ``aggregate_type``: their events get
    positions in one log, in commit order, and an aggregate is its type and id together
    (each store keeps its own aggregates). Each store's log (:func:`read_log`, its
    projections) holds the events of its own type, at their positions in the shared log.

    Example::

        database = memory_store.MemoryDatabase()
        carts, carts_spec = memory_store.supervised(
            cart_events, cart_snapshots, OneForOne, database=database, aggregate_type="cart"
        )
        orders, orders_spec = memory_store.supervised(
            order_events, order_snapshots, OneForOne, database=database, aggregate_type="order"
        )
    """

    __slots__ = ("_log", "_recorded", "_types", "checkpoints", "dead_letters", "watchers")

    def __init__(self) -> None:
        # Every event in commit order; an event's position is its index plus one.
        self._log: list[MemoryStoreEventEnvelop[Any]] = []
        # When each event of the log was committed (the same index). Kept apart from the
        # log so that a commit stays a list extend: log entries are made when read.
        self._recorded: list[datetime] = []
        # The aggregate types of its stores.
        self._types: set[str] = set()
        # The checkpoints and dead letters of projections of several aggregate types (a
        # projection of one type keeps them in its store).
        self.checkpoints: dict[str, Checkpoint] = {}
        self.dead_letters: list[DeadLetter] = []
        # Wake-ups, runner locks and resets, for every store of the database.
        self.watchers: LogWatchers = LogWatchers()

    @property
    def last_position(self) -> int:
        """The position of the last event committed to the database (``0``: none yet)."""
        return len(self._log)

    def _entries_at(self, positions: Iterable[tuple[int, str]]) -> list[MemoryLogEntry[Any]]:
        """The log's entries at ``positions``, each given with its aggregate type."""
        log, recorded = self._log, self._recorded
        return [
            MemoryLogEntry(position, recorded[position - 1], log[position - 1], kind)
            for position, kind in positions
        ]

    def _register(self, aggregate_type: str) -> None:
        if aggregate_type in self._types:
            raise ValueError(
                f"the aggregate type {aggregate_type!r} already has a store on this database: "
                "give each aggregate type one store"
            )
        self._types.add(aggregate_type)

    def __repr__(self) -> str:
        types = ", ".join(sorted(self._types))
        return f"<MemoryDatabase [{types}], {len(self._log)} events>"


@final
class MemoryStore(Generic[EntityT, EventT]):
    """The tables of a memory store: events, snapshots, the log, projection checkpoints.

    Made by :func:`supervised`, and found in the ``eventstore`` field of the
    :class:`~trio_eventsourcing.EventStore` it returns. Pass it (or that store) to
    :func:`read_log`.
    """

    __slots__ = (
        "aggregate_type",
        "checkpoints",
        "commands",
        "database",
        "dead_letters",
        "events",
        "positions",
        "snapshots",
        "watchers",
    )

    def __init__(self, database: MemoryDatabase | None = None, aggregate_type: str = "") -> None:
        self.database: MemoryDatabase = MemoryDatabase() if database is None else database
        self.aggregate_type: str = aggregate_type
        self.events: dict[str, list[MemoryStoreEventEnvelop[EventT]]] = {}
        self.snapshots: dict[str, Snapshot[EntityT]] = {}
        # The stored commands, as (aggregate id, idempotency key). One set, not one per
        # aggregate: its tuples of strings leave the cyclic GC's tracking, a set would not.
        self.commands: set[tuple[str, str]] = set()
        # The positions of this store's events in the database's log, in order.
        self.positions: list[int] = []
        # The projections' checkpoints by name, and the events they skipped.
        self.checkpoints: dict[str, Checkpoint] = {}
        self.dead_letters: list[DeadLetter] = []
        self.watchers: LogWatchers = self.database.watchers

    def _last_position(self) -> int:
        """The position of this store's last event (``0``: none yet)."""
        return self.positions[-1] if self.positions else 0

    def _count_after(self, position: int) -> int:
        """How many of this store's events have a position after ``position``."""
        return len(self.positions) - bisect.bisect_right(self.positions, position)

    def _entries(self, after: int, limit: int) -> list[MemoryLogEntry[EventT]]:
        """The entries of the log after position ``after``, at most ``limit`` (no checkpoint)."""
        log, recorded = self.database._log, self.database._recorded
        positions = self.positions
        kind = self.aggregate_type
        if len(positions) == len(log):
            # The database's only store: its positions are 1, 2, 3, ... (no search).
            stop = after + limit
            # Not strict: the range runs to ``stop``, the slices only as far as the log goes.
            return [
                MemoryLogEntry(position, recorded_at, envelope, kind)
                for position, recorded_at, envelope in zip(
                    range(after + 1, stop + 1), recorded[after:stop], log[after:stop], strict=False
                )
            ]
        start = bisect.bisect_right(positions, after)
        return [
            MemoryLogEntry(position, recorded[position - 1], log[position - 1], kind)
            for position in positions[start : start + limit]
        ]

    def _log_source(
        self, selection: Selection[Any] | None = None
    ) -> LogSource[MemoryLogEntry[EventT], Never]:
        """The log and projection tables, as projections use them (see ``HasLogSource``)."""
        # Imported here: only projections need it.
        from .projection import MemoryLogSource

        if selection is None:
            selection = Selection((SelectedType(self, self.aggregate_type),))
        return MemoryLogSource(self, selection)


@final
class MemoryTransaction(Generic[EntityT, EventT]):
    """Writes staged by one transaction, applied together when it succeeds."""

    __slots__ = ("appends", "committed_positions", "loading", "snapshots")

    def __init__(self, loading: bool = False) -> None:
        self.appends: list[tuple[str, int, list[MemoryStoreEventEnvelop[EventT]], str | None]] = []
        self.snapshots: list[Snapshot[EntityT]] = []
        # The global positions of the events stored, once committed (a command's receipt).
        self.committed_positions: range | None = None
        # An aggregate load: it passed through the scheduler as it began, so its reads
        # only check for cancellation.
        self.loading: bool = loading


MemoryEventStore = EventStore[
    MemoryStore[EntityT, EventT], EntityT, EventT, MemoryTransaction[EntityT, EventT]
]
"""The type of the event store ``memory_store.supervised`` returns."""


def _make_event_store(
    tables: MemoryStore[EntityT, EventT],
) -> MemoryEventStore[EntityT, EventT]:
    checkpoint = trio.lowlevel.checkpoint
    checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled

    async def execute_transaction(
        body: Transaction[MemoryTransaction[EntityT, EventT], None],
    ) -> StoreResult[None]:
        tx: MemoryTransaction[EntityT, EventT] = MemoryTransaction()
        result = await body(tx)
        if not tx.appends and not tx.snapshots:
            # A body that staged no write may not have checkpointed (commit_events
            # and save_snapshot do), and every async function must; this path is rare.
            await checkpoint()
        if isinstance(result, Error):
            return result
        # Check every append before applying any, with no checkpoint in between,
        # so the transaction is all-or-nothing and no other task sees half of it.
        sequences: dict[str, int] = {}
        keys: set[tuple[str, str]] = set()
        commands = tables.commands
        for aggregate_id, expected, envelopes, key in tx.appends:
            if key is not None:
                stored_key = (aggregate_id, key)
                if stored_key in commands or stored_key in keys:
                    return Error(CommandAlreadyStored(aggregate_id, key))
                keys.add(stored_key)
            actual = sequences.get(aggregate_id)
            if actual is None:
                actual = len(tables.events.get(aggregate_id, ()))
            if expected != actual:
                return Error(ConcurrencyConflict(aggregate_id, expected, actual))
            sequences[aggregate_id] = actual + len(envelopes)
        commands.update(keys)
        if tx.appends:
            now = datetime.now(timezone.utc)
            first_position = len(tables.database._log) + 1
            for aggregate_id, _, envelopes, _ in tx.appends:
                stream = tables.events.get(aggregate_id)
                if stream is None:
                    tables.events[aggregate_id] = stream = []
                stream.extend(envelopes)
                database = tables.database
                first = len(database._log) + 1
                database._log.extend(envelopes)
                database._recorded.extend([now] * len(envelopes))
                tables.positions.extend(range(first, first + len(envelopes)))
            tx.committed_positions = range(first_position, len(tables.database._log) + 1)
        for snapshot in tx.snapshots:
            tables.snapshots[snapshot.aggregate_id] = snapshot
        if tx.appends:
            # Committed: wake the followers of the log (query actors are fed by the core).
            tables.watchers.changed()
        return Ok(None)

    async def run_read(
        body: Transaction[MemoryTransaction[EntityT, EventT], ValueT],
    ) -> StoreResult[ValueT]:
        await checkpoint()
        return await body(MemoryTransaction())

    async def load_aggregate(
        body: Transaction[MemoryTransaction[EntityT, EventT], Aggregate[EntityT]],
    ) -> StoreResult[Aggregate[EntityT]]:
        # One pass through the scheduler for the whole load, as on the durable stores
        # (where it is the read): the snapshot and the events are then read at once.
        await checkpoint()
        return await body(MemoryTransaction(loading=True))

    async def commit_events(
        tx: MemoryTransaction[EntityT, EventT],
        aggregate: Aggregate[EntityT],
        events: list[EventT],
        metadata: Metadata,
        idempotency_key: str | None,
    ) -> StoreResult[tuple[list[EventEnvelop[EventT]], int]]:
        await checkpoint()
        aggregate_id = aggregate.aggregate_id
        first = aggregate.sequence + 1
        metadata, correlation_id, causation_id = split_trace(metadata)
        envelopes = [
            MemoryStoreEventEnvelop(
                aggregate_id, first + offset, event, metadata, correlation_id, causation_id
            )
            for offset, event in enumerate(events)
        ]
        tx.appends.append((aggregate_id, aggregate.sequence, envelopes, idempotency_key))
        # The staged list itself, not a copy: nothing changes it once staged.
        stored: list[EventEnvelop[EventT]] = envelopes  # type: ignore[assignment]
        return Ok((stored, aggregate.sequence + len(events)))

    async def load_events(
        store: MemoryStore[EntityT, EventT],
        tx: MemoryTransaction[EntityT, EventT],
        aggregate_id: str,
        start_from: int,
    ) -> StoreResult[list[EventEnvelop[EventT]]]:
        await (checkpoint_if_cancelled() if tx.loading else checkpoint())
        stream = store.events.get(aggregate_id)
        if not stream:
            return Ok([])
        # Sequences start at 1 with no gaps: sequence n sits at index n - 1.
        return Ok(list[EventEnvelop[EventT]](stream[max(start_from, 0) :]))

    async def load_snapshot(
        tx: MemoryTransaction[EntityT, EventT], aggregate_id: str
    ) -> StoreResult[Snapshot[EntityT] | None]:
        await (checkpoint_if_cancelled() if tx.loading else checkpoint())
        return Ok(tables.snapshots.get(aggregate_id))

    async def save_snapshot(
        tx: MemoryTransaction[EntityT, EventT], snapshot: Snapshot[EntityT]
    ) -> StoreResult[None]:
        await checkpoint()
        tx.snapshots.append(snapshot)
        return Ok(None)

    async def command_stored(
        store: MemoryStore[EntityT, EventT], aggregate_id: str, idempotency_key: str
    ) -> StoreResult[bool]:
        await checkpoint()
        return Ok((aggregate_id, idempotency_key) in store.commands)

    return EventStore(
        # Cancelled, it raises only from inside ``body``, before applying anything.
        execute_transaction=mark_cancel_atomic(execute_transaction),
        load_aggregate_transaction=load_aggregate,
        load_events_transaction=run_read,
        get_latest_snapshot_transaction=run_read,
        commit_events=commit_events,
        load_events=load_events,
        load_snapshot=load_snapshot,
        save_snapshot=save_snapshot,
        command_stored=command_stored,
        eventstore=tables,
    )


async def read_log(
    store: MemoryStore[EntityT, EventT] | MemoryEventStore[EntityT, EventT],
    start_from: int = 0,
    limit: int = 1_000,
) -> Result[list[MemoryLogEntry[EventT]], EventStoreError]:
    """Read the global log: the store's events in commit order, after a position.

    The memory store's counterpart of ``sqlite_store.read_log``: positions start at 1,
    have no gaps and only grow, so reading again from the last position handled sees
    every event exactly once, in order. To follow the log as it grows, use
    :func:`trio_eventsourcing.projections.follow_log`.

    Args:
        store: The event store from :func:`supervised`, or its ``eventstore`` field.
        start_from: Return events with a position greater than this (``0``: from the
            start), typically the position of the last entry already handled.
        limit: The most entries to return.

    Returns:
        ``Ok(entries)``, oldest first and at most ``limit`` of them (an empty list when
        there is nothing after ``start_from``). The memory store never fails to read.

    Raises:
        TypeError: If ``store`` is not a memory store.
        ValueError: If ``start_from`` is negative or ``limit`` is not positive.

    Example::

        entries = (await memory_store.read_log(store, start_from=0, limit=100)).unwrap()
        for entry in entries:
            print(entry.position, entry.envelope.aggregate_id, entry.envelope.payload)
    """
    tables, after, most = log_request(store, MemoryStore, "memory_store", start_from, limit)
    await trio.lowlevel.checkpoint()
    return Ok(tables._entries(after, most))


def supervised(
    events_name: Name[GetEvents[EventT]],
    snapshot_name: Name[GetSnapshot[EntityT]],
    strategy: Strategy,
    *,
    database: MemoryDatabase | None = None,
    aggregate_type: str = "",
) -> tuple[MemoryEventStore[EntityT, EventT], ChildSpecification[Supervisor]]:
    """Create a memory store and the child specification of its two actors.

    Args:
        events_name: The Name of the actor that answers :class:`GetEvents`.
        snapshot_name: The Name of the actor that answers :class:`GetSnapshot`.
        strategy: The restart strategy of the store's supervisor.
        database: The :class:`MemoryDatabase` whose global log the store shares with
            the stores of other aggregate types (``None``: a log of its own).
        aggregate_type: The store's aggregate type in ``database``, a non-empty name
            that no other store of it has (unused without a database).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the two Names are one, or ``aggregate_type`` is empty or taken.

    Returns:
        ``(event_store, child_specification)``: pass the store to
        ``eventsourcing.supervised`` and add the specification to your supervisor.

    Example::

        events_name: process.Name[memory_store.GetEvents[Event]] = process.new_name("events")
        snapshot_name: process.Name[memory_store.GetSnapshot[Account]] = process.new_name("snaps")
        store, store_spec = memory_store.supervised(events_name, snapshot_name, OneForOne)
    """
    names: tuple[object, object] = (events_name, snapshot_name)
    if not all(isinstance(name, Name) for name in names):
        raise TypeError("events_name and snapshot_name must be Names from process.new_name()")
    if names[0] is names[1]:
        raise ValueError("events_name and snapshot_name must be two different Names")
    if database is not None:
        if not isinstance(database, MemoryDatabase):
            raise TypeError(f"database must be a MemoryDatabase, got {database!r}")
        kind: object = aggregate_type
        if not isinstance(kind, str) or not kind:
            raise ValueError(
                "a store on a MemoryDatabase needs an aggregate_type, a non-empty str, "
                f"got {aggregate_type!r}"
            )
        database._register(aggregate_type)
    tables: MemoryStore[EntityT, EventT] = MemoryStore(database, aggregate_type)

    async def serve_events(
        store: MemoryStore[EntityT, EventT], message: GetEvents[EventT]
    ) -> actor.Next[MemoryStore[EntityT, EventT]]:
        send(message.reply_to, list(store.events.get(message.aggregate_id, ())))
        return actor.continue_(store)

    async def serve_snapshots(
        store: MemoryStore[EntityT, EventT], message: GetSnapshot[EntityT]
    ) -> actor.Next[MemoryStore[EntityT, EventT]]:
        send(message.reply_to, store.snapshots.get(message.aggregate_id))
        return actor.continue_(store)

    events_actor = actor.new(tables).on_message(serve_events).named(events_name)
    snapshot_actor = actor.new(tables).on_message(serve_snapshots).named(snapshot_name)
    builder = (
        new(strategy)
        .add(replace(worker(events_actor.start), label=f"events actor {events_name!r}"))
        .add(replace(worker(snapshot_actor.start), label=f"snapshots actor {snapshot_name!r}"))
    )
    spec = replace(supervised_builder(builder), label=f"of the memory store {events_name!r}")
    return _make_event_store(tables), spec
