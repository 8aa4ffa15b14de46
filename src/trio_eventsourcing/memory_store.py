"""The in-memory event store, as the seed's ``eventsourcing/memory_store``.

Example::

    from trio_eventsourcing import memory_store, process, static_supervisor

    events_name: process.Name[memory_store.GetEvents[str]] = process.new_name("events")
    snapshot_name: process.Name[memory_store.GetSnapshot[int]] = process.new_name("snapshots")
    store, store_spec = memory_store.supervised(
        events_name, snapshot_name, static_supervisor.OneForOne
    )
"""

from ._runtime.public import publish as _publish
from ._stores.memory.opening import open_store as open
from ._stores.memory.store import EventsMessage as EventsMessage
from ._stores.memory.store import GetEvents as GetEvents
from ._stores.memory.store import GetSnapshot as GetSnapshot
from ._stores.memory.store import MemoryDatabase as MemoryDatabase
from ._stores.memory.store import MemoryEventStore as MemoryEventStore
from ._stores.memory.store import MemoryLogEntry as MemoryLogEntry
from ._stores.memory.store import MemoryStore as MemoryStore
from ._stores.memory.store import MemoryTransaction as MemoryTransaction
from ._stores.memory.store import SnapshotsMessage as SnapshotsMessage
from ._stores.memory.store import read_log as read_log
from ._stores.memory.store import supervised as supervised

__all__ = [
    "EventsMessage",
    "GetEvents",
    "GetSnapshot",
    "MemoryDatabase",
    "MemoryEventStore",
    "MemoryLogEntry",
    "MemoryStore",
    "MemoryTransaction",
    "SnapshotsMessage",
    "open",
    "read_log",
    "supervised",
]

_publish(__name__, globals(), __all__)
