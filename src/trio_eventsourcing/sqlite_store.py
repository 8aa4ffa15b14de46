"""The durable embedded event store: one SQLite file, no server (``eventsourcing_sqlite``).

Example::

    from trio_eventsourcing import sqlite_store, static_supervisor
    from trio_eventsourcing.codec import JsonCodec
    from trio_eventsourcing.examples.bank_account import (
        AccountOpened,
        BankAccount,
        CustomerDepositedCash,
        CustomerWithdrewCash,
    )

    codec = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[BankAccount],
        aggregate_type="bank_account",
    )
    store, store_spec = sqlite_store.supervised("bank.db", codec)
    # Add store_spec to a supervisor before the event-sourcing system that uses store.
"""

from ._core.log import LogEntry as LogEntry
from ._runtime.public import publish as _publish
from ._stores.sqlite.opening import open_database as open_database
from ._stores.sqlite.opening import open_store as open
from ._stores.sqlite.schema import APPLICATION_ID as APPLICATION_ID
from ._stores.sqlite.schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._stores.sqlite.schema import Synchronous as Synchronous
from ._stores.sqlite.store import SqliteDatabase as SqliteDatabase
from ._stores.sqlite.store import SqliteEventStore as SqliteEventStore
from ._stores.sqlite.store import SqliteStore as SqliteStore
from ._stores.sqlite.store import SqliteStoreStatistics as SqliteStoreStatistics
from ._stores.sqlite.store import SqliteTransaction as SqliteTransaction
from ._stores.sqlite.store import read_log as read_log
from ._stores.sqlite.store import supervised as supervised
from ._stores.sqlite.store import supervised_database as supervised_database

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "LogEntry",
    "SqliteDatabase",
    "SqliteEventStore",
    "SqliteStore",
    "SqliteStoreStatistics",
    "SqliteTransaction",
    "Synchronous",
    "open",
    "open_database",
    "read_log",
    "supervised",
    "supervised_database",
]

_publish(
    __name__,
    globals(),
    [
        "LogEntry",
        "SqliteDatabase",
        "SqliteStore",
        "SqliteStoreStatistics",
        "SqliteTransaction",
        "open",
        "open_database",
        "read_log",
        "supervised",
        "supervised_database",
    ],
)
