"""How the PostgreSQL store's writer stores a batch: one transaction, two round trips.

The writer thread and its batching are ``_stores.writer``'s; this is the PostgreSQL side
of it, :class:`PostgresWriteConnection`, with the write connection. A batch is stored
in one PostgreSQL transaction, in two round trips, each one pipelined batch of
statements:

1. ``BEGIN``; lock the store row (``SELECT ... FOR UPDATE``: the position lock, which
   also returns the last position and the transaction id); read the stored sequence of
   every aggregate the batch appends to.
2. Decide, in Python, which requests are stale (``ConcurrencyConflict``), or repeat a
   key an earlier request of the batch took (``CommandAlreadyStored``), and give the
   rows of the others their positions; then one ``INSERT`` of all their events (columns
   sent as binary arrays), one upsert of their snapshots, the new last position,
   ``NOTIFY`` and ``COMMIT``.

A stale request may be a command stored already (the sequence moved on with it): only
then are keys looked up, in one more round trip before the second, and a request whose
key is stored gets ``CommandAlreadyStored`` instead. A key stored on a current sequence
makes the ``INSERT`` fail on the unique index; the request-by-request pass below looks
every key up and names that request. Asking for every batch's keys up front would cost
each batch a statement (measured: a tenth of a millisecond or more per round trip).

A commit costs a WAL flush whether it holds one row or a thousand, so under load this
multiplies throughput, and a lone request pays two round trips and one flush. A request
that fails on its own (bad data the server refuses) is found by storing the batch again
one request at a time, each inside a ``SAVEPOINT``, so only it fails.

The position lock is held from step 1 to the commit, so writers (in this process or any
other) assign positions one transaction at a time, in commit order: a reader of the log
never sees a position before every lower one is committed. ``docs/postgres.rst`` states
the rule.

A lost connection never loses or doubles a command. Any failure before the ``COMMIT``
was sent leaves the transaction certainly uncommitted: the batch is retried on a new
connection (or, for an error of the server's, stored again request by request). Any
failure once it may have been sent is in doubt, whatever the driver says and whether or
not the connection looks broken (psycopg can raise "cannot exit pipeline mode while
busy" on a connection it still calls healthy, after the server committed), with one
exception: the server's own report that the transaction is still open and failed
(``INERROR``), which means it skipped the ``COMMIT``. An outcome in doubt is looked up by
transaction id (``pg_xact_status``) on a new connection, after ending the old backend if
it still runs it; committed means done, rolled back means retried. Retries stop after
``retry_timeout`` seconds: a batch never committed is reported as failed, and a batch
whose outcome could not be learned gives each request it was to store
``OutcomeUnknown``. Never acknowledged unless committed, never reported failed unless
not stored; and the idempotency keys' unique index makes even a blind retry of a
committed batch harmless (``CommandAlreadyStored``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import final

from ..._core.errors import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    EventStoreError,
    StoreFailure,
)
from ..._runtime.result import Error
from ..handoff import Job
from ..writer import (
    OK,
    AggregateKey,
    Append,
    CommandKey,
    SnapshotRow,
    WriterCounters,
    WriteRequest,
    aggregates,
    check_request,
    keyed,
    outcome_unknown,
)
from .connection import Options, connect, failure_kind, is_connection_lost
from .schema import Names

if TYPE_CHECKING:
    import psycopg

    from .connection import Connection

logger = logging.getLogger("trio_eventsourcing.postgres_store")

_FIRST_DELAY = 0.02
_LONGEST_DELAY = 1.0
"""Backoff between attempts to reach the server, in seconds."""


Witness = tuple[int, str, int, "str | None", str]
"""One row a transaction wrote: ``(position, aggregate_id, sequence, command_key, payload)``."""


class _Lost(Exception):
    """The connection broke during a batch.

    ``in_doubt``: the ``COMMIT`` may have reached the server, so the outcome must be
    looked up before the batch is retried or reported: by ``xid`` while the server runs
    since ``started`` (it gave that id), else by ``witness``, a row the transaction wrote
    (``None``: it wrote none).
    """

    def __init__(
        self,
        message: str,
        *,
        in_doubt: bool,
        xid: str | None,
        pid: int,
        started: str | None = None,
        witness: Witness | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.in_doubt = in_doubt
        self.xid = xid
        self.pid = pid
        self.started = started
        self.witness = witness


class _Columns:
    """The rows of one transaction as columns, the shape ``unnest`` takes them in."""

    __slots__ = (
        "aggregate_ids",
        "aggregate_types",
        "causation_ids",
        "command_keys",
        "correlation_ids",
        "event_types",
        "event_versions",
        "metadata",
        "payloads",
        "positions",
        "sequences",
    )

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.aggregate_types: list[str] = []
        self.aggregate_ids: list[str] = []
        self.sequences: list[int] = []
        self.event_types: list[str] = []
        self.event_versions: list[int] = []
        self.payloads: list[str] = []
        self.metadata: list[str] = []
        self.command_keys: list[str | None] = []
        self.correlation_ids: list[str] = []
        self.causation_ids: list[str] = []

    def add(self, position: int, append: Append) -> int:
        """Add the rows of ``append`` at the positions after ``position``; return the last one.

        The command's key goes on its first event only (see ``schema``).
        """
        key = append.key
        for row in append.rows:
            (
                aggregate_type,
                aggregate_id,
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
                correlation_id,
                causation_id,
            ) = row
            position += 1
            self.positions.append(position)
            self.aggregate_types.append(aggregate_type)
            self.aggregate_ids.append(aggregate_id)
            self.sequences.append(sequence)
            self.event_types.append(event_type)
            self.event_versions.append(event_version)
            self.payloads.append(payload)
            self.metadata.append(metadata)
            self.command_keys.append(key)
            self.correlation_ids.append(correlation_id)
            self.causation_ids.append(causation_id)
            key = None
        return position

    def witness(self) -> Witness | None:
        """The first row, to tell after a restart whether the transaction committed."""
        if not self.positions:
            return None
        return (
            self.positions[0],
            self.aggregate_ids[0],
            self.sequences[0],
            self.command_keys[0],
            self.payloads[0],
        )

    def parameters(self) -> tuple[object, ...]:
        """The parameters of ``Names.insert_events``."""
        return (
            self.positions,
            self.aggregate_types,
            self.aggregate_ids,
            self.sequences,
            self.event_types,
            self.event_versions,
            self.payloads,
            self.metadata,
            self.command_keys,
            self.correlation_ids,
            self.causation_ids,
        )


def _columns(rows: Sequence[tuple[str, ...]], width: int) -> tuple[list[str], ...]:
    """``rows`` as ``width`` columns: the parameters of an ``unnest`` of text arrays."""
    return tuple([row[index] for row in rows] for index in range(width))


def _stored(
    commands: list[CommandKey], found: psycopg.Cursor[tuple[Any, ...]] | None
) -> set[CommandKey]:
    """The commands, asked in this order of ``Names.stored_keys``, that it found stored."""
    if found is None:
        return set()
    return {command for command, (stored,) in zip(commands, found, strict=True) if stored}


def _commit_skipped(connection: Connection) -> bool:
    """Whether the server certainly did not run the ``COMMIT`` just sent.

    True only when the server itself has reported the transaction still open and failed
    (``INERROR``, at the end of the pipeline): it then skipped every statement after the
    one that failed, the ``COMMIT`` included. Any other state, a broken connection
    above all, leaves the outcome in doubt.
    """
    from psycopg.pq import TransactionStatus

    return (
        not is_connection_lost(connection)
        and connection.info.transaction_status == TransactionStatus.INERROR
    )


def _snapshot_columns(
    snapshots: list[SnapshotRow],
) -> tuple[list[str], list[str], list[int], list[str], list[int], list[str], list[datetime]]:
    # One row per aggregate, the last saved winning: an upsert may not touch a row twice.
    latest = {(row[0], row[1]): row for row in snapshots}
    rows = list(latest.values())
    return (
        [row[0] for row in rows],
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
        [row[5] for row in rows],
        [row[6] for row in rows],
    )


@final
class PostgresWriteConnection:
    """The write connection of a PostgreSQL store, and how a batch is stored on it.

    The ``WriteConnection`` of ``_stores.writer``: used by the writer thread only. It
    reconnects when the connection is lost (see the module docstring).
    """

    def __init__(
        self,
        connection: Connection,
        options: Options,
        names: Names,
        counters: WriterCounters,
    ) -> None:
        self._connection: Connection | None = connection
        # The backend of the write connection, found before it can be lost.
        self._pid = connection.info.backend_pid
        self._options = options
        self._names = names
        self._counters = counters
        self.described = f"the PostgreSQL store {options.server}"
        # After a batch failed because the server could not be reached, the next ones
        # get a single attempt each until one gets through: a queue that builds up
        # while the server is down then fails fast instead of waiting in turn.
        self._unreachable = False
        # True from the moment a COMMIT may reach the server until its outcome is known.
        self.in_doubt = False

    def alone(self, job: Job[Any]) -> bool:
        """Never: every job of this store is a write request, stored with its batch."""
        return False

    def store_alone(self, job: Job[Any]) -> None:
        """Not used: no job of this store needs a transaction of its own."""
        raise AssertionError(f"a PostgreSQL store has no job to run alone: {job!r}")

    def crashed(self, failure: BaseException) -> None:
        """Log the crash of the writer thread, without a traceback that could hold secrets."""
        logger.critical(
            "the writer thread of the PostgreSQL store %s crashed: %s",
            self._options.server,
            self._options.scrub(repr(failure)),
        )

    def close(self) -> None:
        """Close the write connection; a failure is logged."""
        self._close_connection()

    def store(self, batch: list[Job[Any]]) -> None:
        """Store ``batch``, retrying on a lost connection; set every request's result."""
        requests: list[WriteRequest] = []
        for job in batch:
            assert isinstance(job, WriteRequest), f"not a write request: {job!r}"
            requests.append(job)
        self._store(requests)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:
                logger.warning(
                    "closing the write connection to %s failed: %s",
                    self._options.server,
                    self._options.scrub(repr(exc)),
                )

    def _connection_for_batch(self) -> Connection:
        """The write connection, reconnecting if it was lost.

        Raises:
            psycopg.Error: The server cannot be reached.
        """
        connection = self._connection
        if connection is not None and not is_connection_lost(connection):
            return connection
        self._close_connection()
        connection = connect(self._options, "writer")
        try:
            configure_writer(connection, self._options)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._pid = connection.info.backend_pid
        self._counters.reconnects += 1
        logger.info("reconnected the writer of the PostgreSQL store %s", self._options.server)
        return connection

    def _store(self, batch: list[WriteRequest]) -> None:
        """Store ``batch``, retrying on a lost connection; set every request's result."""
        import psycopg

        options = self._options
        started = time.monotonic()
        deadline = started + (0.0 if self._unreachable else options.retry_timeout)
        delay = _FIRST_DELAY
        while True:
            for request in batch:
                request.result = None
            try:
                connection = self._connection_for_batch()
            except psycopg.Error as exc:
                self._unreachable = True
                failure = options.driver_error("connecting the writer", exc)
            else:
                # Reachable again: the batch gets its whole retry budget back.
                self._unreachable = False
                deadline = max(deadline, started + options.retry_timeout)
                try:
                    self._commit(connection, batch)
                except _Lost as lost:
                    self._close_connection()
                    failure = lost.message
                    if lost.in_doubt:
                        outcome = self._resolve(lost, deadline)
                        if outcome == "committed":
                            logger.warning(
                                "the connection to %s failed while committing; the commit "
                                "went through (%s)",
                                options.server,
                                failure,
                            )
                            self.in_doubt = False
                            return
                        if outcome is None:
                            logger.error(
                                "the outcome of a commit is unknown: %s; the requests it "
                                "was to store are reported as such",
                                failure,
                            )
                            self._fail_in_doubt(batch, failure)
                            self.in_doubt = False
                            return
                        self.in_doubt = False  # rolled back: retried below
                    logger.warning("%s; retrying the write transaction", failure)
                else:
                    self.in_doubt = False
                    return
            if time.monotonic() + delay > deadline:
                logger.error("giving up a write transaction: %s", failure)
                # Only a lost connection is retried: the server stayed out of reach.
                self._fail(batch, failure, StoreFailure.UNREACHABLE)
                return
            time.sleep(delay)
            delay = min(delay * 2, _LONGEST_DELAY)

    def _fail(self, batch: list[WriteRequest], message: str, kind: StoreFailure) -> None:
        """Fail every request of ``batch`` not stored for a reason of its own: none is."""
        failed = Error(EventStoreError(message, kind))
        for request in batch:
            # A conflict stays a conflict: the request was stale whatever happened (and a
            # key stored already stays so).
            result = request.result
            if not (
                isinstance(result, Error)
                and isinstance(result.error, (ConcurrencyConflict, CommandAlreadyStored))
            ):
                request.result = failed

    def _fail_in_doubt(self, batch: list[WriteRequest], message: str) -> None:
        """Answer ``batch`` after a commit whose outcome is unknown.

        The requests it was to store get ``OutcomeUnknown``; the others keep their
        answer (a conflict, a key stored already, a failure of their own), since none of
        them was in the commit.
        """
        for request in batch:
            result = request.result
            if result is None or result is OK:
                request.result = outcome_unknown(request, message)

    def _lost(
        self,
        exc: psycopg.Error,
        *,
        in_doubt: bool,
        xid: str | None,
        started: str | None = None,
        witness: Witness | None = None,
    ) -> _Lost:
        return _Lost(
            self._options.driver_error("writing", exc),
            in_doubt=in_doubt,
            xid=xid,
            pid=self._pid,
            started=started,
            witness=witness,
        )

    def _commit(self, connection: Connection, batch: list[WriteRequest]) -> None:
        """Store ``batch`` in one transaction, the fast way (see the module docstring).

        Raises:
            _Lost: The connection broke, or the commit's outcome is in doubt.
        """
        import psycopg

        names = self._names
        committing = False
        xid: str | None = None
        started: str | None = None
        columns = _Columns()
        wanted = list(aggregates(a for r in batch for a in r.appends))
        try:
            with connection.pipeline():
                connection.execute("BEGIN")
                locked = connection.execute(names.lock)
                known = (
                    connection.execute(names.last_sequences, _columns(wanted, 2))
                    if wanted
                    else None
                )
            lock_row = locked.fetchone()
            assert lock_row is not None, "the store row is missing"
            last_position: int = lock_row[0]
            xid, started = lock_row[1], lock_row[2]
            last: dict[AggregateKey, int] = {}
            if known is not None:
                last = {(kind, id_): sequence or 0 for kind, id_, sequence in known}
            taken: set[CommandKey] = set()
            stale: list[tuple[WriteRequest, list[Append]]] = []
            snapshots: list[SnapshotRow] = []
            position = last_position
            for request in batch:
                if self._decide(request, last, set(), taken, stale):
                    request.first_position = position + 1 if request.event_count() else 0
                    for append in request.appends:
                        position = columns.add(position, append)
                    snapshots += request.snapshots
            if stale:
                self._already_stored(connection, stale)
            # From here on the COMMIT may reach the server whatever goes wrong: should
            # the thread die before the outcome is known, `_run` reports it unknown.
            committing = self.in_doubt = True
            with connection.pipeline():
                if columns.positions:
                    connection.execute(names.insert_events, columns.parameters())
                if snapshots:
                    connection.execute(names.upsert_snapshots, _snapshot_columns(snapshots))
                if columns.positions:
                    connection.execute(names.update_position, (position,))
                    connection.execute(names.notify)
                # Also when nothing is written (every request was stale): it ends the
                # transaction and releases the lock.
                connection.execute("COMMIT")
        except psycopg.Error as exc:
            if committing and not _commit_skipped(connection):
                raise self._lost(
                    exc, in_doubt=True, xid=xid, started=started, witness=columns.witness()
                ) from None
            # Certainly not committed: the COMMIT was not sent, or the server skipped it.
            self.in_doubt = False
            if is_connection_lost(connection):
                raise self._lost(exc, in_doubt=False, xid=xid) from None
            self._rollback(connection)
            if not committing:
                # Reading failed, not one request: the batch fails as a whole.
                self._fail(
                    batch,
                    self._options.driver_error("beginning a write", exc),
                    failure_kind(exc, connection),
                )
                return
            logger.info(
                "a write batch on %s failed (%s): storing its requests one by one",
                self._options.server,
                self._options.scrub(" ".join(str(exc).split())),
            )
            self._commit_one_by_one(connection, batch)

    def _decide(
        self,
        request: WriteRequest,
        last: dict[AggregateKey, int],
        stored: set[CommandKey],
        taken: set[CommandKey],
        stale: list[tuple[WriteRequest, list[Append]]] | None = None,
    ) -> bool:
        """Check ``request`` against the stored sequences and keys; take them if it fits.

        ``last`` holds each aggregate's sequence, ``stored`` the keys known to be in the
        tables, ``taken`` those of the requests accepted before in the transaction (see
        ``check_request``). A stale request with keys that were not looked up is added
        to ``stale`` with the appends checked, for :meth:`_already_stored`. Sets the
        request's (tentative) result; returns whether its rows are to be written.
        """
        refused, checked = check_request(request.appends, last, taken, stored)
        if refused is None:
            request.result = OK
            return bool(request.appends or request.snapshots)
        request.result = Error(refused)
        if stale is not None and isinstance(refused, ConcurrencyConflict):
            appends = request.appends[:checked]
            if keyed(appends):
                stale.append((request, appends))
        return False

    def _already_stored(
        self, connection: Connection, stale: list[tuple[WriteRequest, list[Append]]]
    ) -> None:
        """Turn the conflicts of ``stale`` requests whose key is stored into what they are.

        The fast path asks for keys only here, for requests found stale: one more round
        trip in a batch that has some, none in the others (a key stored on a current
        sequence makes the INSERT fail, and the request-by-request pass names it).

        Raises:
            psycopg.Error: The server failed (the caller handles it).
        """
        commands = keyed(append for _, appends in stale for append in appends)
        found = connection.execute(self._names.stored_keys, _columns(commands, 3))
        stored = _stored(commands, found)
        for request, appends in stale:
            for command in keyed(appends):
                if command in stored:
                    request.result = Error(CommandAlreadyStored(command[1], command[2]))
                    break

    def _rollback(self, connection: Connection) -> None:
        """Roll back a transaction that cannot commit; raise :class:`_Lost` if that fails.

        Only called when the transaction certainly did not commit (its ``COMMIT`` was
        not sent, or the server skipped it), so a connection lost here loses nothing.
        """
        import psycopg

        try:
            connection.execute("ROLLBACK")
        except psycopg.Error as exc:
            raise self._lost(exc, in_doubt=False, xid=None) from None

    def _commit_one_by_one(self, connection: Connection, batch: list[WriteRequest]) -> None:
        """Store ``batch`` one request per savepoint, so a bad request fails alone.

        Raises:
            _Lost: The connection broke, or the commit's outcome is in doubt.
        """
        import psycopg

        names = self._names
        options = self._options
        committing = False
        xid: str | None = None
        started: str | None = None
        witness: Witness | None = None
        for request in batch:
            request.result = None
        try:
            with connection.pipeline():
                connection.execute("BEGIN")
                locked = connection.execute(names.lock)
            lock_row = locked.fetchone()
            assert lock_row is not None, "the store row is missing"
            position: int = lock_row[0]
            xid, started = lock_row[1], lock_row[2]
            for request in batch:
                connection.execute("SAVEPOINT request")
                try:
                    wanted = list(aggregates(request.appends))
                    commands = keyed(request.appends)
                    with connection.pipeline():
                        known = connection.execute(names.last_sequences, _columns(wanted, 2))
                        found = (
                            connection.execute(names.stored_keys, _columns(commands, 3))
                            if commands
                            else None
                        )
                    last = {(kind, id_): sequence or 0 for kind, id_, sequence in known}
                    # The requests stored before in this transaction are in the tables
                    # now: the lookup sees their keys.
                    stored = _stored(commands, found)
                    if not self._decide(request, last, stored, set()):
                        connection.execute("RELEASE SAVEPOINT request")
                        continue
                    columns = _Columns()
                    end = position
                    request.first_position = position + 1 if request.event_count() else 0
                    for append in request.appends:
                        end = columns.add(end, append)
                    if columns.positions:
                        connection.execute(names.insert_events, columns.parameters())
                    if request.snapshots:
                        connection.execute(
                            names.upsert_snapshots, _snapshot_columns(request.snapshots)
                        )
                    connection.execute("RELEASE SAVEPOINT request")
                    position = end
                    witness = witness or columns.witness()
                except psycopg.Error as exc:
                    if is_connection_lost(connection):
                        raise
                    connection.execute("ROLLBACK TO SAVEPOINT request")
                    connection.execute("RELEASE SAVEPOINT request")
                    logger.error(
                        "storing a write transaction failed: %s",
                        options.driver_error("storing events", exc),
                    )
                    # Not a key stored already, nor a stale sequence: both were looked
                    # up under the position lock, which every writer takes.
                    request.result = Error(
                        EventStoreError(
                            options.driver_error("storing events", exc),
                            failure_kind(exc, connection),
                        )
                    )
            if position != lock_row[0]:
                connection.execute(names.update_position, (position,))
                connection.execute(names.notify)
            committing = self.in_doubt = True
            connection.execute("COMMIT")
        except psycopg.Error as exc:
            if committing and not _commit_skipped(connection):
                raise self._lost(
                    exc, in_doubt=True, xid=xid, started=started, witness=witness
                ) from None
            self.in_doubt = False
            if is_connection_lost(connection):
                raise self._lost(exc, in_doubt=False, xid=xid) from None
            self._rollback(connection)
            self._fail(
                batch, options.driver_error("storing events", exc), failure_kind(exc, connection)
            )

    def _resolve(self, lost: _Lost, deadline: float) -> str | None:
        """Find out whether the transaction whose commit was in doubt committed.

        Asked on a new connection (the one that failed is closed first). Returns
        ``"committed"``, ``"aborted"``, or ``None`` if it cannot be known before
        ``deadline`` (the server is unreachable, or no longer knows the transaction).
        """
        import psycopg

        xid = lost.xid
        if xid is None:
            return "aborted"  # lost before the transaction had begun
        delay = _FIRST_DELAY
        while True:
            try:
                connection = self._connection_for_batch()
            except psycopg.Error as exc:
                logger.warning(
                    "cannot reach the server to check a commit: %s",
                    self._options.driver_error("connecting the writer", exc),
                )
            else:
                try:
                    status = self._status(connection, lost)
                    if status is not None:
                        return status
                except psycopg.Error as exc:
                    if not is_connection_lost(connection):
                        logger.error(
                            "cannot check whether a commit went through: %s",
                            self._options.driver_error("checking a commit", exc),
                        )
                        return None
                    self._close_connection()
            if time.monotonic() + delay > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, _LONGEST_DELAY)

    def _status(self, connection: Connection, lost: _Lost) -> str | None:
        """``"committed"`` or ``"aborted"``, or ``None`` while the transaction still runs.

        A transaction id is only known to the server run that gave it: after a restart,
        the id of a transaction the crash lost may be given again, to another. So the
        status of the id is asked of the same run only; after a restart, the transaction
        is over for certain, and one of its rows says whether it committed (a row with
        its key and payload at its position is no other transaction's).

        Raises:
            psycopg.Error: The server could not be asked.
        """
        row = connection.execute("SELECT pg_postmaster_start_time()::text").fetchone()
        if lost.started is not None and row is not None and row[0] != lost.started:
            witness = lost.witness
            if witness is None:
                return "aborted"  # it wrote nothing: storing the batch again changes nothing
            (found,) = connection.execute(self._names.witness, witness).fetchone() or (0,)
            return "committed" if found else "aborted"
        status_row = connection.execute("SELECT pg_xact_status(%s::xid8)", (lost.xid,)).fetchone()
        status = None if status_row is None else status_row[0]
        if status in ("committed", "aborted"):
            return str(status)
        self._end_backend(connection, lost)
        return None

    def _end_backend(self, connection: Connection, lost: _Lost) -> None:
        """End the backend of the lost connection if it still runs the transaction.

        The transaction is still in progress: its backend has not noticed that its
        client is gone. Ended, it is rolled back for certain; the check that the backend
        still runs this very transaction guards against a reused backend id. If ending
        it is not allowed, the backend ends on its own once it notices.
        """
        import psycopg

        try:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid = %s AND backend_xid = %s::xid8::xid",
                (lost.pid, lost.xid),
            )
        except psycopg.Error as exc:
            if is_connection_lost(connection):
                self._close_connection()
            else:
                logger.warning(
                    "cannot end the backend of a lost write connection: %s",
                    self._options.driver_error("ending a backend", exc),
                )


def configure_writer(connection: Connection, options: Options) -> None:
    """Session settings of the write connection.

    ``lock_timeout``: a transaction that holds the position lock and never ends (a
    session left idle in a transaction by hand) makes writes fail after
    ``retry_timeout`` instead of waiting forever. ``plan_cache_mode``: the writer's
    statements are index seeks whatever their parameters, and psycopg prepares them
    after a few runs; a generic plan then spares each run its planning (measured: a
    tenth of a millisecond per statement, most of a lone batch's server time).
    """
    connection.execute(f"SET lock_timeout = {int(options.retry_timeout * 1000)}")
    connection.execute("SET plan_cache_mode = force_generic_plan")
