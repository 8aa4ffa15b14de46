"""The PostgreSQL store as a log source: any number of processes, one runner per projection.

- **Reads** (the log, the end of the log, checkpoints, dead letters) use the store's
  read pool, in worker threads.
- **Wake-ups**: each follower listens (``LISTEN``) on the store's channel
  (``_stores.postgres.projection_listen``); the writer of every process notifies it in each
  commit that stores events. The poll (5 s by default) covers a lost notification.
- **One runner per projection across processes**: :meth:`PostgresLogSource.hold` takes a
  session advisory lock on a connection of the runner's own, trying again every
  ``TAKEOVER_POLL`` seconds while another process holds it. When the holder dies its
  connection closes and the server releases the lock: a standby takes over within about
  ``TAKEOVER_POLL`` seconds (a holder whose machine vanished is noticed by TCP keepalive,
  within about half a minute) and continues from the checkpoint.
- **Checkpoint writes** run on the runner's lock connection, in a worker thread, in one
  transaction: the compare-and-set of the checkpoint, any dead letter and, for a
  ``transactional`` projection, the handler, given that connection (a
  ``psycopg.Connection`` in a transaction block). If the lock connection is lost, the
  lock may have passed to another process: the runner raises :class:`LockLost`, and its
  supervisor restarts it, to stand by again.

The projections' tables are created on first use (``_stores.postgres.projection_tables``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import timezone
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from typing_extensions import final

from ..._core.errors import EventStoreError
from ..._core.log import LogEntry
from ..._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointResult,
    CheckpointWrite,
    DeadLetter,
    HandlerRaised,
    LogPage,
    LogWatch,
    Selection,
)
from ..._core.log_watchers import LogWatchers
from ..._runtime.result import Error, Ok, Result
from ..checkpoints import CheckpointStatements, compare_and_set
from ..process_state import (
    ProcessChanges,
    ProcessMoved,
    StoredProcess,
    describe_runner,
    load_process,
    runner_name,
    save_process,
)
from ..selection import POSTGRES_KIND, QueriedSelection, runner_key
from .connection import connect, failure_kind, is_connection_lost
from .projection_listen import listening
from .projection_tables import PROJECTION_LOCK_CLASS, ProjectionNames
from .reader import log_query, read_selected_log

if TYPE_CHECKING:
    from .connection import Connection
    from .store import PostgresStore

ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.projections")

TAKEOVER_POLL = 0.5
"""Seconds between two attempts of a standby to take a projection's lock."""

_FIRST_DELAY = 0.1
_LONGEST_DELAY = 5.0
_OK: Ok[None] = Ok(None)


@final
class LockLost(Exception):
    """A projection's runner lost the connection that held its lock: it must stand by again."""


@final
class _Local:
    """What this process keeps for one PostgreSQL store object's running projections."""

    __slots__ = ("holders", "store", "users", "watchers")

    def __init__(self, store: object) -> None:
        # Held while registered, so that no other object can take the store's id.
        self.store = store
        self.users = 0
        self.watchers = LogWatchers()
        self.holders: dict[str, Connection] = {}


# One entry per PostgresDatabase object that a projection or follower of this process is
# using right now, keyed by the database's id: the database's own class cannot carry them
# (it belongs to the PostgreSQL store, and has no room for a weak reference). An entry goes
# when its last user does, so a database that stops being used is collected like any other.
_LOCAL: dict[int, _Local] = {}


@contextmanager
def _using(store: PostgresStore[Any, Any]) -> Iterator[_Local]:
    """The entry of the store's database for the duration of the block (made by the first user)."""
    database = store.database
    local = _LOCAL.get(id(database))
    if local is None:
        _LOCAL[id(database)] = local = _Local(database)
    local.users += 1
    try:
        yield local
    finally:
        local.users -= 1
        if not local.users:
            del _LOCAL[id(database)]


class _Rollback(Exception):
    """Ends a transaction block with a rollback, carrying the answer."""

    def __init__(self, answer: CheckpointMoved | HandlerRaised | ProcessMoved) -> None:
        super().__init__()
        self.answer = answer


