"""The PostgreSQL store's tables: their names, how they are created and checked, and its SQL.

A store lives in one schema (``public`` unless told) under one table prefix
(``trio_es_`` unless told), so several applications can share a database:

- ``<prefix>store``: one row, the schema version and ``last_position``, the counter of
  the global log. Every write transaction locks this row (``SELECT ... FOR UPDATE``)
  before it reads a sequence and holds the lock until it commits: that is what assigns
  positions in commit order (see ``docs/postgres.rst``).
- ``<prefix>events``: one row per event, ``position`` its place in the global log,
  ``UNIQUE (aggregate_type, aggregate_id, sequence)`` the backstop of optimistic
  concurrency: an aggregate is its type and id together. ``command_key`` is the
  command's idempotency key on its first event (``NULL`` on the others), unique per
  aggregate (the partial index ``<prefix>events_by_command_key``).
- ``<prefix>snapshots``: the latest snapshot of each aggregate.

Starting a store creates the tables if they do not exist, in one transaction under a
transaction-scoped advisory lock, so processes that start at once neither race nor fail:
one creates, the others wait and then find them. Tables of an older version are upgraded
the same way, in one transaction under the same lock. Tables that exist but are not a
store's, or were made by a newer version of this library, are refused and left
untouched. Every function here blocks: the store runs them in threads, never on the
Trio thread.

Versions: 1 has the store row, the events and the snapshots; 2 adds ``command_key`` and
its index; 3 scopes aggregate ids by aggregate type (in the unique constraint, the key
index and the snapshots' primary key), so that one database serves many aggregate types.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from typing_extensions import final

from ..selection import POSTGRES_KIND
from .connection import Options

if TYPE_CHECKING:
    from .connection import Connection

logger = logging.getLogger("trio_eventsourcing.postgres_store")

SCHEMA_VERSION = 4
"""The version of the tables this module creates, kept in ``<prefix>store``."""

LOCK_CLASS = int.from_bytes(b"TrES", "big")
"""First key of the store's advisory locks ("TrES", as the SQLite ``application_id``)."""

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL cuts longer identifiers to this many bytes (``NAMEDATALEN - 1``)."""

_MAX_CHANNEL = MAX_IDENTIFIER_BYTES

CREATED_NAMES = (
    "store",
    "events",
    "snapshots",
    "events_by_command_key",
    "projection_checkpoints",
    "projection_dead_letters",
    "projection_dead_letters_by_name",
    "process_manager_positions",
    "process_manager_instances",
    "process_manager_outbox",
    "process_manager_timers",
)
"""Every name the store creates after its table prefix, the tables of projections and
of process managers included.

