"""The PostgreSQL store's reads: a pool of connections used from the store's reader threads.

psycopg's async API runs on asyncio only, so reads use its blocking API in threads of
the store's own (``max_readers`` of them), each lending a connection from the pool for
one read: there are never more connections than threads reading. The hand-off is the
SQLite readers' (``_stores.handoff``), which costs the Trio thread a few microseconds
where ``trio.to_thread`` costs tens. A read abandoned by a cancelled caller finishes on
its own and returns its connection. Every read is one statement in autocommit mode, one
round trip, with its rows in binary format (cheaper to parse); a read that loses its
connection is retried once on a fresh one (reads change nothing, so retrying is safe).

Rows are decoded with the codec in the reader thread too, so a long replay keeps the Trio
thread free; how, and what is done with data that cannot be decoded, is ``_stores.serialized``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import trio
from typing_extensions import final

from ..._codec.json_codec import Codec
from ..._core.errors import EventStoreError, StoreFailure
from ..._core.log import LogEntry
from ..._core.log_source import LogPage
from ..._core.records import EventEnvelop, Snapshot
from ..._runtime.result import Error, Ok, Result
from ..handoff import Call, JobQueue, ThreadGroup
from ..selection import QueriedSelection, page_of
from ..serialized import (
    EventRow,
    HeadedLogRow,
    LogRow,
    decode_events,
    decode_log,
    decode_snapshot,
)
from .connection import Options, connect, failure_kind, is_connection_lost
from .schema import Names

if TYPE_CHECKING:
    from .connection import Connection

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.postgres_store")

ReadResult = Result[ValueT, EventStoreError]
_Read = Call["Connection", ReadResult[ValueT]]

# The snapshot row as the schema declares it (the driver types it as Any).
_SnapshotRow = tuple[int, str, int, str, datetime]


@final
class ReaderPool:
    """The read connections and reader threads of one running store.

    A small pool of its own rather than ``psycopg_pool``: that one reconnects in the
    background with a growing backoff, so after an outage reads kept failing for
    seconds after the server was back. Here a reader thread that finds no idle
    connection opens one, at once; there are ``max_readers`` threads, each holding one
    connection at a time, so never more connections than that.
    """

    __slots__ = ("_closed", "_idle", "_lock", "_options", "_threads")

    def __init__(self, options: Options, token: trio.lowlevel.TrioToken) -> None:
        self._options = options
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # They hand their reads back to the Trio run of ``token``.
        self._threads: ThreadGroup[_Read[Any]] = ThreadGroup(
            token,
            [
                f"trio-eventsourcing PostgreSQL reader {n} {options.server}"
                for n in range(options.max_readers)
            ],
            self._serve,
        )

    def open(self) -> None:
        """Open the first read connection (blocks), so a start fails if reads cannot work.

        Raises:
            psycopg.Error: The server cannot be reached.
        """
        self._give_back(_connect(self._options))

    def start(self) -> None:
        """Start the reader threads."""
        self._threads.start()

    def stop(self) -> None:
        """Take no more reads; each thread ends after the reads queued before."""
        self._threads.stop()

    async def run(
        self, operation: str, work: Callable[[Connection], ReadResult[ValueT]]
    ) -> ReadResult[ValueT]:
        """Run ``work`` with a read connection in a reader thread.

        Raises:
            trio.Cancelled: When cancelled; the read is abandoned, and finishes on its
                own (reads change nothing, so there is nothing to wait for).
        """
        read: _Read[ValueT] = Call(operation, work)
        if not await self._threads.jobs.submit(read):
            return Error(
                EventStoreError(
                    f"the PostgreSQL store {self._options.server} has stopped",
                    StoreFailure.NOT_RUNNING,
                )
            )
        result = read.result
        assert result is not None, "a read was woken before it had a result"
        return result

    def _serve(self, jobs: JobQueue[_Read[Any]]) -> None:
        for read in jobs.each():
            try:
                read.result = self._lend(read.operation, read.work)
            except Exception as exc:
                # A bug, here or in a codec: report it to the reader, keep the thread alive.
                logger.exception("%s raised on %s", read.operation, self._options.server)
                read.result = Error(
                    EventStoreError(
                        self._options.scrub(
                            f"{read.operation} raised on {self._options.server}: {exc!r}"
                        ),
                        StoreFailure.FAILED,
                    )
                )
            if not jobs.deliver([read]):
                return

    def _lend(
        self, operation: str, work: Callable[[Connection], ReadResult[ValueT]]
    ) -> ReadResult[ValueT]:
        import psycopg

        options = self._options
        for attempt in (1, 2):
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            try:
                if connection is None:
                    connection = _connect(options)
                return work(connection)
            except psycopg.Error as exc:
                message = options.driver_error(operation, exc)
                if attempt == 1 and connection is not None and is_connection_lost(connection):
                    # The server restarted or dropped us: the idle connections are most
                    # likely gone too. Retry once, on a new connection.
                    self._close_idle()
                    logger.warning("%s; retrying on a new connection", message)
                    continue
                logger.error("%s", message)
                return Error(EventStoreError(message, failure_kind(exc, connection)))
            finally:
                if connection is not None:
                    self._give_back(connection)
        raise AssertionError("unreachable: the second attempt returns")

    def _give_back(self, connection: Connection) -> None:
        from psycopg.pq import TransactionStatus

        # Reads are single statements in autocommit mode: a connection that is not idle
        # (lost, or somehow inside a transaction) is not lent again.
        idle = TransactionStatus.IDLE
        if not is_connection_lost(connection) and connection.info.transaction_status == idle:
            with self._lock:
                if not self._closed:
                    self._idle.append(connection)
                    return
        _close(connection, self._options)

    def _close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close(connection, self._options)

    def close(self) -> None:
        """Close the idle connections (blocks); those lent out close when they come back."""
        with self._lock:
            self._closed = True
        self._close_idle()


READ_SESSION = "SET TimeZone TO 'UTC'; SET plan_cache_mode TO force_generic_plan"
"""The settings of every read connection's session.

