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

from .._stores.inspection.records import (
    Inspector,
    ProcessManagerDetail,
    ProcessManagerInfo,
    StoredEvent,
    StoreStats,
)
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
_KEY_WIDTH = 48

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
        if command == "process-managers":
            if args.name is None:
                return process_managers(store, out, args.aggregate_type, as_json=args.json)
            return process_manager(store, out, args.name, args.aggregate_type, as_json=args.json)
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
                    *([_scope_label(p.aggregate_type)] if typed else []),
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


def _scope_label(aggregate_type: str | None) -> str:
    # A projection or process manager of several aggregate types is kept under an empty
    # type (``_core.log_source.SEVERAL_TYPES``).
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
    of_type = "" if done.aggregate_type is None else f" ({_scope_label(done.aggregate_type)})"
    print(
        f"projection {done.name!r}{of_type} reset: checkpoint {done.previous_checkpoint} -> 0, "
        f"dead letters removed: {done.dead_letters_removed}. It runs its reset hook and "
        "processes the whole log again: at once if it is running, else when it next starts.",
        file=out,
    )
    return 0


def process_managers(
    store: Inspector, out: TextIO, aggregate_type: str | None, *, as_json: bool
) -> int:
    """``process-managers DB``: every process manager, where it is and what it has pending.

    With ``aggregate_type``, only the managers of that aggregate type (empty: of several).
    A store without the process managers' tables has none: an empty list, not an error.
    """
    found = [
        info
        for info in store.process_managers()
        if aggregate_type is None or info.aggregate_type == aggregate_type
    ]
    if as_json:
        for info in found:
            json_line(out, _manager_record(info))
        return 0
    table = Table(
        out,
        [
            Column("process manager"),
            Column("aggregate type"),
            Column("position", ">"),
            Column("lag", ">"),
            Column("instances", ">"),
            Column("outbox", ">"),
            Column("timers", ">"),
            Column("next timer due"),
        ],
    )
    table.write(
        [
            [
                info.name,
                _scope_label(info.aggregate_type),
                str(info.position),
                f"{info.lag:,}",
                f"{info.instances:,}",
                f"{info.outbox:,}",
                f"{info.timers:,}",
                info.next_timer_due or "-",
            ]
            for info in found
        ]
    )
    of_type = "" if aggregate_type is None else f" of aggregate type {aggregate_type!r}"
    table.finish(f"no process managers{of_type}")
    return 0


def process_manager(
    store: Inspector, out: TextIO, name: str, aggregate_type: str | None, *, as_json: bool
) -> int:
    """``process-managers DB NAME``: one manager's instances, outbox and pending timers.

    Raises:
        CliError: No process manager ``name`` (status 1), or several of that name and no
            ``aggregate_type`` to choose (status 2).
    """
    found = store.process_manager(name, aggregate_type)
    info = found.info
    if as_json:
        json_line(out, _detail_record(found))
        return 0
    key_values(
        out,
        [
            ("process manager", info.name),
            ("aggregate type", _scope_label(info.aggregate_type)),
            ("position", str(info.position)),
            ("lag", f"{info.lag:,}"),
            ("updated at", info.updated_at),
        ],
    )
    print(f"\ninstances ({len(found.instances):,})", file=out)
    table = Table(
        out,
        [
            Column("instance"),
            Column("state type"),
            Column("version", ">"),
            Column("correlation", max_width=_TRACE_WIDTH),
            Column("state", max_width=_PAYLOAD_WIDTH),
        ],
    )
    table.write(
        [
            [
                i.instance,
                i.state_type,
                str(i.state_version),
                i.correlation_id,
                compact_json(i.state),
            ]
            for i in found.instances
        ]
    )
    table.finish("no instances")
    print(f"\noutbox ({len(found.outbox):,})", file=out)
    table = Table(
        out,
        [
            Column("sequence", ">"),
            Column("instance"),
            Column("target"),
            Column("aggregate id"),
            Column("command type"),
            Column("key", max_width=_KEY_WIDTH),
        ],
    )
    table.write(
        [
            [str(c.sequence), c.instance, c.target, c.aggregate_id, c.command_type, c.command_key]
            for c in found.outbox
        ]
    )
    table.finish("no commands waiting for an answer")
    print(f"\ntimers ({len(found.timers):,})", file=out)
    table = Table(
        out,
        [
            Column("instance"),
            Column("timer"),
            Column("due"),
            Column("set by", max_width=_KEY_WIDTH),
        ],
    )
    table.write([[t.instance, t.timer, t.due, t.set_by] for t in found.timers])
    table.finish("no pending timers")
    return 0


def _detail_record(found: ProcessManagerDetail) -> dict[str, JsonValue]:
    # The lists stand where the listing has their counts.
    record = _manager_place(found.info)
    record["instances"] = [
        {
            "instance": i.instance,
            "state_type": i.state_type,
            "state_version": i.state_version,
            "state": stored_json(i.state),
            "correlation_id": i.correlation_id,
        }
        for i in found.instances
    ]
    record["outbox"] = [
        {
            "sequence": c.sequence,
            "instance": c.instance,
            "target": c.target,
            "aggregate_id": c.aggregate_id,
            "command_type": c.command_type,
            "command_version": c.command_version,
            "command": stored_json(c.command),
            "command_key": c.command_key,
            "correlation_id": c.correlation_id,
            "causation_id": c.causation_id,
        }
        for c in found.outbox
    ]
    record["timers"] = [
        {"instance": t.instance, "timer": t.timer, "due": t.due, "set_by": t.set_by}
        for t in found.timers
    ]
    return record


def _manager_place(info: ProcessManagerInfo) -> dict[str, JsonValue]:
    return {
        "name": info.name,
        "aggregate_type": info.aggregate_type,
        "position": info.position,
        "lag": info.lag,
        "updated_at": info.updated_at,
    }


def _manager_record(info: ProcessManagerInfo) -> dict[str, JsonValue]:
    return {
        **_manager_place(info),
        "instances": info.instances,
        "outbox": info.outbox,
        "timers": info.timers,
        "next_timer_due": info.next_timer_due,
    }


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
