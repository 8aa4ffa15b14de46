"""The projections' public functions: run one supervised, reset it, follow the log.

Each takes the store as ``memory_store.supervised``, ``sqlite_store.supervised`` or
``postgres_store.supervised`` returned it (or its ``eventstore`` field) and asks it for its
log source (``_log_source``: see ``_core.log_source.HasLogSource``); the overloads tie the
type of the projection's entries, and of its transaction handle, to the store's.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, overload

import trio
from typing_extensions import Never, TypeAliasType

from .._core.errors import EventStoreError
from .._core.log import LogEntry
from .._core.log_source import DeadLetter, HasLogSource, LogRecord, LogSource
from .._core.store import EventStore
from .._runtime.actor import Started, StartResult
from .._runtime.checks import require_positive_int
from .._runtime.result import Ok, Result
from .._runtime.supervision import ChildSpecification, Transient, restart, worker
from .._stores.memory.store import MemoryEventStore, MemoryLogEntry, MemoryStore
from .._stores.postgres.store import PostgresEventStore, PostgresStore
from .._stores.sqlite.store import SqliteEventStore, SqliteStore
from .engine import ProjectionHandle, Runner
from .follow import following
from .in_memory import InMemoryCheckpoint
from .policies import CheckpointStorage, Projection, Start
from .selection import LogSelection

if TYPE_CHECKING:
    from .._stores.postgres.connection import Connection as PostgresConnection

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
TxT = TypeVar("TxT")

AnyStore = TypeAliasType(
    "AnyStore",
    MemoryEventStore[Any, Any]
    | MemoryStore[Any, Any]
    | SqliteEventStore[Any, Any]
    | SqliteStore[Any, Any]
    | PostgresEventStore[Any, Any]
    | PostgresStore[Any, Any]
    | LogSelection[Any, Any],
)
"""Any store projections run on, as its ``supervised`` returned it or its ``eventstore``,
or a :class:`LogSelection` of its log."""


def log_source(store: object) -> LogSource[Any, Any]:
    """The log source of a store (or of its ``eventstore`` field)."""
    state = store.eventstore if isinstance(store, EventStore) else store
    if isinstance(state, HasLogSource):
        return state._log_source()
    raise TypeError(
        "projections run on a store from memory_store.supervised(), "
        "sqlite_store.supervised() or postgres_store.supervised(), or on a selection "
        f"from projections.select(), got {store!r}"
    )


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a projection's name must be a non-empty str, got {name!r}")
    return name


@overload
def supervised(
    store: MemoryEventStore[EntityT, EventT] | MemoryStore[EntityT, EventT],
    projection: Projection[MemoryLogEntry[EventT], object],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
@overload
def supervised(
    store: SqliteEventStore[EntityT, EventT] | SqliteStore[EntityT, EventT],
    projection: Projection[LogEntry[EventT], sqlite3.Connection],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
@overload
def supervised(
    store: PostgresEventStore[EntityT, EventT] | PostgresStore[EntityT, EventT],
    projection: Projection[LogEntry[EventT], PostgresConnection],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
@overload
def supervised(
    store: LogSelection[EventT, Never],
    projection: Projection[MemoryLogEntry[EventT], object],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
@overload
def supervised(
    store: LogSelection[EventT, TxT],
    projection: Projection[LogEntry[EventT], TxT],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
# A projection whose handler takes any store's entries (``LogRecord``), typed before the
# call (``p = per_event(...)``): the store alone gives the event type. The overloads above
# cannot take it, as they solve the event type from the projection's entry type too.
@overload
def supervised(
    store: MemoryEventStore[EntityT, EventT]
    | MemoryStore[EntityT, EventT]
    | SqliteEventStore[EntityT, EventT]
    | SqliteStore[EntityT, EventT]
    | PostgresEventStore[EntityT, EventT]
    | PostgresStore[EntityT, EventT]
    | LogSelection[EventT, Any],
    projection: Projection[LogRecord[EventT], object],
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]: ...
def supervised(
    store: AnyStore, projection: Projection[Any, Any]
) -> tuple[ProjectionHandle, ChildSpecification[ProjectionHandle]]:
    """Describe a supervised run of ``projection`` on ``store``.

    Starting the child specification starts the projection's task: it loads the
    projection's checkpoint (or makes one at the start position), catches up with the
    log, then handles each new event as it commits. A restart, by its supervisor or of
    the whole process, resumes from the checkpoint. A projection made with
    ``checkpoint=InMemory`` keeps its checkpoint with the handle instead: each call of
    this function starts it afresh (its ``on_reset`` first, then from its start
    position), and a restart by its supervisor resumes from the checkpoint kept in
    memory. The child is ``Transient``: restarted
    after a crash, not after the :class:`Stop` policy stopped it. Add it to a supervisor
    after the store's own child specification. On PostgreSQL, start it in every process
    you like: one runs the projection, the others stand by and take over when it dies.

    Args:
        store: The event store from ``memory_store.supervised``,
            ``sqlite_store.supervised`` or ``postgres_store.supervised`` (or its
            ``eventstore`` field): the events of its aggregate type; or a
            :class:`LogSelection` from :func:`select`: the events it selects, of one or
            several aggregate types.
        projection: From :func:`per_event`, :func:`per_batch` or :func:`transactional`
            (the latter for stores with transactions only).

    Returns:
        ``(handle, child_specification)``: the handle gives :meth:`statistics()
        <ProjectionHandle.statistics>` and lives across restarts; the specification's
        start hands back the same handle.

    Raises:
        TypeError: If ``store`` is not a store, ``projection`` not a projection, or a
            transactional projection is given a store without transactions.

    Example::

        handle, projection_spec = projections.supervised(store, projection)
        supervisor = static_supervisor.new(OneForOne).add(store_spec).add(projection_spec)
    """
    source = log_source(store)
    if not isinstance(projection, Projection):
        raise TypeError(
            "supervised() takes a projection from projections.per_event(), per_batch() or "
            f"transactional(), got {projection!r}"
        )
    if projection.is_transactional and not source.transactional:
        raise TypeError(
            f"{source.description} has no transactions: projection {projection.name!r} is "
            "transactional; use per_event() or per_batch() instead"
        )
    if projection.checkpoint_storage is CheckpointStorage.MEMORY:
        source = InMemoryCheckpoint(source, projection._runner_lock)
    handle = ProjectionHandle._make(projection.name)
    runner = Runner(source, projection, handle)

    async def start(nursery: trio.Nursery) -> StartResult[ProjectionHandle]:
        return Ok(Started(await nursery.start(runner.run)))

    spec = restart(worker(start), Transient)
    return handle, replace(spec, label=f"projection {projection.name!r}")


async def reset(store: AnyStore, name: str) -> Result[None, EventStoreError]:
    """Reset projection ``name`` so that it rebuilds its read model from the first event.

    Sets the projection's checkpoint back to 0, with a reset pending, and removes its
    dead letters. The projection, when it next runs (at once, if it runs in this
    process; at its next poll or checkpoint write if it runs in another one), calls its
    ``on_reset`` hook to clear the read model, then handles the whole log again. A
    projection that never ran gets a checkpoint with the reset pending.

    Args:
        store: The store (as for :func:`supervised`); it must be running.
        name: The projection's name.

    Returns:
        ``Ok(None)``, or ``Error(EventStoreError)`` if the store could not write.

    Example::

        (await projections.reset(store, "balances")).unwrap()
    """
    source = log_source(store)
    return await source.reset(_check_name(name))


async def checkpoint(store: AnyStore, name: str) -> Result[int | None, EventStoreError]:
    """Return the stored checkpoint of projection ``name``: the last position it handled.

    ``Ok(None)`` if the projection has never run on this store.

    Example::

        position = (await projections.checkpoint(store, "balances")).unwrap()
    """
    loaded = await log_source(store).load_checkpoint(_check_name(name))
    if isinstance(loaded, Ok):
        return Ok(None if loaded.value is None else loaded.value.position)
    return loaded


async def dead_letters(store: AnyStore, name: str) -> Result[list[DeadLetter], EventStoreError]:
    """Return the events projection ``name`` skipped, oldest first, with their errors.

    Example::

        for letter in (await projections.dead_letters(store, "emails")).unwrap():
            print(letter.position, letter.aggregate_id, letter.error)
    """
    return await log_source(store).dead_letters(_check_name(name))


@overload
def follow_log(
    store: MemoryEventStore[EntityT, EventT] | MemoryStore[EntityT, EventT],
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[MemoryLogEntry[EventT]]]: ...
@overload
def follow_log(
    store: SqliteEventStore[EntityT, EventT] | SqliteStore[EntityT, EventT],
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[LogEntry[EventT]]]: ...
@overload
def follow_log(
    store: PostgresEventStore[EntityT, EventT] | PostgresStore[EntityT, EventT],
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[LogEntry[EventT]]]: ...
# A memory selection (no transactions: ``Never``) is also a ``LogSelection[EventT, Any]``:
# the first overload that matches wins, so it gets the memory store's entries.
@overload
def follow_log(  # pyright: ignore[reportOverlappingOverload]
    store: LogSelection[EventT, Never],
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[MemoryLogEntry[EventT]]]: ...
@overload
def follow_log(
    store: LogSelection[EventT, Any],
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[LogEntry[EventT]]]: ...
def follow_log(
    store: AnyStore,
    start_from: int | Start = 0,
    *,
    batch_size: int = 100,
    poll_interval: float | None = None,
) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[Any]]:
    """Follow the global log: the entries after ``start_from``, then each one as it commits.

    An ``async with`` block gives a channel to iterate; the iteration never ends on its
    own (leave the block to stop). Positions strictly increase and none is skipped (see
    the store's ordering rule). New entries are seen at once when they are committed in
    this process, and within ``poll_interval`` when another process commits them.

    Args:
        store: The store (as for :func:`supervised`).
        start_from: A position (entries after it: ``0`` for all), :data:`Origin` (the
            same as ``0``) or :data:`Current` (only entries committed after the block is
            entered).
        batch_size: The most entries read from the store at once.
        poll_interval: Seconds between polls when no wake-up comes; ``None``: the
            store's default.

    Returns:
        An async context manager whose value is a ``trio.abc.ReceiveChannel`` of log
        entries (``sqlite_store.LogEntry``, which PostgreSQL shares, or
        ``memory_store.MemoryLogEntry``).

    Raises:
        LogReadFailed: Out of the ``async with`` block, when the store cannot be read.
        TypeError, ValueError: At the call, for a wrong argument.

    Example::

        async with projections.follow_log(store, start_from=0, batch_size=500) as entries:
            async for entry in entries:
                print(entry.position, entry.envelope.aggregate_id, entry.envelope.payload)
    """
    source = log_source(store)
    if not isinstance(start_from, Start):
        if isinstance(start_from, bool) or not isinstance(start_from, int):
            raise TypeError(f"start_from must be a position or a Start, got {start_from!r}")
        if start_from < 0:
            raise ValueError(f"start_from must be 0 or more, got {start_from}")
    size = require_positive_int("batch_size", batch_size)
    if poll_interval is None:
        poll = source.poll_interval
    elif isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
        raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
    elif not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    else:
        poll = poll_interval
    return following(source, start_from, size, poll)
