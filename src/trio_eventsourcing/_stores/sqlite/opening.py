"""The SQLite store opened for an ``async with`` block (the Trio-native form)."""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from ..._codec.json_codec import Codec
from ..opening import serving
from .schema import Synchronous
from .store import SqliteDatabase, SqliteEventStore, supervised, supervised_database

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")


def open_store(
    path: str | os.PathLike[str],
    codec: Codec[EventT, EntityT],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
    max_readers: int = 4,
) -> AbstractAsyncContextManager[SqliteEventStore[EntityT, EventT]]:
    """Open the SQLite store at ``path`` for the length of an ``async with`` block.

    The file is created with the store's schema if need be; the options are
    :func:`supervised`'s. A file that is not a trio-eventsourcing store (or was written by
    a newer version) raises ``StoreUnavailable`` saying so, before the block runs, and is
    left untouched. Leaving the block closes the store, after the systems opened inside
    it have shut down.

    Example::

        async with sqlite_store.open("bank.db", codec) as store, eventsourcing.open_system(
            store, handle, apply, BankAccount()
        ) as bank:
            await bank.execute("acc-1", OpenAccount("acc-1"))
    """
    store, spec = supervised(
        path,
        codec,
        synchronous=synchronous,
        busy_timeout=busy_timeout,
        max_readers=max_readers,
    )
    return serving(store, spec, f"the SQLite store {os.fspath(path)!r}")


def open_database(
    path: str | os.PathLike[str],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 5.0,
    max_readers: int = 4,
) -> AbstractAsyncContextManager[SqliteDatabase]:
    """Open the SQLite database at ``path``, for many aggregate types, for a block.

    Get each aggregate type's store with ``database.event_store(codec)``; they share
    the file's writer and its global log. Otherwise as :func:`open`.

    Example::

        async with sqlite_store.open_database("shop.db") as database:
            carts, orders = database.event_store(cart_codec), database.event_store(order_codec)
    """
    database, spec = supervised_database(
        path, synchronous=synchronous, busy_timeout=busy_timeout, max_readers=max_readers
    )
    return serving(database, spec, f"the SQLite database {os.fspath(path)!r}")
