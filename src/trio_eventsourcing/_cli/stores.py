"""Opening a store for the command line: the inspector its DB argument names.

A ``postgresql://`` URL or a libpq keyword string opens a PostgreSQL store's tables;
anything else is an SQLite file. Each store kind gives its own inspector
(:mod:`.sqlite_inspector`, :mod:`.postgres_inspector`), both built on the records of
:mod:`.inspect`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import USAGE, CliError, is_postgres_dsn
from .inspect import Inspector
from .postgres_inspector import PostgresInspector
from .sqlite_inspector import SqliteInspector


@contextlib.contextmanager
def open_store(
    db: str, *, schema: str | None, table_prefix: str | None, write: bool = False
) -> Iterator[Inspector]:
    """Open the store a DB argument names, checked, for the duration of a ``with`` block.

    Args:
        db: An SQLite path, or a ``postgresql://`` URL.
        schema: The PostgreSQL schema of the store's tables (``None``: the default).
        table_prefix: The PostgreSQL prefix of the store's tables (``None``: the default).
        write: Open for writing (only ``projections reset`` does).

    Raises:
        CliError: The store cannot be opened, or is not a trio-eventsourcing store.
    """
    inspector: Inspector
    if is_postgres_dsn(db):
        inspector = PostgresInspector.open(
            db, schema=schema, table_prefix=table_prefix, write=write
        )
    else:
        if schema is not None or table_prefix is not None:
            raise CliError(
                "--schema and --table-prefix choose tables on a PostgreSQL server; "
                "an SQLite file holds one store",
                code=USAGE,
            )
        inspector = SqliteInspector.open(db, write=write)
    try:
        yield inspector
    finally:
        inspector.close()
