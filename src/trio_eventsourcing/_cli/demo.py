"""``trio-eventsourcing demo``: the bank-account workload on the SQLite store, with a summary.

The workload itself (accounts, random commands, concurrent clients, the model) is
``examples.demo.run_bank``; this module gives it an SQLite file, a progress bar and a
summary table, and decides the exit status. The file is read before and after the run by
the inspection queries (``_stores.sqlite.inspector``), outside the Trio run: no blocking SQLite
call is made on the event loop, which only the store's own threads talk to.

SIGINT (Ctrl-C) and SIGTERM stop the run in order (``_cli.signals``): the work is
cancelled, the event-sourcing system drains the commands in flight, the store closes its
file, and the command exits with 130 (SIGINT) or 143 (SIGTERM). A second signal during
that stop ends the process at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import trio
from typing_extensions import final

from .. import sqlite_store
from .._stores.sqlite.inspector import SqliteInspector, is_blank
from .._stores.sqlite.schema import special_file_kind
from ..codec import JsonCodec
from ..examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)
from ..examples.demo import DemoReport, run_bank
from .errors import USAGE, CliError, one_line, store_errors
from .output import key_values
from .progress import ProgressBar
from .signals import (
    Interrupted,
    StopSignals,
    cancel_on_stop_signal,
    exit_at_once,
    taking_stop_signals,
)

SNAPSHOT_EVERY = 10
"""The demo snapshots an account every this many events."""

STOP_WITHIN_S = 10.0
"""Seconds after Ctrl-C (or SIGTERM) before a stop still under way is given up on.

The orderly stop drains the commands in flight within the event-sourcing system's
``shutdown_timeout`` (5 s), then the store closes its file: this leaves room for both.
"""

_SHOWN_MISMATCHES = 10
_SHOWN_TYPES = 3


@final
@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The options of one demo run (checked by the argument parser)."""

    db: str
    accounts: int
    commands: int
    clients: int
    seed: int | None
    allow_other_aggregates: bool = False
    """Run on a store that also holds aggregates of types other than the bank account's."""


@final
@dataclass(frozen=True, slots=True)
class _FileCounts:
    events: int
    snapshots: int


def codec() -> JsonCodec[BankAccountEvent, BankAccount]:
    """The codec of the demo's store: the bank account's events and entity as JSON."""
    return JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[BankAccount],
        aggregate_type="bank_account",
    )


def run_demo(options: DemoOptions, out: TextIO, err: TextIO, prog: str) -> int:
    """Run the demo, print its summary on ``out``; return 0, or 1 if a balance is wrong.

    ``prog`` names the program in the line printed when a second signal ends the process
    at once, without returning.

    Raises:
        CliError: The file is not a store, or the run failed.
        Interrupted: SIGINT or SIGTERM stopped the run (the progress line is cleared
            first); the file holds what was committed before.
        KeyboardInterrupt: Ctrl-C where the demo could not take SIGINT (not the main
            thread), before or after the run.
    """
    path = options.db
    # The store would refuse a file that is not ours too, but only once its supervisor
    # starts; checking first gives the same one-line error as the inspection commands.
    # A new file, an empty one or an SQLite database with nothing in it, the store takes.
    _check_path(path)
    new = not _has_content(path) or is_blank(path)
    if not new and not options.allow_other_aggregates:
        _refuse_other_aggregates(path)
    before = _FileCounts(0, 0) if new else _counts(path)
    seed = random.SystemRandom().randrange(1_000_000) if options.seed is None else options.seed
    bar = ProgressBar(err, total=options.commands, unit="commands")

    def stop_at_once(signum: int) -> None:
        with contextlib.suppress(Exception):  # maybe inside a write to err: best effort
            bar.clear()
        exit_at_once(prog, signum, err)

    with taking_stop_signals(stop_at_once) as stop:
        try:
            with _library_records_kept_off_stderr():
                ran = trio.run(_run, options, seed, bar, stop)
        except BaseException as exc:
            bar.clear()
            if stop.first is not None:
                # Whatever the stop made of the work, the user asked for it.
                raise Interrupted(stop.first) from exc
            # Ctrl-C where SIGINT could not be taken (the main thread is someone else's)
            # reaches us inside the exception groups of the nurseries it crossed.
            if any(isinstance(leaf, KeyboardInterrupt) for leaf in _leaves(exc)):
                raise KeyboardInterrupt from None
            if not isinstance(exc, Exception):
                raise
            raise CliError(f"the demo failed on {path!r}: {_describe(exc)}") from exc
        if stop.first is not None:  # maybe just after the work was done: still a stop
            bar.clear()
            raise Interrupted(stop.first)
    assert ran is not None, "only a stop signal cancels the run"
    report, statistics = ran
    after = _counts(path)
    _summary(out, options, seed, report, statistics, before, after)
    if report.mismatches:
        for line in report.mismatches[:_SHOWN_MISMATCHES]:
            print(f"  {line}", file=err)
        more = len(report.mismatches) - _SHOWN_MISMATCHES
        if more > 0:
            print(f"  ... and {more} more", file=err)
        raise CliError(
            f"{len(report.mismatches)} of {report.accounts} balances differ from the model"
        )
    return 0


