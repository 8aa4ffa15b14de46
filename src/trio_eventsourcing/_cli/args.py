"""The command line's arguments: one ``argparse`` parser with a subcommand per job.

``argparse`` is in the standard library, so the command line adds no dependency, and it
has all this tool needs: subcommands, ``--help`` on each, typed options and usage errors.
Its one habit we change is how it fails: instead of printing the usage and exiting, a
usage error raises :class:`~trio_eventsourcing._cli.errors.CliError` (exit status 2), so that
``__main__.main`` prints every error the same way, in one line, scrubbed of secrets.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import NoReturn

from typing_extensions import final

from .errors import USAGE, CliError

PROG = "trio-eventsourcing"

DEFAULT_DB = "bank.db"
DEFAULT_ACCOUNTS = 100
DEFAULT_COMMANDS = 10_000
DEFAULT_CLIENTS = 50
DEFAULT_POLL_INTERVAL_S = 1.0

_DB_HELP = (
    "the store: the path of an SQLite file, or a PostgreSQL URL "
    "(postgresql://user:password@host:port/dbname; the password is never printed)"
)

_DESCRIPTION = """\
Run the bank demo (accounts and transfers), and inspect any trio-eventsourcing store (an
SQLite file or a PostgreSQL database) without your domain types: payloads are shown as
stored JSON.
"""

_EPILOG = """\
examples:
  {prog} demo                      run the demo on ./bank.db (rerun to continue)
  {prog} aggregates bank.db        list the aggregates
  {prog} events bank.db account-7  show one aggregate's events
  {prog} log bank.db --follow      print the global log, then wait for more
  {prog} stats postgresql://app@db/bank
  {prog} process-managers bank.db transfers

Every inspection command takes --json for JSON Lines. Exit status: 0 success, 1 error
(or the demo found a wrong balance), 2 usage error, 130 interrupted.
"""


@final
class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors raise :class:`CliError` (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise the usage error instead of printing the usage and exiting."""
        raise CliError(f"{message} (see '{self.prog} --help')", code=USAGE)

    def parse_command_line(self, arguments: list[str]) -> argparse.Namespace:
        """Parse ``arguments``; an argument no command knows points to its command's help.

        ``parse_args`` finds unknown arguments only once the command has parsed what it
        knows, and would point to the top-level help.
        """
        parsed, unknown = self.parse_known_args(arguments)
        if unknown:
            command = [getattr(parsed, "command", None), getattr(parsed, "action", None)]
            prog = " ".join([self.prog, *(part for part in command if part)])
            raise CliError(
                f"unrecognized arguments: {' '.join(unknown)} (see '{prog} --help')",
                code=USAGE,
            )
        return parsed


MAX_POSITION = 2**63 - 1
"""The largest position (and count) a store can hold: a signed 64-bit integer."""
MAX_ACCOUNTS = 100_000
"""The demo keeps a model balance per account and opens each one with a command."""
MAX_COMMANDS = 100_000_000
"""Drawn one at a time; the model keeps one status per transfer (a transfer is about one
command in five). At thousands a second, several hours."""
MAX_CLIENTS = 10_000
"""One task each; more than the accounts is no use anyway (each account has one client)."""
MAX_POLL_INTERVAL_S = 86_400.0
"""A day: a longer wait between polls is a mistake, not a choice."""

_INTEGER = re.compile(r"\s*[+-]?\d[\d_]*\s*")


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An ``argparse`` type: an integer from ``low`` to ``high``, both included.

    The message of a value out of range names the range, and argparse puts the option's
    name before it: ``argument --from: must be from 0 to 9223372036854775807, got ...``.
    """

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            if _INTEGER.fullmatch(text):
                # Too many digits for int() even to read: out of any range.
                raise argparse.ArgumentTypeError(_out_of_range(low, high, text)) from None
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(_out_of_range(low, high, text))
        return value

    parse.__name__ = f"integer from {low} to {high}"
    return parse


def _out_of_range(low: int, high: int, text: str) -> str:
    shown = text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"
    if low == 1:
        return f"must be greater than zero and at most {high}, got {shown}"
    return f"must be from {low} to {high}, got {shown}"


def seconds_between(low_exclusive: float, high: float) -> Callable[[str], float]:
    """An ``argparse`` type: a finite number of seconds above ``low_exclusive``, up to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not (math.isfinite(value) and low_exclusive < value <= high):
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds greater than {low_exclusive:g} and at most "
                f"{high:g}, got {text}"
            )
        return value

    parse.__name__ = "number of seconds"
    return parse


