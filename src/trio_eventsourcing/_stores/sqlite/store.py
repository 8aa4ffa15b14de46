"""The durable embedded event store: one SQLite file, group-committed writes.

``supervised(path, codec)`` returns the :class:`~trio_eventsourcing.EventStore` and the
child specification that owns the store's threads and connections. While that child
runs, a writer thread (``writer``) stores every write transaction, many per fsync, and
reader threads (``readers``) run the reads (``reads``), each on its own connection; no
SQLite call ever runs on the Trio thread. Events are encoded with the codec on the Trio
side, as the command is staged, and decoded on the reader thread. The file's schema and
its checks are in ``schema``. After each commit that stored events, the writer wakes the
log's followers in this process (the store's ``LogWatchers``); the projections' adapter
is ``projection``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, TypeVar

import trio
from typing_extensions import Never, final

from ..._codec.json_codec import Codec
from ..._core.errors import EventStoreError
from ..._core.log import LogEntry
from ..._core.log_source import LogSource, SelectedType, Selection
from ..._core.log_watchers import LogWatchers
from ..._core.records import EventEnvelop, Snapshot
from ..._core.store import EventStore
from ..._runtime.checks import require_positive_int, require_seconds
from ..._runtime.result import Error, Result
from ..._runtime.static_supervisor import Supervisor
from ..._runtime.supervision import ChildSpecification
from ..durable import (
    ColumnRules,
    DurableDatabase,
    DurableRunning,
    DurableStore,
    DurableTransaction,
    WriterStatistics,
    lone_surrogate,
    make_event_store,
    not_started,
    running_state,
    store_child,
)
from ..durable import (
    read_log as shared_read_log,
)
from ..writer import Writer, WriterCrashed
from .readers import Readers, ReadResult
from .reads import read_aggregate, read_command, read_events, read_snapshot
from .reads import read_log as read_log_rows
from .schema import (
    SYNCHRONOUS_LEVELS,
    DatabaseRefused,
    Options,
    Synchronous,
    absolute,
    open_writer,
)
from .writer import SqliteWriteConnection

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.sqlite_store")


@final
@dataclass(frozen=True, slots=True)
class SqliteStoreStatistics(WriterStatistics):
    """What the store's writer has done since the store was created (across restarts).

    The fields of ``WriterStatistics`` (``running``, ``transactions``, ``commits``,
    ``largest_batch``, ``conflicts``); one commit is one fsync.
    """


_RULES = ColumnRules(lone_surrogate, checks_rows=False)
"""SQLite stores any text but one that is not Unicode; a bad row fails its request alone."""


@final
class _Running(DurableRunning[sqlite3.Connection]):
    """The connections of a started database: its writer and its readers.

    The writes and reads themselves are those of ``DurableRunning``; the reads run on a
    reader thread's connection.
    """

    __slots__ = ("path", "readers", "writer")
    rules = _RULES

    def __init__(self, writer: Writer, readers: Readers, path: str) -> None:
        self.writer = writer
        self.readers = readers
        self.path = path

    def _snapshot(
        self, connection: sqlite3.Connection, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> ReadResult[Snapshot[EntityT] | None]:
        return read_snapshot(connection, codec, self.path, aggregate_id)

    def _aggregate(
        self, connection: sqlite3.Connection, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> ReadResult[tuple[Snapshot[EntityT] | None, ReadResult[list[EventEnvelop[EventT]]]]]:
        return read_aggregate(connection, codec, self.path, aggregate_id)

    def _events(
        self,
        connection: sqlite3.Connection,
        codec: Codec[EventT, EntityT],
        aggregate_id: str,
        start_from: int,
    ) -> ReadResult[list[EventEnvelop[EventT]]]:
        return read_events(connection, codec, self.path, aggregate_id, start_from)

    def _command(
        self, connection: sqlite3.Connection, aggregate_type: str, aggregate_id: str, key: str
    ) -> ReadResult[bool]:
        return read_command(connection, aggregate_type, aggregate_id, key)

    def _log(
        self, connection: sqlite3.Connection, codec: Codec[EventT, EntityT], after: int, most: int
    ) -> ReadResult[list[LogEntry[EventT]]]:
        return read_log_rows(connection, codec, self.path, after, most)


@final
class SqliteStore(DurableStore[EntityT, EventT, "SqliteDatabase"]):
    """The store of one aggregate type in an SQLite file: the file's database and a codec.

    Made by :func:`supervised` or :meth:`SqliteDatabase.event_store`, and found in the
    ``eventstore`` field of the :class:`~trio_eventsourcing.EventStore` they return.
    Pass it to :func:`read_log`.
    """

    __slots__ = ("_event_store",)
    _event_store: SqliteEventStore[EntityT, EventT]

    def __init__(self, _private: Never) -> None:
        raise TypeError("SqliteStore has no public constructor: use sqlite_store.supervised()")

    @classmethod
    def _make(
        cls, database: SqliteDatabase, codec: Codec[EventT, EntityT]
    ) -> SqliteStore[EntityT, EventT]:
        self = object.__new__(cls)
        self._init_store(database, codec)
        self._event_store = _make_event_store(self)
        return self

    @property
    def database(self) -> SqliteDatabase:
        """The database this store is one aggregate type of."""
        return self._database

    @property
    def path(self) -> str:
        """The absolute path of the database file."""
        return self._database.path

    @property
    def codec(self) -> Codec[EventT, EntityT]:
        """The codec that encodes and decodes this store's events and snapshots."""
        return self._codec

    def statistics(self) -> SqliteStoreStatistics:
        """Return the database's writer counters (all its aggregate types) and whether it runs.

        Example::

            stats = store.eventstore.statistics()
            print(stats.transactions / max(stats.commits, 1), "commands per fsync")
        """
        return self._database.statistics()

    def __repr__(self) -> str:
        state = running_state(self._database._running)
        return f"<SqliteStore {self.path!r} {self._codec.aggregate_type!r} {state}>"

    @property
    def _running(self) -> _Running | None:
        return self._database._running

    @property
    def _watchers(self) -> LogWatchers:
        return self._database._watchers

    def _log_source(
        self, selection: Selection[Any] | None = None
    ) -> LogSource[LogEntry[EventT], sqlite3.Connection]:
        """The log and projection tables, as projections use them (see ``HasLogSource``)."""
        # Imported here: only projections need it.
        from .projection import SqliteLogSource

        if selection is None:
            selection = Selection((SelectedType(self, self._codec.aggregate_type),))
        return SqliteLogSource(self, selection)


