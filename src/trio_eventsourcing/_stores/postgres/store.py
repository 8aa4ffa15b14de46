"""The PostgreSQL event store: many processes, many machines, one consistent store.

``supervised(dsn, codec)`` returns the :class:`~trio_eventsourcing.EventStore` and the
child specification that owns the store's connections. While that child runs, a writer
thread (``_stores.postgres.writer``) stores every write transaction, many per commit, on its own
connection, and reads run on a small pool of connections in worker threads
(``_stores.postgres.reader``); no driver call ever runs on the Trio thread. Events are encoded
with the codec on the Trio side, as the command is staged, and decoded in the reading
thread. The tables, and how they are created and checked, are in ``_stores.postgres.schema``;
the DSN, the driver and its errors in ``_stores.postgres.connection``.

It mirrors the SQLite store (``sqlite_store``): the same options where they mean the
same, the same log reader, the same statistics, the same errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from typing_extensions import Never, final

from ..._codec.json_codec import Codec
from ..._core.errors import EventStoreError
from ..._core.log import LogEntry
from ..._core.log_source import LogSource, SelectedType, Selection
from ..._core.records import EventEnvelop, Snapshot
from ..._core.store import EventStore
from ..._runtime.checks import require_positive_int
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
from .connection import (
    Options,
    check_schema_name,
    check_seconds,
    check_table_prefix,
    connect,
    parse_dsn,
    require_driver,
)
from .reader import (
    ReaderPool,
    ReadResult,
    read_aggregate,
    read_command,
    read_events,
    read_snapshot,
)
from .reader import read_log as read_log_rows
from .schema import Names, StoreRefused, check_names, prepare
from .writer import PostgresWriteConnection, configure_writer

if TYPE_CHECKING:
    from .connection import Connection

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.postgres_store")


@final
@dataclass(frozen=True, slots=True)
class PostgresStoreStatistics(WriterStatistics):
    """What the store's writer has done since the store was created (across restarts).

    The fields of ``WriterStatistics`` (``running``, ``transactions``, ``commits``,
    ``largest_batch``, ``conflicts``; commits are PostgreSQL commits), and
    ``reconnects``: the times the writer connected again after losing its connection.
    """

    reconnects: int


def _unstorable(text: object) -> str | None:
    """Why PostgreSQL ``text`` cannot hold ``text``, or ``None`` if it can."""
    if not isinstance(text, str):
        return f"it is a {type(text).__name__}, not a str"
    if "\x00" in text:
        return "it contains a NUL character, which PostgreSQL text cannot hold"
    return lone_surrogate(text)


_RULES = ColumnRules(
    _unstorable,
    checks_rows=True,
    max_version=2**31 - 1,
    version_type="a PostgreSQL integer",
    zoned_time=True,
)
"""What PostgreSQL refuses, checked as a command is staged, so that a value the server
would refuse fails that command alone and never costs its batch a retry one request at
a time: text with NUL or a lone surrogate, versions beyond ``integer``, naive times."""


@final
class _Running(DurableRunning["Connection"]):
    """The connections of a started database: its writer and its readers.

    The writes and reads themselves are those of ``DurableRunning``; the reads run on a
    pooled read connection.
    """

    __slots__ = ("names", "options", "readers", "writer")
    rules = _RULES

    def __init__(self, writer: Writer, readers: ReaderPool, names: Names, options: Options) -> None:
        self.writer = writer
        self.readers = readers
        self.names = names
        self.options = options

    def _snapshot(
        self, connection: Connection, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> ReadResult[Snapshot[EntityT] | None]:
        return read_snapshot(connection, codec, self.options, self.names, aggregate_id)

    def _aggregate(
        self, connection: Connection, codec: Codec[EventT, EntityT], aggregate_id: str
    ) -> ReadResult[tuple[Snapshot[EntityT] | None, ReadResult[list[EventEnvelop[EventT]]]]]:
        # The events after the snapshot come with it, in the same statement.
        return read_aggregate(connection, codec, self.options, self.names, aggregate_id)

    def _events(
        self,
        connection: Connection,
        codec: Codec[EventT, EntityT],
        aggregate_id: str,
        start_from: int,
    ) -> ReadResult[list[EventEnvelop[EventT]]]:
        return read_events(connection, codec, self.options, self.names, aggregate_id, start_from)

    def _command(
        self, connection: Connection, aggregate_type: str, aggregate_id: str, key: str
    ) -> ReadResult[bool]:
        return read_command(connection, self.names, aggregate_type, aggregate_id, key)

    def _log(
        self, connection: Connection, codec: Codec[EventT, EntityT], after: int, most: int
    ) -> ReadResult[list[LogEntry[EventT]]]:
        return read_log_rows(connection, codec, self.options, self.names, after, most)


@final
class PostgresStore(DurableStore[EntityT, EventT, "PostgresDatabase"]):
    """The store of one aggregate type in a PostgreSQL database: the database and a codec.

    Made by :func:`supervised` or :meth:`PostgresDatabase.event_store`, and found in the
    ``eventstore`` field of the :class:`~trio_eventsourcing.EventStore` they return.
    Pass it to :func:`read_log`. Its ``repr`` and messages name the server without the
    DSN's password.
    """

    __slots__ = ("_event_store",)
    _event_store: PostgresEventStore[EntityT, EventT]

    def __init__(self, _private: Never) -> None:
        raise TypeError("PostgresStore has no public constructor: use postgres_store.supervised()")

    @classmethod
    def _make(
        cls, database: PostgresDatabase, codec: Codec[EventT, EntityT]
    ) -> PostgresStore[EntityT, EventT]:
        self = object.__new__(cls)
        self._init_store(database, codec)
        self._event_store = _make_event_store(self)
        return self

    @property
    def database(self) -> PostgresDatabase:
        """The database this store is one aggregate type of."""
        return self._database

    @property
    def server(self) -> str:
        """The database's :attr:`~PostgresDatabase.server`: ``user@host:port/dbname``."""
        return self._database.server

    @property
    def schema(self) -> str:
        """The database's :attr:`~PostgresDatabase.schema`."""
        return self._database.schema

    @property
    def table_prefix(self) -> str:
        """The database's :attr:`~PostgresDatabase.table_prefix`."""
        return self._database.table_prefix

    @property
    def channel(self) -> str:
        """The database's :attr:`~PostgresDatabase.channel`, notified by every commit."""
        return self._database.channel

    @property
    def codec(self) -> Codec[EventT, EntityT]:
        """The codec that encodes and decodes this store's events and snapshots."""
        return self._codec

    def statistics(self) -> PostgresStoreStatistics:
        """Return the database's writer counters (all its aggregate types) and whether it runs.

        Example::

            stats = store.eventstore.statistics()
            print(stats.transactions / max(stats.commits, 1), "commands per commit")
        """
        return self._database.statistics()

    def __repr__(self) -> str:
        database = self._database
        state = running_state(database._running)
        return (
            f"<PostgresStore {database.server} tables {database._names.events}"
            f" {self._codec.aggregate_type!r} {state}>"
        )

    @property
    def _running(self) -> _Running | None:
        return self._database._running

    @property
    def _options(self) -> Options:
        return self._database._options

    @property
    def _names(self) -> Names:
        return self._database._names

    def _log_source(
        self, selection: Selection[Any] | None = None
    ) -> LogSource[LogEntry[EventT], Connection]:
        """The log and projection tables, as projections use them (see ``HasLogSource``)."""
        # Imported here: only projections need it.
        from .projection import PostgresLogSource

        if selection is None:
            selection = Selection((SelectedType(self, self._codec.aggregate_type),))
        return PostgresLogSource(self, selection)


