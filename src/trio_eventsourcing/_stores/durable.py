"""What the two durable stores (SQLite, PostgreSQL) do the same way, around their own rows.

Both stage a write transaction's encoded rows on the Trio side, in the transaction handle
(:class:`DurableTransaction`), and hand them to their writer thread (``_stores.writer``) in
one request; both load an aggregate's snapshot and the events after it in one read (the
events are kept in the handle until ``load_events`` asks for them). What differs, each
store gives :func:`make_event_store`: what its columns cannot hold (:class:`ColumnRules`)
and its running connections (:class:`DurableRunning`), which write and read. The rest of
a store's plumbing is here too: its statistics' writer counts, its "not started" error
and the child specification that starts it (:func:`store_child`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import trio
from typing_extensions import Never, Self, final

from .._codec.json_codec import Codec
from .._core.envelopes import Metadata, SerializedEventEnvelop
from .._core.errors import EventStoreError, StoreFailure
from .._core.log import LogEntry, log_request
from .._core.records import Aggregate, EventEnvelop, Snapshot, split_trace
from .._core.store import EventStore, StoreResult, Transaction
from .._runtime.actor import Started, StartError, StartResult
from .._runtime.result import Error, Ok, Result
from .._runtime.static_supervisor import OneForOne, Supervisor, new
from .._runtime.supervision import ChildSpecification, supervisor, worker
from .serialized import encode_metadata
from .writer import OK, Append, EventRow, SnapshotRow, Writer, WriterCounters, WriteRequest

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")
StoreT = TypeVar("StoreT")
ConnectionT = TypeVar("ConnectionT")
ConnectionT_co = TypeVar("ConnectionT_co", covariant=True)
TxT = TypeVar("TxT", bound="DurableTransaction[Any, Any]")


class DurableTransaction(Generic[EntityT, EventT]):
    """The state of a durable store's transaction handle (each store names its own class).

    A write transaction stages encoded rows for the writer; a read transaction that loads
    an aggregate keeps the events read together with its snapshot.
    """

    __slots__ = ("_appends", "_committed", "_prefetch", "_prefetched", "_snapshots", "_writes")
    _writes: bool
    _appends: list[Append]
    _snapshots: list[SnapshotRow]
    _prefetch: bool
    _prefetched: tuple[str, int, StoreResult[list[EventEnvelop[EventT]]]] | None
    _committed: range | None

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
        self._committed = None
        return self

    @property
    def committed_positions(self) -> range | None:
        """The global positions of the events this transaction stored, once it committed.

        ``None`` before the commit (or if it stored nothing). The system reads it for a
        command's receipt (see ``_core.store.committed_positions``).
        """
        return self._committed


class ReadRunner(Protocol[ConnectionT_co]):
    """A store's readers: they run a read on one of their connections, in a thread."""

    def run(
        self, operation: str, work: Callable[[ConnectionT_co], Result[ValueT, EventStoreError]]
    ) -> Awaitable[Result[ValueT, EventStoreError]]:
        """Run ``work`` on a read connection and return what it returns."""
        ...