UTC: the driver gives a ``timestamptz`` the session's time zone, and in UTC it gives
``datetime.timezone.utc`` itself, so the moments read need no conversion (`_utc`).

Generic plans: the reads are prepared at their first use (``connection_kwargs``), and a
generic plan is made once, where the server would otherwise plan the first executions
of each again with their values (about 0.5 ms for a cold load's statement here, five
times what running it takes). The generic plans are the ones wanted whatever the
values: a key's index for an aggregate's events and snapshot, the primary key for a page
of the log (see ``selection.POSTGRES_KIND``), without waiting for the table's statistics.
Only this library's reads run on these connections.
"""


def _connect(options: Options) -> Connection:
    """A read connection with the session of `READ_SESSION`."""
    connection = connect(options, "reader")
    try:
        connection.execute(READ_SESSION, prepare=False)
    except BaseException:
        _close(connection, options)
        raise
    return connection


def _close(connection: Connection, options: Options) -> None:
    try:
        connection.close()
    except Exception as exc:
        logger.warning("closing a read connection failed: %s", options.driver_error("closing", exc))


# -- work run in the worker threads ---------------------------------------------------


def read_events(
    connection: Connection,
    codec: Codec[EventT, EntityT],
    options: Options,
    names: Names,
    aggregate_id: str,
    start_from: int,
) -> ReadResult[list[EventEnvelop[EventT]]]:
    """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
    rows = connection.execute(
        names.select_events, (codec.aggregate_type, aggregate_id, start_from), binary=True
    ).fetchall()
    return _decode_events(codec, options, rows)


def read_command(
    connection: Connection,
    names: Names,
    aggregate_type: str,
    aggregate_id: str,
    idempotency_key: str,
) -> ReadResult[bool]:
    """Whether a command with ``idempotency_key`` is stored for the aggregate."""
    row = connection.execute(
        names.select_command, (aggregate_type, aggregate_id, idempotency_key)
    ).fetchone()
    return Ok(bool(row is not None and row[0]))


def read_snapshot(
    connection: Connection,
    codec: Codec[EventT, EntityT],
    options: Options,
    names: Names,
    aggregate_id: str,
) -> ReadResult[Snapshot[EntityT] | None]:
    """The latest snapshot of ``aggregate_id``, or ``None`` (also when it is unreadable)."""
    row = connection.execute(names.select_snapshot, (codec.aggregate_type, aggregate_id)).fetchone()
    return Ok(None if row is None else _decode_snapshot(codec, options, aggregate_id, row))


def read_aggregate(
    connection: Connection,
    codec: Codec[EventT, EntityT],
    options: Options,
    names: Names,
    aggregate_id: str,
) -> ReadResult[tuple[Snapshot[EntityT] | None, ReadResult[list[EventEnvelop[EventT]]]]]:
    """The latest snapshot and the events after it, read with one statement.

    A cold load then costs one thread round trip and one server round trip, and the
    events are exactly those that follow the snapshot seen.
    """
    rows: list[tuple[Any, ...]] = connection.execute(
        names.select_aggregate, {"type": codec.aggregate_type, "id": aggregate_id}, binary=True
    ).fetchall()
    # SQL does not promise the order of UNION ALL: the snapshot row (kind 0) first, then
    # the events by sequence. Sorting rows that are already in order is linear.
    rows.sort(key=lambda row: (row[0], row[1]))
    snapshot: Snapshot[EntityT] | None = None
    events = rows
    if rows and rows[0][0] == 0:
        events = rows[1:]
        sequence, entity_type, entity_version, payload, _, taken_at = rows[0][1:7]
        snapshot = _decode_snapshot(
            codec, options, aggregate_id, (sequence, entity_type, entity_version, payload, taken_at)
        )
        if snapshot is None:
            # Unreadable: replay from the first event instead.
            return Ok((None, read_events(connection, codec, options, names, aggregate_id, 0)))
    decoded = _decode_events(
        codec,
        options,
        [
            (row[7], aggregate_id, row[1], row[2], row[3], row[4], row[5], row[8], row[9])
            for row in events
        ],
    )
    return Ok((snapshot, decoded))


