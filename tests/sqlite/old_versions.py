"""Store files as older versions of the SQLite store wrote them: the upgrades must take them.

The statements are kept as those versions ran them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from trio_eventsourcing import sqlite_store

EVENTS_AND_SNAPSHOTS = (
    """
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence >= 1),
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        UNIQUE (aggregate_id, sequence)
    )
    """,
    """
    CREATE TABLE snapshots (
        aggregate_id TEXT PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_type TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        taken_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)
"""Version 1: the events and the snapshots."""

PROJECTION_TABLES = (
    """
    CREATE TABLE projection_checkpoints (
        aggregate_type TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        reset_pending INTEGER NOT NULL DEFAULT 0 CHECK (reset_pending IN (0, 1)),
        updated_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        PRIMARY KEY (aggregate_type, name)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE projection_dead_letters (
        id INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        projection TEXT NOT NULL,
        position INTEGER NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        error TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    )
    """,
    """
    CREATE INDEX projection_dead_letters_by_projection
        ON projection_dead_letters (aggregate_type, projection, position)
    """,
)
"""Version 2 added the projections' tables."""


def stamp(version: int) -> tuple[str, ...]:
    """The statements that mark a file as the store's, of schema ``version``."""
    return (
        f"PRAGMA application_id = {sqlite_store.APPLICATION_ID}",
        f"PRAGMA user_version = {version}",
    )


COMMAND_KEYS = (
    """
    CREATE TABLE command_keys (
        aggregate_id TEXT NOT NULL,
        command_key TEXT NOT NULL,
        PRIMARY KEY (aggregate_id, command_key)
    ) WITHOUT ROWID
    """,
)
"""Version 3 added the idempotency keys, unique per aggregate id whatever its type."""

VERSION_1 = (*EVENTS_AND_SNAPSHOTS, *stamp(1))
VERSION_2 = (*EVENTS_AND_SNAPSHOTS, *PROJECTION_TABLES, *stamp(2))
VERSION_3 = (*EVENTS_AND_SNAPSHOTS, *PROJECTION_TABLES, *COMMAND_KEYS, *stamp(3))


def old_file(path: Path, statements: tuple[str, ...], events: list[tuple[str, str]]) -> None:
    """A store file made by ``statements``, with ``events`` (type, payload) of account acc-1."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN")
        for statement in statements:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,"
            " event_version, payload, metadata) VALUES ('bank_account', 'acc-1', ?, ?, 1, ?, '[]')",
            [(sequence, *event) for sequence, event in enumerate(events, start=1)],
        )
        connection.execute("COMMIT")


OPENED = ("AccountOpened", '{"account_id":"acc-1"}')


def deposit(amount: int, new_balance: int) -> tuple[str, str]:
    return ("CustomerDepositedCash", f'{{"amount":"{amount}","new_balance":"{new_balance}"}}')


def version_1_file(path: Path, events: int) -> None:
    """A store file as version 1 left it, with ``events`` events of one account."""
    old_file(path, VERSION_1, [OPENED] + [deposit(1, n) for n in range(1, events)])


def version_2_file(path: Path) -> None:
    """A store file as version 2 left it, with one account of two events."""
    old_file(path, VERSION_2, [OPENED, deposit(5, 5)])


def version_3_file(path: Path) -> None:
    """A store file as version 3 left it: account acc-1 of two events, the key
    ``"opening"`` of its first command, a snapshot at sequence 2 and a projection's
    checkpoint."""
    old_file(path, VERSION_3, [OPENED, deposit(5, 5)])
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("INSERT INTO command_keys VALUES ('acc-1', 'opening')")
        connection.execute(
            "INSERT INTO snapshots VALUES ('acc-1', 'bank_account', 2, 'BankAccount', 1,"
            ' \'{"balance":"5","opened":true}\', \'2024-05-06T07:08:09+00:00\')'
        )
        connection.execute(
            "INSERT INTO projection_checkpoints (aggregate_type, name, position)"
            " VALUES ('bank_account', 'balances', 2)"
        )


TYPE_SCOPED_TABLES = (
    """
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence >= 1),
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        UNIQUE (aggregate_type, aggregate_id, sequence)
    )
    """,
    """
    CREATE TABLE snapshots (
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_type TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE command_keys (
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        command_key TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, command_key)
    ) WITHOUT ROWID
    """,
)
"""Version 4 keyed events, snapshots and keys by the aggregate type too."""

VERSION_4 = (*TYPE_SCOPED_TABLES, *PROJECTION_TABLES, *stamp(4))


def version_4_file(path: Path) -> None:
    """A store file as version 4 left it: account acc-1 of two events with the metadata
    ``[("user", "alice")]``, the key ``"opening"`` of its first command, and a snapshot at
    sequence 2."""
    old_file(path, VERSION_4, [OPENED, deposit(5, 5)])
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute('UPDATE events SET metadata = \'[["user","alice"]]\'')
        connection.execute("INSERT INTO command_keys VALUES ('bank_account', 'acc-1', 'opening')")
        connection.execute(
            "INSERT INTO snapshots VALUES ('acc-1', 'bank_account', 2, 'BankAccount', 1,"
            ' \'{"balance":"5","opened":true}\', \'2024-05-06T07:08:09+00:00\')'
        )