@final
class PostgresLogSource:
    """A PostgreSQL store's log and projection tables (see ``LogSource``)."""

    __slots__ = (
        "_count_after",
        "_head",
        "_log_query",
        "_names",
        "_scope",
        "_selected",
        "_statistics_checked",
        "_store",
        "_tables_ready",
    )

    transactional = True
    # Every commit notifies: the poll only covers a lost notification or connection.
    poll_interval = 5.0

    def __init__(self, store: PostgresStore[Any, Any], selection: Selection[Any]) -> None:
        # Any store of the database: the server, its pools and its channel are theirs.
        self._store = store
        self._names = ProjectionNames(store._names, store.table_prefix, store.schema)
        self._tables_ready = False
        self._statistics_checked = False
        self._selected = selected = QueriedSelection(selection, "%s", POSTGRES_KIND)
        self._scope = selected.scope
        condition, events = selected.condition, store._names.events
        self._log_query = log_query(store._names, condition)
        self._head = (
            f"SELECT position FROM {events} WHERE {condition} ORDER BY position DESC LIMIT 1"
        )
        self._count_after = f"SELECT count(*) FROM {events} WHERE position > %s AND {condition}"

    @property
    def description(self) -> str:
        return f"the PostgreSQL store {self._store.server} ({self._store._names.events})"

    # -- wake-ups and the right to run ----------------------------------------------------

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        return self._watching()

    @asynccontextmanager
    async def _watching(self) -> AsyncIterator[LogWatch]:
        store = self._store
        with _using(store) as local:
            async with listening(store._options, store.channel, local.watchers):
                yield local.watchers

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._holding(name)

    @asynccontextmanager
    async def _holding(self, name: str) -> AsyncIterator[None]:
        # In this process first, so that two runners here do not both hold a connection.
        with _using(self._store) as local:
            key = runner_key(self._scope, name)
            async with local.watchers.runner(key):
                connection = await self._lock(name)
                local.holders[key] = connection
                try:
                    yield
                finally:
                    del local.holders[key]
                    # Closing the session releases its advisory lock.
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(connection.close)

    async def _lock(self, name: str) -> Connection:
        """A connection holding projection ``name``'s advisory lock (waits for it)."""
        import psycopg

        store = self._store
        key = f"{self._names.lock_key} {self._scope} {name}"
        options = store._options

        def try_lock(connection: Connection) -> bool:
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (PROJECTION_LOCK_CLASS, key)
            ).fetchone()
            return bool(row is not None and row[0])

        failures = 0
        connection: Connection | None = None
        waiting_logged = False
        runner = describe_runner(name)
        while True:
            try:
                if connection is None:
                    connection = await trio.to_thread.run_sync(connect, options, "projection")
                if await trio.to_thread.run_sync(try_lock, connection):
                    if waiting_logged:
                        logger.warning("%s: took over from the previous runner", runner)
                    return connection
                failures = 0
                if not waiting_logged:
                    logger.info("%s runs in another process: standing by to take over", runner)
                    waiting_logged = True
                await trio.sleep(TAKEOVER_POLL)
            except psycopg.Error as exc:
                failures += 1
                delay = min(_FIRST_DELAY * 2.0 ** min(failures - 1, 64), _LONGEST_DELAY)
                logger.warning(
                    "%s: %s; trying again in %.3g s",
                    runner,
                    options.driver_error(f"taking the lock of {runner}", exc),
                    delay,
                )
                if connection is not None:
                    lost, connection = connection, None
                    await trio.to_thread.run_sync(lost.close)
                await trio.sleep(delay)
            except BaseException:
                if connection is not None:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(connection.close)
                raise

    # -- reads ----------------------------------------------------------------------------

    async def _read(
        self, operation: str, work: Callable[[Connection], Result[ValueT, EventStoreError]]
    ) -> Result[ValueT, EventStoreError]:
        running = self._store._running
        if running is None:
            await trio.lowlevel.checkpoint()
            return self._store._not_started()
        return await running.readers.run(operation, work)

    async def _ready(self) -> Result[None, EventStoreError]:
        """Create the projection tables if this process has not made sure of them yet."""
        if self._tables_ready:
            await trio.lowlevel.checkpoint()
            return _OK
        names = self._names

        def work(connection: Connection) -> Result[None, EventStoreError]:
            names.ensure(connection)
            return _OK

        result = await self._read("creating the projection tables", work)
        if isinstance(result, Ok):
            self._tables_ready = True
        return result

    async def read(self, after: int, limit: int) -> Result[LogPage[LogEntry[Any]], EventStoreError]:
        selected, query, options = self._selected, self._log_query, self._store._options
        page = await self._read(
            "reading the log",
            lambda connection: read_selected_log(
                connection, selected, query, options, after, limit
            ),
        )
        # Catching up (a full page): where the plan of the page query matters (_analyse).
        if (
            not self._statistics_checked
            and isinstance(page, Ok)
            and len(page.value.entries) >= limit
        ):
            self._statistics_checked = True
            events = self._store._names.events
            await self._read(
                "gathering the statistics of the events table",
                lambda connection: _analyse(connection, events),
            )
        return page

    async def head(self) -> Result[int, EventStoreError]:
        sql, parameters = self._head, self._selected.parameters

        def work(connection: Connection) -> Result[int, EventStoreError]:
            row = connection.execute(sql, parameters).fetchone()
            return Ok(0 if row is None else int(row[0]))

        return await self._read("finding the end of the log", work)

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        sql, parameters = self._count_after, (position, *self._selected.parameters)

        def work(connection: Connection) -> Result[int, EventStoreError]:
            row = connection.execute(sql, parameters).fetchone()
            return Ok(0 if row is None else int(row[0]))

        return await self._read("counting the log", work)

    async def load_checkpoint(self, name: str) -> Result[Checkpoint | None, EventStoreError]:
        ready = await self._ready()
        if isinstance(ready, Error):
            return ready
        sql, key = self._names.load_checkpoint, (self._scope, name)

        def work(connection: Connection) -> Result[Checkpoint | None, EventStoreError]:
            row = connection.execute(sql, key).fetchone()
            return Ok(None if row is None else Checkpoint(int(row[0]), bool(row[1])))

        return await self._read(f"loading the checkpoint of projection {name!r}", work)

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        ready = await self._ready()
        if isinstance(ready, Error):
            return ready
        sql, key = self._names.list_dead_letters, (self._scope, name)

        def work(connection: Connection) -> Result[list[DeadLetter], EventStoreError]:
            return Ok(
                [
                    DeadLetter(
                        name,
                        int(position),
                        aggregate_id,
                        int(sequence),
                        event_type,
                        error,
                        recorded_at.astimezone(timezone.utc),
                    )
                    for position, aggregate_id, sequence, event_type, error, recorded_at in (
                        connection.execute(sql, key).fetchall()
                    )
                ]
            )

        return await self._read(f"listing the dead letters of projection {name!r}", work)

    # -- writes ---------------------------------------------------------------------------

    async def write_checkpoint(
        self, name: str, write: CheckpointWrite[Connection]
    ) -> CheckpointResult:
        scope, names = self._scope, self._names
        statements = CheckpointStatements(
            names.create_checkpoint, names.move_checkpoint, names.add_dead_letter
        )

        def work(connection: Connection) -> None:
            if write.work is not None:
                try:
                    write.work(connection)
                except Exception as exc:
                    if is_connection_lost(connection):
                        raise  # the store's failure, not the handler's
                    raise _Rollback(HandlerRaised(exc)) from None
            moved = compare_and_set(connection.execute, statements, scope, name, write, _same)
            if moved is not None:
                raise _Rollback(moved)

        return await self._transact(name, f"writing the checkpoint of projection {name!r}", work)

    async def load_process(self, name: str) -> Result[StoredProcess | None, EventStoreError]:
        """Process manager ``name``'s stored state (``_stores/process_state.py``)."""
        ready = await self._ready()
        if isinstance(ready, Error):
            return ready
        scope, statements = self._scope, self._names.processes.statements

        def work(connection: Connection) -> Result[StoredProcess | None, EventStoreError]:
            return Ok(load_process(connection.execute, statements, scope, name))

        return await self._read(f"loading process manager {name!r}", work)

    async def save_process(
        self, name: str, changes: ProcessChanges
    ) -> Result[None, ProcessMoved | EventStoreError]:
        """Save one step of process manager ``name``, in one transaction.

        On the connection that holds the manager's lock, when this process runs it
        (``hold``): losing that connection raises ``LockLost``.
        """
        scope, statements = self._scope, self._names.processes.statements

        def work(connection: Connection) -> None:
            try:
                with connection.cursor() as cursor:
                    save_process(
                        connection.execute, cursor.executemany, statements, scope, name, changes
                    )
            except ProcessMoved as moved:
                raise _Rollback(moved) from None

        return await self._transact(runner_name(name), f"saving process manager {name!r}", work)

    async def _transact(
        self, held: str, operation: str, work: Callable[[Connection], None]
    ) -> Result[None, Any]:
        """Run ``work`` in one transaction, on the connection that holds ``held`` if any.

        ``work`` raises ``_Rollback(answer)`` to roll back and answer ``Error(answer)``.
        """
        import psycopg

        ready = await self._ready()
        if isinstance(ready, Error):
            return ready
        options = self._store._options

        def transaction(connection: Connection) -> Result[None, Any]:
            try:
                with connection.transaction():
                    work(connection)
            except _Rollback as rollback:
                return Error(rollback.answer)
            return _OK

        local = _LOCAL.get(id(self._store.database))
        holder = None if local is None else local.holders.get(runner_key(self._scope, held))
        if holder is None:
            # Not from a runner holding the lock (there is none): any connection will do.
            outer = await self._read(operation, lambda connection: Ok(transaction(connection)))
            return outer.value if isinstance(outer, Ok) else outer
        try:
            # Not abandoned on cancel: the transaction must end before the connection is
            # closed or used again. It is short, or the handler's.
            return await trio.to_thread.run_sync(transaction, holder)
        except psycopg.Error as exc:
            message = options.driver_error(operation, exc)
            if is_connection_lost(holder):
                runner = describe_runner(held)
                logger.error("%s lost its lock: %s", runner, message)
                raise LockLost(
                    f"{runner} lost the connection that held its lock: {message}"
                ) from None
            logger.error("%s", message)
            return Error(EventStoreError(message, failure_kind(exc, holder)))

    async def reset(self, name: str) -> Result[None, EventStoreError]:
        ready = await self._ready()
        if isinstance(ready, Error):
            return ready
        names, key = self._names, (self._scope, name)

        def work(connection: Connection) -> Result[None, EventStoreError]:
            with connection.transaction():
                connection.execute(names.reset_checkpoint, key)
                connection.execute(names.drop_dead_letters, key)
            return _OK

        result = await self._read(f"resetting projection {name!r}", work)
        local = _LOCAL.get(id(self._store.database))
        if isinstance(result, Ok) and local is not None:
            # A projection of this process runs on the store: it rebuilds at once.
            local.watchers.request_reset(name)
        return result