def read_log(
    connection: Connection,
    codec: Codec[EventT, EntityT],
    options: Options,
    names: Names,
    start_from: int,
    limit: int,
) -> ReadResult[list[LogEntry[EventT]]]:
    """Up to ``limit`` events of the codec's aggregate type after position ``start_from``."""
    rows: list[LogRow[datetime]] = connection.execute(
        names.select_log, (start_from, codec.aggregate_type, limit), binary=True
    ).fetchall()
    return _decode_log({codec.aggregate_type: codec}, options, rows)


@final
class PageQueries(NamedTuple):
    """The queries of :func:`read_selected_log` for one selection (see :func:`log_query`)."""

    headed: str
    """Up to the most rows of the selection after a position, each with the log's end."""
    joined: str
    """The same page joined to the log's end, which it reports even with no row selected."""


def log_query(names: Names, condition: str) -> PageQueries:
    """The queries of :func:`read_selected_log` for a selection's SQL ``condition``.

    Their parameters: the position, the condition's, and the most rows. In each, the page
    and the log's end are read by one statement, so as of one snapshot.
    """
    events, columns = names.events, names.event_columns
    headed = (
        f"SELECT position, recorded_at, {columns},"
        f" (SELECT coalesce(max(position), 0) FROM {events})"
        f" FROM {events} WHERE position > %s AND {condition} ORDER BY position LIMIT %s"
    )
    return PageQueries(headed, _joined_page_query(events, columns, condition))


def read_selected_log(
    connection: Connection,
    selected: QueriedSelection,
    queries: PageQueries,
    options: Options,
    start_from: int,
    limit: int,
) -> ReadResult[LogPage[LogEntry[Any]]]:
    """A page of up to ``limit`` events of ``selected`` after position ``start_from``.

    ``queries`` are :func:`log_query` of the selection's condition: the page with the
    log's end in each row, which a page with rows needs alone; a page with none asks
    again with the query that reports the end without a row (a join, which sorts the
    page again: dearer, so not the first asked).
    """
    parameters = (start_from, *selected.parameters, limit)
    headed: list[HeadedLogRow[datetime]] = connection.execute(
        queries.headed, parameters, binary=True
    ).fetchall()
    if headed:
        head = headed[-1][-1]
        entries = _decode_log(selected.codecs, options, headed, headed=True)
    else:
        head, rows = _split_page(connection.execute(queries.joined, parameters, binary=True))
        entries = _decode_log(selected.codecs, options, rows)
    if isinstance(entries, Error):
        return entries
    return Ok(page_of(entries.value, limit, head))


def _joined_page_query(events: str, columns: str, condition: str) -> str:
    """A page of the log joined to where the log ends, which it reports with no row selected.

    Its parameters: the position, the condition's, and the most rows. One statement, so
    one snapshot of the table: the end it reports and the events it returns are of the
    same moment, and every event up to that end is visible in it (the stores commit
    positions in order). Its rows are ``(end, position, recorded_at, *columns)``; with no
    event selected, one row whose position is ``NULL``.
    """
    selected = ", ".join(f"e.{column.strip()}" for column in columns.split(","))
    return (
        f"SELECT head.position, e.position, e.recorded_at, {selected}"
        f" FROM (SELECT coalesce(max(position), 0) AS position FROM {events}) AS head"
        f" LEFT JOIN (SELECT position, recorded_at, {columns} FROM {events}"
        f" WHERE position > %s AND {condition} ORDER BY position LIMIT %s) AS e"
        " ON 1 = 1 ORDER BY e.position"
    )


def _split_page(cursor: Iterable[Sequence[Any]]) -> tuple[int, list[Any]]:
    """The end of the log and the event rows (without it) of a :func:`_joined_page_query`."""
    rows = list(cursor)
    head = int(rows[0][0]) if rows else 0
    return head, [row[1:] for row in rows if row[1] is not None]


def _utc(moment: datetime) -> datetime:
    # psycopg returns timestamptz in the session's time zone; the API speaks UTC, as the
    # read connections' sessions do (see _connect).
    return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)


def _decode_events(
    codec: Codec[EventT, EntityT], options: Options, rows: list[EventRow]
) -> ReadResult[list[EventEnvelop[EventT]]]:
    return decode_events(codec, f"PostgreSQL {options.server}", rows, options.scrub)


def _decode_log(
    codecs: Mapping[str, Codec[Any, Any]],
    options: Options,
    rows: list[LogRow[datetime]] | list[HeadedLogRow[datetime]],
    *,
    headed: bool = False,
) -> ReadResult[list[LogEntry[Any]]]:
    return decode_log(
        codecs, f"PostgreSQL {options.server}", rows, _utc, options.scrub, headed=headed
    )


def _decode_snapshot(
    codec: Codec[EventT, EntityT], options: Options, aggregate_id: str, row: _SnapshotRow
) -> Snapshot[EntityT] | None:
    return decode_snapshot(
        codec, f"PostgreSQL {options.server}", aggregate_id, row, _utc, logger, options.scrub
    )
