"""The PostgreSQL projections' tables, next to the store's, and their SQL.

The process managers' tables (``process_tables.py``) are created with them.

Two tables beside ``<prefix>events``, with the same columns as SQLite's (see
``docs/projections.rst``): ``<prefix>projection_checkpoints`` and
``<prefix>projection_dead_letters``. They are created when a projection first needs them
(``CREATE TABLE IF NOT EXISTS``, under the store's advisory lock so that processes doing
it at once do not collide), so a store whose tables were created before projections
existed gets them without a migration. Every function here blocks: run it in a thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import final

from .process_tables import ProcessNames
from .schema import LOCK_CLASS, Names

if TYPE_CHECKING:
    from .connection import Connection

PROJECTION_LOCK_CLASS = int.from_bytes(b"TrEP", "big")
"""First key of the session advisory lock a projection's runner holds ("TrEP")."""


@final
class ProjectionNames:
    """The quoted names of one store's projection tables, and the SQL that uses them."""

    __slots__ = (
        "add_dead_letter",
        "checkpoints",
        "create_checkpoint",
        "dead_letters",
        "drop_dead_letters",
        "list_dead_letters",
        "load_checkpoint",
        "lock_key",
        "move_checkpoint",
        "processes",
        "reset_checkpoint",
        "store_lock_key",
    )

    def __init__(self, names: Names, prefix: str, schema: str) -> None:
        self.processes = ProcessNames(prefix, schema)
        self.checkpoints = f'"{schema}"."{prefix}projection_checkpoints"'
        self.dead_letters = f'"{schema}"."{prefix}projection_dead_letters"'
        self.store_lock_key = names.lock_key
        self.lock_key = f"{names.lock_key} projection"
        self.load_checkpoint = (
            f"SELECT position, reset_pending FROM {self.checkpoints}"
            " WHERE aggregate_type = %s AND name = %s"
        )
        self.create_checkpoint = (
            f"INSERT INTO {self.checkpoints} (aggregate_type, name, position, reset_pending)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
        )
        # Under READ COMMITTED a concurrent update makes this one wait, then look at the
        # row again: a runner that lost the race changes nothing.
        self.move_checkpoint = (
            f"UPDATE {self.checkpoints} SET position = %s, reset_pending = %s,"
            " updated_at = clock_timestamp()"
            " WHERE aggregate_type = %s AND name = %s AND position = %s AND reset_pending = %s"
        )
        self.reset_checkpoint = (
            f"INSERT INTO {self.checkpoints} (aggregate_type, name, position, reset_pending)"
            " VALUES (%s, %s, 0, true) ON CONFLICT (aggregate_type, name) DO UPDATE"
            " SET position = 0, reset_pending = true, updated_at = clock_timestamp()"
        )
        self.add_dead_letter = (
            f"INSERT INTO {self.dead_letters} (aggregate_type, projection, position,"
            " aggregate_id, sequence, event_type, error, recorded_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.drop_dead_letters = (
            f"DELETE FROM {self.dead_letters} WHERE aggregate_type = %s AND projection = %s"
        )
        self.list_dead_letters = (
            "SELECT position, aggregate_id, sequence, event_type, error, recorded_at"
            f" FROM {self.dead_letters} WHERE aggregate_type = %s AND projection = %s"
            " ORDER BY id"
        )

    def ddl(self) -> list[str]:
        """The statements that create the tables if they are missing."""
        return [
            f"""
            CREATE TABLE IF NOT EXISTS {self.checkpoints} (
                aggregate_type text NOT NULL,
                name text NOT NULL,
                position bigint NOT NULL CHECK (position >= 0),
                reset_pending boolean NOT NULL DEFAULT false,
                updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (aggregate_type, name)
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.dead_letters} (
                id bigserial PRIMARY KEY,
                aggregate_type text NOT NULL,
                projection text NOT NULL,
                position bigint NOT NULL,
                aggregate_id text NOT NULL,
                sequence bigint NOT NULL,
                event_type text NOT NULL,
                error text NOT NULL,
                recorded_at timestamptz NOT NULL
            )
            """,
            f"CREATE INDEX IF NOT EXISTS {_index_name(self.dead_letters)}"
            f" ON {self.dead_letters} (aggregate_type, projection, position)",
            *self.processes.ddl(),
        ]

    def ensure(self, connection: Connection) -> None:
        """Create the tables if they are missing, in one transaction (blocks).

        Raises:
            psycopg.Error: The server failed, or the user may not create tables.
        """
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, self.store_lock_key)
            )
            for statement in self.ddl():
                connection.execute(statement)


def _index_name(table: str) -> str:
    # `"schema"."prefix_projection_dead_letters"` -> `"prefix_projection_dead_letters_by_name"`:
    # an index lives in its table's schema, and takes an unqualified name.
    unqualified = table.rsplit(".", 1)[1].strip('"')
    return f'"{unqualified}_by_name"'
