"""The PostgreSQL event store, for many processes on many machines (``eventsourcing_postgres``).

Needs the ``postgres`` extra: ``pip install "trio-eventsourcing[postgres]"`` (psycopg 3).
Importing this module does not need it; :func:`supervised` does.

Example::

    from trio_eventsourcing import postgres_store
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
    store, store_spec = postgres_store.supervised("postgresql://app@db.example/bank", codec)
    # Add store_spec to a supervisor before the event-sourcing system that uses store.

``LogEntry`` is the same class as ``sqlite_store.LogEntry``: one log entry type for
every durable store.
"""

from ._core.log import LogEntry as LogEntry
from ._runtime.public import publish as _publish
from ._stores.postgres.opening import open_database as open_database
from ._stores.postgres.opening import open_store as open
from ._stores.postgres.schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._stores.postgres.store import PostgresDatabase as PostgresDatabase
from ._stores.postgres.store import PostgresEventStore as PostgresEventStore
from ._stores.postgres.store import PostgresStore as PostgresStore
from ._stores.postgres.store import PostgresStoreStatistics as PostgresStoreStatistics
from ._stores.postgres.store import PostgresTransaction as PostgresTransaction
from ._stores.postgres.store import read_log as read_log
from ._stores.postgres.store import supervised as supervised
from ._stores.postgres.store import supervised_database as supervised_database

__all__ = [
    "SCHEMA_VERSION",
    "LogEntry",
    "PostgresDatabase",
    "PostgresEventStore",
    "PostgresStore",
    "PostgresStoreStatistics",
    "PostgresTransaction",
    "open",
    "open_database",
    "read_log",
    "supervised",
    "supervised_database",
]

# Not all of __all__: publishing sets ``__module__``, and ``LogEntry`` belongs to
# sqlite_store (published below as such), while setting it through the ``PostgresEventStore``
# alias would rename ``EventStore`` itself. ``SCHEMA_VERSION`` is an int.
_publish(
    __name__,
    globals(),
    [
        "PostgresDatabase",
        "PostgresStore",
        "PostgresStoreStatistics",
        "PostgresTransaction",
        "open",
        "open_database",
        "read_log",
        "supervised",
        "supervised_database",
    ],
)

# ``LogEntry`` is shared (``_core.log``) and documented in sqlite_store, which publishes it
# too: published here as well, it names sqlite_store whichever façade is imported first.
_publish("trio_eventsourcing.sqlite_store", globals(), ["LogEntry"])
