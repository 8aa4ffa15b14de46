"""The PostgreSQL store opened for an ``async with`` block (the Trio-native form)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from ..._codec.json_codec import Codec
from ..opening import serving
from .store import PostgresDatabase, PostgresEventStore, supervised, supervised_database

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")


def open_store(
    dsn: str,
    codec: Codec[EventT, EntityT],
    *,
    schema: str = "public",
    table_prefix: str = "trio_es_",
    max_readers: int = 4,
    connect_timeout: float = 10.0,
    retry_timeout: float = 10.0,
) -> AbstractAsyncContextManager[PostgresEventStore[EntityT, EventT]]:
    """Open the PostgreSQL store at ``dsn`` for the length of an ``async with`` block.

    Connects and creates the store's tables if need be; the options are
    :func:`supervised`'s. A server that cannot be reached, or tables that are not a
    store's, raise ``StoreUnavailable`` saying so, before the block runs. Leaving the
    block closes the store's connections.

    Example::

        dsn = "postgresql://postgres@127.0.0.1:5432/test"
        async with postgres_store.open(dsn, codec) as store, eventsourcing.open_system(
            store, handle, apply, BankAccount()
        ) as bank:
            await bank.execute("acc-1", OpenAccount("acc-1"))
    """
    store, spec = supervised(
        dsn,
        codec,
        schema=schema,
        table_prefix=table_prefix,
        max_readers=max_readers,
        connect_timeout=connect_timeout,
        retry_timeout=retry_timeout,
    )
    return serving(store, spec, f"the PostgreSQL store (schema {schema!r})")


def open_database(
    dsn: str,
    *,
    schema: str = "public",
    table_prefix: str = "trio_es_",
    max_readers: int = 4,
    connect_timeout: float = 10.0,
    retry_timeout: float = 10.0,
) -> AbstractAsyncContextManager[PostgresDatabase]:
    """Open the PostgreSQL database at ``dsn``, for many aggregate types, for a block.

    Get each aggregate type's store with ``database.event_store(codec)``; they share
    the tables, the writer and the global log. Otherwise as :func:`open`.

    Example::

        async with postgres_store.open_database(dsn, schema="shop") as database:
            carts = database.event_store(cart_codec)
    """
    database, spec = supervised_database(
        dsn,
        schema=schema,
        table_prefix=table_prefix,
        max_readers=max_readers,
        connect_timeout=connect_timeout,
        retry_timeout=retry_timeout,
    )
    return serving(database, spec, f"the PostgreSQL database (schema {schema!r})")
