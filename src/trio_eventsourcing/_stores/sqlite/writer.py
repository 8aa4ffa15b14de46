"""The SQLite store's writer: one thread, one connection, group commit.

Every write transaction of the store becomes a :class:`WriteRequest` of rows encoded on
the Trio side. The writer thread takes *all* the requests waiting when it becomes free
and stores them in one ``BEGIN IMMEDIATE`` transaction with one ``COMMIT`` (one fsync).
An fsync costs the same for one row as for a hundred, so under load this multiplies
throughput, and a lone request pays no more than it would alone.

Each request stays all-or-nothing. The fast path checks every expected sequence with one
query and leaves a stale request out (it gets ``ConcurrencyConflict``) before inserting
the rows of the others; the check runs inside the write transaction, so no other writer
can slip in between. Should a statement still fail, the batch is rolled back and stored
again request by request, each inside its own ``SAVEPOINT``, so that only the faulty
request fails.

Idempotency keys: a command's key goes into ``command_keys`` with its events, whose
primary key keeps it once per aggregate. A request whose key the batch has already
taken, or the file holds, gets ``CommandAlreadyStored``, also when its sequence is stale
as well (that is what a command whose first attempt was stored looks like). The file is
asked only when a sequence is stale; a stored key on a current sequence makes the
batch's INSERT fail, and the request-by-request pass names it.

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

Waking the waiting tasks (``_stores.handoff``): after the commit the thread schedules one
callback on the Trio loop (``TrioToken.run_sync_soon``) that reschedules every task of
the batch: one wake-up of the loop per batch, where ``trio.from_thread.run_sync`` would
block the writer once per request. When the batch stored events, the same callback wakes
the log's followers (``on_commit``), which therefore never see a wake-up before the
events are committed. A waiting task that is cancelled simply stops
waiting (its request is marked abandoned): a request not yet taken by the thread is
then skipped, one already taken commits or not with its batch, and either way the file
stays consistent.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import trio
from typing_extensions import final

from ..._core.errors import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    EventStoreError,
    OutcomeUnknown,
    StoreFailure,
)
from ..._core.store import StoreResult
from ..._runtime.result import Error, Ok, Result
from ..handoff import Job, JobQueue
from .schema import driver_error, failure_kind

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

ErrorT = TypeVar("ErrorT")

EventRow = tuple[str, int, str, int, str, str]
"""``(aggregate_id, sequence, event_type, event_version, payload, metadata)``.