@final
class SqliteDatabase(DurableDatabase[_Running, SqliteStore[Any, Any]]):
    """One SQLite file and, while its child runs, its writer and readers.

    Made by :func:`supervised_database`; :meth:`event_store` gives the store of each
    aggregate type, all of them written by the one writer, in one group commit, into one
    global log. Aggregate ids are scoped by aggregate type: an ``"acc-1"`` account and
    an ``"acc-1"`` statement are two aggregates.

    Example::

        database, database_spec = sqlite_store.supervised_database("shop.db")
        carts = database.event_store(cart_codec)
        orders = database.event_store(order_codec)
    """

    __slots__ = ("_options", "_watchers")
    _options: Options
    _watchers: LogWatchers

    def __init__(self, _private: Never) -> None:
        raise TypeError(
            "SqliteDatabase has no public constructor: use sqlite_store.supervised_database()"
        )

    @classmethod
    def _make(cls, options: Options) -> SqliteDatabase:
        self = object.__new__(cls)
        self._options = options
        self._watchers = LogWatchers()
        self._init_database()
        return self

    @property
    def path(self) -> str:
        """The absolute path of the database file."""
        return self._options.path

    def event_store(self, codec: Codec[EventT, EntityT]) -> SqliteEventStore[EntityT, EventT]:
        """The event store of ``codec``'s aggregate type on this file.

        Pass it to ``eventsourcing.supervised``, one event-sourcing system per aggregate
        type. Asking again with the same codec gives the same store.

        Raises:
            TypeError: ``codec`` is not a codec.
            ValueError: Another codec already serves that aggregate type here.

        Example::

            accounts = database.event_store(account_codec)
        """
        store: SqliteStore[EntityT, EventT] = self._store_for(
            codec, lambda: SqliteStore._make(self, codec)
        )
        return store._event_store

    def statistics(self) -> SqliteStoreStatistics:
        """Return the writer's counters (all aggregate types) and whether it is running.

        Example::

            stats = database.statistics()
            print(stats.transactions / max(stats.commits, 1), "commands per fsync")
        """
        return SqliteStoreStatistics(*self._writer_counts())

    def __repr__(self) -> str:
        return f"<SqliteDatabase {self._options.path!r} {running_state(self._running)}>"

    def _not_started(self) -> Error[EventStoreError]:
        return not_started(
            f"the SQLite store {self._options.path!r}", "sqlite_store", stopped=self._has_run
        )

    async def _serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the file's connections until cancelled (the child's task)."""
        path = self._options.path
        if self._claimed:
            raise DatabaseRefused(f"the SQLite store {path!r} is already running")
        self._claimed = True
        try:
            try:
                connection = await trio.to_thread.run_sync(open_writer, self._options)
            except DatabaseRefused as exc:
                logger.error("cannot open the SQLite store: %s", exc)
                raise
            token = trio.lowlevel.current_trio_token()
            writer = Writer(
                SqliteWriteConnection(connection, path),
                f"trio-eventsourcing SQLite writer {path}",
                token,
                self._counters,
                self._watchers.changed,
            )
            readers = Readers(self._options, token)
            try:
                writer.start()
                readers.start()
                self._running = _Running(writer, readers, path)
                self._has_run = True
                task_status.started()
                await writer.exited.wait()
                raise WriterCrashed(
                    f"the writer thread of the SQLite store {path!r} stopped unexpectedly"
                ) from writer.failure
            finally:
                # New requests are refused from here on; those queued are still served.
                self._running = None
                readers.stop()
                with trio.CancelScope(shield=True):
                    await readers.join()
                    # The writer's connection closes last: closing the last connection
                    # checkpoints the WAL into the database and removes the -wal file,
                    # which a read-only connection would not do.
                    writer.stop()
                    await writer.join()
        finally:
            self._claimed = False


@final
class SqliteTransaction(DurableTransaction[EntityT, EventT]):
    """The handle of one transaction of a SQLite store (made by the store, never by hand)."""

    __slots__ = ()


SqliteEventStore = EventStore[
    SqliteStore[EntityT, EventT], EntityT, EventT, SqliteTransaction[EntityT, EventT]
]
"""The type of the event store ``sqlite_store.supervised`` returns."""


def _make_event_store(store: SqliteStore[EntityT, EventT]) -> SqliteEventStore[EntityT, EventT]:
    return make_event_store(
        store,
        SqliteTransaction,
        SqliteStore._connections,
        SqliteStore._not_started,
        store.codec,
        f"the SQLite store {store.path!r}",
        _RULES,
    )


async def read_log(
    store: SqliteStore[EntityT, EventT] | SqliteEventStore[EntityT, EventT],
    start_from: int = 0,
    limit: int = 1_000,
) -> Result[list[LogEntry[EventT]], EventStoreError]:
    """Read the global log: the store's events in commit order, after a position.

    Every event gets a position when it is committed; positions only grow, and an event
    never appears after one with a higher position (SQLite has one writer at a time, so
    commit order is position order). Reading from the last position handled, again and
    again, therefore sees every event exactly once, in order. Only events of the codec's
    ``aggregate_type`` are returned, so stores of several aggregate types may share a
    file; positions then have gaps.

    Args:
        store: The event store from :func:`supervised`, or its ``eventstore`` field.
        start_from: Return events with a position greater than this (``0``: from the
            start), typically the position of the last entry already handled.
        limit: The most entries to return.

    Returns:
        ``Ok(entries)``, oldest first and at most ``limit`` of them (an empty list when
        there is nothing after ``start_from``), or ``Error(EventStoreError)`` if the store
        is not running, the file cannot be read or an event cannot be decoded.

    Example::

        position = 0
        while True:
            entries = (await sqlite_store.read_log(store, position, 500)).unwrap()
            if not entries:
                break
            for entry in entries:
                print(entry.position, entry.envelope.aggregate_id, entry.envelope.payload)
            position = entries[-1].position
    """
    return await shared_read_log(store, SqliteStore, "sqlite_store", start_from, limit)


def supervised_database(
    path: str | os.PathLike[str],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
    max_readers: int = 4,
) -> tuple[SqliteDatabase, ChildSpecification[Supervisor]]:
    """Create an SQLite database for many aggregate types, and the child that runs it.

    The database is the file at ``path``. Get the event store of each aggregate type with
    :meth:`SqliteDatabase.event_store`: they share the file's one writer (one group commit
    for all of them) and its global log. Everything else is as :func:`supervised` says,
    which is this function and one ``event_store(codec)``.

    Returns:
        ``(database, child_specification)``: add the specification to your supervisor
        before the event-sourcing systems of the database's stores.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``path`` names an in-memory database, or an option is out of range.

    Example::

        database, database_spec = sqlite_store.supervised_database("shop.db")
        carts = database.event_store(cart_codec)
        orders = database.event_store(order_codec)
    """
    database = SqliteDatabase._make(
        _options(path, synchronous=synchronous, busy_timeout=busy_timeout, max_readers=max_readers)
    )
    return database, store_child(
        database, database._serve, DatabaseRefused, f"SQLite database {database.path!r}"
    )


def supervised(
    path: str | os.PathLike[str],
    codec: Codec[EventT, EntityT],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
    max_readers: int = 4,
) -> tuple[SqliteEventStore[EntityT, EventT], ChildSpecification[Supervisor]]:
    """Create an SQLite store on the file at ``path`` and the child that runs it.

    The file is created with the store's schema if it does not exist (or is empty), and
    put in WAL mode. Starting the child specification opens it; an existing file that is
    not a trio-eventsourcing store, or was written by a newer version, is refused then
    (the start returns ``Error(StartError(reason))``) and left untouched. Until the child
    has started, and after it stops, every store function returns
    ``Error(EventStoreError(..., StoreFailure.NOT_RUNNING))`` saying the store is not
    started, or has stopped.

    Args:
        path: The database file.
        codec: Encodes and decodes events and snapshots, e.g. a ``JsonCodec``.
        synchronous: ``"FULL"`` (the default): a command acknowledged is on disk and
            survives a power loss. ``"NORMAL"``: faster commits, still safe when the
            process crashes, but the last commands acknowledged before a power loss or OS
            crash may be lost.
        busy_timeout: Seconds to wait for the write lock when another process (or
            another store on the same file) holds it, before the write fails.
        max_readers: The most reads run at once, each in a worker thread with its own
            connection.

    Returns:
        ``(event_store, child_specification)``: pass the store to
        ``eventsourcing.supervised`` and add the specification to your supervisor,
        before the event-sourcing system's.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``path`` names an in-memory database, or an option is out of range.

    Example::

        codec = JsonCodec(events=[Opened, Deposited], entities=[Account], aggregate_type="account")
        store, store_spec = sqlite_store.supervised("bank.db", codec)
    """
    options = _options(
        path, synchronous=synchronous, busy_timeout=busy_timeout, max_readers=max_readers
    )
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must be a Codec, such as a JsonCodec, got {codec!r}")
    database = SqliteDatabase._make(options)
    what = f"SQLite store {database.path!r}"
    spec = store_child(database, database._serve, DatabaseRefused, what)
    return database.event_store(codec), spec


def _options(
    path: object, *, synchronous: Synchronous, busy_timeout: float, max_readers: int
) -> Options:
    """The options of a database, checked."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if name in ("", ":memory:") or name.startswith("file:"):
        raise ValueError(
            f"path must name a file (got {name!r}): the store needs WAL and several "
            "connections, which in-memory databases and URIs do not give it"
        )
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}, got {synchronous!r}"
        )
    return Options(
        path=absolute(name),
        synchronous=synchronous,
        busy_timeout=require_seconds("busy_timeout", busy_timeout, zero=True),
        max_readers=require_positive_int("max_readers", max_readers),
    )
