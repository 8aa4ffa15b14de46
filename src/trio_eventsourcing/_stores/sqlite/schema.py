"""The SQLite store's file: its schema, how a file is recognised as ours, how it is opened.

A database is ours when its header carries :data:`APPLICATION_ID` (``PRAGMA
application_id``); ``PRAGMA user_version`` is the version of the schema below. A new or
empty file gets the schema in one transaction, so a file is never half-created. Anything
else is refused before a single byte of it is written: a file that is not SQLite, an
SQLite database of another application (another ``application_id``, or tables of its
own), or one written by a newer version of this library. Every function here blocks, so
the store runs them in threads, never on the Trio thread.

Versions: 1 has the events and snapshots; 2 adds the projections' checkpoints and dead
letters; 3 adds each command's idempotency key, unique per aggregate (the table
``command_keys``); 4 scopes aggregate ids by aggregate type (an ``"acc-1"`` account and
an ``"acc-1"`` statement are two aggregates), so that one file serves many aggregate
types; 5 keeps each event's correlation and causation ids; 6 adds the process managers'
tables. A file of an older version is upgraded when the store opens it, in one
transaction, so it is either wholly of the old version or wholly of the new one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from typing import Literal, TypeAlias

from typing_extensions import final

from ..._core.errors import StoreFailure
from .process_tables import PROCESS_TABLE_NAMES, PROCESS_TABLES

logger = logging.getLogger("trio_eventsourcing.sqlite_store")

APPLICATION_ID = int.from_bytes(b"TrES", "big")
"""``PRAGMA application_id`` of every trio-eventsourcing SQLite database ("TrES")."""

SCHEMA_VERSION = 6
"""``PRAGMA user_version`` of the schema this module creates (older files are upgraded)."""

Synchronous: TypeAlias = Literal["FULL", "NORMAL"]
"""The values of ``PRAGMA synchronous`` the store accepts.

``OFF`` is not one of them: it can corrupt the database on a power loss. ``EXTRA`` only
differs from ``FULL`` in rollback-journal modes, and the store always uses WAL.
"""

SYNCHRONOUS_LEVELS: tuple[Synchronous, ...] = ("FULL", "NORMAL")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_OPEN_HEADER = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
"""How the header is read: never waiting for a writer, never taking a terminal."""

# `position` aliases the rowid: SQLite gives each insert max(position) + 1, and only one
# connection writes at a time, so positions grow in commit order. Events are never
# deleted, so a position is never reused (AUTOINCREMENT would add a table for nothing).
# The UNIQUE index serves the per-aggregate reads, the conflict check (max(sequence)) and
# is the backstop of optimistic concurrency. An aggregate is its type and id together.
_EVENTS_TABLE_COLUMNS = """
        position INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence >= 1),
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),"""
_UNIQUE_SEQUENCE = """
        UNIQUE (aggregate_type, aggregate_id, sequence)
    )
    """
# Version 5 added the command's correlation and causation ids (see `_TRACED`); they are
# the last columns, where ALTER TABLE puts them in an upgraded file.
_EVENTS_TABLE = (
    "CREATE TABLE {name} ("
    + _EVENTS_TABLE_COLUMNS
    + """
        correlation_id TEXT NOT NULL DEFAULT '',
        causation_id TEXT NOT NULL DEFAULT '',"""
    + _UNIQUE_SEQUENCE
)
_EVENTS_TABLE_V4 = "CREATE TABLE {name} (" + _EVENTS_TABLE_COLUMNS + _UNIQUE_SEQUENCE
_SNAPSHOTS_TABLE = """
    CREATE TABLE {name} (
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_type TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id)
    ) WITHOUT ROWID
    """
_EVENTS_TABLES = (
    _EVENTS_TABLE.format(name="events"),
    _SNAPSHOTS_TABLE.format(name="snapshots"),
)

# Version 2: the projections' tables. A checkpoint is keyed by the aggregate type too, as
# the log a store reads is that of its codec's type: two stores sharing a file may each
# run a projection of the same name. `reset_pending` is set by a reset and cleared by the
# projection once its reset hook has run (see `_projections/engine.py`).
_PROJECTION_TABLES = (
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

COMMAND_KEYS_TABLE = "command_keys"
"""The table of the stored commands' idempotency keys: a command is stored at most once."""