@final
class PostgresDatabase(DurableDatabase[_Running, PostgresStore[Any, Any]]):
    """One PostgreSQL store's tables and, while its child runs, its writer and readers.

    Made by :func:`supervised_database`; :meth:`event_store` gives the store of each
    aggregate type, all of them written by the one writer, in one group commit, into one
    global log. Aggregate ids are scoped by aggregate type. Its ``repr`` and messages
    name the server without the DSN's password.

    Example::

        database, database_spec = postgres_store.supervised_database(dsn)
        carts = database.event_store(cart_codec)
        orders = database.event_store(order_codec)
    """

    __slots__ = ("_names", "_options")
    _options: Options
    _names: Names

    def __init__(self, _private: Never) -> None:
        raise TypeError(
            "PostgresDatabase has no public constructor: use postgres_store.supervised_database()"
        )

    @classmethod
    def _make(cls, options: Options) -> PostgresDatabase:
        self = object.__new__(cls)
        self._options = options
        self._names = Names(options.schema, options.table_prefix)
        self._init_database()
        return self

    @property
    def server(self) -> str:
        """The server and database, as ``user@host:port/dbname`` (never the password)."""
        return self._options.server

    @property
    def schema(self) -> str:
        """The schema that holds the store's tables."""
        return self._options.schema

    @property
    def table_prefix(self) -> str:
        """The prefix of the store's table names (``<prefix>events``, ...)."""
        return self._options.table_prefix

    @property
    def channel(self) -> str:
        """The channel to ``LISTEN`` on, which every commit that stores events notifies.

        It is ``"<schema>.<prefix>events"`` (quote it in SQL: ``LISTEN "public.trio_es_events"``),
        or a name derived from it when that would exceed PostgreSQL's 63 bytes. The
        notification's payload is empty: it only says that the log has grown, and a
        listener reads the log from its last position to see what.
        """
        return self._names.channel

    def event_store(self, codec: Codec[EventT, EntityT]) -> PostgresEventStore[EntityT, EventT]:
        """The event store of ``codec``'s aggregate type in this database.

        Pass it to ``eventsourcing.supervised``, one event-sourcing system per aggregate
        type. Asking again with the same codec gives the same store.

        Raises:
            TypeError: ``codec`` is not a codec.
            ValueError: Another codec already serves that aggregate type here.

        Example::

            accounts = database.event_store(account_codec)
        """
        store: PostgresStore[EntityT, EventT] = self._store_for(
            codec, lambda: PostgresStore._make(self, codec)
        )
        return store._event_store

    def statistics(self) -> PostgresStoreStatistics:
        """Return the writer's counters (all aggregate types) and whether it is running.

        Example::

            stats = database.statistics()
            print(stats.transactions / max(stats.commits, 1), "commands per commit")
        """
        counters = self._counters
        return PostgresStoreStatistics(*self._writer_counts(), reconnects=counters.reconnects)

    def __repr__(self) -> str:
        state = running_state(self._running)
        return f"<PostgresDatabase {self._options.server} tables {self._names.events} {state}>"

    def _not_started(self) -> Error[EventStoreError]:
        return not_started(
            f"the PostgreSQL store {self._options.server} ({self._names.events})",
            "postgres_store",
            stopped=self._has_run,
        )

    def _open(self) -> tuple[Connection, Names]:
        """Connect the writer and prepare the tables (blocks: run in a thread).

        Raises:
            StoreRefused: The server cannot be reached, or the tables cannot be used.
        """
        import psycopg

        options = self._options
        try:
            connection = connect(options, "writer")
        except psycopg.Error as exc:
            raise StoreRefused(options.driver_error("connecting", exc)) from None
        try:
            names = prepare(connection, options)
            configure_writer(connection, options)
        except psycopg.Error as exc:
            connection.close()
            raise StoreRefused(options.driver_error("preparing the store's tables", exc)) from None
        except BaseException:
            connection.close()
            raise
        return connection, names

    def _open_readers(self, token: trio.lowlevel.TrioToken) -> ReaderPool:
        """Open the first read connection (blocks: run in a thread); ``token`` is the store's run.

        Raises:
            StoreRefused: The server cannot be reached.
        """
        import psycopg

        readers = ReaderPool(self._options, token)
        try:
            readers.open()
        except psycopg.Error as exc:
            raise StoreRefused(
                self._options.driver_error("opening a read connection", exc)
            ) from None
        return readers

    async def _serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the store's connections until cancelled (the child's task)."""
        server = self._options.server
        if self._claimed:
            raise StoreRefused(
                f"the PostgreSQL store {server} ({self._names.events}) is already running"
            )
        self._claimed = True
        try:
            try:
                connection, names = await trio.to_thread.run_sync(self._open)
            except StoreRefused as exc:
                logger.error("cannot start the PostgreSQL store: %s", exc)
                raise
            try:
                readers = await trio.to_thread.run_sync(
                    self._open_readers, trio.lowlevel.current_trio_token()
                )
            except BaseException as exc:
                if isinstance(exc, StoreRefused):
                    logger.error("cannot start the PostgreSQL store: %s", exc)
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(connection.close)
                raise
            writer = Writer(
                PostgresWriteConnection(connection, self._options, names, self._counters),
                f"trio-eventsourcing PostgreSQL writer {server} {names.events}",
                trio.lowlevel.current_trio_token(),
                self._counters,
            )
            writer.start()
            readers.start()
            try:
                self._running = _Running(writer, readers, names, self._options)
                self._has_run = True
                task_status.started()
                await writer.exited.wait()
                raise WriterCrashed(
                    f"the writer thread of the PostgreSQL store {server} stopped "
                    f"unexpectedly: {self._options.scrub(repr(writer.failure))}"
                )
            finally:
                # New requests are refused from here on; those queued are still stored.
                self._running = None
                writer.stop()
                # Not joined: a read still waiting on a server that stopped answering ends
                # on its own, as an abandoned read does, and closes its connection then.
                readers.stop()
                with trio.CancelScope(shield=True):
                    await writer.join()
                    await trio.to_thread.run_sync(readers.close)
        finally:
            self._claimed = False


@final
class PostgresTransaction(DurableTransaction[EntityT, EventT]):
    """The handle of one transaction of a PostgreSQL store (made by the store, never by hand)."""

    __slots__ = ()


PostgresEventStore = EventStore[
    PostgresStore[EntityT, EventT], EntityT, EventT, PostgresTransaction[EntityT, EventT]
]
"""The type of the event store ``postgres_store.supervised`` returns."""


def _make_event_store(
    store: PostgresStore[EntityT, EventT],
) -> PostgresEventStore[EntityT, EventT]:
    return make_event_store(
        store,
        PostgresTransaction,
        PostgresStore._connections,
        PostgresStore._not_started,
        store.codec,
        f"the store PostgreSQL {store._options.server}",
        _RULES,
    )


async def read_log(
    store: PostgresStore[EntityT, EventT] | PostgresEventStore[EntityT, EventT],
    start_from: int = 0,
    limit: int = 1_000,
) -> Result[list[LogEntry[EventT]], EventStoreError]:
    """Read the global log: the store's events in commit order, after a position.

    Every event gets a position when it is committed. Writers, in this process or any
    other, take the store's position lock before they number their events and hold it
    until they commit, so positions are handed out in commit order: once a reader sees
    a position, every lower position is committed and visible too. Reading from the
    last position handled, again and again, therefore sees every event exactly once, in
    order, even while many processes write. Only events of the codec's
    ``aggregate_type`` are returned, so stores of several aggregate types may share
    tables; positions then have gaps.

    Args:
        store: The event store from :func:`supervised`, or its ``eventstore`` field.
        start_from: Return events with a position greater than this (``0``: from the
            start), typically the position of the last entry already handled.
        limit: The most entries to return.

    Returns:
        ``Ok(entries)``, oldest first and at most ``limit`` of them (an empty list when
        there is nothing after ``start_from``), or ``Error(EventStoreError)`` if the store
        is not running, the server fails or an event cannot be decoded.

    Raises:
        TypeError: ``store`` is not a PostgreSQL store.
        ValueError: ``start_from`` is negative or ``limit`` is not positive.

    Example::

        position = 0
        while True:
            entries = (await postgres_store.read_log(store, position, 500)).unwrap()
            if not entries:
                break
            for entry in entries:
                print(entry.position, entry.envelope.aggregate_id, entry.envelope.payload)
            position = entries[-1].position
    """
    return await shared_read_log(store, PostgresStore, "postgres_store", start_from, limit)


def _check_prefix(schema: str, table_prefix: object) -> str:
    # Its form first, then its length: every name the store creates must fit
    # PostgreSQL's identifiers.
    prefix = check_table_prefix(table_prefix)
    check_names(schema, prefix)
    return prefix


def supervised(
    dsn: str,
    codec: Codec[EventT, EntityT],
    *,
    schema: str = "public",
    table_prefix: str = "trio_es_",
    max_readers: int = 4,
    connect_timeout: float = 10.0,
    retry_timeout: float = 10.0,
) -> tuple[PostgresEventStore[EntityT, EventT], ChildSpecification[Supervisor]]:
    """Create a PostgreSQL store and the child that runs it.

    Starting the child specification connects to the server and creates the store's
    tables if they do not exist (safely when several processes start at once). A server
    that cannot be reached, tables that exist but are not a store's, or tables created
    by a newer version of this library make the start return
    ``Error(StartError(reason))``, and leave the database untouched. Until the child has
    started, and after it stops, every store function returns
    ``Error(EventStoreError(..., StoreFailure.NOT_RUNNING))`` saying the store is not
    started, or has stopped.

    Args:
        dsn: A libpq connection string, ``"host=db user=app dbname=bank"``, or URI,
            ``"postgresql://app:secret@db:5432/bank"``. Its password never appears in
            logs, reprs or error messages.
        codec: Encodes and decodes events and snapshots, e.g. a ``JsonCodec``.
        schema: The schema of the store's tables, created if missing.
        table_prefix: The start of the store's table names: ``<prefix>events``,
            ``<prefix>snapshots`` and ``<prefix>store``. With ``schema``, this lets
            several applications share a database. At most 32 bytes, so that the
            longest name the store creates (``<prefix>projection_dead_letters_by_name``)
            fits PostgreSQL's 63.
        max_readers: The size of the read connection pool: the most reads at once, each
            in a worker thread with its own connection. The writer has one more.
        connect_timeout: Seconds to wait for the server when connecting.
        retry_timeout: Seconds a write keeps trying after losing its connection (reconnecting,
            and looking up whether a commit in flight went through) before it is reported
            as failed; also the longest a write waits for the position lock.

    Returns:
        ``(event_store, child_specification)``: pass the store to
        ``eventsourcing.supervised`` and add the specification to your supervisor,
        before the event-sourcing system's.

    Raises:
        ImportError: psycopg is not installed (``pip install "trio-eventsourcing[postgres]"``).
        TypeError: If an argument has the wrong type.
        ValueError: If ``dsn`` cannot be parsed, or an option is out of range.

    Example::

        codec = JsonCodec(events=[Opened, Deposited], entities=[Account], aggregate_type="account")
        store, store_spec = postgres_store.supervised("postgresql://app@db/bank", codec)
    """
    require_driver()
    conninfo, server, secrets, keys = parse_dsn(dsn)
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must be a Codec, such as a JsonCodec, got {codec!r}")
    database = PostgresDatabase._make(
        _options(
            conninfo,
            server,
            secrets,
            keys,
            schema=schema,
            table_prefix=table_prefix,
            max_readers=max_readers,
            connect_timeout=connect_timeout,
            retry_timeout=retry_timeout,
        )
    )
    return database.event_store(codec), _store_child(database, "store")


def supervised_database(
    dsn: str,
    *,
    schema: str = "public",
    table_prefix: str = "trio_es_",
    max_readers: int = 4,
    connect_timeout: float = 10.0,
    retry_timeout: float = 10.0,
) -> tuple[PostgresDatabase, ChildSpecification[Supervisor]]:
    """Create a PostgreSQL database for many aggregate types, and the child that runs it.

    Get the event store of each aggregate type with :meth:`PostgresDatabase.event_store`:
    they share the tables, the one writer (one group commit for all of them) and the
    global log. Everything else is as :func:`supervised` says, which is this function and
    one ``event_store(codec)``.

    Returns:
        ``(database, child_specification)``: add the specification to your supervisor
        before the event-sourcing systems of the database's stores.

    Raises:
        ImportError: psycopg is not installed (``pip install "trio-eventsourcing[postgres]"``).
        TypeError: If an argument has the wrong type.
        ValueError: If ``dsn`` cannot be parsed, or an option is out of range.

    Example::

        database, database_spec = postgres_store.supervised_database("postgresql://app@db/shop")
        carts = database.event_store(cart_codec)
        orders = database.event_store(order_codec)
    """
    require_driver()
    conninfo, server, secrets, keys = parse_dsn(dsn)
    database = PostgresDatabase._make(
        _options(
            conninfo,
            server,
            secrets,
            keys,
            schema=schema,
            table_prefix=table_prefix,
            max_readers=max_readers,
            connect_timeout=connect_timeout,
            retry_timeout=retry_timeout,
        )
    )
    return database, _store_child(database, "database")


def _store_child(database: PostgresDatabase, kind: str) -> ChildSpecification[Supervisor]:
    """The child that runs ``database``: the supervisor of the PostgreSQL store (or database)."""
    names = database._names
    what = f"PostgreSQL {kind} {database.server} ({names.events})"
    return store_child(database, database._serve, StoreRefused, what)


def _options(
    conninfo: str,
    server: str,
    secrets: tuple[str, ...],
    keys: frozenset[str],
    *,
    schema: str,
    table_prefix: str,
    max_readers: int,
    connect_timeout: float,
    retry_timeout: float,
) -> Options:
    """The options of a database, checked."""
    return Options(
        conninfo=conninfo,
        server=server,
        secrets=secrets,
        dsn_keys=keys,
        schema=check_schema_name(schema),
        table_prefix=_check_prefix(schema, table_prefix),
        max_readers=require_positive_int("max_readers", max_readers),
        connect_timeout=check_seconds("connect_timeout", connect_timeout),
        retry_timeout=check_seconds("retry_timeout", retry_timeout),
    )