_STALE_STATISTICS = 0.2
"""The share of a table's rows changed since its statistics were gathered that makes them
too old for the page query: autovacuum gathers them again after 10 % (and 50 rows), but
only at its next round."""


def _analyse(connection: Connection, events: str) -> Result[None, EventStoreError]:
    """Gather the statistics of the events table if it has none, or only old ones.

    With them, the page query walks the primary key from the checkpoint and stops after
    a page; without them (a table just filled, before autovacuum's next round) the
    planner may read every event of the aggregate type and sort them, for every page. A
    sample of the table, taken without blocking writes; done once per log source.
    """
    row = connection.execute(
        "SELECT c.reltuples, s.n_mod_since_analyze,"
        " s.last_analyze IS NULL AND s.last_autoanalyze IS NULL"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid"
        " WHERE c.oid = %s::regclass",
        (events,),
    ).fetchone()
    if row is not None:
        rows, changed, never = max(float(row[0]), 0.0), int(row[1] or 0), bool(row[2])
        if never or changed > _STALE_STATISTICS * rows + 1_000:
            logger.info("gathering the statistics of %s for the log's page query", events)
            connection.execute(f"ANALYZE {events}")
    return _OK


def _same(value: object) -> object:
    """A value the driver stores as it is (a dead letter's time, with its time zone)."""
    return value