Cut to 63 bytes, two of them could become one name: then a ``CREATE ... IF NOT EXISTS``
finds the other object and silently creates nothing. :func:`check_names` refuses a
prefix that would make any of them too long. Names PostgreSQL derives itself (``_pkey``,
``_key``, ``_seq``) are not here: it shortens those so that they stay distinct.
"""


def check_names(schema: str, prefix: str) -> None:
    """Refuse a schema or table prefix that would make a name the store creates too long.

    Raises:
        ValueError: Naming the limit, in bytes, and the longest name it would make.
    """
    if len(schema.encode()) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"schema must be at most {MAX_IDENTIFIER_BYTES} bytes long (PostgreSQL cuts "
            f"longer names), got {len(schema.encode())}: {schema!r}"
        )
    longest = max(CREATED_NAMES, key=len)
    most = MAX_IDENTIFIER_BYTES - len(longest)
    if len(prefix.encode()) > most:
        raise ValueError(
            f"table_prefix must be at most {most} bytes long, got {len(prefix.encode())}: "
            f"{prefix!r}. The longest name the store creates, {prefix + longest!r}, must "
            f"fit PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte identifiers, which it cuts "
            "(two names cut alike would become one)"
        )


@final
class StoreRefused(Exception):
    """The store cannot use the tables it was given; the message says why."""


@final
class Names:
    """The quoted, schema-qualified names of one store's tables, and its SQL statements.

    Names are validated identifiers (``[a-z_][a-z0-9_]*``), so quoting cannot fail and
    no statement is ever built from user text that was not checked.
    """

    __slots__ = (
        "channel",
        "command_key_index",
        "event_columns",
        "events",
        "events_table",
        "insert_events",
        "last_sequences",
        "lock",
        "lock_key",
        "notify",
        "schema",
        "select_aggregate",
        "select_command",
        "select_events",
        "select_log",
        "select_snapshot",
        "snapshots",
        "snapshots_table",
        "store",
        "store_table",
        "stored_keys",
        "update_position",
        "upsert_snapshots",
        "witness",
    )

    def __init__(self, schema: str, prefix: str) -> None:
        self.schema = f'"{schema}"'
        self.store_table = f"{prefix}store"
        self.events_table = f"{prefix}events"
        self.snapshots_table = f"{prefix}snapshots"
        self.store = f'"{schema}"."{prefix}store"'
        self.events = f'"{schema}"."{prefix}events"'
        self.snapshots = f'"{schema}"."{prefix}snapshots"'
        # Unqualified: an index lives in its table's schema.
        self.command_key_index = f"{prefix}events_by_command_key"
        self.lock_key = f"trio_eventsourcing {schema}.{prefix}"
        channel = f"{schema}.{prefix}events"
        if len(channel) > _MAX_CHANNEL:
            # The server would truncate it, and two long names could then share one.
            digest = hashlib.sha256(channel.encode()).hexdigest()[:40]
            channel = f"trio_es_{digest}"
        self.channel = channel
        self.notify = f'NOTIFY "{channel}"'

        # -- the writer ---------------------------------------------------------------
        # Taken first in every write transaction, held to its end: writers serialize
        # here, so positions follow commit order. Also returns the transaction id, so
        # that a commit whose answer was lost can be looked up (pg_xact_status), and
        # when the server started: an id is only known to the server run that gave it.
        self.lock = (
            "SELECT last_position, pg_current_xact_id()::text,"
            f" pg_postmaster_start_time()::text FROM {self.store} FOR UPDATE"
        )
        # After a restart of the server, whether a lost transaction committed is told by
        # one of its rows: its position, aggregate, sequence, key and payload together.
        self.witness = (
            f"SELECT count(*) FROM {self.events} WHERE position = %s AND aggregate_id = %s"
            " AND sequence = %s AND command_key IS NOT DISTINCT FROM %s AND payload = %s"
        )
        # A correlated max() per id is one backward index seek each.
        self.last_sequences = (
            f"SELECT ids.type, ids.id, (SELECT max(e.sequence) FROM {self.events} e"
            " WHERE e.aggregate_type = ids.type AND e.aggregate_id = ids.id)"
            " FROM unnest(%b::text[], %b::text[]) AS ids(type, id)"
        )
        # Whether each of the batch's (aggregate, key) pairs is stored already, in their
        # order: one seek of the key index each (the condition implies `command_key IS
        # NOT NULL`). A subquery per pair, like last_sequences, rather than a semi-join:
        # nothing to plan but the index seek.
        self.stored_keys = (
            f"SELECT EXISTS (SELECT FROM {self.events} e WHERE e.aggregate_type = k.type"
            " AND e.aggregate_id = k.id AND e.command_key = k.key)"
            " FROM unnest(%b::text[], %b::text[], %b::text[]) AS k(type, id, key)"
        )
        # One statement for the whole batch, its columns as arrays (binary parameters:
        # the cheapest way to send many rows short of COPY).
        self.insert_events = (
            f"INSERT INTO {self.events} (position, aggregate_type, aggregate_id, sequence,"
            " event_type, event_version, payload, metadata, command_key, correlation_id,"
            " causation_id)"
            " SELECT r.position, r.aggregate_type, r.aggregate_id, r.sequence, r.event_type,"
            " r.event_version, r.payload, r.metadata, r.command_key, r.correlation_id,"
            " r.causation_id FROM unnest(%b::int8[],"
            " %b::text[], %b::text[], %b::int8[], %b::text[], %b::int4[], %b::text[],"
            " %b::text[], %b::text[], %b::text[], %b::text[]) AS r(position, aggregate_type,"
            " aggregate_id, sequence, event_type, event_version, payload, metadata,"
            " command_key, correlation_id, causation_id)"
        )
        self.upsert_snapshots = (
            f"INSERT INTO {self.snapshots} (aggregate_id, aggregate_type, sequence,"
            " entity_type, entity_version, payload, taken_at)"
            " SELECT r.aggregate_id, r.aggregate_type, r.sequence, r.entity_type,"
            " r.entity_version, r.payload, r.taken_at FROM unnest(%b::text[], %b::text[],"
            " %b::int8[], %b::text[], %b::int4[], %b::text[], %b::timestamptz[])"
            " AS r(aggregate_type, aggregate_id, sequence, entity_type, entity_version,"
            " payload, taken_at) ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET"
            " sequence = excluded.sequence, entity_type = excluded.entity_type,"
            " entity_version = excluded.entity_version, payload = excluded.payload,"
            " taken_at = excluded.taken_at"
        )
        self.update_position = f"UPDATE {self.store} SET last_position = %b"

        # -- the readers --------------------------------------------------------------
        self.event_columns = event_columns = (
            "aggregate_type, aggregate_id, sequence, event_type, event_version, payload,"
            " metadata, correlation_id, causation_id"
        )
        self.select_events = (
            f"SELECT {event_columns} FROM {self.events}"
            " WHERE aggregate_type = %s AND aggregate_id = %s AND sequence > %s"
            " ORDER BY sequence"
        )
        self.select_snapshot = (
            "SELECT sequence, entity_type, entity_version, payload, taken_at"
            f" FROM {self.snapshots} WHERE aggregate_type = %s AND aggregate_id = %s"
        )
        # The latest snapshot and the events after it in one statement, so one round
        # trip and one MVCC snapshot: the events are exactly those that follow it. Rows
        # are (kind, sequence, type, version, payload, metadata, taken_at, aggregate_type,
        # correlation_id, causation_id), kind 0 for the snapshot and 1 for events.
        self.select_aggregate = (
            "WITH s AS (SELECT sequence, entity_type, entity_version, payload, taken_at"
            f" FROM {self.snapshots} WHERE aggregate_type = %(type)s AND aggregate_id = %(id)s)"
            " SELECT 0, sequence, entity_type, entity_version, payload, NULL::text,"
            " taken_at, NULL::text, NULL::text, NULL::text FROM s"
            " UNION ALL"
            " SELECT 1, e.sequence, e.event_type, e.event_version, e.payload, e.metadata,"
            " NULL::timestamptz, e.aggregate_type, e.correlation_id, e.causation_id"
            f" FROM {self.events} e"
            " WHERE e.aggregate_type = %(type)s AND e.aggregate_id = %(id)s"
            " AND e.sequence > coalesce((SELECT sequence FROM s), 0)"
        )
        self.select_log = (
            f"SELECT position, recorded_at, {event_columns} FROM {self.events}"
            f" WHERE position > %s AND {POSTGRES_KIND} = %s ORDER BY position LIMIT %s"
        )
        self.select_command = (
            f"SELECT EXISTS (SELECT FROM {self.events}"
            " WHERE aggregate_type = %s AND aggregate_id = %s AND command_key = %s)"
        )

    def ddl(self) -> list[str]:
        """The statements that create the tables (run in one transaction)."""
        return [
            f"""
            CREATE TABLE {self.store} (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                schema_version integer NOT NULL,
                last_position bigint NOT NULL CHECK (last_position >= 0),
                created_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            # `recorded_at` defaults to the clock when the row is inserted, which is
            # after the writer took the position lock: it grows with the position.
            f"""
            CREATE TABLE {self.events} (
                position bigint PRIMARY KEY CHECK (position >= 1),
                aggregate_type text NOT NULL,
                aggregate_id text NOT NULL,
                sequence bigint NOT NULL CHECK (sequence >= 1),
                event_type text NOT NULL,
                event_version integer NOT NULL,
                payload text NOT NULL,
                metadata text NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                command_key text,
                correlation_id text NOT NULL DEFAULT '',
                causation_id text NOT NULL DEFAULT '',
                UNIQUE (aggregate_type, aggregate_id, sequence)
            )
            """,
            self._command_key_index(),
            f"""
            CREATE TABLE {self.snapshots} (
                aggregate_id text NOT NULL,
                aggregate_type text NOT NULL,
                sequence bigint NOT NULL,
                entity_type text NOT NULL,
                entity_version integer NOT NULL,
                payload text NOT NULL,
                taken_at timestamptz NOT NULL,
                PRIMARY KEY (aggregate_type, aggregate_id)
            )
            """,
            f"INSERT INTO {self.store} (schema_version, last_position)"
            f" VALUES ({SCHEMA_VERSION}, 0)",
            f"COMMENT ON TABLE {self.store} IS 'trio-eventsourcing event store: schema"
            f" version and the position counter of the global log'",
        ]

    def upgrade(self, version: int) -> list[str]:
        """The statements that take tables of ``version`` to :data:`SCHEMA_VERSION`.

        Run in one transaction: the tables are either wholly of the old version or of
        the new one. Adding a column without a default only changes the catalog (no row
        is rewritten); an index or constraint is built with one pass over its table,
        during which writes wait.
        """
        statements: list[str] = []
        if version < 2:
            statements += [
                f"ALTER TABLE {self.events} ADD COLUMN IF NOT EXISTS command_key text",
                self._command_key_index(),
            ]
        if version < 3:
            # The constraints' names were chosen by the server: found in the catalog.
            statements += [
                _drop_constraints(self.events, "u"),
                f"ALTER TABLE {self.events} ADD UNIQUE (aggregate_type, aggregate_id, sequence)",
                _drop_constraints(self.snapshots, "p"),
                f"ALTER TABLE {self.snapshots} ADD PRIMARY KEY (aggregate_type, aggregate_id)",
                f'DROP INDEX IF EXISTS {self.schema}."{self.command_key_index}"',
                self._command_key_index(),
            ]
        if version < 4:
            # A constant default: the catalog changes, no row is rewritten (events stored
            # before have empty ids).
            statements += [
                f"ALTER TABLE {self.events} ADD COLUMN IF NOT EXISTS correlation_id text"
                " NOT NULL DEFAULT ''",
                f"ALTER TABLE {self.events} ADD COLUMN IF NOT EXISTS causation_id text"
                " NOT NULL DEFAULT ''",
            ]
        return [*statements, f"UPDATE {self.store} SET schema_version = {SCHEMA_VERSION}"]

    def _command_key_index(self) -> str:
        # Partial: the events after a command's first carry no key and cost it nothing.
        return (
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{self.command_key_index}"'
            f" ON {self.events} (aggregate_type, aggregate_id, command_key)"
            " WHERE command_key IS NOT NULL"
        )


