"""Durable projections: read models built from the global log, that never miss an event.

A projection has a name, a handler and a checkpoint kept where its read model is: in the
store (:data:`InStore`, the default) or, for a read model in this process, in memory
(:data:`InMemory`). It reads the log from its checkpoint, handles each event (at least
once; exactly once in effect with :func:`transactional`), survives restarts and wakes at
once when an event commits. Its error policy retries, skips to a dead letter, or stops.

Example::

    from trio_eventsourcing import projections, sqlite_store, static_supervisor

    balances: dict[str, Decimal] = {}

    def on_event(entry: sqlite_store.LogEntry[BankAccountEvent]) -> None:
        if isinstance(entry.envelope.payload, CustomerDepositedCash):
            balances[entry.envelope.aggregate_id] = entry.envelope.payload.new_balance

    store, store_spec = sqlite_store.supervised("bank.db", codec)
    # The read model is a dict, gone with the process: so is the checkpoint.
    balances_projection = projections.per_event(
        "balances", on_event, on_reset=balances.clear, checkpoint=projections.InMemory
    )
    handle, balances_spec = projections.supervised(store, balances_projection)
    supervisor = static_supervisor.new(static_supervisor.OneForOne)
    async with supervisor.add(store_spec).add(balances_spec).open():
        ...
"""

from typing import Final as _Final

# The stores' modules set ``__module__`` of the log entries handlers receive: import them
# first, so that those report their public module whichever module was imported first.
from . import memory_store as _memory_store  # noqa: F401
from . import sqlite_store as _sqlite_store  # noqa: F401
from ._core.log_source import DeadLetter as DeadLetter
from ._core.log_source import LogRecord as LogRecord
from ._projections.api import AnyStore as AnyStore
from ._projections.api import checkpoint as checkpoint
from ._projections.api import dead_letters as dead_letters
from ._projections.api import follow_log as follow_log
from ._projections.api import reset as reset
from ._projections.api import supervised as supervised
from ._projections.engine import ProjectionHandle as ProjectionHandle
from ._projections.engine import ProjectionState as ProjectionState
from ._projections.engine import ProjectionStatistics as ProjectionStatistics
from ._projections.engine import ProjectionStopped as ProjectionStopped
from ._projections.follow import LogReadFailed as LogReadFailed
from ._projections.policies import BatchHandler as BatchHandler
from ._projections.policies import CheckpointStorage as CheckpointStorage
from ._projections.policies import Current as _Current
from ._projections.policies import ErrorPolicy as ErrorPolicy
from ._projections.policies import EventHandler as EventHandler
from ._projections.policies import InMemory as _InMemory
from ._projections.policies import InStore as _InStore
from ._projections.policies import Origin as _Origin
from ._projections.policies import Projection as Projection
from ._projections.policies import ResetHook as ResetHook
from ._projections.policies import Retry as Retry
from ._projections.policies import Skip as Skip
from ._projections.policies import Start as Start
from ._projections.policies import Stop as Stop
from ._projections.policies import TransactionalHandler as TransactionalHandler
from ._projections.policies import TransactionalResetHook as TransactionalResetHook
from ._projections.policies import per_batch as per_batch
from ._projections.policies import per_event as per_event
from ._projections.policies import transactional as transactional
from ._projections.selection import LogSelection as LogSelection
from ._projections.selection import select as select
from ._runtime.public import publish as _publish

Origin: _Final[Start] = _Origin
"""A projection's first run starts from the first event of the log (the default)."""
Current: _Final[Start] = _Current
"""A projection's first run starts after the events already in the log."""
InStore: _Final[CheckpointStorage] = _InStore
"""A projection keeps its checkpoint in the store, for a read model that outlives the
process, such as a table (the default)."""
InMemory: _Final[CheckpointStorage] = _InMemory
"""A projection keeps its checkpoint in memory, for a read model in this process, such as
a ``dict``, built from the start by each run of the process."""

__all__ = [
    "AnyStore",
    "BatchHandler",
    "CheckpointStorage",
    "Current",
    "DeadLetter",
    "ErrorPolicy",
    "EventHandler",
    "InMemory",
    "InStore",
    "LogReadFailed",
    "LogRecord",
    "LogSelection",
    "Origin",
    "Projection",
    "ProjectionHandle",
    "ProjectionState",
    "ProjectionStatistics",
    "ProjectionStopped",
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
    "select",
    "supervised",
    "transactional",
]

# The classes and functions; the aliases (TypeAliasType) and Enum members keep theirs.
_publish(
    __name__,
    globals(),
    [
        "CheckpointStorage",
        "DeadLetter",
        "LogReadFailed",
        "LogRecord",
        "LogSelection",
        "Projection",
        "ProjectionHandle",
        "ProjectionState",
        "ProjectionStatistics",
        "ProjectionStopped",
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
        "select",
        "supervised",
        "transactional",
    ],
)