positive_int = int_between(1, MAX_POSITION)
"""An ``argparse`` type: an integer from 1 to the largest a store can count."""

non_negative_int = int_between(0, MAX_POSITION)
"""An ``argparse`` type: an integer from 0 to the largest a store can count."""

poll_seconds = seconds_between(0.0, MAX_POLL_INTERVAL_S)
"""An ``argparse`` type: a wait between polls, more than nothing and at most a day."""


def build_parser(prog: str = PROG, version: str = "unknown") -> Parser:
    """The parser of the whole command line, every subcommand included."""
    parser = Parser(
        prog=prog,
        description=_DESCRIPTION,
        epilog=_EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the examples keep their lines
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run the bank demo (accounts and transfers) on an SQLite file",
        description=(
            "Run the bank example on the embedded SQLite store, two aggregate types in one "
            "file: open ACCOUNTS accounts, carry out COMMANDS random deposits, withdrawals "
            "and transfers between accounts from CLIENTS concurrent clients, with a ledger "
            "projection joining accounts and transfers; then check every balance, transfer "
            "and ledger row against a model the demo keeps itself. Rerunning continues on "
            "the same file: accounts already open keep their balances. A progress bar "
            "shows on stderr when it is a terminal; the summary goes to stdout. Exits 1 if "
            "anything differs from the model."
        ),
    )
    demo.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help="the SQLite file (default: %(default)s)"
    )
    demo.add_argument(
        "--accounts",
        type=int_between(1, MAX_ACCOUNTS),
        default=DEFAULT_ACCOUNTS,
        metavar="N",
        help=f"accounts to use, 1 to {MAX_ACCOUNTS:,} (default: %(default)s)",
    )
    demo.add_argument(
        "--commands",
        type=int_between(1, MAX_COMMANDS),
        default=DEFAULT_COMMANDS,
        metavar="N",
        help=(
            f"deposits, withdrawals and transfers to carry out, 1 to {MAX_COMMANDS:,} "
            "(default: %(default)s)"
        ),
    )
    demo.add_argument(
        "--clients",
        type=int_between(1, MAX_CLIENTS),
        default=DEFAULT_CLIENTS,
        metavar="N",
        help=f"concurrent clients sending them, 1 to {MAX_CLIENTS:,} (default: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="seed of the random commands, to repeat a run (default: a new one, printed)",
    )
    demo.add_argument(
        "--allow-other-aggregates",
        action="store_true",
        help=(
            "run on a store that also holds aggregates of other types (by default the demo "
            "refuses one: it is probably another application's)"
        ),
    )

    # What every inspection command takes: the store, where its tables are, --json.
    inspection = Parser(add_help=False)
    inspection.add_argument("db", metavar="DB", help=_DB_HELP)
    inspection.add_argument(
        "--json", action="store_true", help="print JSON Lines, one object per line"
    )
    postgres = inspection.add_argument_group("PostgreSQL stores")
    postgres.add_argument(
        "--schema",
        default=None,
        metavar="NAME",
        help="the schema of the store's tables (default: public)",
    )
    postgres.add_argument(
        "--table-prefix",
        default=None,
        metavar="PREFIX",
        help="the prefix of the store's table names (default: trio_es_)",
    )

    commands.add_parser(
        "aggregates",
        parents=[inspection],
        help="list the aggregates of a store",
        description=(
            "List every aggregate of the store, by id: its type, its number of events, its "
            "last sequence and the sequence of its latest snapshot."
        ),
    )

    events = commands.add_parser(
        "events",
        parents=[inspection],
        help="show the events of one aggregate",
        description=(
            "Show the events of one aggregate in sequence order: sequence, position in the "
            "global log, time, event type and version, the correlation and causation ids of "
            "the command that stored it, metadata and payload (stored JSON). "
            "Exits 1 if the aggregate has no events."
        ),
    )
    events.add_argument("aggregate_id", metavar="AGGREGATE_ID", help="the aggregate's id")
    events.add_argument(
        "--type",
        dest="aggregate_type",
        default=None,
        metavar="TYPE",
        help="the aggregate's type, needed when its id is in several types",
    )

    log = commands.add_parser(
        "log",
        parents=[inspection],
        help="print the global log, and follow it",
        description=(
            "Print the store's events of every aggregate (or of one aggregate type, with "
            "--type) in the order they were committed, with their position in the global "
            "log. With --follow, keep waiting for new "
            "events until interrupted (Ctrl-C exits with status 0)."
        ),
    )
    log.add_argument(
        "--from",
        dest="after",
        type=non_negative_int,
        default=0,
        metavar="POS",
        help="print the events after position POS (default: 0, from the start)",
    )
    log.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="stop after N events",
    )
    log.add_argument(
        "--type",
        dest="aggregate_type",
        default=None,
        metavar="TYPE",
        help="print only the events of aggregate type TYPE",
    )
    log.add_argument(
        "--follow", "-f", action="store_true", help="keep polling for new events until stopped"
    )
    log.add_argument(
        "--poll-interval",
        type=poll_seconds,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="SECONDS",
        help=(
            "with --follow, how long to wait between polls, more than 0 and at most "
            f"{MAX_POLL_INTERVAL_S:,.0f} (default: %(default)s)"
        ),
    )
    log.add_argument(
        "--max-polls",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="with --follow, stop after waiting N times for new events (for scripts)",
    )

    commands.add_parser(
        "stats",
        parents=[inspection],
        help="show totals, counts per type, snapshots and projections",
        description=(
            "Show what the store holds: events, aggregates, snapshots, the last position, "
            "counts per aggregate type and per event type, and, if projections have run on "
            "it, each projection's checkpoint, lag (events after it) and dead letters."
        ),
    )

    managers = commands.add_parser(
        "process-managers",
        parents=[inspection],
        help="list the process managers, or show one's instances, outbox and timers",
        description=(
            "Without NAME, list the process managers kept in the store: each one's "
            "aggregate type (or several types), position, lag (events after its position; "
            "of several types, every event, so an upper bound), live instances, commands "
            "in its outbox, pending timers and when the next one is due (UTC). With NAME, "
            "show that manager's instances (their state as stored JSON), the commands in "
            "its outbox and its pending timers. Exits 1 if there is no manager NAME."
        ),
    )
    managers.add_argument(
        "name", nargs="?", default=None, metavar="NAME", help="the process manager to show"
    )
    managers.add_argument(
        "--aggregate-type",
        default=None,
        metavar="TYPE",
        help=(
            "only the process managers of aggregate type TYPE (an empty TYPE: those of "
            "several types), to choose among managers named NAME"
        ),
    )

    projections = commands.add_parser(
        "projections",
        help="manage projections (reset)",
        description="Manage the durable projections stored with the events.",
    )
    actions = projections.add_subparsers(dest="action", metavar="ACTION", required=True)
    reset = actions.add_parser(
        "reset",
        parents=[inspection],
        help="make a projection rebuild from the start of the log",
        description=(
            "Set the checkpoint of projection NAME back to the start of the log, mark a "
            "reset as pending and remove its dead letters, in one transaction. The "
            "projection then runs its reset hook (which clears its read model) and "
            "processes every event again: at once if it is running, else when it starts."
        ),
    )
    reset.add_argument("name", metavar="NAME", help="the projection's name")
    reset.add_argument(
        "--aggregate-type",
        default=None,
        metavar="TYPE",
        help="the aggregate type of the projection, if projections of several types share NAME",
    )
    return parser