# Version 3: each command's idempotency key, unique per aggregate, written in the
# transaction that stores its events. A table of its own, without a rowid: its primary key
# is all it holds, once. Measured with the bank example (10,000 commands of one event,
# generated keys), it adds 58 bytes a command to the file, where a column of `events`
# with a unique index on it adds 84 (the key is then kept twice, in the row and in the
# index); the one more INSERT per batch costs no throughput that could be measured.
_COMMAND_KEYS_TABLE = """
    CREATE TABLE {name} (
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        command_key TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, command_key)
    ) WITHOUT ROWID
    """
_COMMAND_KEYS = (_COMMAND_KEYS_TABLE.format(name=COMMAND_KEYS_TABLE),)

# Version 4: the tables of version 3 rebuilt with the aggregate type in their keys (SQLite
# cannot change a table's constraints in place). Rows keep their positions. A key takes
# the type of its aggregate's events: in a file of version 3 an id had one type at most,
# since two types could not both store an event at sequence 1 of the same id.
_TYPE_SCOPED = (
    _EVENTS_TABLE_V4.format(name="events_v4"),
    "INSERT INTO events_v4 SELECT position, aggregate_type, aggregate_id, sequence, event_type,"
    " event_version, payload, metadata, recorded_at FROM events ORDER BY position",
    "DROP TABLE events",
    "ALTER TABLE events_v4 RENAME TO events",
    _SNAPSHOTS_TABLE.format(name="snapshots_v4"),
    "INSERT INTO snapshots_v4 SELECT aggregate_id, aggregate_type, sequence, entity_type,"
    " entity_version, payload, taken_at FROM snapshots",
    "DROP TABLE snapshots",
    "ALTER TABLE snapshots_v4 RENAME TO snapshots",
    _COMMAND_KEYS_TABLE.format(name="command_keys_v4"),
    "INSERT INTO command_keys_v4 SELECT coalesce("
    "(SELECT e.aggregate_type FROM events e WHERE e.aggregate_id = k.aggregate_id LIMIT 1),"
    " (SELECT s.aggregate_type FROM snapshots s WHERE s.aggregate_id = k.aggregate_id LIMIT 1),"
    " ''), k.aggregate_id, k.command_key FROM command_keys k",
    "DROP TABLE command_keys",
    "ALTER TABLE command_keys_v4 RENAME TO command_keys",
)

# Version 5: each event keeps its command's correlation and causation ids. Adding a
# column with a constant default rewrites no row: events stored before have empty ids.
_TRACED = (
    "ALTER TABLE events ADD COLUMN correlation_id TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE events ADD COLUMN causation_id TEXT NOT NULL DEFAULT ''",
)

_SCHEMA = (
    *_EVENTS_TABLES,
    *_PROJECTION_TABLES,
    *_COMMAND_KEYS,
    *PROCESS_TABLES,
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

# What takes a file of version n (the key) to version n + 1. Only the step to 4 rewrites
# rows (a copy of each table, in commit order).
_UPGRADES: dict[int, tuple[str, ...]] = {
    1: (*_PROJECTION_TABLES, "PRAGMA user_version = 2"),
    2: (*_COMMAND_KEYS, "PRAGMA user_version = 3"),
    3: (*_TYPE_SCOPED, "PRAGMA user_version = 4"),
    4: (*_TRACED, "PRAGMA user_version = 5"),
    5: (*PROCESS_TABLES, "PRAGMA user_version = 6"),
}

# The tables each version has.
_VERSION_2_TABLES = frozenset(
    {"events", "snapshots", "projection_checkpoints", "projection_dead_letters"}
)
_OUR_TABLES = {
    1: frozenset({"events", "snapshots"}),
    2: _VERSION_2_TABLES,
    3: _VERSION_2_TABLES | {COMMAND_KEYS_TABLE},
    4: _VERSION_2_TABLES | {COMMAND_KEYS_TABLE},
    5: _VERSION_2_TABLES | {COMMAND_KEYS_TABLE},
    6: _VERSION_2_TABLES | {COMMAND_KEYS_TABLE} | PROCESS_TABLE_NAMES,
}


@final
class DatabaseRefused(Exception):
    """The file cannot be used as a store; the message says why and names the file."""


@final
@dataclass(frozen=True, slots=True)
class Options:
    """How to open the store's connections (checked by ``sqlite_store.supervised``)."""

    path: str
    synchronous: Synchronous
    busy_timeout: float
    """Seconds to wait for another connection's lock."""
    max_readers: int


def driver_error(operation: str, path: str, exc: BaseException) -> str:
    """Describe a failed SQLite call without handing the driver's exception to users."""
    return f"{operation} failed on the SQLite file {path!r}: {type(exc).__name__}: {exc}"


def failure_kind(exc: BaseException) -> StoreFailure:
    """The kind of a failed SQLite call: refused if the data of the call was at fault.

    ``IntegrityError`` is a constraint, ``DataError`` a value SQLite cannot take (too
    big); both answer the same way to the same data. Anything else (a full disk, a
    locked or corrupt file) is not the request's fault.
    """
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError)):
        return StoreFailure.REFUSED
    return StoreFailure.FAILED


