"""The store's tables as older versions of the PostgreSQL store created them.

The statements are kept as those versions ran them: the upgrades must take these tables.
"""

from __future__ import annotations

from tests.postgres.helpers import connect


def version_1_tables(dsn: str, schema: str) -> None:
    """The store's tables as version 1 created them, with one account of two events."""
    with connect(dsn) as connection, connection.transaction():
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_store (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                schema_version integer NOT NULL,
                last_position bigint NOT NULL CHECK (last_position >= 0),
                created_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """
        )
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_events (
                position bigint PRIMARY KEY CHECK (position >= 1),
                aggregate_type text NOT NULL,
                aggregate_id text NOT NULL,
                sequence bigint NOT NULL CHECK (sequence >= 1),
                event_type text NOT NULL,
                event_version integer NOT NULL,
                payload text NOT NULL,
                metadata text NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                UNIQUE (aggregate_id, sequence)
            )
            """
        )
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_snapshots (
                aggregate_id text PRIMARY KEY,
                aggregate_type text NOT NULL,
                sequence bigint NOT NULL,
                entity_type text NOT NULL,
                entity_version integer NOT NULL,
                payload text NOT NULL,
                taken_at timestamptz NOT NULL
            )
            """
        )
        connection.execute(
            f'INSERT INTO "{schema}".trio_es_store (schema_version, last_position) VALUES (1, 2)'
        )
        connection.execute(
            f'INSERT INTO "{schema}".trio_es_events (position, aggregate_type, aggregate_id,'
            " sequence, event_type, event_version, payload, metadata) VALUES"
            " (1, 'bank_account', 'acc-1', 1, 'AccountOpened', 1, %s, '[]'),"
            " (2, 'bank_account', 'acc-1', 2, 'CustomerDepositedCash', 1, %s, '[]')",
            ('{"account_id":"acc-1"}', '{"amount":"5","new_balance":"5"}'),
        )


def version_2_tables(dsn: str, schema: str) -> None:
    """The store's tables as version 2 left them: version 1's, the key column and its index
    (keys unique per aggregate id, whatever its type), the key ``"opening"`` on acc-1's
    first event, and a snapshot of acc-1 at sequence 2."""
    version_1_tables(dsn, schema)
    with connect(dsn) as connection, connection.transaction():
        events = f'"{schema}".trio_es_events'
        connection.execute(f"ALTER TABLE {events} ADD COLUMN IF NOT EXISTS command_key text")
        connection.execute(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "trio_es_events_by_command_key" ON {events}'
            " (aggregate_id, command_key) WHERE command_key IS NOT NULL"
        )
        connection.execute(f"UPDATE {events} SET command_key = 'opening' WHERE sequence = 1")
        connection.execute(
            f"INSERT INTO \"{schema}\".trio_es_snapshots VALUES ('acc-1', 'bank_account', 2,"
            " 'BankAccount', 1, '{\"balance\":\"5\",\"opened\":true}', '2024-05-06T00:00:00Z')"
        )
        connection.execute(f'UPDATE "{schema}".trio_es_store SET schema_version = 2')


def version_3_tables(dsn: str, schema: str) -> None:
    """The store's tables as version 3 left them: version 2's with the aggregate type in
    the events' and snapshots' keys and in the key index, and the metadata
    ``[("user", "alice")]`` on acc-1's events."""
    version_2_tables(dsn, schema)
    events = f'"{schema}".trio_es_events'
    snapshots = f'"{schema}".trio_es_snapshots'
    with connect(dsn) as connection, connection.transaction():
        for table, kind in ((events, "u"), (snapshots, "p")):
            names = connection.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = %s",
                (table, kind),
            ).fetchall()
            for (name,) in names:
                connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        connection.execute(
            f"ALTER TABLE {events} ADD UNIQUE (aggregate_type, aggregate_id, sequence)"
        )
        connection.execute(
            f"ALTER TABLE {snapshots} ADD PRIMARY KEY (aggregate_type, aggregate_id)"
        )
        connection.execute(f'DROP INDEX IF EXISTS "{schema}"."trio_es_events_by_command_key"')
        connection.execute(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "trio_es_events_by_command_key" ON {events}'
            " (aggregate_type, aggregate_id, command_key) WHERE command_key IS NOT NULL"
        )
        connection.execute(f'UPDATE {events} SET metadata = \'[["user","alice"]]\'')
        connection.execute(f'UPDATE "{schema}".trio_es_store SET schema_version = 3')