def lone_surrogate(text: object) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8 (a lone surrogate), or ``None`` if it can."""
    if not isinstance(text, str) or text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (it contains a lone surrogate)"
    return None


@final
@dataclass(frozen=True, slots=True)
class ColumnRules:
    """What a backend's columns cannot hold, checked on the Trio side.

    A value the database or its driver would refuse then fails its own call with a clear
    ``REFUSED`` error, instead of an exception from a thread or a failed batch.

    ``text_problem(text)`` says why a text cannot be sent (``None``: it can); reads check
    their ids with it. ``checks_rows``: staged rows are checked too (ids, keys, encoded
    names and payloads; versions against ``max_version``, the largest of ``version_type``;
    snapshot times for a time zone when ``zoned_time``). Without it, a row the database
    refuses fails its request alone, in the writer's request-by-request pass.
    """

    text_problem: Callable[[object], str | None]
    checks_rows: bool
    max_version: int | None = None
    version_type: str = "an integer column"
    zoned_time: bool = False


def _refused(rules: ColumnRules, doing: str, aggregate_id: str) -> Error[EventStoreError] | None:
    """The error of a read of ``aggregate_id`` the backend cannot take, or ``None``."""
    problem = rules.text_problem(aggregate_id)
    if problem is None:
        return None
    return Error(
        EventStoreError(
            f"cannot {doing} aggregate {aggregate_id!r}: {problem}", StoreFailure.REFUSED
        )
    )


class DurableRunning(Generic[ConnectionT]):
    """A started database's connections: its writer and the reads on its reader connections.

    Each backend's class gives ``writer``, ``readers``, ``rules`` and how to read on one
    connection (``_snapshot``, ``_aggregate``, ``_events``, ``_command``, ``_log``), for
    any aggregate type: each read takes the codec of the type it reads. Each read first
    refuses an id the backend cannot take (``rules``), which the driver would otherwise
    fail to encode. Each method returns the writer's or readers' awaitable as it is, so
    that the shared store functions add no coroutine of their own to a call.
    """

    __slots__ = ()
    writer: Writer
    readers: ReadRunner[ConnectionT]
    rules: ColumnRules

    def _snapshot(
        self, connection: ConnectionT, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> Result[Snapshot[EntityT] | None, EventStoreError]:
        raise NotImplementedError

    def _aggregate(
        self, connection: ConnectionT, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> Result[
        tuple[Snapshot[EntityT] | None, Result[list[EventEnvelop[EventT]], EventStoreError]],
        EventStoreError,
    ]:
        raise NotImplementedError

    def _events(
        self,
        connection: ConnectionT,
        codec: Codec[EventT, EntityT],
        aggregate_id: str,
        start_from: int,
    ) -> Result[list[EventEnvelop[EventT]], EventStoreError]:
        raise NotImplementedError

    def _command(
        self, connection: ConnectionT, aggregate_type: str, aggregate_id: str, key: str
    ) -> Result[bool, EventStoreError]:
        raise NotImplementedError

    def _log(
        self, connection: ConnectionT, codec: Codec[EventT, EntityT], after: int, most: int
    ) -> Result[list[LogEntry[EventT]], EventStoreError]:
        raise NotImplementedError

    def read_log(
        self, codec: Codec[EventT, EntityT], after: int, most: int
    ) -> Awaitable[Result[list[LogEntry[EventT]], EventStoreError]]:
        """At most ``most`` entries of the codec's type in the global log after ``after``."""
        read = self._log
        return self.readers.run(
            "reading the log", lambda connection: read(connection, codec, after, most)
        )

    def read_snapshot(
        self, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> Awaitable[StoreResult[Snapshot[EntityT] | None]]:
        """The latest snapshot of ``aggregate_id``, or ``None``."""
        read = self._snapshot
        refused = _refused(self.rules, "load the snapshot of", aggregate_id)
        return self.readers.run(
            "loading a snapshot",
            lambda connection: refused or read(connection, codec, aggregate_id),
        )

    def read_aggregate(
        self, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> Awaitable[
        StoreResult[tuple[Snapshot[EntityT] | None, StoreResult[list[EventEnvelop[EventT]]]]]
    ]:
        """The latest snapshot of ``aggregate_id`` and the events after it, in one read."""
        read = self._aggregate
        refused = _refused(self.rules, "load", aggregate_id)
        return self.readers.run(
            "loading an aggregate",
            lambda connection: refused or read(connection, codec, aggregate_id),
        )

    def read_events(
        self, codec: Codec[EventT, EntityT], aggregate_id: str, start_from: int
    ) -> Awaitable[StoreResult[list[EventEnvelop[EventT]]]]:
        """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
        read = self._events
        refused = _refused(self.rules, "load the events of", aggregate_id)
        return self.readers.run(
            "loading events",
            lambda connection: refused or read(connection, codec, aggregate_id, start_from),
        )

    def read_command(
        self, aggregate_type: str, aggregate_id: str, idempotency_key: str
    ) -> Awaitable[StoreResult[bool]]:
        """Whether a command with ``idempotency_key`` is stored for the aggregate."""
        read = self._command
        refused = _refused(self.rules, "look up an idempotency key of", aggregate_id)
        problem = self.rules.text_problem(idempotency_key)
        if refused is None and problem is not None:
            refused = Error(
                EventStoreError(
                    f"cannot look up the idempotency key {idempotency_key!r} of aggregate "
                    f"{aggregate_id!r}: {problem}",
                    StoreFailure.REFUSED,
                )
            )
        return self.readers.run(
            "looking up an idempotency key",
            lambda connection: (
                refused or read(connection, aggregate_type, aggregate_id, idempotency_key)
            ),
        )


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """What a durable store's writer has done since the store was created (across restarts).

    ``running`` says whether the store runs now. ``transactions`` counts committed write
    transactions (one per command that stored events), ``commits`` the database commits
    that stored them: with group commit, far fewer under concurrent load.
    ``largest_batch`` is the most transactions one commit held; ``conflicts`` counts
    transactions refused for a stale sequence.
    """

    running: bool
    transactions: int
    commits: int
    largest_batch: int
    conflicts: int


RunningT = TypeVar("RunningT", bound="DurableRunning[Any]")
DatabaseT = TypeVar("DatabaseT", bound="DurableDatabase[Any, Any]")
ViewT = TypeVar("ViewT", bound="DurableStore[Any, Any, Any]")


class DurableDatabase(Generic[RunningT, ViewT]):
    """A durable database: its counters, its stores (one per aggregate type), its connections.

    The connections are there while its child runs. One writer and one group commit
    serve every aggregate type of the database. Each backend's class adds its options,
    its public properties and the task that runs it (``_serve``), which sets ``_running``
    while it runs; its ``event_store(codec)`` makes the store of an aggregate type with
    :meth:`_store_for`.
    """

    __slots__ = ("_claimed", "_counters", "_has_run", "_running", "_stores")
    _counters: WriterCounters
    _running: RunningT | None
    # Whether the database's task is running (a database runs once at a time).
    _claimed: bool
    # Whether the database ever ran, so that a stopped one says so.
    _has_run: bool
    # The store of each aggregate type, by type.
    _stores: dict[str, ViewT]

    def _init_database(self) -> None:
        self._counters = WriterCounters()
        self._running = None
        self._claimed = False
        self._has_run = False
        self._stores = {}

    def _store_for(self, codec: object, make: Callable[[], ViewT]) -> ViewT:
        """The store of ``codec``'s aggregate type, made by ``make()`` the first time.

        Raises:
            TypeError: ``codec`` is not a codec.
            ValueError: Another codec already serves that aggregate type here.
        """
        if not isinstance(codec, Codec):
            raise TypeError(f"codec must be a Codec, such as a JsonCodec, got {codec!r}")
        aggregate_type = codec.aggregate_type
        store = self._stores.get(aggregate_type)
        if store is None:
            store = self._stores[aggregate_type] = make()
        elif store._codec is not codec:
            raise ValueError(
                f"the aggregate type {aggregate_type!r} already has a store on this database, "
                "with another codec: give each aggregate type one codec"
            )
        return store

    def _not_started(self) -> Error[EventStoreError]:
        raise NotImplementedError

    def _writer_counts(self) -> tuple[bool, int, int, int, int]:
        """The first fields of the statistics, in their order.

        They are ``running``, ``transactions``, ``commits``, ``largest_batch`` and
        ``conflicts``.
        """
        counters = self._counters
        return (
            self._running is not None,
            counters.transactions,
            counters.commits,
            counters.largest_batch,
            counters.conflicts,
        )


class DurableStore(Generic[EntityT, EventT, DatabaseT]):
    """The store of one aggregate type on a durable database: the database and its codec.

    Each backend's class adds its public properties (``codec`` among them, so that the
    API reference shows them), and ``_running``, the database's connections typed.
    """

    __slots__ = ("_codec", "_database")
    _database: DatabaseT
    _codec: Codec[EventT, EntityT]

    def _init_store(self, database: DatabaseT, codec: Codec[EventT, EntityT]) -> None:
        self._database = database
        self._codec = codec

    def _connections(self) -> DurableRunning[Any] | None:
        running: DurableRunning[Any] | None = self._database._running
        return running

    def _not_started(self) -> Error[EventStoreError]:
        return self._database._not_started()


async def read_log(
    store: object,
    kind: type[ViewT],
    module: str,
    start_from: int,
    limit: int,
) -> Result[list[LogEntry[Any]], EventStoreError]:
    """The public ``read_log`` of the stores of class ``kind``, in ``module``.

    ``store`` is the store or its event store, checked, as ``start_from`` and ``limit``
    are, by ``log_request``.
    """
    view, after, most = log_request(store, kind, module, start_from, limit)
    running = view._connections()
    if running is None:
        await trio.lowlevel.checkpoint()
        return view._not_started()
    return await running.read_log(view._codec, after, most)


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
    store: object, serve: Callable[..., Awaitable[None]], refused: type[Exception], what: str
) -> ChildSpecification[Supervisor]:
    """The child specification that runs ``store``: its task is ``serve``.

    ``what`` names the store for people (``"SQLite store 'bank.db'"``): the child is the
    supervisor ``of the <what>``, which runs one worker, ``<what>``, whose task is
    ``serve``. Starting it returns ``Error(StartError(reason))``, ``reason`` being what
    ``serve`` said when it raised ``refused`` before it had started, so that the parent
    supervisor reports ``child #0 (supervisor of the SQLite store 'bank.db') failed to
    start: <reason>`` rather than which child of this inner supervisor failed.

    Example::

        spec = store_child(database, database._serve, DatabaseRefused, "SQLite store 'x.db'")
    """
    # What ``serve`` said when it refused to start, for the attempt under way.
    refusals: list[str] = []

    async def start_store(nursery: trio.Nursery) -> StartResult[object]:
        try:
            await nursery.start(serve)
        except refused as exc:
            refusals.append(str(exc))
            return Error(StartError(str(exc)))
        return Ok(Started(store))

    async def start_store_supervisor(nursery: trio.Nursery) -> StartResult[Supervisor]:
        refusals.clear()
        started = await store_supervisor.start(nursery)
        if isinstance(started, Error) and refusals:
            return Error(StartError(refusals[-1]))
        return started

    store_supervisor = new(OneForOne).add(replace(worker(start_store), label=what))
    return replace(supervisor(start_store_supervisor), label=f"of the {what}")


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
    running: Callable[[StoreT], DurableRunning[Any] | None],
    not_started: Callable[[StoreT], Error[EventStoreError]],
    codec: Codec[EventT, EntityT],
    described: str,
    rules: ColumnRules,
) -> EventStore[StoreT, EntityT, EventT, TxT]:
    """The event store of ``store``, whose handles are ``transaction``.

    ``running(store)`` is its connections (``None`` when it is not started, and then
    every function returns ``not_started(store)``). Events and snapshots are encoded
    with ``codec`` as they are staged, and checked against the backend's ``rules``;
    ``described`` names the store in messages (``"the SQLite store '/data/bank.db'"``).
    """
    checkpoint = trio.lowlevel.checkpoint
    checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
    problem_of = rules.text_problem if rules.checks_rows else None
    max_version = rules.max_version

    def version_problem(version: int) -> str | None:
        if max_version is None or 0 <= version <= max_version:
            return None
        return f"its version {version} does not fit {rules.version_type}"

    def refused(message: str) -> Error[EventStoreError]:
        return Error(EventStoreError(message, StoreFailure.REFUSED))

    async def commit_events(
        tx: TxT,
        aggregate: Aggregate[EntityT],
        events: list[EventT],
        metadata: Metadata,
        idempotency_key: str | None,
    ) -> StoreResult[tuple[list[EventEnvelop[EventT]], int]]:
        await checkpoint()
        if not tx._writes:
            return outside_write("commit_events", described)
        aggregate_id = aggregate.aggregate_id
        sequence = aggregate.sequence
        if problem_of is not None:
            problem = problem_of(aggregate_id)
            if problem is not None:
                return refused(f"cannot store events of aggregate {aggregate_id!r}: {problem}")
            problem = None if idempotency_key is None else problem_of(idempotency_key)
            if problem is not None:
                return refused(
                    f"cannot store events of aggregate {aggregate_id!r} with the idempotency "
                    f"key {idempotency_key!r}: {problem}"
                )
        aggregate_type = codec.aggregate_type
        encode = codec.encode_event
        rows: list[EventRow] = []
        envelopes: list[EventEnvelop[EventT]] = []
        metadata, correlation_id, causation_id = split_trace(metadata)
        if problem_of is not None:
            problem = problem_of(correlation_id) or problem_of(causation_id)
            if problem is not None:
                return refused(
                    f"cannot store events of aggregate {aggregate_id!r} with the correlation "
                    f"id {correlation_id!r} and causation id {causation_id!r}: {problem}"
                )
        try:
            metadata_text = encode_metadata(metadata)
            for event in events:
                sequence += 1
                encoded = encode(event)
                type_name, version, data = encoded.type_name, encoded.version, encoded.data
                if problem_of is not None:
                    problem = problem_of(type_name) or problem_of(data)
                    problem = problem or version_problem(version)
                    if problem is not None:
                        raise ValueError(
                            f"the encoded event {type_name!r} cannot be stored: {problem}"
                        )
                rows.append(
                    (
                        aggregate_type,
                        aggregate_id,
                        sequence,
                        type_name,
                        version,
                        data,
                        metadata_text,
                        correlation_id,
                        causation_id,
                    )
                )
                envelopes.append(
                    SerializedEventEnvelop(
                        aggregate_id,
                        sequence,
                        event,
                        metadata,
                        type_name,
                        str(version),
                        aggregate_type,
                        correlation_id,
                        causation_id,
                    )
                )
        except Exception as exc:
            # CodecError from JsonCodec; anything at all from a user's codec.
            return refused(
                f"cannot encode event {sequence} of aggregate {aggregate_id!r} for "
                f"{described}: {exc}"
            )
        tx._appends.append(
            Append(aggregate_id, aggregate.sequence, rows, idempotency_key, aggregate_type)
        )
        return Ok((envelopes, sequence))

    async def save_snapshot(tx: TxT, snapshot: Snapshot[EntityT]) -> StoreResult[None]:
        await checkpoint()
        if not tx._writes:
            return outside_write("save_snapshot", described)
        aggregate_id = snapshot.aggregate_id
        try:
            encoded = codec.encode_entity(snapshot.entity)
            if problem_of is not None:
                problem = (
                    problem_of(aggregate_id)
                    or problem_of(encoded.type_name)
                    or problem_of(encoded.data)
                )
                problem = problem or version_problem(encoded.version)
                if problem is None and rules.zoned_time and snapshot.timestamp.utcoffset() is None:
                    problem = "its timestamp has no time zone"
                if problem is not None:
                    raise ValueError(f"it cannot be stored: {problem}")
        except Exception as exc:
            return refused(
                f"cannot encode the snapshot of aggregate {aggregate_id!r} at "
                f"sequence {snapshot.sequence} for {described}: {exc}"
            )
        tx._snapshots.append(
            (
                codec.aggregate_type,
                aggregate_id,
                snapshot.sequence,
                encoded.type_name,
                encoded.version,
                encoded.data,
                snapshot.timestamp,
            )
        )
        return OK

    async def execute_transaction(body: Transaction[TxT, None]) -> StoreResult[None]:
        tx = transaction._make(writes=True, prefetch=False)
        result = await body(tx)
        connections = running(store)
        if isinstance(result, Error) or connections is None or not (tx._appends or tx._snapshots):
            await checkpoint()
            if isinstance(result, Error):
                return result
            return not_started(store) if connections is None else OK
        request = WriteRequest(tx._appends, tx._snapshots)
        written = await connections.writer.write(request)
        if written is OK and request.first_position:
            first = request.first_position
            tx._committed = range(first, first + request.event_count())
        return written

    async def load_aggregate_transaction(
        body: Transaction[TxT, Aggregate[EntityT]],
    ) -> StoreResult[Aggregate[EntityT]]:
        await checkpoint_if_cancelled()
        tx = transaction._make(writes=False, prefetch=True)
        loaded = await body(tx)
        if tx._prefetch:
            # The body did not read the aggregate (whose read is its schedule point).
            await trio.lowlevel.cancel_shielded_checkpoint()
        return loaded

    async def run_read(body: Transaction[TxT, ValueT]) -> StoreResult[ValueT]:
        await checkpoint()
        return await body(transaction._make(writes=False, prefetch=False))

    async def load_snapshot(tx: TxT, aggregate_id: str) -> StoreResult[Snapshot[EntityT] | None]:
        connections = running(store)
        if connections is None:
            await checkpoint()
            return not_started(store)
        if not tx._prefetch:
            return await connections.read_snapshot(codec, aggregate_id)
        # Loading an aggregate: its events follow at once, so read them in the same
        # thread round trip and the same read (see load_events).
        tx._prefetch = False
        loaded = await connections.read_aggregate(codec, aggregate_id)
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
                # The read that prefetched these events was this transaction's schedule
                # point: a second pass through the scheduler would only cost time.
                await checkpoint_if_cancelled()
                return prefetched[2]
        connections = running(eventstore)
        if connections is None:
            await checkpoint()
            return not_started(eventstore)
        return await connections.read_events(codec, aggregate_id, start_from)

    async def command_stored(
        eventstore: StoreT, aggregate_id: str, idempotency_key: str
    ) -> StoreResult[bool]:
        connections = running(eventstore)
        if connections is None:
            await checkpoint()
            return not_started(eventstore)
        return await connections.read_command(codec.aggregate_type, aggregate_id, idempotency_key)

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