async def _run(
    options: DemoOptions, seed: int, bar: ProgressBar, stop: StopSignals
) -> tuple[DemoReport, sqlite_store.SqliteStoreStatistics] | None:
    """The run, or ``None`` if a stop signal cancelled it (and it stopped in order)."""
    store, store_spec = sqlite_store.supervised(options.db, codec())
    done = 0
    report: DemoReport | None = None

    def count() -> None:
        nonlocal done
        done += 1

    work = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        # Outside `work`: it goes on reading signals while the cancelled work stops.
        await nursery.start(cancel_on_stop_signal, stop, work, STOP_WITHIN_S)
        with work:
            async with trio.open_nursery() as running:
                # Inside `work`: no progress is shown once the stop has begun.
                running.start_soon(bar.follow, lambda: done)
                report = await run_bank(
                    store,
                    store_spec,
                    accounts=options.accounts,
                    commands=options.commands,
                    clients=options.clients,
                    seed=seed,
                    snapshot_every=SNAPSHOT_EVERY,
                    on_command=count,
                )
                running.cancel_scope.cancel()
        nursery.cancel_scope.cancel()
    if report is None:
        return None
    bar.close(done)
    return report, store.eventstore.statistics()


def _check_path(path: str) -> None:
    """Refuse, in one line, a path the store could not open or create as a file.

    Raises:
        CliError: Not a regular file (a FIFO, whose opening would wait for ever, a
            directory, ...), or a new file in a directory that does not exist.
    """
    kind = special_file_kind(path)
    if kind is not None:
        raise CliError(f"{path!r} is {kind}, not an SQLite file")
    if not os.path.lexists(path):
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise CliError(
                f"cannot create the SQLite file {path!r}: the directory "
                f"{os.path.dirname(path)!r} does not exist"
            )


def _refuse_other_aggregates(path: str) -> None:
    """Refuse, in one line, a store that holds aggregates of other types than the demo's.

    Such a store belongs to another application: the demo would add its bank accounts
    to it. It only reads; the connection is read-write, as in :func:`_counts`, so that
    closing it leaves no -wal or -shm file behind a file that is refused.

    Raises:
        CliError: The store holds other aggregate types (a usage error).
    """
    ours = codec().aggregate_type
    with store_errors():
        inspector = SqliteInspector.open(path, write=True)
        try:
            rows = inspector.rows(
                "SELECT DISTINCT aggregate_type FROM events WHERE aggregate_type <> ? "
                f"LIMIT {_SHOWN_TYPES + 1}",
                (ours,),
            )
        finally:
            inspector.close()
    if rows:
        others = ", ".join(repr(str(row[0])) for row in rows[:_SHOWN_TYPES])
        more = ", ..." if len(rows) > _SHOWN_TYPES else ""
        raise CliError(
            f"{path!r} holds aggregates of other types than {ours!r} ({others}{more}): it "
            "looks like another application's store, which the demo would write its bank "
            "accounts into; pass --allow-other-aggregates to run it there anyway",
            code=USAGE,
        )


@contextlib.contextmanager
def _library_records_kept_off_stderr() -> Iterator[None]:
    """Keep the library's log records from Python's last-resort handler (stderr).

    What goes wrong reaches the user as the command's one line of error; the records
    still reach every handler configured (``logging.basicConfig``, pytest's capture).
    """
    library = logging.getLogger("trio_eventsourcing")
    handler = logging.NullHandler()
    library.addHandler(handler)
    try:
        yield
    finally:
        library.removeHandler(handler)


def _has_content(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False  # a new file: the store creates it


def _counts(path: str) -> _FileCounts:
    # Read-write, though it only reads: the demo owns the file, and the last connection
    # to close can then checkpoint the WAL and remove it, which a read-only one cannot.
    with store_errors():
        inspector = SqliteInspector.open(path, write=True)
        try:
            stats = inspector.stats()
        finally:
            inspector.close()
    return _FileCounts(stats.events, stats.snapshots)


def _summary(
    out: TextIO,
    options: DemoOptions,
    seed: int,
    report: DemoReport,
    statistics: sqlite_store.SqliteStoreStatistics,
    before: _FileCounts,
    after: _FileCounts,
) -> None:
    seconds = max(report.seconds, 1e-9)
    already = report.accounts - report.opened
    per_commit = statistics.transactions / max(statistics.commits, 1)
    if report.mismatches:
        balances = f"{len(report.mismatches)} of {report.accounts} DIFFER from the model"
    else:
        balances = f"all {report.accounts} match the model"
    print(f"bank-account demo on {options.db} (SQLite)", file=out)
    key_values(
        out,
        [
            (
                "accounts",
                f"{report.accounts:,} ({report.opened:,} opened, {already:,} already open)",
            ),
            ("clients", f"{min(options.clients, report.accounts):,}"),
            (
                "commands",
                f"{report.commands:,} in {report.seconds:.2f} s "
                f"({report.rejected:,} refused: insufficient funds)",
            ),
            ("commands/s", f"{report.commands / seconds:,.0f}"),
            ("events", f"{after.events - before.events:,} new, {after.events:,} in the file"),
            (
                "snapshots",
                f"{after.snapshots:,} stored (each account's latest; "
                f"one every {SNAPSHOT_EVERY} events)",
            ),
            (
                "commits",
                f"{statistics.commits:,} for {statistics.transactions:,} writes "
                f"({per_commit:.1f} per commit)",
            ),
            ("balances", balances),
            ("seed", f"{seed} (--seed {seed} repeats these commands)"),
        ],
    )


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``exc``, out of every exception group around them."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple):
        for child in inner:
            if isinstance(child, BaseException):
                yield from _leaves(child)
    else:
        yield exc


def _describe(exc: BaseException) -> str:
    # The innermost cause, out of the exception groups Trio's nurseries wrap errors in.
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return one_line(f"{type(exc).__name__}: {exc}")
