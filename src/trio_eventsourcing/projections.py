"""Durable projections: read models built from the global log, that never miss an event.

A projection has a name, a handler and a checkpoint kept in the store. It reads the log
from its checkpoint, handles each event (at least once; exactly once in effect with
:func:`transactional` on SQLite), survives restarts and wakes at once when an event
commits. Its error policy retries, skips to a dead letter, or stops.

Example::

    from trio_eventsourcing import projections, sqlite_store, static_supervisor

    balances: dict[str, Decimal] = {}

    def on_event(entry: sqlite_store.LogEntry[BankAccountEvent]) -> None:
        if isinstance(entry.envelope.payload, CustomerDepositedCash):
            balances[entry.envelope.aggregate_id] = entry.envelope.payload.balance

    store, store_spec = sqlite_store.supervised("bank.db", codec)
    handle, balances_spec = projections.supervised(
        store, projections.per_event("balances", on_event, on_reset=balances.clear)
    )
    supervisor = static_supervisor.new(static_supervisor.OneForOne)
    async with supervisor.add(store_spec).add(balances_spec).open():
        ...
"""

from typing import Final as _Final

# The stores' modules set ``__module__`` of the log entries handlers receive: import them
# first, so that those report their public module whichever module was imported first.
from . import memory_store as _memory_store  # noqa: F401
from . import sqlite_store as _sqlite_store  # noqa: F401
from ._projection import BatchHandler as BatchHandler
from ._projection import Current as _Current
from ._projection import ErrorPolicy as ErrorPolicy
from ._projection import EventHandler as EventHandler
from ._projection import Origin as _Origin
from ._projection import Projection as Projection
from ._projection import ResetHook as ResetHook
from ._projection import Retry as Retry
from ._projection import Skip as Skip
from ._projection import Start as Start
from ._projection import Stop as Stop
from ._projection import TransactionalHandler as TransactionalHandler
from ._projection import TransactionalResetHook as TransactionalResetHook
from ._projection import per_batch as per_batch
from ._projection import per_event as per_event
from ._projection import transactional as transactional
from ._projection_api import AnyStore as AnyStore
from ._projection_api import checkpoint as checkpoint
from ._projection_api import dead_letters as dead_letters
from ._projection_api import follow_log as follow_log
from ._projection_api import reset as reset
from ._projection_api import supervised as supervised
from ._projection_engine import ProjectionHandle as ProjectionHandle
from ._projection_engine import ProjectionState as ProjectionState
from ._projection_engine import ProjectionStatistics as ProjectionStatistics
from ._projection_follow import LogReadFailed as LogReadFailed
from ._projection_source import DeadLetter as DeadLetter
from ._projection_source import LogRecord as LogRecord
from ._public import publish as _publish

Origin: _Final[Start] = _Origin
"""A projection's first run starts from the first event of the log (the default)."""
Current: _Final[Start] = _Current
"""A projection's first run starts after the events already in the log."""

__all__ = [
    "AnyStore",
    "BatchHandler",
    "Current",
    "DeadLetter",
    "ErrorPolicy",
    "EventHandler",
    "LogReadFailed",
    "LogRecord",
    "Origin",
    "Projection",
    "ProjectionHandle",
    "ProjectionState",
    "ProjectionStatistics",
    "ResetHook",
    "Retry",
    "Skip",
    "Start",
    "Stop",
    "TransactionalHandler",
    "TransactionalResetHook",
    "checkpoint",
    "dead_letters",
    "follow_log",
    "per_batch",
    "per_event",
    "reset",
    "supervised",
    "transactional",
]

# The classes and functions; the aliases (TypeAliasType) and Enum members keep theirs.
_publish(
    __name__,
    globals(),
    [
        "DeadLetter",
        "LogReadFailed",
        "LogRecord",
        "Projection",
        "ProjectionHandle",
        "ProjectionState",
        "ProjectionStatistics",
        "Retry",
        "Skip",
        "Start",
        "Stop",
        "checkpoint",
        "dead_letters",
        "follow_log",
        "per_batch",
        "per_event",
        "reset",
        "supervised",
        "transactional",
    ],
)