def special_file_kind(path: str) -> str | None:
    """What ``path`` is if it is there and not a regular file (``"a named pipe (FIFO)"``).

    ``None`` for a regular file, for nothing (the store creates the file), and when it
    cannot be examined (opening it then says why). Only ``stat`` is called, which never
    blocks on what it looks at, where opening a FIFO waits for a writer, for ever, in a
    thread that no cancellation can reach.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _kind_of(mode)


def _kind_of(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((kind for test, kind in kinds if test(mode)), "not a file")


def _not_regular(path: str, kind: str) -> str:
    return (
        f"{path!r} is {kind}, not a regular file: the store only opens SQLite database "
        "files, or creates one"
    )


def _connect(options: Options) -> sqlite3.Connection:
    # Never opened if it is not a regular file: the open could block for ever.
    kind = special_file_kind(options.path)
    if kind is not None:
        raise sqlite3.OperationalError(_not_regular(options.path, kind))
    # isolation_level=None: the store issues BEGIN/COMMIT itself (the module's implicit
    # transactions differ between Python 3.10 and 3.12). check_same_thread=False: a
    # connection is opened in one thread and used by another, one at a time.
    connection = sqlite3.connect(
        options.path,
        timeout=options.busy_timeout,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        connection.execute(f"PRAGMA synchronous = {options.synchronous}")
    except BaseException:
        connection.close()
        raise
    return connection


def _check_header(path: str) -> None:
    """Refuse what is not a regular file, and a file that is not empty and not SQLite."""
    kind = special_file_kind(path)
    if kind is not None:
        raise DatabaseRefused(_not_regular(path, kind))
    try:
        # Non-blocking, and checked again once open: it may have been swapped for a FIFO.
        fd = os.open(path, _OPEN_HEADER)
    except FileNotFoundError:
        return  # SQLite creates it
    except OSError as exc:
        raise DatabaseRefused(driver_error("reading the file header", path, exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DatabaseRefused(_not_regular(path, _kind_of(mode)))
        header = os.read(fd, len(_SQLITE_MAGIC))
    except OSError as exc:
        raise DatabaseRefused(driver_error("reading the file header", path, exc)) from exc
    finally:
        os.close(fd)
    if header and header != _SQLITE_MAGIC:
        raise DatabaseRefused(
            f"{path!r} is not an SQLite database (its first bytes are {header[:16]!r}); "
            "the store refuses to touch it"
        )


def _inspect(connection: sqlite3.Connection) -> tuple[int, int, list[str]]:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    user_version = connection.execute("PRAGMA user_version").fetchone()[0]
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return application_id, user_version, names


def _verdict(path: str, application_id: int, user_version: int, names: list[str]) -> bool:
    """Return whether the schema must be created; raise if the database is not usable.

    A file of an older version passes: :func:`open_writer` upgrades it.
    """
    if application_id == APPLICATION_ID:
        if user_version > SCHEMA_VERSION:
            raise DatabaseRefused(
                f"{path!r} has store schema version {user_version}, written by a newer "
                f"trio-eventsourcing; this one knows versions up to {SCHEMA_VERSION}. "
                "Upgrade trio-eventsourcing to open it"
            )
        expected = _OUR_TABLES.get(user_version, _OUR_TABLES[SCHEMA_VERSION])
        missing = sorted(expected - set(names))
        if user_version < 1 or missing:
            raise DatabaseRefused(
                f"{path!r} is marked as a trio-eventsourcing store but is damaged "
                f"(schema version {user_version}, missing tables: {missing})"
            )
        return False
    if application_id == 0 and user_version == 0 and not names:
        return True
    raise DatabaseRefused(
        f"{path!r} is an SQLite database of another application (application_id "
        f"{application_id}, user_version {user_version}, objects: {names[:10]}); "
        "the store only opens its own databases or new, empty files"
    )


def open_writer(options: Options) -> sqlite3.Connection:
    """Open the write connection, creating the schema in a new or empty file.

    Processes that open one file at once may find it locked by each other's start (a
    switch to WAL, a schema being created): that is retried until ``busy_timeout`` has
    passed, as a write would wait for the lock.

    Raises:
        DatabaseRefused: The file is not ours, is newer, or cannot be opened.
    """
    path = options.path
    _check_header(path)
    try:
        connection = _connect(options)
    except sqlite3.Error as exc:
        raise DatabaseRefused(driver_error("opening", path, exc)) from exc
    try:
        deadline = time.monotonic() + options.busy_timeout
        delay = _FIRST_RETRY_S
        while True:
            try:
                _prepare(connection, path)
                return connection
            except (sqlite3.Error, _NotWal) as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if _held_by_another(exc) and time.monotonic() + delay <= deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, _LONGEST_RETRY_S)
                    continue
                if isinstance(exc, _NotWal):
                    raise DatabaseRefused(
                        f"{path!r} cannot use WAL mode (journal_mode is {exc.mode!r})"
                    ) from None
                if isinstance(exc, sqlite3.Error):
                    raise DatabaseRefused(driver_error("checking the schema", path, exc)) from exc
                raise
    except BaseException:
        connection.close()
        raise


_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
"""SQLite's primary result codes (the module names them from Python 3.11 only)."""