The aggregate type is the store's, one for all its rows: the writer adds it.
"""

SnapshotRow = tuple[str, str, int, str, int, str, str]
"""``(aggregate_id, aggregate_type, sequence, entity_type, entity_version, payload, taken_at)``."""

_MAX_BATCH = 1_000
"""Most requests in one transaction, so one batch never holds the write lock for long."""

_EVENT_COLUMNS = (
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata"
)
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_KEY = "INSERT INTO command_keys (aggregate_id, command_key) VALUES (?, ?)"
_SAVE_SNAPSHOT = (
    "INSERT OR REPLACE INTO snapshots (aggregate_id, aggregate_type, sequence, entity_type,"
    " entity_version, payload, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_LAST_SEQUENCE = "SELECT max(sequence) FROM events WHERE aggregate_id = ?"
_KEY_STORED = "SELECT 1 FROM command_keys WHERE aggregate_id = ? AND command_key = ?"

# The fast path makes as few calls into SQLite per batch as it can: the driver releases the
# GIL around every step of a statement, and while the Trio thread is busy, getting it
# back can take up to the switch interval (5 ms). So a batch makes one query for every
# expected sequence (one row, thanks to group_concat) and one INSERT for all its rows,
# where a statement per request, or `executemany` (a step per row), would make dozens;
# and one INSERT for all its keys. The statements are padded to a power of two (a
# repeated id; rows of NULLs, filtered out), so that a handful of statement texts serve
# every batch from SQLite's statement cache. The aggregate type, the same for every row,
# is one parameter: 128 rows of 6 parameters and that one make 769, below the 999 that
# SQLite builds before 3.32 allow (SQLITE_MAX_VARIABLE_NUMBER; 32766 since).
_MOST_ROWS = 128
_PADDING_ROW = (None,) * 6
_PADDING_KEY = (None, None)


@functools.cache
def _insert_events_query(rows: int) -> str:
    values = ", ".join(f"({n}, ?, ?, ?, ?, ?, ?)" for n in range(rows))
    return (
        f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT ?, column2, column3, column4, column5,"
        f" column6, column7 FROM (VALUES {values})"
        " WHERE column2 IS NOT NULL ORDER BY column1"
    )


@functools.cache
def _insert_keys_query(rows: int) -> str:
    values = ", ".join("(?, ?)" for _ in range(rows))
    return (
        "INSERT INTO command_keys (aggregate_id, command_key) SELECT column1, column2"
        f" FROM (VALUES {values}) WHERE column1 IS NOT NULL"
    )


@functools.cache
def _last_sequences_query(count: int) -> str:
    # A correlated max() per id is one index seek; `IN (...) GROUP BY` would read every
    # index entry of each aggregate. The answer is one text, "index sequence,...".
    values = ", ".join(f"({n}, ?)" for n in range(count))
    return (
        f"WITH ids(n, id) AS (VALUES {values}) SELECT group_concat(n || ' ' || coalesce("
        "(SELECT max(sequence) FROM events WHERE aggregate_id = id), 0)) FROM ids"
    )


def _padded_chunks(count: int) -> list[tuple[int, int, int]]:
    """``(start, stop, padded size)`` of ``count`` items in chunks of at most 128."""
    chunks = []
    for start in range(0, count, _MOST_ROWS):
        stop = min(start + _MOST_ROWS, count)
        chunks.append((start, stop, 1 << (stop - start - 1).bit_length()))
    return chunks


_OK: StoreResult[None] = Ok(None)


class Append(NamedTuple):
    """Events to append after ``expected_sequence``, which must be the stored sequence.

    ``key`` is the command's idempotency key (``None``: it has none).
    """

    aggregate_id: str
    expected_sequence: int
    rows: list[EventRow]
    key: str | None


@final
class WriteRequest(Job[StoreResult[None]]):
    """One write transaction, staged on the Trio side and stored by the writer thread."""

    __slots__ = ("appends", "snapshots")

    def __init__(self, appends: list[Append], snapshots: list[SnapshotRow]) -> None:
        super().__init__()
        self.appends = appends
        self.snapshots = snapshots


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


_AnyRequest = WriteRequest | TransactionJob[Any]


@final
class WriterCounters:
    """What the writer threads of one store have done, across restarts.

    Written by the writer thread only; ``statistics()`` reads the plain ints, which the
    GIL makes safe to read while they change.
    """

    __slots__ = ("batches_begun", "commits", "conflicts", "largest_batch", "transactions")

    def __init__(self) -> None:
        # Counted when a batch is closed, before its BEGIN: from then on no request joins
        # it and none of its requests can be skipped as abandoned.
        self.batches_begun = 0
        self.transactions = 0
        self.commits = 0
        self.largest_batch = 0
        self.conflicts = 0


@final
class WriterCrashed(Exception):
    """The writer thread ended without being asked to; the store's task raises this."""


class _TransactionLost(Exception):
    """SQLite rolled the whole transaction back (I/O error, disk full): the batch failed."""


