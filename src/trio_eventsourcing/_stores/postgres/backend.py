"""The PostgreSQL backend, as the command line finds it: a ``postgresql://`` URL.

The inspector (:mod:`.inspector`) is imported only when such a URL is given, and it
imports psycopg (the ``postgres`` extra) only then: the command line reads SQLite files
without it.
"""

from __future__ import annotations

from ..inspection.backend import Backend
from ..inspection.records import Inspector

POSTGRES_SCHEMES = ("postgresql", "postgres")
"""URL schemes that make a DB argument a PostgreSQL DSN rather than an SQLite path."""


def is_postgres_dsn(db: str) -> bool:
    """Whether the DB argument names a PostgreSQL server (by its URL scheme) not a file."""
    scheme, separator, _ = db.partition("://")
    return bool(separator) and scheme.lower() in POSTGRES_SCHEMES


def open_inspector(
    db: str, *, schema: str | None, table_prefix: str | None, write: bool
) -> Inspector:
    """Connect to the server ``db`` names and check the store's tables there.

    See ``PostgresInspector.open``.

    Raises:
        InspectionError: No driver, a DSN that does not parse, an unreachable server, or
            no store (or a newer one) in that schema under that prefix.
    """
    from .inspector import PostgresInspector

    return PostgresInspector.open(db, schema=schema, table_prefix=table_prefix, write=write)


BACKEND = Backend("PostgreSQL", is_postgres_dsn, open_inspector)
"""The PostgreSQL backend, for ``_stores.backends``."""
