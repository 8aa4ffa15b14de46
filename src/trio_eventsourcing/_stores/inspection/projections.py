"""The projections' tables, as the inspection sees them: found by looking, read, reset.

A store of schema version 2 or later (SQLite) has ``projection_checkpoints`` (one row per
projection and aggregate type: ``position``, ``reset_pending``, ``updated_at``) and
``projection_dead_letters``; an older store, or a PostgreSQL schema without them, has
none, and ``stats`` then shows no projections. The tables are recognised by their names
and columns rather than by a version number, so the inspection shows what is there,
checkpoint and dead-letter columns it does not know included.

A reset does in SQL what the projections' own reset does: the checkpoint goes back to 0
with ``reset_pending`` set, and the projection's dead letters are deleted, in one
transaction. A running projection notices at its next checkpoint write (a
compare-and-set that now fails), runs its reset hook and rebuilds; a stopped one does so
when it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from typing_extensions import final

from .errors import InspectionError
from .records import CellValue, ProjectionInfo, ProjectionReset

# Candidate names, most likely first (the first is what this version creates).
CHECKPOINT_TABLES = ("projection_checkpoints", "projections", "checkpoints")
DEAD_LETTER_TABLES = ("projection_dead_letters", "dead_letters")
NAME_COLUMNS = ("name", "projection", "projection_name")
POSITION_COLUMNS = ("position", "checkpoint", "last_position", "checkpoint_position")
SCOPE_COLUMN = "aggregate_type"
"""Checkpoints are kept per aggregate type: the log a projection reads is its store's type."""
RESET_PENDING_COLUMN = "reset_pending"
UPDATED_AT_COLUMN = "updated_at"


