"""``trio-eventsourcing demo``: the bank's workload on the SQLite store, with a summary.

The workload itself (accounts and transfers, two aggregate types of one database, the
ledger projection joining them, random operations, concurrent clients, the model) is
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
from ..examples.demo import ACCOUNT_TYPE, TRANSFER_TYPE, DemoReport, run_bank
from ..examples.transfers import TransferStatus
from .errors import USAGE, CliError, one_line, store_errors
from .output import key_values
from .progress import ProgressBar, per_second
from .signals import (
    Interrupted,
    StopSignals,
    cancel_on_stop_signal,
    exit_at_once,
    taking_stop_signals,
)

SNAPSHOT_EVERY = 10
"""The demo snapshots an account every this many events."""
DEMO_TYPES = (ACCOUNT_TYPE, TRANSFER_TYPE)
"""The aggregate types the demo stores: a file holding others is another application's."""

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
    """Run on a store that also holds aggregates of types other than the demo's two."""


@final
@dataclass(frozen=True, slots=True)
class _FileCounts:
    events: int
    snapshots: int
    by_type: dict[str, int]
    """Events per aggregate type."""


def run_demo(options: DemoOptions, out: TextIO, err: TextIO, prog: str) -> int:
    """Run the demo, print its summary on ``out``; return 0 (a check that fails raises).

    ``prog`` names the program in the line printed when a second signal ends the process
    at once, without returning.

    Raises:
        CliError: The file is not a store, the run failed, or a balance, a transfer or
            the ledger differs from the model (status 1).
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
    before = _FileCounts(0, 0, {}) if new else _counts(path)
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
    found = [*report.mismatches, *report.transfer_mismatches, *report.ledger_mismatches]
    if found:
        for line in found[:_SHOWN_MISMATCHES]:
            print(f"  {line}", file=err)
        more = len(found) - _SHOWN_MISMATCHES
        if more > 0:
            print(f"  ... and {more} more", file=err)
        raise CliError("; ".join(_failed_checks(report)))
    return 0


async def _run(
    options: DemoOptions, seed: int, bar: ProgressBar, stop: StopSignals
) -> tuple[DemoReport, sqlite_store.SqliteStoreStatistics] | None:
    """The run, or ``None`` if a stop signal cancelled it (and it stopped in order)."""
    database, database_spec = sqlite_store.supervised_database(options.db)
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
                    database,
                    database_spec,
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
    # The bar ends on the summary's figures: the commands the report counts, over the
    # time it measured them in (from the clients' start, not the store's).
    bar.close(report.commands, seconds=report.seconds)
    return report, database.statistics()


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

    Such a store belongs to another application: the demo would add its accounts and
    transfers to it. It only reads; the connection is read-write, as in :func:`_counts`,
    so that closing it leaves no -wal or -shm file behind a file that is refused.

    Raises:
        CliError: The store holds other aggregate types (a usage error).
    """
    with store_errors():
        inspector = SqliteInspector.open(path, write=True)
        try:
            rows = inspector.rows(
                "SELECT DISTINCT aggregate_type FROM events WHERE aggregate_type NOT IN "
                f"({', '.join('?' for _ in DEMO_TYPES)}) LIMIT {_SHOWN_TYPES + 1}",
                DEMO_TYPES,
            )
        finally:
            inspector.close()
    if rows:
        others = ", ".join(repr(str(row[0])) for row in rows[:_SHOWN_TYPES])
        more = ", ..." if len(rows) > _SHOWN_TYPES else ""
        ours = " and ".join(repr(name) for name in DEMO_TYPES)
        raise CliError(
            f"{path!r} holds aggregates of other types than {ours} ({others}{more}): it "
            "looks like another application's store, which the demo would write its "
            "accounts and transfers into; pass --allow-other-aggregates to run it there "
            "anyway",
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
    by_type = {count.aggregate_type: count.events for count in stats.aggregate_types}
    return _FileCounts(stats.events, stats.snapshots, by_type)


def _summary(
    out: TextIO,
    options: DemoOptions,
    seed: int,
    report: DemoReport,
    statistics: sqlite_store.SqliteStoreStatistics,
    before: _FileCounts,
    after: _FileCounts,
) -> None:
    already = report.accounts - report.opened
    per_commit = statistics.transactions / max(statistics.commits, 1)
    cash = report.commands - report.transfers
    sent = sum(report.sent.values())
    ledger = report.ledger
    final = report.final
    if final.seen is not None and final.seen.position == final.position:
        seen = f"the ledger had it on return (balance {final.seen.balance:,})"
    else:
        seen = "the ledger did NOT have it on return"
    print(f"bank demo on {options.db} (SQLite: accounts and transfers, one file)", file=out)
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
                f"({per_second(report.commands, report.seconds)}): {cash:,} deposits and "
                f"withdrawals, {report.transfers:,} transfers",
            ),
            (
                "sent",
                f"{sent:,} commands ({per_second(sent, report.seconds)}): "
                f"{_per_type(report.sent)} "
                "(a transfer takes 3 or 4)",
            ),
            (
                "refused",
                f"{report.rejected:,} withdrawals, {report.failed:,} transfers failed "
                "(insufficient funds)",
            ),
            (
                "events",
                f"{after.events - before.events:,} new, {after.events:,} in the file: "
                f"{_per_type(after.by_type)}",
            ),
            (
                "snapshots",
                f"{after.snapshots:,} stored (each account's latest; "
                f"one every {SNAPSHOT_EVERY} events)",
            ),
            (
                "commits",
                f"{statistics.commits:,} for {statistics.transactions:,} writes "
                f"({per_commit:.1f} per commit, both types together)",
            ),
            (
                "ledger",
                f"{ledger.state.value} at position {ledger.position:,} (lag {ledger.lag:,}): "
                f"{report.ledger_accounts:,} accounts; transfers "
                f"{_by_status(report.ledger_transfers)}",
            ),
            (
                "read your write",
                f"deposit of {final.amount:,} to {final.account_id} at position "
                f"{final.position:,}: {seen}",
            ),
            ("balances", _check(report.mismatches, report.accounts)),
            ("transfers", _transfers_check(report)),
            ("ledger check", _ledger_check(report.ledger_mismatches)),
            ("seed", f"{seed} (--seed {seed} repeats these commands)"),
        ],
    )


