"""The PostgreSQL store's process manager tables, next to its projection tables, and their SQL.

Four tables beside ``<prefix>events``, with the same columns as SQLite's (see
``_stores/process_state.py``): ``<prefix>process_manager_positions``,
``<prefix>process_manager_instances``, ``<prefix>process_manager_outbox`` and
``<prefix>process_manager_timers``. They are created with the projection tables, when a
projection or a process manager first needs them.
"""

from __future__ import annotations

from typing_extensions import final

from ..process_state import ProcessStatements


@final
class ProcessNames:
    """The quoted names of one store's process manager tables, and the SQL that uses them."""

    __slots__ = ("instances", "outbox", "positions", "statements", "timers")

    def __init__(self, prefix: str, schema: str) -> None:
        self.positions = f'"{schema}"."{prefix}process_manager_positions"'
        self.instances = f'"{schema}"."{prefix}process_manager_instances"'
        self.outbox = f'"{schema}"."{prefix}process_manager_outbox"'
        self.timers = f'"{schema}"."{prefix}process_manager_timers"'
        key = "scope = %s AND name = %s"
        self.statements = ProcessStatements(
            load_position=f"SELECT position FROM {self.positions} WHERE {key}",
            create_position=(
                f"INSERT INTO {self.positions} (scope, name, position) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING"
            ),
            move_position=(
                f"UPDATE {self.positions} SET position = %s, updated_at = clock_timestamp()"
                f" WHERE {key} AND position = %s"
            ),
            load_instances=(
                "SELECT instance, state_type, state_version, state, correlation_id"
                f" FROM {self.instances} WHERE {key} ORDER BY instance"
            ),
            upsert_instance=(
                f"INSERT INTO {self.instances} (scope, name, instance, state_type, state_version,"
                " state, correlation_id) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (scope, name, instance) DO UPDATE SET"
                " state_type = excluded.state_type, state_version = excluded.state_version,"
                " state = excluded.state, correlation_id = excluded.correlation_id"
            ),
            delete_instance=f"DELETE FROM {self.instances} WHERE {key} AND instance = %s",
            load_outbox=(
                "SELECT sequence, instance, target, aggregate_id, command_type,"
                " command_version, command, command_key, correlation_id, causation_id"
                f" FROM {self.outbox} WHERE {key} ORDER BY sequence"
            ),
            insert_command=(
                f"INSERT INTO {self.outbox} (scope, name, sequence, instance, target,"
                " aggregate_id, command_type, command_version, command, command_key,"
                " correlation_id, causation_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING"
            ),
            delete_command=f"DELETE FROM {self.outbox} WHERE {key} AND sequence = %s",
            load_timers=(
                f"SELECT instance, timer, due, set_by FROM {self.timers} WHERE {key} ORDER BY due"
            ),
            upsert_timer=(
                f"INSERT INTO {self.timers} (scope, name, instance, timer, due, set_by)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (scope, name, instance, timer)"
                " DO UPDATE SET due = excluded.due, set_by = excluded.set_by"
            ),
            delete_timer=f"DELETE FROM {self.timers} WHERE {key} AND instance = %s AND timer = %s",
        )

    def ddl(self) -> list[str]:
        """The statements that create the tables if they are missing."""
        return [
            f"""
            CREATE TABLE IF NOT EXISTS {self.positions} (
                scope text NOT NULL,
                name text NOT NULL,
                position bigint NOT NULL CHECK (position >= 0),
                updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (scope, name)
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.instances} (
                scope text NOT NULL,
                name text NOT NULL,
                instance text NOT NULL,
                state_type text NOT NULL,
                state_version integer NOT NULL,
                state text NOT NULL,
                correlation_id text NOT NULL,
                PRIMARY KEY (scope, name, instance)
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.outbox} (
                scope text NOT NULL,
                name text NOT NULL,
                sequence bigint NOT NULL,
                instance text NOT NULL,
                target text NOT NULL,
                aggregate_id text NOT NULL,
                command_type text NOT NULL,
                command_version integer NOT NULL,
                command text NOT NULL,
                command_key text NOT NULL,
                correlation_id text NOT NULL,
                causation_id text NOT NULL,
                PRIMARY KEY (scope, name, sequence)
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.timers} (
                scope text NOT NULL,
                name text NOT NULL,
                instance text NOT NULL,
                timer text NOT NULL,
                due double precision NOT NULL,
                set_by text NOT NULL,
                PRIMARY KEY (scope, name, instance, timer)
            )
            """,
        ]
