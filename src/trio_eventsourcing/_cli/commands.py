"""The inspection commands: query the store, then print a table or JSON Lines.

Each command opens the store with ``stores.open_store`` (which checks it), reads,
and prints; nothing here runs Trio, so the blocking driver calls are plain calls. Only
``log --follow``, which runs until stopped, takes SIGINT and SIGTERM (``_cli.signals``)
to stop between batches; the other commands are short, and only read, or write in one
transaction: Python's ``KeyboardInterrupt`` stops them well enough.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import TextIO

from .._stores.inspection.records import Inspector, StoredEvent, StoreStats
from .demo import DemoOptions, run_demo
from .errors import USAGE, CliError
from .output import (
    Column,
    JsonValue,
    Table,
    compact_json,
    json_line,
    key_values,
    stored_json,
)
from .signals import taking_stop_signals
from .stores import open_store

LOG_BATCH = 1_000
"""Events read per query of ``log``: a bounded amount of memory, however long the log."""

AGGREGATES_BATCH = 1_000

_PAYLOAD_WIDTH = 80
_METADATA_WIDTH = 40
_TRACE_WIDTH = 24

sleep: Callable[[float], None] = time.sleep
"""How ``log --follow`` waits between polls (tests put their own here)."""


def run(args: argparse.Namespace, out: TextIO, err: TextIO, prog: str) -> int:
    """Run the command ``args`` names; return its exit status.

    ``prog`` is the program's name, for a line the demo prints when it ends the process
    at once (on a second Ctrl-C).

    Raises:
        CliError: The command failed (the caller prints the message).
        Interrupted: SIGINT or SIGTERM stopped the demo.
    """
    command: str = args.command
    if command == "demo":
        options = DemoOptions(
            args.db,
            args.accounts,
            args.commands,
            args.clients,
            args.seed,
            allow_other_aggregates=args.allow_other_aggregates,
        )
        return run_demo(options, out, err, prog)
    with open_store(
        args.db,
        schema=args.schema,
        table_prefix=args.table_prefix,
        write=command == "projections",
    ) as store:
        if command == "aggregates":
            return aggregates(store, out, as_json=args.json)
        if command == "events":
            return events(store, out, args.aggregate_id, args.aggregate_type, as_json=args.json)
        if command == "log":
            return log(
                store,
                out,
                err,
                after=args.after,
                limit=args.limit,
                aggregate_type=args.aggregate_type,
                follow=args.follow,
                poll_interval=args.poll_interval,
                max_polls=args.max_polls,
                as_json=args.json,
            )
        if command == "stats":
            return stats(store, out, as_json=args.json)
        if command == "projections" and args.action == "reset":
            return reset_projection(store, out, args.name, args.aggregate_type, as_json=args.json)
    raise AssertionError(f"unhandled command {command!r}")  # the parser allows no other


def aggregates(store: Inspector, out: TextIO, *, as_json: bool) -> int:
    """``aggregates DB``: every aggregate with its type, event count and last sequence."""
    table = Table(
        out,
        [
            Column("aggregate id"),
            Column("type"),
            Column("events", ">"),
            Column("last sequence", ">"),
            Column("snapshot at", ">"),
        ],
    )
    for batch in store.aggregates(AGGREGATES_BATCH):
        if as_json:
            for a in batch:
                json_line(
                    out,
                    {
                        "aggregate_id": a.aggregate_id,
                        "aggregate_type": a.aggregate_type,
                        "events": a.events,
                        "last_sequence": a.last_sequence,
                        "snapshot_sequence": a.snapshot_sequence,
                    },
                )
        else:
            table.write(
                [
                    [
                        a.aggregate_id,
                        a.aggregate_type,
                        str(a.events),
                        str(a.last_sequence),
                        "" if a.snapshot_sequence is None else str(a.snapshot_sequence),
                    ]
                    for a in batch
                ]
            )
    if not as_json:
        table.finish("no aggregates")
    return 0


def events(
    store: Inspector,
    out: TextIO,
    aggregate_id: str,
    aggregate_type: str | None,
    *,
    as_json: bool,
) -> int:
    """``events DB AGGREGATE_ID [--type TYPE]``: one aggregate's events in sequence order.

    An aggregate is its type and id: an id found in several types needs ``--type``.

    Raises:
        CliError: The aggregate has no events, or its id is in several types and no
            ``--type`` says which.
    """
    found = store.events(aggregate_id, aggregate_type)
    if not found:
        of_type = "" if aggregate_type is None else f" of type {aggregate_type!r}"
        raise CliError(f"{store.description} has no events for aggregate {aggregate_id!r}{of_type}")
    types = sorted({event.aggregate_type for event in found})
    if len(types) > 1:
        raise CliError(
            f"aggregate id {aggregate_id!r} is in several aggregate types of "
            f"{store.description} ({', '.join(types)}): choose one with --type",
            USAGE,
        )
    if as_json:
        for event in found:
            json_line(out, _event_record(event))
        return 0
    table = Table(
        out,
        [
            Column("sequence", ">"),
            Column("position", ">"),
            Column("recorded at"),
            Column("type"),
            Column("version", ">"),
            Column("correlation", max_width=_TRACE_WIDTH),
            Column("causation", max_width=_TRACE_WIDTH),
            Column("metadata", max_width=_METADATA_WIDTH),
            Column("payload", max_width=_PAYLOAD_WIDTH),
        ],
    )
    table.write(
        [
            [
                str(e.sequence),
                str(e.position),
                e.recorded_at,
                e.event_type,
                str(e.event_version),
                e.correlation_id,
                e.causation_id,
                compact_json(e.metadata),
                compact_json(e.payload),
            ]
            for e in found
        ]
    )
    table.finish("no events")
    return 0


def log(
    store: Inspector,
    out: TextIO,
    err: TextIO,
    *,
    after: int,
    limit: int | None,
    aggregate_type: str | None = None,
    follow: bool,
    poll_interval: float,
    max_polls: int | None,
    as_json: bool,
) -> int:
    """``log DB``: the global log after a position, in position order; maybe follow it.

    With ``aggregate_type``, only the events of that aggregate type.

    Catching up never waits: a full batch is followed at once by the next query. Once the
    log is read to its end, ``--follow`` polls every ``poll_interval`` seconds. Before
    each wait it checks that the store is still the one it opened (an SQLite file may be
    deleted or replaced), and fails if not.

    ``--follow`` ends with status 0 on Ctrl-C (SIGINT) or SIGTERM, since stopping is the
    way to leave it: the batch being printed is printed whole and flushed, and no query
    starts after the signal; a wait ends at once. A second signal stops at once.

    Raises:
        CliError: The store went away while following it, or a query failed.
    """
    table = Table(
        out,
        [
            Column("position", ">"),
            Column("recorded at"),
            Column("aggregate type"),
            Column("aggregate id"),
            Column("sequence", ">"),
            Column("type"),
            Column("version", ">"),
            Column("payload", max_width=_PAYLOAD_WIDTH),
        ],
    )
    position = after
    printed = 0
    polls = 0
    if follow and _is_terminal(err):
        print(
            f"following the log of {store.description} after position {after} (Ctrl-C to stop)",
            file=err,
            flush=True,
        )
    signals = taking_stop_signals(_interrupt) if follow else contextlib.nullcontext(None)
    try:
        with signals as stop:
            while limit is None or printed < limit:
                if stop is not None and stop.first is not None:
                    out.flush()
                    return 0
                wanted = LOG_BATCH if limit is None else min(LOG_BATCH, limit - printed)
                batch = store.log(position, wanted, aggregate_type)
                if batch:
                    _print_log(out, table, batch, as_json=as_json)
                    position = batch[-1].position
                    printed += len(batch)
                    continue
                if not follow or (max_polls is not None and polls >= max_polls):
                    break
                # Following a file that was deleted or replaced would wait for ever, silently.
                gone = store.gone()
                if gone is not None:
                    out.flush()
                    raise CliError(f"stopped following the log: {gone}")
                polls += 1
                if stop is None:
                    sleep(poll_interval)
                else:
                    stop.sleep(poll_interval, sleep)
    except KeyboardInterrupt:
        # A second signal, or Ctrl-C where the signals could not be taken.
        if not follow:
            raise
        out.flush()
        return 0
    if not as_json and not follow:
        table.finish(f"no events after position {after}")
    return 0


def _interrupt(signum: int) -> None:
    """A second stop signal while following: read-only code may stop anywhere."""
    raise KeyboardInterrupt


def stats(store: Inspector, out: TextIO, *, as_json: bool) -> int:
    """``stats DB``: totals, counts per type, snapshots and projections."""
    result = store.stats()
    if as_json:
        json_line(out, _stats_record(result))
        return 0
    key_values(
        out,
        [
            ("store", result.store),
            ("schema version", str(result.schema_version)),
            ("events", f"{result.events:,}"),
            ("aggregates", f"{result.aggregates:,}"),
            ("snapshots", f"{result.snapshots:,}"),
            ("last position", str(result.last_position)),
            ("first event", result.first_recorded or "-"),
            ("last event", result.last_recorded or "-"),
        ],
    )
    if result.aggregate_types:
        print(file=out)
        table = Table(
            out, [Column("aggregate type"), Column("aggregates", ">"), Column("events", ">")]
        )
        table.write(
            [
                [t.aggregate_type, f"{t.aggregates:,}", f"{t.events:,}"]
                for t in result.aggregate_types
            ]
        )
        print(file=out)
        table = Table(
            out,
            [
                Column("aggregate type"),
                Column("event type"),
                Column("version", ">"),
                Column("events", ">"),
            ],
        )
        table.write(
            [
                [t.aggregate_type, t.event_type, str(t.event_version), f"{t.events:,}"]
                for t in result.event_types
            ]
        )
    if result.projections is not None:
        print(file=out)
        extra = [name for name, _ in result.projections[0].other] if result.projections else []
        typed = any(p.aggregate_type is not None for p in result.projections)
        table = Table(
            out,
            [
                Column("projection"),
                *([Column("aggregate type")] if typed else []),
                Column("checkpoint", ">"),
                Column("lag", ">"),
                Column("dead letters", ">"),
                *(Column(name.replace("_", " "), max_width=40) for name in extra),
            ],
        )
        table.write(
            [
                [
                    p.name,
                    *([_projection_scope(p.aggregate_type)] if typed else []),
                    str(p.checkpoint),
                    f"{p.lag:,}",
                    "-" if p.dead_letters is None else f"{p.dead_letters:,}",
                    *("" if value is None else str(value) for _, value in p.other),
                ]
                for p in result.projections
            ]
        )
        table.finish("no projections")
    return 0


def _projection_scope(aggregate_type: str | None) -> str:
    # A projection of several aggregate types keeps its checkpoint under an empty type.
    return "several types" if aggregate_type == "" else aggregate_type or ""


def reset_projection(
    store: Inspector, out: TextIO, name: str, aggregate_type: str | None, *, as_json: bool
) -> int:
    """``projections reset DB NAME``: the projection starts again from the log's start."""
    done = store.reset_projection(name, aggregate_type)
    if as_json:
        json_line(
            out,
            {
                "name": done.name,
                "aggregate_type": done.aggregate_type,
                "previous_checkpoint": done.previous_checkpoint,
                "checkpoint": 0,
                "reset_pending": done.reset_pending,
                "dead_letters_removed": done.dead_letters_removed,
            },
        )
        return 0
    of_type = "" if done.aggregate_type is None else f" ({_projection_scope(done.aggregate_type)})"
    print(
        f"projection {done.name!r}{of_type} reset: checkpoint {done.previous_checkpoint} -> 0, "
        f"dead letters removed: {done.dead_letters_removed}. It runs its reset hook and "
        "processes the whole log again: at once if it is running, else when it next starts.",
        file=out,
    )
    return 0


