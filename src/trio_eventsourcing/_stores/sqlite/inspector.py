"""Inspection of an SQLite store: read-only queries on its file, after checking it is ours.

The file is opened through a ``file:...?mode=ro`` URI, so SQLite itself refuses any
write, and nothing (not even the WAL mode switch a store makes on opening) touches a file
that turns out not to be a store. The checks are those of the store
(:mod:`.schema`): our ``PRAGMA application_id``, a ``user_version`` no newer than
this library knows, and the store's tables. Only ``projections reset`` opens the file for
writing, after the same checks. The calls block: the command line makes them outside any
Trio run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from typing_extensions import final

from ..inspection.errors import (
    InspectionError,
    looks_like_keyword_dsn,
    one_line,
    url_for_keywords,
)
from ..inspection.process_managers import process_manager, process_managers
from ..inspection.projections import reset
from ..inspection.records import (
    AggregateSummary,
    ProcessManagerDetail,
    ProcessManagerInfo,
    ProjectionReset,
    StoredEvent,
    StoreStats,
)
from ..inspection.rows import (
    TRACE_COLUMNS,
    aggregate_summaries,
    event_columns,
    quote,
    store_stats,
    stored_event,
)
from .schema import APPLICATION_ID, SCHEMA_VERSION, special_file_kind

_SQLITE_MAGIC = b"SQLite format 3\x00"
_OPEN_HEADER = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
"""How a header is read: never waiting for a writer, never taking a terminal."""
_BUSY_TIMEOUT_S = 5.0
_OUR_TABLES = ("events", "snapshots")


@final
class SqliteInspector:
    """The inspection queries on one SQLite store (see ``inspection.records.Inspector``)."""

    __slots__ = ("_columns", "_connection", "_description", "_file", "_path")

    def __init__(
        self, connection: sqlite3.Connection, description: str, path: str, file: tuple[int, int]
    ) -> None:
        self._columns: str | None = None
        self._connection = connection
        self._description = description
        self._path = path
        self._file = file

    @classmethod
    def open(cls, db: str, *, write: bool = False) -> SqliteInspector:
        """Open the file at ``db`` (read-only unless ``write``) and check that it is a store.

        Raises:
            InspectionError: No such file, not an SQLite file, not ours, or of a newer schema.
        """
        description = repr(db)
        check_file(db)
        mode = "rw" if write else "ro"
        path = Path(db).absolute()
        uri = f"{path.as_uri()}?mode={mode}"
        try:
            # The file about to be opened, to tell later whether the path still names it.
            file = _identity(os.stat(path))
        except OSError as exc:
            raise InspectionError(f"cannot open the SQLite file {description}: {exc}") from None
        try:
            # isolation_level=None: every statement stands alone (each read sees the
            # latest commit, which `log --follow` relies on), and a write says BEGIN.
            connection = sqlite3.connect(
                uri, uri=True, timeout=_BUSY_TIMEOUT_S, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise InspectionError(f"cannot open the SQLite file {description}: {exc}") from None
        try:
            check_schema(connection, description)
        except BaseException:
            connection.close()
            raise
        return cls(connection, description, str(path), file)

    @property
    def description(self) -> str:
        """The file, as the user named it."""
        return self._description

    def gone(self) -> str | None:
        """Whether the path still names the file opened (same device and inode), or why not."""
        try:
            now = _identity(os.stat(self._path))
        except FileNotFoundError:
            return f"the SQLite file {self._description} was deleted"
        except OSError as exc:
            return f"the SQLite file {self._description} cannot be examined: {exc.strerror or exc}"
        if now != self._file:
            return f"the SQLite file {self._description} was replaced by another file"
        return None

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def aggregates(self, batch: int) -> Iterator[list[AggregateSummary]]:
        """Every aggregate (an id of one type), by id then type, in batches."""
        cursor = self._run(
            "SELECT e.aggregate_id, e.aggregate_type, count(*), max(e.sequence),"
            " (SELECT s.sequence FROM snapshots s WHERE s.aggregate_type = e.aggregate_type"
            " AND s.aggregate_id = e.aggregate_id)"
            " FROM events e GROUP BY e.aggregate_type, e.aggregate_id"
            " ORDER BY e.aggregate_id, e.aggregate_type"
        )
        while True:
            try:
                rows: list[tuple[object, ...]] = cursor.fetchmany(batch)
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
            if not rows:
                return
            yield aggregate_summaries(rows)

    def events(self, aggregate_id: str, aggregate_type: str | None) -> list[StoredEvent]:
        """The events of ``aggregate_id`` (of ``aggregate_type``, or any), by type and sequence."""
        rows = self.rows(
            f"SELECT {self._event_columns()} FROM events WHERE aggregate_id = ?"
            " AND (? IS NULL OR aggregate_type = ?) ORDER BY aggregate_type, sequence",
            (aggregate_id, aggregate_type, aggregate_type),
        )
        return [stored_event(row, str) for row in rows]

    def log(self, after: int, limit: int, aggregate_type: str | None = None) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, in position (commit) order.

        Only those of ``aggregate_type``, if given.
        """
        rows = self.rows(
            f"SELECT {self._event_columns()} FROM events WHERE position > ?"
            " AND (? IS NULL OR aggregate_type = ?) ORDER BY position LIMIT ?",
            (after, aggregate_type, aggregate_type, limit),
        )
        return [stored_event(row, str) for row in rows]

    def _event_columns(self) -> str:
        # A file of an older schema version (read as it is) has no trace columns.
        if self._columns is None:
            ((_, columns),) = self.find_tables(["events"])
            self._columns = event_columns(all(column in columns for column in TRACE_COLUMNS))
        return self._columns

    def stats(self) -> StoreStats:
        """Totals, counts per type, snapshots and projections."""
        (events, last_position), *_ = self.rows(
            "SELECT count(*), coalesce(max(position), 0) FROM events"
        )
        ((version,),) = self.rows("PRAGMA user_version")
        return store_stats(
            self,
            store=f"SQLite file {self._description}",
            snapshots_table="snapshots",
            schema_version=version,
            events=events,
            last_position=last_position,
            time=str,
        )

    def reset_projection(self, name: str, aggregate_type: str | None) -> ProjectionReset:
        """Set the checkpoint of projection ``name`` to 0 and remove its dead letters."""
        return reset(self, self._description, name, aggregate_type)

    def process_managers(self) -> tuple[ProcessManagerInfo, ...]:
        """Every process manager, by name then aggregate type (none without their tables)."""
        return process_managers(self, self._description)

    def process_manager(self, name: str, aggregate_type: str | None) -> ProcessManagerDetail:
        """Process manager ``name`` (of ``aggregate_type``) with everything it has pending."""
        return process_manager(self, self._description, name, aggregate_type)

    # -- what the projections' queries need (``inspection.projections.Database``) --------

    placeholder = "?"
    events_table = "events"
    # The expression the store's schema uses for its own timestamps.
    now = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"

    def find_tables(self, candidates: Sequence[str]) -> list[tuple[str, list[str]]]:
        """Those of ``candidates`` that exist, quoted, each with its columns in order."""
        tables = {
            str(r[0]) for r in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return [
            (quote(table), [str(r[1]) for r in self.rows(f"PRAGMA table_info({quote(table)})")])
            for table in candidates
            if table in tables
        ]

    def change(self, sql: str, parameters: tuple[object, ...] = ()) -> int:
        """Run a statement that changes rows, return how many."""
        return max(self._run(sql, parameters).rowcount, 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock first, so nothing moves."""
        self._run("BEGIN IMMEDIATE")
        try:
            yield
            self._run("COMMIT")
        except BaseException:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: its first query fixes the commits every later one sees."""
        self._run("BEGIN DEFERRED")
        try:
            yield
        finally:
            # Nothing was written: ending it either way only lets the snapshot go.
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")

    # -- running statements, with errors in one line -------------------------------------

    def _run(self, sql: str, parameters: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._connection.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def rows(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run a query, return its rows (an error becomes a one-line InspectionError)."""
        try:
            rows: list[tuple[object, ...]] = self._connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        return rows

    def _failed(self, exc: sqlite3.Error) -> InspectionError:
        return InspectionError(f"the SQLite file {self._description}: {one_line(str(exc))}")


def _identity(status: os.stat_result) -> tuple[int, int]:
    return (status.st_dev, status.st_ino)


def check_file(db: str) -> None:
    """Refuse, in one line, a path that is not an SQLite file, before SQLite opens it.

    Raises:
        InspectionError: No such file, a directory, an empty file, or not SQLite.
    """
    shown = repr(db)
    if not os.path.lexists(db):
        if looks_like_keyword_dsn(db):
            # Never echo it: it holds a password.
            raise InspectionError(
                "the DB argument is neither a file nor a PostgreSQL URL (it looks like a "
                "key=value connection string; write it as postgresql://user:password@host/db)",
                usage=True,
            )
        url = url_for_keywords(db)
        if url is not None:
            raise InspectionError(
                f"the DB argument {shown} is neither a file nor a PostgreSQL URL (it looks "
                f"like a key=value connection string; write it as a URL: {url})",
                usage=True,
            )
        raise InspectionError(f"no such file: {shown}")
    kind = special_file_kind(db)
    if kind is not None:
        # Before opening it: opening a FIFO waits for a writer, for ever.
        raise InspectionError(f"{shown} is {kind}, not an SQLite file")
    try:
        header = read_header(db)
    except OSError as exc:
        raise InspectionError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not header:
        raise InspectionError(f"{shown} is empty: it is not a trio-eventsourcing store (yet)")
    if header != _SQLITE_MAGIC:
        raise InspectionError(f"{shown} is not an SQLite database")


def read_header(db: str) -> bytes:
    """The first bytes of the regular file ``db``, read without ever waiting for a writer.

    Raises:
        OSError: It cannot be read, or it turned into something else than a regular file
            since it was looked at.
    """
    fd = os.open(db, _OPEN_HEADER)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.read(fd, len(_SQLITE_MAGIC))
    finally:
        os.close(fd)


def is_blank(db: str) -> bool:
    """Whether ``db`` is an SQLite database with nothing in it, which a store takes over."""
    try:
        connection = sqlite3.connect(f"{Path(db).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        (application_id,) = connection.execute("PRAGMA application_id").fetchone()
        (objects,) = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        return False
    finally:
        connection.close()
    return bool(application_id == 0 and objects == 0)


def check_schema(connection: sqlite3.Connection, description: str) -> None:
    """Refuse, in one line, an SQLite database that is not a store this library can read.

    Raises:
        InspectionError: Another application's database, a newer schema, or a damaged store.
    """
    try:
        (application_id,) = connection.execute("PRAGMA application_id").fetchone()
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.Error as exc:
        raise InspectionError(
            f"cannot read the SQLite file {description}: {one_line(str(exc))}"
        ) from None
    if application_id != APPLICATION_ID:
        raise InspectionError(
            f"{description} is not a trio-eventsourcing store (an SQLite database with "
            f"application_id {application_id}, not {APPLICATION_ID})"
        )
    if version > SCHEMA_VERSION:
        raise InspectionError(
            f"{description} has store schema version {version}, written by a newer "
            f"trio-eventsourcing; this one reads versions up to {SCHEMA_VERSION}: upgrade it"
        )
    missing = [table for table in _OUR_TABLES if table not in tables]
    if version < 1 or missing:
        raise InspectionError(
            f"{description} is marked as a trio-eventsourcing store but is damaged "
            f"(schema version {version}, missing tables: {', '.join(missing) or 'none'})"
        )
