"""The event-sourcing system: one router actor, and workers for the aggregates with messages.

``supervised(...)`` describes a supervisor with one query actor per query and the
event-sourcing actor, which holds the user's Name. That actor only routes: each
message goes to the queue of its aggregate, and one worker task at a time runs that
queue in order, so commands for one aggregate take effect strictly in the order sent
while different aggregates run concurrently. The queues and the cached aggregates live
in a :class:`_System` created once per ``supervised`` call, outside the actors, so a
restarted actor or worker loses none of the queued messages.

A worker serves an aggregate only while it has messages. Once its queue is empty it
leaves the aggregate cached without a task or a mailbox (a slot in a dict, as an
aggregate whose commands ran in their callers' tasks is) and waits, idle, to serve the
next aggregate that needs one: a message for a cached aggregate wakes an idle worker
rather than starting a task, and an aggregate at rest costs its state alone.

Every command runs under an idempotency key (the caller's, or one generated for it) that
the store keeps with its events, unique per aggregate: a command whose key is stored is
answered ``Ok`` and not run again, and a command whose commit may have gone through is
never decided again without first asking the store whether its key is there.

An orderly shutdown drains: the router and workers run shielded from the supervisor's
cancellation while a guard task takes it, stops accepting messages, lets the workers
finish what was queued before within ``shutdown_timeout``, then stops them and answers
whatever is left with an error, logging the fire-and-forget commands it dropped.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any, Generic, TypeVar, cast

import msgspec
import trio
from typing_extensions import Never, TypeAliasType, final

from .._runtime import actor as actor
from .._runtime.actor import BURST
from .._runtime.checks import require_non_negative_int, require_positive_int, require_seconds
from .._runtime.process import (
    Name,
    Subject,
    _Mailbox,
    named_subject,
    new_subject,
    receive_forever,
    send,
)
from .._runtime.result import Error, Ok, Result
from .._runtime.static_supervisor import OneForOne, Supervisor, new
from .._runtime.static_supervisor import supervised as supervised_builder
from .._runtime.supervision import ChildSpecification, worker
from .envelopes import Metadata
from .errors import (
    ActorTimeout,
    CallbackRaised,
    CommandAlreadyStored,
    ConcurrencyConflict,
    DomainError,
    EntityNotFound,
    EventSourcingError,
    EventStoreError,
    OutcomeUnknown,
    StoreFailure,
    describe_error,
)
from .records import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    EventEnvelop,
    ExecuteCommand,
    GetAggregateStats,
    GetSystemStats,
    LoadAggregate,
    LoadAllEvents,
    LoadEvents,
    LoadLatestSnapshot,
    ProcessEvents,
    QueryActor,
    QueryMessage,
    Receipt,
    Snapshot,
    SnapshotConfig,
    SystemStats,
    with_trace,
)
from .store import EventStore, StoreResult, committed_positions, is_cancel_atomic

StoreT = TypeVar("StoreT")
EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")
TxT = TypeVar("TxT")
ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.eventsourcing")

Handle = Callable[[EntityT, CommandT], Result[Sequence[EventT], ErrorT]]
"""The user's command handler: decide the events of a command, or reject it.

A sequence, not a list, so that a handler typed ``Result[list[ItemAdded], E]`` fits a
system of ``ShopEvent``; a tuple is accepted too, copied once into a list."""

Apply = Callable[[EntityT, EventT], EntityT]
"""The user's event applier: the entity after one event."""

QueryFunction = Callable[[str, list[EventEnvelop[EventT]]], None]
"""A query's function: called with the aggregate id and the envelopes of every commit."""

Query = tuple[Name[QueryMessage[EventT]], QueryFunction[EventT]]
"""A query: the Name of its actor and the function called with each committed batch."""

_AGGREGATE_MESSAGES = (
    ExecuteCommand,
    LoadAggregate,
    LoadAllEvents,
    LoadEvents,
    LoadLatestSnapshot,
    GetAggregateStats,
)
_ROUTED_AT_ONCE = (GetSystemStats, *_AGGREGATE_MESSAGES)
_OK: Ok[None] = Ok(None)


@final
class EventSourcing(Generic[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]):
    """The configuration of one event-sourcing system (opaque, as in the seed).

    Built by :func:`supervised`; its type parameters are the seed's six.
    """

    __slots__ = (
        "apply",
        "empty_state",
        "eventstore",
        "handle",
        "idle_timeout",
        "load_timeout",
        "max_retries",
        "max_workers",
        "queries",
        "shutdown_timeout",
        "snapshot_config",
    )

    eventstore: EventStore[StoreT, EntityT, EventT, TxT]
    handle: Handle[EntityT, CommandT, EventT, ErrorT]
    apply: Apply[EntityT, EventT]
    empty_state: EntityT
    queries: tuple[Query[EventT], ...]
    snapshot_config: SnapshotConfig | None
    max_retries: int
    load_timeout: float
    max_workers: int
    idle_timeout: float
    shutdown_timeout: float

    def __init__(self, _private: Never) -> None:
        raise TypeError("EventSourcing has no public constructor: use supervised()")

    def __repr__(self) -> str:
        return (
            f"<EventSourcing queries={len(self.queries)} snapshot_config={self.snapshot_config}"
            f" max_retries={self.max_retries}>"
        )


@final
class AggregateActorState(Generic[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]):
    """Seed parity: what the seed's aggregate actor holds, its aggregate and the config.

    ``aggregate`` is ``None`` until the aggregate is loaded, and again after a failure
    that makes its cached state doubtful (the next message reloads it). This library
    keeps the cached aggregate in its table of aggregates, with no object of this type
    per aggregate; the type stays for code written against the seed.

    Example::

        state = AggregateActorState(None, eventsourcing)
    """

    __slots__ = ("aggregate", "eventsourcing")

    aggregate: Aggregate[EntityT] | None
    eventsourcing: EventSourcing[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]

    def __init__(
        self,
        aggregate: Aggregate[EntityT] | None,
        eventsourcing: EventSourcing[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
    ) -> None:
        self.aggregate = aggregate
        self.eventsourcing = eventsourcing


@final
class QueryActorStarted(Generic[EventT]):
    """Seed parity: a query actor announcing itself.

    This implementation addresses query actors by Name from the start, so none is sent.
    """

    __slots__ = ("query_actor",)

    query_actor: QueryActor[EventT]

    def __init__(self, query_actor: QueryActor[EventT]) -> None:
        self.query_actor = query_actor


@final
class GetEventSourcingActor(Generic[EntityT, CommandT, EventT, ErrorT]):
    """Seed parity: ask for the event-sourcing actor's Subject (use ``named_subject``)."""

    __slots__ = ("reply_to",)

    reply_to: Subject[Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]]

    def __init__(
        self, reply_to: Subject[Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]]
    ) -> None:
        self.reply_to = reply_to


ManagerMessage = TypeAliasType(
    "ManagerMessage",
    QueryActorStarted[EventT] | GetEventSourcingActor[EntityT, CommandT, EventT, ErrorT],
    type_params=(EntityT, CommandT, EventT, ErrorT),
)
"""The seed's manager messages, kept for API parity.

The seed needs a manager actor to collect query actors as they start; here every
query actor is addressed by its Name from the start, so no manager runs.
"""