def _print_log(out: TextIO, table: Table, batch: list[StoredEvent], *, as_json: bool) -> None:
    if as_json:
        for event in batch:
            json_line(out, _event_record(event))
        out.flush()
        return
    table.write(
        [
            [
                str(e.position),
                e.recorded_at,
                e.aggregate_type,
                e.aggregate_id,
                str(e.sequence),
                e.event_type,
                str(e.event_version),
                compact_json(e.payload),
            ]
            for e in batch
        ]
    )


def _event_record(event: StoredEvent) -> dict[str, JsonValue]:
    return {
        "position": event.position,
        "recorded_at": event.recorded_at,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
        "event_type": event.event_type,
        "event_version": event.event_version,
        "metadata": stored_json(event.metadata),
        "payload": stored_json(event.payload),
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
    }


def _stats_record(result: StoreStats) -> dict[str, JsonValue]:
    return {
        "store": result.store,
        "schema_version": result.schema_version,
        "events": result.events,
        "aggregates": result.aggregates,
        "snapshots": result.snapshots,
        "last_position": result.last_position,
        "first_recorded_at": result.first_recorded,
        "last_recorded_at": result.last_recorded,
        "aggregate_types": [
            {"aggregate_type": t.aggregate_type, "aggregates": t.aggregates, "events": t.events}
            for t in result.aggregate_types
        ],
        "event_types": [
            {
                "aggregate_type": t.aggregate_type,
                "event_type": t.event_type,
                "event_version": t.event_version,
                "events": t.events,
            }
            for t in result.event_types
        ],
        "projections": None
        if result.projections is None
        else [
            {
                "name": p.name,
                "aggregate_type": p.aggregate_type,
                "checkpoint": p.checkpoint,
                "lag": p.lag,
                "dead_letters": p.dead_letters,
                # The checkpoint table's other columns, whatever this version has.
                "details": dict(p.other),
            }
            for p in result.projections
        ],
    }


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
