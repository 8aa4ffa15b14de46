"""The SQLite store's reads: the queries, and the decoding of rows into events.

Each function here runs in a reader thread (``_sqlite_readers``) with that thread's
connection, so the codec decodes there too and a long replay keeps the Trio thread free.
Data that cannot be decoded is reported as ``EventStoreError`` naming the
aggregate, sequence, event type and version: nothing is skipped and nothing is changed. A
snapshot that cannot be decoded (the entity's shape changed) is only an optimisation lost:
it is logged and ignored, and the aggregate is replayed from its first event.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from typing_extensions import final

from ._codec import Codec
from ._errors import EventStoreError
from ._result import Error, Ok
from ._sqlite_readers import ReadResult
from ._types import EventEnvelop, Metadata, SerializedEventEnvelop, Snapshot

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
EventT_co = TypeVar("EventT_co", covariant=True)

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

# The rows as the schema declares them (the driver types them as Any). A file edited by
# hand may hold other types; the codec and the checks below refuse those.
_EventRow = tuple[str, str, int, str, int, str, str]
_SnapshotRow = tuple[int, str, int, str, str]

_EVENT_COLUMNS = (
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata"
)
_SELECT_EVENTS = (
    f"SELECT {_EVENT_COLUMNS} FROM events WHERE aggregate_id = ? AND sequence > ? ORDER BY sequence"
)
_SELECT_SNAPSHOT = (
    "SELECT sequence, entity_type, entity_version, payload, taken_at FROM snapshots"
    " WHERE aggregate_id = ?"
)
_SELECT_LOG = (
    f"SELECT position, recorded_at, {_EVENT_COLUMNS} FROM events"
    " WHERE position > ? AND aggregate_type = ? ORDER BY position LIMIT ?"
)


@final
@dataclass(frozen=True)
class LogEntry(Generic[EventT_co]):
    """One event of the global log: its ``position``, when it was recorded, and the event.

    Positions are assigned in commit order and only grow, so a reader that remembers the
    last position it handled can continue after it and will never miss an event.
    """

    __slots__ = ("envelope", "position", "recorded_at")
    position: int
    recorded_at: datetime
    envelope: SerializedEventEnvelop[EventT_co]


def read_events(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    aggregate_id: str,
    start_from: int,
) -> ReadResult[list[EventEnvelop[EventT]]]:
    """The events of ``aggregate_id`` with a sequence greater than ``start_from``."""
    rows = connection.execute(_SELECT_EVENTS, (aggregate_id, start_from)).fetchall()
    return _decode_events(codec, path, rows)


def read_snapshot(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    aggregate_id: str,
) -> ReadResult[Snapshot[EntityT] | None]:
    """The latest snapshot of ``aggregate_id``, or ``None`` (also when it is unreadable)."""
    row = connection.execute(_SELECT_SNAPSHOT, (aggregate_id,)).fetchone()
    return Ok(None if row is None else _decode_snapshot(codec, path, aggregate_id, row))


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
    row = connection.execute(_SELECT_SNAPSHOT, (aggregate_id,)).fetchone()
    snapshot = None if row is None else _decode_snapshot(codec, path, aggregate_id, row)
    start = 0 if snapshot is None else snapshot.sequence
    rows = connection.execute(_SELECT_EVENTS, (aggregate_id, start)).fetchall()
    return Ok((snapshot, _decode_events(codec, path, rows)))


def read_log(
    connection: sqlite3.Connection,
    codec: Codec[EventT, EntityT],
    path: str,
    start_from: int,
    limit: int,
) -> ReadResult[list[LogEntry[EventT]]]:
    """Up to ``limit`` events of the codec's aggregate type after position ``start_from``."""
    rows: list[tuple[int, str, str, str, int, str, int, str, str]] = connection.execute(
        _SELECT_LOG, (start_from, codec.aggregate_type, limit)
    ).fetchall()
    decoded = _decode_events(codec, path, [row[2:] for row in rows])
    if isinstance(decoded, Error):
        return decoded
    entries: list[LogEntry[EventT]] = []
    # The events of one commit share their recording time: parse each text once.
    last_text, recorded_at = "", datetime.min
    for row, envelope in zip(rows, decoded.value, strict=True):
        try:
            if row[1] != last_text:
                last_text, recorded_at = row[1], datetime.fromisoformat(row[1])
        except (TypeError, ValueError) as exc:
            return Error(
                EventStoreError(
                    f"cannot read the recording time {row[1]!r} of the event at position "
                    f"{row[0]} in {path!r}: {exc}"
                )
            )
        assert isinstance(envelope, SerializedEventEnvelop)
        entries.append(LogEntry(row[0], recorded_at, envelope))
    return Ok(entries)


def _decode_events(
    codec: Codec[EventT, EntityT], path: str, rows: list[_EventRow]
) -> ReadResult[list[EventEnvelop[EventT]]]:
    decode = codec.decode_event
    envelopes: list[EventEnvelop[EventT]] = []
    append = envelopes.append
    for row in rows:
        aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata = row
        try:
            event = decode(event_type, event_version, payload)
            decoded_metadata = _decode_metadata(metadata)
        except Exception as exc:
            # Any failure, not only CodecError: a user's codec may raise anything, and
            # one unreadable aggregate must not take the store down.
            return Error(
                EventStoreError(
                    f"cannot read event {event_type!r} version {event_version} of aggregate "
                    f"{aggregate_id!r} ({aggregate_type}) at sequence {sequence} in "
                    f"{path!r}: {exc}"
                )
            )
        append(
            SerializedEventEnvelop(
                aggregate_id,
                sequence,
                event,
                decoded_metadata,
                event_type,
                str(event_version),
                aggregate_type,
            )
        )
    return Ok(envelopes)


def _decode_metadata(text: str) -> Metadata:
    if text == "[]":
        return []
    pairs = json.loads(text)
    if not isinstance(pairs, list):
        raise ValueError(f"metadata is not a list of pairs: {text!r}")
    metadata: Metadata = []
    for pair in pairs:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            raise ValueError(f"metadata is not a list of string pairs: {text!r}")
        metadata.append((pair[0], pair[1]))
    return metadata


def _decode_snapshot(
    codec: Codec[EventT, EntityT], path: str, aggregate_id: str, row: _SnapshotRow
) -> Snapshot[EntityT] | None:
    sequence, entity_type, entity_version, payload, taken_at = row
    try:
        entity = codec.decode_entity(entity_type, entity_version, payload)
        timestamp = datetime.fromisoformat(taken_at)
    except Exception as exc:
        logger.warning(
            "ignoring the snapshot of aggregate %r at sequence %s in %r (entity %r version %s):"
            " %s; replaying its events instead",
            aggregate_id,
            sequence,
            path,
            entity_type,
            entity_version,
            exc,
        )
        return None
    return Snapshot(aggregate_id, entity, sequence, timestamp)
