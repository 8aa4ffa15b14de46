"""The PostgreSQL server the benchmarks measure on, and statements run on it directly."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
"""The server when ``$TRIO_ES_POSTGRES_DSN`` names none."""


def postgres_dsn() -> str:
    """``$TRIO_ES_POSTGRES_DSN``, or :data:`DEFAULT_DSN`."""
    return os.environ.get("TRIO_ES_POSTGRES_DSN") or DEFAULT_DSN


def answering_dsn() -> str | None:
    """The server to measure on, or ``None`` when psycopg is missing or none answers."""
    try:
        import psycopg
    except ImportError:
        return None
    dsn = postgres_dsn()
    try:
        with psycopg.connect(dsn, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return None
    return dsn


def postgres_execute(dsn: str, sql: str) -> None:
    """Run ``sql`` (a schema made or dropped, say) on its own connection, autocommitted."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.encode())


@contextlib.contextmanager
def schema_of(kind: str, location: str, dsn: str) -> Iterator[None]:
    """For the block, the schema ``location`` when ``kind`` is ``"postgres"``, then dropped.

    Other kinds of store need nothing made: the block runs as it is.
    """
    if kind != "postgres":
        yield
        return
    postgres_execute(dsn, f'CREATE SCHEMA "{location}"')
    try:
        yield
    finally:
        postgres_execute(dsn, f'DROP SCHEMA IF EXISTS "{location}" CASCADE')
