"""Opening a store for the command line: the inspector its DB argument names.

The backend that claims the DB argument (``_stores.backends``: a ``postgresql://`` URL
is a PostgreSQL server, anything else an SQLite file) opens its own inspector; the
command line knows none of them, only the interface of ``_stores.inspection``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._stores.backends import backend_for
from .._stores.inspection.records import Inspector
from .errors import store_errors


@contextlib.contextmanager
def open_store(
    db: str, *, schema: str | None, table_prefix: str | None, write: bool = False
) -> Iterator[Inspector]:
    """Open the store a DB argument names, checked, for the duration of a ``with`` block.

    A failure of the store, at its opening or in the block, is a :class:`CliError`.

    Args:
        db: An SQLite path, or a ``postgresql://`` URL.
        schema: The PostgreSQL schema of the store's tables (``None``: the default).
        table_prefix: The PostgreSQL prefix of the store's tables (``None``: the default).
        write: Open for writing (only ``projections reset`` does).

    Raises:
        CliError: The store cannot be opened, is not a trio-eventsourcing store, or a
            query on it failed.
    """
    with store_errors():
        inspector = backend_for(db).open_inspector(
            db, schema=schema, table_prefix=table_prefix, write=write
        )
        try:
            yield inspector
        finally:
            inspector.close()
