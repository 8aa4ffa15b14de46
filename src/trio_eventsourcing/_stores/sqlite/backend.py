"""The SQLite backend, as the command line finds it: any path, opened by its inspector.

A DB argument that no other backend claims (a PostgreSQL URL) names an SQLite file:
this backend comes last in ``_stores.backends``. The inspector (:mod:`.inspector`) is
imported when a file is opened.
"""

from __future__ import annotations

from ..inspection.backend import Backend
from ..inspection.errors import InspectionError
from ..inspection.records import Inspector


def claims(db: str) -> bool:
    """Every DB argument: a path names an SQLite file (asked last, after the others)."""
    return True


def open_inspector(
    db: str, *, schema: str | None, table_prefix: str | None, write: bool
) -> Inspector:
    """Open the SQLite file at ``db`` (see ``SqliteInspector.open``); it takes no schema.

    Raises:
        InspectionError: A schema or table prefix given (a usage error), or the file is
            not a store this library can read.
    """
    if schema is not None or table_prefix is not None:
        raise InspectionError(
            "--schema and --table-prefix choose tables on a PostgreSQL server; "
            "an SQLite file holds one store",
            usage=True,
        )
    from .inspector import SqliteInspector

    return SqliteInspector.open(db, write=write)


BACKEND = Backend("SQLite", claims, open_inspector)
"""The SQLite backend, for ``_stores.backends``."""