@final
class ManagerState(Generic[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]):
    """A summary of a running system in the seed's shape (see :func:`manager_state`)."""

    __slots__ = (
        "apply",
        "empty_state",
        "eventsourcing_actor",
        "eventstore",
        "expected_queries",
        "handle",
        "registered_queries",
    )

    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]] | None
    expected_queries: int
    registered_queries: int
    eventstore: EventStore[StoreT, EntityT, EventT, TxT]
    handle: Handle[EntityT, CommandT, EventT, ErrorT]
    apply: Apply[EntityT, EventT]
    empty_state: EntityT

    def __init__(
        self,
        eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]] | None,
        expected_queries: int,
        registered_queries: int,
        eventstore: EventStore[StoreT, EntityT, EventT, TxT],
        handle: Handle[EntityT, CommandT, EventT, ErrorT],
        apply: Apply[EntityT, EventT],
        empty_state: EntityT,
    ) -> None:
        self.eventsourcing_actor = eventsourcing_actor
        self.expected_queries = expected_queries
        self.registered_queries = registered_queries
        self.eventstore = eventstore
        self.handle = handle
        self.apply = apply
        self.empty_state = empty_state


class _CallbackFailure(Exception):
    """The user's ``handle`` or ``apply`` raised; carries the error to report."""

    def __init__(self, error: CallbackRaised) -> None:
        super().__init__(error.message)
        self.error = error


def _callback_raised(callback: str, aggregate_id: str, exc: BaseException) -> CallbackRaised:
    logger.error("%s raised for aggregate %r", callback, aggregate_id, exc_info=exc)
    return CallbackRaised(callback, type(exc).__name__, str(exc))


IDLE_WORKERS = 1_024
"""Most workers waiting, idle, for an aggregate to serve; one more ends instead."""

_NO_MESSAGES: _Mailbox[Any] = _Mailbox()
"""The queue of every slot without messages waiting; nothing is put in it.

Only ``route`` queues messages, and it gives the slot a mailbox of its own first; a
worker leaves this one back in the slot when it has run the queue dry. No task ever
parks on a slot's queue: a worker runs it only while it holds messages.
"""


class _AggregateSlot(
    msgspec.Struct, Generic[StoreT, EntityT, CommandT, EventT, ErrorT, TxT], gc=False
):
    """One aggregate's queue, worker and cached state.

    The cache holds one slot per aggregate, so a slot is left out of the cyclic GC
    (``gc=False``): with 10⁵ cached aggregates every full collection would walk them.
    That holds because no slot is in a reference cycle: nothing it references (its
    cached aggregate, its messages and their reply Subjects) references a slot; the
    tasks that use a slot reference it from their frames, and it references no task.
    """

    aggregate_id: str
    # The shared empty mailbox until a message comes (``_System.route``): a cached
    # aggregate that has only run commands in its callers' tasks owns no deque.
    queue: _Mailbox[AggregateMessage[EntityT, CommandT, EventT, ErrorT]] = _NO_MESSAGES
    # The cached aggregate: None until it is loaded, and again after a failure that
    # makes it doubtful (the next message reloads it). Kept in the slot itself, not
    # in an AggregateActorState: one object fewer per cached aggregate.
    aggregate: Aggregate[EntityT] | None = None
    has_worker: bool = False
    # A caller runs a command of this idle aggregate in its own task, or loads it:
    # messages routed meanwhile queue up, and a worker starts for them when the
    # caller releases it.
    held: bool = False
    is_waiting: bool = False  # queued in ``_System.waiting`` for a free worker place
    in_flight: AggregateMessage[EntityT, CommandT, EventT, ErrorT] | None = None
    # The idempotency key of the command in flight, once it has one.
    in_flight_key: str | None = None
    last_active: float = 0.0


@final
class _IdleWorker:
    """A worker task waiting for an aggregate to serve (``_System.next_slot``)."""

    __slots__ = ("slot", "task")

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.slot: Any = None  # the slot it is handed, or None to end


def _at_rest(slot: _AggregateSlot[Any, Any, Any, Any, Any, Any]) -> bool:
    """Whether an aggregate may be dropped from the cache: nothing to run, nobody on it.

    A worker serves an aggregate only while it has messages, and a caller holds it only
    while it runs a command or loads it, so an aggregate at rest has neither.
    """
    return not (slot.has_worker or slot.held or slot.in_flight is not None or len(slot.queue))