def _drop_constraints(table: str, kind: str) -> str:
    """A statement dropping every constraint of kind ``kind`` (``"u"``, ``"p"``) of ``table``."""
    return (
        "DO $$ DECLARE name text; BEGIN FOR name IN SELECT conname FROM pg_constraint"
        f" WHERE conrelid = '{table}'::regclass AND contype = '{kind}' LOOP"
        f" EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', name); END LOOP; END $$"
    )


def _inspect(connection: Connection, names: Names, options: Options) -> int:
    """Return the tables' schema version (0: none, to be created); raise if unusable."""
    where = f"schema {options.schema!r}, table prefix {options.table_prefix!r}"
    # A plain query of the catalog, not to_regclass(): that reads the backend's catalog
    # cache, which a process that waited on the advisory lock has not refreshed yet, so
    # it would miss the tables created meanwhile and try to create them again.
    found = {
        name
        for (name,) in connection.execute(
            "SELECT c.relname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (
                options.schema,
                [
                    names.store_table,
                    names.events_table,
                    names.snapshots_table,
                    names.command_key_index,
                ],
            ),
        )
    }
    store = names.store_table in found
    events = names.events_table in found
    snapshots = names.snapshots_table in found
    if not store:
        if events or snapshots:
            raise StoreRefused(
                f"PostgreSQL {options.server} ({where}) has tables named like the store's "
                "that are not a trio-eventsourcing store; the store leaves them alone. "
                "Choose another schema or table_prefix"
            )
        return 0
    import psycopg

    try:
        versions = connection.execute(f"SELECT schema_version FROM {names.store}").fetchall()
    except psycopg.Error as exc:
        raise StoreRefused(
            f"PostgreSQL {options.server} ({where}): the table {names.store} is not a "
            f"trio-eventsourcing store ({options.scrub(' '.join(str(exc).split()))}); "
            "choose another schema or table_prefix"
        ) from None
    if len(versions) != 1:
        raise StoreRefused(
            f"PostgreSQL {options.server} ({where}): the store table {names.store} is "
            f"damaged: it has {len(versions)} rows instead of 1"
        )
    (version,) = versions[0]
    if version > SCHEMA_VERSION:
        raise StoreRefused(
            f"PostgreSQL {options.server} ({where}) has store schema version {version}, "
            f"created by a newer trio-eventsourcing; this one knows versions up to "
            f"{SCHEMA_VERSION}. Upgrade trio-eventsourcing to use it"
        )
    index = version < 2 or names.command_key_index in found
    if version < 1 or not (events and snapshots and index):
        missing = [
            n
            for n, ok in (
                (names.events, events),
                (names.snapshots, snapshots),
                (names.command_key_index, index),
            )
            if not ok
        ]
        raise StoreRefused(
            f"PostgreSQL {options.server} ({where}): the store is damaged (schema version "
            f"{version}, missing tables or indexes: {missing})"
        )
    return int(version)


