"""The SQLite store's process manager tables (schema version 6) and their SQL.

Four tables, keyed by scope (the aggregate type a one-type selection reads, or the
selection's description) and manager name; see ``_stores/process_state.py``. Due times
are seconds since the Unix epoch, as REAL.
"""

from __future__ import annotations

from ..process_state import ProcessStatements

PROCESS_TABLES = (
    """
    CREATE TABLE process_manager_positions (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        updated_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        PRIMARY KEY (scope, name)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE process_manager_instances (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        instance TEXT NOT NULL,
        state_type TEXT NOT NULL,
        state_version INTEGER NOT NULL,
        state TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        PRIMARY KEY (scope, name, instance)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE process_manager_outbox (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        instance TEXT NOT NULL,
        target TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        command_type TEXT NOT NULL,
        command_version INTEGER NOT NULL,
        command TEXT NOT NULL,
        command_key TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        causation_id TEXT NOT NULL,
        PRIMARY KEY (scope, name, sequence)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE process_manager_timers (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        instance TEXT NOT NULL,
        timer TEXT NOT NULL,
        due REAL NOT NULL,
        set_by TEXT NOT NULL,
        PRIMARY KEY (scope, name, instance, timer)
    ) WITHOUT ROWID
    """,
)
"""The statements that create the tables (in the schema, and in the upgrade from 5)."""

PROCESS_TABLE_NAMES = frozenset(
    {
        "process_manager_positions",
        "process_manager_instances",
        "process_manager_outbox",
        "process_manager_timers",
    }
)

_KEY = "scope = ? AND name = ?"

STATEMENTS = ProcessStatements(
    load_position=f"SELECT position FROM process_manager_positions WHERE {_KEY}",
    create_position=(
        "INSERT OR IGNORE INTO process_manager_positions (scope, name, position) VALUES (?, ?, ?)"
    ),
    move_position=(
        "UPDATE process_manager_positions SET position = ?,"
        " updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
        f" WHERE {_KEY} AND position = ?"
    ),
    load_instances=(
        "SELECT instance, state_type, state_version, state, correlation_id"
        f" FROM process_manager_instances WHERE {_KEY} ORDER BY instance"
    ),
    upsert_instance=(
        "INSERT OR REPLACE INTO process_manager_instances (scope, name, instance, state_type,"
        " state_version, state, correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    delete_instance=f"DELETE FROM process_manager_instances WHERE {_KEY} AND instance = ?",
    load_outbox=(
        "SELECT sequence, instance, target, aggregate_id, command_type, command_version,"
        " command, command_key, correlation_id, causation_id"
        f" FROM process_manager_outbox WHERE {_KEY} ORDER BY sequence"
    ),
    insert_command=(
        "INSERT OR IGNORE INTO process_manager_outbox (scope, name, sequence, instance, target,"
        " aggregate_id, command_type, command_version, command, command_key, correlation_id,"
        " causation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    delete_command=f"DELETE FROM process_manager_outbox WHERE {_KEY} AND sequence = ?",
    load_timers=(
        f"SELECT instance, timer, due, set_by FROM process_manager_timers WHERE {_KEY} ORDER BY due"
    ),
    upsert_timer=(
        "INSERT OR REPLACE INTO process_manager_timers (scope, name, instance, timer, due,"
        " set_by) VALUES (?, ?, ?, ?, ?, ?)"
    ),
    delete_timer=f"DELETE FROM process_manager_timers WHERE {_KEY} AND instance = ? AND timer = ?",
)
"""The SQL of ``_stores/process_state.py`` for SQLite."""
