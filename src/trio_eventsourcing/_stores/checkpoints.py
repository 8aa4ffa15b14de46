"""A projection's checkpoint moved by compare-and-set, as both durable stores store it.

A checkpoint write names the checkpoint it expects to find; the statement that moves it
matches that expectation, so a write based on a stale view changes no row and is refused
(``CheckpointMoved``) instead of overwriting another runner's progress. A dead letter is
recorded with the checkpoint that moves past its event, in the same transaction. Each
store gives its own statement texts and runs this inside a transaction it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from .._core.log_source import CheckpointMoved, CheckpointWrite


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...


class CheckpointStatements(NamedTuple):
    """A backend's statements for the checkpoint table and the dead letters.

    Their parameters, in order: ``create``: aggregate type, name, position,
    reset_pending; ``move``: new position, new reset_pending, aggregate type, name,
    expected position, expected reset_pending; ``add_dead_letter``: aggregate type,
    name, position, aggregate id, sequence, event type, error, recorded at.
    """

    create: str
    move: str
    add_dead_letter: str


def compare_and_set(
    execute: Callable[[str, Sequence[Any]], _Cursor],
    statements: CheckpointStatements,
    aggregate_type: str,
    name: str,
    write: CheckpointWrite[Any],
    recorded_at: Callable[[datetime], object],
) -> CheckpointMoved | None:
    """Move projection ``name``'s checkpoint as ``write`` says, inside the caller's transaction.

    Returns ``CheckpointMoved`` (the caller rolls back) if the stored checkpoint is not
    the one ``write`` expects; else records its dead letter, if any, and returns ``None``.
    ``recorded_at`` turns the dead letter's time into what the backend stores.
    """
    new, expected = write.new, write.expected
    if expected is None:
        cursor = execute(statements.create, (aggregate_type, name, new.position, new.reset_pending))
    else:
        cursor = execute(
            statements.move,
            (
                new.position,
                new.reset_pending,
                aggregate_type,
                name,
                expected.position,
                expected.reset_pending,
            ),
        )
    if cursor.rowcount != 1:
        return CheckpointMoved()
    letter = write.dead_letter
    if letter is not None:
        execute(
            statements.add_dead_letter,
            (
                aggregate_type,
                name,
                letter.position,
                letter.aggregate_id,
                letter.sequence,
                letter.event_type,
                letter.error,
                recorded_at(letter.recorded_at),
            ),
        )
    return None
