"""The Trio-native face of an event-sourcing system: ``async with`` and ``await``.

:func:`open_system` runs a system for the length of a block and hands over a
:class:`System`, whose methods await their answer and raise the exceptions of
:mod:`.exceptions` instead of answering ``Error`` values. No timeout arguments: the
caller's cancel scope (``trio.fail_after``, ``trio.move_on_after``) bounds every wait.
Underneath runs the same system as the Gleam-shaped API, which can reach it through
:attr:`System.subject`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from typing_extensions import Never, final

from .._runtime.checks import require_positive_int
from .._runtime.process import Name, Subject, named_subject, new_name, receive_forever
from .._runtime.result import Error, Ok, Result
from .._runtime.running import running
from .api import (
    PositionWaiter,
    _check_key,
    _check_metadata,
    _trace,
    aggregate_stats,
    check_aggregate_id,
    checked_waiters,
    latest_snapshot,
    load_aggregate,
    load_events_from,
    system_stats,
    wait_for_receipt,
)
from .envelopes import Metadata
from .errors import EventSourcingError, EventStoreError, StoreFailure
from .exceptions import StoreUnavailable, could_not_start, raise_for
from .log_source import LogRecord
from .records import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    EventEnvelop,
    ExecuteCommand,
    QueryMessage,
    Receipt,
    Snapshot,
    SnapshotConfig,
    SystemStats,
)
from .store import EventStore
from .system import Apply, Handle, QueryFunction, _System, build_system
from .values import frequency

StoreT = TypeVar("StoreT")
EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")
TxT = TypeVar("TxT")
ValueT = TypeVar("ValueT")


@final
class System(Generic[EntityT, CommandT, EventT, ErrorT]):
    """A running event-sourcing system, as :func:`open_system` hands it over.

    Its methods await their answer. They raise :class:`CommandRejected` (carrying the
    domain error), :class:`StoreUnavailable`, :class:`CommandOutcomeUnknown`,
    :class:`ConflictAfterRetries`, :class:`CallbackFailed` or
    :class:`AggregateNotFound` where the Gleam-shaped functions answer ``Error``.

    Example::

        async with eventsourcing.open_system(store, handle, apply, BankAccount()) as bank:
            receipt = await bank.execute("acc-1", OpenAccount("acc-1"))
            account = await bank.load("acc-1")
    """

    __slots__ = ("_closed", "_name", "_system")

    _system: _System[Any, EntityT, CommandT, EventT, ErrorT, Any]
    _name: Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]
    _closed: bool

    def __init__(self, _private: Never) -> None:
        raise TypeError("System has no public constructor: open one with open_system()")

    @classmethod
    def _open(
        cls, system: _System[Any, EntityT, CommandT, EventT, ErrorT, Any]
    ) -> System[EntityT, CommandT, EventT, ErrorT]:
        self = object.__new__(cls)
        self._system = system
        self._name = system.name
        self._closed = False
        return self

    @property
    def subject(self) -> Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]:
        """The system's Subject, for the Gleam-shaped functions and process managers.

        Example::

            reply = eventsourcing.execute_with_response(bank.subject, "acc-1", cmd, [])
        """
        return named_subject(self._name)

    @property
    def name(self) -> Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]:
        """The Name the system's actor holds, for code that addresses actors by Name.

        Example::

            reply = eventsourcing.load_aggregate(process.named_subject(bank.name), "acc-1")
        """
        return self._name

    async def execute(
        self,
        aggregate_id: str,
        command: CommandT,
        *,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        caused_by: LogRecord[object] | None = None,
        consistency: Iterable[PositionWaiter] = (),
    ) -> Receipt:
        """Run ``command`` against the aggregate and return its :class:`Receipt`.

        Returns once the command's events are stored exactly once (a command that
        decides no events returns a receipt with no positions). Raises
        :class:`CommandRejected` if ``handle`` rejected it, and the other exceptions of
        :class:`EventSourcingException` if nothing was stored, or
        :class:`CommandOutcomeUnknown` if it may have been.

        Cancelled (by the caller's ``fail_after`` or ``move_on_after``) before it
        begins, the command is skipped: taken out of the aggregate's queue, unrun. Once
        begun, it runs to its end, stored whole or not at all, and this waits for it:
        the store's own timeouts bound that wait, and the cancellation takes effect at
        the caller's next checkpoint.

        ``idempotency_key``, ``correlation_id``, ``causation_id`` and ``caused_by`` are
        as in ``execute_with_response``; ``metadata`` is stored with every event; with
        ``consistency``, returns only once each read model named has the command's
        events (as ``execute_and_wait``). That wait is the caller's to cancel: cancelled
        there, the command is stored although ``Cancelled`` comes out.

        Example::

            with trio.fail_after(5):
                receipt = await bank.execute("acc-1", DepositMoney(Decimal(10)))
            print(receipt.sequence, receipt.position)
        """
        message: ExecuteCommand[CommandT, ErrorT] = ExecuteCommand(
            check_aggregate_id(aggregate_id),
            command,
            [] if metadata is None else _check_metadata(metadata),
            None,
            _check_key(idempotency_key),
            None,
            *_trace(correlation_id, causation_id, caused_by),
        )
        waiters = checked_waiters(consistency)
        self._check_open(aggregate_id)
        outcome = await self._system.call(message)
        if isinstance(outcome, Error):
            raise_for(aggregate_id, outcome.error)
        receipt = outcome.value
        if waiters:
            await wait_for_receipt(waiters, receipt)
        return receipt

    async def load(self, aggregate_id: str) -> Aggregate[EntityT]:
        """The aggregate's current state and sequence, after the commands sent before.

        Raises :class:`AggregateNotFound` for an aggregate in its empty state.

        Example::

            account = await bank.load("acc-1")
            print(account.entity.balance, account.sequence)
        """
        self._check_open(check_aggregate_id(aggregate_id))
        # An idle aggregate answers in this task; a busy one after its queue.
        loaded = await self._system.load_in_caller(aggregate_id)
        if loaded is None:
            loaded = await receive_forever(load_aggregate(self.subject, aggregate_id))
        return _value(aggregate_id, loaded)

    async def events(self, aggregate_id: str, start_from: int = 0) -> list[EventEnvelop[EventT]]:
        """The aggregate's events with a sequence greater than ``start_from``, in order.

        Example::

            for envelope in await bank.events("acc-1"):
                print(envelope.sequence, envelope.payload)
        """
        self._check_open(check_aggregate_id(aggregate_id))
        reply = load_events_from(self.subject, aggregate_id, start_from)
        return _value(aggregate_id, await receive_forever(reply))

    async def latest_snapshot(self, aggregate_id: str) -> Snapshot[EntityT] | None:
        """The aggregate's latest snapshot, or ``None`` if it has none.

        Example::

            snapshot = await bank.latest_snapshot("acc-1")
        """
        self._check_open(check_aggregate_id(aggregate_id))
        reply = latest_snapshot(self.subject, aggregate_id)
        return _value(aggregate_id, await receive_forever(reply))

    async def aggregate_stats(self, aggregate_id: str) -> AggregateStats:
        """The aggregate's :class:`AggregateStats` (zeros for an unknown one).

        Example::

            stats = await bank.aggregate_stats("acc-1")
            print(stats.event_count, stats.has_snapshot)
        """
        self._check_open(check_aggregate_id(aggregate_id))
        reply = aggregate_stats(self.subject, aggregate_id)
        return _value(aggregate_id, await receive_forever(reply))

    async def stats(self) -> SystemStats:
        """The system's :class:`SystemStats`: live queries, commands processed.

        Example::

            print((await bank.stats()).total_commands_processed)
        """
        self._check_open("")
        return await receive_forever(system_stats(self.subject))

    def _check_open(self, aggregate_id: str) -> None:
        if self._closed:
            raise StoreUnavailable(
                aggregate_id,
                EventStoreError(
                    "the event-sourcing system is closed: its open_system block has ended",
                    StoreFailure.NOT_RUNNING,
                ),
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<System {self._name!r}, {state}>"


def _value(aggregate_id: str, outcome: Result[ValueT, EventSourcingError[ErrorT]]) -> ValueT:
    if isinstance(outcome, Ok):
        return outcome.value
    raise_for(aggregate_id, outcome.error)


@asynccontextmanager
async def open_system(
    eventstore: EventStore[StoreT, EntityT, EventT, TxT],
    handle: Handle[EntityT, CommandT, EventT, ErrorT],
    apply: Apply[EntityT, EventT],
    empty_state: EntityT,
    *,
    snapshot_every: int | None = None,
    queries: Sequence[QueryFunction[EventT]] = (),
    name: str = "eventsourcing",
    max_retries: int = 3,
    load_timeout: float = 5.0,
    max_workers: int = 10_000,
    idle_timeout: float = 60.0,
    shutdown_timeout: float = 5.0,
) -> AsyncIterator[System[EntityT, CommandT, EventT, ErrorT]]:
    """Run an event-sourcing system for the length of an ``async with`` block.

    The system runs under a supervisor in a nursery of its own, so a script needs no
    supervisor and no Names. Leaving the block shuts it down in order: the commands it
    accepted run (for at most ``shutdown_timeout`` seconds), then the
    :class:`System` refuses more with :class:`StoreUnavailable`. The store must be
    running for as long (open it first, e.g. with ``sqlite_store.open``). What the
    block raises comes out as it was raised.

    Args:
        eventstore: The store, e.g. from ``memory_store.open()``.
        handle: ``handle(entity, command)`` returns ``Ok(events)`` or ``Error(domain_error)``.
        apply: ``apply(entity, event)`` returns the entity after the event.
        empty_state: The entity of an aggregate with no events.
        snapshot_every: Save a snapshot with every commit that reaches or crosses a
            multiple of this many events (``None``: no snapshots).
        queries: Functions called with the aggregate id and the envelopes of every
            committed command (in-process read models; a raising one is logged).
        name: The prefix of the system's Name, as logs and ``repr`` show it.
        max_retries: Retries of a command after a concurrency conflict.
        load_timeout: Seconds a cold aggregate may take to load.
        max_workers: Most aggregates with cached state at once (and most with a worker
            running their messages sent through ``subject``, at once).
        idle_timeout: Seconds after which an idle aggregate's cached state is dropped.
        shutdown_timeout: Seconds the shutdown waits for the commands accepted before it.

    Raises:
        TypeError, ValueError: If an argument is wrong, naming it.

    Example::

        async with memory_store.open() as store, eventsourcing.open_system(
            store, handle, apply, BankAccount()
        ) as bank:
            await bank.execute("acc-1", OpenAccount("acc-1"))
    """
    given_name: object = name
    if not isinstance(given_name, str) or not given_name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    snapshot_config = (
        None
        if snapshot_every is None
        else SnapshotConfig(
            frequency(require_positive_int("snapshot_every", snapshot_every)).unwrap()
        )
    )
    given_queries: object = queries
    if isinstance(given_queries, (str, bytes)) or not isinstance(given_queries, Sequence):
        raise TypeError(f"queries must be a sequence of functions, got {queries!r}")
    named: list[tuple[Name[QueryMessage[EventT]], QueryFunction[EventT]]] = []
    for index, query in enumerate(queries):
        if not callable(query):
            raise TypeError(f"queries[{index}] must be a function, got {query!r}")
        named.append((new_name(f"{name}-query-{index}"), query))
    system, spec = build_system(
        new_name(name),
        eventstore,
        handle,
        apply,
        empty_state,
        named,
        snapshot_config,
        max_retries=max_retries,
        load_timeout=load_timeout,
        max_workers=max_workers,
        idle_timeout=idle_timeout,
        shutdown_timeout=shutdown_timeout,
    )
    opened: System[EntityT, CommandT, EventT, ErrorT] = System._open(system)

    try:
        start_failed = could_not_start(f"the event-sourcing system {name!r}")
        async with running(spec, start_failed=start_failed):
            yield opened
    finally:
        opened._closed = True