class Database(Protocol):
    """What the projections' queries need from a store's connection (SQLite or PostgreSQL)."""

    @property
    def placeholder(self) -> str:
        """The driver's parameter marker: ``?`` or ``%s``."""
        ...

    @property
    def events_table(self) -> str:
        """The events table, quoted and qualified."""
        ...

    @property
    def now(self) -> str:
        """An SQL expression for the current time, as the store writes ``updated_at``."""
        ...

    def find_tables(self, candidates: Sequence[str]) -> list[tuple[str, list[str]]]:
        """Those of ``candidates`` (unprefixed names) that exist: quoted name, columns."""
        ...

    def rows(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run a query, return its rows."""
        ...

    def change(self, sql: str, parameters: tuple[object, ...] = ()) -> int:
        """Run a statement that changes rows, return how many."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction: committed at the end of the block, rolled back on error."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """One read transaction: every query in the block sees the same commits."""
        ...


@final
@dataclass(frozen=True, slots=True)
class _Checkpoints:
    table: str
    name: str
    position: str
    scope: str | None
    others: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class _DeadLetters:
    table: str
    name: str
    scope: str | None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _checkpoints(db: Database) -> _Checkpoints | None:
    for table, columns in db.find_tables(CHECKPOINT_TABLES):
        name = next((c for c in NAME_COLUMNS if c in columns), None)
        position = next((c for c in POSITION_COLUMNS if c in columns), None)
        if name is not None and position is not None:
            scope = SCOPE_COLUMN if SCOPE_COLUMN in columns else None
            others = tuple(c for c in columns if c not in (name, position, scope))
            return _Checkpoints(table, name, position, scope, others)
    return None


def _dead_letters(db: Database) -> _DeadLetters | None:
    for table, columns in db.find_tables(DEAD_LETTER_TABLES):
        name = next((c for c in NAME_COLUMNS if c in columns), None)
        if name is not None:
            return _DeadLetters(table, name, SCOPE_COLUMN if SCOPE_COLUMN in columns else None)
    return None


def projections(db: Database) -> tuple[ProjectionInfo, ...] | None:
    """Every projection with its checkpoint, lag and dead letters; ``None`` if no table."""
    found = _checkpoints(db)
    if found is None:
        return None
    scope_sql = _quote(found.scope) if found.scope else "''"
    selected = ", ".join(
        [_quote(found.name), scope_sql, _quote(found.position), *map(_quote, found.others)]
    )
    dead = _dead_letters(db)
    dead_counts: dict[tuple[str, str], int] = {}
    if dead is not None:
        dead_scope = _quote(dead.scope) if dead.scope else "''"
        dead_counts = {
            (str(name), str(scope)): _int(count)
            for name, scope, count in db.rows(
                f"SELECT {_quote(dead.name)}, {dead_scope}, count(*) FROM {dead.table}"
                " GROUP BY 1, 2"
            )
        }
    result = []
    for row in db.rows(f"SELECT {selected} FROM {found.table} ORDER BY 1, 2"):
        name, scope, position = str(row[0]), str(row[1]), _int(row[2] or 0)
        result.append(
            ProjectionInfo(
                name=name,
                aggregate_type=scope if found.scope else None,
                checkpoint=position,
                lag=events_after(db, position, scope if found.scope else None),
                dead_letters=None if dead is None else dead_counts.get((name, scope), 0),
                other=tuple(
                    (column, _column_value(column, value))
                    for column, value in zip(found.others, row[3:], strict=True)
                ),
            )
        )
    return tuple(result)


def events_after(db: Database, position: int, scope: str | None) -> int:
    """The lag of a reader of the log at ``position`` whose scope is ``scope``.

    A scope is an aggregate type, whose events after ``position`` are counted. An empty
    scope (a selection of several aggregate types, whose types the store does not keep)
    or none at all counts every event after ``position``: at least what the reader
    selects, so an upper bound of its lag.
    """
    mark = db.placeholder
    if scope:
        ((count,),) = db.rows(
            f"SELECT count(*) FROM {db.events_table}"
            f" WHERE position > {mark} AND aggregate_type = {mark}",
            (position, scope),
        )
    else:
        ((count,),) = db.rows(
            f"SELECT count(*) FROM {db.events_table} WHERE position > {mark}", (position,)
        )
    return _int(count)


def reset(db: Database, where: str, name: str, aggregate_type: str | None) -> ProjectionReset:
    """Reset projection ``name`` (of ``aggregate_type``, if the store has several).

    Raises:
        InspectionError: No projections table, no such projection, or a name that several
            aggregate types use and no ``aggregate_type`` to choose.
    """
    found = _checkpoints(db)
    if found is None:
        raise InspectionError(
            f"{where} has no projections table: no projection has run on this store, "
            "so there is nothing to reset"
        )
    mark = db.placeholder
    dead = _dead_letters(db)
    with db.transaction():
        scope_sql = _quote(found.scope) if found.scope else "''"
        rows = db.rows(
            f"SELECT {scope_sql}, {_quote(found.position)} FROM {found.table}"
            f" WHERE {_quote(found.name)} = {mark}",
            (name,),
        )
        if aggregate_type is not None:
            rows = [row for row in rows if str(row[0]) == aggregate_type]
        if not rows:
            known = sorted(
                {str(r[0]) for r in db.rows(f"SELECT {_quote(found.name)} FROM {found.table}")}
            )
            listing = ", ".join(repr(n) for n in known[:20]) or "none"
            of_type = "" if aggregate_type is None else f" of aggregate type {aggregate_type!r}"
            raise InspectionError(
                f"{where} has no projection named {name!r}{of_type} (it has: {listing})"
            )
        if len(rows) > 1:
            types = ", ".join(sorted(repr(str(r[0])) for r in rows))
            raise InspectionError(
                f"{where} has projections named {name!r} for several aggregate types "
                f"({types}): choose one with --aggregate-type",
                usage=True,
            )
        scope, previous = str(rows[0][0]), _int(rows[0][1])
        assignments = [f"{_quote(found.position)} = 0"]
        if RESET_PENDING_COLUMN in found.others:
            assignments.append(f"{_quote(RESET_PENDING_COLUMN)} = TRUE")
        if UPDATED_AT_COLUMN in found.others:
            assignments.append(f"{_quote(UPDATED_AT_COLUMN)} = {db.now}")
        scoped = f" AND {_quote(found.scope)} = {mark}" if found.scope else ""
        scope_parameters: tuple[object, ...] = (scope,) if found.scope else ()
        db.change(
            f"UPDATE {found.table} SET {', '.join(assignments)}"
            f" WHERE {_quote(found.name)} = {mark}{scoped}",
            (name, *scope_parameters),
        )
        removed = 0
        if dead is not None:
            dead_scoped = (
                f" AND {_quote(dead.scope)} = {mark}" if dead.scope and found.scope else ""
            )
            removed = db.change(
                f"DELETE FROM {dead.table} WHERE {_quote(dead.name)} = {mark}{dead_scoped}",
                (name, *(scope_parameters if dead_scoped else ())),
            )
    return ProjectionReset(
        name=name,
        aggregate_type=scope if found.scope else None,
        previous_checkpoint=previous,
        dead_letters_removed=removed,
        reset_pending=RESET_PENDING_COLUMN in found.others,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) else int(str(value))


def _column_value(column: str, value: object) -> CellValue:
    """A checkpoint column's value as shown: ``reset_pending`` is a yes or no on every store.

    SQLite keeps it as an integer 0 or 1, PostgreSQL as a boolean.
    """
    if column == RESET_PENDING_COLUMN and isinstance(value, int):
        return bool(value)
    return _value(value)


def _value(value: object) -> CellValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        # PostgreSQL returns timestamptz in the session's time zone: show UTC, as SQLite.
        return (value.astimezone(timezone.utc) if value.tzinfo else value).isoformat()
    return str(value)
