"""A tiny test domain, and a running event-sourcing system to drive it.

The domain is a tally. ``Add(amounts)`` emits one ``Added`` event per amount, so one
command can emit any number of events (snapshots must not skip a multiple); the other
commands reject, do nothing, clear the tally back to its empty state, or make the user's
``handle`` or ``apply`` raise. ``Tally.amounts`` keeps every amount in order, so the state
shows the order in which events were applied.

:func:`open_system` runs the system on a memory store wrapped in a
:class:`~contracts.faulty_store.FaultyStore`, with a query that records every batch it is
delivered; :class:`System` has one-line helpers for what the tests ask of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TypeVar

import trio
import trio.testing
from typing_extensions import assert_never

import trio_eventsourcing as eventsourcing
from tests.contracts.faulty_store import FaultyStore
from trio_eventsourcing import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    Apply,
    EventEnvelop,
    EventSourcingError,
    Handle,
    Metadata,
    Query,
    QueryMessage,
    Snapshot,
    SnapshotConfig,
    SystemStats,
    memory_store,
    process,
)
from trio_eventsourcing.result import Error, Ok, Result
from trio_eventsourcing.static_supervisor import OneForOne, Supervisor

T = TypeVar("T")

# --- the domain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The entity: a running total and every amount added, in order."""

    total: int = 0
    amounts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Add:
    """Emit one ``Added`` per amount (none for no amounts); a negative amount is rejected."""

    amounts: tuple[int, ...]


@dataclass(frozen=True)
class Clear:
    """Emit ``Cleared``, which brings the tally back to its empty state."""


@dataclass(frozen=True)
class Nothing:
    """Emit no events: a successful no-op."""


@dataclass(frozen=True)
class Explode:
    """Make ``handle`` raise ``ValueError(message)``."""

    message: str


@dataclass(frozen=True)
class Poison:
    """Emit ``Poisoned``, which makes ``apply`` raise ``PoisonError``."""


TallyCommand = Add | Clear | Nothing | Explode | Poison


@dataclass(frozen=True)
class Added:
    amount: int


@dataclass(frozen=True)
class Cleared:
    pass


@dataclass(frozen=True)
class Poisoned:
    pass


TallyEvent = Added | Cleared | Poisoned


@dataclass(frozen=True)
class Rejected:
    """The domain error: a negative amount."""

    amount: int


class PoisonError(Exception):
    """What ``apply`` raises on ``Poisoned``."""


def add(*amounts: int) -> Add:
    return Add(amounts)


def handle(tally: Tally, command: TallyCommand) -> Result[list[TallyEvent], Rejected]:
    match command:
        case Add(amounts):
            for amount in amounts:
                if amount < 0:
                    return Error(Rejected(amount))
            return Ok([Added(amount) for amount in amounts])
        case Clear():
            return Ok([Cleared()])
        case Nothing():
            return Ok([])
        case Explode(message):
            raise ValueError(message)
        case Poison():
            return Ok([Poisoned()])
        case _:
            assert_never(command)


def apply(tally: Tally, event: TallyEvent) -> Tally:
    match event:
        case Added(amount):
            return Tally(tally.total + amount, (*tally.amounts, amount))
        case Cleared():
            return Tally()
        case Poisoned():
            raise PoisonError("apply cannot take a Poisoned event")
        case _:
            assert_never(event)


def replay(events: Iterable[TallyEvent], start: Tally | None = None) -> Tally:
    """The pure fold of ``apply`` over ``events``."""
    return reduce(apply, events, Tally() if start is None else start)


# --- types ------------------------------------------------------------------------------------

TallyMessage = AggregateMessage[Tally, TallyCommand, TallyEvent, Rejected]
TallyStore = memory_store.MemoryEventStore[Tally, TallyEvent]
TallyFaulty = FaultyStore[
    memory_store.MemoryStore[Tally, TallyEvent],
    Tally,
    TallyEvent,
    memory_store.MemoryTransaction[Tally, TallyEvent],
]
CommandResult = Result[None, EventSourcingError[Rejected]]
Envelope = EventEnvelop[TallyEvent]
QueryName = process.Name[QueryMessage[TallyEvent]]

REPLY_MS = 5_000
"""How long a test waits for any one answer (only a failing test waits that long)."""


async def reply(subject: process.Subject[T], within: int = REPLY_MS) -> T:
    """The answer on ``subject``; fails the test if none comes within ``within`` ms."""
    received = await process.receive(subject, within)
    assert isinstance(received, Ok), f"no answer within {within} ms"
    return received.value


def payloads(envelopes: Sequence[Envelope]) -> list[TallyEvent]:
    return [envelope.payload for envelope in envelopes]


# --- a running system ---------------------------------------------------------------------


