"""The SQLite store as a log source: reads on its reader threads, writes on its writer.

The log is read with ``sqlite_store.read_log``'s query. Checkpoint writes are jobs of the
store's writer thread (``_stores.sqlite.writer.TransactionJob``): a plain checkpoint write joins
the writer's next group commit, inside a savepoint, so it shares the fsync of the events
committed with it. A write that runs a projection's handler gets a transaction of its own
on the writer's connection: the handler's changes to the read model, the checkpoint and
any dead letter commit together or not at all, and the handler never runs on the Trio
thread. Wake-ups come from the writer (``LogWatchers``); commits by other processes are
seen at the next poll.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from typing_extensions import final

from ..._core.errors import EventStoreError, StoreFailure
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
from ..._runtime.result import Error, Ok, Result
from ..checkpoints import CheckpointStatements, compare_and_set
from ..process_state import (
    ProcessChanges,
    ProcessMoved,
    StoredProcess,
    load_process,
    save_process,
)
from ..selection import SQLITE_KIND, QueriedSelection, runner_key
from .process_tables import STATEMENTS as PROCESS_STATEMENTS
from .readers import ReadResult
from .reads import log_query, read_selected_log
from .writer import TransactionJob

if TYPE_CHECKING:
    # The store imports this module when it is asked for its log source.
    from .store import SqliteStore

ValueT = TypeVar("ValueT")

_OK: Ok[None] = Ok(None)
_NOW = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"

_LOAD_CHECKPOINT = (
    "SELECT position, reset_pending FROM projection_checkpoints"
    " WHERE aggregate_type = ? AND name = ?"
)
_CREATE_CHECKPOINT = (
    "INSERT OR IGNORE INTO projection_checkpoints (aggregate_type, name, position, reset_pending)"
    " VALUES (?, ?, ?, ?)"
)
_MOVE_CHECKPOINT = (
    f"UPDATE projection_checkpoints SET position = ?, reset_pending = ?, updated_at = {_NOW}"
    " WHERE aggregate_type = ? AND name = ? AND position = ? AND reset_pending = ?"
)
_RESET_CHECKPOINT = (
    "INSERT OR REPLACE INTO projection_checkpoints (aggregate_type, name, position, reset_pending)"
    " VALUES (?, ?, 0, 1)"
)
_ADD_DEAD_LETTER = (
    "INSERT INTO projection_dead_letters (aggregate_type, projection, position, aggregate_id,"
    " sequence, event_type, error, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHECKPOINTS = CheckpointStatements(_CREATE_CHECKPOINT, _MOVE_CHECKPOINT, _ADD_DEAD_LETTER)
_DROP_DEAD_LETTERS = (
    "DELETE FROM projection_dead_letters WHERE aggregate_type = ? AND projection = ?"
)
_LIST_DEAD_LETTERS = (
    "SELECT position, aggregate_id, sequence, event_type, error, recorded_at"
    " FROM projection_dead_letters WHERE aggregate_type = ? AND projection = ? ORDER BY id"
)


@final
class SqliteLogSource:
    """An SQLite store's log and projection tables (see ``LogSource``)."""

    __slots__ = ("_count_after", "_head", "_log_query", "_scope", "_selected", "_store")

    transactional = True
    # Other processes may write to the file, and only the poll sees their commits.
    poll_interval = 1.0

    def __init__(self, store: SqliteStore[Any, Any], selection: Selection[Any]) -> None:
        # Any store of the database: the file, its connections and its wake-ups are theirs.
        self._store = store
        self._selected = selected = QueriedSelection(selection, "?", SQLITE_KIND)
        self._scope = selected.scope
        condition = selected.condition
        self._log_query = log_query(condition)
        # The newest selected event: a backward walk of the rowid that stops at the first
        # match (max() with a WHERE would read the whole table).
        self._head = f"SELECT position FROM events WHERE {condition} ORDER BY position DESC LIMIT 1"
        self._count_after = f"SELECT count(*) FROM events WHERE position > ? AND {condition}"

    @property
    def description(self) -> str:
        return f"the SQLite store {self._store.path!r}"

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        return _watching(self._store)

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._store._watchers.runner(runner_key(self._scope, name))

    async def _read(
        self, operation: str, work: Callable[[sqlite3.Connection], ReadResult[ValueT]]
    ) -> ReadResult[ValueT]:
        running = self._store._running
        if running is None:
            await trio.lowlevel.checkpoint()
            return self._store._not_started()
        return await running.readers.run(operation, work)

    async def read(self, after: int, limit: int) -> Result[LogPage[LogEntry[Any]], EventStoreError]:
        selected, query, path = self._selected, self._log_query, self._store.path
        entries = await self._read(
            "reading the log",
            lambda connection: read_selected_log(connection, selected, query, path, after, limit),
        )
        return entries

    async def head(self) -> Result[int, EventStoreError]:
        sql, parameters = self._head, self._selected.parameters

        def work(connection: sqlite3.Connection) -> ReadResult[int]:
            row = connection.execute(sql, parameters).fetchone()
            return Ok(0 if row is None else int(row[0]))

        return await self._read("finding the end of the log", work)

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        sql, parameters = self._count_after, (position, *self._selected.parameters)

        def work(connection: sqlite3.Connection) -> ReadResult[int]:
            return Ok(int(connection.execute(sql, parameters).fetchone()[0]))

        return await self._read("counting the log", work)

    async def load_checkpoint(self, name: str) -> Result[Checkpoint | None, EventStoreError]:
        key = (self._scope, name)

        def work(connection: sqlite3.Connection) -> ReadResult[Checkpoint | None]:
            row = connection.execute(_LOAD_CHECKPOINT, key).fetchone()
            return Ok(None if row is None else Checkpoint(int(row[0]), bool(row[1])))

        return await self._read(f"loading the checkpoint of projection {name!r}", work)

    async def write_checkpoint(
        self, name: str, write: CheckpointWrite[sqlite3.Connection]
    ) -> CheckpointResult:
        scope = self._scope
        handler = write.work

        def work(connection: sqlite3.Connection) -> Result[None, CheckpointMoved | HandlerRaised]:
            if handler is not None:
                try:
                    handler(connection)
                except Exception as exc:
                    return Error(HandlerRaised(exc))
                if not connection.in_transaction:
                    return Error(HandlerRaised(_ended_transaction(name)))
            moved = compare_and_set(
                connection.execute, _CHECKPOINTS, scope, name, write, datetime.isoformat
            )
            if moved is not None:
                return Error(moved)
            return _OK

        operation = f"writing the checkpoint of projection {name!r}"
        return await self._write(TransactionJob(operation, work, alone=handler is not None))

    async def _write(self, job: TransactionJob[ValueT]) -> Result[None, ValueT | EventStoreError]:
        running = self._store._running
        if running is None:
            await trio.lowlevel.checkpoint()
            return self._store._not_started()
        return await running.writer.run(job)

    async def reset(self, name: str) -> Result[None, EventStoreError]:
        key = (self._scope, name)

        def work(connection: sqlite3.Connection) -> Result[None, EventStoreError]:
            connection.execute(_RESET_CHECKPOINT, key)
            connection.execute(_DROP_DEAD_LETTERS, key)
            return _OK

        result = await self._write(
            TransactionJob(f"resetting projection {name!r}", work, alone=False)
        )
        if isinstance(result, Ok):
            self._store._watchers.request_reset(name)
        return result

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        key = (self._scope, name)
        path = self._store.path

        def work(connection: sqlite3.Connection) -> ReadResult[list[DeadLetter]]:
            letters = []
            for (
                position,
                aggregate_id,
                sequence,
                event_type,
                error,
                recorded_at,
            ) in connection.execute(_LIST_DEAD_LETTERS, key):
                try:
                    when = datetime.fromisoformat(recorded_at)
                except (TypeError, ValueError) as exc:
                    return Error(
                        EventStoreError(
                            f"cannot read the time {recorded_at!r} of the dead letter at "
                            f"position {position} of projection {name!r} in {path!r}: {exc}",
                            StoreFailure.UNDECODABLE,
                        )
                    )
                letters.append(
                    DeadLetter(name, position, aggregate_id, sequence, event_type, error, when)
                )
            return Ok(letters)

        return await self._read(f"listing the dead letters of projection {name!r}", work)

    async def load_process(self, name: str) -> Result[StoredProcess | None, EventStoreError]:
        """Process manager ``name``'s stored state (``_stores/process_state.py``)."""
        scope = self._scope

        def work(connection: sqlite3.Connection) -> ReadResult[StoredProcess | None]:
            return Ok(load_process(connection.execute, PROCESS_STATEMENTS, scope, name))

        return await self._read(f"loading process manager {name!r}", work)

    async def save_process(
        self, name: str, changes: ProcessChanges
    ) -> Result[None, ProcessMoved | EventStoreError]:
        """Save one step of process manager ``name``, in one transaction.

        It joins the writer's next group commit, so the steps of several managers and
        the commands they send share an fsync.
        """
        scope = self._scope

        def work(connection: sqlite3.Connection) -> Result[None, ProcessMoved]:
            try:
                save_process(
                    connection.execute,
                    connection.executemany,
                    PROCESS_STATEMENTS,
                    scope,
                    name,
                    changes,
                )
            except ProcessMoved as moved:
                return Error(moved)
            return _OK

        return await self._write(
            TransactionJob(f"saving process manager {name!r}", work, alone=False)
        )


def _ended_transaction(name: str) -> RuntimeError:
    return RuntimeError(
        f"the handler of projection {name!r} ended the store's transaction (COMMIT, ROLLBACK "
        "or END): it must only change the read model and leave the transaction to the store"
    )


@asynccontextmanager
async def _watching(store: SqliteStore[Any, Any]) -> AsyncIterator[LogWatch]:
    # The writer wakes the store's watchers after every commit: nothing to start or stop.
    await trio.lowlevel.checkpoint()
    yield store._watchers
