"""Reading an SQLite store's file straight from disk, for the checker (not through the store)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.soak.checker import StoredEvent, StoredSnapshot, events_query, snapshots_query


def read_file(path: Path) -> tuple[str, list[StoredEvent], list[StoredSnapshot]]:
    """``PRAGMA integrity_check``'s verdict, every event and every snapshot of the file."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        integrity = "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
        events = [StoredEvent(*row) for row in connection.execute(events_query("events"))]
        snapshots = [
            StoredSnapshot(*row) for row in connection.execute(snapshots_query("snapshots"))
        ]
    return integrity, events, snapshots
