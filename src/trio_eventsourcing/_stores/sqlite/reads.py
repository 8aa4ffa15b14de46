"""The SQLite store's reads: the queries, and the decoding of rows into events.

Each function here runs in a reader thread (``_stores.sqlite.readers``) with that thread's
connection, so the codec decodes there too and a long replay keeps the Trio thread free.
How rows are decoded, and what is done with data that cannot be, is ``_stores.serialized``.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any, TypeVar

from ..._codec.json_codec import Codec
from ..._core.log import LogEntry
from ..._core.log_source import LogPage
from ..._core.records import EventEnvelop, Snapshot
from ..._runtime.result import Error, Ok
from ..selection import SQLITE_KIND, QueriedSelection, page_of
from ..serialized import LogRow, decode_events, decode_log, decode_snapshot
from .readers import ReadResult

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

# The snapshot row as the schema declares it (the driver types it as Any).
_SnapshotRow = tuple[int, str, int, str, str]

_EVENT_COLUMNS = (
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,"
    " correlation_id, causation_id"
)
_SELECT_EVENTS = (
    f"SELECT {_EVENT_COLUMNS} FROM events WHERE aggregate_type = ? AND aggregate_id = ?"
    " AND sequence > ? ORDER BY sequence"
)
_SELECT_SNAPSHOT = (
    "SELECT sequence, entity_type, entity_version, payload, taken_at FROM snapshots"
    " WHERE aggregate_type = ? AND aggregate_id = ?"
)
_SELECT_COMMAND = (
    "SELECT 1 FROM command_keys WHERE aggregate_type = ? AND aggregate_id = ? AND command_key = ?"
)
_SELECT_HEAD = "SELECT coalesce(max(position), 0) FROM events"


def log_query(condition: str) -> str:
    """The query of a page of the log for a selection's SQL ``condition``.

    Its parameters: the position, the condition's, and the most rows.
    """
    return (
        f"SELECT position, recorded_at, {_EVENT_COLUMNS} FROM events"
        f" WHERE position > ? AND {condition} ORDER BY position LIMIT ?"
    )


# The log of one aggregate type (read_log).
_SELECT_LOG = log_query(f"{SQLITE_KIND} = ?")


def read_events(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    aggregate_id: str,
    start_from: int,
) -> ReadResult[list[EventEnvelop[EventT]]]:
    """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
    rows = connection.execute(
        _SELECT_EVENTS, (codec.aggregate_type, aggregate_id, start_from)
    ).fetchall()
    return decode_events(codec, repr(path), rows)


def read_command(
    connection: sqlite3.Connection, aggregate_type: str, aggregate_id: str, idempotency_key: str
) -> ReadResult[bool]:
    """Whether a command with ``idempotency_key`` is stored for the aggregate."""
    row = connection.execute(
        _SELECT_COMMAND, (aggregate_type, aggregate_id, idempotency_key)
    ).fetchone()
    return Ok(row is not None)


def read_snapshot(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    aggregate_id: str,
) -> ReadResult[Snapshot[EntityT] | None]:
    """The latest snapshot of ``aggregate_id``, or ``None`` (also when it is unreadable)."""
    row = connection.execute(_SELECT_SNAPSHOT, (codec.aggregate_type, aggregate_id)).fetchone()
    return Ok(None if row is None else _snapshot(codec, path, aggregate_id, row))


def read_aggregate(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    aggregate_id: str,
) -> ReadResult[tuple[Snapshot[EntityT] | None, ReadResult[list[EventEnvelop[EventT]]]]]:
    """The latest snapshot and the events after it, read in one go.

    A cold load then costs one hand-off to a reader thread instead of two. No read
    transaction is needed: events are only ever appended, so events read after the
    snapshot include every event that follows it (and perhaps newer ones).
    """
    key = (codec.aggregate_type, aggregate_id)
    row = connection.execute(_SELECT_SNAPSHOT, key).fetchone()
    snapshot = None if row is None else _snapshot(codec, path, aggregate_id, row)
    start = 0 if snapshot is None else snapshot.sequence
    rows = connection.execute(_SELECT_EVENTS, (*key, start)).fetchall()
    return Ok((snapshot, decode_events(codec, repr(path), rows)))


def read_log(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    start_from: int,
    limit: int,
) -> ReadResult[list[LogEntry[EventT]]]:
    """Up to ``limit`` events of the codec's aggregate type after position ``start_from``."""
    rows: list[LogRow[str]] = connection.execute(
        _SELECT_LOG, (start_from, codec.aggregate_type, limit)
    ).fetchall()
    return decode_log({codec.aggregate_type: codec}, repr(path), rows, datetime.fromisoformat)


def read_selected_log(
    connection: sqlite3.Connection,
    selected: QueriedSelection,
    query: str,
    path: str,
    start_from: int,
    limit: int,
) -> ReadResult[LogPage[LogEntry[Any]]]:
    """A page of up to ``limit`` events of ``selected`` after position ``start_from``.

    ``query`` is :func:`log_query` of the selection's condition. A page short of
    ``limit`` rows was read to the end of the log, which it reports as its end: both are
    read in one read transaction, so as of one commit, and the stores commit positions
    in order, so no event up to that end is missing from the page. A full page ends at
    its last event and needs no more.
    """
    connection.execute("BEGIN")
    try:
        rows = connection.execute(query, (start_from, *selected.parameters, limit)).fetchall()
        head = 0 if len(rows) >= limit else connection.execute(_SELECT_HEAD).fetchone()[0]
    finally:
        connection.execute("COMMIT")
    entries = decode_log(selected.codecs, repr(path), rows, datetime.fromisoformat)
    if isinstance(entries, Error):
        return entries
    return Ok(page_of(entries.value, limit, head))


def _snapshot(
    codec: Codec[EventT, EntityT], path: str, aggregate_id: str, row: _SnapshotRow
) -> Snapshot[EntityT] | None:
    # The file keeps snapshot times as ISO 8601 text.
    return decode_snapshot(codec, repr(path), aggregate_id, row, datetime.fromisoformat, logger)