@final
class Writer:
    """The writer thread and its queue; created and stopped by the store's task."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: str,
        aggregate_type: str,
        token: trio.lowlevel.TrioToken,
        counters: WriterCounters,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        self._connection = connection
        self._path = path
        self._aggregate_type = aggregate_type
        self._jobs: JobQueue[_AnyRequest] = JobQueue(token)
        # Called on the Trio thread after each commit that stored events.
        self._on_commit = on_commit
        self._thread = threading.Thread(
            target=self._run, name=f"trio-eventsourcing SQLite writer {path}", daemon=True
        )
        self.exited = trio.Event()
        """Set (on the Trio thread) once the writer thread has ended."""
        self.failure: BaseException | None = None
        """What ended the thread, if it was not asked to stop."""
        self._counters = counters
        # True from the COMMIT of a batch until its requests have their final answers.
        self._in_doubt = False

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Refuse new requests; the thread stores those already queued, then ends."""
        self._jobs.stop(threads=1)

    async def join(self) -> None:
        """Wait, in a worker thread, until the writer thread has ended."""
        if self._thread.ident is None:
            # The thread never started, so it cannot close its connection.
            await trio.to_thread.run_sync(self._connection.close)
            return
        await trio.to_thread.run_sync(self._thread.join)

    async def write(self, request: WriteRequest) -> StoreResult[None]:
        """Queue ``request`` and wait until its batch has committed (or failed).

        Cancelling the wait is safe: the request is then stored with its batch or, if
        the thread had not taken it yet, not at all.
        """
        if not await self._jobs.submit(request):
            return Error(
                EventStoreError(
                    f"the SQLite store {self._path!r} has stopped", StoreFailure.NOT_RUNNING
                )
            )
        result = request.result
        assert result is not None, "a request was woken before it had a result"
        return result

    async def run(self, job: TransactionJob[ErrorT]) -> Result[None, ErrorT | EventStoreError]:
        """Queue ``job`` and wait until its transaction has committed or been rolled back.

        Cancelling the wait is safe, as for :meth:`write`.
        """
        if not await self._jobs.submit(job):
            return Error(
                EventStoreError(
                    f"the SQLite store {self._path!r} has stopped", StoreFailure.NOT_RUNNING
                )
            )
        result = job.result
        assert result is not None, "a job was woken before it had a result"
        return result

    # -- on the writer thread ---------------------------------------------------------

    def _run(self) -> None:
        batch: list[_AnyRequest] = []
        try:
            self._serve(batch)
        except BaseException as exc:
            self.failure = exc
            logger.critical("the writer thread of %r crashed", self._path, exc_info=exc)
        finally:
            # `batch` holds the requests of a batch interrupted by a crash; the queue,
            # those that came after. Both get an answer: an error, unless the batch's
            # COMMIT had been sent (then it may well be stored).
            interrupted = len(batch) if self._in_doubt else 0
            batch += self._jobs.close()
            message = f"the writer of the SQLite store {self._path!r} has stopped"
            error = Error(EventStoreError(message, StoreFailure.NOT_RUNNING))
            for index, request in enumerate(batch):
                result = request.result
                if (
                    index < interrupted
                    and isinstance(request, WriteRequest)
                    and (result is None or isinstance(result, Ok))
                ):
                    request.result = _outcome_unknown(request, f"{message} while committing")
                else:
                    request.result = error
            try:
                self._connection.close()
            except sqlite3.Error:
                logger.exception("closing the write connection of %r failed", self._path)
            self._jobs.deliver(batch)
            self._jobs.call_soon(self.exited.set)

    def _serve(self, batch: list[_AnyRequest]) -> None:
        get, get_nowait = self._jobs.get, self._jobs.get_nowait
        while True:
            request = get()
            stopping = False
            while True:
                if request is None:
                    stopping = True
                    break
                if not request.abandoned:
                    batch.append(request)
                    if len(batch) >= _MAX_BATCH:
                        break
                try:
                    request = get_nowait()
                except queue.Empty:
                    break
            if batch:
                together: list[_AnyRequest] = []
                alone: list[_AnyRequest] = []
                for r in batch:
                    (alone if isinstance(r, TransactionJob) and r.alone else together).append(r)
                if together:
                    self._counters.batches_begun += 1
                    self._store(together)
                    stored_events = any(
                        isinstance(r, WriteRequest) and r.result is _OK and r.appends
                        for r in together
                    )
                    # What is left in `batch` is answered by `_run` if the thread crashes.
                    batch[:] = alone
                    then = self._on_commit if stored_events else None
                    if not self._jobs.deliver(together, then):
                        return  # the Trio run is over: nobody is left to wake
                while batch:
                    job = batch[0]
                    assert isinstance(job, TransactionJob)
                    self._run_alone(job)
                    del batch[0]
                    if not self._jobs.deliver([job]):
                        return
            if stopping:
                return

    def _store(self, batch: list[_AnyRequest]) -> None:
        """Store ``batch`` in one transaction; set every request's result."""
        connection = self._connection
        operation = "beginning a write"
        writes = [r for r in batch if isinstance(r, WriteRequest)]
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
            self._in_doubt = True
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
                # A conflict stays a conflict: the request was stale whatever happened
                # (and a key already stored stays so).
                if failing.result is None or isinstance(failing.result, Ok):
                    failing.result = (
                        _outcome_unknown(failing, message)
                        if in_doubt and isinstance(failing, WriteRequest)
                        else failed
                    )
            self._in_doubt = False
            return
        stored = sum(1 for request in writes if request.result is _OK)
        counters = self._counters
        counters.transactions += stored
        counters.conflicts += sum(
            1
            for request in writes
            if isinstance(request.result, Error)
            and isinstance(request.result.error, ConcurrencyConflict)
        )
        counters.commits += 1
        counters.largest_batch = max(counters.largest_batch, len(batch))
        self._in_doubt = False

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
            self._check_and_insert(batch)
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

    def _check_and_insert(self, batch: list[WriteRequest]) -> None:
        connection = self._connection
        last = self._last_sequences({a.aggregate_id for r in batch for a in r.appends})
        # The keys of the requests already accepted in this batch, in order.
        taken: dict[tuple[str, str], None] = {}
        events: list[EventRow] = []
        snapshots: list[SnapshotRow] = []
        for request in batch:
            refused = self._refusal(request, last, taken)
            if refused is not None:
                request.result = Error(refused)
                continue
            for append in request.appends:
                events += append.rows
            snapshots += request.snapshots
            request.result = _OK
        execute = connection.execute
        aggregate_type = [self._aggregate_type]
        for start, stop, size in _padded_chunks(len(events)):
            rows = events[start:stop]
            rows += [_PADDING_ROW] * (size - len(rows))  # type: ignore[list-item]
            execute(
                _insert_events_query(size),
                aggregate_type + [value for row in rows for value in row],
            )
        keys = list(taken)
        for start, stop, size in _padded_chunks(len(keys)):
            pairs = keys[start:stop]
            pairs += [_PADDING_KEY] * (size - len(pairs))  # type: ignore[list-item]
            execute(_insert_keys_query(size), [value for pair in pairs for value in pair])
        if snapshots:
            connection.executemany(_SAVE_SNAPSHOT, snapshots)

    def _refusal(
        self,
        request: WriteRequest,
        last: dict[str, int],
        taken: dict[tuple[str, str], None],
    ) -> CommandAlreadyStored | ConcurrencyConflict | None:
        """Why ``request`` may not be stored after the sequences in ``last``, or ``None``.

        When it may, ``last`` and ``taken`` (the batch's keys) are updated with it. Each
        append is checked in turn, its key before its sequence, as the memory store
        does; the file is asked for keys only once a sequence is found stale.
        """
        after: dict[str, int] = {}
        keys: list[tuple[str, str]] = []
        for index, (aggregate_id, expected, rows, key) in enumerate(request.appends):
            if key is not None:
                pair = (aggregate_id, key)
                if pair in taken or pair in keys:
                    return CommandAlreadyStored(aggregate_id, key)
                keys.append(pair)
            actual = after.get(aggregate_id, last[aggregate_id])
            if actual != expected:
                stored = self._stored_key(request.appends[: index + 1])
                return stored or ConcurrencyConflict(aggregate_id, expected, actual)
            after[aggregate_id] = expected + len(rows)
        last.update(after)
        taken.update(dict.fromkeys(keys))
        return None

    def _stored_key(self, appends: list[Append]) -> CommandAlreadyStored | None:
        """The first key of ``appends`` that the file holds for its aggregate, if any."""
        execute = self._connection.execute
        for aggregate_id, _, _, key in appends:
            if key is not None and execute(_KEY_STORED, (aggregate_id, key)).fetchone():
                return CommandAlreadyStored(aggregate_id, key)
        return None

    def _last_sequences(self, aggregate_ids: set[str]) -> dict[str, int]:
        """The stored sequence of each aggregate (0 if it has no events), in few steps."""
        execute = self._connection.execute
        found: dict[str, int] = {}
        pending = list(aggregate_ids)
        for start, stop, size in _padded_chunks(len(pending)):
            chunk = pending[start:stop]
            chunk += chunk[-1:] * (size - len(chunk))  # the same id again changes nothing
            (answer,) = execute(_last_sequences_query(size), chunk).fetchone()
            for pair in answer.split(","):
                index, sequence = pair.split(" ")
                found[chunk[int(index)]] = int(sequence)
        return found

    def _store_one(self, request: WriteRequest) -> StoreResult[None]:
        connection = self._connection
        execute = connection.execute
        aggregate_type = self._aggregate_type
        keys: set[tuple[str, str]] = set()
        execute("SAVEPOINT request")
        try:
            for index, (aggregate_id, expected, rows, key) in enumerate(request.appends):
                refused: CommandAlreadyStored | ConcurrencyConflict | None = None
                if key is not None:
                    if (aggregate_id, key) in keys:
                        refused = CommandAlreadyStored(aggregate_id, key)
                    keys.add((aggregate_id, key))
                actual = execute(_LAST_SEQUENCE, (aggregate_id,)).fetchone()[0] or 0
                if refused is None and actual != expected:
                    # The keys of the appends before are not stored: their rows went in.
                    refused = self._stored_key(request.appends[index : index + 1])
                    refused = refused or ConcurrencyConflict(aggregate_id, expected, actual)
                if refused is not None:
                    execute("ROLLBACK TO request")
                    execute("RELEASE request")
                    return Error(refused)
                connection.executemany(_INSERT_EVENT, [(aggregate_type, *row) for row in rows])
                if key is not None:
                    execute(_INSERT_KEY, (aggregate_id, key))
            if request.snapshots:
                connection.executemany(_SAVE_SNAPSHOT, request.snapshots)
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
        return _OK

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

    def _run_alone(self, job: TransactionJob[Any]) -> None:
        """Run ``job`` in a transaction of its own; set its result."""
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
        execute = self._connection.execute
        for aggregate_id, expected, _, _ in request.appends:
            actual = execute(_LAST_SEQUENCE, (aggregate_id,)).fetchone()[0] or 0
            if actual != expected:
                return Error(ConcurrencyConflict(aggregate_id, expected, actual))
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


def _outcome_unknown(request: WriteRequest, message: str) -> StoreResult[None]:
    """The result of ``request`` when its ``COMMIT`` failed and may have been stored."""
    doubt = f"{message}; the commit may have been stored all the same"
    for aggregate_id, _, _, key in request.appends:
        if key is not None:
            return Error(OutcomeUnknown(aggregate_id, key, doubt))
    # No key to ask about later: say it in words.
    return Error(EventStoreError(f"{doubt}: the outcome is unknown", StoreFailure.FAILED))