def _per_type(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items())) or "none"


def _by_status(counts: dict[TransferStatus, int]) -> str:
    # Settled first, then those a stopped run left pending (settled at the next start).
    order = (TransferStatus.COMPLETED, TransferStatus.FAILED, TransferStatus.REQUESTED)
    return ", ".join(f"{counts.get(status, 0):,} {status.value}" for status in order)


def _check(mismatches: list[str], total: int) -> str:
    if mismatches:
        return f"{len(mismatches):,} of {total:,} DIFFER from the model"
    return f"all {total:,} match the model"


def _ledger_check(mismatches: list[str]) -> str:
    if mismatches:
        return f"DIFFERS from the model ({_rows(len(mismatches))})"
    return "matches the model"


def _rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def _transfers_check(report: DemoReport) -> str:
    checked = _check(report.transfer_mismatches, report.transfers + report.resumed)
    if report.resumed:
        return f"{checked} ({report.resumed:,} left pending by a stopped run, settled first)"
    return checked


def _failed_checks(report: DemoReport) -> list[str]:
    checks = []
    if report.mismatches:
        checks.append(
            f"{len(report.mismatches)} of {report.accounts} balances differ from the model"
        )
    if report.transfer_mismatches:
        checked = report.transfers + report.resumed
        checks.append(
            f"{len(report.transfer_mismatches)} of {checked} transfers differ from the model"
        )
    if report.ledger_mismatches:
        checks.append(
            f"the ledger differs from the model in {_rows(len(report.ledger_mismatches))}"
        )
    return checks


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
