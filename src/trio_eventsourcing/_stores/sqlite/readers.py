"""The SQLite store's reader threads: each owns one read connection and runs reads on it.

WAL lets readers run beside the writer, each on its own connection and seeing the last
commit made before its read began. A store runs ``max_readers`` reader threads taking
reads from one queue; a thread opens its connection as it starts (so that no read pays
for opening one), tries again on its next read if that failed, and closes it when the
store stops. The hand-off is the writer's (``_stores.handoff``): a queue put and a
reschedule, which costs the Trio thread a few microseconds where ``trio.to_thread`` costs
tens. A read whose caller is cancelled is abandoned: it changes nothing, so nothing needs
to wait for it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import trio
from typing_extensions import final

from ..._core.errors import EventStoreError, StoreFailure
from ..._runtime.result import Error, Result
from ..handoff import Call, JobQueue, ThreadGroup
from .schema import Options, driver_error, failure_kind, open_reader

ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

ReadResult = Result[ValueT, EventStoreError]
"""What a read returns: a value, or an error naming what could not be read."""

_Read = Call[sqlite3.Connection, ReadResult[ValueT]]
"""One read: what it is (for error messages) and the work to run on a connection."""


@final
class Readers:
    """The reader threads of one running store; created and stopped by the store's task."""

    __slots__ = ("_options", "_threads")

    def __init__(self, options: Options, token: trio.lowlevel.TrioToken) -> None:
        self._options = options
        self._threads: ThreadGroup[_Read[Any]] = ThreadGroup(
            token,
            [
                f"trio-eventsourcing SQLite reader {n} {options.path}"
                for n in range(options.max_readers)
            ],
            self._serve,
        )

    def start(self) -> None:
        """Start the reader threads."""
        self._threads.start()

    def stop(self) -> None:
        """Take no more reads; each thread ends after the reads queued before."""
        self._threads.stop()

    async def join(self) -> None:
        """Wait, in a worker thread, until every reader thread has ended."""
        await self._threads.join()

    async def run(
        self, operation: str, work: Callable[[sqlite3.Connection], ReadResult[ValueT]]
    ) -> ReadResult[ValueT]:
        """Run ``work`` on a reader thread's connection and return what it returns.

        Raises:
            trio.Cancelled: When cancelled; the read is abandoned.
        """
        read: _Read[ValueT] = Call(operation, work)
        if not await self._threads.jobs.submit(read):
            return Error(
                EventStoreError(
                    f"the SQLite store {self._options.path!r} has stopped", StoreFailure.NOT_RUNNING
                )
            )
        result = read.result
        assert result is not None, "a read was woken before it had a result"
        return result

    # -- on a reader thread -----------------------------------------------------------

    def _serve(self, jobs: JobQueue[_Read[Any]]) -> None:
        connection: sqlite3.Connection | None = None
        try:
            connection = open_reader(self._options)
        except sqlite3.Error as exc:
            logger.warning("cannot open a read connection to %r yet: %s", self._options.path, exc)
        try:
            for read in jobs.each():
                if connection is None:
                    connection = self._open(read)  # sets the read's error if it fails
                if connection is not None:
                    read.result = self._run_one(connection, read)
                    if connection.in_transaction:
                        connection = self._roll_back(connection)
                if not jobs.deliver([read]):
                    return
        finally:
            if connection is not None:
                connection.close()

    def _open(self, read: _Read[Any]) -> sqlite3.Connection | None:
        try:
            return open_reader(self._options)
        except sqlite3.Error as exc:
            logger.error("cannot open a read connection to %r", self._options.path, exc_info=exc)
            read.result = Error(
                EventStoreError(
                    driver_error(read.operation, self._options.path, exc), failure_kind(exc)
                )
            )
            return None

    def _roll_back(self, connection: sqlite3.Connection) -> sqlite3.Connection | None:
        """End a read transaction a failed read left open; drop the connection if need be."""
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            connection.close()
            return None
        return connection

    def _run_one(self, connection: sqlite3.Connection, read: _Read[ValueT]) -> ReadResult[ValueT]:
        path = self._options.path
        try:
            return read.work(connection)
        except sqlite3.Error as exc:
            logger.error("%s failed on %r", read.operation, path, exc_info=exc)
            return Error(
                EventStoreError(driver_error(read.operation, path, exc), failure_kind(exc))
            )
        except Exception as exc:
            # A bug, here or in a codec: report it to the reader, keep the thread alive.
            logger.exception("%s raised on %r", read.operation, path)
            return Error(
                EventStoreError(
                    f"{read.operation} raised on {path!r}: {exc!r}", StoreFailure.FAILED
                )
            )
