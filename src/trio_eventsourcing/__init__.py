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
from ._api import aggregate_stats as aggregate_stats
from ._api import execute as execute
from ._api import execute_with_metadata as execute_with_metadata
from ._api import execute_with_response as execute_with_response
from ._api import latest_snapshot as latest_snapshot
from ._api import load_aggregate as load_aggregate
from ._api import load_events as load_events
from ._api import load_events_from as load_events_from
from ._api import system_stats as system_stats
from ._errors import ActorTimeout as ActorTimeout
from ._errors import CallbackRaised as CallbackRaised
from ._errors import CommandAlreadyStored as CommandAlreadyStored
from ._errors import ConcurrencyConflict as ConcurrencyConflict
from ._errors import DomainError as DomainError
from ._errors import EntityNotFound as EntityNotFound
from ._errors import EventSourcingError as EventSourcingError
from ._errors import EventSourcingErrorBase as EventSourcingErrorBase
from ._errors import EventStoreError as EventStoreError
from ._errors import NonPositiveArgument as NonPositiveArgument
from ._errors import OutcomeUnknown as OutcomeUnknown
from ._errors import TransactionFailed as TransactionFailed
from ._errors import TransactionRolledBack as TransactionRolledBack
from ._errors import describe_error as describe_error
from ._eventsourcing import AggregateActorState as AggregateActorState
from ._eventsourcing import Apply as Apply
from ._eventsourcing import EventSourcing as EventSourcing
from ._eventsourcing import GetEventSourcingActor as GetEventSourcingActor
from ._eventsourcing import Handle as Handle
from ._eventsourcing import ManagerMessage as ManagerMessage
from ._eventsourcing import ManagerState as ManagerState
from ._eventsourcing import Query as Query
from ._eventsourcing import QueryActorStarted as QueryActorStarted
from ._eventsourcing import manager_state as manager_state
from ._eventsourcing import supervised as supervised
from ._public import publish as _publish
from ._result import Error as Error
from ._result import Ok as Ok
from ._result import Result as Result
from ._store import EventStore as EventStore
from ._store import StoreError as StoreError
from ._store import StoreResult as StoreResult
from ._store import Transaction as Transaction
from ._types import Aggregate as Aggregate
from ._types import AggregateId as AggregateId
from ._types import AggregateMessage as AggregateMessage
from ._types import AggregateStats as AggregateStats
from ._types import EventEnvelop as EventEnvelop
from ._types import ExecuteCommand as ExecuteCommand
from ._types import GetAggregateStats as GetAggregateStats
from ._types import GetSystemStats as GetSystemStats
from ._types import LoadAggregate as LoadAggregate
from ._types import LoadAllEvents as LoadAllEvents
from ._types import LoadEvents as LoadEvents
from ._types import LoadLatestSnapshot as LoadLatestSnapshot
from ._types import MemoryStoreEventEnvelop as MemoryStoreEventEnvelop
from ._types import Metadata as Metadata
from ._types import ProcessEvents as ProcessEvents
from ._types import QueryActor as QueryActor
from ._types import QueryMessage as QueryMessage
from ._types import SerializedEventEnvelop as SerializedEventEnvelop
from ._types import Snapshot as Snapshot
from ._types import SnapshotConfig as SnapshotConfig
from ._types import SystemStats as SystemStats
from ._values import Frequency as Frequency
from ._values import Timeout as Timeout
from ._values import frequency as frequency
from ._values import timeout as timeout

__all__ = [
    "ActorTimeout",
    "Aggregate",
    "AggregateActorState",
    "AggregateId",
    "AggregateMessage",
    "AggregateStats",
    "Apply",
    "CallbackRaised",
    "CommandAlreadyStored",
    "ConcurrencyConflict",
    "DomainError",
    "EntityNotFound",
    "Error",
    "EventEnvelop",
    "EventSourcing",
    "EventSourcingError",
    "EventSourcingErrorBase",
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
    "ProcessEvents",
    "Query",
    "QueryActor",
    "QueryActorStarted",
    "QueryMessage",
    "Result",
    "SerializedEventEnvelop",
    "Snapshot",
    "SnapshotConfig",
    "StoreError",
    "StoreResult",
    "SystemStats",
    "Timeout",
    "Transaction",
    "TransactionFailed",
    "TransactionRolledBack",
    "aggregate_stats",
    "describe_error",
    "execute",
    "execute_with_metadata",
    "execute_with_response",
    "frequency",
    "latest_snapshot",
    "load_aggregate",
    "load_events",
    "load_events_from",
    "manager_state",
    "supervised",
    "system_stats",
    "timeout",
]

# Ok and Error report ``trio_eventsourcing.result``, where they are documented.
_publish(__name__, globals(), [n for n in __all__ if n not in {"Ok", "Error", "Result"}])
