"""Event sourcing on Trio, mirroring the Gleam library ``eventsourcing`` (v9).

Example::

    import trio_eventsourcing as eventsourcing

    spec = eventsourcing.supervised(
        name=name,
        eventstore=store,
        handle=handle,
        apply=apply,
        empty_state=BankAccount(),
        queries=[],
        snapshot_config=None,
    ).unwrap()
"""

# The public submodules set ``__module__`` of what they re-export: import them first, so
# that names report their public module however the package is imported.
from . import actor as actor
from . import codec as codec
from . import memory_store as memory_store
from . import process as process
from . import result as result
from . import static_supervisor as static_supervisor
from . import supervision as supervision
from ._core.api import PositionWaiter as PositionWaiter
from ._core.api import aggregate_stats as aggregate_stats
from ._core.api import event_reference as event_reference
from ._core.api import execute as execute
from ._core.api import execute_and_wait as execute_and_wait
from ._core.api import execute_with_metadata as execute_with_metadata
from ._core.api import execute_with_receipt as execute_with_receipt
from ._core.api import execute_with_response as execute_with_response
from ._core.api import latest_snapshot as latest_snapshot
from ._core.api import load_aggregate as load_aggregate
from ._core.api import load_events as load_events
from ._core.api import load_events_from as load_events_from
from ._core.api import system_stats as system_stats
from ._core.envelopes import MemoryStoreEventEnvelop as MemoryStoreEventEnvelop
from ._core.envelopes import Metadata as Metadata
from ._core.envelopes import SerializedEventEnvelop as SerializedEventEnvelop
from ._core.errors import ActorTimeout as ActorTimeout
from ._core.errors import CallbackRaised as CallbackRaised
from ._core.errors import CommandAlreadyStored as CommandAlreadyStored
from ._core.errors import ConcurrencyConflict as ConcurrencyConflict
from ._core.errors import DomainError as DomainError
from ._core.errors import EntityNotFound as EntityNotFound
from ._core.errors import EventSourcingError as EventSourcingError
from ._core.errors import EventSourcingErrorBase as EventSourcingErrorBase
from ._core.errors import EventStoreError as EventStoreError
from ._core.errors import NonPositiveArgument as NonPositiveArgument
from ._core.errors import OutcomeUnknown as OutcomeUnknown
from ._core.errors import StoreFailure as StoreFailure
from ._core.errors import TransactionFailed as TransactionFailed
from ._core.errors import TransactionRolledBack as TransactionRolledBack
from ._core.errors import describe_error as describe_error
from ._core.exceptions import AggregateNotFound as AggregateNotFound
from ._core.exceptions import CallbackFailed as CallbackFailed
from ._core.exceptions import CommandOutcomeUnknown as CommandOutcomeUnknown
from ._core.exceptions import CommandRejected as CommandRejected
from ._core.exceptions import ConflictAfterRetries as ConflictAfterRetries
from ._core.exceptions import EventSourcingException as EventSourcingException
from ._core.exceptions import StoreUnavailable as StoreUnavailable
from ._core.native import System as System
from ._core.native import open_system as open_system
from ._core.records import Aggregate as Aggregate
from ._core.records import AggregateId as AggregateId
from ._core.records import AggregateMessage as AggregateMessage
from ._core.records import AggregateStats as AggregateStats
from ._core.records import EventEnvelop as EventEnvelop
from ._core.records import ExecuteCommand as ExecuteCommand
from ._core.records import GetAggregateStats as GetAggregateStats
from ._core.records import GetSystemStats as GetSystemStats
from ._core.records import LoadAggregate as LoadAggregate
from ._core.records import LoadAllEvents as LoadAllEvents
from ._core.records import LoadEvents as LoadEvents
from ._core.records import LoadLatestSnapshot as LoadLatestSnapshot
from ._core.records import ProcessEvents as ProcessEvents
from ._core.records import QueryActor as QueryActor
from ._core.records import QueryMessage as QueryMessage
from ._core.records import Receipt as Receipt
from ._core.records import Snapshot as Snapshot
from ._core.records import SnapshotConfig as SnapshotConfig
from ._core.records import SystemStats as SystemStats
from ._core.store import EventStore as EventStore
from ._core.store import StoreError as StoreError
from ._core.store import StoreResult as StoreResult
from ._core.store import Transaction as Transaction
from ._core.system import AggregateActorState as AggregateActorState
from ._core.system import Apply as Apply
from ._core.system import EventSourcing as EventSourcing
from ._core.system import GetEventSourcingActor as GetEventSourcingActor
from ._core.system import Handle as Handle
from ._core.system import ManagerMessage as ManagerMessage
from ._core.system import ManagerState as ManagerState
from ._core.system import Query as Query
from ._core.system import QueryActorStarted as QueryActorStarted
from ._core.system import manager_state as manager_state
from ._core.system import supervised as supervised
from ._core.values import Frequency as Frequency
from ._core.values import Timeout as Timeout
from ._core.values import frequency as frequency
from ._core.values import timeout as timeout
from ._runtime.public import publish as _publish
from ._runtime.result import Error as Error
from ._runtime.result import Ok as Ok
from ._runtime.result import Result as Result

__all__ = [
    "ActorTimeout",
    "Aggregate",
    "AggregateActorState",
    "AggregateId",
    "AggregateMessage",
    "AggregateNotFound",
    "AggregateStats",
    "Apply",
    "CallbackFailed",
    "CallbackRaised",
    "CommandAlreadyStored",
    "CommandOutcomeUnknown",
    "CommandRejected",
    "ConcurrencyConflict",
    "ConflictAfterRetries",
    "DomainError",
    "EntityNotFound",
    "Error",
    "EventEnvelop",
    "EventSourcing",
    "EventSourcingError",
    "EventSourcingErrorBase",
    "EventSourcingException",
    "EventStore",
    "EventStoreError",
    "ExecuteCommand",
    "Frequency",
    "GetAggregateStats",
    "GetEventSourcingActor",
    "GetSystemStats",
    "Handle",
    "LoadAggregate",
    "LoadAllEvents",
    "LoadEvents",
    "LoadLatestSnapshot",
    "ManagerMessage",
    "ManagerState",
    "MemoryStoreEventEnvelop",
    "Metadata",
    "NonPositiveArgument",
    "Ok",
    "OutcomeUnknown",
    "PositionWaiter",
    "ProcessEvents",
    "Query",
    "QueryActor",
    "QueryActorStarted",
    "QueryMessage",
    "Receipt",
    "Result",
    "SerializedEventEnvelop",
    "Snapshot",
    "SnapshotConfig",
    "StoreError",
    "StoreFailure",
    "StoreResult",
    "StoreUnavailable",
    "System",
    "SystemStats",
    "Timeout",
    "Transaction",
    "TransactionFailed",
    "TransactionRolledBack",
    "aggregate_stats",
    "describe_error",
    "event_reference",
    "execute",
    "execute_and_wait",
    "execute_with_metadata",
    "execute_with_receipt",
    "execute_with_response",
    "frequency",
    "latest_snapshot",
    "load_aggregate",
    "load_events",
    "load_events_from",
    "manager_state",
    "open_system",
    "supervised",
    "system_stats",
    "timeout",
]

# Ok and Error report ``trio_eventsourcing.result``, where they are documented.
_publish(__name__, globals(), [n for n in __all__ if n not in {"Ok", "Error", "Result"}])