def prepare(connection: Connection, options: Options) -> Names:
    """Check the store's tables on ``connection``, creating or upgrading them if need be.

    Raises:
        StoreRefused: The tables exist but are not a store's, or are newer.
        psycopg.Error: The server failed (the caller describes it).
    """
    names = Names(options.schema, options.table_prefix)
    # The common case, tables already there and current, takes no lock. Its reads share
    # one snapshot: another process may upgrade the tables meanwhile, and the catalog of
    # before with the version of after would look like damaged tables.
    connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        found = _inspect(connection, names, options)
    finally:
        connection.execute("ROLLBACK")
    if found == SCHEMA_VERSION:
        return names
    with connection.transaction():
        # Whoever holds this lock creates or upgrades; the others wait here, then find
        # the tables current. It is released when the transaction ends, even if the
        # process dies.
        connection.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, names.lock_key)
        )
        version = _inspect(connection, names, options)
        if 0 < version < SCHEMA_VERSION:
            for statement in names.upgrade(version):
                connection.execute(statement)
        elif version == 0:
            exists = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (options.schema,)
            ).fetchone()
            if exists is None:
                # Only when missing: CREATE SCHEMA IF NOT EXISTS still needs the right to
                # create schemas, which a user of an existing schema may lack.
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {names.schema}")
            for statement in names.ddl():
                connection.execute(statement)
    if 0 < version < SCHEMA_VERSION:
        logger.info(
            "upgraded the PostgreSQL store %s (%s) from schema version %d to %d",
            options.server,
            names.events,
            version,
            SCHEMA_VERSION,
        )
    return names
