"""Inspection of a PostgreSQL store: read-only queries on its tables, after checking them.

The tables are those ``postgres_store.supervised`` creates (:mod:`.schema`):
``<prefix>store`` (the schema version and the log's last position), ``<prefix>events`` and
``<prefix>snapshots`` in one schema. The session is read-only
(``default_transaction_read_only``), so the server itself refuses any write, except for
``projections reset``, which opens a writable one. psycopg is the ``postgres`` extra and
is imported here only, when a PostgreSQL URL is given (:mod:`.backend` imports this
module then). The DSN is described and scrubbed by :mod:`.connection`: no message carries
its password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from typing_extensions import final

from ..inspection.errors import InspectionError, one_line
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
    utc_text,
)
from ..inspection.rows import to_int as _int
from .connection import (
    INSTALL_HINT,
    Options,
    check_schema_name,
    check_table_prefix,
    connect,
    describe_server,
    dsn_secrets,
    parse_dsn,
    uri_reading,
)
from .schema import SCHEMA_VERSION, Names, check_names

if TYPE_CHECKING:
    from .connection import Connection

DEFAULT_SCHEMA = "public"
"""The default ``schema`` of ``postgres_store.supervised``."""

DEFAULT_TABLE_PREFIX = "trio_es_"
"""The default ``table_prefix`` of ``postgres_store.supervised``."""

_CONNECT_TIMEOUT_S = 10.0


@final
class PostgresInspector:
    """The inspection queries on one PostgreSQL store (see ``inspection.records.Inspector``)."""

    __slots__ = ("_columns", "_connection", "_names", "_options")

    def __init__(self, connection: Connection, options: Options, names: Names) -> None:
        self._columns: str | None = None
        self._connection = connection
        self._options = options
        self._names = names

    @classmethod
    def open(
        cls, db: str, *, schema: str | None, table_prefix: str | None, write: bool = False
    ) -> PostgresInspector:
        """Connect to the server ``db`` names and check the store's tables there.

        Raises:
            InspectionError: No driver, a DSN that does not parse, an unreachable server, or no
                store (or a newer one) in that schema under that prefix.
        """
        try:
            import psycopg
        except ImportError:
            raise InspectionError(
                f"{describe_dsn(db)} is a PostgreSQL server, and reading one needs the "
                f"psycopg driver, which is not installed: {INSTALL_HINT}"
            ) from None
        try:
            schema_name = check_schema_name(DEFAULT_SCHEMA if schema is None else schema)
            prefix = check_table_prefix(
                DEFAULT_TABLE_PREFIX if table_prefix is None else table_prefix
            )
            check_names(schema_name, prefix)
            conninfo, server, secrets, keys = parse_dsn(db)
        except ValueError as exc:
            raise InspectionError(f"{exc}", usage=True) from None
        options = Options(
            conninfo=conninfo,
            server=server,
            secrets=secrets,
            dsn_keys=keys,
            schema=schema_name,
            table_prefix=prefix,
            max_readers=1,
            connect_timeout=_CONNECT_TIMEOUT_S,
            retry_timeout=_CONNECT_TIMEOUT_S,
        )
        try:
            connection = connect(options, "cli")
        except psycopg.Error as exc:
            raise InspectionError(
                options.scrub(
                    f"cannot connect to PostgreSQL {server}: {one_line(str(exc)) or 'no detail'}"
                )
            ) from None
        names = Names(schema_name, prefix)
        inspector = cls(connection, options, names)
        try:
            if not write:
                # Any write on this session is now refused by the server itself.
                inspector.rows("SET default_transaction_read_only = on")
            inspector._check()
        except BaseException:
            connection.close()
            raise
        return inspector

    @property
    def description(self) -> str:
        """The server (without password), schema and table prefix."""
        return (
            f"PostgreSQL {self._options.server} (schema {self._options.schema!r}, "
            f"table prefix {self._options.table_prefix!r})"
        )

    def gone(self) -> str | None:
        """``None``: the server's tables are the store's for as long as it is connected."""
        return None

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def _check(self) -> None:
        names = self._names
        found = {
            str(row[0])
            for row in self.rows(
                "SELECT c.relname FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = ANY(%s)",
                (
                    self._options.schema,
                    [names.store_table, names.events_table, names.snapshots_table],
                ),
            )
        }
        if names.store_table not in found:
            raise InspectionError(
                f"{self.description} holds no trio-eventsourcing store (no table "
                f"{names.store}); give --schema and --table-prefix if it uses others"
            )
        rows = self.rows(f"SELECT schema_version FROM {names.store}")
        version = _int(rows[0][0]) if len(rows) == 1 else 0
        if version > SCHEMA_VERSION:
            raise InspectionError(
                f"{self.description} has store schema version {version}, created by a newer "
                f"trio-eventsourcing; this one reads versions up to {SCHEMA_VERSION}: upgrade it"
            )
        missing = [t for t in (names.events_table, names.snapshots_table) if t not in found]
        if version < 1 or missing:
            raise InspectionError(
                f"{self.description} is a damaged store (schema version {version}, "
                f"missing tables: {', '.join(missing) or 'none'})"
            )

    def aggregates(self, batch: int) -> Iterator[list[AggregateSummary]]:
        """Every aggregate, by id, in batches of at most ``batch``."""
        names = self._names
        # Keyset pagination by (id, type): each batch is one short statement, and no
        # cursor stays open between them.
        after: tuple[str, str] | None = None
        while True:
            rows = self.rows(
                "SELECT e.aggregate_id, e.aggregate_type, count(*), max(e.sequence),"
                f" (SELECT s.sequence FROM {names.snapshots} s"
                " WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id)"
                f" FROM {names.events} e"
                " WHERE %(id)s::text IS NULL OR (e.aggregate_id, e.aggregate_type)"
                " > (%(id)s, %(type)s)"
                " GROUP BY e.aggregate_id, e.aggregate_type"
                " ORDER BY e.aggregate_id, e.aggregate_type LIMIT %(limit)s",
                {
                    "id": None if after is None else after[0],
                    "type": None if after is None else after[1],
                    "limit": batch,
                },
            )
            if not rows:
                return
            yield aggregate_summaries(rows)
            after = (str(rows[-1][0]), str(rows[-1][1]))

    def events(self, aggregate_id: str, aggregate_type: str | None) -> list[StoredEvent]:
        """The events of ``aggregate_id`` (of ``aggregate_type``, or any), by type and sequence."""
        rows = self.rows(
            f"SELECT {self._event_columns()} FROM {self._names.events}"
            " WHERE aggregate_id = %(id)s AND (%(type)s::text IS NULL OR aggregate_type = %(type)s)"
            " ORDER BY aggregate_type, sequence",
            {"id": aggregate_id, "type": aggregate_type},
        )
        return [stored_event(row, utc_text) for row in rows]

    def _event_columns(self) -> str:
        # Tables of an older schema version (read as they are) have no trace columns.
        if self._columns is None:
            found = self.find_tables(["events"])
            columns = found[0][1] if found else []
            self._columns = event_columns(all(column in columns for column in TRACE_COLUMNS))
        return self._columns

    def log(self, after: int, limit: int, aggregate_type: str | None = None) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, by position.

        Writers take the store row's lock before they number their events and keep it
        until they commit, so positions follow commit order and a reader continuing
        from the last position it saw never passes over a later commit.
        """
        rows = self.rows(
            f"SELECT {self._event_columns()} FROM {self._names.events}"
            " WHERE position > %(after)s"
            " AND (%(type)s::text IS NULL OR aggregate_type = %(type)s)"
            " ORDER BY position LIMIT %(limit)s",
            {"after": after, "type": aggregate_type, "limit": limit},
        )
        return [stored_event(row, utc_text) for row in rows]

    def stats(self) -> StoreStats:
        """Totals, counts per type, snapshots and projections."""
        names = self._names
        ((version, last_position),) = self.rows(
            f"SELECT schema_version, last_position FROM {names.store}"
        )
        ((events,),) = self.rows(f"SELECT count(*) FROM {names.events}")
        return store_stats(
            self,
            store=self.description,
            snapshots_table=names.snapshots,
            schema_version=version,
            events=events,
            last_position=last_position,
            time=utc_text,
        )

    def reset_projection(self, name: str, aggregate_type: str | None) -> ProjectionReset:
        """Set the checkpoint of projection ``name`` to 0 and remove its dead letters."""
        return reset(self, self.description, name, aggregate_type)

    def process_managers(self) -> tuple[ProcessManagerInfo, ...]:
        """Every process manager, by name then aggregate type (none without their tables)."""
        return process_managers(self, self.description)

    def process_manager(self, name: str, aggregate_type: str | None) -> ProcessManagerDetail:
        """Process manager ``name`` (of ``aggregate_type``) with everything it has pending."""
        return process_manager(self, self.description, name, aggregate_type)

    # -- what the projections' queries need (``inspection.projections.Database``) --------

    placeholder = "%s"
    now = "clock_timestamp()"

    @property
    def events_table(self) -> str:
        """The events table, quoted and qualified by its schema."""
        return self._names.events

    def find_tables(self, candidates: Sequence[str]) -> list[tuple[str, list[str]]]:
        """Those of ``candidates`` (after the table prefix) that exist, with their columns."""
        prefix = self._options.table_prefix
        wanted = [prefix + table for table in candidates]
        rows = self.rows(
            "SELECT c.relname, a.attname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
            (self._options.schema, wanted),
        )
        columns: dict[str, list[str]] = {}
        for table, column in rows:
            columns.setdefault(str(table), []).append(str(column))
        schema = quote(self._options.schema)
        return [(f"{schema}.{quote(t)}", columns[t]) for t in wanted if t in columns]

    def change(self, sql: str, parameters: tuple[object, ...] = ()) -> int:
        """Run a statement that changes rows, return how many."""
        import psycopg

        try:
            return max(self._connection.execute(sql, parameters).rowcount, 0)
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, committed at the end of the block (the session is autocommit)."""
        import psycopg

        try:
            with self._connection.transaction():
                yield
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One ``REPEATABLE READ`` transaction: every query in it sees the same commits."""
        import psycopg

        try:
            with self._connection.transaction():
                self._connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield
        except psycopg.Error as exc:
            raise self._failed(exc) from None

    # -- running statements, with errors in one line and without secrets -----------------

    def rows(
        self, sql: str, parameters: tuple[object, ...] | dict[str, object] = ()
    ) -> list[tuple[object, ...]]:
        """Run a statement, return its rows (none for a command); errors in one line."""
        import psycopg

        try:
            cursor = self._connection.execute(sql, parameters)
            rows: list[tuple[object, ...]] = (
                cursor.fetchall() if cursor.description is not None else []
            )
        except psycopg.Error as exc:
            raise self._failed(exc) from None
        return rows

    def _failed(self, exc: BaseException) -> InspectionError:
        detail = one_line(str(exc)) or "no detail"
        return InspectionError(
            self._options.scrub(f"{self.description}: {type(exc).__name__}: {detail}")
        )


def describe_dsn(db: str) -> str:
    """A PostgreSQL URL as it may be printed: its user, host, port and database only.

    Read as libpq reads a URL, without the driver; a part that holds or overlaps a
    password (a URL whose password has an unescaped ``@`` or ``/``) is shown as ``***``.
    """
    scheme = db.partition("://")[0]
    return f"{scheme}://{describe_server(uri_reading(db) or {}, dsn_secrets(db))}"