@dataclass
class System:
    """A running event-sourcing system over the tally domain."""

    subject: process.Subject[TallyMessage]
    name: process.Name[TallyMessage]
    faulty: TallyFaulty
    store: TallyStore
    supervisor: Supervisor
    batches: list[tuple[str, list[Envelope]]] = field(default_factory=list)
    """Every batch the recording query was delivered, in delivery order."""

    def send(
        self,
        aggregate_id: str,
        command: TallyCommand,
        metadata: Metadata | None = None,
        key: str | None = None,
    ) -> process.Subject[CommandResult]:
        return eventsourcing.execute_with_response(
            self.subject, aggregate_id, command, metadata or [], idempotency_key=key
        )

    async def run(
        self,
        aggregate_id: str,
        command: TallyCommand,
        metadata: Metadata | None = None,
        key: str | None = None,
    ) -> CommandResult:
        return await reply(self.send(aggregate_id, command, metadata, key))

    async def events(self, aggregate_id: str, start_from: int | None = None) -> list[Envelope]:
        if start_from is None:
            result = await reply(eventsourcing.load_events(self.subject, aggregate_id))
        else:
            result = await reply(
                eventsourcing.load_events_from(self.subject, aggregate_id, start_from)
            )
        assert isinstance(result, Ok), result
        return result.value

    async def payloads(self, aggregate_id: str) -> list[TallyEvent]:
        return payloads(await self.events(aggregate_id))

    async def load(
        self, aggregate_id: str
    ) -> Result[Aggregate[Tally], EventSourcingError[Rejected]]:
        return await reply(eventsourcing.load_aggregate(self.subject, aggregate_id))

    async def snapshot(self, aggregate_id: str) -> Snapshot[Tally] | None:
        result = await reply(eventsourcing.latest_snapshot(self.subject, aggregate_id))
        assert isinstance(result, Ok), result
        return result.value

    async def stats(self, aggregate_id: str) -> AggregateStats:
        result = await reply(eventsourcing.aggregate_stats(self.subject, aggregate_id))
        assert isinstance(result, Ok), result
        return result.value

    async def system_stats(self) -> SystemStats:
        return await reply(eventsourcing.system_stats(self.subject))

    async def delivered(self, aggregate_id: str) -> list[list[TallyEvent]]:
        """The batches the recording query got for ``aggregate_id``, as payloads.

        Delivery to query actors is asynchronous: first let every actor run dry.
        """
        await trio.testing.wait_all_tasks_blocked()
        return [payloads(events) for batch_id, events in self.batches if batch_id == aggregate_id]

    def restarts(self) -> int:
        return self.supervisor.statistics().restarts


@contextlib.asynccontextmanager
async def open_tally_store() -> AsyncIterator[TallyStore]:
    """A memory store whose actors run for the duration of the block."""
    events_name: process.Name[memory_store.GetEvents[TallyEvent]] = process.new_name("events")
    snapshot_name: process.Name[memory_store.GetSnapshot[Tally]] = process.new_name("snapshots")
    store, spec = memory_store.supervised(events_name, snapshot_name, OneForOne)
    async with trio.open_nursery() as nursery:
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield store
        finally:
            supervisor.shutdown()


@contextlib.asynccontextmanager
async def open_system(
    store: TallyStore | None = None,
    *,
    handle: Handle[Tally, TallyCommand, TallyEvent, Rejected] = handle,
    apply: Apply[Tally, TallyEvent] = apply,
    snapshot_every: int | None = None,
    queries: Sequence[Query[TallyEvent]] = (),
    record: bool = True,
    max_retries: int = 3,
    load_timeout: float = 5.0,
    max_workers: int = 10_000,
    idle_timeout: float = 60.0,
    shutdown_timeout: float = 0.5,
) -> AsyncIterator[System]:
    """Run a tally system (on ``store``, or on a fresh memory store) for the block.

    With ``record`` a first query records every delivered batch in ``System.batches``.
    ``shutdown_timeout`` is short: tests that leave a gate shut end with commands that can
    never finish, and the drain waits that long for them.
    """
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(open_tally_store())
        faulty: TallyFaulty = FaultyStore(store)
        name: process.Name[TallyMessage] = process.new_name("tally")
        batches: list[tuple[str, list[Envelope]]] = []

        def record_batch(aggregate_id: str, events: list[Envelope]) -> None:
            batches.append((aggregate_id, events))

        recorder: list[Query[TallyEvent]] = []
        if record:
            recorder.append((process.new_name("recorder"), record_batch))
        config = None
        if snapshot_every is not None:
            config = SnapshotConfig(eventsourcing.frequency(snapshot_every).unwrap())
        spec = eventsourcing.supervised(
            name=name,
            eventstore=faulty.store,
            handle=handle,
            apply=apply,
            empty_state=Tally(),
            queries=[*recorder, *queries],
            snapshot_config=config,
            max_retries=max_retries,
            load_timeout=load_timeout,
            max_workers=max_workers,
            idle_timeout=idle_timeout,
            shutdown_timeout=shutdown_timeout,
        ).unwrap()
        nursery = await stack.enter_async_context(trio.open_nursery())
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield System(process.named_subject(name), name, faulty, store, supervisor, batches)
        finally:
            supervisor.shutdown()
