"""Rows of a store's tables, as the inspection shows them: the same for SQLite and PostgreSQL.

Both readers (``sqlite.inspector``, ``postgres.inspector``) run the same queries on tables
of the same shape; only how a table is named, how a parameter is marked and how a time comes
back differ. What differs is passed in: the table names, and how to show ``recorded_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from .projections import Database, projections
from .records import AggregateSummary, AggregateTypeCount, StoredEvent, StoreStats, TypeCount

EVENT_COLUMNS = (
    "position, recorded_at, aggregate_type, aggregate_id, sequence, event_type,"
    " event_version, metadata, payload"
)
"""The columns :func:`stored_event` reads first, in its order (see :func:`event_columns`)."""

TRACE_COLUMNS = ("correlation_id", "causation_id")
"""The columns of the commands' trace, which stores of older schema versions lack."""


def event_columns(traced: bool) -> str:
    """What :func:`stored_event` reads: :data:`EVENT_COLUMNS`, then the trace.

    The trace's columns if the table has them (``traced``), else empty texts.
    """
    trace = ", ".join(TRACE_COLUMNS) if traced else "'', ''"
    return f"{EVENT_COLUMNS}, {trace}"


def stored_event(row: tuple[object, ...], time: Callable[[object], str]) -> StoredEvent:
    """One row of :func:`event_columns`, with ``recorded_at`` shown by ``time``."""
    (
        position,
        recorded_at,
        kind,
        aggregate_id,
        sequence,
        name,
        version,
        metadata,
        payload,
        correlation_id,
        causation_id,
    ) = row
    return StoredEvent(
        position=to_int(position),
        recorded_at=time(recorded_at),
        aggregate_type=str(kind),
        aggregate_id=str(aggregate_id),
        sequence=to_int(sequence),
        event_type=str(name),
        event_version=to_int(version),
        metadata=str(metadata),
        payload=str(payload),
        correlation_id=str(correlation_id),
        causation_id=str(causation_id),
    )


def aggregate_summaries(rows: Sequence[tuple[object, ...]]) -> list[AggregateSummary]:
    """Rows of (id, type, events, last sequence, snapshot sequence or ``None``)."""
    return [
        AggregateSummary(
            str(row[0]),
            str(row[1]),
            to_int(row[2]),
            to_int(row[3]),
            None if row[4] is None else to_int(row[4]),
        )
        for row in rows
    ]


def store_stats(
    db: Database,
    *,
    store: str,
    snapshots_table: str,
    schema_version: object,
    events: object,
    last_position: object,
    time: Callable[[object], str],
) -> StoreStats:
    """The counts that are read the same way in every store, with those given.

    Args:
        db: The store's connection; its ``events_table`` is the events table.
        store: What the store is, for :attr:`StoreStats.store`.
        snapshots_table: The snapshots table, quoted and qualified.
        schema_version: The store's schema version, as read.
        events: How many events the store holds, as read.
        last_position: The log's last position, as read.
        time: How to show a ``recorded_at`` value.
    """
    events_table = db.events_table
    first = db.rows(f"SELECT recorded_at FROM {events_table} ORDER BY position LIMIT 1")
    last = db.rows(f"SELECT recorded_at FROM {events_table} ORDER BY position DESC LIMIT 1")
    aggregate_types = tuple(
        AggregateTypeCount(str(kind), to_int(aggregates), to_int(count))
        for kind, aggregates, count in db.rows(
            "SELECT aggregate_type, count(DISTINCT aggregate_id), count(*)"
            f" FROM {events_table} GROUP BY aggregate_type ORDER BY aggregate_type"
        )
    )
    event_types = tuple(
        TypeCount(str(kind), str(name), to_int(version), to_int(count))
        for kind, name, version, count in db.rows(
            f"SELECT aggregate_type, event_type, event_version, count(*) FROM {events_table}"
            " GROUP BY aggregate_type, event_type, event_version ORDER BY 1, 2, 3"
        )
    )
    ((snapshots,),) = db.rows(f"SELECT count(*) FROM {snapshots_table}")
    return StoreStats(
        store=store,
        schema_version=to_int(schema_version),
        events=to_int(events),
        aggregates=sum(t.aggregates for t in aggregate_types),
        snapshots=to_int(snapshots),
        last_position=to_int(last_position),
        first_recorded=time(first[0][0]) if first else None,
        last_recorded=time(last[0][0]) if last else None,
        aggregate_types=aggregate_types,
        event_types=event_types,
        projections=projections(db),
    )


def quote(identifier: str) -> str:
    """``identifier`` as an SQL quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def to_int(value: object) -> int:
    """An integer column's value (a file edited by hand could hold anything else)."""
    return value if isinstance(value, int) else int(str(value))


def utc_text(value: object) -> str:
    """A stored time as ISO 8601 text in UTC.

    PostgreSQL returns a ``timestamptz`` in the session's time zone, as a ``datetime``:
    it is shown in UTC, as SQLite stores its times (as text, shown as they are).
    """
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def epoch_text(value: object) -> str:
    """A time stored as seconds since the Unix epoch, as ISO 8601 text in UTC.

    To the millisecond, as SQLite stores its own times. A value no date can show (a
    file edited by hand) is shown as it is rather than failing the command.
    """
    try:
        when = datetime.fromtimestamp(float(str(value)), timezone.utc)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return when.isoformat(timespec="milliseconds")
