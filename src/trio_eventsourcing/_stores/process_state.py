"""A process manager's stored state, as both durable stores keep it in four tables.

A process manager (``trio_eventsourcing.process_managers``) keeps, per manager and scope:
its position in the log; its live instances, each with its encoded state and its
correlation id; its outbox, the commands decided and not yet answered, in the order they
were decided; and its pending timers, each with its due time in seconds since the Unix
epoch and the key of the decision that set it. Each step of the manager is saved in one
transaction: the position moves by compare-and-set, so a save based on a stale view
changes nothing (``ProcessMoved``), and a save retried after an unknown outcome whose
first try committed is recognised and changes nothing either. Each store gives its own
statement texts (``?`` or ``%s``) and runs these functions inside a transaction it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from typing_extensions import final


class _Cursor(Protocol):
    # Rows are tuples of the backend's values, read column by column below.
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...  # noqa: ANN401


Execute = Callable[[str, Sequence[Any]], _Cursor]
"""A connection's ``execute``: ``sqlite3.Connection.execute`` or psycopg's."""

ExecuteMany = Callable[[str, Sequence[Sequence[Any]]], object]
"""Run one statement for each of many rows: ``sqlite3.Connection.executemany``, or a
psycopg cursor's ``executemany`` (one round trip to the server for all the rows)."""


_RUNNER_PREFIX = "process manager "


def runner_name(name: str) -> str:
    """The name process manager ``name``'s runner holds (``LogSource.hold``) while it runs.

    Apart from projection names, which are held by the same means.
    """
    return _RUNNER_PREFIX + name


def describe_runner(held: str) -> str:
    """What holds ``held``, for messages.

    Example::

        assert describe_runner(runner_name("transfers")) == "process manager 'transfers'"
    """
    if held.startswith(_RUNNER_PREFIX):
        return f"process manager {held.removeprefix(_RUNNER_PREFIX)!r}"
    return f"projection {held!r}"


class ProcessStatements(NamedTuple):
    """A backend's statements for the process managers' tables.

    Every statement's first two parameters are the scope and the manager's name. Then:
    ``create_position`` position; ``move_position`` new position, scope, name, expected
    position (the scope and name come after the new position there); ``upsert_instance``
    instance, state type, state version, state data, correlation id;
    ``delete_instance`` instance; ``insert_command`` sequence, instance, target,
    aggregate id, command type, command version, command data, key, correlation id,
    causation id; ``delete_command`` sequence; ``upsert_timer`` instance, timer, due,
    set by; ``delete_timer`` instance, timer. The ``load_*`` statements take the scope
    and name alone, and ``delete_*_all`` too.
    """

    load_position: str
    create_position: str
    move_position: str
    load_instances: str
    upsert_instance: str
    delete_instance: str
    load_outbox: str
    insert_command: str
    delete_command: str
    load_timers: str
    upsert_timer: str
    delete_timer: str


@final
class InstanceRow(NamedTuple):
    """A live instance: its id, its encoded state and the correlation id of its commands."""

    instance: str
    type_name: str
    version: int
    data: str
    correlation_id: str


@final
class CommandRow(NamedTuple):
    """A command in the outbox, encoded, with where it goes and the ids it is sent with."""

    sequence: int
    instance: str
    target: str
    aggregate_id: str
    type_name: str
    version: int
    data: str
    key: str
    correlation_id: str
    causation_id: str


@final
class TimerRow(NamedTuple):
    """A pending timer: due at ``due`` seconds since the Unix epoch, set by decision ``set_by``."""

    instance: str
    timer: str
    due: float
    set_by: str


@final
@dataclass(frozen=True, slots=True)
class StoredProcess:
    """Everything stored of one process manager: where it is, and what it has pending."""

    position: int
    instances: list[InstanceRow]
    outbox: list[CommandRow]
    timers: list[TimerRow]


@final
@dataclass(slots=True)
class ProcessChanges:
    """One step of a process manager, saved whole or not at all.

    ``expected`` is the stored position this step follows (``None``: nothing is stored
    yet), ``position`` the one it moves to. Instances in ``instances`` are written,
    those in ``ended`` deleted; commands in ``commands`` are added to
    the outbox and those numbered in ``answered`` removed; timers in ``timers`` are set
    (or moved) and those in ``cancelled`` deleted.
    """

    expected: int | None
    position: int
    instances: list[InstanceRow] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    commands: list[CommandRow] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    timers: list[TimerRow] = field(default_factory=list)
    cancelled: list[tuple[str, str]] = field(default_factory=list)


@final
class ProcessMoved(Exception):
    """Another runner moved the stored position; the save changed nothing.

    The save found neither the position it expected nor the one it moves to.
    """


def load_process(
    execute: Execute, statements: ProcessStatements, scope: str, name: str
) -> StoredProcess | None:
    """Read process manager ``name``'s stored state, or ``None`` if it has none yet."""
    key = (scope, name)
    row = execute(statements.load_position, key).fetchone()
    if row is None:
        return None
    instances = [
        InstanceRow(str(i), str(t), int(v), str(d), str(c))
        for i, t, v, d, c in execute(statements.load_instances, key).fetchall()
    ]
    outbox = [
        CommandRow(int(s), str(i), str(g), str(a), str(t), int(v), str(d), str(k), str(c), str(u))
        for s, i, g, a, t, v, d, k, c, u in execute(statements.load_outbox, key).fetchall()
    ]
    timers = [
        TimerRow(str(i), str(t), float(due), str(b))
        for i, t, due, b in execute(statements.load_timers, key).fetchall()
    ]
    return StoredProcess(int(row[0]), instances, outbox, timers)


def save_process(
    execute: Execute,
    executemany: ExecuteMany,
    statements: ProcessStatements,
    scope: str,
    name: str,
    changes: ProcessChanges,
) -> bool:
    """Save one step of process manager ``name``, inside the caller's transaction.

    Returns ``False`` if the step was saved already: a retry after an unknown outcome
    finds the position it moves to. Every write is idempotent (upserts, deletes, and
    inserts that ignore a command already there), so a retried step that keeps the
    position is simply applied again. The rows of each statement go in one call.

    Raises:
        ProcessMoved: The stored position is another runner's; the caller rolls back.
    """
    key = (scope, name)
    if changes.expected is None:
        written = execute(statements.create_position, (*key, changes.position))
    else:
        # Also when the position stays: the update proves the row is still this runner's.
        written = execute(statements.move_position, (changes.position, *key, changes.expected))
    if written.rowcount != 1:
        row = execute(statements.load_position, key).fetchone()
        if row is not None and int(row[0]) == changes.position:
            return False
        raise ProcessMoved()
    # Deletes first: an instance ended and started again in one step, or a timer
    # cancelled and set again, is then written as it is now.
    for statement, rows in (
        (statements.delete_instance, [(*key, instance) for instance in changes.ended]),
        (statements.upsert_instance, [(*key, *row) for row in changes.instances]),
        (statements.delete_timer, [(*key, *cancelled) for cancelled in changes.cancelled]),
        (statements.upsert_timer, [(*key, *timer) for timer in changes.timers]),
        (statements.delete_command, [(*key, sequence) for sequence in changes.answered]),
        (statements.insert_command, [(*key, *command) for command in changes.commands]),
    ):
        if rows:
            executemany(statement, rows)
    return True