_FIRST_RETRY_S = 0.005
_LONGEST_RETRY_S = 0.1
"""Backoff while another connection's start holds the file, in seconds."""


class _NotWal(Exception):
    """``PRAGMA journal_mode = WAL`` left the file in another mode."""

    def __init__(self, mode: object) -> None:
        super().__init__(f"journal_mode is {mode!r}")
        self.mode = mode


def _held_by_another(exc: BaseException) -> bool:
    """Whether ``exc`` says another connection holds the file for now (worth a retry).

    A switch to WAL that another connection's lock prevents leaves the old mode; a lock
    that SQLite would deadlock waiting for fails at once with ``SQLITE_BUSY`` or
    ``SQLITE_LOCKED``, without its busy handler.
    """
    if isinstance(exc, _NotWal):
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database table is locked" in message


def _prepare(connection: sqlite3.Connection, path: str) -> None:
    """Check the file and create or upgrade its schema.

    Raises:
        DatabaseRefused: The file is not ours, or is newer.
        _NotWal: The switch to WAL did not take.
        sqlite3.Error: SQLite failed (the file may be locked by another connection).
    """
    # Nothing may be written before the file is known to be ours or empty: even
    # switching to WAL rewrites the header. One read transaction, so that the header
    # and the tables are seen as of one commit (another process may be creating them).
    connection.execute("BEGIN")
    try:
        found = _inspect(connection)
    finally:
        connection.execute("COMMIT")
    create = _verdict(path, *found)
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise _NotWal(mode)
    if create:
        _create_schema(connection, path)
    else:
        _upgrade(connection, path)


def _create_schema(connection: sqlite3.Connection, path: str) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created the schema since we looked: with the write
        # lock held, look again.
        if _verdict(path, *_inspect(connection)):
            for statement in _SCHEMA:
                connection.execute(statement)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _upgrade(connection: sqlite3.Connection, path: str) -> None:
    """Bring a file of an older schema version to :data:`SCHEMA_VERSION`, in one transaction.

    Every step runs in one ``BEGIN IMMEDIATE`` ... ``COMMIT``: DDL and ``PRAGMA
    user_version`` are transactional in SQLite, so a crash leaves the old version whole.
    """
    if connection.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return  # the common case: no write, no lock
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have upgraded the file since we looked: with the write
        # lock held, look again.
        application_id, version, names = _inspect(connection)
        _verdict(path, application_id, version, names)
        upgraded_from = version
        while version < SCHEMA_VERSION:
            for statement in _UPGRADES[version]:
                connection.execute(statement)
            version += 1
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    if upgraded_from < SCHEMA_VERSION:
        logger.info(
            "upgraded the SQLite store %r from schema version %d to %d",
            path,
            upgraded_from,
            SCHEMA_VERSION,
        )


def open_reader(options: Options) -> sqlite3.Connection:
    """Open a read connection; ``query_only`` makes any write through it an error.

    Raises:
        sqlite3.Error: The file cannot be opened.
    """
    connection = _connect(options)
    try:
        connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def absolute(path: str | os.PathLike[str]) -> str:
    """The absolute path of the database file, so a later ``chdir`` changes nothing."""
    return os.path.abspath(os.fspath(path))