class _System(Generic[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]):
    """The state of one event-sourcing system that outlives its actors' restarts."""

    def __init__(
        self,
        name: Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
        eventsourcing: EventSourcing[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
    ) -> None:
        self.name = name
        self.es = eventsourcing
        self.slots: dict[str, _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]] = {}
        self.waiting: deque[_AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]] = (
            deque()
        )
        self.live_workers = 0  # workers serving an aggregate; the idle ones wait apart
        self.idle_workers: list[_IdleWorker] = []
        self.commands_processed = 0
        self.nursery: trio.Nursery | None = None
        store = eventsourcing.eventstore
        self.store = store
        self.snapshot_every = (
            eventsourcing.snapshot_config.snapshot_frequency.value
            if eventsourcing.snapshot_config is not None
            else 0
        )
        self.load_timeout_s = eventsourcing.load_timeout
        self.idle_timeout_s = eventsourcing.idle_timeout
        # Generated idempotency keys: a random prefix per system (64 bits in 11 URL-safe
        # characters, so that no two systems share one) and a counter. Short, as every
        # key is stored, and far cheaper to make than a uuid4 per command.
        self.key_prefix = secrets.token_urlsafe(8)
        self.key_counter = itertools.count(1)
        # Shutting down: set once the guard has taken the supervisor's cancellation.
        self.draining = False
        self.serving = False
        self.idle = trio.Event()
        self.served = trio.Event()
        self.workers_scope = trio.CancelScope()
        self.router_mailbox: _Mailbox[AggregateMessage[EntityT, CommandT, EventT, ErrorT]] = (
            named_subject(name)._mailbox
        )
        # Commands run in their callers' tasks (``run_in_caller``): how many, and the
        # shields that a shutdown whose time is up cancels; ``held_ended`` is set when the
        # last of them ends.
        self.in_caller = 0
        self.cancel_atomic = is_cancel_atomic(store.execute_transaction)
        self.held_scopes: set[trio.CancelScope] = set()
        self.held_ended: trio.Event | None = None
        # What a shutdown could not run: fire-and-forget commands dropped (and a few of
        # them named), requests answered with an error, commands stopped in flight.
        self.dropped = 0
        self.dropped_named: list[str] = []
        self.refused = 0
        self.interrupted = 0

    # -- the router actor -------------------------------------------------------------

    async def start(
        self, nursery: trio.Nursery
    ) -> actor.StartResult[Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]]:
        """Start the router, its workers and their shutdown guard in ``nursery``.

        ``nursery`` is the child's, which the supervisor cancels to stop it: the router
        and the workers run shielded from that (:meth:`serve`), and the guard turns the
        cancellation into a drain (:meth:`guard`).
        """
        started: actor.StartResult[Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]]
        started = await nursery.start(self.serve)
        if isinstance(started, Ok):
            nursery.start_soon(self.guard)
        return started

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[
            actor.StartResult[Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]]]
        ] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the router and the workers until the guard stops them (or one crashes)."""
        self.draining = False
        self.served = trio.Event()
        try:
            # Shielded once started, so that the supervisor's cancellation reaches the
            # guard (which drains) and not the workers. Not while starting: a start that
            # is cancelled must stop here, or this task would wait, shielded, for a guard
            # that never starts.
            with trio.CancelScope() as scope:
                self.workers_scope = scope
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    # Workers of an earlier incarnation died with its nursery; their
                    # queues did not.
                    self.live_workers = 0
                    self.idle_workers.clear()
                    self.waiting.clear()
                    for slot in self.slots.values():
                        slot.has_worker = False
                        slot.is_waiting = False
                    builder = actor.new(self).on_message(_route).named(self.name)
                    started = await builder._handling_at_once(self.route_at_once).start(nursery)
                    if isinstance(started, Error):
                        task_status.started(started)
                        return
                    # No await from this check to ``started()``: if the start is not
                    # cancelled now, the task is handed over and the guard will start.
                    await trio.lowlevel.checkpoint_if_cancelled()
                    scope.shield = True
                    self.serving = True
                    nursery.start_soon(self.sweep_idle_workers)
                    for slot in list(self.slots.values()):
                        # The router may already have started this slot's worker while
                        # ``start`` waited above; a second worker on one queue would crash.
                        if len(slot.queue) and not slot.has_worker:
                            self.ensure_worker(slot)
                    task_status.started(started)
        finally:
            self.serving = False
            self.served.set()

    async def guard(self) -> None:
        """Wait for the supervisor's cancellation, then drain (see the module docstring)."""
        try:
            await trio.sleep_forever()
        finally:
            # After a crash of the router, ``serve`` has ended already: the supervisor
            # restarts it, and the queues wait for it.
            if self.serving:
                with trio.CancelScope(shield=True):
                    await self.drain()

    async def drain(self) -> None:
        """Finish what was accepted before the shutdown, within ``shutdown_timeout``."""
        name = self.name
        # Messages still in the router's mailbox were sent before the shutdown: route
        # them to their queues before refusing what comes next.
        mailbox = named_subject(name)._mailbox
        while True:
            try:
                earlier = mailbox.get_nowait()
            except trio.WouldBlock:
                break
            received: object = earlier
            if isinstance(received, _ROUTED_AT_ONCE):
                self.route(earlier)
        self.draining = True
        self.idle = trio.Event()
        self.dismiss_idle_workers()
        self.check_idle()
        accepted = sum(
            len(slot.queue) + (slot.in_flight is not None) for slot in self.slots.values()
        )
        logger.log(
            logging.INFO if accepted else logging.DEBUG,
            "the event-sourcing system %r is shutting down: it runs the %d commands and "
            "requests it has accepted, for at most %g s",
            name,
            accepted,
            self.es.shutdown_timeout,
        )
        with trio.move_on_after(self.es.shutdown_timeout):
            await self.idle.wait()
        self.workers_scope.cancel()
        for scope in self.held_scopes:
            scope.cancel()
        await self.served.wait()
        if self.in_caller:
            self.held_ended = trio.Event()
            await self.held_ended.wait()
            self.held_ended = None
        left = [message for slot in self.slots.values() for message in _take_all(slot.queue)]
        self.slots.clear()
        for message in left:
            self.refuse(message, "it shut down before running it (the shutdown timeout passed)")
        if self.dropped or self.refused or self.interrupted:
            named = ", ".join(self.dropped_named)
            more = self.dropped - len(self.dropped_named)
            logger.warning(
                "the event-sourcing system %r shut down with work it could not do: %s "
                "stopped in flight (outcome unknown, told to their callers or logged), %s "
                "answered with an error, and %s dropped, not run%s",
                name,
                _count(self.interrupted, "command"),
                _count(self.refused, "request"),
                _count(self.dropped, "fire-and-forget command"),
                f" ({named}{f' and {more} more' if more else ''})" if named else "",
            )
        self.dropped = self.refused = self.interrupted = 0
        self.dropped_named.clear()

    def check_idle(self) -> None:
        if self.draining and self.live_workers == 0 and not self.waiting and not self.in_caller:
            self.idle.set()

    def refuse(
        self, message: AggregateMessage[EntityT, CommandT, EventT, ErrorT], why: str
    ) -> None:
        """Answer ``message`` with an error, unrun; count a fire-and-forget command dropped."""
        if isinstance(message, ExecuteCommand) and not message.answered:
            self.dropped += 1
            if len(self.dropped_named) < 10:
                key = message.idempotency_key
                self.dropped_named.append(
                    repr(message.aggregate_id) + ("" if key is None else f" key {key!r}")
                )
            return
        self.refused += 1
        _reply_error(
            message,
            EventStoreError(
                f"the event-sourcing system {self.name!r} is shutting down: {why}; "
                "nothing of the request was stored",
                StoreFailure.NOT_RUNNING,
            ),
        )

    def route(self, message: AggregateMessage[EntityT, CommandT, EventT, ErrorT]) -> None:
        if isinstance(message, GetSystemStats):
            send(message.reply_to, self.statistics())
            return
        if not isinstance(message, _AGGREGATE_MESSAGES):
            raise TypeError(
                f"the event-sourcing actor {self.name!r} received {message!r}, "
                "which is not an AggregateMessage"
            )
        if self.draining:
            self.refuse(message, "it accepts no new requests")
            return
        aggregate_id = message.aggregate_id
        slot = self.slots.get(aggregate_id)
        if slot is None:
            slot = _AggregateSlot(aggregate_id)
            self.slots[aggregate_id] = slot
        queue = slot.queue
        if queue is _NO_MESSAGES:
            slot.queue = queue = _Mailbox()
        queue.put(message)
        if not (slot.has_worker or slot.held):
            self.ensure_worker(slot)

    def route_at_once(self, message: AggregateMessage[EntityT, CommandT, EventT, ErrorT]) -> bool:
        """Route ``message`` in the sender's task while the router waits idle.

        Anything but an aggregate message is left to the router, which crashes on it
        in its own task, as it would have.
        """
        received: object = message  # typed as a message, but a sender may send anything
        if isinstance(received, _ROUTED_AT_ONCE):
            self.route(message)
            return True
        return False

    def statistics(self) -> SystemStats:
        live_queries = sum(1 for query_name, _ in self.es.queries if query_name.is_held)
        return SystemStats(live_queries, self.commands_processed)

    # -- workers ----------------------------------------------------------------------

    def ensure_worker(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> None:
        if self.live_workers >= self.es.max_workers:
            if not slot.is_waiting:
                # Its turn comes when a worker has run its queue dry (``next_slot``).
                slot.is_waiting = True
                self.waiting.append(slot)
            return
        assert self.nursery is not None
        slot.has_worker = True
        self.live_workers += 1
        if self.idle_workers:
            # The most recently idle: its stack is the likeliest to be in the cache.
            idle = self.idle_workers.pop()
            idle.slot = slot
            trio.lowlevel.reschedule(idle.task)
        else:
            self.nursery.start_soon(self.run_worker, slot)

    def dismiss_idle_workers(self) -> None:
        """End every idle worker (the system is shutting down)."""
        for idle in self.idle_workers:
            trio.lowlevel.reschedule(idle.task)
        self.idle_workers.clear()

    async def next_slot(
        self, idle: _IdleWorker
    ) -> _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT] | None:
        """The next aggregate for a worker that has left one to serve; None to end.

        One that waits for a free worker place comes first; else the worker waits, idle,
        until ``ensure_worker`` hands it one, unless the system is shutting down or
        :data:`IDLE_WORKERS` wait already.
        """
        if self.draining or self.workers_stopping():
            return None
        slot = self.next_waiting()
        if slot is not None:
            slot.has_worker = True
            self.live_workers += 1
            return slot
        if len(self.idle_workers) >= IDLE_WORKERS:
            return None
        idle.slot = None
        self.idle_workers.append(idle)

        def abort(_: object) -> trio.lowlevel.Abort:
            self.idle_workers.remove(idle)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        handed: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT] | None = idle.slot
        return handed

    def keep_cached(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> None:
        """Keep an aggregate just used cached, without a worker or a caller on it.

        It moves to the end of the table, which is so in order of last use, and past
        ``max_workers`` cached aggregates the least recently used one at rest is dropped.
        """
        slots, aggregate_id = self.slots, slot.aggregate_id
        if slots.get(aggregate_id) is slot:
            del slots[aggregate_id]
            slots[aggregate_id] = slot
        if len(slots) > self.es.max_workers:
            self.evict_one_idle()

    def evict_one_idle(self) -> None:
        """Drop the least recently used idle aggregate's cached state.

        The table is in order of last use (:meth:`keep_cached`), so the first idle
        aggregate is the one used longest ago.
        """
        for slot in self.slots.values():
            if _at_rest(slot):
                del self.slots[slot.aggregate_id]
                return

    async def sweep_idle_workers(self) -> None:
        while True:
            await trio.sleep(max(self.idle_timeout_s / 2, 0.001))
            deadline = trio.current_time() - self.idle_timeout_s
            for slot in list(self.slots.values()):
                if _at_rest(slot) and slot.last_active <= deadline:
                    del self.slots[slot.aggregate_id]

    async def run_worker(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> None:
        """Serve ``slot``, then each aggregate handed to this worker, until told to end."""
        idle = _IdleWorker(trio.lowlevel.current_task())
        served = await self.run_slot(slot)
        # Idle between aggregates, the worker references none: the one it served may be
        # dropped from the cache meanwhile, and its state must go with it.
        del slot
        while served and (handed := await self.next_slot(idle)) is not None:
            served = await self.run_slot(handed)
            del handed

    async def run_slot(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> bool:
        """Run ``slot``'s queue until it is empty (or a caller holds the aggregate).

        Returns whether the worker left the aggregate cached and may serve another; it
        does not when the system shuts down, or when cancelled (the system stopped).
        """
        queue = slot.queue
        # This worker's message in flight: while a caller holds the slot, the one in
        # ``slot.in_flight`` is the caller's.
        message: AggregateMessage[EntityT, CommandT, EventT, ErrorT] | None = None
        left = False
        try:
            burst = 0
            while True:
                if slot.held or not len(queue):
                    # Nothing to run now: leave the aggregate cached, without a task
                    # (``release`` or ``route`` starts a worker again when messages
                    # come), or end, in a shutdown, with this queue done.
                    left = slot.held or not self.draining
                    break
                if burst >= BURST:
                    # Let other tasks run. The message stays queued meanwhile, so
                    # that no caller takes the aggregate for idle.
                    burst = 0
                    await trio.lowlevel.checkpoint()
                    continue
                message = queue.get_nowait()
                burst += 1
                slot.in_flight = message
                try:
                    # Commands skip ``process``: every coroutine frame on the worker's
                    # stack is resumed again at each checkpoint of the command.
                    if type(message) is ExecuteCommand:
                        await self.execute(slot, message)
                    else:
                        await self.process(slot, message)
                except Exception as exc:
                    # A bug in a store or in this library, not in user code (that is
                    # caught closer to it): report it, forget the cached state.
                    logger.exception("worker for aggregate %r crashed", slot.aggregate_id)
                    slot.aggregate = None
                    _reply_interrupted(
                        slot,
                        message,
                        f"the worker for aggregate crashed: {exc!r}",
                        StoreFailure.FAILED,
                    )
                message = None
                slot.in_flight = None
                slot.in_flight_key = None
                slot.last_active = trio.current_time()
        finally:
            if message is not None:
                if self.draining:
                    self.interrupted += 1
                _reply_interrupted(
                    slot,
                    message,
                    "the worker for the aggregate was stopped before it answered",
                    StoreFailure.NOT_RUNNING,
                )
                slot.in_flight = None
                slot.in_flight_key = None
                slot.aggregate = None
            slot.has_worker = False
            self.live_workers -= 1
            if left:
                if not len(queue) and slot.queue is queue:
                    slot.queue = _NO_MESSAGES  # a mailbox again with the next message
                self.keep_cached(slot)
            else:
                if self.slots.get(slot.aggregate_id) is slot and not slot.held:
                    del self.slots[slot.aggregate_id]
                    if len(slot.queue):
                        # Stopped to make room while messages came in: keep its place.
                        self.slots[slot.aggregate_id] = slot
                        if not slot.is_waiting:
                            slot.is_waiting = True
                            self.waiting.append(slot)
                # A worker that serves on takes a waiting aggregate itself (next_slot).
                self.start_waiting_workers()
            self.check_idle()
        return left

    def workers_stopping(self) -> bool:
        """Whether no worker may start now.

        The drain's time is up, or the workers' nursery is ending (or gone): a worker
        started now would take a queued command only to be cancelled in it.
        """
        nursery = self.nursery
        return (
            nursery is None
            or nursery.cancel_scope.cancel_called
            or self.workers_scope.cancel_called
        )

    def start_waiting_workers(self) -> None:
        if self.workers_stopping():
            return
        while (slot := self.next_waiting()) is not None:
            self.ensure_worker(slot)

    def next_waiting(
        self,
    ) -> _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT] | None:
        """Take the next aggregate that waits for a worker place and still needs one.

        None if no place is free, or no aggregate waits.
        """
        while self.waiting and self.live_workers < self.es.max_workers:
            slot = self.waiting.popleft()
            slot.is_waiting = False
            if (
                not slot.has_worker
                and len(slot.queue)
                and self.slots.get(slot.aggregate_id) is slot
            ):
                return slot
        return None

    # -- what a worker does -----------------------------------------------------------

    async def process(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
        message: AggregateMessage[EntityT, CommandT, EventT, ErrorT],
    ) -> None:
        if isinstance(message, ExecuteCommand):
            await self.execute(slot, message)
        elif isinstance(message, LoadAggregate):
            send(message.reply_to, self.found(await self.current(slot)))
        elif isinstance(message, LoadAllEvents):
            send(message.reply_to, await self.read_events(slot.aggregate_id, 0))
        elif isinstance(message, LoadEvents):
            send(message.reply_to, await self.read_events(slot.aggregate_id, message.start_from))
        elif isinstance(message, LoadLatestSnapshot):
            send(message.reply_to, await self.read_snapshot(slot.aggregate_id))
        elif isinstance(message, GetAggregateStats):
            send(message.reply_to, await self.aggregate_stats(slot))
        else:  # pragma: no cover - route() lets nothing else through
            raise TypeError(f"not an aggregate message: {message!r}")

    async def execute(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
        message: ExecuteCommand[CommandT, ErrorT],
    ) -> None:
        """Run one command exactly once and answer its caller.

        A caller's key may be stored already (a retry after a timeout or a crash). A
        commit under it is refused by the store (``CommandAlreadyStored``: answered
        ``Ok``), so the store is asked only when the command stores nothing this time:
        a rejection or a callback that raised is answered ``Ok`` if the key is stored,
        the command's original outcome. A generated key is new: no look-up at all.
        """
        receipt_to = message.receipt_to
        outcome = await self.run_command(slot, message, receipt_to is not None)
        if message.reply_to is not None:
            send(message.reply_to, _OK if isinstance(outcome, Ok) else outcome)
        elif receipt_to is not None:
            if isinstance(outcome, Ok):
                assert outcome.value is not None
                send(receipt_to, Ok(outcome.value))
            else:
                send(receipt_to, outcome)
        elif isinstance(outcome, Error):
            assert slot.in_flight_key is not None
            _log_unanswered(slot.aggregate_id, slot.in_flight_key, outcome.error)

    async def run_command(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
        message: ExecuteCommand[CommandT, ErrorT],
        wants_receipt: bool,
    ) -> Result[Receipt | None, EventSourcingError[ErrorT]]:
        """Run one command exactly once: its outcome, with a receipt if ``wants_receipt``."""
        key = message.idempotency_key
        callers_key = key is not None
        if key is None:
            key = f"{self.key_prefix}.{next(self.key_counter):x}"
        slot.in_flight_key = key
        outcome = await self.commit_with_retry(slot, message, key, wants_receipt)
        if (
            callers_key
            and isinstance(outcome, Error)
            and isinstance(outcome.error, (DomainError, CallbackRaised))
        ):
            stored = await self.command_stored(slot.aggregate_id, key)
            if isinstance(stored, Error):
                return stored
            if stored.value:
                return Ok(Receipt(slot.aggregate_id, None, (), True)) if wants_receipt else _OK
        return outcome

    # -- commands run in their caller's task ------------------------------------------

    async def call(
        self, message: ExecuteCommand[CommandT, ErrorT]
    ) -> Result[Receipt, EventSourcingError[ErrorT]]:
        """Run ``message`` for a caller that awaits its receipt (the Trio-native path).

        A command of an idle aggregate runs in the caller's task: no worker to wake, no
        reply to pass back. Otherwise it queues behind the aggregate's work, as any
        command does. Cancelled before it begins, it is skipped (taken out of its queue
        unrun); once begun it runs to its end, stored whole or not at all, and this waits
        for its outcome, shielded.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        slot = self.slots.get(message.aggregate_id)
        if (
            self.serving
            and not self.draining
            and not len(self.router_mailbox)
            and (slot is None or _at_rest(slot))
        ):
            return await self.run_in_caller(slot, message)
        return await self.run_queued(message)

    async def run_in_caller(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT] | None,
        message: ExecuteCommand[CommandT, ErrorT],
    ) -> Result[Receipt, EventSourcingError[ErrorT]]:
        """Hold the idle aggregate and run ``message`` in this task, then hand it back.

        A begun command runs to its end: shielded from the caller, and cancelled only by
        a shutdown whose time is up, as a worker would be. A store whose transactions are
        atomic under cancellation (:func:`~.store.is_cancel_atomic`) needs no shield: a
        cancelled command of it stored nothing, and the caller's cancellation goes
        through as if the command had not begun.
        """
        aggregate_id = message.aggregate_id
        if slot is None:
            slot = _AggregateSlot(aggregate_id)
            self.slots[aggregate_id] = slot
        slot.held = True
        slot.in_flight = message
        self.in_caller += 1
        scope: trio.CancelScope | None = None
        outcome: Result[Receipt | None, EventSourcingError[ErrorT]] | None = None
        try:
            if self.cancel_atomic:
                outcome = await self.run_command(slot, message, True)
            else:
                scope = trio.CancelScope(shield=True)
                self.held_scopes.add(scope)
                with scope:
                    outcome = await self.run_command(slot, message, True)
            if outcome is not None and (
                isinstance(outcome, Error) or outcome.value is None or not outcome.value.positions
            ):
                # No commit made it a schedule point: make it one, as every Trio
                # operation is.
                await trio.lowlevel.cancel_shielded_checkpoint()
        except Exception as exc:
            logger.exception("a command for aggregate %r crashed", aggregate_id)
            slot.aggregate = None
            outcome = Error(
                _interruption(
                    slot, f"the command crashed: {exc!r}", StoreFailure.FAILED, aggregate_id
                )
            )
        finally:
            self.in_caller -= 1
            if scope is not None:
                self.held_scopes.discard(scope)
                if outcome is None:
                    # Stopped by the shutdown, in the store or before it.
                    self.interrupted += 1
                    slot.aggregate = None
                    outcome = Error(
                        _interruption(
                            slot,
                            "the system shut down before the command ended",
                            StoreFailure.NOT_RUNNING,
                            aggregate_id,
                        )
                    )
            self.release(slot)
        if outcome is None:  # pragma: no cover - a shielded run always ends with one
            raise AssertionError("a command run in its caller's task ended without an outcome")
        # Asked with ``wants_receipt``: an ``Ok`` holds a receipt (no copy on this path).
        return cast("Result[Receipt, EventSourcingError[ErrorT]]", outcome)

    async def load_in_caller(
        self, aggregate_id: str
    ) -> Result[Aggregate[EntityT], EventSourcingError[ErrorT]] | None:
        """The aggregate's state for a caller that awaits it (the Trio-native path).

        An aggregate with nothing queued or running answers in the caller's task: from
        the cache, or loaded from the store as a worker would load it (held meanwhile,
        so that a command sent during the load queues behind it) and cached. ``None``
        otherwise: the caller then asks through the aggregate's queue, after the
        commands sent before.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        slot = self.slots.get(aggregate_id)
        if not (
            self.serving
            and not self.draining
            and not len(self.router_mailbox)
            and (slot is None or _at_rest(slot))
        ):
            return None
        if slot is not None and slot.aggregate is not None:
            loaded: Result[Aggregate[EntityT], EventSourcingError[Never]] = Ok(slot.aggregate)
            slot.last_active = trio.current_time()
            self.keep_cached(slot)
            # No read made it a schedule point: make it one, as every Trio operation is.
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            # The store's load is the schedule point (an aggregate load is a checkpoint
            # in every store: the store contract proves it).
            if slot is None:
                slot = _AggregateSlot(aggregate_id)
                self.slots[aggregate_id] = slot
            slot.held = True  # not at rest: a command sent meanwhile queues behind
            self.in_caller += 1
            try:
                loaded = await self.current(slot)
            finally:
                self.in_caller -= 1
                self.release(slot)
        return self.found(loaded)

    def found(
        self, loaded: Result[Aggregate[EntityT], EventSourcingError[Never]]
    ) -> Result[Aggregate[EntityT], EventSourcingError[ErrorT]]:
        """A loaded aggregate as a load answers it: ``EntityNotFound`` in its empty state."""
        if isinstance(loaded, Ok) and loaded.value.entity == self.es.empty_state:
            return Error(EntityNotFound())
        return loaded

    def release(self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]) -> None:
        """Hand a held aggregate back: its worker (started if need be) takes what queued."""
        slot.held = False
        slot.in_flight = None
        slot.in_flight_key = None
        slot.last_active = trio.current_time()
        # With a worker (handed the aggregate while held, not yet running), the worker
        # takes what queued.
        if not slot.has_worker and self.slots.get(slot.aggregate_id) is slot:
            if len(slot.queue):
                # What queued behind the command runs, in a shutdown too (the drain runs
                # what was accepted). Unless the workers are stopping: then the queue
                # waits for the router's restart (``serve`` starts its worker) or for the
                # drain, which answers what it could not run.
                if self.serving and not self.workers_stopping():
                    self.ensure_worker(slot)
            elif self.draining:
                del self.slots[slot.aggregate_id]
            else:
                self.keep_cached(slot)
        if not self.in_caller and self.held_ended is not None:
            self.held_ended.set()
        self.check_idle()

    async def run_queued(
        self, message: ExecuteCommand[CommandT, ErrorT]
    ) -> Result[Receipt, EventSourcingError[ErrorT]]:
        """Queue ``message`` behind the aggregate's work and wait for its receipt."""
        message = ExecuteCommand(
            message.aggregate_id,
            message.command,
            message.metadata,
            None,
            message.idempotency_key,
            new_subject(),
            message.correlation_id,
            message.causation_id,
        )
        assert message.receipt_to is not None
        if self.serving and not len(self.router_mailbox):
            self.route(message)
        else:
            # Behind what the router has yet to route (or waiting for its restart).
            send(named_subject(self.name), message)
        try:
            return await receive_forever(message.receipt_to)
        except trio.Cancelled:
            if self.unqueue(message):
                raise
        # Begun: it runs to its end; its outcome is the caller's to know.
        with trio.CancelScope(shield=True):
            outcome = await receive_forever(message.receipt_to)
        return outcome

    def unqueue(self, message: ExecuteCommand[CommandT, ErrorT]) -> bool:
        """Take a command that has not begun out of its queue: whether it was there."""
        if self.router_mailbox.remove(message):
            return True
        slot = self.slots.get(message.aggregate_id)
        return slot is not None and slot.queue.remove(message)

    async def commit_with_retry(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
        message: ExecuteCommand[CommandT, ErrorT],
        key: str,
        wants_receipt: bool,
    ) -> Result[Receipt | None, EventSourcingError[ErrorT]]:
        """Decide, apply and commit the command; after a conflict, reload and go again.

        Before deciding again, the store is asked whether ``key`` is stored: were an
        earlier attempt's commit to have gone through unreported, the command is done.
        The answer is ``Ok(None)``, or ``Ok(receipt)`` if ``wants_receipt``.
        """
        es = self.es
        aggregate_id = slot.aggregate_id
        attempt = 0
        while True:
            aggregate = slot.aggregate
            if aggregate is None:
                loaded = await self.current(slot)
                if isinstance(loaded, Error):
                    return loaded
                aggregate = loaded.value
            decided = self.decide(slot, aggregate, message.command)
            if isinstance(decided, Ok):
                self.commands_processed += 1  # no events: nothing to store
                if wants_receipt:
                    return Ok(Receipt(aggregate_id, aggregate.sequence))
                return decided
            if isinstance(decided, Error):
                if isinstance(decided.error, DomainError):
                    self.commands_processed += 1
                return decided
            events, entity = decided
            causation = message.causation_id or key
            metadata = with_trace(message.metadata, message.correlation_id or causation, causation)
            transaction, stored = self.begin_commit(aggregate, events, entity, metadata, key)
            try:
                committed = await transaction
            except Exception as exc:
                committed = _store_raised("execute_transaction", exc)
            if isinstance(committed, Ok):
                envelopes, tx = stored[0]
                sequence = aggregate.sequence + len(events)
                slot.aggregate = Aggregate(aggregate_id, entity, sequence)
                self.commands_processed += 1
                for query_name, _ in es.queries:
                    send(named_subject(query_name), ProcessEvents(aggregate_id, envelopes))
                if wants_receipt:
                    positions = committed_positions(tx)
                    return Ok(Receipt(aggregate_id, sequence, tuple(positions or ())))
                return _OK
            # Whatever went wrong, the cached state may be stale: reload it next time.
            slot.aggregate = None
            error = committed.error
            if isinstance(error, CommandAlreadyStored):
                self.commands_processed += 1
                return Ok(Receipt(aggregate_id, None, (), True)) if wants_receipt else _OK
            if isinstance(error, OutcomeUnknown):
                # Named by this command's key, whatever the store put in it: the key
                # is what the caller sends again.
                return Error(OutcomeUnknown(aggregate_id, key, error.message))
            if not isinstance(error, ConcurrencyConflict):
                return Error(error)
            already = await self.command_stored(aggregate_id, key)
            if isinstance(already, Error):
                return already
            if already.value:
                self.commands_processed += 1
                return Ok(Receipt(aggregate_id, None, (), True)) if wants_receipt else _OK
            if attempt >= es.max_retries:
                return Error(error)
            attempt += 1
            logger.info(
                "concurrency conflict on %r (attempt %d of %d): reloading and retrying",
                aggregate_id,
                attempt,
                es.max_retries,
            )
            # Jittered exponential backoff, so competing writers drift apart.
            await trio.sleep(random.uniform(0, 0.002 * 2**attempt))

    def decide(
        self,
        slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
        aggregate: Aggregate[EntityT],
        command: CommandT,
    ) -> tuple[list[EventT], EntityT] | Error[EventSourcingError[ErrorT]] | Ok[None]:
        """Run ``handle`` and fold ``apply``: the events and the entity after them.

        ``Ok(None)`` for a command that decided no events; an ``Error`` for a domain
        error or a callback that raised (which also drops the cached state: ``handle``
        may have mutated the entity before it raised).
        """
        es = self.es
        try:
            decided = es.handle(aggregate.entity, command)
            if isinstance(decided, Error):
                return Error(DomainError(decided.error))
            returned: object = decided
            value: object = returned.value if isinstance(returned, Ok) else None
            if isinstance(value, list):
                events: list[EventT] = value
            elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
                events = list(value)
            else:
                raise TypeError(
                    f"handle must return Ok(list_of_events) or Error(error), got {decided!r}"
                )
        except Exception as exc:
            slot.aggregate = None
            return Error(_callback_raised("handle", slot.aggregate_id, exc))
        if not events:
            return _OK
        try:
            entity = aggregate.entity
            for event in events:
                entity = es.apply(entity, event)
        except Exception as exc:
            slot.aggregate = None
            return Error(_callback_raised("apply", slot.aggregate_id, exc))
        return events, entity

    async def command_stored(self, aggregate_id: str, key: str) -> StoreResult[bool]:
        store = self.store
        return await _guarded(
            "command_stored", store.command_stored(store.eventstore, aggregate_id, key)
        )

    def begin_commit(
        self,
        aggregate: Aggregate[EntityT],
        events: list[EventT],
        entity: EntityT,
        metadata: Metadata,
        key: str,
    ) -> tuple[Awaitable[StoreResult[None]], list[tuple[list[EventEnvelop[EventT]], TxT]]]:
        """The store transaction committing ``events`` (and maybe a snapshot), not awaited.

        Returns the awaitable and the list that receives the stored envelopes, with the
        transaction handle (which knows the positions once committed). The caller awaits
        the store directly: one coroutine frame less to resume at every checkpoint.
        """
        store = self.store
        new_sequence = aggregate.sequence + len(events)
        every = self.snapshot_every
        take_snapshot = every > 0 and aggregate.sequence // every != new_sequence // every
        stored: list[tuple[list[EventEnvelop[EventT]], TxT]] = []

        async def transaction(tx: TxT) -> StoreResult[None]:
            appended = await store.commit_events(tx, aggregate, events, metadata, key)
            if isinstance(appended, Error):
                return appended
            envelopes, sequence = appended.value
            if take_snapshot:
                snapshot = Snapshot(
                    aggregate.aggregate_id, entity, sequence, datetime.now(timezone.utc)
                )
                saved = await store.save_snapshot(tx, snapshot)
                if isinstance(saved, Error):
                    return saved
            stored.append((envelopes, tx))
            return Ok(None)

        return store.execute_transaction(transaction), stored

    async def current(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> Result[Aggregate[EntityT], EventSourcingError[Never]]:
        cached = slot.aggregate
        if cached is not None:
            return Ok(cached)
        loaded = await self.load(slot.aggregate_id)
        if isinstance(loaded, Ok):
            slot.aggregate = loaded.value
        return loaded

    async def load(
        self, aggregate_id: str
    ) -> Result[Aggregate[EntityT], EventSourcingError[Never]]:
        es = self.es
        store = self.store

        async def transaction(tx: TxT) -> StoreResult[Aggregate[EntityT]]:
            snapshot = await store.load_snapshot(tx, aggregate_id)
            if isinstance(snapshot, Error):
                return snapshot
            start = snapshot.value
            entity = es.empty_state if start is None else start.entity
            sequence = 0 if start is None else start.sequence
            events = await store.load_events(store.eventstore, tx, aggregate_id, sequence)
            if isinstance(events, Error):
                return events
            apply = es.apply
            try:
                for envelope in events.value:
                    entity = apply(entity, envelope.payload)
            except Exception as exc:
                raise _CallbackFailure(_callback_raised("apply", aggregate_id, exc)) from exc
            if events.value:
                sequence = events.value[-1].sequence
            return Ok(Aggregate(aggregate_id, entity, sequence))

        with trio.move_on_after(self.load_timeout_s):
            try:
                return await _guarded(
                    "load_aggregate_transaction", store.load_aggregate_transaction(transaction)
                )
            except _CallbackFailure as failure:
                return Error(failure.error)
        # The seed's error counts milliseconds.
        return Error(ActorTimeout("load_aggregate", round(self.load_timeout_s * 1000)))

    async def read_events(
        self, aggregate_id: str, start_from: int
    ) -> StoreResult[list[EventEnvelop[EventT]]]:
        store = self.store

        async def transaction(tx: TxT) -> StoreResult[list[EventEnvelop[EventT]]]:
            return await store.load_events(store.eventstore, tx, aggregate_id, start_from)

        return await _guarded("load_events_transaction", store.load_events_transaction(transaction))

    async def read_snapshot(self, aggregate_id: str) -> StoreResult[Snapshot[EntityT] | None]:
        store = self.store

        async def transaction(tx: TxT) -> StoreResult[Snapshot[EntityT] | None]:
            return await store.load_snapshot(tx, aggregate_id)

        return await _guarded(
            "get_latest_snapshot_transaction", store.get_latest_snapshot_transaction(transaction)
        )

    async def aggregate_stats(
        self, slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]
    ) -> StoreResult[AggregateStats]:
        loaded = await self.current(slot)
        if isinstance(loaded, Error):
            return loaded
        snapshot = await self.read_snapshot(slot.aggregate_id)
        if isinstance(snapshot, Error):
            return snapshot
        sequence = loaded.value.sequence
        # Sequences start at 1 and have no gaps, so the sequence is the event count.
        return Ok(AggregateStats(slot.aggregate_id, sequence, sequence, snapshot.value is not None))


async def _route(
    system: _System[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
    message: AggregateMessage[EntityT, CommandT, EventT, ErrorT],
) -> actor.Next[_System[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]]:
    system.route(message)
    return actor.continue_(system)


def _interruption(
    slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
    why: str,
    kind: StoreFailure,
    aggregate_id: str,
) -> OutcomeUnknown | EventStoreError:
    """Why a message's handling was cut short: for a begun command, its outcome is unknown."""
    key = slot.in_flight_key
    if key is not None:
        return OutcomeUnknown(
            aggregate_id, key, f"{why}; the command may or may not have been stored"
        )
    return EventStoreError(f"{why} (aggregate {aggregate_id!r})", kind)


def _reply_interrupted(
    slot: _AggregateSlot[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
    message: AggregateMessage[EntityT, CommandT, EventT, ErrorT],
    why: str,
    kind: StoreFailure,
) -> None:
    """Answer a message whose handling was cut short: a command's outcome is unknown.

    Anything else gets an ``EventStoreError`` of ``kind``.
    """
    if not isinstance(message, ExecuteCommand):
        _reply_error(message, EventStoreError(f"{why} (aggregate {slot.aggregate_id!r})", kind))
        return
    error = _interruption(slot, why, kind, slot.aggregate_id)
    if isinstance(error, OutcomeUnknown):
        answer = message.reply_to or message.receipt_to
        if answer is None:
            _log_unanswered(slot.aggregate_id, error.idempotency_key, error)
        else:
            answer._mailbox.put(Error(error))
        return
    _reply_error(message, error)


def _log_unanswered(aggregate_id: str, key: str, error: EventSourcingError[ErrorT]) -> None:
    """Log how a fire-and-forget command failed: nobody else will hear of it."""
    if isinstance(error, DomainError):
        logger.info("a fire-and-forget command for %r was rejected: %r", aggregate_id, error.error)
    elif isinstance(error, OutcomeUnknown):
        logger.warning(
            "a fire-and-forget command for %r may or may not be stored (%s): send it again "
            "with idempotency key %r",
            aggregate_id,
            error.message,
            key,
        )
    else:
        logger.warning(
            "a fire-and-forget command for %r failed and stored nothing (idempotency key %r): %s",
            aggregate_id,
            key,
            describe_error(error),
        )


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _take_all(queue: _Mailbox[ValueT]) -> list[ValueT]:
    taken: list[ValueT] = []
    while True:
        try:
            taken.append(queue.get_nowait())
        except trio.WouldBlock:
            return taken


def _reply_error(message: object, error: EventStoreError) -> None:
    reply_to = getattr(message, "reply_to", None) or getattr(message, "receipt_to", None)
    if isinstance(message, GetSystemStats) or not isinstance(reply_to, Subject):
        return
    reply_to._mailbox.put(Error(error))


async def _guarded(operation: str, call: Awaitable[StoreResult[ValueT]]) -> StoreResult[ValueT]:
    """Await a store call, turning anything it raises into an ``EventStoreError``."""
    try:
        return await call
    except _CallbackFailure:
        raise
    except Exception as exc:
        return _store_raised(operation, exc)


def _store_raised(operation: str, exc: Exception) -> Error[EventStoreError]:
    """Log what a store raised in ``operation`` and report it as an ``EventStoreError``."""
    logger.exception("the event store raised in %s", operation, exc_info=exc)
    return Error(
        EventStoreError(f"the event store raised in {operation}: {exc!r}", StoreFailure.FAILED)
    )


async def _run_query(
    function: Callable[[str, list[EventEnvelop[EventT]]], None],
    _state: None,
    message: QueryMessage[EventT],
) -> actor.Next[None]:
    if not isinstance(message, ProcessEvents):
        raise TypeError(f"a query actor received {message!r}, which is not ProcessEvents")
    try:
        function(message.aggregate_id, message.events)
    except Exception:
        # A failing read model must not take the write side down with a restart loop.
        logger.exception(
            "query %r raised on %d events of %r",
            getattr(function, "__qualname__", function),
            len(message.events),
            message.aggregate_id,
        )
    return actor.continue_(None)


def _query_child(query: Query[EventT]) -> ChildSpecification[Subject[QueryMessage[EventT]]]:
    query_name, function = query

    def start(
        nursery: trio.Nursery,
    ) -> Awaitable[actor.StartResult[Subject[QueryMessage[EventT]]]]:
        return (
            actor.new(None)
            .on_message(partial(_run_query, function))
            .named(query_name)
            .start(nursery)
        )

    return worker(start)


def supervised(
    name: Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    eventstore: EventStore[StoreT, EntityT, EventT, TxT],
    handle: Handle[EntityT, CommandT, EventT, ErrorT],
    apply: Apply[EntityT, EventT],
    empty_state: EntityT,
    queries: Sequence[Query[EventT]],
    snapshot_config: SnapshotConfig | None,
    *,
    max_retries: int = 3,
    load_timeout: float = 5.0,
    max_workers: int = 10_000,
    idle_timeout: float = 60.0,
    shutdown_timeout: float = 5.0,
) -> Result[ChildSpecification[Supervisor], None]:
    """Describe a supervised event-sourcing system, as the seed's ``supervised``.

    Starting the returned child specification runs, under one supervisor, a query
    actor for each ``(Name, function)`` in ``queries`` and the event-sourcing actor
    holding ``name``; send it commands with :func:`execute` and friends through
    ``process.named_subject(name)``.

    Args:
        name: The Name the event-sourcing actor holds.
        eventstore: The store, e.g. from ``memory_store.supervised``.
        handle: ``handle(entity, command)`` returns ``Ok(events)`` or ``Error(domain_error)``.
        apply: ``apply(entity, event)`` returns the entity after the event.
        empty_state: The entity of an aggregate with no events.
        queries: ``(Name, function)`` pairs; each function is called with the aggregate
            id and the envelopes of every committed command.
        snapshot_config: ``SnapshotConfig(frequency(n).unwrap())``, or ``None``.
        max_retries: How often a command refused for a concurrency conflict is
            reloaded and retried before ``ConcurrencyConflict`` is reported.
        load_timeout: Seconds a cold aggregate may take to load before
            ``ActorTimeout("load_aggregate", ms)`` is reported (the seed's error counts
            milliseconds).
        max_workers: Most aggregates with cached state at once, and most with a worker
            running their messages at once (an aggregate at rest has none).
        idle_timeout: Seconds after which an idle aggregate's cached state is dropped.
        shutdown_timeout: Seconds an orderly shutdown waits for the commands accepted
            before it to finish; then the commands in flight are stopped (their callers
            get ``OutcomeUnknown``) and the ones left are answered with an error and
            logged, never dropped silently.

    Returns:
        ``Ok(child_specification)``.

    Example::

        spec = eventsourcing.supervised(
            name=name,
            eventstore=store,
            handle=handle,
            apply=apply,
            empty_state=BankAccount(),
            queries=[(balance_query_name, on_events)],
            snapshot_config=None,
        ).unwrap()
    """
    return Ok(
        build_system(
            name=name,
            eventstore=eventstore,
            handle=handle,
            apply=apply,
            empty_state=empty_state,
            queries=queries,
            snapshot_config=snapshot_config,
            max_retries=max_retries,
            load_timeout=load_timeout,
            max_workers=max_workers,
            idle_timeout=idle_timeout,
            shutdown_timeout=shutdown_timeout,
        )[1]
    )


def build_system(
    name: Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    eventstore: EventStore[StoreT, EntityT, EventT, TxT],
    handle: Handle[EntityT, CommandT, EventT, ErrorT],
    apply: Apply[EntityT, EventT],
    empty_state: EntityT,
    queries: Sequence[Query[EventT]],
    snapshot_config: SnapshotConfig | None,
    *,
    max_retries: int = 3,
    load_timeout: float = 5.0,
    max_workers: int = 10_000,
    idle_timeout: float = 60.0,
    shutdown_timeout: float = 5.0,
) -> tuple[_System[StoreT, EntityT, CommandT, EventT, ErrorT, TxT], ChildSpecification[Supervisor]]:
    """Check :func:`supervised`'s arguments: the system they describe, and its child."""
    if not isinstance(name, Name):
        raise TypeError(f"name must be a Name from process.new_name(), got {name!r}")
    if not isinstance(eventstore, EventStore):
        raise TypeError(f"eventstore must be an EventStore, got {type(eventstore).__name__}")
    if not callable(handle):
        raise TypeError(f"handle must be callable, got {handle!r}")
    if not callable(apply):
        raise TypeError(f"apply must be callable, got {apply!r}")
    if snapshot_config is not None and not isinstance(snapshot_config, SnapshotConfig):
        raise TypeError(
            f"snapshot_config must be a SnapshotConfig or None, got {snapshot_config!r}"
        )
    checked_queries: list[Query[EventT]] = []
    seen: list[object] = [name]
    for index, query in enumerate(queries):
        pair: object = query
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], Name)
            and callable(pair[1])
        ):
            raise TypeError(f"queries[{index}] must be a (Name, function) pair, got {query!r}")
        if any(query[0] is other for other in seen):
            raise ValueError(f"queries[{index}] uses the Name {query[0]!r} twice")
        checked_queries.append(query)
        seen.append(query[0])
    es: EventSourcing[StoreT, EntityT, CommandT, EventT, ErrorT, TxT] = object.__new__(
        EventSourcing
    )
    es.eventstore = eventstore
    es.handle = handle
    es.apply = apply
    es.empty_state = empty_state
    es.queries = tuple(checked_queries)
    es.snapshot_config = snapshot_config
    es.max_retries = require_non_negative_int("max_retries", max_retries)
    es.load_timeout = require_seconds("load_timeout", load_timeout)
    es.max_workers = require_positive_int("max_workers", max_workers)
    es.idle_timeout = require_seconds("idle_timeout", idle_timeout)
    es.shutdown_timeout = require_seconds("shutdown_timeout", shutdown_timeout)
    system = _System(name, es)
    builder = new(OneForOne)
    for query in checked_queries:
        builder = builder.add(_query_child(query))
    builder = builder.add(worker(system.start))
    return system, supervised_builder(builder)


def manager_state(
    name: Name[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    eventsourcing: EventSourcing[StoreT, EntityT, CommandT, EventT, ErrorT, TxT],
) -> ManagerState[StoreT, EntityT, CommandT, EventT, ErrorT, TxT]:
    """Summarise a system in the seed's ``ManagerState`` shape.

    Example::

        state = manager_state(name, eventsourcing)
        assert state.registered_queries == state.expected_queries
    """
    return ManagerState(
        named_subject(name) if name.is_held else None,
        len(eventsourcing.queries),
        sum(1 for query_name, _ in eventsourcing.queries if query_name.is_held),
        eventsourcing.eventstore,
        eventsourcing.handle,
        eventsourcing.apply,
        eventsourcing.empty_state,
    )
