"""How the SQLite store's writer stores a batch: one ``BEGIN IMMEDIATE``, one ``COMMIT``.

The writer thread and its batching are ``_stores.writer``'s; this is the SQLite side of
it, :class:`SqliteWriteConnection`, with the write connection.

The fast path checks every expected sequence with one query and leaves a stale request
out (it gets ``ConcurrencyConflict``) before inserting the rows of the others; the check
runs inside the write transaction, so no other writer can slip in between. Should a
statement still fail, the batch is rolled back and stored again request by request,
each inside its own ``SAVEPOINT``, so that only the faulty request fails.

Idempotency keys: a command's key goes into ``command_keys`` with its events, whose
primary key keeps it once per aggregate. A request whose key the batch has already
taken, or the file holds, gets ``CommandAlreadyStored``. The file is asked only when a
sequence is stale; a stored key on a current sequence makes the batch's INSERT fail, and
the request-by-request pass names it.

A failed ``COMMIT`` may have been stored: SQLite reports one that wrote (and synced) the
transaction's frames to the ``-wal`` file, then could not record them in the WAL index
(``SQLITE_IOERR_SHMSIZE`` on a full disk). This connection then sees the old state, but
the frames are on disk and a recovery after a crash finds them committed. So the writer
then empties the ``-wal`` file (a ``TRUNCATE`` checkpoint) before it reports the batch as
failed; if it cannot, each request to be stored gets ``OutcomeUnknown``.

Projections write through the writer too (:class:`TransactionJob`): a job is a function
run on the write connection inside a transaction, rolled back if it returns an error. A
checkpoint write joins the batch's transaction, inside its own ``SAVEPOINT``; a job that
runs a user's handler gets a transaction of its own after the batch, so that nothing the
handler does can touch other requests.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from typing_extensions import final

from ..._core.errors import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    EventStoreError,
    StoreFailure,
)
from ..._core.store import StoreResult
from ..._runtime.result import Error, Ok, Result
from ..handoff import Job
from ..writer import (
    OK,
    AggregateKey,
    Append,
    CommandKey,
    EventRow,
    SnapshotRow,
    WriteRequest,
    aggregates,
    check_request,
    keyed,
    number_stored,
    outcome_unknown,
)
from .schema import driver_error, failure_kind

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

ErrorT = TypeVar("ErrorT")

_EVENT_COLUMNS = (
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,"
    " correlation_id, causation_id"
)
_SAVE_SNAPSHOT = (
    "INSERT OR REPLACE INTO snapshots (aggregate_type, aggregate_id, sequence, entity_type,"
    " entity_version, payload, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_KEY_STORED = (
    "SELECT 1 FROM command_keys WHERE aggregate_type = ? AND aggregate_id = ? AND command_key = ?"
)

# The fast path makes as few calls into SQLite per batch as it can: the driver releases the
# GIL around every step of a statement, and while the Trio thread is busy, getting it
# back can take up to the switch interval (5 ms). So a batch makes one query for every
# expected sequence (one row, thanks to group_concat) and one INSERT for all its rows,
# where a statement per request, or `executemany` (a step per row), would make dozens;
# and one INSERT for all its keys. The statements are padded to a power of two (a
# repeated id; rows of NULLs, filtered out), so that a handful of statement texts serve
# every batch from SQLite's statement cache. 128 rows of 9 parameters make 1,152: SQLite
# builds before 3.32 allow 999 (SQLITE_MAX_VARIABLE_NUMBER; 32766 since), so they get 64.
_MOST_ROWS = 128 if sqlite3.sqlite_version_info >= (3, 32, 0) else 64
_PADDING_ROW = (None,) * 9
_PADDING_KEY = (None, None, None)


@functools.cache
def _insert_events_query(rows: int) -> str:
    values = ", ".join(f"({n}, ?, ?, ?, ?, ?, ?, ?, ?, ?)" for n in range(rows))
    return (
        f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT column2, column3, column4, column5,"
        f" column6, column7, column8, column9, column10 FROM (VALUES {values})"
        " WHERE column2 IS NOT NULL ORDER BY column1"
    )


@functools.cache
def _insert_keys_query(rows: int) -> str:
    values = ", ".join("(?, ?, ?)" for _ in range(rows))
    return (
        "INSERT INTO command_keys (aggregate_type, aggregate_id, command_key)"
        f" SELECT column1, column2, column3 FROM (VALUES {values}) WHERE column1 IS NOT NULL"
    )


@functools.cache
def _last_sequences_query(count: int) -> str:
    # A correlated max() per id is one index seek; `IN (...) GROUP BY` would read every
    # index entry of each aggregate. The answer is one text, "index sequence,...".
    values = ", ".join(f"({n}, ?, ?)" for n in range(count))
    return (
        f"WITH ids(n, type, id) AS (VALUES {values}) SELECT group_concat(n || ' ' || coalesce("
        "(SELECT max(sequence) FROM events WHERE aggregate_type = type AND aggregate_id = id),"
        " 0)) FROM ids"
    )


def _padded_chunks(count: int) -> list[tuple[int, int, int]]:
    """``(start, stop, padded size)`` of ``count`` items in chunks of at most ``_MOST_ROWS``."""
    chunks = []
    for start in range(0, count, _MOST_ROWS):
        stop = min(start + _MOST_ROWS, count)
        chunks.append((start, stop, 1 << (stop - start - 1).bit_length()))
    return chunks


@final
class TransactionJob(Job[Result[None, ErrorT | EventStoreError]], Generic[ErrorT]):
    """A function to run on the write connection inside a write transaction.

    ``work`` returns ``Ok(None)`` to keep what it wrote, or an ``Error`` to have it rolled
    back (the job's result is then that error). If it raises, what it wrote is rolled
    back and the result is an ``EventStoreError`` naming ``operation``. ``alone`` jobs get
    a transaction of their own, after the batch they came with: give it to a job that runs
    code the store does not control.
    """

    __slots__ = ("alone", "operation", "work")

    def __init__(
        self,
        operation: str,
        work: Callable[[sqlite3.Connection], Result[None, ErrorT]],
        *,
        alone: bool,
    ) -> None:
        super().__init__()
        self.operation = operation
        self.work = work
        self.alone = alone


class _TransactionLost(Exception):
    """SQLite rolled the whole transaction back (I/O error, disk full): the batch failed."""


@final
class SqliteWriteConnection:
    """The write connection of an SQLite store, and how a batch is stored on it.

    The ``WriteConnection`` of ``_stores.writer``: used by the writer thread only.
    """

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._connection = connection
        self._path = path
        self.described = f"the SQLite store {path!r}"
        # True from the COMMIT of a batch until its requests have their final answers.
        self.in_doubt = False

    def alone(self, job: Job[Any]) -> bool:
        """Whether ``job`` runs code the store does not control (a projection's handler)."""
        return isinstance(job, TransactionJob) and job.alone

    def crashed(self, failure: BaseException) -> None:
        """Log the crash of the writer thread, with its traceback."""
        logger.critical("the writer thread of %r crashed", self._path, exc_info=failure)

    def close(self) -> None:
        """Close the write connection; a failure is logged."""
        try:
            self._connection.close()
        except sqlite3.Error:
            logger.exception("closing the write connection of %r failed", self._path)

    def store(self, batch: list[Job[Any]]) -> None:
        """Store ``batch`` in one transaction; set every request's result."""
        connection = self._connection
        operation = "beginning a write"
        writes = [job for job in batch if isinstance(job, WriteRequest)]
        try:
            connection.execute("BEGIN IMMEDIATE")
            operation = "storing events"
            if writes and not self._store_together(writes):
                # A statement failed, so one request is bad: find it by storing each
                # request alone, inside a savepoint, and fail only that one.
                connection.execute("BEGIN IMMEDIATE")
                for request in writes:
                    request.result = self._store_one(request)
            for job in batch:
                if isinstance(job, TransactionJob):
                    operation = job.operation
                    job.result = self._run_grouped(job)
            operation = "committing"
            self.in_doubt = True
            connection.execute("COMMIT")
        except (sqlite3.Error, _TransactionLost) as exc:
            cause = exc.__cause__ if isinstance(exc, _TransactionLost) else exc
            assert cause is not None
            logger.error("a write transaction on %r failed", self._path, exc_info=cause)
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    logger.exception("rolling back on %r failed", self._path)
            message = driver_error(operation, self._path, cause)
            # Before its COMMIT, nothing of the batch can be on disk; after a failed one,
            # only an emptied -wal file makes sure (see the module docstring).
            in_doubt = operation == "committing" and not self._erase_unfinished_commit()
            failed = Error(EventStoreError(message, failure_kind(cause)))
            for failing in batch:
                # An answer of its own stays: a conflict, a key stored already, a job's
                # error (what it wrote was rolled back with the rest).
                if failing.result is None or isinstance(failing.result, Ok):
                    failing.result = (
                        outcome_unknown(failing, message)
                        if in_doubt and isinstance(failing, WriteRequest)
                        else failed
                    )
        self.in_doubt = False

    def _store_together(self, batch: list[WriteRequest]) -> bool:
        """Store the batch with one query and one statement per table (the fast path).

        Every expected sequence is checked against one query's answer, then the rows of
        all the requests that are not stale go in with a few multi-row inserts. Each step of
        a statement costs a GIL hand-off with the busy Trio thread, so a batch makes a
        handful of them instead of several per request. Returns ``False``, with the
        transaction rolled back, if a statement failed.
        """
        connection = self._connection
        try:
            last = self._last_sequences(aggregates(a for r in batch for a in r.appends))
            taken: set[CommandKey] = set()
            events: list[EventRow] = []
            snapshots: list[SnapshotRow] = []
            for request in batch:
                refused = self._refusal(request.appends, last, taken)
                if refused is not None:
                    request.result = Error(refused)
                    continue
                for append in request.appends:
                    events += append.rows
                snapshots += request.snapshots
                request.result = OK
            number_stored(batch, self._insert(events, list(taken), snapshots))
        except Exception as exc:
            # Anything from a bad request (a string SQLite cannot store, a value the
            # driver cannot bind) or from SQLite: find the culprit the slow way.
            if not connection.in_transaction:
                raise _TransactionLost from exc
            logger.info(
                "a batch on %r failed (%r): storing its requests one by one", self._path, exc
            )
            connection.execute("ROLLBACK")
            for request in batch:
                request.result = None
            return False
        return True

    def _store_one(self, request: WriteRequest) -> StoreResult[None]:
        """Store ``request`` alone, inside a savepoint, so that only it fails if it is bad."""
        connection = self._connection
        execute = connection.execute
        execute("SAVEPOINT request")
        try:
            last = self._last_sequences(aggregates(request.appends))
            keys: set[CommandKey] = set()
            refused = self._refusal(request.appends, last, keys)
            if refused is not None:
                execute("ROLLBACK TO request")
                execute("RELEASE request")
                return Error(refused)
            request.first_position = self._insert(
                [row for append in request.appends for row in append.rows],
                list(keys),
                request.snapshots,
            )
            execute("RELEASE request")
        except Exception as exc:
            if not connection.in_transaction:
                raise _TransactionLost from exc
            execute("ROLLBACK TO request")
            execute("RELEASE request")
            if isinstance(exc, sqlite3.IntegrityError) and request.appends:
                # A key the file holds on a current sequence (the check above asks the
                # file for keys only when a sequence is stale); or, were there ever
                # another writer, a sequence taken since the check.
                return self._conflict_after(request, exc)
            logger.error("storing a write transaction on %r failed", self._path, exc_info=exc)
            return Error(
                EventStoreError(driver_error("storing events", self._path, exc), failure_kind(exc))
            )
        return OK

    def _refusal(
        self, appends: list[Append], last: dict[AggregateKey, int], taken: set[CommandKey]
    ) -> CommandAlreadyStored | ConcurrencyConflict | None:
        """Why ``appends`` may not be stored (see ``check_request``), or ``None``.

        The file is asked for keys once a sequence is found stale.
        """
        refused, checked = check_request(appends, last, taken)
        if isinstance(refused, ConcurrencyConflict):
            return self._stored_key(appends[:checked]) or refused
        return refused

    def _insert(
        self, events: list[EventRow], keys: list[CommandKey], snapshots: list[SnapshotRow]
    ) -> int:
        """Insert ``events``, ``keys`` and ``snapshots`` in a few multi-row statements.

        Returns the position of the first event (``0`` when there are none). The events
        take consecutive positions, in order: ``position`` is the rowid, each insert takes
        the largest one plus one, and only this connection writes.
        """
        execute = self._connection.execute
        last = 0
        for start, stop, size in _padded_chunks(len(events)):
            rows = events[start:stop]
            rows += [_PADDING_ROW] * (size - len(rows))  # type: ignore[list-item]
            cursor = execute(_insert_events_query(size), [value for row in rows for value in row])
            last = cursor.lastrowid or 0
        for start, stop, size in _padded_chunks(len(keys)):
            pairs = keys[start:stop]
            pairs += [_PADDING_KEY] * (size - len(pairs))  # type: ignore[list-item]
            execute(_insert_keys_query(size), [value for pair in pairs for value in pair])
        if snapshots:
            self._connection.executemany(
                _SAVE_SNAPSHOT,
                [(*row[:6], row[6].isoformat()) for row in snapshots],
            )
        return last - len(events) + 1 if events else 0

    def _stored_key(self, appends: list[Append]) -> CommandAlreadyStored | None:
        """The first key of ``appends`` that the file holds for its aggregate, if any."""
        execute = self._connection.execute
        for command in keyed(appends):
            if execute(_KEY_STORED, command).fetchone():
                return CommandAlreadyStored(command[1], command[2])
        return None

    def _last_sequences(self, keys: set[AggregateKey]) -> dict[AggregateKey, int]:
        """The stored sequence of each aggregate (0 if it has no events), in few steps."""
        execute = self._connection.execute
        found: dict[AggregateKey, int] = {}
        pending = list(keys)
        for start, stop, size in _padded_chunks(len(pending)):
            chunk = pending[start:stop]
            chunk += chunk[-1:] * (size - len(chunk))  # the same id again changes nothing
            parameters = [part for key in chunk for part in key]
            (answer,) = execute(_last_sequences_query(size), parameters).fetchone()
            for pair in answer.split(","):
                index, sequence = pair.split(" ")
                found[chunk[int(index)]] = int(sequence)
        return found

    def _run_grouped(self, job: TransactionJob[Any]) -> Result[None, Any]:
        """Run ``job`` inside the batch's transaction, in a savepoint of its own."""
        connection = self._connection
        execute = connection.execute
        execute("SAVEPOINT job")
        try:
            result = job.work(connection)
        except Exception as exc:
            if not connection.in_transaction:
                raise _TransactionLost from exc
            execute("ROLLBACK TO job")
            execute("RELEASE job")
            logger.error("%s on %r failed", job.operation, self._path, exc_info=exc)
            return Error(
                EventStoreError(driver_error(job.operation, self._path, exc), failure_kind(exc))
            )
        if not connection.in_transaction:
            raise _TransactionLost from RuntimeError(f"{job.operation} ended the transaction")
        if isinstance(result, Error):
            execute("ROLLBACK TO job")
        execute("RELEASE job")
        return result

    def store_alone(self, job: Job[Any]) -> None:
        """Run ``job``, a :class:`TransactionJob`, in a transaction of its own; set its result."""
        assert isinstance(job, TransactionJob)
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            result = job.work(connection)
            if not connection.in_transaction:
                # The work committed or rolled back itself: what it did is out of our
                # hands, and the caller must hear that it is not what it asked for (the
                # work may have said so itself).
                job.result = (
                    result
                    if isinstance(result, Error)
                    else Error(
                        EventStoreError(
                            f"{job.operation} on the SQLite file {self._path!r} ended the store's "
                            "transaction itself (COMMIT, ROLLBACK or END): it must never do that",
                            StoreFailure.FAILED,
                        )
                    )
                )
                return
            connection.execute("ROLLBACK" if isinstance(result, Error) else "COMMIT")
            job.result = result
        except Exception as exc:
            logger.error("%s on %r failed", job.operation, self._path, exc_info=exc)
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    logger.exception("rolling back on %r failed", self._path)
            job.result = Error(
                EventStoreError(driver_error(job.operation, self._path, exc), failure_kind(exc))
            )

    def _conflict_after(
        self, request: WriteRequest, exc: sqlite3.IntegrityError
    ) -> StoreResult[None]:
        """What a uniqueness violation of ``request`` means: a stored key, or a conflict."""
        stored = self._stored_key(request.appends)
        if stored is not None:
            return Error(stored)
        last = self._last_sequences(aggregates(request.appends))
        for append in request.appends:
            actual = last[(append.aggregate_type, append.aggregate_id)]
            if actual != append.expected_sequence:
                return Error(
                    ConcurrencyConflict(append.aggregate_id, append.expected_sequence, actual)
                )
        logger.error("storing a write transaction on %r failed", self._path, exc_info=exc)
        return Error(
            EventStoreError(driver_error("storing events", self._path, exc), StoreFailure.REFUSED)
        )

    def _erase_unfinished_commit(self) -> bool:
        """After a failed ``COMMIT``: make sure that it can never be found committed.

        Returns whether that is sure. A ``TRUNCATE`` checkpoint copies the frames of the
        transactions committed before into the database file and empties the ``-wal``
        file, where the failed commit's frames may lie; the ``fsync`` makes the emptying
        survive a power loss. It fails if the disk is still full, and gives up (after
        ``busy_timeout``) while another connection reads: then nobody can tell.
        """
        connection = self._connection
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                logger.error(
                    "cannot empty the -wal file of %r after a failed commit: a reader uses it",
                    self._path,
                )
                return False
            fd = os.open(f"{self._path}-wal", os.O_RDWR | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return True  # no -wal file: nothing of the commit is left anywhere
        except (sqlite3.Error, OSError):
            logger.exception("cannot empty the -wal file of %r after a failed commit", self._path)
            return False
        return True
